package pkcs11

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/keystore"
)

// TestRotateInToken rotates and revokes a key that lives in a SoftHSM2
// token: every version is a token object, the active one signs (openssl
// verifies), a retired one's signer refuses, and after a lock, a fresh
// process and an unlock the versions are found again by their sealed ids.
func TestRotateInToken(t *testing.T) {
	h := newSoftHSM(t, "rotate")
	dir := filepath.Join(t.TempDir(), "ks")
	pass := []byte("rotate test passphrase")
	if err := keystore.Init(dir, pass); err != nil {
		t.Fatal(err)
	}
	open := func() *keystore.Keyring {
		d, err := keystore.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.AddToken("hsm", []string{"hsm-*"}, h.token(t)); err != nil {
			t.Fatal(err)
		}
		return keystore.NewKeyring(d, keystore.Timeouts{IdleTTL: time.Hour})
	}
	k := open()
	if err := k.Unlock("admin", pass, nil); err != nil {
		t.Fatal(err)
	}
	if err := k.EnrollToken("hsm", userPIN, nil); err != nil {
		t.Fatal(err)
	}
	msg := []byte("rotated in the token\n")
	signs := func(k *keystore.Keyring, name string, typ keystore.Type, version int) {
		t.Helper()
		s, err := k.Signer(name)
		if err != nil {
			t.Fatal(err)
		}
		key, _ := k.Key(name)
		if n := key.VersionNumber(s.Public()); n != version {
			t.Fatalf("%s: signer is version %d, want %d", name, n, version)
		}
		sig, err := signMessage(s, typ, msg, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := opensslVerify(t, typ, s.Public(), msg, sig, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := k.Create(keystore.Spec{Name: "hsm-p256", Type: keystore.ECDSAP256}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Create(keystore.Spec{Name: "hsm-pgp", Type: keystore.PGPEd25519, Usage: "pgp", UID: "HSM <hsm@example.org>"}); err != nil {
		t.Fatal(err)
	}
	signs(k, "hsm-p256", keystore.ECDSAP256, 1)
	// The primary of the OpenPGP key, made in the same login as its
	// first subkey, signs with its own key.
	certifies := func(k *keystore.Keyring) {
		t.Helper()
		ps, err := k.PrimarySigner("hsm-pgp")
		if err != nil {
			t.Fatal(err)
		}
		sig, err := signMessage(ps, keystore.Ed25519, msg, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := opensslVerify(t, keystore.Ed25519, ps.Public(), msg, sig, false); err != nil {
			t.Fatalf("the primary signer signs with another key: %v", err)
		}
	}
	certifies(k)
	signs(k, "hsm-pgp", keystore.Ed25519, 1)
	held, _ := k.Signer("hsm-p256")
	key, err := k.Rotate("hsm-p256", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range key.Versions {
		if v.Backend != "hsm" {
			t.Fatalf("version %d is in %q, not the token", v.Number, v.Backend)
		}
	}
	if _, err := signMessage(held, keystore.ECDSAP256, msg, false); !errors.Is(err, keystore.ErrRetired) {
		t.Fatalf("a retired version in the token signed: %v", err)
	}
	signs(k, "hsm-p256", keystore.ECDSAP256, 2)
	if _, err := k.Rotate("hsm-pgp", nil); err != nil {
		t.Fatal(err)
	}
	certifies(k)
	signs(k, "hsm-pgp", keystore.Ed25519, 2)
	if _, err := k.Revoke("hsm-p256", 1, keystore.Compromised, nil); err != nil {
		t.Fatal(err)
	}
	k.Lock()

	k2 := open()
	if err := k2.Unlock("admin", pass, nil); err != nil {
		t.Fatal(err)
	}
	signs(k2, "hsm-p256", keystore.ECDSAP256, 2)
	signs(k2, "hsm-pgp", keystore.Ed25519, 2)
	certifies(k2)
	key, _ = k2.Key("hsm-p256")
	if v := key.Versions[0]; v.State != keystore.Revoked || !strings.Contains(string(v.Reason), "compromised") {
		t.Fatalf("version 1 after reopening: %+v", v)
	}
	k2.Lock()
}
