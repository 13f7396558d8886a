package keystore

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var pass = []byte("correct horse battery staple")

// newStore initializes, opens and unlocks a keystore in a fresh directory.
func newStore(t *testing.T) (*Dir, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ks")
	if err := Init(dir, pass); err != nil {
		t.Fatal(err)
	}
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Locked() {
		t.Fatal("Open returned an unlocked store")
	}
	if err := d.Unlock(pass); err != nil {
		t.Fatal(err)
	}
	return d, dir
}

// signAndVerify signs a message with s and verifies it with pub.
func signAndVerify(t *testing.T, typ Type, s crypto.Signer, pub crypto.PublicKey) {
	t.Helper()
	msg := []byte("signet test message")
	var err error
	switch typ.material() {
	case Ed25519:
		var sig []byte
		if sig, err = s.Sign(rand.Reader, msg, crypto.Hash(0)); err == nil && !ed25519.Verify(pub.(ed25519.PublicKey), msg, sig) {
			err = errors.New("ed25519 signature does not verify")
		}
	case ECDSAP256, ECDSAP384:
		var digest []byte
		h := crypto.SHA256
		if typ == ECDSAP384 {
			h = crypto.SHA384
			sum := sha512.Sum384(msg)
			digest = sum[:]
		} else {
			sum := sha256.Sum256(msg)
			digest = sum[:]
		}
		var sig []byte
		if sig, err = s.Sign(rand.Reader, digest, h); err == nil && !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest, sig) {
			err = errors.New("ecdsa signature does not verify")
		}
	case RSA3072, RSA4096:
		digest := sha256.Sum256(msg)
		var sig []byte
		if sig, err = s.Sign(rand.Reader, digest[:], crypto.SHA256); err == nil {
			err = rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, digest[:], sig)
		}
	}
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
}

func TestTypes(t *testing.T) {
	want := []Type{Ed25519, ECDSAP256, ECDSAP384, RSA3072, RSA4096, PGPEd25519, PGPRSA4096}
	if got := Types(); !slices.Equal(got, want) {
		t.Fatalf("Types() = %v, want %v", got, want)
	}
	Types()[0] = "mutated"
	if Types()[0] != Ed25519 {
		t.Fatal("Types returns shared state")
	}
	for _, typ := range want {
		if got, err := ParseType(string(typ)); err != nil || got != typ {
			t.Errorf("ParseType(%q) = %q, %v", typ, got, err)
		}
	}
	_, err := ParseType("dsa")
	if err == nil || !strings.Contains(err.Error(), `"dsa"`) || !strings.Contains(err.Error(), "ed25519, ecdsa-p256, ecdsa-p384, rsa-3072, rsa-4096") {
		t.Fatalf("ParseType(dsa) error = %v", err)
	}
}

func TestValidName(t *testing.T) {
	for _, name := range []string{"a", "0", "release", "release-2025.01_a", "a.", strings.Repeat("x", 64)} {
		if err := ValidName(name); err != nil {
			t.Errorf("ValidName(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"", "../x", "a/b", "UPPER", ".hidden", "a..b", "-a", "_a", "a b", "a\x00", "é", strings.Repeat("x", 65)} {
		err := ValidName(name)
		if err == nil {
			t.Errorf("ValidName(%q) = nil", name)
		} else if !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) || !strings.Contains(err.Error(), "1 to 64") {
			t.Errorf("ValidName(%q) error does not quote the name and state the rule: %v", name, err)
		}
	}
}

// TestLifecycle walks one store through its life, sharing it across
// subtests to keep the number of (deliberately slow) Unlock calls small.
func TestLifecycle(t *testing.T) {
	d, dir := newStore(t)
	created := map[string]Key{}

	for _, typ := range Types() {
		t.Run("create-"+string(typ), func(t *testing.T) {
			name := "k-" + string(typ)
			k, err := d.Create(Spec{Name: name, Type: typ})
			if err != nil {
				t.Fatal(err)
			}
			if k.Name != name || k.Type != typ || k.Created.Location() != time.UTC || k.Created.Nanosecond() != 0 {
				t.Fatalf("Create returned %+v", k)
			}
			if got, err := d.Key(name); err != nil || got.Fingerprint() != k.Fingerprint() {
				t.Fatalf("Key after Create: %v, %v", got, err)
			}
			if !regexp.MustCompile(`^SHA256:[A-Za-z0-9+/]{43}$`).MatchString(k.Fingerprint()) {
				t.Fatalf("Fingerprint() = %q", k.Fingerprint())
			}
			s, err := d.Signer(name)
			if err != nil {
				t.Fatal(err)
			}
			// The signer is the active version's; for every key but an
			// OpenPGP one (whose Public is its primary) that is Public.
			v, ok := k.VersionOf(k.Version)
			if !ok || k.Version != 1 || len(k.Versions) != 1 || v.State != Active {
				t.Fatalf("a new key has versions %+v, active %d", k.Versions, k.Version)
			}
			if !s.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(v.Public) {
				t.Fatal("Signer.Public differs from the active version's")
			}
			if !typ.isPGP() && !v.Public.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public) {
				t.Fatal("Key.Public differs from the active version's")
			}
			if typ.isPGP() == (k.Fingerprint() == v.Fingerprint()) {
				t.Fatalf("key fingerprint %s, version 1 %s", k.Fingerprint(), v.Fingerprint())
			}
			signAndVerify(t, typ, s, v.Public)
			created[name] = k
		})
	}
	if len(created) != len(Types()) {
		t.FailNow()
	}

	t.Run("create-errors", func(t *testing.T) {
		if _, err := d.Create(Spec{Name: "k-ed25519", Type: Ed25519}); !errors.Is(err, ErrExists) {
			t.Errorf("Create existing: %v", err)
		}
		if _, err := d.Create(Spec{Name: "UPPER", Type: Ed25519}); err == nil {
			t.Error("Create with invalid name succeeded")
		}
		if _, err := d.Create(Spec{Name: "dsa", Type: "dsa"}); err == nil || !strings.Contains(err.Error(), "valid types") {
			t.Errorf("Create with unknown type: %v", err)
		}
		if _, err := d.Signer("nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("Signer missing: %v", err)
		}
		if _, err := d.Key("nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Key missing: %v", err)
		}
	})

	t.Run("files", func(t *testing.T) {
		for _, p := range []string{dir, filepath.Join(dir, keysDir)} {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("%s: %v, %v", p, fi.Mode(), err)
			}
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
		files = append(files, filepath.Join(dir, headerFile))
		if len(files) != len(created)+1 {
			t.Errorf("files in store: %v", files)
		}
		for _, p := range files {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, %v", p, fi.Mode(), err)
			}
		}
	})

	t.Run("lock", func(t *testing.T) {
		s, err := d.Signer("k-ed25519")
		if err != nil {
			t.Fatal(err)
		}
		d.Lock()
		if !d.Locked() {
			t.Fatal("Locked() = false after Lock")
		}
		if _, err := d.Signer("k-ed25519"); !errors.Is(err, ErrLocked) {
			t.Fatalf("Signer after Lock: %v", err)
		}
		if _, err := s.Sign(rand.Reader, []byte("m"), crypto.Hash(0)); !errors.Is(err, ErrLocked) {
			t.Fatalf("Sign with a Signer obtained before Lock: %v", err)
		}
		if _, err := d.Create(Spec{Name: "new", Type: Ed25519}); !errors.Is(err, ErrLocked) {
			t.Fatalf("Create while locked: %v", err)
		}
		d.Lock() // locking twice is harmless
	})

	t.Run("reopen", func(t *testing.T) {
		d2, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		list, err := d2.List()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSortedFunc(list, func(a, b Key) int { return strings.Compare(a.Name, b.Name) }) || len(list) != len(created) {
			t.Fatalf("List: %v", list)
		}
		for _, k := range list {
			want := created[k.Name]
			if k.Type != want.Type || !k.Created.Equal(want.Created) || k.Fingerprint() != want.Fingerprint() {
				t.Errorf("reloaded %+v, created %+v", k, want)
			}
		}
		if k, err := d2.Key("k-rsa-3072"); err != nil || k.Fingerprint() != created["k-rsa-3072"].Fingerprint() {
			t.Errorf("Key while locked: %v, %v", k, err)
		}
		if _, err := d2.Signer("k-ed25519"); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), `key "k-ed25519": keystore locked; run 'signet unlock'`) {
			t.Errorf("Signer while locked: %v", err)
		}
		if err := d2.Unlock([]byte("wrong")); !errors.Is(err, ErrBadPassphrase) || !d2.Locked() {
			t.Errorf("Unlock with wrong passphrase: %v", err)
		}
		if err := d2.Unlock(pass); err != nil || d2.Locked() {
			t.Fatalf("Unlock: %v", err)
		}
		if err := d2.Unlock([]byte("wrong")); !errors.Is(err, ErrBadPassphrase) || d2.Locked() {
			t.Errorf("re-Unlock with wrong passphrase: %v, locked %v", err, d2.Locked())
		}
		if err := d2.Unlock(pass); err != nil || d2.Locked() {
			t.Errorf("re-Unlock: %v", err)
		}
		for _, k := range list {
			s, err := d2.Signer(k.Name)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := created[k.Name].VersionOf(1)
			signAndVerify(t, k.Type, s, v.Public)
		}
		// A key created through one Dir is invisible to another opened before.
		if _, err := d2.Create(Spec{Name: "late", Type: Ed25519}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Key("late"); !errors.Is(err, ErrNotFound) {
			t.Errorf("key created by another Dir: %v", err)
		}
	})
}

func TestCreateExistingOnDisk(t *testing.T) {
	d, dir := newStore(t)
	d2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create(Spec{Name: "a", Type: Ed25519}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, keysDir, "a.json"))
	// d2 does not know about "a", so it gets as far as writing the file,
	// which must not replace the existing one.
	d2.kek = bytes.Clone(d.kek)
	if _, err := d2.Create(Spec{Name: "a", Type: Ed25519}); !errors.Is(err, ErrExists) {
		t.Fatalf("Create over a file written by another Dir: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, keysDir, "a.json"))
	if !bytes.Equal(before, after) {
		t.Fatal("Create replaced an existing key file")
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, keysDir, ".tmp-*")); len(tmp) != 0 {
		t.Fatalf("temporary files left behind: %v", tmp)
	}
}

func TestInitAndOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if err := Init(dir, nil); err == nil {
		t.Error("Init with an empty passphrase succeeded")
	}
	_, err := Open(dir)
	if !errors.Is(err, ErrNotInitialized) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "run 'signet keystore init'") {
		t.Errorf("Open on empty dir: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Open on missing dir: %v", err)
	}
	if err := Init(dir, pass); err != nil {
		t.Fatal(err)
	}
	if err := Init(dir, pass); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second Init: %v", err)
	}
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if list, err := d.List(); err != nil || len(list) != 0 {
		t.Errorf("List on a new store: %v, %v", list, err)
	}
}

// TestTamper damages a store in various ways and checks that Open or
// Unlock fails with an error naming the damaged file.
func TestTamper(t *testing.T) {
	d, pristine := newStore(t)
	for _, name := range []string{"a", "b"} {
		if _, err := d.Create(Spec{Name: name, Type: Ed25519}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(t *testing.T, dir, file string) map[string]any {
		var m map[string]any
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err == nil {
			err = json.Unmarshal(data, &m)
		}
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	write := func(t *testing.T, dir, file string, v any) {
		data, ok := v.([]byte)
		if !ok {
			data, _ = json.Marshal(v)
		}
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	aFile, bFile := filepath.Join(keysDir, "a.json"), filepath.Join(keysDir, "b.json")
	tests := []struct {
		name   string
		file   string // the file the error must name
		unlock bool   // damage found only at Unlock
		tamper func(t *testing.T, dir string)
	}{
		{"flip-sealed-byte", aFile, true, func(t *testing.T, dir string) {
			m := read(t, dir, aFile)
			sealed, _ := base64.StdEncoding.DecodeString(m["sealed"].(string))
			sealed[len(sealed)/2] ^= 1
			m["sealed"] = base64.StdEncoding.EncodeToString(sealed)
			write(t, dir, aFile, m)
		}},
		{"swap-files", aFile, false, func(t *testing.T, dir string) {
			a, b := read(t, dir, aFile), read(t, dir, bFile)
			write(t, dir, aFile, b)
			write(t, dir, bFile, a)
		}},
		{"swap-files-and-names", bFile, true, func(t *testing.T, dir string) {
			a := read(t, dir, aFile)
			a["name"] = "b"
			write(t, dir, bFile, a)
		}},
		{"edit-public", aFile, true, func(t *testing.T, dir string) {
			m := read(t, dir, aFile)
			m["public"] = read(t, dir, bFile)["public"]
			write(t, dir, aFile, m)
		}},
		{"edit-created", aFile, true, func(t *testing.T, dir string) {
			m := read(t, dir, aFile)
			m["created"] = "2001-02-03T04:05:06Z"
			write(t, dir, aFile, m)
		}},
		{"private-key-mismatch", aFile, true, func(t *testing.T, dir string) {
			// Only someone holding the KEK can do this; check it anyway.
			a, err := parseKeyFile(mustRead(t, filepath.Join(dir, aFile)))
			if err != nil {
				t.Fatal(err)
			}
			_, other, _ := ed25519.GenerateKey(nil)
			der, _ := x509.MarshalPKCS8PrivateKey(other)
			sk := a.versions[0]
			sk.nonce, sk.sealed = seal(d.kek, der, a.ad(sk))
			data, _ := a.marshal()
			write(t, dir, aFile, data)
		}},
		{"bad-nonce-length", aFile, false, func(t *testing.T, dir string) {
			m := read(t, dir, aFile)
			m["nonce"] = base64.StdEncoding.EncodeToString(make([]byte, 12))
			write(t, dir, aFile, m)
		}},
		{"bad-base64", aFile, false, func(t *testing.T, dir string) {
			m := read(t, dir, aFile)
			m["sealed"] = "%%%"
			write(t, dir, aFile, m)
		}},
		{"unknown-field", aFile, false, func(t *testing.T, dir string) {
			m := read(t, dir, aFile)
			m["private"] = "x"
			write(t, dir, aFile, m)
		}},
		{"wrong-version", aFile, false, func(t *testing.T, dir string) {
			m := read(t, dir, aFile)
			m["version"] = 3
			write(t, dir, aFile, m)
		}},
		{"truncated", aFile, false, func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, aFile))
			write(t, dir, aFile, data[:len(data)/2])
		}},
		{"oversized", aFile, false, func(t *testing.T, dir string) {
			write(t, dir, aFile, bytes.Repeat([]byte(" "), maxKeyFileSize+1))
		}},
		{"not-a-file", aFile, false, func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, aFile))
			os.Mkdir(filepath.Join(dir, aFile), 0o700)
		}},
		{"kdf-memory-downgrade", headerFile, false, func(t *testing.T, dir string) {
			m := read(t, dir, headerFile)
			m["kdf"].(map[string]any)["memory_kib"] = 1024
			write(t, dir, headerFile, m)
		}},
		{"kdf-time-downgrade", headerFile, false, func(t *testing.T, dir string) {
			m := read(t, dir, headerFile)
			m["kdf"].(map[string]any)["time"] = 0
			write(t, dir, headerFile, m)
		}},
		{"kdf-name", headerFile, false, func(t *testing.T, dir string) {
			m := read(t, dir, headerFile)
			m["kdf"].(map[string]any)["name"] = "pbkdf2"
			write(t, dir, headerFile, m)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(pristine)); err != nil {
				t.Fatal(err)
			}
			tt.tamper(t, dir)
			d, err := Open(dir)
			if err == nil {
				if !tt.unlock {
					t.Fatal("Open succeeded")
				}
				err = d.Unlock(pass)
				if err == nil {
					t.Fatal("Unlock succeeded")
				}
				if !d.Locked() {
					t.Error("failed Unlock left the store unlocked")
				}
			} else if tt.unlock {
				t.Logf("damage found at Open rather than Unlock: %v", err)
			}
			if !strings.Contains(err.Error(), filepath.Join(dir, tt.file)) {
				t.Errorf("error does not name %s: %v", tt.file, err)
			}
			t.Log(err)
		})
	}

	t.Run("stray-files-ignored", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(pristine)); err != nil {
			t.Fatal(err)
		}
		write(t, dir, filepath.Join(keysDir, ".tmp-123456"), []byte(`{"half":`))
		write(t, dir, filepath.Join(keysDir, "notes.txt"), []byte("hello"))
		d, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if list, _ := d.List(); len(list) != 2 {
			t.Fatalf("List: %v", list)
		}
	})
}

// TestNoPrivateMaterial checks that neither a Key nor a Signer can print
// or expose private key material.
func TestNoPrivateMaterial(t *testing.T) {
	signerType := reflect.TypeFor[crypto.Signer]()
	for i := range reflect.TypeFor[Key]().NumField() {
		f := reflect.TypeFor[Key]().Field(i)
		if f.Type.Implements(signerType) || strings.Contains(strings.ToLower(f.Type.String()), "private") {
			t.Errorf("Key.%s has type %s, which may hold private material", f.Name, f.Type)
		}
	}

	d, _ := newStore(t)
	for _, typ := range []Type{Ed25519, ECDSAP256} {
		k, err := d.Create(Spec{Name: "k-" + string(typ), Type: typ})
		if err != nil {
			t.Fatal(err)
		}
		s, err := d.Signer(k.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(interface{ Seed() []byte }); ok {
			t.Error("Signer exposes Seed")
		}
		if _, ok := s.(*ecdsa.PrivateKey); ok {
			t.Error("Signer is a *ecdsa.PrivateKey")
		}
		var secrets []string
		switch priv := s.(*versionSigner).priv.(type) {
		case ed25519.PrivateKey:
			seed := priv.Seed()
			secrets = []string{hex.EncodeToString(seed), fmt.Sprint(seed[:8])[1:20], base64.StdEncoding.EncodeToString(seed)[:16]}
		case *ecdsa.PrivateKey:
			secrets = []string{priv.D.String(), priv.D.Text(16)}
		}
		for _, format := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
			for _, v := range []any{k, s, &k} {
				out := fmt.Sprintf(format, v)
				for _, secret := range secrets {
					if strings.Contains(out, secret) {
						t.Errorf("Sprintf(%q, %T) prints private material: %s", format, v, out)
					}
				}
			}
		}
		if got := fmt.Sprintf("%+v", s); got != fmt.Sprintf("keystore.Signer(%q)", k.Name) {
			t.Errorf("Signer prints as %s", got)
		}
	}
}

func TestLockWipesKeys(t *testing.T) {
	d, _ := newStore(t)
	if _, err := d.Create(Spec{Name: "a", Type: Ed25519}); err != nil {
		t.Fatal(err)
	}
	priv := d.slots["a"].active.priv.(ed25519.PrivateKey)
	kek := d.kek
	d.Lock()
	if !bytes.Equal(priv, make([]byte, len(priv))) || !bytes.Equal(kek, make([]byte, len(kek))) {
		t.Fatal("Lock did not zero the Ed25519 key and the KEK")
	}
}

func TestSignerDoesNotAllocate(t *testing.T) {
	d, _ := newStore(t)
	if _, err := d.Create(Spec{Name: "a", Type: Ed25519}); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { d.Signer("a") }); n != 0 {
		t.Fatalf("Signer allocates %v times per call", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	d, _ := newStore(t)
	if _, err := d.Create(Spec{Name: "a", Type: Ed25519}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for range 50 {
				if s, err := d.Signer("a"); err == nil {
					if _, err := s.Sign(nil, []byte("m"), crypto.Hash(0)); err != nil && !errors.Is(err, ErrLocked) {
						t.Error(err)
					}
				} else if !errors.Is(err, ErrLocked) {
					t.Error(err)
				}
				d.List()
				d.Key("a")
			}
		})
		wg.Go(func() {
			if _, err := d.Create(Spec{Name: fmt.Sprintf("c%d", i), Type: Ed25519}); err != nil && !errors.Is(err, ErrLocked) {
				t.Error(err)
			}
		})
	}
	d.Lock()
	if err := d.Unlock(pass); err != nil {
		t.Error(err)
	}
	wg.Wait()
	list, _ := d.List()
	for _, k := range list {
		if _, err := d.Signer(k.Name); err != nil {
			t.Errorf("after Unlock: %v", err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(d.path, keysDir)); len(entries) != len(list) {
		t.Errorf("%d files for %d keys", len(entries), len(list))
	}
}

func FuzzParseKeyFile(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseKeyFile(data)
		if err != nil {
			return
		}
		out, err := r.marshal()
		if err != nil {
			t.Fatal(err)
		}
		r2, err := parseKeyFile(out)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", out, err)
		}
		out2, err := r2.marshal()
		if err != nil || !bytes.Equal(out, out2) || len(r.all()) != len(r2.all()) {
			t.Fatalf("round trip changed the record:\n%s\n%s", out, out2)
		}
		for i, sk := range r.all() {
			sk2 := r2.all()[i]
			if !bytes.Equal(r.ad(sk), r2.ad(sk2)) || !bytes.Equal(sk.nonce, sk2.nonce) || !bytes.Equal(sk.sealed, sk2.sealed) {
				t.Fatalf("round trip changed key pair %d:\n%s", i, out)
			}
		}
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestFuzzSeeds checks that the valid-* seeds in the fuzz corpus parse, so
// that the fuzzer starts from well-formed key files.
func TestFuzzSeeds(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzParseKeyFile", "valid-*"))
	if len(paths) == 0 {
		t.Fatal("no valid seeds")
	}
	for _, p := range paths {
		lines := strings.SplitN(string(mustRead(t, p)), "\n", 2)
		quoted := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(lines[1]), "[]byte("), ")")
		data, err := strconv.Unquote(quoted)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if _, err := parseKeyFile([]byte(data)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
