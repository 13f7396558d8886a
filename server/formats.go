package server

import (
	"crypto"
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/raw"
	"github.com/signet-dev/signet/keystore"
)

// A signingFormat adapts one package under format/ to POST /v1/sign: it
// checks the request fields its format uses and turns one item into the
// ecosystem's bytes. The format packages know nothing of HTTP or JSON;
// this is the only place that maps the wire to them.
//
// Every key has one usage, fixed when it is created, and signs only in the
// formats of that usage. That keeps a signature made for one ecosystem from
// ever being valid in another: a raw Ed25519 signature over 64 chosen bytes
// would otherwise be a minisign signature, and one over a 32-byte digest an
// OpenPGP one.
type signingFormat interface {
	// usage is the key usage this format signs with.
	usage() string
	// keyTypes are the key types that can sign in this format.
	keyTypes() []keystore.Type
	// checkOptions refuses options that make no sense for this format.
	checkOptions(o *api.SignOptions) error
	// sign signs one item with signer, the private half of k.
	sign(sc *signContext, it *api.SignItem) (*signed, error)
}

// signContext is what a format signs with, shared by the items of one
// request.
type signContext struct {
	key     keystore.Key
	version keystore.Version // the version signer holds
	signer  crypto.Signer
	now     time.Time // the signatures' time
	opts    *api.SignOptions
	limits  *Limits
	// authorize checks that the caller may sign artifact with this key in
	// this format, for formats whose input names further artifacts (the
	// subjects of an attestation).
	authorize func(artifact string) error
	// chain returns the key's certificate chain, checked, for formats
	// that embed it (Authenticode).
	chain chainFunc
}

// signed is the result of signing one item.
type signed struct {
	sig     []byte
	digests []string          // what the signature covers, "ALG:HEX", for the audit entry
	details map[string]string // format-specific identity for the audit entry
}

// formats are the signature formats this server produces, by the name
// requests and grants use.
var formats = map[string]signingFormat{
	"raw":           rawFormat{},
	"cot":           cotFormat{},
	"ssh":           sshFormat{},
	"minisign":      minisignFormat{},
	"dsse":          dsseFormat{},
	"pgp":           pgpFormat{},
	"pgp-clearsign": pgpClearsignFormat{},
	"rpm":           rpmFormat{},
	"deb":           debFormat{},
	"authenticode":  authenticodeFormat{},
	// Container images (format_cosign.go).
	"cosign":             cosignFormat{},
	"cosign-attestation": cosignAttestationFormat{},
	"cosign-digest":      cosignDigestFormat{},
	"notation":           notationFormat{},
}

// formatNames returns the supported formats, sorted, for messages.
func formatNames() string {
	names := make([]string, 0, len(formats))
	for n := range formats {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// Usages of keys that sign for Signet itself, never in a format: the
// token-signing key and the audit log's key. A raw Ed25519 signature over a
// token's signing input would be a valid token, so such keys must never
// sign anything else.
const (
	usageToken   = "token"
	usageAudit   = "audit"
	usageKeyList = "key-list" // signs key lists (package keylist)
)

var internalUsages = map[string][]keystore.Type{
	usageToken:   {keystore.Ed25519},
	usageAudit:   {keystore.Ed25519},
	usageKeyList: {keystore.Ed25519},
}

// checkUsage checks that a key of type t may be created for usage u: some
// format of that usage signs with keys of that type.
func checkUsage(t keystore.Type, u string) error {
	if types, ok := internalUsages[u]; ok {
		if slices.Contains(types, t) {
			return nil
		}
		return fmt.Errorf("a %s key cannot be created for usage %q, which needs an ed25519 key", t, u)
	}
	var usages []string
	for u := range internalUsages {
		usages = append(usages, u)
	}
	for _, f := range formats {
		if f.usage() == u && slices.Contains(f.keyTypes(), t) {
			return nil
		}
		usages = append(usages, f.usage())
	}
	slices.Sort(usages)
	if !slices.Contains(usages, u) {
		return fmt.Errorf("unknown key usage %q; usages are %s", u, strings.Join(slices.Compact(usages), ", "))
	}
	return fmt.Errorf("a %s key cannot be created for usage %q", t, u)
}

// wrongUsage is the error for a key asked to sign outside its usage.
func wrongUsage(k keystore.Key, format string, f signingFormat) error {
	return &apiError{http.StatusBadRequest, "wrong_usage", fmt.Sprintf(
		"key %q was created for %s signatures and never signs in format %q, which needs a key created with --usage %s",
		k.Name, k.Usage, format, f.usage())}
}

// rawFormat is format/raw: bare signatures as openssl verifies them.
type rawFormat struct{}

func (rawFormat) usage() string { return "raw" }

func (rawFormat) keyTypes() []keystore.Type { return plainTypes() }

// plainTypes are the key types other than OpenPGP's, which sign only
// OpenPGP formats.
func plainTypes() []keystore.Type {
	return slices.DeleteFunc(keystore.Types(), func(t keystore.Type) bool { return slices.Contains(pgpTypes, t) })
}

func (rawFormat) checkOptions(o *api.SignOptions) error {
	if o.Namespace != "" {
		return badRequest("format raw takes no namespace; namespaces are for format ssh")
	}
	return nil
}

func (rawFormat) sign(sc *signContext, it *api.SignItem) (*signed, error) {
	k := sc.key
	if it.TrustedComment != "" {
		return nil, badRequest("%q: format raw takes no trusted comment; trusted comments are for format minisign", it.Name)
	}
	opts := raw.Options{PSS: sc.opts.RSAPSS}
	alg, err := raw.Algorithm(k.Public, opts)
	if err != nil {
		return nil, badRequest("key %q (%s): %v", k.Name, k.Type, err)
	}
	h, err := raw.Hash(k.Public)
	if err != nil {
		return nil, err
	}
	var tbs []byte
	var digest string
	if h == 0 {
		if it.Data == nil || it.Digest != "" {
			return nil, badRequest("%q: key %q is %s, which signs the artifact itself (pure Ed25519): send data, not a digest", it.Name, k.Name, k.Type)
		}
		if int64(len(it.Data)) > sc.limits.MaxMessageBytes {
			return nil, &apiError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf(
				"%q is %d bytes: key %q is %s, which must upload the whole artifact, and this server's limit is %d bytes (limits.max_message_bytes); sign it with an ECDSA or RSA key, which sends only a digest",
				it.Name, len(it.Data), k.Name, k.Type, sc.limits.MaxMessageBytes)}
		}
		tbs = it.Data
		sum := sha256.Sum256(it.Data)
		digest = api.Digest(crypto.SHA256, sum[:])
	} else {
		if it.Digest == "" || it.Data != nil {
			return nil, badRequest("%q: key %q is %s, which signs a digest: send the %s digest of the artifact, not its data", it.Name, k.Name, k.Type, api.HashName(h))
		}
		dh, sum, _ := api.ParseDigest(it.Digest) // well-formed: checkSignRequest parsed it
		if dh != h {
			return nil, badRequest("%q: key %q is %s, which signs %s digests, not %s", it.Name, k.Name, k.Type, api.HashName(h), api.HashName(dh))
		}
		tbs, digest = sum, it.Digest
	}
	sig, err := raw.Sign(sc.signer, tbs, opts)
	if err != nil {
		return nil, err
	}
	// The algorithm is recorded so that re-signing (signet incident
	// resign) can sign as before.
	return &signed{sig: sig, digests: []string{digest}, details: map[string]string{"algorithm": alg}}, nil
}
