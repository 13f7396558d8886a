package keystore

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFormat1 opens a keystore of format 1, whose key-encryption key is
// the passphrase's Argon2id hash itself, checked by a sealed constant:
// such keystores still open with their passphrase and no other, their
// keys sign, new keys can be added, and custody is refused with the
// reason, as the package documentation promises.
func TestFormat1(t *testing.T) {
	dir := t.TempDir()
	pass := []byte("format one passphrase")
	h := header{Version: 1, KDF: newKDF()}
	kek := h.KDF.deriveKEK(pass)
	h.Check = sealCheck(kek)
	data, err := marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, keysDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeNew(filepath.Join(dir, headerFile), data); err != nil {
		t.Fatal(err)
	}

	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Unlock([]byte("wrong")); !errors.Is(err, ErrBadPassphrase) || !d.Locked() {
		t.Fatalf("Unlock with a wrong passphrase: %v, locked %v", err, d.Locked())
	}
	if err := d.Unlock(pass); err != nil {
		t.Fatal(err)
	}
	k, err := d.Create(Spec{Name: "old", Type: Ed25519})
	if err != nil {
		t.Fatal(err)
	}
	d.Lock()

	d, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Unlock(pass); err != nil {
		t.Fatalf("reopened format-1 keystore: %v", err)
	}
	s, err := d.Signer("old")
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("signed by a format-1 key")
	sig, err := s.Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(k.Public.(ed25519.PublicKey), msg, sig) {
		t.Error("a format-1 key's signature does not verify")
	}
	_, _, err = d.InitCustody(pass, 1, nil, time.Now())
	if err == nil || !errors.Is(err, ErrMode) || !strings.Contains(err.Error(), "format 1") {
		t.Errorf("custody init of a format-1 keystore: %v; want a refusal that names format 1", err)
	}
}

// sealCheck is a format-1 header's check: the constant checkText sealed
// under the KEK, which Unlock opens to tell a wrong passphrase. Signet
// no longer writes format 1; only this test does.
func sealCheck(kek []byte) []byte {
	nonce, sealed := seal(kek, []byte(checkText), []byte(checkAD))
	return append(nonce, sealed...)
}
