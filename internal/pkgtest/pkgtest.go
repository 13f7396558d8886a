// Package pkgtest builds real RPM and Debian packages for tests, with
// rpmbuild and dpkg-deb, and checks their signatures with the ecosystems'
// own verifiers: rpmkeys (with _pkgverify_level signature, so that an
// unsigned package fails) against a temporary rpm database, and
// debsig-verify against a temporary policy and keyring directory. Nothing
// touches the system's rpm database, gpg home or debsig policies.
//
// The tools come from the Debian packages rpm, dpkg, debsig-verify and gpg,
// which scripts/test installs; a missing tool fails the test.
package pkgtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Require fails tb unless every tool is on PATH.
func Require(tb testing.TB, tools ...string) {
	tb.Helper()
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			tb.Fatalf("%s is required by this test; run ./scripts/test, which installs it", t)
		}
	}
}

// An RPM describes a package to build.
type RPM struct {
	Name, Epoch, Version, Release string
	Arch                          string // "noarch" (default) or the build machine's
	Files                         int    // files in the payload (default 1)
	Source                        bool   // build the source package instead
}

// BuildRPM builds the package with rpmbuild under dir and returns its path.
func BuildRPM(tb testing.TB, dir string, p RPM) string {
	tb.Helper()
	Require(tb, "rpmbuild")
	if p.Arch == "" {
		p.Arch = "noarch"
	}
	if p.Files == 0 {
		p.Files = 1
	}
	top := filepath.Join(dir, "rpmbuild-"+p.Name)
	var spec strings.Builder
	fmt.Fprintf(&spec, "Name: %s\nVersion: %s\nRelease: %s\nSummary: Signet test package\nLicense: MIT\n", p.Name, p.Version, p.Release)
	if p.Epoch != "" {
		fmt.Fprintf(&spec, "Epoch: %s\n", p.Epoch)
	}
	if p.Arch == "noarch" {
		spec.WriteString("BuildArch: noarch\n")
	}
	fmt.Fprintf(&spec, "%%description\nA package built by a Signet test.\n%%install\nmkdir -p %%{buildroot}/usr/share/%s\n", p.Name)
	fmt.Fprintf(&spec, "for i in $(seq 1 %d); do echo \"%s file $i\" > %%{buildroot}/usr/share/%s/f$i; done\n", p.Files, p.Name, p.Name)
	fmt.Fprintf(&spec, "%%files\n/usr/share/%s\n", p.Name)
	specFile := filepath.Join(top, p.Name+".spec")
	if err := os.MkdirAll(top, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(specFile, []byte(spec.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	mode := "-bb"
	if p.Source {
		mode = "-bs"
	}
	cmd := exec.Command("rpmbuild", "--define", "_topdir "+top, "--define", "_build_id_links none",
		"--define", "debug_package %{nil}", "--define", "_source_payload w9.gzdio", mode, specFile)
	cmd.Env = append(os.Environ(), "HOME="+top) // no ~/.rpmmacros of the user running the tests
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("rpmbuild: %v\n%s", err, out)
	}
	sub := "RPMS/*/*.rpm"
	if p.Source {
		sub = "SRPMS/*.rpm"
	}
	m, _ := filepath.Glob(filepath.Join(top, sub))
	if len(m) != 1 {
		tb.Fatalf("rpmbuild made %v", m)
	}
	return m[0]
}

// RPMKeyring makes an rpm database in a new directory under dir holding
// only the armored OpenPGP certificate cert, and returns its path for
// CheckRPM.
func RPMKeyring(tb testing.TB, dir string, cert []byte) string {
	tb.Helper()
	Require(tb, "rpmkeys")
	db, err := os.MkdirTemp(dir, "rpmdb-")
	if err != nil {
		tb.Fatal(err)
	}
	certFile := filepath.Join(db, "key.asc")
	if err := os.WriteFile(certFile, cert, 0o644); err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command("rpmkeys", "--dbpath", db, "--import", certFile).CombinedOutput(); err != nil {
		tb.Fatalf("rpmkeys --import: %v\n%s", err, out)
	}
	return db
}

// CheckRPM runs rpmkeys --checksig on pkg with the keys in the rpm
// database db, requiring a signature (_pkgverify_level signature), and
// returns its output and an error if rpmkeys refused the package. It fails
// tb if rpmkeys did not run at all, so that a missing tool never passes
// for a refusal.
func CheckRPM(tb testing.TB, db, pkg string) (string, error) {
	tb.Helper()
	out, err := exec.Command("rpmkeys", "--dbpath", db, "--define", "_pkgverify_level signature",
		"--checksig", "--verbose", pkg).CombinedOutput()
	return string(out), exitError(tb, "rpmkeys", err)
}

// exitError returns err if it is a command's non-zero exit, nil for nil,
// and fails tb for anything else (the command could not run).
func exitError(tb testing.TB, cmd string, err error) error {
	tb.Helper()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		tb.Fatalf("running %s: %v", cmd, err)
	}
	if err != nil {
		return fmt.Errorf("%s exited %d", cmd, ee.ExitCode())
	}
	return nil
}

// A Deb describes a Debian package to build.
type Deb struct {
	Package, Version, Arch string
	Compression            string // dpkg-deb -Z: gzip, xz (default), zstd or none
	Files                  int    // files in data.tar (default 1)
}

// BuildDeb builds the package with dpkg-deb under dir and returns its
// path.
func BuildDeb(tb testing.TB, dir string, p Deb) string {
	tb.Helper()
	Require(tb, "dpkg-deb")
	if p.Compression == "" {
		p.Compression = "xz"
	}
	if p.Files == 0 {
		p.Files = 1
	}
	root, err := os.MkdirTemp(dir, "debroot-")
	if err != nil {
		tb.Fatal(err)
	}
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: Signet Tests <tests@example.org>\nDescription: a package built by a Signet test\n multi-line description\n", p.Package, p.Version, p.Arch)
	files := map[string]string{"DEBIAN/control": control}
	for i := 1; i <= p.Files; i++ {
		files[fmt.Sprintf("usr/share/%s/f%d", p.Package, i)] = fmt.Sprintf("%s file %d\n", p.Package, i)
	}
	for name, content := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	out := filepath.Join(dir, fmt.Sprintf("%s_%s_%s.deb", p.Package, p.Version, p.Arch))
	if b, err := exec.Command("dpkg-deb", "--root-owner-group", "-Z"+p.Compression, "--build", root, out).CombinedOutput(); err != nil {
		tb.Fatalf("dpkg-deb --build: %v\n%s", err, b)
	}
	return out
}

// DebsigPolicy writes, in a new directory under dir, what debsig-verify
// needs to accept packages whose origin signature is by the key with
// OpenPGP fingerprint fpr (40 hex digits): policies/FPR/signet.pol
// requiring an origin signature by that key, and keyrings/FPR/origin.gpg
// holding cert, its binary OpenPGP certificate. It returns the root for
// CheckDeb.
func DebsigPolicy(tb testing.TB, dir, fpr string, cert []byte) string {
	tb.Helper()
	root, err := os.MkdirTemp(dir, "debsig-")
	if err != nil {
		tb.Fatal(err)
	}
	for _, d := range []string{"policies", "keyrings"} {
		if err := os.MkdirAll(filepath.Join(root, d, fpr), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "keyrings", fpr, "origin.gpg"), cert, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "policies", fpr, "signet.pol"), []byte(Policy(fpr)), 0o644); err != nil {
		tb.Fatal(err)
	}
	return root
}

// Policy returns a debsig-verify policy requiring an origin signature by
// the key with fingerprint fpr, found in keyring origin.gpg.
func Policy(fpr string) string {
	return `<?xml version="1.0"?>
<!DOCTYPE Policy SYSTEM "https://www.debian.org/debsig/1.0/policy.dtd">
<Policy xmlns="https://www.debian.org/debsig/1.0/">
  <Origin Name="signet-test" id="` + fpr + `" Description="Signet test origin"/>
  <Selection>
    <Required Type="origin" File="origin.gpg" id="` + fpr + `"/>
  </Selection>
  <Verification MinOptional="0">
    <Required Type="origin" File="origin.gpg" id="` + fpr + `"/>
  </Verification>
</Policy>
`
}

// CheckDeb runs debsig-verify on pkg with the policies and keyrings under
// root (from DebsigPolicy) and returns its output and an error carrying
// its exit status if it refused the package. It fails tb if debsig-verify
// did not run at all.
func CheckDeb(tb testing.TB, root, pkg string) (string, error) {
	tb.Helper()
	cmd := exec.Command("debsig-verify", "--policies-dir", filepath.Join(root, "policies"),
		"--keyrings-dir", filepath.Join(root, "keyrings"), pkg)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return out.String(), exitError(tb, "debsig-verify", cmd.Run())
}
