package rpm_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gopenpgp "github.com/ProtonMail/go-crypto/openpgp"
	rpmutils "github.com/sassoftware/go-rpmutils"

	"github.com/signet-dev/signet/format/openpgp"
	"github.com/signet-dev/signet/format/rpm"
	"github.com/signet-dev/signet/internal/pkgtest"
)

// packages are built once, with rpmbuild, for every test.
var (
	buildOnce sync.Once
	buildDir  string
	built     map[string]string // path by name
)

var specs = []pkgtest.RPM{
	{Name: "hello", Version: "1.0", Release: "1"},
	{Name: "epoch", Epoch: "3", Version: "2.5~rc1", Release: "7.el9", Files: 200},
	{Name: "source", Version: "0.1", Release: "2", Source: true},
}

func packages(t *testing.T) map[string]string {
	t.Helper()
	buildOnce.Do(func() {
		var err error
		if buildDir, err = os.MkdirTemp("", "signet-rpm-test-"); err != nil {
			t.Fatal(err)
		}
		built = map[string]string{}
		for _, s := range specs {
			built[s.Name] = pkgtest.BuildRPM(t, buildDir, s)
		}
	})
	if built == nil {
		t.Fatal("building the test packages failed")
	}
	return built
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// testKey is an OpenPGP key whose private half is a plain crypto.Signer,
// as the keystore hands it out.
type testKey struct {
	signer *openpgp.Signer
	cert   []byte // binary certificate
	armor  []byte
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
	k, err := openpgp.NewKey(s.Public(), time.Now().Add(-time.Hour), "Signet RPM Test <rpm@example.org>")
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
	return &testKey{signer: ps, cert: cert, armor: openpgp.Armor(cert, "PGP PUBLIC KEY BLOCK")}
}

func readPackage(t *testing.T, path string) (*rpm.Package, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := rpm.Read(bytes.NewReader(b), rpm.MaxData)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p, b
}

// signFile signs the package at path with k as a client does: header to
// the signer, signature into the signature header, payload copied.
func signFile(t *testing.T, k *testKey, path, out string) *rpm.PackageHeader {
	t.Helper()
	p, b := readPackage(t, path)
	ph, sig, err := rpm.SignHeader(k.signer, p.Header.Bytes(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	prefix, err := p.Signed(sig)
	if err != nil {
		t.Fatal(err)
	}
	signed := append(append(prefix, p.Header.Bytes()...), b[p.PayloadOffset:]...)
	if err := os.WriteFile(out, signed, 0o644); err != nil {
		t.Fatal(err)
	}
	return ph
}

// TestReadAgreesWithRPM checks the parser against rpm's own reading of
// each package (rpm -qp) and against go-rpmutils, a second
// implementation.
func TestReadAgreesWithRPM(t *testing.T) {
	pkgtest.Require(t, "rpm")
	for name, path := range packages(t) {
		t.Run(name, func(t *testing.T) {
			p, b := readPackage(t, path)
			n, err := p.Header.NEVRA()
			if err != nil {
				t.Fatal(err)
			}
			pd, err := p.Header.PayloadDigest()
			if err != nil {
				t.Fatal(err)
			}
			if err := p.CheckHeaderDigests(); err != nil {
				t.Error(err)
			}
			out, err := exec.Command("rpm", "-qp", "--qf", "%{nevra} %{payloaddigest} %{sha256header}", path).Output()
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("%s %s %s", n, strings.TrimPrefix(pd, "sha256:"), must(p.Signature.String(rpm.TagSHA256Header)))
			if string(out) != want {
				t.Errorf("rpm -qp says %q, we read %q", out, want)
			}
			if n.FileName() != filepath.Base(path) {
				t.Errorf("FileName %q, file %q", n.FileName(), filepath.Base(path))
			}

			h, err := rpmutils.ReadHeader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			un, _ := h.GetNEVRA()
			epoch := n.Epoch
			if epoch == "" {
				epoch = "0"
			}
			if un.Name != n.Name || un.Epoch != epoch || un.Version != n.Version || un.Release != n.Release || un.Arch != n.Arch {
				t.Errorf("go-rpmutils reads %+v, we read %+v", un, n)
			}
			r := h.GetRange()
			if int64(r.End) != p.PayloadOffset || !bytes.Equal(b[r.Start:r.End], p.Header.Bytes()) {
				t.Errorf("go-rpmutils puts the main header at %d..%d, we at %d..%d", r.Start, r.End, p.PayloadOffset-int64(len(p.Header.Bytes())), p.PayloadOffset)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestSignedPackagesVerify signs every package with an EdDSA and an RSA
// key and has rpmkeys check them with _pkgverify_level signature: the
// signed package passes with its key; the unsigned one, one changed after
// signing (payload or header) and one checked against another key fail.
// go-rpmutils's verifier, a second implementation, agrees.
func TestSignedPackagesVerify(t *testing.T) {
	pkgs := packages(t)
	dir := t.TempDir()
	keys := map[string]*testKey{"ed25519": newTestKey(t, "ed25519"), "rsa": newTestKey(t, "rsa")}
	dbs := map[string]string{}
	for name, k := range keys {
		dbs[name] = pkgtest.RPMKeyring(t, dir, k.armor)
	}
	for pkgName, path := range pkgs {
		if out, err := pkgtest.CheckRPM(t, dbs["ed25519"], path); err == nil {
			t.Errorf("rpmkeys accepts unsigned %s:\n%s", pkgName, out)
		}
		for keyName, k := range keys {
			other := "rsa"
			if keyName == "rsa" {
				other = "ed25519"
			}
			t.Run(pkgName+"/"+keyName, func(t *testing.T) {
				out := filepath.Join(dir, keyName+"-"+filepath.Base(path))
				sh := signFile(t, k, path, out)
				signed, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				orig, _ := os.ReadFile(path)
				if len(signed) != len(orig) {
					t.Errorf("signing changed the size from %d to %d: the reserved space was not used", len(orig), len(signed))
				}
				if msg, err := pkgtest.CheckRPM(t, dbs[keyName], out); err != nil {
					t.Fatalf("rpmkeys refuses the signed package: %v\n%s", err, msg)
				} else if wantTag := map[string]string{"ed25519": "Header V4 EdDSA/SHA256 Signature", "rsa": "Header V4 RSA/SHA256 Signature"}[keyName]; !strings.Contains(msg, wantTag+", key ID") || !strings.Contains(msg, ": OK") {
					t.Errorf("rpmkeys output lacks %q:\n%s", wantTag, msg)
				}
				if msg, err := pkgtest.CheckRPM(t, dbs[other], out); err == nil {
					t.Errorf("rpmkeys accepts the package with only another key imported:\n%s", msg)
				} else {
					t.Logf("another key: %v\n%s", err, msg)
				}
				p, _ := readPackage(t, out)
				for _, tamper := range []struct {
					what string
					at   int64
				}{
					{"payload", p.PayloadOffset + 40},
					{"header", p.PayloadOffset - int64(len(p.Header.Bytes())/2)},
				} {
					bad := bytes.Clone(signed)
					bad[tamper.at] ^= 0x01
					bf := filepath.Join(dir, "tampered-"+tamper.what+"-"+keyName+"-"+filepath.Base(path))
					if err := os.WriteFile(bf, bad, 0o644); err != nil {
						t.Fatal(err)
					}
					if msg, err := pkgtest.CheckRPM(t, dbs[keyName], bf); err == nil {
						t.Errorf("rpmkeys accepts the package with its %s changed after signing:\n%s", tamper.what, msg)
					} else {
						t.Logf("%s changed: %v\n%s", tamper.what, err, msg)
					}
				}

				ent, err := openpgp.ReadCertificate(k.cert)
				if err != nil {
					t.Fatal(err)
				}
				f, _ := os.Open(out)
				defer f.Close()
				_, sigs, err := rpmutils.Verify(f, gopenpgp.EntityList{ent})
				if err != nil || len(sigs) != 1 || !sigs[0].HeaderOnly || sigs[0].Signer == nil {
					t.Errorf("go-rpmutils: %v, %d signatures", err, len(sigs))
				}
				if sh.NEVRA.FileName() != filepath.Base(path) {
					t.Errorf("signed NEVRA %v for %s", sh.NEVRA, path)
				}
			})
		}
	}
}

// TestResign signs a signed package again with another key: the new
// signature replaces the old one.
func TestResign(t *testing.T) {
	path := packages(t)["hello"]
	dir := t.TempDir()
	a, b := newTestKey(t, "ed25519"), newTestKey(t, "rsa")
	once, twice := filepath.Join(dir, "once.rpm"), filepath.Join(dir, "twice.rpm")
	signFile(t, a, path, once)
	signFile(t, b, once, twice)
	p, _ := readPackage(t, twice)
	if _, ok := p.Signature.Get(rpm.TagDSAHeader); ok {
		t.Error("the EdDSA signature is still there")
	}
	if msg, err := pkgtest.CheckRPM(t, pkgtest.RPMKeyring(t, dir, b.armor), twice); err != nil {
		t.Errorf("rpmkeys: %v\n%s", err, msg)
	}
	if msg, err := pkgtest.CheckRPM(t, pkgtest.RPMKeyring(t, dir, a.armor), twice); err == nil {
		t.Errorf("rpmkeys accepts the package with the replaced key:\n%s", msg)
	}
}

// TestSignHeaderRefuses checks that SignHeader signs nothing but a main
// header with a NEVRA and a payload digest.
func TestSignHeaderRefuses(t *testing.T) {
	k := newTestKey(t, "ed25519")
	p, _ := readPackage(t, packages(t)["hello"])
	main := p.Header.Bytes()
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "no header magic"},
		{"text", []byte("Origin: Debian\nSuite: stable\n"), "no header magic"},
		{"signature header", p.Signature.Bytes(), "region tag 63"},
		{"truncated", main[:len(main)-1], "declares"},
		{"trailing byte", append(bytes.Clone(main), 0), "declares"},
		{"header then more", append(bytes.Clone(main), main...), "declares"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := rpm.SignHeader(k.signer, tt.in, time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
