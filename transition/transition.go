// Package transition is the key transition statement: a document in which
// an old key vouches for the key that replaces it and the new key
// acknowledges the old one, each by its signature. A verifier that trusts
// the old key learns the new one from the statement, as Debian's archive
// key transitions and GnuPG key transition statements do, without a
// second channel.
//
// # Format
//
// The statement is JSON in a DSSE envelope (package internal/envelope) of
// payload type "application/vnd.signet.key-transition+json", with two
// signatures over it: the old key's, then the new key's.
//
//	{"type": "https://signet.dev/key-transition/v1",
//	 "old": {"name": "release", "key_type": "ecdsa-p256", "usage": "raw",
//	         "fingerprint": "SHA256:…", "public_key": "-----BEGIN PUBLIC KEY-----…"},
//	 "new": {"name": "release-2027", …},
//	 "time": "2026-01-02T03:04:05Z", "reason": "yearly replacement"}
//
// For an OpenPGP key the key signing is its primary key, which clients
// trust, and "openpgp_fingerprint" is the primary's v4 fingerprint; for
// any other key it is the key's active version.
//
// # What it guarantees
//
// [Verify] accepts a statement only if it names the trusted old key, the
// old key's signature verifies, and the new key's signature verifies
// with the public key the statement names. Both keys therefore took part.
// It does not say that the old key was in its holders' hands: a key of
// usage raw signs any digest its grantees send, so such a key could be
// made to sign a statement by someone who may sign with it. The server
// records every transition it signs in its audit log; check the
// statement's receipt (signet verify-transition --log-key) before
// trusting a transition away from a raw key.
package transition

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/signet-dev/signet/internal/envelope"
	"github.com/signet-dev/signet/internal/strictjson"
	"github.com/signet-dev/signet/keystore"
)

const (
	// PayloadType is the DSSE payload type of a transition statement.
	PayloadType = "application/vnd.signet.key-transition+json"
	// Type is the statement's "type".
	Type = "https://signet.dev/key-transition/v1"
)

// ErrVerify is returned when a statement's signatures do not check.
var ErrVerify = errors.New("transition: statement does not verify")

// A Statement says that New replaces Old.
type Statement struct {
	Type   string    `json:"type"`
	Old    Key       `json:"old"`
	New    Key       `json:"new"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason,omitempty"`
}

// A Key is one side of a transition: the key that signs for it.
type Key struct {
	Name               string `json:"name"`
	KeyType            string `json:"key_type"`
	Usage              string `json:"usage"`
	Fingerprint        string `json:"fingerprint"` // Signet fingerprint of PublicKey
	OpenPGPFingerprint string `json:"openpgp_fingerprint,omitempty"`
	PublicKey          string `json:"public_key"` // PEM SubjectPublicKeyInfo

	pub crypto.PublicKey
}

// Public returns the key's public key (after NewKey, Parse or Verify).
func (k *Key) Public() crypto.PublicKey { return k.pub }

// NewKey describes the key of the given name, type and usage whose
// signing public key is pub.
func NewKey(name, keyType, usage string, pub crypto.PublicKey) (Key, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return Key{}, fmt.Errorf("transition: key %q: %w", name, err)
	}
	return Key{Name: name, KeyType: keyType, Usage: usage, Fingerprint: keystore.Fingerprint(pub), pub: pub,
		PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}, nil
}

// Sign returns the envelope of st signed by old and then by new, whose
// public keys must be those st names.
func Sign(st *Statement, old, new crypto.Signer) ([]byte, error) {
	st.Type = Type
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	parsed, err := Parse(b)
	if err != nil {
		return nil, err
	}
	for _, side := range []struct {
		k *Key
		s crypto.Signer
	}{{&parsed.Old, old}, {&parsed.New, new}} {
		if eq, ok := side.s.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(side.k.pub) {
			return nil, fmt.Errorf("transition: the signer for %q does not hold the key the statement names", side.k.Name)
		}
	}
	return envelope.Sign(PayloadType, b, old, new)
}

// Verify checks that env is a transition statement away from trustedOld,
// signed by that key and by the new key it names, and returns it.
func Verify(env []byte, trustedOld crypto.PublicKey) (*Statement, error) {
	payload, sigs, err := envelope.Open(env, PayloadType)
	if err != nil {
		return nil, fmt.Errorf("transition: %w", err)
	}
	st, err := Parse(payload)
	if err != nil {
		return nil, err
	}
	if eq, ok := trustedOld.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(st.Old.pub) {
		return nil, fmt.Errorf("%w: it is a transition away from %s (%s), not from the key you trust", ErrVerify, st.Old.Name, st.Old.Fingerprint)
	}
	if err := envelope.Verify(PayloadType, payload, sigs, st.Old.pub); err != nil {
		return nil, fmt.Errorf("%w: the old key %q did not sign it: %v", ErrVerify, st.Old.Name, err)
	}
	if err := envelope.Verify(PayloadType, payload, sigs, st.New.pub); err != nil {
		return nil, fmt.Errorf("%w: the new key %q did not sign it: %v", ErrVerify, st.New.Name, err)
	}
	return st, nil
}

// Parse parses and checks a statement's JSON, without its envelope.
func Parse(b []byte) (*Statement, error) {
	var st Statement
	if err := strictjson.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("transition: %w", err)
	}
	switch {
	case st.Type != Type:
		return nil, fmt.Errorf("transition: type %.80q, want %q", st.Type, Type)
	case st.Time.IsZero():
		return nil, errors.New("transition: time is required")
	case len(st.Reason) > 1024:
		return nil, errors.New("transition: reason is longer than 1024 bytes")
	}
	for _, k := range []*Key{&st.Old, &st.New} {
		if err := k.check(); err != nil {
			return nil, err
		}
	}
	if st.Old.Fingerprint == st.New.Fingerprint {
		return nil, errors.New("transition: the old and the new key are the same key")
	}
	return &st, nil
}

func (k *Key) check() error {
	if k.Name == "" || k.KeyType == "" || k.Usage == "" {
		return errors.New("transition: each key needs a name, key_type and usage")
	}
	if err := keystore.ValidName(k.Name); err != nil {
		return fmt.Errorf("transition: %w", err)
	}
	block, rest := pem.Decode([]byte(k.PublicKey))
	if block == nil || block.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) != 0 {
		return fmt.Errorf("transition: key %q: public_key is not one PEM PUBLIC KEY", k.Name)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("transition: key %q: %w", k.Name, err)
	}
	if fp := keystore.Fingerprint(pub); fp != k.Fingerprint {
		return fmt.Errorf("transition: key %q: fingerprint %.60s is not that of its public key (%s)", k.Name, k.Fingerprint, fp)
	}
	k.pub = pub
	return nil
}
