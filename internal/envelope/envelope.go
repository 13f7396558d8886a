// Package envelope signs and opens the DSSE envelopes (Dead Simple Signing
// Envelope, github.com/secure-systems-lab/dsse) that carry Signet's own
// signed documents: key lists (package keylist) and key transitions
// (package transition).
//
// An envelope is JSON:
//
//	{"payloadType": "application/vnd.signet.key-list+json",
//	 "payload": "<standard base64 of the document>",
//	 "signatures": [{"keyid": "SHA256:…", "sig": "<standard base64>"}]}
//
// Each signature covers the pre-authentication encoding PAE(type,
// payload) = "DSSEv1 <len(type)> <type> <len(payload)> <payload>", so a
// signature made for one document type can never be read as another's.
// The scheme follows from the key, as in package format/raw: Ed25519 over
// PAE itself, ECDSA over SHA-256 (P-256) or SHA-384 (P-384) of PAE in
// ASN.1 DER, RSA PKCS #1 v1.5 over SHA-256 of PAE. A keyid is the
// signer's Signet fingerprint, "SHA256:" and the unpadded base64 SHA-256
// of its SubjectPublicKeyInfo; verifiers match signatures to keys by it.
//
// Open parses strictly: exactly those three fields, once each, standard
// base64, at most MaxSize bytes, at least one signature. It does not know
// what a payload means; the document packages parse it.
package envelope

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/signet-dev/signet/format/raw"
	"github.com/signet-dev/signet/internal/strictjson"
)

// MaxSize bounds an envelope.
const MaxSize = 1 << 20

// maxSignatures bounds the signatures of one envelope.
const maxSignatures = 16

// ErrVerify is returned when no signature by the wanted key verifies.
var ErrVerify = errors.New("envelope: no valid signature by the key")

// A Signature is one signature of an envelope.
type Signature struct {
	KeyID string
	Sig   []byte
}

type wireSig struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"`
}

type wire struct {
	PayloadType string    `json:"payloadType"`
	Payload     []byte    `json:"payload"`
	Signatures  []wireSig `json:"signatures"`
}

// KeyID returns the keyid of pub: its Signet fingerprint.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("envelope: key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]), nil
}

// tbs returns what a key of pub's kind signs for message m.
func tbs(pub crypto.PublicKey, m []byte) ([]byte, error) {
	h, err := raw.Hash(pub)
	if err != nil {
		return nil, err
	}
	if h == 0 {
		return m, nil
	}
	d := h.New()
	d.Write(m)
	return d.Sum(nil), nil
}

// Sign returns the envelope of payload, of type payloadType, signed by
// each of signers in order, ending in a newline.
func Sign(payloadType string, payload []byte, signers ...crypto.Signer) ([]byte, error) {
	if len(signers) == 0 || len(signers) > maxSignatures {
		return nil, fmt.Errorf("envelope: %d signers; want 1 to %d", len(signers), maxSignatures)
	}
	pae := ssldsse.PAE(payloadType, payload)
	w := wire{PayloadType: payloadType, Payload: payload}
	for _, s := range signers {
		id, err := KeyID(s.Public())
		if err != nil {
			return nil, err
		}
		m, err := tbs(s.Public(), pae)
		if err != nil {
			return nil, fmt.Errorf("envelope: %w", err)
		}
		sig, err := raw.Sign(s, m, raw.Options{})
		if err != nil {
			return nil, fmt.Errorf("envelope: signing with %s: %w", id, err)
		}
		w.Signatures = append(w.Signatures, wireSig{KeyID: id, Sig: sig})
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	if len(b) >= MaxSize {
		return nil, fmt.Errorf("envelope: %d bytes; the limit is %d", len(b), MaxSize)
	}
	return append(b, '\n'), nil
}

// Open parses env, whose payload type must be payloadType, and returns its
// payload and signatures, unverified.
func Open(env []byte, payloadType string) ([]byte, []Signature, error) {
	if len(env) > MaxSize {
		return nil, nil, fmt.Errorf("envelope: %d bytes; the limit is %d", len(env), MaxSize)
	}
	if err := uniqueKeys(env); err != nil {
		return nil, nil, err
	}
	var w wire
	if err := strictjson.Unmarshal(env, &w); err != nil {
		return nil, nil, fmt.Errorf("envelope: %w", err)
	}
	switch {
	case w.PayloadType != payloadType:
		return nil, nil, fmt.Errorf("envelope: payloadType is %.80q, want %q", w.PayloadType, payloadType)
	case w.Payload == nil:
		return nil, nil, errors.New("envelope: no payload")
	case len(w.Signatures) == 0 || len(w.Signatures) > maxSignatures:
		return nil, nil, fmt.Errorf("envelope: %d signatures; want 1 to %d", len(w.Signatures), maxSignatures)
	}
	sigs := make([]Signature, len(w.Signatures))
	for i, s := range w.Signatures {
		if len(s.Sig) == 0 {
			return nil, nil, fmt.Errorf("envelope: signature %d is empty", i+1)
		}
		sigs[i] = Signature{KeyID: s.KeyID, Sig: s.Sig}
	}
	return w.Payload, sigs, nil
}

// Verify reports whether one of sigs is a valid signature by pub over the
// payload of type payloadType.
func Verify(payloadType string, payload []byte, sigs []Signature, pub crypto.PublicKey) error {
	id, err := KeyID(pub)
	if err != nil {
		return err
	}
	m, err := tbs(pub, ssldsse.PAE(payloadType, payload))
	if err != nil {
		return fmt.Errorf("envelope: %w", err)
	}
	h, _ := raw.Hash(pub)
	for _, s := range sigs {
		if s.KeyID != id {
			continue
		}
		if h == 0 {
			err = raw.Verify(pub, m, s.Sig, raw.Options{})
		} else {
			err = raw.VerifyDigest(pub, m, s.Sig, raw.Options{})
		}
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w %s", ErrVerify, id)
}

// uniqueKeys refuses an envelope whose top-level object repeats a field:
// JSON parsers disagree on which value wins.
func uniqueKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("envelope: not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("envelope: %w", err)
		}
		k, _ := t.(string)
		if seen[k] {
			return fmt.Errorf("envelope: field %q appears twice", k)
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("envelope: %w", err)
		}
	}
	return nil
}
