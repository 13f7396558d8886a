package openpgp

import (
	"bytes"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	gopenpgp "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// The checks below use go-crypto's parser and verifier, not this
// package's encoder, so that a client checking what a server returned
// does not trust the code that produced it.

// ErrVerify is returned when a signature does not verify.
var ErrVerify = errors.New("openpgp: signature does not verify")

// ReadCertificate parses a certificate (binary or armored) with go-crypto,
// which checks its self-signature, and returns its primary key.
func ReadCertificate(cert []byte) (*gopenpgp.Entity, error) {
	var r io.Reader = bytes.NewReader(cert)
	if bytes.HasPrefix(bytes.TrimSpace(cert), []byte("-----BEGIN")) {
		block, err := armor.Decode(r)
		if err != nil {
			return nil, fmt.Errorf("openpgp: certificate armor: %w", err)
		}
		r = block.Body
	}
	ents, err := gopenpgp.ReadKeyRing(r)
	if err != nil {
		return nil, fmt.Errorf("openpgp: certificate: %w", err)
	}
	if len(ents) != 1 {
		return nil, fmt.Errorf("openpgp: certificate holds %d keys, want 1", len(ents))
	}
	return ents[0], nil
}

// CheckDetached checks sig (binary or armored), a binary-document
// signature by cert's key, against h, a SHA-256 hash fed with the
// document. It consumes h. The signature may be by the primary key, if it
// signs documents, or by one of its signing subkeys that is not revoked
// and was valid when the signature was made.
func CheckDetached(cert []byte, h hash.Hash, sig []byte) error {
	ent, err := ReadCertificate(cert)
	if err != nil {
		return err
	}
	var r io.Reader = bytes.NewReader(sig)
	if bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN")) {
		block, err := armor.Decode(r)
		if err != nil {
			return fmt.Errorf("openpgp: signature armor: %w", err)
		}
		r = block.Body
	}
	p, err := packet.Read(r)
	if err != nil {
		return fmt.Errorf("openpgp: signature: %w", err)
	}
	s, ok := p.(*packet.Signature)
	if !ok {
		return fmt.Errorf("openpgp: signature: got a %T packet", p)
	}
	if s.SigType != packet.SigTypeBinary || s.IssuerKeyId == nil {
		return fmt.Errorf("%w: not a binary-document signature by key %s", ErrVerify, ent.PrimaryKey.KeyIdString())
	}
	signer, err := signingKey(ent, *s.IssuerKeyId, s.CreationTime)
	if err != nil {
		return err
	}
	if err := signer.VerifySignature(h, s); err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	return nil
}

// signingKey returns the key of ent with key id id that could make a
// document signature at t.
func signingKey(ent *gopenpgp.Entity, id uint64, t time.Time) (*packet.PublicKey, error) {
	if ent.PrimaryKey.KeyId == id {
		self, _ := ent.PrimarySelfSignature()
		if self == nil || self.FlagsValid && !self.FlagSign {
			return nil, fmt.Errorf("%w: primary key %s does not sign documents", ErrVerify, ent.PrimaryKey.KeyIdString())
		}
		return ent.PrimaryKey, nil
	}
	for _, sub := range ent.Subkeys {
		if sub.PublicKey.KeyId != id {
			continue
		}
		switch {
		case !sub.Sig.FlagsValid || !sub.Sig.FlagSign:
			return nil, fmt.Errorf("%w: subkey %s is not a signing subkey", ErrVerify, sub.PublicKey.KeyIdString())
		case len(sub.Revocations) > 0:
			return nil, fmt.Errorf("%w: subkey %s is revoked", ErrVerify, sub.PublicKey.KeyIdString())
		case t.Before(sub.PublicKey.CreationTime) || sub.PublicKey.KeyExpired(sub.Sig, t):
			return nil, fmt.Errorf("%w: subkey %s was not valid at %v", ErrVerify, sub.PublicKey.KeyIdString(), t.UTC())
		}
		return sub.PublicKey, nil
	}
	return nil, fmt.Errorf("%w: not a signature by key %s or one of its subkeys", ErrVerify, ent.PrimaryKey.KeyIdString())
}

// CheckClearsigned checks a cleartext-signed message by cert's key and
// returns the signed text as go-crypto reads it.
func CheckClearsigned(cert, msg []byte) ([]byte, error) {
	ent, err := ReadCertificate(cert)
	if err != nil {
		return nil, err
	}
	b, rest := clearsign.Decode(msg)
	if b == nil {
		return nil, fmt.Errorf("%w: not a cleartext-signed message", ErrVerify)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: data after the signature", ErrVerify)
	}
	sig, err := io.ReadAll(b.ArmoredSignature.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: signature armor: %v", ErrVerify, err)
	}
	p, err := packet.Read(bytes.NewReader(sig))
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrVerify, err)
	}
	s, ok := p.(*packet.Signature)
	if !ok {
		return nil, fmt.Errorf("%w: signature: got a %T packet", ErrVerify, p)
	}
	// A subkey's validity is judged when it signed: its window may have
	// ended since.
	at := &packet.Config{Time: func() time.Time { return s.CreationTime }}
	if _, err := gopenpgp.CheckDetachedSignature(gopenpgp.EntityList{ent}, bytes.NewReader(b.Bytes), bytes.NewReader(sig), at); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVerify, err)
	}
	return b.Plaintext, nil
}
