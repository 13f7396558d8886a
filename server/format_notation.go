package server

import (
	"strings"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/notation"
	"github.com/signet-dev/signet/keystore"
)

// notationUsage is the key usage of format notation.
const notationUsage = "notation"

// notationFormat signs notation's JWS signing inputs, for the notation
// signing plugin (cmd/notation-signet-oracle). The item's data is the
// signing input; the server reads the artifact digest from it and the
// item must be named after it, REGISTRY/REPO@DIGEST, which is what grants
// match and the audit log records. The repository part is the client's
// word (notation tells a plugin only the digest); the digest is checked.
// A notation signature carries the key's certificate chain, so a key
// signs only once 'signet key cert --import-chain' has given it one.
type notationFormat struct{}

func (notationFormat) usage() string { return notationUsage }

func (notationFormat) keyTypes() []keystore.Type {
	return []keystore.Type{keystore.ECDSAP256, keystore.ECDSAP384, keystore.RSA3072, keystore.RSA4096}
}

func (notationFormat) checkOptions(o *api.SignOptions) error {
	if o.Namespace != "" || o.Armor || o.RSAPSS {
		return badRequest("format notation takes no options: the algorithm follows from the key (ECDSA, or RSASSA-PSS for RSA)")
	}
	return nil
}

func (notationFormat) sign(sc *signContext, it *api.SignItem) (*signed, error) {
	if it.Data == nil || it.Digest != "" || it.TrustedComment != "" {
		return nil, badRequest("%q: format notation signs a JWS signing input: send it as data, and nothing else", it.Name)
	}
	in, err := notation.ParseSigningInput(it.Data)
	if err != nil {
		return nil, badRequest("%q: %v", it.Name, err)
	}
	repo, digest, ok := strings.Cut(it.Name, "@")
	if !ok || repo == "" || digest != in.Digest {
		return nil, badRequest("%q: the signing input is for %s: name the item REGISTRY/REPO@%s", it.Name, in.Digest, in.Digest)
	}
	// Checked before signing: a signature without its chain is useless.
	if _, err := sc.chain(); err != nil {
		return nil, err
	}
	sig, err := notation.Sign(sc.signer, it.Data)
	if err != nil {
		return nil, badRequest("key %q (%s): %v", sc.key.Name, sc.key.Type, err)
	}
	return &signed{sig: sig, digests: []string{in.Digest}, details: map[string]string{
		"image": it.Name, "media_type": in.MediaType, "algorithm": in.Alg}}, nil
}
