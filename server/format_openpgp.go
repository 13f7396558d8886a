package server

import (
	"crypto"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/openpgp"
	"github.com/signet-dev/signet/keystore"
)

// pgpTypes are the key types that sign OpenPGP formats.
var pgpTypes = []keystore.Type{keystore.PGPEd25519, keystore.PGPRSA4096}

// openpgpPrimary returns the primary key of the OpenPGP key k: one that
// only certifies, or for a key made before versions, one that also
// signed documents itself (docs/rotation.md).
func openpgpPrimary(k keystore.Key) (*openpgp.Key, error) {
	newKey := openpgp.NewCertifyingKey
	if k.PrimarySigns {
		newKey = openpgp.NewKey
	}
	pk, err := newKey(k.Public, k.Created, k.UID)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", k.Name, err)
	}
	return pk, nil
}

// primarySigningUsages are the usages whose OpenPGP keys sign with their
// primary key (as version 1) rather than with a subkey: debsig-verify
// finds the policy of a signature by the fingerprint of the key that
// made it, so a signing subkey would need a new policy at every rotation
// (docs/rotation.md).
var primarySigningUsages = map[string]bool{"deb": true}

// isPrimaryVersion reports whether version v of k is k's primary key.
func isPrimaryVersion(k keystore.Key, v keystore.Version) bool {
	return k.PrimarySigns && v.Number == 1
}

// openpgpSigner returns the OpenPGP signer of version v of k, whose
// private half is s: a signing subkey of k's primary, or the primary
// itself for version 1 of a key made before versions.
func openpgpSigner(k keystore.Key, v keystore.Version, s crypto.Signer) (*openpgp.Signer, error) {
	primary, err := openpgpPrimary(k)
	if err != nil {
		return nil, err
	}
	if isPrimaryVersion(k, v) {
		return openpgp.NewSigner(primary, s)
	}
	sub, err := openpgp.NewSubkey(v.Public, v.Created)
	if err != nil {
		return nil, fmt.Errorf("key %q version %d: %w", k.Name, v.Number, err)
	}
	return openpgp.NewSubkeySigner(primary, sub, s)
}

// openpgpFingerprint is the OpenPGP fingerprint of version v of k.
func openpgpFingerprint(k keystore.Key, v keystore.Version) string {
	if isPrimaryVersion(k, v) {
		if pk, err := openpgpPrimary(k); err == nil {
			return pk.FingerprintHex()
		}
		return ""
	}
	if sub, err := openpgp.NewSubkey(v.Public, v.Created); err == nil {
		return sub.FingerprintHex()
	}
	return ""
}

// revocationReasons map keystore reasons to OpenPGP's.
var revocationReasons = map[keystore.Reason]openpgp.RevocationReason{
	keystore.Compromised: openpgp.ReasonCompromised,
	keystore.Superseded:  openpgp.ReasonSuperseded,
	keystore.RetiredKey:  openpgp.ReasonRetired,
}

// openpgpCertificate returns k's certificate: the primary key and user id
// with its self-certification, then every version that is a subkey with
// its binding (expiring at the end of its window) and, if revoked, its
// revocation. The primary signs them now, each dated by the keystore, so
// the certificate of a given key state is the same bytes every time.
func (s *Server) openpgpCertificate(k keystore.Key) ([]byte, *openpgp.Key, error) {
	primary, err := openpgpPrimary(k)
	if err != nil {
		return nil, nil, err
	}
	// A certificate is public and changes only with the key's versions:
	// it is made once per state of the key and kept, and making it does
	// not extend the lease — reading a certificate is not using the key.
	state := certState(k)
	if c, ok := s.pgpCerts.Load(k.Name); ok && c.(*pgpCert).state == state {
		return c.(*pgpCert).cert, primary, nil
	}
	signer, err := s.keys.BackgroundPrimarySigner(k.Name)
	if err != nil {
		return nil, nil, keyError(k.Name, err)
	}
	ps, err := openpgp.NewSigner(primary, signer)
	if err != nil {
		return nil, nil, fmt.Errorf("key %q: %w", k.Name, err)
	}
	var subs []openpgp.Subkey
	for _, v := range k.Versions {
		if isPrimaryVersion(k, v) {
			continue
		}
		sub, err := openpgp.NewSubkey(v.Public, v.Created)
		if err != nil {
			return nil, nil, fmt.Errorf("key %q version %d: %w", k.Name, v.Number, err)
		}
		sk := openpgp.Subkey{Key: sub, Bound: v.Updated, BackSig: v.BackSig}
		if !v.NotAfter.IsZero() {
			// A window rotated away within its first second still needs
			// a positive lifetime: 0 would mean it never expires.
			sk.Expires = v.NotAfter
			if !sk.Expires.After(v.Created) {
				sk.Expires = v.Created.Add(time.Second)
			}
		}
		if v.State == keystore.Revoked {
			sk.Bound = v.Created
			sk.Revoked = &openpgp.Revocation{Time: v.Revoked, Reason: revocationReasons[v.Reason], Text: "signet: " + string(v.Reason)}
		}
		subs = append(subs, sk)
	}
	cert, err := ps.Certificate(subs...)
	if err != nil {
		return nil, nil, fmt.Errorf("key %q: %w", k.Name, err)
	}
	s.pgpCerts.Store(k.Name, &pgpCert{state: state, cert: cert})
	return cert, primary, nil
}

// pgpCert is a key's certificate as made for one state of the key.
type pgpCert struct {
	state string
	cert  []byte
}

// certState is what a certificate of k depends on: its primary, user id
// and every version's public key, window and state.
func certState(k keystore.Key) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s|%s|%d", k.Name, k.Fingerprint(), k.UID, k.Created.Format(time.RFC3339), len(k.Versions))
	for _, v := range k.Versions {
		fmt.Fprintf(&b, "|%d,%s,%s,%s,%s,%s,%s,%s", v.Number, v.Fingerprint(), v.State, v.Created.Format(time.RFC3339),
			v.Updated.Format(time.RFC3339), v.NotAfter.Format(time.RFC3339), v.Revoked.Format(time.RFC3339), v.Reason)
	}
	return b.String()
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
	s, err := openpgpSigner(sc.key, sc.version, sc.signer)
	if err != nil {
		return nil, err
	}
	sig, err := s.Detached(h, sc.now)
	if err != nil {
		return nil, err
	}
	if sc.opts.Armor {
		sig = openpgp.Armor(sig, "PGP SIGNATURE")
	}
	return &signed{sig: sig, digests: []string{api.Digest(crypto.SHA256, fileSum)}, details: map[string]string{
		"openpgp_fingerprint": s.Primary().FingerprintHex(), "openpgp_signing_key": s.Key().FingerprintHex(),
		"signature_type": "binary", "armor": fmt.Sprint(sc.opts.Armor)}}, nil
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
	s, err := openpgpSigner(sc.key, sc.version, sc.signer)
	if err != nil {
		return nil, err
	}
	out, err := s.Clearsign(it.Data, sc.now)
	if err != nil {
		return nil, badRequest("%q: %v", it.Name, err)
	}
	sum := sha256.Sum256(it.Data)
	return &signed{sig: out, digests: []string{api.Digest(crypto.SHA256, sum[:])}, details: map[string]string{
		"openpgp_fingerprint": s.Primary().FingerprintHex(), "openpgp_signing_key": s.Key().FingerprintHex(), "signature_type": "text"}}, nil
}
