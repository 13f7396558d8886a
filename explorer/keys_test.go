package explorer

import (
	"path/filepath"
	"testing"

	"github.com/signet-dev/signet/keystore"
)

// TestKeyInfoFromKeystore maps the versions of a real rotated and revoked
// key, not hand-made ones.
func TestKeyInfoFromKeystore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ks")
	pass := []byte("explorer test")
	if err := keystore.Init(dir, pass); err != nil {
		t.Fatal(err)
	}
	d, err := keystore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := keystore.NewKeyring(d, keystore.Timeouts{})
	if err := k.Unlock("test", pass, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Create(keystore.Spec{Name: "release", Type: keystore.Ed25519}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Rotate("release", nil); err != nil {
		t.Fatal(err)
	}
	key, err := k.Revoke("release", 1, keystore.Compromised, nil)
	if err != nil {
		t.Fatal(err)
	}
	info := keyInfoOf(key)
	if len(info.Versions) != 2 {
		t.Fatalf("versions %+v, want 2", info.Versions)
	}
	v1, v2 := info.Versions[0], info.Versions[1]
	if v1.Number != 1 || v1.State != "revoked" || v1.Reason != "compromised" || v1.Revoked.IsZero() || v1.NotAfter.IsZero() {
		t.Errorf("version 1: %+v, want revoked (compromised) with its window closed", v1)
	}
	if v2.Number != 2 || v2.State != "active" || !v2.NotAfter.IsZero() || v2.NotBefore.Before(v1.NotBefore) {
		t.Errorf("version 2: %+v, want active, open-ended, after version 1", v2)
	}
	if !info.Signs {
		t.Error("a raw key is drawn as not signing")
	}
}
