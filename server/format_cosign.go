package server

import (
	"context"
	"crypto"
	"crypto/sha256"
	"slices"
	"strings"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/cosign"
	"github.com/signet-dev/signet/format/dsse"
	"github.com/signet-dev/signet/format/raw"
	"github.com/signet-dev/signet/keystore"
)

// Container image signatures as cosign makes them. Both formats sign with
// keys created with --usage cosign (ECDSA P-256 or RSA, which `cosign
// verify --key` checks over SHA-256), and both name the artifact by the
// image reference REGISTRY/REPO@sha256:HEX, so grants can say which
// repositories a principal may sign ("registry.example/app@*").
//
// The client sends the small document cosign signs, not a digest of it:
// the server reads the image's manifest digest from it, checks it is the
// image the item is named and granted for, and records that digest in the
// audit entry. The image itself never crosses.

// cosignUsage is the key usage of both cosign formats.
const cosignUsage = "cosign"

func cosignKeyTypes() []keystore.Type {
	return []keystore.Type{keystore.ECDSAP256, keystore.RSA3072, keystore.RSA4096}
}

func cosignOptions(format string, o *api.SignOptions) error {
	if o.Namespace != "" || o.Armor || o.RSAPSS {
		return badRequest("format %s takes no options: cosign signatures are ECDSA or RSA PKCS #1 v1.5 over SHA-256", format)
	}
	return nil
}

// cosignFormat signs cosign simple signing payloads: the item's data is
// the payload, its name the image it names.
type cosignFormat struct{}

func (cosignFormat) usage() string { return cosignUsage }

func (cosignFormat) keyTypes() []keystore.Type { return cosignKeyTypes() }

func (cosignFormat) checkOptions(o *api.SignOptions) error { return cosignOptions("cosign", o) }

func (cosignFormat) sign(sc *signContext, it *api.SignItem) (*signed, error) {
	if it.Data == nil || it.Digest != "" || it.TrustedComment != "" {
		return nil, badRequest("%q: format cosign signs a cosign simple signing payload: send it as data, and nothing else", it.Name)
	}
	p, err := cosign.ParsePayload(it.Data)
	if err != nil {
		return nil, badRequest("%q: %v", it.Name, err)
	}
	if it.Name != p.Image() {
		return nil, badRequest("%q: the payload names image %q; name the item after the image it signs", it.Name, p.Image())
	}
	sig, err := cosign.Sign(sc.signer, it.Data)
	if err != nil {
		return nil, badRequest("key %q (%s): %v", sc.key.Name, sc.key.Type, err)
	}
	sum := sha256.Sum256(it.Data)
	details := map[string]string{"image": p.Image(), "payload": api.Digest(crypto.SHA256, sum[:])}
	if len(p.Annotations) > 0 {
		details["annotations"] = strings.Join(sortedPairs(p.Annotations), "\n")
	}
	return &signed{sig: sig, digests: []string{p.Digest}, details: details}, nil
}

// cosignAttestationFormat signs in-toto statements (v1, or v0.1 as
// cosign v2 writes them) about images in DSSE envelopes, as `cosign
// attest` does. Every subject must be an image,
// named REGISTRY/REPO with its sha256 manifest digest, and the caller must
// be granted REGISTRY/REPO@sha256:HEX for each.
type cosignAttestationFormat struct{}

func (cosignAttestationFormat) usage() string { return cosignUsage }

func (cosignAttestationFormat) keyTypes() []keystore.Type { return cosignKeyTypes() }

func (cosignAttestationFormat) checkOptions(o *api.SignOptions) error {
	return cosignOptions("cosign-attestation", o)
}

func (cosignAttestationFormat) sign(sc *signContext, it *api.SignItem) (*signed, error) {
	if it.Data == nil || it.Digest != "" || it.TrustedComment != "" {
		return nil, badRequest("%q: format cosign-attestation signs an in-toto statement: send it as data, and nothing else", it.Name)
	}
	st, err := dsse.ParseStatementV01(it.Data)
	if err != nil {
		return nil, badRequest("%q: %v", it.Name, err)
	}
	if len(st.Subject) > maxRecordedImages {
		return nil, badRequest("%q: the statement names %d images; the limit is %d: split the attestation", it.Name, len(st.Subject), maxRecordedImages)
	}
	var images []string
	for _, s := range st.Subject {
		hexDigest, ok := s.Digest["sha256"]
		if !ok || len(s.Digest) != 1 {
			return nil, badRequest("%q: subject %q: an image subject has exactly one digest, its sha256 manifest digest", it.Name, s.Name)
		}
		// The payload check says whether name@digest is an image
		// reference Signet can grant.
		if _, err := cosign.NewPayload(s.Name, "sha256:"+hexDigest, nil); err != nil {
			return nil, badRequest("%q: subject %q is not an image: %v", it.Name, s.Name, err)
		}
		image := s.Name + "@sha256:" + hexDigest
		if err := sc.authorize(image); err != nil {
			return nil, err
		}
		images = append(images, image)
	}
	if !slices.Contains(images, it.Name) {
		return nil, badRequest("%q: name the item after an image the statement is about (%s)", it.Name, images[0])
	}
	if err := cosign.CheckKey(sc.key.Public); err != nil {
		return nil, badRequest("key %q (%s): %v", sc.key.Name, sc.key.Type, err)
	}
	env, err := dsse.Sign(context.Background(), sc.signer, it.Data, dsse.Options{StatementV01: true})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(it.Data)
	digests := []string{api.Digest(crypto.SHA256, sum[:])}
	for _, im := range images {
		digests = append(digests, im[strings.LastIndexByte(im, '@')+1:])
	}
	return &signed{sig: env, digests: digests, details: map[string]string{
		"predicate_type": st.PredicateType, "images": strings.Join(images, "\n")}}, nil
}

// maxRecordedImages bounds the images one attestation names, so that its
// audit entry stays within audit.MaxEntrySize.
const maxRecordedImages = 64

// sortedPairs returns "k=v" for m, sorted.
func sortedPairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// cosignDigestFormat signs a bare SHA-256 digest with a cosign key: what
// a cosign KMS plugin is asked for when cosign passes only a hash, and for
// `cosign sign-blob`. The server cannot see what the digest is of, so
// the artifact name is the client's word, as for format raw: grant
// cosign-digest only to principals trusted with anything that key signs.
// The plugin sends image payloads and attestations through the two
// checked formats above whenever it sees them.
type cosignDigestFormat struct{}

func (cosignDigestFormat) usage() string { return cosignUsage }

func (cosignDigestFormat) keyTypes() []keystore.Type { return cosignKeyTypes() }

func (cosignDigestFormat) checkOptions(o *api.SignOptions) error {
	return cosignOptions("cosign-digest", o)
}

func (cosignDigestFormat) sign(sc *signContext, it *api.SignItem) (*signed, error) {
	if it.Digest == "" || it.Data != nil || it.TrustedComment != "" {
		return nil, badRequest("%q: format cosign-digest signs a sha256 digest: send the digest, and nothing else", it.Name)
	}
	h, sum, _ := api.ParseDigest(it.Digest) // well-formed: checkSignRequest parsed it
	if h != crypto.SHA256 {
		return nil, badRequest("%q: format cosign-digest signs sha256 digests, not %s", it.Name, api.HashName(h))
	}
	if err := cosign.CheckKey(sc.key.Public); err != nil {
		return nil, badRequest("key %q (%s): %v", sc.key.Name, sc.key.Type, err)
	}
	sig, err := raw.Sign(sc.signer, sum, raw.Options{})
	if err != nil {
		return nil, err
	}
	return &signed{sig: sig, digests: []string{it.Digest}}, nil
}
