package pkcs11

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-dev/signet/keystore"
)

const (
	soPIN   = "1234"
	userPIN = "5678"
)

// Module finds the SoftHSM2 module of Debian's softhsm2 package.
func module(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("SoftHSM2 is required (Debian package softhsm2); run ./scripts/test, which installs it")
	return ""
}

// SoftHSM is a fresh SoftHSM2 token in a temporary directory, selected by
// SOFTHSM2_CONF for this test only.
type softHSM struct {
	Module, Label string
}

// NewSoftHSM initializes a token labelled label with user PIN userPIN.
func newSoftHSM(t testing.TB, label string) softHSM {
	t.Helper()
	mod := module(t)
	for _, tool := range []string{"softhsm2-util", "pkcs11-tool", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required; run ./scripts/test, which installs it", tool)
		}
	}
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "tokens"), 0o700)
	conf := filepath.Join(dir, "softhsm2.conf")
	os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"), 0o600)
	t.Setenv("SOFTHSM2_CONF", conf)
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", soPIN, "--pin", userPIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return softHSM{Module: mod, Label: label}
}

func (h softHSM) token(t testing.TB) *Token {
	tok, err := New(Config{Module: h.Module, TokenLabel: h.Label})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Logout() })
	return tok
}

// pkcs11Tool runs pkcs11-tool on the token.
func (h softHSM) pkcs11Tool(t *testing.T, pin string, args ...string) string {
	t.Helper()
	args = append([]string{"--module", h.Module, "--token-label", h.Label, "--login", "--pin", pin}, args...)
	out, err := exec.Command("pkcs11-tool", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool %s: %v\n%s", strings.Join(args[6:], " "), err, out)
	}
	return string(out)
}

// opensslVerify checks sig over msg with pub using the openssl command.
func opensslVerify(t *testing.T, typ keystore.Type, pub crypto.PublicKey, msg, sig []byte, pss bool) error {
	t.Helper()
	dir := t.TempDir()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	p := func(n string) string { return filepath.Join(dir, n) }
	os.WriteFile(p("pub.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	os.WriteFile(p("msg"), msg, 0o600)
	os.WriteFile(p("sig"), sig, 0o600)
	var args []string
	switch {
	case typ == keystore.Ed25519:
		args = []string{"pkeyutl", "-verify", "-pubin", "-inkey", p("pub.pem"), "-rawin", "-in", p("msg"), "-sigfile", p("sig")}
	case typ == keystore.ECDSAP384:
		args = []string{"dgst", "-sha384", "-verify", p("pub.pem"), "-signature", p("sig"), p("msg")}
	case pss:
		args = []string{"dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest", "-verify", p("pub.pem"), "-signature", p("sig"), p("msg")}
	default:
		args = []string{"dgst", "-sha256", "-verify", p("pub.pem"), "-signature", p("sig"), p("msg")}
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("openssl %s: %v: %s", args[0], err, out)
	}
	return nil
}

// signMessage signs msg as the raw format would: whole for Ed25519, a
// SHA-256 or SHA-384 digest otherwise.
func signMessage(s crypto.Signer, typ keystore.Type, msg []byte, pss bool) ([]byte, error) {
	switch typ {
	case keystore.Ed25519:
		return s.Sign(rand.Reader, msg, crypto.Hash(0))
	case keystore.ECDSAP384:
		d := sha512.Sum384(msg)
		return s.Sign(rand.Reader, d[:], crypto.SHA384)
	}
	d := sha256.Sum256(msg)
	if pss {
		return s.Sign(rand.Reader, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	}
	return s.Sign(rand.Reader, d[:], crypto.SHA256)
}

// TestTokenKeys generates a key of every type in a real SoftHSM2 token,
// signs in the token, verifies with openssl (a different message must
// fail), and proves with pkcs11-tool and C_GetAttributeValue that the
// private objects are sensitive and not extractable.
func TestTokenKeys(t *testing.T) {
	h := newSoftHSM(t, "signet-test")
	tok := h.token(t)
	if err := tok.Login("0000"); err == nil || !strings.Contains(err.Error(), "CKR_PIN_INCORRECT") {
		t.Fatalf("Login with a wrong PIN: %v", err)
	}
	if err := tok.Login(userPIN); err != nil {
		t.Fatal(err)
	}
	msg := []byte("signed inside the token\n")
	ids := map[keystore.Type][]byte{}
	for _, typ := range []keystore.Type{keystore.Ed25519, keystore.ECDSAP256, keystore.ECDSAP384, keystore.RSA3072, keystore.RSA4096} {
		t.Run(string(typ), func(t *testing.T) {
			id, pub, err := tok.Generate(typ, "key-"+string(typ))
			if err != nil {
				t.Fatal(err)
			}
			ids[typ] = id
			s, err := tok.Signer(id, pub)
			if err != nil {
				t.Fatal(err)
			}
			for _, pss := range []bool{false, true} {
				if pss && typ != keystore.RSA3072 && typ != keystore.RSA4096 {
					continue
				}
				sig, err := signMessage(s, typ, msg, pss)
				if err != nil {
					t.Fatalf("pss=%v: %v", pss, err)
				}
				if err := opensslVerify(t, typ, pub, msg, sig, pss); err != nil {
					t.Fatalf("pss=%v: %v", pss, err)
				}
				if err := opensslVerify(t, typ, pub, []byte("another message\n"), sig, pss); err == nil {
					t.Fatalf("pss=%v: openssl accepted the signature for another message", pss)
				}
			}
			if typ == keystore.Ed25519 && !ed25519.Verify(pub.(ed25519.PublicKey), msg, mustSign(t, s, msg)) {
				t.Fatal("ed25519 signature does not verify in Go")
			}
		})
	}
	t.Run("non-extractable", func(t *testing.T) {
		out := h.pkcs11Tool(t, userPIN, "--list-objects", "--type", "privkey")
		blocks := strings.Split(out, "Private Key Object")[1:]
		if len(blocks) != len(ids) {
			t.Fatalf("pkcs11-tool lists %d private keys, want %d:\n%s", len(blocks), len(ids), out)
		}
		access := regexp.MustCompile(`Access:\s+(.*)`)
		for _, b := range blocks {
			m := access.FindStringSubmatch(b)
			if m == nil || !strings.Contains(m[1], "always sensitive") || !strings.Contains(m[1], "never extractable") || !strings.Contains(m[1], "local") {
				t.Errorf("private key is not sensitive, never extractable and generated in the token:\n%s", b)
			}
		}
		for typ, id := range ids {
			if !strings.Contains(out, "ID:         "+hex.EncodeToString(id)) {
				t.Errorf("pkcs11-tool does not list the %s key %x", typ, id)
			}
		}
		// Ask the token itself for the secret values: it must refuse.
		s, err := tok.mod.OpenSession(tok.slot, p11.CKF_SERIAL_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		defer tok.mod.CloseSession(s)
		for typ, id := range ids {
			tok.mod.FindObjectsInit(s, []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY), p11.NewAttribute(p11.CKA_ID, id)})
			hs, _, err := tok.mod.FindObjects(s, 2)
			tok.mod.FindObjectsFinal(s)
			if err != nil || len(hs) != 1 {
				t.Fatalf("%s: %d objects, %v", typ, len(hs), err)
			}
			secret := uint(p11.CKA_VALUE)
			if typ == keystore.RSA3072 || typ == keystore.RSA4096 {
				secret = p11.CKA_PRIVATE_EXPONENT
			}
			_, err = tok.mod.GetAttributeValue(s, hs[0], []*p11.Attribute{p11.NewAttribute(secret, nil)})
			if !isCode(err, p11.CKR_ATTRIBUTE_SENSITIVE) {
				t.Errorf("%s: reading the private value: %v; want CKR_ATTRIBUTE_SENSITIVE", typ, err)
			}
			attrs, err := tok.mod.GetAttributeValue(s, hs[0], []*p11.Attribute{p11.NewAttribute(p11.CKA_SENSITIVE, nil), p11.NewAttribute(p11.CKA_EXTRACTABLE, nil)})
			if err != nil || attrs[0].Value[0] != 1 || attrs[1].Value[0] != 0 {
				t.Errorf("%s: CKA_SENSITIVE, CKA_EXTRACTABLE = %v, %v", typ, attrs, err)
			}
		}
	})
	t.Run("logout-login", func(t *testing.T) {
		id := ids[keystore.ECDSAP256]
		s, err := tok.Signer(id, mustPublic(t, tok, id))
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := tok.Logout(); err != nil {
				t.Fatal(err)
			}
			if _, err := signMessage(s, keystore.ECDSAP256, msg, false); !errors.Is(err, errLoggedOut) {
				t.Fatalf("signing after Logout: %v", err)
			}
			if err := tok.Login(userPIN); err != nil {
				t.Fatal(err)
			}
			s, err = tok.Signer(id, mustPublic(t, tok, id))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := signMessage(s, keystore.ECDSAP256, msg, false); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("session-error", func(t *testing.T) {
		id := ids[keystore.ECDSAP256]
		s, err := tok.Signer(id, mustPublic(t, tok, id))
		if err != nil {
			t.Fatal(err)
		}
		// Something closes every session of the application, as a token
		// reset would: signing must fail with the token's error.
		if err := tok.mod.CloseAllSessions(tok.slot); err != nil {
			t.Fatal(err)
		}
		_, err = signMessage(s, keystore.ECDSAP256, msg, false)
		if err == nil || !strings.Contains(err.Error(), "CKR_") {
			t.Fatalf("signing after the sessions were closed: %v", err)
		}
	})
}

func mustSign(t *testing.T, s crypto.Signer, msg []byte) []byte {
	sig, err := s.Sign(nil, msg, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// mustPublic finds the public key of id through crypto11.
func mustPublic(t *testing.T, tok *Token, id []byte) crypto.PublicKey {
	t.Helper()
	s, err := tok.c11.FindKeyPair(id, nil)
	if err != nil || s == nil {
		t.Fatalf("FindKeyPair(%x): %v", id, err)
	}
	return s.Public()
}

func TestSetPIN(t *testing.T) {
	h := newSoftHSM(t, "pin-test")
	tok := h.token(t)
	if err := tok.SetPIN("0000", "new-pin-1"); err == nil {
		t.Fatal("SetPIN with a wrong old PIN succeeded")
	}
	if err := tok.SetPIN(userPIN, "new-pin-1"); err != nil {
		t.Fatal(err)
	}
	if err := tok.Login(userPIN); err == nil {
		t.Fatal("the old PIN still logs in")
	}
	if err := tok.Login("new-pin-1"); err != nil {
		t.Fatal(err)
	}
	if err := tok.SetPIN("new-pin-1", "new-pin-2"); err != nil {
		t.Fatalf("SetPIN while logged in: %v", err)
	}
	tok.Logout()
	if err := tok.Login("new-pin-2"); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	one := 1
	for _, c := range []Config{{}, {Module: "/x.so"}, {Module: "/x.so", TokenLabel: "a", Slot: &one}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
	tok, _ := New(Config{Module: "/nonexistent/module.so", TokenLabel: "a"})
	if err := tok.Login("1"); err == nil || !strings.Contains(err.Error(), "/nonexistent/module.so") {
		t.Fatalf("Login with a missing module: %v", err)
	}
	h := newSoftHSM(t, "present")
	tok, _ = New(Config{Module: h.Module, TokenLabel: "absent"})
	if err := tok.Login(userPIN); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Fatalf("Login to a missing token: %v", err)
	}
}

func execCommand(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
