package tssrsa

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	tss "github.com/cloudflare/circl/tss/rsa"
)

// testKey is generated once per test binary: keys for Shoup's scheme need
// safe primes, which take seconds for 1024 bits and minutes for 2048 on a
// busy machine. 1024 bits keep the test fast; the arithmetic does not
// depend on the size. Real keys are 3072 bits or more.
var testKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return tss.GenerateKey(rand.Reader, 1024) })

func key(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func verifier(pub *rsa.PublicKey, p Padding, digest []byte) func([]byte) error {
	return func(sig []byte) error {
		if p == PSS {
			return rsa.VerifyPSS(pub, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig)
	}
}

func sign(t *testing.T, shares []tss.KeyShare, pub *rsa.PublicKey, padded []byte, which ...int) []tss.SignShare {
	t.Helper()
	var out []tss.SignShare
	for _, i := range which {
		s, err := SignShare(rand.Reader, &shares[i-1], pub, padded)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// corrupt returns s with its share value changed, as a faulty or hostile
// server would send it.
func corrupt(t *testing.T, s tss.SignShare) tss.SignShare {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0x01
	var c tss.SignShare
	if err := c.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestOpenSSLVerifiesThresholdRSA signs with two of three shares, PKCS #1
// v1.5 and PSS over SHA-256, and has openssl verify both signatures (and
// refuse them for another file).
func TestOpenSSLVerifiesThresholdRSA(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is required by this test; run ./scripts/test, which installs it")
	}
	k := key(t)
	shares, err := Deal(rand.Reader, k, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPath := write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	data := []byte("rpm header bytes\n")
	dataPath := write("data", data)
	otherPath := write("other", append(slices.Clone(data), '!'))
	digest := sha256.Sum256(data)
	for _, tc := range []struct {
		name string
		p    Padding
		opts []string
	}{
		{"pkcs1v15", PKCS1v15, nil},
		{"pss", PSS, []string{"-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			salt, err := NewSalt(rand.Reader, tc.p, crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			padded, err := Pad(&k.PublicKey, tc.p, crypto.SHA256, digest[:], salt)
			if err != nil {
				t.Fatal(err)
			}
			// Every server pads for itself and arrives at the same bytes.
			again, err := Pad(&k.PublicKey, tc.p, crypto.SHA256, digest[:], salt)
			if err != nil || !slices.Equal(again, padded) {
				t.Fatalf("padding the same digest and salt twice differs (%v)", err)
			}
			sig, err := Combine(&k.PublicKey, 2, 3, sign(t, shares, &k.PublicKey, padded, 3, 1), padded, verifier(&k.PublicKey, tc.p, digest[:]))
			if err != nil {
				t.Fatal(err)
			}
			sigPath := write(tc.name+".sig", sig)
			run := func(file string) (string, error) {
				args := append([]string{"dgst", "-sha256", "-verify", pubPath}, tc.opts...)
				out, err := exec.Command("openssl", append(args, "-signature", sigPath, file)...).CombinedOutput()
				return string(out), err
			}
			if out, err := run(dataPath); err != nil || !strings.Contains(out, "Verified OK") {
				t.Fatalf("openssl refused the threshold %s signature: %v\n%s", tc.name, err, out)
			}
			if out, err := run(otherPath); err == nil {
				t.Fatalf("openssl accepted the signature for another file:\n%s", out)
			}
		})
	}
}

// TestCombineNamesBadShares corrupts shares and checks that Combine still
// signs when t good shares are there, names exactly the bad senders, and
// with only t shares of which one is bad refuses and lists the suspects.
func TestCombineNamesBadShares(t *testing.T) {
	k := key(t)
	pub := &k.PublicKey
	digest := sha256.Sum256([]byte("artifact"))
	padded, err := Pad(pub, PKCS1v15, crypto.SHA256, digest[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	verify := verifier(pub, PKCS1v15, digest[:])
	for _, tc := range []struct {
		name      string
		t, n      int
		ask       []int
		bad       []int
		wantSig   bool
		wantNamed []uint
		certain   bool
	}{
		{"2-of-3 all good", 2, 3, []int{1, 2, 3}, nil, true, nil, false},
		{"2-of-3 server 2 bad", 2, 3, []int{1, 2, 3}, []int{2}, true, []uint{2}, true},
		{"2-of-3 server 1 bad", 2, 3, []int{1, 2, 3}, []int{1}, true, []uint{1}, true},
		{"3-of-5 servers 1 and 4 bad", 3, 5, []int{1, 2, 3, 4, 5}, []int{1, 4}, true, []uint{1, 4}, true},
		{"2-of-3 only two asked, one bad", 2, 3, []int{1, 3}, []int{3}, false, []uint{1, 3}, false},
		{"2-of-3 two of three bad", 2, 3, []int{1, 2, 3}, []int{2, 3}, false, []uint{1, 2, 3}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shares, err := Deal(rand.Reader, k, tc.t, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			ss := sign(t, shares, pub, padded, tc.ask...)
			for i, idx := range tc.ask {
				if slices.Contains(tc.bad, idx) {
					ss[i] = corrupt(t, ss[i])
				}
			}
			sig, err := Combine(pub, tc.t, tc.n, ss, padded, verify)
			if tc.wantSig != (sig != nil) {
				t.Fatalf("signature returned: %v, want %v (err %v)", sig != nil, tc.wantSig, err)
			}
			if sig != nil {
				if err := verify(sig); err != nil {
					t.Fatalf("returned signature does not verify: %v", err)
				}
			}
			var be *BadSharesError
			if tc.wantNamed == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.As(err, &be) || !slices.Equal(be.Indices, tc.wantNamed) || be.Certain != tc.certain {
				t.Fatalf("got %v, want participants %v named (certain %v)", err, tc.wantNamed, tc.certain)
			}
		})
	}
}

func TestCombineRefusesMalformed(t *testing.T) {
	k := key(t)
	pub := &k.PublicKey
	shares, err := Deal(rand.Reader, k, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("x"))
	padded, err := Pad(pub, PKCS1v15, crypto.SHA256, digest[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	ss := sign(t, shares, pub, padded, 1, 2)
	verify := verifier(pub, PKCS1v15, digest[:])
	if _, err := Combine(pub, 2, 3, ss[:1], padded, verify); err == nil {
		t.Error("Combine accepted fewer than t shares")
	}
	// A share that was never filled in (a hand-made value) is a bad share,
	// not a crash.
	empty := tss.SignShare{Index: 3, Players: 3, Threshold: 2}
	sig, err := Combine(pub, 2, 3, []tss.SignShare{ss[0], empty, ss[1]}, padded, verify)
	var be *BadSharesError
	if sig == nil || !errors.As(err, &be) || !slices.Equal(be.Indices, []uint{3}) {
		t.Errorf("Combine with an empty share from 3: sig %v, err %v", sig != nil, err)
	}
	if _, err := Combine(pub, 2, 3, []tss.SignShare{ss[0], ss[0]}, padded, verify); err == nil {
		t.Error("Combine accepted one share twice")
	}
	for name, tc := range map[string]struct {
		p      Padding
		digest []byte
		salt   []byte
	}{
		"short digest":     {PKCS1v15, digest[:5], nil},
		"salt for v1.5":    {PKCS1v15, digest[:], make([]byte, 32)},
		"PSS without salt": {PSS, digest[:], nil},
		"PSS short salt":   {PSS, digest[:], make([]byte, 31)},
		"unknown padding":  {Padding(7), digest[:], nil},
	} {
		if _, err := Pad(pub, tc.p, crypto.SHA256, tc.digest, tc.salt); err == nil {
			t.Errorf("Pad accepted %s", name)
		}
	}
	s1, _ := NewSalt(rand.Reader, PSS, crypto.SHA256)
	s2, _ := NewSalt(rand.Reader, PSS, crypto.SHA256)
	p1, err1 := Pad(pub, PSS, crypto.SHA256, digest[:], s1)
	p2, err2 := Pad(pub, PSS, crypto.SHA256, digest[:], s2)
	if err1 != nil || err2 != nil || slices.Equal(p1, p2) {
		t.Errorf("PSS representatives for two salts: equal=%v, %v %v", slices.Equal(p1, p2), err1, err2)
	}
	if _, err := Deal(rand.Reader, k, 1, 3); err == nil {
		t.Error("Deal accepted a 1-of-3 threshold")
	}
}
