package server

import (
	"crypto"
	"fmt"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/minisign"
	"github.com/signet-dev/signet/keystore"
)

// minisignFormat is format/minisign: prehashed ("ED") minisign signatures
// over the BLAKE2b-512 digest of a file. The client chooses the trusted
// comment; the server bounds it, signs it and records it, and derives the
// key id from the public key (minisign.KeyIDFor).
type minisignFormat struct{}

func (minisignFormat) usage() string { return "minisign" }

func (minisignFormat) keyTypes() []keystore.Type { return []keystore.Type{keystore.Ed25519} }

func (minisignFormat) checkOptions(o *api.SignOptions) error {
	if o.RSAPSS || o.Namespace != "" {
		return badRequest("format minisign takes no options (rsa_pss, namespace); send a trusted_comment per item")
	}
	return nil
}

func (minisignFormat) sign(sc *signContext, it *api.SignItem) (*signed, error) {
	_, sum, err := digestItem(it, "minisign", crypto.BLAKE2b_512)
	if err != nil {
		return nil, err
	}
	if err := minisign.ValidComment(it.TrustedComment); err != nil {
		return nil, badRequest("%q: trusted comment: %v", it.Name, err)
	}
	pub, err := minisign.NewPublicKey(sc.key.Public)
	if err != nil {
		return nil, err
	}
	untrusted := fmt.Sprintf("signature from signet key %s", sc.key.Name)
	sig, err := minisign.Sign(sc.signer, pub.ID, sum, it.TrustedComment, untrusted)
	if err != nil {
		return nil, err
	}
	return &signed{
		sig:     sig.Marshal(),
		digests: []string{it.Digest},
		details: map[string]string{"key_id": pub.ID.String(), "trusted_comment": it.TrustedComment},
	}, nil
}
