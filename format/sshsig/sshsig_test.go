package sshsig_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/signet-dev/signet/format/sshsig"
)

// sshKeygen returns the path of ssh-keygen or fails the test: a missing
// verifier is a broken test machine, never a reason to skip.
func sshKeygen(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Fatal("ssh-keygen is required (Debian openssh-client); run ./scripts/test, which installs it")
	}
	return p
}

// keys are one signer per key type sshsig signs with. RSA-2048 keeps the
// test fast; the code path is the same as for the keystore's RSA-3072 and
// RSA-4096.
func testKeys(t testing.TB) map[string]crypto.Signer {
	t.Helper()
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]crypto.Signer{"ed25519": ed, "ecdsa-p256": p256, "ecdsa-p384": p384, "rsa": r}
}

// verifier runs ssh-keygen -Y verify and check-novalidate in a directory.
type verifier struct {
	t       *testing.T
	keygen  string
	dir     string
	message string // path of the signed file
}

func newVerifier(t *testing.T, msg []byte) *verifier {
	v := &verifier{t: t, keygen: sshKeygen(t), dir: t.TempDir()}
	v.message = filepath.Join(v.dir, "message")
	if err := os.WriteFile(v.message, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	return v
}

// run runs ssh-keygen with the message on stdin and reports whether it
// exited 0, with its output.
func (v *verifier) run(args ...string) (bool, string) {
	v.t.Helper()
	f, err := os.Open(v.message)
	if err != nil {
		v.t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(v.keygen, args...)
	cmd.Stdin = f
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		v.t.Fatalf("running ssh-keygen: %v", err)
	}
	return err == nil, string(out)
}

// verify runs ssh-keygen -Y verify for principal "release@example.org"
// trusted with pub in namespace ns.
func (v *verifier) verify(sig []byte, pub crypto.PublicKey, ns string) (bool, string) {
	v.t.Helper()
	line, err := sshsig.AuthorizedKey(pub, "")
	if err != nil {
		v.t.Fatal(err)
	}
	allowed := filepath.Join(v.dir, "allowed_signers")
	sigFile := filepath.Join(v.dir, "message.sig")
	must(v.t, os.WriteFile(allowed, append([]byte("release@example.org "), line...), 0o600))
	must(v.t, os.WriteFile(sigFile, sig, 0o600))
	return v.run("-Y", "verify", "-f", allowed, "-I", "release@example.org", "-n", ns, "-s", sigFile)
}

func (v *verifier) checkNoValidate(sig []byte, ns string) (bool, string) {
	v.t.Helper()
	sigFile := filepath.Join(v.dir, "message.sig")
	must(v.t, os.WriteFile(sigFile, sig, 0o600))
	return v.run("-Y", "check-novalidate", "-n", ns, "-s", sigFile)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func sha512sum(b []byte) []byte { s := sha512.Sum512(b); return s[:] }

// TestSSHKeygenVerifies signs with every key type and has ssh-keygen check
// the result, then checks that ssh-keygen rejects a tampered message, a
// wrong key and a wrong namespace.
func TestSSHKeygenVerifies(t *testing.T) {
	keys := testKeys(t)
	other := testKeys(t)
	msg := []byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@example.org> 1700000000 +0000\n\nrelease 1.0\n")
	for name, k := range keys {
		t.Run(name, func(t *testing.T) {
			v := newVerifier(t, msg)
			sig, err := sshsig.Sign(k, "git", crypto.SHA512, sha512sum(msg))
			if err != nil {
				t.Fatal(err)
			}
			armored := sig.Armor()
			if ok, out := v.verify(armored, k.Public(), "git"); !ok {
				t.Fatalf("ssh-keygen -Y verify rejected the signature:\n%s\n%s", out, armored)
			} else if !strings.Contains(out, `Good "git" signature for release@example.org`) {
				t.Errorf("ssh-keygen -Y verify said %q", out)
			}
			if ok, out := v.checkNoValidate(armored, "git"); !ok {
				t.Fatalf("ssh-keygen -Y check-novalidate rejected the signature:\n%s", out)
			}
			if ok, _ := v.verify(armored, k.Public(), "file"); ok {
				t.Error("ssh-keygen accepted the signature in another namespace")
			}
			if ok, _ := v.verify(armored, other[name].Public(), "git"); ok {
				t.Error("ssh-keygen accepted the signature for another key")
			}
			tampered := bytes.Clone(msg)
			tampered[len(tampered)-2] ^= 1
			must(t, os.WriteFile(v.message, tampered, 0o600))
			if ok, _ := v.verify(armored, k.Public(), "git"); ok {
				t.Error("ssh-keygen accepted the signature for a tampered message")
			}
			if ok, _ := v.checkNoValidate(armored, "git"); ok {
				t.Error("ssh-keygen check-novalidate accepted the signature for a tampered message")
			}

			// Our own parser and verifier agree.
			parsed, err := sshsig.Parse(armored)
			if err != nil {
				t.Fatal(err)
			}
			pub, _ := ssh.NewPublicKey(k.Public())
			if err := parsed.Verify(pub, "git", sha512sum(msg)); err != nil {
				t.Errorf("Verify: %v", err)
			}
			if err := parsed.Verify(pub, "git", sha512sum(tampered)); !errors.Is(err, sshsig.ErrVerify) {
				t.Errorf("Verify of a tampered message: %v, want ErrVerify", err)
			}
			otherPub, _ := ssh.NewPublicKey(other[name].Public())
			if err := parsed.Verify(otherPub, "git", sha512sum(msg)); !errors.Is(err, sshsig.ErrVerify) {
				t.Errorf("Verify with another key: %v, want ErrVerify", err)
			}
			if err := parsed.Verify(pub, "file", sha512sum(msg)); !errors.Is(err, sshsig.ErrVerify) {
				t.Errorf("Verify in another namespace: %v, want ErrVerify", err)
			}
		})
	}
}

// TestSHA256Hash signs with the SHA-256 variant, which ssh-keygen also
// verifies although it signs with SHA-512 itself.
func TestSHA256Hash(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	msg := []byte("hello\n")
	sum := sha256.Sum256(msg)
	sig, err := sshsig.Sign(k, "file", crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, msg)
	if ok, out := v.verify(sig.Armor(), k.Public(), "file"); !ok {
		t.Fatalf("ssh-keygen rejected a sha256 SSHSIG: %s", out)
	}
}

// TestParseSSHKeygenSignature checks the other direction: signatures that
// ssh-keygen makes parse and verify here, for each key type it has.
func TestParseSSHKeygenSignature(t *testing.T) {
	keygen := sshKeygen(t)
	msg := []byte("a file signed by ssh-keygen\n")
	for _, typ := range []string{"ed25519", "ecdsa", "rsa"} {
		t.Run(typ, func(t *testing.T) {
			dir := t.TempDir()
			key := filepath.Join(dir, "id")
			args := []string{"-q", "-t", typ, "-N", "", "-C", "", "-f", key}
			if typ == "rsa" {
				args = append(args, "-b", "2048")
			}
			if out, err := exec.Command(keygen, args...).CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen -t %s: %v\n%s", typ, err, out)
			}
			file := filepath.Join(dir, "msg")
			must(t, os.WriteFile(file, msg, 0o600))
			if out, err := exec.Command(keygen, "-Y", "sign", "-n", "file", "-f", key, file).CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
			}
			armored, err := os.ReadFile(file + ".sig")
			must(t, err)
			sig, err := sshsig.Parse(armored)
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, armored)
			}
			pubLine, err := os.ReadFile(key + ".pub")
			must(t, err)
			pub, _, _, _, err := ssh.ParseAuthorizedKey(pubLine)
			must(t, err)
			if err := sig.Verify(pub, "file", sha512sum(msg)); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// Re-encoding gives ssh-keygen's bytes back.
			if got := sig.Armor(); !bytes.Equal(got, armored) {
				t.Errorf("Armor() =\n%s\nwant\n%s", got, armored)
			}
		})
	}
}

func TestSignRejects(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	sum := sha512sum([]byte("x"))
	tests := []struct {
		name   string
		ns     string
		h      crypto.Hash
		digest []byte
		want   string
	}{
		{"empty namespace", "", crypto.SHA512, sum, "namespace"},
		{"space in namespace", "a b", crypto.SHA512, sum, "namespace"},
		{"long namespace", strings.Repeat("n", 65), crypto.SHA512, sum, "namespace"},
		{"sha384", "git", crypto.SHA384, sum[:48], "not allowed"},
		{"short digest", "git", crypto.SHA512, sum[:32], "digest is 32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sshsig.Sign(k, tt.ns, tt.h, tt.digest)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Sign: %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	sig, err := sshsig.Sign(k, "git", crypto.SHA512, sha512sum([]byte("x")))
	must(t, err)
	good := sig.Armor()
	blob := sig.Marshal()
	armor := func(b []byte) []byte {
		s := &bytes.Buffer{}
		s.WriteString("-----BEGIN SSH SIGNATURE-----\n")
		s.WriteString(strings.TrimSpace(string(bytes.TrimSpace([]byte(b64(b))))))
		s.WriteString("\n-----END SSH SIGNATURE-----\n")
		return s.Bytes()
	}
	if _, err := sshsig.Parse(armor(blob)); err != nil {
		t.Fatalf("re-armored good blob: %v", err)
	}
	if _, err := sshsig.Parse(bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n"))); err != nil {
		t.Errorf("CRLF armor: %v", err)
	}
	badVersion := bytes.Clone(blob)
	badVersion[9] = 2
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "not an armored"},
		{"no end", []byte("-----BEGIN SSH SIGNATURE-----\nAAAA\n"), "not an armored"},
		{"trailing text", append(bytes.Clone(good), "junk\n"...), "not an armored"},
		{"bad base64", []byte("-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----\n"), "not base64"},
		{"bad magic", armor(append([]byte("SSHSIX"), blob[6:]...)), "SSHSIG"},
		{"version 2", armor(badVersion), "version 2"},
		{"truncated", armor(blob[:len(blob)-10]), "truncated in signature"},
		{"trailing bytes", armor(append(bytes.Clone(blob), 0)), "1 bytes after"},
		{"too big", bytes.Repeat([]byte("A"), sshsig.MaxSize+1), "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sshsig.Parse(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse: %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestAuthorizedKey(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	line, err := sshsig.AuthorizedKey(k.Public(), "signet:release")
	must(t, err)
	pub, comment, _, rest, err := ssh.ParseAuthorizedKey(line)
	must(t, err)
	if comment != "signet:release" || len(rest) != 0 || !bytes.Equal(pub.(ssh.CryptoPublicKey).CryptoPublicKey().(ed25519.PublicKey), k.Public().(ed25519.PublicKey)) {
		t.Errorf("AuthorizedKey = %q", line)
	}
}
