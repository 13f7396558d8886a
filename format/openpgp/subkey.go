package openpgp

import (
	"crypto"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"time"
	"unicode/utf8"
)

// A Subkey is a signing subkey as a certificate lists it, with what its
// binding says and, if it was revoked, its revocation.
type Subkey struct {
	Key *Key
	// Bound dates the binding signature: when the subkey's window was
	// last set. A verifier keeps the newest binding it has seen, so a
	// binding that shortens the window must be dated later than the one
	// it replaces.
	Bound time.Time
	// Expires ends the subkey's validity (its window); zero for never.
	// Signatures made before it stay good afterwards.
	Expires time.Time
	// BackSig is the primary key binding signature the subkey made
	// (BackSignature). It is kept rather than made again because a
	// subkey whose window has ended never signs anything again.
	BackSig []byte
	// Revoked, if not nil, revokes the subkey: the certificate then
	// carries a subkey revocation and a binding dated at the revocation
	// that grants no usage, so that gpg and gpgv refuse every signature
	// the subkey made, whatever the reason.
	Revoked *Revocation
}

// A Revocation is a subkey revocation: when and why.
type Revocation struct {
	Time   time.Time
	Reason RevocationReason
	Text   string // a short human-readable explanation; may be empty
}

// RevocationReason is the reason code of a revocation (RFC 4880
// §5.2.3.23), which gpg shows with the revoked subkey.
type RevocationReason byte

// The revocation reasons Signet uses.
const (
	ReasonNone        RevocationReason = 0
	ReasonSuperseded  RevocationReason = 1
	ReasonCompromised RevocationReason = 2
	ReasonRetired     RevocationReason = 3
)

// BackSignature returns the primary key binding signature (type 0x19)
// that sub, a subkey of primary whose private half is s, makes over
// primary and itself: the proof GnuPG requires that a signing subkey
// agreed to be bound to its primary. It is dated at the subkey's creation
// and is the body of a signature packet, to be carried inside the
// subkey's binding (Subkey.BackSig).
func BackSignature(primary, subkey *Key, s crypto.Signer) ([]byte, error) {
	if primary.IsSubkey() || !subkey.IsSubkey() {
		return nil, errors.New("openpgp: BackSignature needs a primary key and one of its subkeys")
	}
	if !holds(s, subkey) {
		return nil, errors.New("openpgp: the signer does not hold this subkey")
	}
	hashed := subpackets(
		sub(subCreationTime, be32(subkey.created)),
		sub(subIssuerFingerprint, append([]byte{4}, subkey.fp[:]...)),
	)
	return signBody(s, subkey, keyBindingHash(primary, subkey), sigTypePrimaryBinding, hashed)
}

// keyBindingHash is a SHA-256 hash fed with what a signature over the
// binding of subkey to primary covers.
func keyBindingHash(primary, subkey *Key) hash.Hash {
	h := sha256.New()
	primary.writeKeyHash(h)
	subkey.writeKeyHash(h)
	return h
}

// appendSubkey appends the subkey packet of sk, its binding by s's key,
// and its revocation, if any.
func (s *Signer) appendSubkey(out []byte, sk *Subkey) ([]byte, error) {
	k := sk.Key
	if k == nil || !k.IsSubkey() {
		return nil, errors.New("not a subkey")
	}
	if len(sk.BackSig) == 0 {
		return nil, errors.New("no back signature: GnuPG refuses signing subkeys without one")
	}
	if sk.Bound.Before(k.created) {
		return nil, fmt.Errorf("bound at %v, before the subkey was created (%v)", sk.Bound, k.created)
	}
	bound, flags := sk.Bound, byte(flagSign)
	if r := sk.Revoked; r != nil {
		// gpg and gpgv accept signatures by a revoked key, only warning
		// (and gpgv not even that), so a revoked subkey is also bound
		// again without the signing usage: both then refuse its
		// signatures ("Wrong key usage").
		if !r.Time.After(sk.Bound) {
			return nil, fmt.Errorf("revoked at %v, not after its last binding (%v)", r.Time, sk.Bound)
		}
		bound, flags = r.Time, 0
	}
	subs := [][]byte{
		sub(subCreationTime, be32(bound)),
		sub(subKeyFlags, []byte{flags}),
	}
	if !sk.Expires.IsZero() {
		d := sk.Expires.Unix() - k.created.Unix()
		if d <= 0 || d > 1<<32-1 {
			return nil, fmt.Errorf("expiry %v is not after its creation %v, or too far", sk.Expires, k.created)
		}
		subs = append(subs, sub(subKeyExpiry, binary.BigEndian.AppendUint32(nil, uint32(d))))
	}
	subs = append(subs, sub(subIssuerFingerprint, append([]byte{4}, s.key.fp[:]...)))
	if flags&flagSign != 0 {
		subs = append(subs, sub(subEmbedded, sk.BackSig))
	}
	binding, err := s.signCert(keyBindingHash(s.key, k), sigTypeSubkeyBinding, subpackets(subs...))
	if err != nil {
		return nil, err
	}
	out = appendPacket(out, tagPublicSubkey, k.body)
	out = append(out, binding...)
	if r := sk.Revoked; r != nil {
		if !utf8.ValidString(r.Text) || len(r.Text) > 160 {
			return nil, errors.New("revocation text must be UTF-8 of at most 160 bytes")
		}
		hashed := subpackets(
			sub(subCreationTime, be32(r.Time)),
			sub(subRevocationReason, append([]byte{byte(r.Reason)}, r.Text...)),
			sub(subIssuerFingerprint, append([]byte{4}, s.key.fp[:]...)),
		)
		rev, err := s.signCert(keyBindingHash(s.key, k), sigTypeSubkeyRevocation, hashed)
		if err != nil {
			return nil, err
		}
		out = append(out, rev...)
	}
	return out, nil
}

// signCert is sign for certifications, which only a primary key makes.
func (s *Signer) signCert(h hash.Hash, sigType byte, hashed []byte) ([]byte, error) {
	if s.key.IsSubkey() || s.key.flags&flagCertify == 0 {
		return nil, errors.New("openpgp: only the primary key certifies")
	}
	return s.sign(h, sigType, hashed)
}
