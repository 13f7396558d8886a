package server

import (
	"crypto"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/authenticode"
	"github.com/signet-dev/signet/keystore"
)

// authenticodeFormat is format/authenticode: Authenticode signatures of
// Windows PE files. The client computes the file's Authenticode digest
// and sends the SpcIndirectDataContent holding it; the server accepts
// exactly that structure with a SHA-256 digest (nothing else can be
// signed), signs it with the key's certificate chain and returns the
// PKCS #7 SignedData, which the client embeds in the file. The file is
// never uploaded.
type authenticodeFormat struct{}

func (authenticodeFormat) usage() string { return "authenticode" }

func (authenticodeFormat) keyTypes() []keystore.Type {
	return []keystore.Type{keystore.ECDSAP256, keystore.ECDSAP384, keystore.RSA3072, keystore.RSA4096}
}

func (authenticodeFormat) checkOptions(o *api.SignOptions) error {
	switch {
	case o.RSAPSS:
		return badRequest("format authenticode signs RSA keys with PKCS #1 v1.5, as Windows expects; drop rsa_pss")
	case o.Namespace != "":
		return badRequest("format authenticode takes no namespace; namespaces are for format ssh")
	case o.Armor:
		return badRequest("format authenticode takes no armor: its signature is embedded in the PE file")
	}
	return nil
}

func (authenticodeFormat) sign(sc *signContext, it *api.SignItem) (*signed, error) {
	if it.Data == nil || it.Digest != "" || it.SHA256State != nil {
		return nil, badRequest("%q: format authenticode signs the SpcIndirectDataContent of the PE file's Authenticode digest, sent as data, which 'signet sign --format authenticode' computes; not a digest", it.Name)
	}
	if it.TrustedComment != "" {
		return nil, badRequest("%q: format authenticode takes no trusted comment; trusted comments are for format minisign", it.Name)
	}
	digest, err := authenticode.ParseIndirectData(it.Data)
	if err != nil {
		return nil, badRequest("%q: %v", it.Name, err)
	}
	chain, err := sc.chain()
	if err != nil {
		return nil, err
	}
	sig, err := authenticode.Sign(sc.signer, chain, it.Data, authenticode.SignOptions{Time: time.Now()})
	if err != nil {
		return nil, err
	}
	peHash := api.Digest(crypto.SHA256, digest)
	leaf := chain[0]
	return &signed{sig: sig, digests: []string{peHash}, details: map[string]string{
		"pe_file":        it.Name,
		"pe_hash":        peHash,
		"signer_subject": leaf.Subject.String(),
		"signer_issuer":  leaf.Issuer.String(),
		"signer_serial":  leaf.SerialNumber.Text(16),
	}}, nil
}
