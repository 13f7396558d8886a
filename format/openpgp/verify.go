package openpgp

import (
	"bytes"
	"errors"
	"fmt"
	"hash"
	"io"

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
// document. It consumes h.
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
	if s.SigType != packet.SigTypeBinary || s.IssuerKeyId == nil || *s.IssuerKeyId != ent.PrimaryKey.KeyId {
		return fmt.Errorf("%w: not a binary-document signature by key %s", ErrVerify, ent.PrimaryKey.KeyIdString())
	}
	if err := ent.PrimaryKey.VerifySignature(h, s); err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	return nil
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
	if _, err := gopenpgp.CheckDetachedSignature(gopenpgp.EntityList{ent}, bytes.NewReader(b.Bytes), b.ArmoredSignature.Body, nil); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVerify, err)
	}
	return b.Plaintext, nil
}
