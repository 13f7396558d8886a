package raw_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-dev/signet/format/raw"
)

type testKey struct {
	name string
	gen  func() (crypto.Signer, error)
	alg  string
	pss  bool
}

func testKeys() []testKey {
	ec := func(c elliptic.Curve) func() (crypto.Signer, error) {
		return func() (crypto.Signer, error) { return ecdsa.GenerateKey(c, rand.Reader) }
	}
	rs := func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }
	return []testKey{
		{"ed25519", func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err }, "ed25519", false},
		{"ecdsa-p256", ec(elliptic.P256()), "ecdsa-p256-sha256", false},
		{"ecdsa-p384", ec(elliptic.P384()), "ecdsa-p384-sha384", false},
		{"rsa", rs, "rsa-pkcs1v15-sha256", false},
		{"rsa-pss", rs, "rsa-pss-sha256", true},
	}
}

// tbs returns what Sign expects for msg under pub.
func tbs(t *testing.T, pub crypto.PublicKey, msg []byte) []byte {
	t.Helper()
	h, err := raw.Hash(pub)
	if err != nil {
		t.Fatal(err)
	}
	if h == 0 {
		return msg
	}
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

func TestSignVerify(t *testing.T) {
	msg := []byte("release-1.0.tar.gz contents\n")
	for _, tk := range testKeys() {
		t.Run(tk.name, func(t *testing.T) {
			k, err := tk.gen()
			if err != nil {
				t.Fatal(err)
			}
			opts := raw.Options{PSS: tk.pss}
			alg, err := raw.Algorithm(k.Public(), opts)
			if err != nil || alg != tk.alg {
				t.Fatalf("Algorithm = %q, %v; want %q", alg, err, tk.alg)
			}
			sig, err := raw.Sign(k, tbs(t, k.Public(), msg), opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := raw.Verify(k.Public(), msg, sig, opts); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if h, _ := raw.Hash(k.Public()); h != 0 {
				if err := raw.VerifyDigest(k.Public(), tbs(t, k.Public(), msg), sig, opts); err != nil {
					t.Fatalf("VerifyDigest: %v", err)
				}
			}
			bad := append([]byte(nil), msg...)
			bad[0] ^= 1
			if err := raw.Verify(k.Public(), bad, sig, opts); !errors.Is(err, raw.ErrVerify) {
				t.Fatalf("Verify(tampered message) = %v, want ErrVerify", err)
			}
			sig[len(sig)/2] ^= 1
			if err := raw.Verify(k.Public(), msg, sig, opts); !errors.Is(err, raw.ErrVerify) {
				t.Fatalf("Verify(tampered signature) = %v, want ErrVerify", err)
			}
		})
	}
}

func TestSignRejects(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name string
		key  crypto.Signer
		tbs  []byte
		opts raw.Options
		want string
	}{
		{"short digest", p256, make([]byte, 31), raw.Options{}, "digest is 31 bytes, want 32"},
		{"sha256 digest for P-384", p384, make([]byte, 32), raw.Options{}, "digest is 32 bytes, want 48"},
		{"empty digest", p256, nil, raw.Options{}, "digest is 0 bytes"},
		{"pss with ecdsa", p256, make([]byte, 32), raw.Options{PSS: true}, "PSS applies only to RSA"},
		{"pss with ed25519", ed, []byte("x"), raw.Options{PSS: true}, "PSS applies only to RSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := raw.Sign(tt.key, tt.tbs, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Sign = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

// TestOpenSSL checks every scheme against the verifier users run.
func TestOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is required for this test; run ./scripts/test, which installs it")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "artifact.bin")
	msg := make([]byte, 100_000)
	rand.Read(msg)
	if err := os.WriteFile(file, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tk := range testKeys() {
		t.Run(tk.name, func(t *testing.T) {
			k, err := tk.gen()
			if err != nil {
				t.Fatal(err)
			}
			opts := raw.Options{PSS: tk.pss}
			sig, err := raw.Sign(k, tbs(t, k.Public(), msg), opts)
			if err != nil {
				t.Fatal(err)
			}
			der, err := x509.MarshalPKIXPublicKey(k.Public())
			if err != nil {
				t.Fatal(err)
			}
			pub := filepath.Join(dir, tk.name+".pub.pem")
			sigFile := filepath.Join(dir, tk.name+".sig")
			os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
			os.WriteFile(sigFile, sig, 0o600)

			var args []string
			switch {
			case tk.name == "ed25519":
				args = []string{"pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", file, "-sigfile", sigFile}
			case tk.name == "ecdsa-p384":
				args = []string{"dgst", "-sha384", "-verify", pub, "-signature", sigFile, file}
			case tk.pss:
				args = []string{"dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest", "-verify", pub, "-signature", sigFile, file}
			default:
				args = []string{"dgst", "-sha256", "-verify", pub, "-signature", sigFile, file}
			}
			out, err := exec.Command(openssl, args...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Verified Successfully") && !strings.Contains(string(out), "Verified OK") {
				t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
			}

			// The same check must fail for a different file, or it proves nothing.
			other := filepath.Join(dir, "other.bin")
			os.WriteFile(other, append(msg, 0), 0o600)
			for i, a := range args {
				if a == file {
					args[i] = other
				}
			}
			if out, err := exec.Command(openssl, args...).CombinedOutput(); err == nil {
				t.Fatalf("openssl accepted the signature for a different file:\n%s", out)
			}
		})
	}
}
