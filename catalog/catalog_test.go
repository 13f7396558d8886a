package catalog

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signet-dev/signet/format/openpgp"
)

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func write(t testing.TB, root, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// aptRepo writes a small APT repository: n pool files, a Packages index
// (plain and gzip) for them, and a Release listing both. It returns the
// Release bytes.
func aptRepo(t testing.TB, root string, n int) []byte {
	t.Helper()
	var pk bytes.Buffer
	for i := 0; i < n; i++ {
		deb := []byte(fmt.Sprintf("package %d contents\n", i))
		rel := fmt.Sprintf("pool/main/p/pkg%d_1.0_all.deb", i)
		write(t, root, rel, deb)
		fmt.Fprintf(&pk, "Package: pkg%d\nVersion: 1.0\nArchitecture: all\nFilename: %s\nSize: %d\nSHA256: %s\n\n", i, rel, len(deb), sha(deb))
	}
	return aptIndexes(t, root, pk.Bytes())
}

// aptIndexes writes Packages and Packages.gz and the Release for them.
func aptIndexes(t testing.TB, root string, packages []byte) []byte {
	t.Helper()
	write(t, root, "dists/stable/main/binary-all/Packages", packages)
	z := gz(packages)
	write(t, root, "dists/stable/main/binary-all/Packages.gz", z)
	rel := fmt.Sprintf("Origin: test\nSuite: stable\nSHA256:\n %s %d main/binary-all/Packages\n %s %d main/binary-all/Packages.gz\n",
		sha(packages), len(packages), sha(z), len(z))
	write(t, root, "dists/stable/Release", []byte(rel))
	return []byte(rel)
}

func newCatalog(t testing.TB, spec Spec) *Catalog {
	t.Helper()
	if spec.Name == "" {
		spec.Name = "test"
	}
	if spec.Key == "" {
		spec.Key = "archive"
	}
	if spec.Principals == nil {
		spec.Principals = []string{"publisher"}
	}
	c, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func aptCatalog(t testing.TB, root string) *Catalog {
	return newCatalog(t, Spec{Type: APTRelease, Root: root, Path: "dists/{suite}/Release", Params: map[string][]string{"suite": {"stable", "testing"}}})
}

var stable = map[string]string{"suite": "stable"}

func sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func TestAPT(t *testing.T) {
	root := t.TempDir()
	release := aptRepo(t, root, 5)
	c := aptCatalog(t, root)
	r, err := c.Check(context.Background(), stable, sum(release))
	if err != nil {
		t.Fatal(err)
	}
	if r.Path != "dists/stable/Release" || !bytes.Equal(r.Index, release) || r.References != 7 {
		t.Fatalf("result %+v", r)
	}
	// The digest covers the verified list: a different repository gives another.
	root2 := t.TempDir()
	release2 := aptRepo(t, root2, 6)
	r2, err := aptCatalog(t, root2).Check(context.Background(), stable, sum(release2))
	if err != nil {
		t.Fatal(err)
	}
	if r2.ReferencesDigest == r.ReferencesDigest || r2.References != 8 {
		t.Fatal("references digest does not depend on the references")
	}

	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := openpgp.NewKey(priv.Public(), time.Unix(1700000000, 0), "archive <a@example.org>")
	s, _ := openpgp.NewSigner(k, priv)
	files, err := r.Sign(s, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Name != "Release.gpg" || files[1].Name != "InRelease" {
		t.Fatalf("files %v", files)
	}
	cert, _ := s.Certificate()
	h := sha256.New()
	h.Write(release)
	if err := openpgp.CheckDetached(cert, h, files[0].Data); err != nil {
		t.Fatal(err)
	}
	text, err := openpgp.CheckClearsigned(cert, files[1].Data)
	if err != nil {
		t.Fatal(err)
	}
	if string(text) != strings.TrimSuffix(string(release), "\n") {
		t.Fatalf("InRelease text %q", text)
	}
}

// TestAPTRefusals changes one thing in a good repository and checks that
// the error names the offending file and what is wrong with it.
func TestAPTRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, root string) []byte // returns the Release to expect
		want   []string
	}{
		{"deb tampered", func(t *testing.T, root string) []byte {
			write(t, root, "pool/main/p/pkg3_1.0_all.deb", []byte("package X contents\n"))
			return nil
		}, []string{"pool/main/p/pkg3_1.0_all.deb", "listed in dists/stable/main/binary-all/Packages", "sha256 is"}},
		{"deb truncated", func(t *testing.T, root string) []byte {
			write(t, root, "pool/main/p/pkg1_1.0_all.deb", []byte("short"))
			return nil
		}, []string{"pool/main/p/pkg1_1.0_all.deb", "size is 5 bytes, but the index lists 19"}},
		{"deb missing", func(t *testing.T, root string) []byte {
			os.Remove(filepath.Join(root, "pool/main/p/pkg0_1.0_all.deb"))
			return nil
		}, []string{"pool/main/p/pkg0_1.0_all.deb", "does not exist"}},
		{"Packages tampered", func(t *testing.T, root string) []byte {
			p := filepath.Join(root, "dists/stable/main/binary-all/Packages")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte("Version: 1.0"), []byte("Version: 6.6"), 1), 0o644)
			return nil
		}, []string{"dists/stable/main/binary-all/Packages (listed in dists/stable/Release)", "sha256 is"}},
		{"variants differ", func(t *testing.T, root string) []byte {
			// Packages.gz lists another package than Packages, and the
			// Release pins both: the variants must agree.
			other := []byte("Package: evil\nFilename: pool/evil.deb\nSize: 1\nSHA256: " + strings.Repeat("0", 64) + "\n")
			plain, _ := os.ReadFile(filepath.Join(root, "dists/stable/main/binary-all/Packages"))
			z := gz(other)
			write(t, root, "dists/stable/main/binary-all/Packages.gz", z)
			rel := fmt.Sprintf("SHA256:\n %s %d main/binary-all/Packages\n %s %d main/binary-all/Packages.gz\n", sha(plain), len(plain), sha(z), len(z))
			write(t, root, "dists/stable/Release", []byte(rel))
			return []byte(rel)
		}, []string{"Packages.gz", "differs from dists/stable/main/binary-all/Packages"}},
		{"escape via ..", func(t *testing.T, root string) []byte {
			return aptIndexes(t, root, []byte("Package: x\nFilename: ../outside.deb\nSize: 1\nSHA256: "+strings.Repeat("0", 64)+"\n"))
		}, []string{"Packages", `contains ".."`}},
		{"absolute path", func(t *testing.T, root string) []byte {
			return aptIndexes(t, root, []byte("Package: x\nFilename: /etc/passwd\nSize: 1\nSHA256: "+strings.Repeat("0", 64)+"\n"))
		}, []string{"/etc/passwd", "is absolute"}},
		{"symlink escape", func(t *testing.T, root string) []byte {
			p := filepath.Join(root, "pool/main/p/pkg2_1.0_all.deb")
			os.Remove(p)
			outside := filepath.Join(t.TempDir(), "x.deb")
			os.WriteFile(outside, []byte("package 2 contents\n"), 0o644)
			if err := os.Symlink(outside, p); err != nil {
				t.Fatal(err)
			}
			return nil
		}, []string{"pool/main/p/pkg2_1.0_all.deb", "outside the catalog root"}},
		{"relative symlink escape", func(t *testing.T, root string) []byte {
			p := filepath.Join(root, "pool/main/p/pkg2_1.0_all.deb")
			os.Remove(p)
			if err := os.Symlink("../../../../etc/passwd", p); err != nil {
				t.Fatal(err)
			}
			return nil
		}, []string{"pool/main/p/pkg2_1.0_all.deb", "outside the catalog root"}},
		{"fifo", func(t *testing.T, root string) []byte {
			p := filepath.Join(root, "pool/main/p/pkg4_1.0_all.deb")
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			return nil
		}, []string{"pool/main/p/pkg4_1.0_all.deb", "not a regular file"}},
		{"device", func(t *testing.T, root string) []byte {
			p := filepath.Join(root, "pool/main/p/pkg4_1.0_all.deb")
			os.Remove(p)
			if err := syscall.Mknod(p, syscall.S_IFCHR|0o644, 1<<8|3); err != nil { // like /dev/null
				t.Fatalf("mknod (tests run as root): %v", err)
			}
			return nil
		}, []string{"pool/main/p/pkg4_1.0_all.deb", "not a regular file"}},
		{"directory", func(t *testing.T, root string) []byte {
			p := filepath.Join(root, "pool/main/p/pkg4_1.0_all.deb")
			os.Remove(p)
			os.Mkdir(p, 0o755)
			return nil
		}, []string{"pool/main/p/pkg4_1.0_all.deb", "not a regular file"}},
		{"no SHA256", func(t *testing.T, root string) []byte {
			rel := []byte("Origin: x\nMD5Sum:\n 0123 1 main/binary-all/Packages\n")
			write(t, root, "dists/stable/Release", rel)
			return rel
		}, []string{"dists/stable/Release", "no SHA256 field"}},
		{"garbage Release", func(t *testing.T, root string) []byte {
			rel := []byte("this is not a control file\n")
			write(t, root, "dists/stable/Release", rel)
			return rel
		}, []string{"dists/stable/Release", "line 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			release := aptRepo(t, root, 5)
			if r := tc.change(t, root); r != nil {
				release = r
			}
			_, err := aptCatalog(t, root).Check(context.Background(), stable, sum(release))
			if err == nil {
				t.Fatal("Check succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestIndexPathRefusals(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	write(t, outside, "Release", []byte("SHA256:\n"))
	os.MkdirAll(filepath.Join(root, "dists"), 0o755)
	os.Symlink(outside, filepath.Join(root, "dists/stable"))
	c := aptCatalog(t, root)
	if _, err := c.Check(context.Background(), stable, make([]byte, 32)); err == nil || !strings.Contains(err.Error(), "outside the catalog root") {
		t.Errorf("index behind an escaping symlink: %v", err)
	}
	for _, p := range []map[string]string{{"suite": "../x"}, {"suite": "unstable"}, {}, {"suite": "stable", "arch": "x"}} {
		_, err := c.Check(context.Background(), p, make([]byte, 32))
		var pe *ParamError
		if !errors.As(err, &pe) {
			t.Errorf("params %v: %v, want a ParamError", p, err)
		}
	}
}

func TestMismatchAndSize(t *testing.T) {
	root := t.TempDir()
	release := aptRepo(t, root, 5)
	c := aptCatalog(t, root)
	_, err := c.Check(context.Background(), stable, make([]byte, 32))
	var me *MismatchError
	if !errors.As(err, &me) || !bytes.Equal(me.Got, sum(release)) || !strings.Contains(err.Error(), sha(release)) {
		t.Fatalf("mismatch: %v", err)
	}
	small := newCatalog(t, Spec{Type: APTRelease, Root: root, Path: "dists/{suite}/Release", Params: map[string][]string{"suite": {"stable"}}, MaxBytes: 10})
	_, err = small.Check(context.Background(), stable, sum(release))
	var tl *TooLargeError
	if !errors.As(err, &tl) {
		t.Fatalf("too large: %v", err)
	}
	// An index the Release lists is bounded too, decompressed.
	mid := newCatalog(t, Spec{Type: APTRelease, Root: root, Path: "dists/{suite}/Release", Params: map[string][]string{"suite": {"stable"}}, MaxBytes: int64(len(release))})
	if _, err := mid.Check(context.Background(), stable, sum(release)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("large Packages: %v", err)
	}
}

func TestSpecCheck(t *testing.T) {
	good := Spec{Name: "deb", Type: APTRelease, Root: "/srv", Path: "dists/{suite}/Release", Params: map[string][]string{"suite": {"stable"}}, Key: "k", Principals: []string{"p"}}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		change func(*Spec)
		want   string
	}{
		{func(s *Spec) { s.Type = "yum" }, "type"},
		{func(s *Spec) { s.Root = "" }, "root"},
		{func(s *Spec) { s.Key = "" }, "key"},
		{func(s *Spec) { s.Principals = nil }, "principals"},
		{func(s *Spec) { s.Path = "dists/{suite}/{arch}/Release" }, "{arch} has no allowed values"},
		{func(s *Spec) { s.Path = "../{suite}/Release" }, `".."`},
		{func(s *Spec) { s.Path = "/srv/{suite}/Release" }, "absolute"},
		{func(s *Spec) { s.Params = map[string][]string{"suite": {"../etc"}} }, "params.suite value"},
		{func(s *Spec) { s.Params = map[string][]string{"suite": {".."}} }, "params.suite value"},
		{func(s *Spec) { s.Params["extra"] = []string{"x"} }, "params.extra is not used"},
		{func(s *Spec) { s.MaxBytes = -1 }, "max_bytes"},
		{func(s *Spec) { s.Name = "Bad Name" }, "name"},
	} {
		s := good
		s.Params = map[string][]string{"suite": {"stable"}}
		tc.change(&s)
		if err := s.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", s, err, tc.want)
		}
	}
}

func TestSHA256Sums(t *testing.T) {
	root := t.TempDir()
	var sums bytes.Buffer
	for i, name := range []string{"a.iso", "b.tar.gz", "sub/c.bin"} {
		data := bytes.Repeat([]byte{byte(i)}, 1000*i+1)
		write(t, root, "releases/1.0/"+name, data)
		mode := " "
		if i == 1 {
			mode = "*"
		}
		fmt.Fprintf(&sums, "%s %s%s\n", sha(data), mode, name)
	}
	write(t, root, "releases/1.0/SHA256SUMS", sums.Bytes())
	c := newCatalog(t, Spec{Type: SHA256Sums, Root: root, Path: "releases/{version}/SHA256SUMS", Params: map[string][]string{"version": {"1.0"}}})
	r, err := c.Check(context.Background(), map[string]string{"version": "1.0"}, sum(sums.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if r.References != 3 {
		t.Fatalf("references %d", r.References)
	}
	write(t, root, "releases/1.0/sub/c.bin", []byte("x"))
	if _, err := c.Check(context.Background(), map[string]string{"version": "1.0"}, sum(sums.Bytes())); err == nil || !strings.Contains(err.Error(), "releases/1.0/sub/c.bin") {
		t.Fatalf("tampered file: %v", err)
	}
}

func TestPackageSignatures(t *testing.T) {
	root := t.TempDir()
	release := aptRepo(t, root, 3)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := openpgp.NewKey(priv.Public(), time.Unix(1700000000, 0), "maintainer <m@example.org>")
	s, _ := openpgp.NewSigner(k, priv)
	cert, _ := s.Certificate()
	certFile := filepath.Join(t.TempDir(), "maint.asc")
	os.WriteFile(certFile, openpgp.Armor(cert, "PGP PUBLIC KEY BLOCK"), 0o644)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	ok, _ := openpgp.NewKey(otherPriv.Public(), time.Unix(1700000000, 0), "other <o@example.org>")
	other, _ := openpgp.NewSigner(ok, otherPriv)

	c := newCatalog(t, Spec{Type: APTRelease, Root: root, Path: "dists/{suite}/Release", Params: map[string][]string{"suite": {"stable"}}, PackageSigners: []string{certFile}})
	signDeb := func(i int, by *openpgp.Signer, armored bool) {
		rel := fmt.Sprintf("pool/main/p/pkg%d_1.0_all.deb", i)
		data, _ := os.ReadFile(filepath.Join(root, rel))
		h := sha256.New()
		h.Write(data)
		sig, err := by.Detached(h, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ext := ".sig"
		if armored {
			sig, ext = openpgp.Armor(sig, "PGP SIGNATURE"), ".asc"
		}
		os.Remove(filepath.Join(root, rel+".sig"))
		os.Remove(filepath.Join(root, rel+".asc"))
		write(t, root, rel+ext, sig)
	}
	check := func() error {
		_, err := c.Check(context.Background(), stable, sum(release))
		return err
	}
	signDeb(0, s, false)
	signDeb(1, s, true)
	if err := check(); err == nil || !strings.Contains(err.Error(), "pool/main/p/pkg2_1.0_all.deb") || !strings.Contains(err.Error(), "no pool/main/p/pkg2_1.0_all.deb.sig") {
		t.Fatalf("unsigned package: %v", err)
	}
	signDeb(2, other, false)
	if err := check(); err == nil || !strings.Contains(err.Error(), "not among the catalog's package_signers") {
		t.Fatalf("package signed by another key: %v", err)
	}
	signDeb(2, s, false)
	if err := check(); err != nil {
		t.Fatalf("all signed: %v", err)
	}
	// A signature of other bytes does not verify.
	sig1, _ := os.ReadFile(filepath.Join(root, "pool/main/p/pkg0_1.0_all.deb.sig"))
	write(t, root, "pool/main/p/pkg2_1.0_all.deb.sig", sig1)
	if err := check(); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("swapped signature: %v", err)
	}
}

func TestRPM(t *testing.T) {
	root := t.TempDir()
	var primary bytes.Buffer
	primary.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
`)
	for i := 0; i < 2; i++ {
		rpm := []byte(fmt.Sprintf("rpm %d", i))
		name := fmt.Sprintf("Packages/hello-%d.rpm", i)
		write(t, root, "el9/x86_64/"+name, rpm)
		fmt.Fprintf(&primary, `<package type="rpm"><name>hello</name><checksum type="sha256" pkgid="YES">%s</checksum><size package="%d" installed="1" archive="2"/><location href="%s"/><format><rpm:license>MIT</rpm:license></format></package>
`, sha(rpm), len(rpm), name)
	}
	primary.WriteString("</metadata>\n")
	z := gz(primary.Bytes())
	write(t, root, "el9/x86_64/repodata/primary.xml.gz", z)
	other := []byte("<otherdata/>")
	write(t, root, "el9/x86_64/repodata/other.xml", other)
	repomd := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo">
  <revision>1</revision>
  <data type="primary"><checksum type="sha256">%s</checksum><open-checksum type="sha256">%s</open-checksum><location href="repodata/primary.xml.gz"/><size>%d</size></data>
  <data type="other"><checksum type="sha256">%s</checksum><location href="repodata/other.xml"/><size>%d</size></data>
</repomd>
`, sha(z), sha(primary.Bytes()), len(z), sha(other), len(other))
	write(t, root, "el9/x86_64/repodata/repomd.xml", []byte(repomd))
	c := newCatalog(t, Spec{Type: RPMRepomd, Root: root, Path: "{rel}/{arch}/repodata/repomd.xml", Params: map[string][]string{"rel": {"el9"}, "arch": {"x86_64", "aarch64"}}})
	params := map[string]string{"rel": "el9", "arch": "x86_64"}
	r, err := c.Check(context.Background(), params, sum([]byte(repomd)))
	if err != nil {
		t.Fatal(err)
	}
	if r.References != 4 {
		t.Fatalf("references %d", r.References)
	}
	write(t, root, "el9/x86_64/Packages/hello-1.rpm", []byte("rpm X"))
	if _, err := c.Check(context.Background(), params, sum([]byte(repomd))); err == nil || !strings.Contains(err.Error(), "el9/x86_64/Packages/hello-1.rpm (listed in el9/x86_64/repodata/primary.xml.gz)") {
		t.Fatalf("tampered rpm: %v", err)
	}
}

func TestParsersRefuse(t *testing.T) {
	for name, fn := range map[string]func() error{
		"release dup field": func() error { _, err := ParseRelease([]byte("SHA256:\nSHA256:\n")); return err },
		"release bad size": func() error {
			_, err := ParseRelease([]byte("SHA256:\n " + strings.Repeat("a", 64) + " -1 x\n"))
			return err
		},
		"release bad hash": func() error { _, err := ParseRelease([]byte("SHA256:\n abc 1 x\n")); return err },
		"packages no sha":  func() error { _, err := ParsePackages([]byte("Package: a\nFilename: x\nSize: 1\n")); return err },
		"sources plain name": func() error {
			_, err := ParseSources([]byte("Package: a\nDirectory: pool/a\nChecksums-Sha256:\n " + strings.Repeat("a", 64) + " 1 ../x\n"))
			return err
		},
		"repomd xml:base": func() error {
			_, err := ParseRepomd([]byte(`<repomd><data type="primary"><checksum type="sha256">` + strings.Repeat("a", 64) + `</checksum><location xml:base="http://evil/" href="x"/><size>1</size></data></repomd>`))
			return err
		},
		"repomd sha1": func() error {
			_, err := ParseRepomd([]byte(`<repomd><data type="primary"><checksum type="sha1">` + strings.Repeat("a", 40) + `</checksum><location href="x"/><size>1</size></data></repomd>`))
			return err
		},
		"repomd trailing": func() error { _, err := ParseRepomd([]byte(`<repomd></repomd><x/>`)); return err },
		"primary root":    func() error { _, err := ParsePrimary(strings.NewReader(`<other/>`)); return err },
		"sums short":      func() error { _, err := ParseSHA256Sums([]byte("abc  x\n")); return err },
		"sums escape": func() error {
			_, err := ParseSHA256Sums([]byte("\\" + strings.Repeat("a", 64) + "  x\\q\n"))
			return err
		},
		"sums dotdot": func() error { _, err := ParseSHA256Sums([]byte(strings.Repeat("a", 64) + "  ../x\n")); return err },
	} {
		if err := fn(); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	refs, err := ParseSHA256Sums([]byte("\\" + strings.Repeat("a", 64) + "  x\\nz\n"))
	if err != nil || refs[0].Path != "x\nz" {
		t.Errorf("escaped name: %v %v", refs, err)
	}
}

// TestSymlinkInsideRoot: a symlink that stays inside the root is followed.
func TestSymlinkInsideRoot(t *testing.T) {
	root := t.TempDir()
	release := aptRepo(t, root, 2)
	p := filepath.Join(root, "pool/main/p/pkg1_1.0_all.deb")
	data, _ := os.ReadFile(p)
	write(t, root, "store/pkg1.deb", data)
	os.Remove(p)
	if err := os.Symlink("../../../store/pkg1.deb", p); err != nil {
		t.Fatal(err)
	}
	if _, err := aptCatalog(t, root).Check(context.Background(), stable, sum(release)); err != nil {
		t.Fatalf("symlink inside the root: %v", err)
	}
}
