package server

import (
	"crypto"
	"crypto/sha256"
	"fmt"
	"net/http"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/openpgp"
	"github.com/signet-dev/signet/keystore"
)

// pgpTypes are the key types that sign OpenPGP formats.
var pgpTypes = []keystore.Type{keystore.PGPEd25519, keystore.PGPRSA4096}

// openpgpSigner returns the OpenPGP view of k, signing with s.
func openpgpSigner(k keystore.Key, s crypto.Signer) (*openpgp.Signer, error) {
	ok, err := openpgp.NewKey(k.Public, k.Created, k.UID)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", k.Name, err)
	}
	return openpgp.NewSigner(ok, s)
}

// pgpFormat is a detached OpenPGP signature (format/openpgp), binary or
// armored. The client sends the SHA-256 state of the file; the server
// appends its own signature trailer, so the file is never uploaded and the
// signature can only ever be a binary-document signature.
type pgpFormat struct{}

func (pgpFormat) usage() string                         { return "pgp" }
func (pgpFormat) keyTypes() []keystore.Type             { return pgpTypes }
func (pgpFormat) checkOptions(o *api.SignOptions) error { return rejectPSS(o) }

func rejectPSS(o *api.SignOptions) error {
	if o.RSAPSS {
		return badRequest("rsa_pss does not apply to OpenPGP signatures, which are PKCS #1 v1.5 or EdDSA")
	}
	return nil
}

func (pgpFormat) sign(sc *signContext, it *api.SignItem) (*signed, error) {
	st := it.SHA256State
	if st == nil || it.Digest != "" || it.Data != nil {
		return nil, badRequest("%q: format pgp takes sha256_state, the SHA-256 state after the file's bytes (see docs/formats.md), not a digest or data", it.Name)
	}
	if it.Size != 0 && it.Size != st.Length {
		return nil, badRequest("%q: size %d differs from the %d bytes the sha256_state has hashed", it.Name, it.Size, st.Length)
	}
	h, err := openpgp.HashState{Chain: st.Chain, Tail: st.Tail, Length: st.Length}.Resume()
	if err != nil {
		return nil, badRequest("%q: %v", it.Name, err)
	}
	fileSum := h.Sum(nil) // Sum does not change h: this is the file's own SHA-256
	s, err := openpgpSigner(sc.key, sc.signer)
	if err != nil {
		return nil, err
	}
	sig, err := s.Detached(h, time.Now())
	if err != nil {
		return nil, err
	}
	if sc.opts.Armor {
		sig = openpgp.Armor(sig, "PGP SIGNATURE")
	}
	return &signed{sig: sig, digests: []string{api.Digest(crypto.SHA256, fileSum)}, details: map[string]string{
		"openpgp_fingerprint": s.Key().FingerprintHex(), "signature_type": "binary", "armor": fmt.Sprint(sc.opts.Armor)}}, nil
}

// pgpClearsignFormat is a cleartext-signed text (format/openpgp). The text
// is uploaded, bounded by limits.max_message_bytes.
type pgpClearsignFormat struct{}

func (pgpClearsignFormat) usage() string             { return "pgp" }
func (pgpClearsignFormat) keyTypes() []keystore.Type { return pgpTypes }
func (pgpClearsignFormat) checkOptions(o *api.SignOptions) error {
	if o.Armor {
		return badRequest("armor does not apply to pgp-clearsign, whose output is always text")
	}
	return rejectPSS(o)
}

func (pgpClearsignFormat) sign(sc *signContext, it *api.SignItem) (*signed, error) {
	if it.Data == nil || it.Digest != "" || it.SHA256State != nil {
		return nil, badRequest("%q: format pgp-clearsign takes the text itself as data", it.Name)
	}
	if int64(len(it.Data)) > sc.limits.MaxMessageBytes {
		return nil, &apiError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf(
			"%q is %d bytes; this server clearsigns at most %d bytes (limits.max_message_bytes): use a detached signature (format pgp), which uploads nothing",
			it.Name, len(it.Data), sc.limits.MaxMessageBytes)}
	}
	s, err := openpgpSigner(sc.key, sc.signer)
	if err != nil {
		return nil, err
	}
	out, err := s.Clearsign(it.Data, time.Now())
	if err != nil {
		return nil, badRequest("%q: %v", it.Name, err)
	}
	sum := sha256.Sum256(it.Data)
	return &signed{sig: out, digests: []string{api.Digest(crypto.SHA256, sum[:])}, details: map[string]string{
		"openpgp_fingerprint": s.Key().FingerprintHex(), "signature_type": "text"}}, nil
}
