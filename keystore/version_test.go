package keystore

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/format/openpgp"
)

// fileVersion returns the "version" field of key name's file: its format.
func fileVersion(t *testing.T, dir, name string) int {
	t.Helper()
	var f struct{ Version int }
	if err := json.Unmarshal(mustRead(t, filepath.Join(dir, keysDir, name+".json")), &f); err != nil {
		t.Fatal(err)
	}
	return f.Version
}

func activePublic(t *testing.T, k Key) crypto.PublicKey {
	t.Helper()
	v, ok := k.VersionOf(k.Version)
	if !ok {
		t.Fatalf("key %q has no active version", k.Name)
	}
	return v.Public
}

// TestRotateAndRevoke walks a key through rotations and revocations on a
// fake clock, checking the states and windows, which version signs, that
// signers of retired versions stop, that the key file moves from format
// 1 to format 2 only when it must, and that all of it survives a reopen.
func TestRotateAndRevoke(t *testing.T) {
	d, dir := newStore(t)
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	d.SetClock(c.now)
	k, err := d.Create(Spec{Name: "rel", Type: Ed25519})
	if err != nil {
		t.Fatal(err)
	}
	if fileVersion(t, dir, "rel") != 1 {
		t.Fatal("a new single-version key is not written in format 1, as before versions")
	}
	v1 := k.Versions[0]
	if v1.Number != 1 || v1.State != Active || !v1.NotBefore.Equal(c.now()) || !v1.NotAfter.IsZero() || v1.Fingerprint() != k.Fingerprint() {
		t.Fatalf("version 1: %+v", v1)
	}
	held, _ := d.Signer("rel")

	c.advance(time.Hour)
	k, err = d.Rotate("rel", c.now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if fileVersion(t, dir, "rel") != 2 {
		t.Fatal("a rotated key is not in format 2")
	}
	if k.Version != 2 || len(k.Versions) != 2 {
		t.Fatalf("after rotation: active %d, %d versions", k.Version, len(k.Versions))
	}
	r1, v2 := k.Versions[0], k.Versions[1]
	if r1.State != Retired || !r1.NotAfter.Equal(c.now()) || !r1.Updated.Equal(c.now()) {
		t.Errorf("version 1 after rotation: %+v", r1)
	}
	if v2.State != Active || !v2.NotBefore.Equal(c.now()) || !v2.NotAfter.Equal(c.now().Add(24*time.Hour)) || v2.Fingerprint() == r1.Fingerprint() {
		t.Errorf("version 2: %+v", v2)
	}
	if k.Fingerprint() != v2.Fingerprint() {
		t.Error("Key.Fingerprint is not the active version's")
	}
	if _, err := held.Sign(rand.Reader, []byte("m"), crypto.Hash(0)); !errors.Is(err, ErrRetired) {
		t.Errorf("a signer of version 1 signs after the rotation: %v", err)
	}
	s, err := d.Signer("rel")
	if err != nil {
		t.Fatal(err)
	}
	if n := k.VersionNumber(s.Public()); n != 2 {
		t.Fatalf("Signer is version %d, want 2", n)
	}
	signAndVerify(t, Ed25519, s, v2.Public)

	// The window ends: version 2 stops signing until a rotation.
	c.advance(24 * time.Hour)
	if _, err := d.Signer("rel"); !errors.Is(err, ErrRetired) || !strings.Contains(err.Error(), "window ended") {
		t.Errorf("Signer after the window: %v", err)
	}
	if _, err := s.Sign(rand.Reader, []byte("m"), crypto.Hash(0)); !errors.Is(err, ErrRetired) {
		t.Errorf("a held signer signs after its window: %v", err)
	}
	k, err = d.Rotate("rel", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if v := k.Versions[1]; v.State != Retired || !v.NotAfter.Equal(c.now().Add(-time.Duration(0))) && !v.NotAfter.Before(c.now().Add(time.Second)) {
		t.Errorf("version 2 after its window and a rotation: %+v", v)
	}
	if v := k.Versions[1]; !v.NotAfter.Equal(time.Date(2026, 1, 2, 1, 0, 0, 0, time.UTC)) {
		t.Errorf("a window that had ended changed at rotation: %+v", v)
	}

	// Revocations: a retired version, then the active one.
	c.advance(time.Minute)
	if k, err = d.Revoke("rel", 1, Compromised); err != nil {
		t.Fatal(err)
	}
	if v := k.Versions[0]; v.State != Revoked || v.Reason != Compromised || !v.Revoked.Equal(c.now()) || v.Verifies() {
		t.Errorf("revoked version 1: %+v", v)
	}
	if _, err := d.Revoke("rel", 1, Superseded); err == nil {
		t.Error("revoking twice succeeded")
	}
	if _, err := d.Revoke("rel", 9, Superseded); !errors.Is(err, ErrNoVersion) {
		t.Errorf("revoking a missing version: %v", err)
	}
	if _, err := d.Revoke("rel", 2, "bored"); err == nil {
		t.Error("an unknown reason was accepted")
	}
	if k, err = d.Revoke("rel", 3, Superseded); err != nil {
		t.Fatal(err)
	}
	if k.Version != 0 {
		t.Fatalf("active version %d after revoking it", k.Version)
	}
	if _, err := d.Signer("rel"); !errors.Is(err, ErrRetired) || !strings.Contains(err.Error(), "no active version") {
		t.Errorf("Signer with no active version: %v", err)
	}
	c.advance(time.Minute)
	if k, err = d.Rotate("rel", time.Time{}); err != nil || k.Version != 4 {
		t.Fatalf("rotating after revoking the active version: %v, active %d", err, k.Version)
	}
	if v := k.Versions[2]; v.State != Revoked {
		t.Errorf("rotation changed a revoked version: %+v", v)
	}
	want := k

	// Reopen: everything was durable, and the MAC and seals check.
	d.Lock()
	d2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := d2.Key("rel")
	if err := d2.Unlock(pass); err != nil {
		t.Fatal(err)
	}
	if got.Version != 4 || len(got.Versions) != 4 {
		t.Fatalf("reopened: active %d, %d versions", got.Version, len(got.Versions))
	}
	for i, v := range got.Versions {
		w := want.Versions[i]
		if v.Number != w.Number || v.State != w.State || !v.NotAfter.Equal(w.NotAfter) || !v.Revoked.Equal(w.Revoked) || v.Reason != w.Reason || v.Fingerprint() != w.Fingerprint() {
			t.Errorf("reopened version %d: %+v, want %+v", v.Number, v, w)
		}
	}
	s, err = d2.Signer("rel")
	if err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, Ed25519, s, activePublic(t, got))
	assertLoadedOnlyActive(t, d2, "rel")
}

// assertLoadedOnlyActive checks that of key name only the active version
// (and an OpenPGP primary) is in memory.
func assertLoadedOnlyActive(t *testing.T, d *Dir, name string) {
	t.Helper()
	d.mu.RLock()
	defer d.mu.RUnlock()
	s := d.slots[name]
	for _, vs := range s.loaded() {
		if !vs.certify && vs.number != s.rec.key.Version {
			t.Errorf("version %d is loaded, but %d is active", vs.number, s.rec.key.Version)
		}
	}
}

// TestRotationPolicy moves a Keyring's clock through windows without
// sleeping: the first version gets its window from the policy, a Signer
// after the window rotates first (and says so in an event), Expire rotates
// keys nobody signs with, and a locked keyring rotates nothing.
func TestRotationPolicy(t *testing.T) {
	k, c, ev := newKeyring(t, Timeouts{})
	const week = 7 * 24 * time.Hour
	if err := k.Unlock("alice", pass, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Create(Spec{Name: "pre", Type: Ed25519}); err != nil {
		t.Fatal(err)
	}
	k.SetRotation(func(name string) time.Duration {
		if name == "manual" {
			return 0
		}
		return week
	})
	t0 := c.now()
	for _, name := range []string{"weekly", "idle", "manual"} {
		if _, err := k.Create(Spec{Name: name, Type: Ed25519}); err != nil {
			t.Fatal(err)
		}
	}
	key, _ := k.Key("weekly")
	if v := key.Versions[0]; !v.NotAfter.Equal(t0.Add(week)) {
		t.Fatalf("first version of a weekly key: %+v", v)
	}
	if m, _ := k.Key("manual"); !m.Versions[0].NotAfter.IsZero() {
		t.Fatalf("a key without a policy got a window: %+v", m.Versions[0])
	}
	// "pre" predates the policy: its open window counts from NotBefore.
	signWith := func(name string) int {
		t.Helper()
		s, err := k.Signer(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Sign(rand.Reader, []byte("m"), crypto.Hash(0)); err != nil {
			t.Fatal(err)
		}
		key, _ := k.Key(name)
		return key.VersionNumber(s.Public())
	}
	c.advance(time.Hour)
	if n := signWith("weekly"); n != 1 {
		t.Fatalf("signed with version %d in window 1", n)
	}
	if got := ev.take(); len(got) != 0 {
		t.Fatalf("events in window 1: %+v", got)
	}
	c.advance(week)
	if n := signWith("weekly"); n != 2 {
		t.Fatalf("signed with version %d in window 2", n)
	}
	got := ev.take()
	if len(got) != 1 || got[0].Kind != "rotate" || got[0].Key == nil || got[0].Key.Name != "weekly" || got[0].Key.Version != 2 || got[0].Err != nil {
		t.Fatalf("events at the rotation: %+v", got)
	}
	key, _ = k.Key("weekly")
	if v := key.Versions[1]; !v.NotBefore.Equal(c.now()) || !v.NotAfter.Equal(c.now().Add(week)) {
		t.Errorf("version 2's window: %+v", v)
	}
	// Expire rotated the keys nobody signed with: "idle" and "pre" ("a"
	// was made on the real clock, after the fake one's now).
	k.Expire()
	rotated := map[string]int{}
	for _, e := range ev.take() {
		if e.Kind == "rotate" && e.Key != nil {
			rotated[e.Key.Name] = e.Key.Version
		}
	}
	if rotated["idle"] != 2 || rotated["pre"] != 2 || len(rotated) != 2 {
		t.Fatalf("Expire rotated %v, want idle and pre to version 2", rotated)
	}
	if m, _ := k.Key("manual"); m.Version != 1 {
		t.Fatal("a key without a policy was rotated")
	}
	// Locked: nothing rotates; the next signer after unlocking does.
	k.Lock()
	c.advance(week)
	k.Expire()
	for _, e := range ev.take() {
		if e.Kind == "rotate" {
			t.Fatalf("a locked keyring rotated: %+v", e)
		}
	}
	if err := k.Unlock("alice", pass, nil); err != nil {
		t.Fatal(err)
	}
	if n := signWith("weekly"); n != 3 {
		t.Fatalf("signed with version %d after unlocking in window 3", n)
	}
	// Manual rotation takes the policy's window, and retires at once.
	c.advance(time.Hour)
	key, err := k.Rotate("weekly", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := key.Versions[3]; key.Version != 4 || !v.NotAfter.Equal(c.now().Add(week)) {
		t.Fatalf("manual rotation: %+v", key.Versions)
	}
	if v := key.Versions[2]; v.State != Retired || !v.NotAfter.Equal(c.now()) {
		t.Fatalf("version 3 after a manual rotation: %+v", v)
	}
	k.Lock()
	assertWiped(t, k.dir)
}

// writeLegacyPGP writes the key file an OpenPGP key had before versions:
// format 1, one key pair that is the primary key and signs.
func writeLegacyPGP(t *testing.T, d *Dir, name string, created time.Time) ed25519.PrivateKey {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	rec := &record{key: Key{Name: name, Type: PGPEd25519, Usage: "pgp", UID: "Legacy <legacy@example.org>", Created: created}, format: version, primarySigns: true}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	sk, err := rec.newSealed(Version{Number: 1, State: Active, Created: created, NotBefore: created, Updated: created, Public: priv.Public()}, der, d.kek)
	if err != nil {
		t.Fatal(err)
	}
	rec.versions = []*sealedKey{sk}
	rec.build()
	data, err := rec.marshal()
	if err != nil {
		t.Fatal(err)
	}
	var f keyFile
	if err := decodeStrict(data, &f); err != nil {
		t.Fatalf("the legacy key file is not format 1: %v", err)
	}
	if err := os.WriteFile(d.keyPath(name), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return priv
}

// TestLegacyOpenPGPKey reads an OpenPGP key written before versions: its
// version 1 is its primary, which keeps certifying after a rotation adds
// a subkey (with a back signature go-crypto accepts) and cannot be
// revoked.
func TestLegacyOpenPGPKey(t *testing.T) {
	d, dir := newStore(t)
	created := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	priv := writeLegacyPGP(t, d, "old-pgp", created)
	d.Lock()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Unlock(pass); err != nil {
		t.Fatal(err)
	}
	k, _ := d.Key("old-pgp")
	if !k.PrimarySigns || k.Version != 1 || !k.Public.(ed25519.PublicKey).Equal(priv.Public()) {
		t.Fatalf("legacy key: %+v", k)
	}
	ps, err := d.PrimarySigner("old-pgp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.PrimarySigner("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("PrimarySigner of a missing key: %v", err)
	}
	k, err = d.Rotate("old-pgp", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if fileVersion(t, dir, "old-pgp") != 2 || k.Version != 2 || !k.PrimarySigns || k.Versions[0].State != Retired {
		t.Fatalf("after rotation: %+v", k)
	}
	// The primary still certifies; a certificate with the new subkey
	// reads back with go-crypto, which checks the back signature.
	primary, _ := openpgp.NewKey(k.Public, k.Created, k.UID)
	signer, err := openpgp.NewSigner(primary, ps)
	if err != nil {
		t.Fatal(err)
	}
	v2 := k.Versions[1]
	sub, _ := openpgp.NewSubkey(v2.Public, v2.Created)
	cert, err := signer.Certificate(openpgp.Subkey{Key: sub, Bound: v2.Updated, BackSig: v2.BackSig})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openpgp.ReadCertificate(cert); err != nil {
		t.Fatalf("go-crypto rejects the rotated legacy key: %v", err)
	}
	if _, err := d.Revoke("old-pgp", 1, Compromised); err == nil || !strings.Contains(err.Error(), "transition") {
		t.Errorf("revoking a legacy primary: %v", err)
	}
	if _, err := d.Revoke("old-pgp", 2, Compromised); err != nil {
		t.Fatal(err)
	}
	// Reopened, the migrated version 1 (sealed again) still decrypts.
	d.Lock()
	if err := d.Unlock(pass); err != nil {
		t.Fatal(err)
	}
	if _, err := d.PrimarySigner("old-pgp"); err != nil {
		t.Fatal(err)
	}
}

// TestNewOpenPGPKey checks a new OpenPGP key: a primary that is not a
// version, and version 1 a subkey whose back signature verifies.
func TestNewOpenPGPKey(t *testing.T) {
	d, _ := newStore(t)
	k, err := d.Create(Spec{Name: "pgp", Type: PGPEd25519, Usage: "pgp", UID: "New <new@example.org>"})
	if err != nil {
		t.Fatal(err)
	}
	v1 := k.Versions[0]
	if k.PrimarySigns || k.Public.(ed25519.PublicKey).Equal(v1.Public) || len(v1.BackSig) == 0 {
		t.Fatalf("new OpenPGP key: %+v", k)
	}
	ps, err := d.PrimarySigner("pgp")
	if err != nil {
		t.Fatal(err)
	}
	if !ps.Public().(ed25519.PublicKey).Equal(k.Public) {
		t.Fatal("PrimarySigner is not the primary key")
	}
	primary, _ := openpgp.NewCertifyingKey(k.Public, k.Created, k.UID)
	signer, _ := openpgp.NewSigner(primary, ps)
	sub, _ := openpgp.NewSubkey(v1.Public, v1.Created)
	cert, err := signer.Certificate(openpgp.Subkey{Key: sub, Bound: v1.Updated, BackSig: v1.BackSig})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openpgp.ReadCertificate(cert); err != nil {
		t.Fatalf("go-crypto rejects the new key's certificate: %v", err)
	}
	if _, err := d.PrimarySigner("pgp"); err != nil {
		t.Fatal(err)
	}
	d.Create(Spec{Name: "raw", Type: Ed25519})
	if _, err := d.PrimarySigner("raw"); err == nil {
		t.Error("a raw key has a primary signer")
	}
}

// TestTamperVersions edits a format 2 key file where an attacker would
// want to: states, windows, key pairs swapped between versions. Each is
// found at Unlock, naming the file.
func TestTamperVersions(t *testing.T) {
	d, pristine := newStore(t)
	if _, err := d.Create(Spec{Name: "a", Type: Ed25519}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Rotate("a", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Revoke("a", 1, Compromised); err != nil {
		t.Fatal(err)
	}
	aFile := filepath.Join(keysDir, "a.json")
	edit := func(f func(m map[string]any, vs []any)) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			var m map[string]any
			json.Unmarshal(mustRead(t, filepath.Join(dir, aFile)), &m)
			f(m, m["versions"].([]any))
			data, _ := json.Marshal(m)
			os.WriteFile(filepath.Join(dir, aFile), data, 0o600)
		}
	}
	v := func(vs []any, i int) map[string]any { return vs[i].(map[string]any) }
	for _, tt := range []struct {
		name   string
		open   bool // refused already at Open
		tamper func(t *testing.T, dir string)
	}{
		{"unrevoke", false, edit(func(m map[string]any, vs []any) {
			v(vs, 0)["state"] = "retired"
			delete(v(vs, 0), "revoked")
			delete(v(vs, 0), "reason")
		})},
		{"reactivate", true, edit(func(m map[string]any, vs []any) { v(vs, 0)["state"] = "active" })},
		{"extend-window", false, edit(func(m map[string]any, vs []any) { v(vs, 0)["not_after"] = "2099-01-01T00:00:00Z" })},
		{"swap-key-pairs", false, edit(func(m map[string]any, vs []any) {
			for _, f := range []string{"public", "nonce", "sealed"} {
				v(vs, 0)[f], v(vs, 1)[f] = v(vs, 1)[f], v(vs, 0)[f]
			}
		})},
		{"drop-version", false, edit(func(m map[string]any, vs []any) { m["versions"] = vs[1:] })},
		{"bad-mac", false, edit(func(m map[string]any, vs []any) {
			mac, _ := base64.StdEncoding.DecodeString(m["mac"].(string))
			mac[0] ^= 1
			m["mac"] = base64.StdEncoding.EncodeToString(mac)
		})},
		{"two-active", true, edit(func(m map[string]any, vs []any) {
			v(vs, 0)["state"] = "active"
			delete(v(vs, 0), "revoked")
			delete(v(vs, 0), "reason")
		})},
		{"unknown-state", true, edit(func(m map[string]any, vs []any) { v(vs, 1)["state"] = "dormant" })},
		{"numbers-out-of-order", true, edit(func(m map[string]any, vs []any) { m["versions"] = []any{vs[1], vs[0]} })},
		{"back-sig-on-raw-key", true, edit(func(m map[string]any, vs []any) { v(vs, 1)["back_sig"] = "AAAA" })},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(pristine)); err != nil {
				t.Fatal(err)
			}
			tt.tamper(t, dir)
			d, err := Open(dir)
			if err == nil {
				if tt.open {
					t.Logf("found at Unlock rather than Open")
				}
				err = d.Unlock(pass)
				if err == nil {
					t.Fatal("Unlock succeeded")
				}
			}
			if !strings.Contains(err.Error(), filepath.Join(dir, aFile)) {
				t.Errorf("error does not name the key file: %v", err)
			}
			t.Log(err)
		})
	}
}

// TestPrimarySignsKey creates an OpenPGP key whose primary signs (for
// debsig-verify): a single-version key written in format 1 like the keys
// before versions, whose rotations add subkeys.
func TestPrimarySignsKey(t *testing.T) {
	d, dir := newStore(t)
	k, err := d.Create(Spec{Name: "deb", Type: PGPEd25519, Usage: "deb", UID: "Deb <deb@example.org>", PrimarySigns: true})
	if err != nil {
		t.Fatal(err)
	}
	v1 := k.Versions[0]
	if !k.PrimarySigns || fileVersion(t, dir, "deb") != 1 || !k.Public.(ed25519.PublicKey).Equal(v1.Public) || len(v1.BackSig) != 0 {
		t.Fatalf("key: %+v", k)
	}
	if _, err := d.PrimarySigner("deb"); err != nil {
		t.Fatal(err)
	}
	if k, err = d.Rotate("deb", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if v2 := k.Versions[1]; len(v2.BackSig) == 0 || !k.PrimarySigns || fileVersion(t, dir, "deb") != 2 {
		t.Fatalf("after rotation: %+v", k)
	}
	if _, err := d.Revoke("deb", 1, Superseded); err == nil {
		t.Error("the signing primary was revoked")
	}
	d.Lock()
	if err := d.Unlock(pass); err != nil {
		t.Fatal(err)
	}
}
