package deb_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/format/deb"
	"github.com/signet-dev/signet/format/openpgp"
	"github.com/signet-dev/signet/internal/pkgtest"
)

type testKey struct {
	signer *openpgp.Signer
	cert   []byte
}

func newTestKey(t *testing.T, typ string) *testKey {
	t.Helper()
	var s crypto.Signer
	switch typ {
	case "ed25519":
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		s = k
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, 2048) // 4096 in the keystore; 2048 keeps the test fast
		if err != nil {
			t.Fatal(err)
		}
		s = k
	}
	k, err := openpgp.NewKey(s.Public(), time.Now().Add(-time.Hour), "Signet Deb Test <deb@example.org>")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := openpgp.NewSigner(k, s)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ps.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{signer: ps, cert: cert}
}

func openFile(t *testing.T, path string) (*deb.Package, *os.File) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, _ := f.Stat()
	p, err := deb.Open(f, fi.Size())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p, f
}

// signFile signs the package at path with k as a client does (hash
// locally, signature from the hash state) and writes it to out.
func signFile(t *testing.T, k *testKey, path, out string) []byte {
	t.Helper()
	p, _ := openFile(t, path)
	h := sha256.New()
	n, err := io.Copy(h, p.SignedContent())
	if err != nil || n != p.SignedSize() {
		t.Fatalf("hashing: %d bytes, %v", n, err)
	}
	sig, err := deb.Sign(k.signer, h, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := p.WriteSigned(f, sig, time.Now()); err != nil {
		t.Fatal(err)
	}
	return sig
}

// TestSignedPackagesVerify signs packages of every compression with an
// EdDSA and an RSA key and has debsig-verify check them: the signed
// package passes; the unsigned one, one changed after signing and one
// checked against another key's policy fail. dpkg-deb still reads the
// signed package.
func TestSignedPackagesVerify(t *testing.T) {
	pkgtest.Require(t, "debsig-verify", "gpg", "dpkg-deb")
	dir := t.TempDir()
	keys := map[string]*testKey{"ed25519": newTestKey(t, "ed25519"), "rsa": newTestKey(t, "rsa")}
	roots := map[string]string{}
	// forged[name] has a policy for key name's fingerprint whose keyring
	// holds the other key: debsig-verify finds no key to check with.
	forged := map[string]string{}
	for name, k := range keys {
		roots[name] = pkgtest.DebsigPolicy(t, dir, k.signer.Key().FingerprintHex(), k.cert)
		other := keys[map[string]string{"ed25519": "rsa", "rsa": "ed25519"}[name]]
		forged[name] = pkgtest.DebsigPolicy(t, dir, k.signer.Key().FingerprintHex(), other.cert)
	}
	for _, comp := range []string{"xz", "gzip", "zstd", "none"} {
		path := pkgtest.BuildDeb(t, dir, pkgtest.Deb{Package: "hello-" + comp, Version: "1:2.0~rc1-3", Arch: "all", Compression: comp, Files: 3})
		if out, err := pkgtest.CheckDeb(t, roots["ed25519"], path); err == nil || !strings.Contains(err.Error(), "exited 10") {
			t.Errorf("debsig-verify on unsigned %s: %v (want exit status 10, no signature)\n%s", path, err, out)
		}
		p, _ := openFile(t, path)
		id, err := p.Control()
		if err != nil {
			t.Fatal(err)
		}
		if want := (deb.Identity{Package: "hello-" + comp, Version: "1:2.0~rc1-3", Architecture: "all"}); id != want {
			t.Errorf("control: %+v, want %+v", id, want)
		}
		for keyName, k := range keys {
			other := map[string]string{"ed25519": "rsa", "rsa": "ed25519"}[keyName]
			t.Run(comp+"/"+keyName, func(t *testing.T) {
				out := filepath.Join(dir, keyName+"-"+filepath.Base(path))
				sig := signFile(t, k, path, out)
				if msg, err := pkgtest.CheckDeb(t, roots[keyName], out); err != nil {
					t.Fatalf("debsig-verify refuses the signed package: %v\n%s", err, msg)
				}
				if msg, err := pkgtest.CheckDeb(t, roots[other], out); err == nil || !strings.Contains(err.Error(), "exited 11") {
					t.Errorf("debsig-verify with only another key's policy: %v (want exit status 11, no policy for this key)\n%s", err, msg)
				}
				if msg, err := pkgtest.CheckDeb(t, forged[keyName], out); err == nil || !strings.Contains(err.Error(), "exited 12") {
					t.Errorf("debsig-verify with another key in the keyring: %v (want exit status 12, no policy selects the signature)\n%s", err, msg)
				}
				if b, err := exec.Command("dpkg-deb", "--field", out, "Package").CombinedOutput(); err != nil || strings.TrimSpace(string(b)) != "hello-"+comp {
					t.Errorf("dpkg-deb --field on the signed package: %v %s", err, b)
				}
				q, _ := openFile(t, out)
				got, ok, err := q.Signature()
				if err != nil || !ok || !bytes.Equal(got, sig) {
					t.Errorf("the signature member reads back as %q, %v, %v", got, ok, err)
				}
				signed, _ := os.ReadFile(out)
				for _, tamper := range []struct {
					what string
					at   int64
				}{
					{"debian-binary", q.Members[0].Offset + 2},
					{"control", q.Members[1].Offset + q.Members[1].Size/2},
					{"data", q.Members[2].Offset + q.Members[2].Size - 1},
				} {
					bad := bytes.Clone(signed)
					bad[tamper.at] ^= 0x01
					bf := filepath.Join(dir, "tampered-"+tamper.what+"-"+filepath.Base(out))
					os.WriteFile(bf, bad, 0o644)
					if msg, err := pkgtest.CheckDeb(t, roots[keyName], bf); err == nil || !strings.Contains(err.Error(), "exited 13") {
						t.Errorf("debsig-verify on the package with %s changed after signing: %v (want exit status 13)\n%s", tamper.what, err, msg)
					}
				}
			})
		}
	}
}

// TestResign signs a signed package again: the new _gpgorigin replaces
// the old one, and other underscore members stay.
func TestResign(t *testing.T) {
	pkgtest.Require(t, "debsig-verify", "gpg", "dpkg-deb")
	dir := t.TempDir()
	a, b := newTestKey(t, "ed25519"), newTestKey(t, "ed25519")
	path := pkgtest.BuildDeb(t, dir, pkgtest.Deb{Package: "resign", Version: "1.0", Arch: "amd64"})
	once, twice := filepath.Join(dir, "once.deb"), filepath.Join(dir, "twice.deb")
	signFile(t, a, path, once)
	// An unrelated signature member, as dpkg-sig would add, stays.
	f, _ := os.OpenFile(once, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("_gpgbuilder     0           0     0     100644  3         `\nabc\n")
	f.Close()
	signFile(t, b, once, twice)
	p, _ := openFile(t, twice)
	var names []string
	for _, m := range p.Members {
		names = append(names, m.Name)
	}
	if got := strings.Join(names, " "); got != "debian-binary control.tar.xz data.tar.xz _gpgbuilder _gpgorigin" {
		t.Errorf("members %s", got)
	}
	if msg, err := pkgtest.CheckDeb(t, pkgtest.DebsigPolicy(t, dir, b.signer.Key().FingerprintHex(), b.cert), twice); err != nil {
		t.Errorf("debsig-verify: %v\n%s", err, msg)
	}
	if msg, err := pkgtest.CheckDeb(t, pkgtest.DebsigPolicy(t, dir, a.signer.Key().FingerprintHex(), a.cert), twice); err == nil {
		t.Errorf("debsig-verify accepts the replaced key:\n%s", msg)
	}
}

func TestOpenRefuses(t *testing.T) {
	member := func(name, data string) string {
		h := []byte(strings.Repeat(" ", 58) + "`\n")
		copy(h, name)
		copy(h[16:], "0")
		copy(h[28:], "0")
		copy(h[34:], "0")
		copy(h[40:], "100644")
		copy(h[48:], strconv.Itoa(len(data)))
		s := string(h) + data
		if len(data)%2 == 1 {
			s += "\n"
		}
		return s
	}
	good := "!<arch>\n" + member("debian-binary", "2.0\n") + member("control.tar", "c") + member("data.tar", "d")
	if _, err := deb.Open(strings.NewReader(good), int64(len(good))); err != nil {
		t.Fatalf("minimal package: %v", err)
	}
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "no ar magic"},
		{"tar", "ustar\x00", "no ar magic"},
		{"two members", "!<arch>\n" + member("debian-binary", "2.0\n") + member("control.tar", "c"), "2 members"},
		{"order", "!<arch>\n" + member("control.tar", "c") + member("debian-binary", "2.0\n") + member("data.tar", "d"), "first member"},
		{"version", "!<arch>\n" + member("debian-binary", "3.0\n") + member("control.tar", "c") + member("data.tar", "d"), "2.0"},
		{"extra before data", "!<arch>\n" + member("debian-binary", "2.0\n") + member("control.tar", "c") + member("extra", "e") + member("data.tar", "d"), "third member"},
		{"extra without underscore", good + member("extra", "e"), "underscore"},
		{"duplicate", good + member("_gpgorigin", "a") + member("_gpgorigin", "b"), "twice"},
		{"truncated member", good[:len(good)-2], "past the end"},
		{"no padding", good[:len(good)-1], "padding"},
		{"bad padding", good[:len(good)-1] + "x", "padded with"},
		{"stray bytes", good + "xx", "stray"},
		{"bad size", strings.Replace(good, "1         `", "1x        `", 1), "size"},
		{"long name", "!<arch>\n//                                              8         `\nlongname", "character"},
		{"no header end", strings.Replace(good, "`\n", "``", 1), "does not end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := deb.Open(strings.NewReader(tt.in), int64(len(tt.in)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCheckIdentity(t *testing.T) {
	good := []deb.Identity{
		{"hello", "1.0", "all"}, {"libc6", "2.36-9+deb12u4", "amd64"}, {"g++", "4:12.2.0-3", "arm64"},
		{"x0", "1:2.0~rc1-3", "linux-any"}, {"a.b", "20240101", "all"}, {"pkg", "1:1.0:2-1", "all"},
	}
	for _, id := range good {
		if err := deb.CheckIdentity(id); err != nil {
			t.Errorf("%v: %v", id, err)
		}
	}
	bad := []deb.Identity{
		{"Hello", "1.0", "all"}, {"h", "1.0", "all"}, {"-x", "1.0", "all"}, {"a b", "1.0", "all"},
		{"hello", "", "all"}, {"hello", "1.0 ", "all"}, {"hello", ":1.0", "all"}, {"hello", "a:1.0", "all"},
		{"hello", "1:2", "All"}, {"hello", "1.0:2", "all"}, {"hello", "1.0-", "all"}, {"hello", "1.0", ""},
		{"hello", "1.0\n", "all"}, {"hello", "_1", "all"},
	}
	for _, id := range bad {
		if err := deb.CheckIdentity(id); err == nil {
			t.Errorf("%q accepted", id)
		}
	}
}

func TestParseControl(t *testing.T) {
	id, err := deb.ParseControl([]byte("Package: hello\nVersion: 1.0-1\nDescription: x\n more\n .\n  indented\narchitecture: amd64\n\nPackage: other\n"))
	if err != nil || id != (deb.Identity{"hello", "1.0-1", "amd64"}) {
		t.Errorf("%+v, %v", id, err)
	}
	for _, in := range []string{"", "Package: a\n", " continuation\nPackage: hello\n", "Package: hello\nPackage: again\nVersion: 1\nArchitecture: all\n", "no field\n"} {
		if _, err := deb.ParseControl([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
