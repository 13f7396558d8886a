package minisign_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/blake2b"

	"github.com/signet-dev/signet/format/minisign"
)

// minisignTool returns the path of minisign or fails the test: a missing
// verifier is a broken test machine, never a reason to skip.
func minisignTool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("minisign")
	if err != nil {
		t.Fatal("minisign is required (Debian minisign); run ./scripts/test, which installs it")
	}
	return p
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func digest(b []byte) []byte { s := blake2b.Sum512(b); return s[:] }

// verify runs minisign -V on file with the public key file and signature
// given, and reports whether it accepted them, with its output.
func verify(t *testing.T, dir string, msg, pub, sig []byte) (bool, string) {
	t.Helper()
	file := filepath.Join(dir, "release.tar.gz")
	must(t, os.WriteFile(file, msg, 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "key.pub"), pub, 0o600))
	must(t, os.WriteFile(file+".minisig", sig, 0o600))
	cmd := exec.Command(minisignTool(t), "-V", "-p", filepath.Join(dir, "key.pub"), "-m", file)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running minisign: %v", err)
	}
	return err == nil, string(out)
}

func TestMinisignVerifies(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	pub, err := minisign.NewPublicKey(k.Public())
	must(t, err)
	msg := []byte("release 1.0 contents\n")
	tc := "timestamp:1700000000\tfile:release.tar.gz\thashed"
	sig, err := minisign.Sign(k, pub.ID, digest(msg), tc, "signature from signet key release")
	must(t, err)
	dir := t.TempDir()

	ok, out := verify(t, dir, msg, pub.Marshal(), sig.Marshal())
	if !ok {
		t.Fatalf("minisign -V rejected the signature:\n%s\n%s%s", out, pub.Marshal(), sig.Marshal())
	}
	if !strings.Contains(out, "Trusted comment: "+tc) {
		t.Errorf("minisign -V printed %q, want the trusted comment", out)
	}

	tampered := bytes.Clone(msg)
	tampered[0] ^= 1
	if ok, _ := verify(t, dir, tampered, pub.Marshal(), sig.Marshal()); ok {
		t.Error("minisign accepted a tampered file")
	}
	altered := bytes.Replace(sig.Marshal(), []byte("timestamp:1700000000"), []byte("timestamp:1900000000"), 1)
	if ok, out := verify(t, dir, msg, pub.Marshal(), altered); ok {
		t.Error("minisign accepted an altered trusted comment")
	} else if !strings.Contains(out, "omment signature verification failed") {
		t.Logf("minisign on an altered trusted comment said %q", out)
	}
	// Another key under its own id, and under the signer's id, so that
	// minisign checks the signature itself rather than stopping at the id.
	otherPub, _ := minisign.NewPublicKey(other.Public())
	if ok, _ := verify(t, dir, msg, otherPub.Marshal(), sig.Marshal()); ok {
		t.Error("minisign accepted the signature with another key")
	}
	impostor := &minisign.PublicKey{ID: pub.ID, Key: other.Public().(ed25519.PublicKey)}
	if ok, _ := verify(t, dir, msg, impostor.Marshal(), sig.Marshal()); ok {
		t.Error("minisign accepted the signature with another key under the same id")
	}

	// Our own verifier agrees.
	parsed, err := minisign.ParseSignature(sig.Marshal())
	must(t, err)
	if err := parsed.Verify(pub, digest(msg)); err != nil {
		t.Errorf("Verify: %v", err)
	}
	for name, tt := range map[string]struct {
		pub *minisign.PublicKey
		msg []byte
	}{"tampered": {pub, tampered}, "other key": {otherPub, msg}, "impostor": {impostor, msg}} {
		if err := parsed.Verify(tt.pub, digest(tt.msg)); !errors.Is(err, minisign.ErrVerify) {
			t.Errorf("Verify %s: %v, want ErrVerify", name, err)
		}
	}
	alteredSig, err := minisign.ParseSignature(altered)
	must(t, err)
	if err := alteredSig.Verify(pub, digest(msg)); !errors.Is(err, minisign.ErrVerify) {
		t.Errorf("Verify with altered trusted comment: %v, want ErrVerify", err)
	}
}

// TestParseMinisignOutput checks the other direction: keys and signatures
// minisign makes parse and verify here, and re-encode to the same bytes.
func TestParseMinisignOutput(t *testing.T) {
	tool := minisignTool(t)
	dir := t.TempDir()
	pubFile, secFile, file := filepath.Join(dir, "k.pub"), filepath.Join(dir, "k.key"), filepath.Join(dir, "f")
	if out, err := exec.Command(tool, "-G", "-W", "-p", pubFile, "-s", secFile).CombinedOutput(); err != nil {
		t.Fatalf("minisign -G: %v\n%s", err, out)
	}
	msg := []byte("signed by minisign itself\n")
	must(t, os.WriteFile(file, msg, 0o600))
	if out, err := exec.Command(tool, "-S", "-s", secFile, "-m", file, "-t", "a trusted\tcomment").CombinedOutput(); err != nil {
		t.Fatalf("minisign -S: %v\n%s", err, out)
	}
	pubBytes, err := os.ReadFile(pubFile)
	must(t, err)
	sigBytes, err := os.ReadFile(file + ".minisig")
	must(t, err)
	pub, err := minisign.ParsePublicKey(pubBytes)
	must(t, err)
	sig, err := minisign.ParseSignature(sigBytes)
	must(t, err)
	if sig.TrustedComment != "a trusted\tcomment" {
		t.Errorf("trusted comment %q", sig.TrustedComment)
	}
	if err := sig.Verify(pub, digest(msg)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !bytes.Equal(sig.Marshal(), sigBytes) {
		t.Errorf("Marshal =\n%s\nwant\n%s", sig.Marshal(), sigBytes)
	}
	if got := pub.Marshal(); !bytes.Equal(got, pubBytes) {
		t.Errorf("public key Marshal =\n%s\nwant\n%s", got, pubBytes)
	}
	lines := strings.Split(string(pubBytes), "\n")
	if only, err := minisign.ParsePublicKey([]byte(lines[1])); err != nil || only.ID != pub.ID {
		t.Errorf("ParsePublicKey of the base64 line alone: %v", err)
	}
}

func TestKeyID(t *testing.T) {
	pub := make(ed25519.PublicKey, 32) // all zero
	id := minisign.KeyIDFor(pub)
	// SHA-256 of 32 zero bytes starts 66 68 7a ad f8 62 bd 77.
	if want := (minisign.KeyID{0x66, 0x68, 0x7a, 0xad, 0xf8, 0x62, 0xbd, 0x77}); id != want {
		t.Errorf("KeyIDFor(zero key) = % x, want % x", id[:], want[:])
	}
	// minisign prints the little-endian integer with "%" PRIX64: no
	// leading zeros, which one key in sixteen has.
	for _, tt := range []struct {
		id   minisign.KeyID
		want string
	}{
		{id, "77BD62F8AD7A6866"},
		{minisign.KeyID{0x53, 0x58, 0x09, 0x64, 0x4c, 0xce, 0x9e, 0x0a}, "A9ECE4C64095853"},
		{minisign.KeyID{1}, "1"},
		{minisign.KeyID{}, "0"},
	} {
		if s := tt.id.String(); s != tt.want {
			t.Errorf("KeyID(% x).String() = %s, want %s", tt.id[:], s, tt.want)
		}
	}
}

func TestSignRejects(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	id := minisign.KeyIDFor(k.Public().(ed25519.PublicKey))
	d := digest([]byte("x"))
	tests := []struct {
		name       string
		digest     []byte
		tc, untrus string
		want       string
	}{
		{"short digest", d[:32], "", "", "digest is 32 bytes"},
		{"newline in trusted comment", d, "a\nb", "", "line break"},
		{"CR in trusted comment", d, "a\rb", "", "control"},
		{"long trusted comment", d, strings.Repeat("x", minisign.MaxComment+1), "", "limit"},
		{"bad UTF-8", d, "\xff", "", "UTF-8"},
		{"newline in untrusted comment", d, "", "a\nb", "untrusted comment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := minisign.Sign(k, id, tt.digest, tt.tc, tt.untrus)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Sign: %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := minisign.NewPublicKey(k.Public())
	sig, err := minisign.Sign(k, pub.ID, digest(nil), "tc", "uc")
	must(t, err)
	good := string(sig.Marshal())
	lines := strings.Split(good, "\n")
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty"},
		{"three lines", strings.Join(lines[:3], "\n"), "3 lines"},
		{"extra line", good + "more\n", "5 lines"},
		{"no untrusted prefix", strings.Replace(good, "untrusted comment: ", "comment: ", 1), "first line"},
		{"no trusted prefix", strings.Replace(good, "trusted comment: tc", "tc", 1), "third line"},
		{"bad base64", strings.Replace(good, lines[1], "!!", 1), "not base64"},
		{"short signature", strings.Replace(good, lines[1], lines[1][:20], 1), "signature is 15 bytes, want 74"},
		{"short global", strings.Replace(good, lines[3], "AAAA", 1), "global signature is 3 bytes"},
		{"unknown algorithm", strings.Replace(good, lines[1], "AA"+lines[1][2:], 1), "algorithm"},
		{"not UTF-8", good + "\xff", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := minisign.ParseSignature([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseSignature: %v, want error containing %q", err, tt.want)
			}
		})
	}
	if _, err := minisign.ParseSignature([]byte(strings.ReplaceAll(good, "\n", "\r\n"))); err != nil {
		t.Errorf("CRLF signature: %v", err)
	}
	for _, bad := range []string{"", "untrusted comment: x\n", "a\nb\nc\n", "untrusted comment: x\nAAAA\n"} {
		if _, err := minisign.ParsePublicKey([]byte(bad)); err == nil {
			t.Errorf("ParsePublicKey(%q) succeeded", bad)
		}
	}
}
