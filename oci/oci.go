// Package oci signs container images in OCI registries through Signet,
// laid out as cosign lays them out, so that `cosign verify --key` and
// `cosign verify-attestation` check them with no Signet code.
//
// An image is always signed by its manifest digest: a tag given on the
// command line is resolved to a digest first, and only that digest is
// signed and named (REGISTRY/REPO@sha256:HEX, the artifact name grants
// match). What crosses to the Signet server is the small document cosign
// signs — the simple signing payload, or the in-toto statement — never
// the image.
//
// Signatures are attached where cosign looks for them:
//
//	REPO:sha256-HEX.sig  an image whose layers are simple signing payloads
//	                     (application/vnd.dev.cosign.simplesigning.v1+json),
//	                     each annotated dev.cosignproject.cosign/signature
//	                     with its base64 signature
//	REPO:sha256-HEX.att  an image whose layers are DSSE envelopes
//	                     (application/vnd.dsse.envelope.v1+json) annotated
//	                     with their predicateType
//
// A new signature is appended to the layers already there, as cosign
// does (two signers racing on the same image can lose one layer, as with
// cosign; sign again). Where the registry serves the OCI 1.1 referrers
// API, the signature is also pushed as a referrer of the image: a
// manifest whose subject is the image and whose artifactType is cosign's
// (application/vnd.dev.cosign.artifact.sig.v1+json, or the DSSE envelope
// type), the form `cosign verify --experimental-oci11` and other OCI 1.1
// clients read. Registries without that API (distribution 2.8, for one)
// get the tag layout only.
//
// Each layer also carries Signet's audit receipt (annotation
// dev.signet.receipt, base64 JSON), so an operator can prove from the
// registry alone that the signature was recorded; verifiers ignore it.
//
// Registry credentials come from the docker config and its credential
// helpers (authn.DefaultKeychain), as for docker, cosign and crane.
package oci

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/format/cosign"
	"github.com/signet-dev/signet/format/dsse"
)

// Media types and annotations of cosign's layout.
const (
	// EnvelopeMediaType is the media type of an attestation layer.
	EnvelopeMediaType = "application/vnd.dsse.envelope.v1+json"
	// SignatureArtifactType is the artifactType of a signature referrer.
	SignatureArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"
	// PredicateTypeAnnotation names an attestation layer's predicate type.
	PredicateTypeAnnotation = "predicateType"
	// ReceiptAnnotation carries Signet's audit receipt, base64 JSON.
	ReceiptAnnotation = "dev.signet.receipt"
)

// Registry reaches OCI registries.
type Registry struct {
	// Keychain finds credentials; nil means authn.DefaultKeychain (the
	// docker config, $DOCKER_CONFIG, and its credential helpers).
	Keychain authn.Keychain
	// Transport, if set, carries the requests (tests, proxies).
	Transport http.RoundTripper
}

// Signature is a signature attached to an image.
type Signature struct {
	Image name.Digest // the image signed
	Tag   name.Tag    // the cosign tag it was appended to (.sig or .att)
	// Referrer is the OCI 1.1 referrer manifest, when the registry
	// serves the referrers API.
	Referrer *name.Digest
	Receipt  *audit.Receipt
}

func (r *Registry) options(ctx context.Context) []remote.Option {
	kc := r.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	o := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
	if r.Transport != nil {
		o = append(o, remote.WithTransport(r.Transport))
	}
	return o
}

// Resolve returns the digest reference of the image ref names
// (REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:HEX), asking the registry,
// so that a digest given is also one the registry has. The digest is
// computed here from the manifest the registry returns, not taken from
// its headers. Loopback registries (localhost, 127.0.0.0/8) are reached
// over plain HTTP, as by docker and cosign.
func (r *Registry) Resolve(ctx context.Context, ref string) (name.Digest, error) {
	parsed, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return name.Digest{}, fmt.Errorf("%q is not an image reference (REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:HEX): %w", ref, err)
	}
	desc, err := remote.Get(parsed, r.options(ctx)...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("resolving %s: %w", parsed, err)
	}
	if d, ok := parsed.(name.Digest); ok && d.DigestStr() != desc.Digest.String() {
		return name.Digest{}, fmt.Errorf("registry %s answered digest %s for %s", parsed.Context().RegistryStr(), desc.Digest, d)
	}
	if desc.Digest.Algorithm != "sha256" {
		return name.Digest{}, fmt.Errorf("%s: manifest digest %s is not sha256, which cosign signatures need", parsed, desc.Digest)
	}
	return parsed.Context().Digest(desc.Digest.String()), nil
}

// Sign signs the image ref names with key, as `cosign sign --key` would,
// and attaches the signature. annotations are signed with it (cosign's
// -a KEY=VALUE).
func (r *Registry) Sign(ctx context.Context, c *client.Client, key, ref string, annotations map[string]string) (*Signature, error) {
	img, err := r.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	payload, err := cosign.NewPayload(img.Context().Name(), img.DigestStr(), annotations)
	if err != nil {
		return nil, err
	}
	sig, receipt, err := c.SignCosignPayload(ctx, key, payload)
	if err != nil {
		return nil, err
	}
	ann := map[string]string{cosign.SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)}
	if err := addReceipt(ann, receipt); err != nil {
		return nil, err
	}
	layer := static.NewLayer(payload, cosign.MediaType)
	return r.attach(ctx, img, ".sig", SignatureArtifactType, layer, ann, receipt)
}

// Attest signs an in-toto statement about the image ref names, with the
// given predicate, as `cosign attest --key --type URI --predicate FILE`
// would, and attaches the DSSE envelope.
func (r *Registry) Attest(ctx context.Context, c *client.Client, key, ref, predicateType string, predicate []byte) (*Signature, error) {
	img, err := r.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	statement, err := dsse.NewStatement([]dsse.Subject{{Name: img.Context().Name(),
		Digest: map[string]string{"sha256": strings.TrimPrefix(img.DigestStr(), "sha256:")}}},
		predicateType, json.RawMessage(bytes.TrimSpace(predicate)))
	if err != nil {
		return nil, err
	}
	env, receipt, err := c.AttestCosign(ctx, key, img.String(), statement)
	if err != nil {
		return nil, err
	}
	// cosign marks attestation layers with an empty signature annotation.
	ann := map[string]string{cosign.SignatureAnnotation: "", PredicateTypeAnnotation: predicateType}
	if err := addReceipt(ann, receipt); err != nil {
		return nil, err
	}
	layer := static.NewLayer(env, EnvelopeMediaType)
	return r.attach(ctx, img, ".att", EnvelopeMediaType, layer, ann, receipt)
}

func addReceipt(ann map[string]string, r *audit.Receipt) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	ann[ReceiptAnnotation] = base64.StdEncoding.EncodeToString(b)
	return nil
}

// CosignTag is where cosign looks for img's signatures (suffix ".sig")
// or attestations (".att"): REPO:sha256-HEX.sig.
func CosignTag(img name.Digest, suffix string) name.Tag {
	return img.Context().Tag(strings.Replace(img.DigestStr(), ":", "-", 1) + suffix)
}

// attach appends layer to the cosign image at img's tag, and pushes a
// referrer too where the registry serves the referrers API.
func (r *Registry) attach(ctx context.Context, img name.Digest, suffix, artifactType string, layer v1.Layer, ann map[string]string, receipt *audit.Receipt) (*Signature, error) {
	opts := r.options(ctx)
	tag := CosignTag(img, suffix)
	base, err := remote.Image(tag, opts...)
	var terr *transport.Error
	switch {
	case errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound:
		base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", tag, err)
	}
	signed, err := mutate.Append(base, mutate.Addendum{Layer: layer, Annotations: ann, MediaType: mustMediaType(layer)})
	if err != nil {
		return nil, err
	}
	if err := remote.Write(tag, signed, opts...); err != nil {
		return nil, fmt.Errorf("attaching the signature to %s: %w; the signature is in the audit log already: sign again to attach it", tag, err)
	}
	out := &Signature{Image: img, Tag: tag, Receipt: receipt}
	ok, err := r.servesReferrers(ctx, img)
	if err != nil {
		return nil, err
	}
	if ok {
		ref, err := r.putReferrer(ctx, img, artifactType, layer, ann)
		if err != nil {
			return nil, err
		}
		out.Referrer = &ref
	}
	return out, nil
}

func mustMediaType(l v1.Layer) types.MediaType {
	mt, _ := l.MediaType() // static layers always have one
	return mt
}

// servesReferrers asks whether the registry serves the OCI 1.1 referrers
// API for img's repository: an image index at /v2/REPO/referrers/DIGEST.
func (r *Registry) servesReferrers(ctx context.Context, img name.Digest) (bool, error) {
	repo := img.Context()
	kc := r.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	auth, err := kc.Resolve(repo)
	if err != nil {
		return false, err
	}
	rt := r.Transport
	if rt == nil {
		rt = remote.DefaultTransport
	}
	tr, err := transport.NewWithContext(ctx, repo.Registry, auth, rt, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return false, fmt.Errorf("registry %s: %w", repo.RegistryStr(), err)
	}
	u := url.URL{Scheme: repo.Scheme(), Host: repo.RegistryStr(), Path: "/v2/" + repo.RepositoryStr() + "/referrers/" + img.DigestStr()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", string(types.OCIImageIndex))
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return false, fmt.Errorf("registry %s: %w", repo.RegistryStr(), err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), string(types.OCIImageIndex)), nil
}

// referrerManifest is an OCI 1.1 artifact manifest: an empty config,
// the signature layer, and the image as subject.
type referrerManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        v1.Descriptor     `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Subject       *v1.Descriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func (r *Registry) putReferrer(ctx context.Context, img name.Digest, artifactType string, layer v1.Layer, ann map[string]string) (name.Digest, error) {
	opts := r.options(ctx)
	subject, err := remote.Head(img, opts...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("reading %s: %w", img, err)
	}
	// The config is "{}" typed with the artifactType too: registries that
	// list referrers by config media type (older OCI 1.1 drafts, which
	// cosign also follows) then list the same artifactType.
	config := static.NewLayer([]byte("{}"), types.MediaType(artifactType))
	var descs []v1.Descriptor
	for _, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(img.Context(), l, opts...); err != nil {
			return name.Digest{}, fmt.Errorf("uploading to %s: %w", img.Context(), err)
		}
		d, _ := l.Digest() // static layers cannot fail
		size, _ := l.Size()
		descs = append(descs, v1.Descriptor{MediaType: mustMediaType(l), Digest: d, Size: size})
	}
	descs[1].Annotations = ann
	m := referrerManifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: artifactType,
		Config: descs[0], Layers: descs[1:], Subject: &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}}
	b, err := json.Marshal(m)
	if err != nil {
		return name.Digest{}, err
	}
	sum, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return name.Digest{}, err
	}
	ref := img.Context().Digest(sum.String())
	if err := remote.Put(ref, rawManifest(b), opts...); err != nil {
		return name.Digest{}, fmt.Errorf("pushing the referrer of %s: %w", img, err)
	}
	return ref, nil
}
