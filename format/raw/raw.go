// Package raw produces and checks raw signatures: the bare signature bytes
// that `openssl dgst -verify` and `openssl pkeyutl -verify` accept, with no
// envelope, no metadata and no armor.
//
// The scheme follows from the key, never from the caller, so that a digest
// computed for one algorithm can never be signed as another:
//
//	key type     signed bytes                     signature encoding
//	ECDSA P-256  SHA-256 digest of the file       ASN.1 DER (r, s)
//	ECDSA P-384  SHA-384 digest of the file       ASN.1 DER (r, s)
//	RSA          SHA-256 digest of the file       PKCS #1 v1.5, or PSS with
//	                                              salt length = digest length
//	Ed25519      the file itself (pure Ed25519)   64 bytes (RFC 8032)
//
// For every scheme except Ed25519 the caller hashes the file and sends only
// the digest, so a multi-gigabyte artifact never crosses the network. Pure
// Ed25519 has no prehashed form that openssl verifies, so it needs the bytes,
// and servers bound their size.
//
// Sign takes a [crypto.Signer], so keys held in an HSM work exactly like keys
// held in the file keystore.
package raw

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
)

// Options select variants of the raw format.
type Options struct {
	// PSS selects RSASSA-PSS (salt length equal to the digest length)
	// instead of PKCS #1 v1.5. It is an error with non-RSA keys.
	PSS bool
}

// ErrVerify is returned by Verify when a signature does not verify.
var ErrVerify = errors.New("signature does not verify")

// Hash returns the hash function whose digest Sign expects for pub, or 0
// for Ed25519, which signs the message itself.
func Hash(pub crypto.PublicKey) (crypto.Hash, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return 0, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return crypto.SHA256, nil
		case elliptic.P384():
			return crypto.SHA384, nil
		}
		return 0, fmt.Errorf("raw: unsupported ECDSA curve %s", k.Curve.Params().Name)
	case *rsa.PublicKey:
		return crypto.SHA256, nil
	}
	return 0, fmt.Errorf("raw: unsupported public key type %T", pub)
}

// Algorithm names the scheme used with pub and opts, for display and for
// responses: for example "ecdsa-p256-sha256" or "rsa-pss-sha256".
func Algorithm(pub crypto.PublicKey, opts Options) (string, error) {
	if err := checkOptions(pub, opts); err != nil {
		return "", err
	}
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return "ed25519", nil
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P384() {
			return "ecdsa-p384-sha384", nil
		}
		return "ecdsa-p256-sha256", nil
	case *rsa.PublicKey:
		if opts.PSS {
			return "rsa-pss-sha256", nil
		}
		return "rsa-pkcs1v15-sha256", nil
	}
	return "", fmt.Errorf("raw: unsupported public key type %T", pub)
}

// Sign signs tbs with s. For Ed25519 keys tbs is the message; for all other
// keys it is the digest of the message under Hash(s.Public()), and its
// length is checked.
func Sign(s crypto.Signer, tbs []byte, opts Options) ([]byte, error) {
	pub := s.Public()
	if err := checkOptions(pub, opts); err != nil {
		return nil, err
	}
	h, err := Hash(pub)
	if err != nil {
		return nil, err
	}
	var so crypto.SignerOpts = h
	switch {
	case h == 0:
		so = crypto.Hash(0)
	case len(tbs) != h.Size():
		return nil, fmt.Errorf("raw: digest is %d bytes, want %d for %s", len(tbs), h.Size(), h)
	case opts.PSS:
		so = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	}
	sig, err := s.Sign(rand.Reader, tbs, so)
	if err != nil {
		return nil, fmt.Errorf("raw: signing: %w", err)
	}
	return sig, nil
}

// Verify checks that sig is a raw signature of message (the whole message,
// not its digest) under pub.
func Verify(pub crypto.PublicKey, message, sig []byte, opts Options) error {
	if err := checkOptions(pub, opts); err != nil {
		return err
	}
	h, err := Hash(pub)
	if err != nil {
		return err
	}
	var digest []byte
	if h != 0 {
		d := h.New()
		d.Write(message)
		digest = d.Sum(nil)
	}
	return verify(pub, h, message, digest, sig, opts)
}

// VerifyDigest is Verify for a caller that already holds the digest of the
// message. It fails for Ed25519 keys, which need the message.
func VerifyDigest(pub crypto.PublicKey, digest, sig []byte, opts Options) error {
	if err := checkOptions(pub, opts); err != nil {
		return err
	}
	h, err := Hash(pub)
	if err != nil {
		return err
	}
	if h == 0 {
		return errors.New("raw: Ed25519 signatures cover the message, not a digest")
	}
	if len(digest) != h.Size() {
		return fmt.Errorf("raw: digest is %d bytes, want %d for %s", len(digest), h.Size(), h)
	}
	return verify(pub, h, nil, digest, sig, opts)
}

func verify(pub crypto.PublicKey, h crypto.Hash, message, digest, sig []byte, opts Options) error {
	ok := false
	switch k := pub.(type) {
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, message, sig)
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(k, digest, sig)
	case *rsa.PublicKey:
		if opts.PSS {
			ok = rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		} else {
			ok = rsa.VerifyPKCS1v15(k, h, digest, sig) == nil
		}
	}
	if !ok {
		return ErrVerify
	}
	return nil
}

func checkOptions(pub crypto.PublicKey, opts Options) error {
	if _, isRSA := pub.(*rsa.PublicKey); opts.PSS && !isRSA {
		return errors.New("raw: PSS applies only to RSA keys")
	}
	return nil
}
