// Package keylist is the signed key list: one document that tells a
// verifier every version of a key, its validity window, its state and its
// public key, signed by a root key the verifier trusts. A verifier that
// pins the root key learns of rotations and revocations from the list
// alone, without trusting the server it fetched it from. OpenPGP keys do
// not need it (their certificate carries subkeys and revocations); raw,
// ssh, minisign and other keys do.
//
// # Format
//
// The list is JSON, carried in a DSSE envelope (package internal/envelope)
// of payload type "application/vnd.signet.key-list+json" and signed by the
// root key, an Ed25519 key of usage "key-list" that signs nothing else:
//
//	{"type": "https://signet.dev/key-list/v1",
//	 "key": "release", "key_type": "ecdsa-p256", "usage": "raw",
//	 "serial": 3, "issued": "2026-01-02T03:04:05Z",
//	 "versions": [
//	   {"version": 1, "state": "revoked", "not_before": "…", "not_after": "…",
//	    "revoked": "…", "reason": "compromised",
//	    "fingerprint": "SHA256:…", "public_key": "-----BEGIN PUBLIC KEY-----…"},
//	   {"version": 2, "state": "active", "not_before": "…", "fingerprint": "…", "public_key": "…"}]}
//
// "serial" increases with every rotation and revocation of the key, so a
// verifier that remembers the highest serial it saw refuses a list rolled
// back to before a revocation; "issued" is when the list was signed.
// Times are RFC 3339 in UTC, whole seconds; "not_after" is absent while a
// version's window has no end. Parsing is strict: unknown fields, a wrong
// type, versions out of order, or a public key that does not match its
// fingerprint are errors.
//
// # Verifying a signature with a list
//
// [List.Check] says whether a public key may be believed for a signature
// made at a given time: it must be a version of the key that is not
// revoked and, if the time is known, whose window contains it. It does not say whether
// the signature itself is valid; the format's verifier does that.
package keylist

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/signet-dev/signet/internal/envelope"
	"github.com/signet-dev/signet/internal/strictjson"
	"github.com/signet-dev/signet/keystore"
)

const (
	// PayloadType is the DSSE payload type of a key list.
	PayloadType = "application/vnd.signet.key-list+json"
	// Type is the "type" of a key list.
	Type = "https://signet.dev/key-list/v1"
)

// The states of a version, as keystore names them.
const (
	Active  = "active"
	Retired = "retired"
	Revoked = "revoked"
)

// ErrVerify is returned when a list's signature is not by the root key.
var ErrVerify = errors.New("keylist: not signed by the root key")

// A List is the signed description of one key's versions.
type List struct {
	Type     string    `json:"type"`
	Key      string    `json:"key"`
	KeyType  string    `json:"key_type"`
	Usage    string    `json:"usage"`
	Serial   int       `json:"serial"`
	Issued   time.Time `json:"issued"`
	Versions []Version `json:"versions"`
}

// A Version is one version of the key.
type Version struct {
	Version     int       `json:"version"`
	State       string    `json:"state"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after,omitzero"`
	Revoked     time.Time `json:"revoked,omitzero"`
	Reason      string    `json:"reason,omitempty"`
	Fingerprint string    `json:"fingerprint"`
	PublicKey   string    `json:"public_key"` // PEM SubjectPublicKeyInfo

	pub crypto.PublicKey
}

// Public returns the version's public key (after Parse, Verify or
// NewVersion).
func (v *Version) Public() crypto.PublicKey { return v.pub }

// NewVersion describes a version with public key pub.
func NewVersion(number int, state string, pub crypto.PublicKey) (Version, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return Version{}, fmt.Errorf("keylist: version %d: %w", number, err)
	}
	sum := sha256.Sum256(der)
	return Version{Version: number, State: state, pub: pub,
		Fingerprint: "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]),
		PublicKey:   string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}, nil
}

// Sign returns the envelope of l signed by root, an Ed25519 signer.
func Sign(l *List, root crypto.Signer) ([]byte, error) {
	if _, ok := root.Public().(ed25519.PublicKey); !ok {
		return nil, errors.New("keylist: the root key must be Ed25519")
	}
	l.Type = Type
	b, err := json.Marshal(l)
	if err != nil {
		return nil, err
	}
	if _, err := Parse(b); err != nil {
		return nil, err
	}
	return envelope.Sign(PayloadType, b, root)
}

// Verify checks that env is a key list signed by root and returns it.
func Verify(env []byte, root crypto.PublicKey) (*List, error) {
	payload, sigs, err := envelope.Open(env, PayloadType)
	if err != nil {
		return nil, fmt.Errorf("keylist: %w", err)
	}
	if err := envelope.Verify(PayloadType, payload, sigs, root); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVerify, err)
	}
	return Parse(payload)
}

// Parse parses and checks a key list's JSON, without its envelope.
func Parse(b []byte) (*List, error) {
	var l List
	if err := strictjson.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("keylist: %w", err)
	}
	switch {
	case l.Type != Type:
		return nil, fmt.Errorf("keylist: type %.80q, want %q", l.Type, Type)
	case l.Key == "" || l.KeyType == "" || l.Usage == "":
		return nil, errors.New("keylist: key, key_type and usage are required")
	case keystore.ValidName(l.Key) != nil:
		return nil, fmt.Errorf("keylist: %w", keystore.ValidName(l.Key))
	case l.Serial < 0:
		return nil, fmt.Errorf("keylist: serial %d", l.Serial)
	case len(l.Versions) == 0:
		return nil, errors.New("keylist: no versions")
	case l.Issued.IsZero():
		return nil, errors.New("keylist: issued is required")
	}
	active := 0
	for i := range l.Versions {
		v := &l.Versions[i]
		if err := v.check(); err != nil {
			return nil, fmt.Errorf("keylist: version %d: %w", v.Version, err)
		}
		if i > 0 && v.Version <= l.Versions[i-1].Version {
			return nil, fmt.Errorf("keylist: version %d follows %d: versions must increase", v.Version, l.Versions[i-1].Version)
		}
		if v.State == Active {
			active++
		}
	}
	if active > 1 {
		return nil, fmt.Errorf("keylist: %d active versions", active)
	}
	return &l, nil
}

func (v *Version) check() error {
	switch {
	case v.Version < 1:
		return errors.New("version numbers start at 1")
	case !slices.Contains([]string{Active, Retired, Revoked}, v.State):
		return fmt.Errorf("state %.40q; want active, retired or revoked", v.State)
	case v.NotBefore.IsZero():
		return errors.New("not_before is required")
	case !v.NotAfter.IsZero() && v.NotAfter.Before(v.NotBefore):
		return errors.New("not_after is before not_before")
	case (v.State == Revoked) != !v.Revoked.IsZero() || (v.State == Revoked) != (v.Reason != ""):
		return errors.New("a revoked version, and only one, has a revocation time and reason")
	}
	block, rest := pem.Decode([]byte(v.PublicKey))
	if block == nil || block.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) != 0 {
		return errors.New("public_key is not one PEM PUBLIC KEY")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("public_key: %w", err)
	}
	if fp := keystore.Fingerprint(pub); fp != v.Fingerprint {
		return fmt.Errorf("fingerprint %.60s is not that of public_key (%s)", v.Fingerprint, fp)
	}
	v.pub = pub
	return nil
}

// Check says whether a signature by pub made at t is to be believed: pub
// must be a version of the list's key that is not revoked and, unless t is
// zero (formats whose signatures carry no time), whose window contains t.
// It returns that version.
func (l *List) Check(pub crypto.PublicKey, t time.Time) (*Version, error) {
	eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return nil, fmt.Errorf("keylist: unsupported public key %T", pub)
	}
	for i := range l.Versions {
		v := &l.Versions[i]
		if !eq.Equal(v.pub) {
			continue
		}
		switch {
		case v.State == Revoked:
			return v, fmt.Errorf("keylist: key %q version %d was revoked at %s (%s): its signatures are not to be believed", l.Key, v.Version, v.Revoked.Format(time.RFC3339), v.Reason)
		case !t.IsZero() && (t.Before(v.NotBefore) || !v.NotAfter.IsZero() && !t.Before(v.NotAfter)):
			return v, fmt.Errorf("keylist: key %q version %d signs from %s to %s, not at %s", l.Key, v.Version, v.NotBefore.Format(time.RFC3339), end(v.NotAfter), t.UTC().Format(time.RFC3339))
		}
		return v, nil
	}
	return nil, fmt.Errorf("keylist: the public key is no version of key %q", l.Key)
}

func end(t time.Time) string {
	if t.IsZero() {
		return "its next rotation"
	}
	return t.Format(time.RFC3339)
}
