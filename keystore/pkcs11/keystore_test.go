package pkcs11

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/keystore"
)

// TestKeystoreWithToken runs a keystore whose "hsm-*" keys live in a
// SoftHSM2 token: enrollment, creation, signing verified by openssl, lock
// and unlock cycles (logout and login), and a reopened keystore finding
// its token keys again.
func TestKeystoreWithToken(t *testing.T) {
	h := newSoftHSM(t, "signet")
	dir := filepath.Join(t.TempDir(), "ks")
	pass := []byte("token test passphrase")
	if err := keystore.Init(dir, pass); err != nil {
		t.Fatal(err)
	}
	open := func() (*keystore.Keyring, *Token) {
		d, err := keystore.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		tok := h.token(t)
		if err := d.AddToken("hsm", []string{"hsm-*"}, tok); err != nil {
			t.Fatal(err)
		}
		return keystore.NewKeyring(d, keystore.Timeouts{IdleTTL: time.Hour}), tok
	}
	k, tok := open()
	if err := k.Unlock("admin", pass, nil); err != nil {
		t.Fatal(err)
	}
	// Not enrolled yet: the token's PIN is still the one it was
	// initialized with, so the keystore cannot log in.
	st := k.Status()
	if len(st.Tokens) != 1 || st.Tokens[0].LoggedIn || !strings.Contains(st.Tokens[0].Error, "signet hsm enroll hsm") {
		t.Fatalf("token status before enrollment: %+v", st.Tokens)
	}
	if _, err := k.Create(keystore.Spec{Name: "hsm-release", Type: keystore.ECDSAP256}); !errors.Is(err, keystore.ErrUnavailable) {
		t.Fatalf("Create before enrollment: %v", err)
	}
	if err := k.ProbeTokens(context.Background()); !errors.Is(err, keystore.ErrUnavailable) || !strings.Contains(err.Error(), `token "hsm"`) {
		t.Fatalf("readiness probe before enrollment: %v", err)
	}
	if err := k.EnrollToken("hsm", "0000", nil); err == nil {
		t.Fatal("enrollment with a wrong PIN succeeded")
	}
	if err := k.EnrollToken("hsm", userPIN, nil); err != nil {
		t.Fatal(err)
	}
	// The user PIN is no longer the one a person chose.
	if out, err := runPkcs11Tool(h, userPIN, "--list-objects"); err == nil {
		t.Fatalf("the initial PIN still logs in after enrollment:\n%s", out)
	}

	msg := []byte("release 1.0\n")
	types := map[string]keystore.Type{"hsm-ed": keystore.Ed25519, "hsm-p256": keystore.ECDSAP256, "hsm-rsa": keystore.RSA3072, "file-key": keystore.Ed25519}
	for name, typ := range types {
		key, err := k.Create(keystore.Spec{Name: name, Type: typ})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]string{true: "hsm", false: ""}[strings.HasPrefix(name, "hsm-")]; key.Backend != want {
			t.Fatalf("%s: backend %q, want %q", name, key.Backend, want)
		}
	}
	signAll := func() {
		t.Helper()
		for name, typ := range types {
			s, err := k.Signer(name)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := signMessage(s, typ, msg, false)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			key, _ := k.Key(name)
			if err := opensslVerify(t, typ, key.Public, msg, sig, false); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	signAll()
	// The token key files hold no private key: only the sealed object id.
	data, err := os.ReadFile(filepath.Join(dir, "keys", "hsm-p256.json"))
	if err != nil {
		t.Fatal(err)
	}
	var kf struct {
		Backend string
		Sealed  []byte
	}
	if json.Unmarshal(data, &kf); kf.Backend != "hsm" || len(kf.Sealed) != 16+16 {
		t.Fatalf("token key file: backend %q, %d sealed bytes", kf.Backend, len(kf.Sealed))
	}

	for range 2 {
		held, _ := k.Signer("hsm-p256")
		k.Lock()
		if tok.c11 != nil || tok.mod != nil || len(tok.open) != 0 {
			t.Fatal("the token is still logged in with sessions open after Lock")
		}
		if st := k.Status(); st.Tokens[0].LoggedIn {
			t.Fatal("status shows the token logged in after Lock")
		}
		if _, err := signMessage(held, keystore.ECDSAP256, msg, false); !errors.Is(err, keystore.ErrLocked) {
			t.Fatalf("signing after Lock: %v", err)
		}
		if err := k.Unlock("admin", pass, nil); err != nil {
			t.Fatal(err)
		}
		signAll()
	}

	// A session error in the middle of a lease is reported as
	// ErrUnavailable, naming the token; the next Signer logs in again.
	if err := tok.mod.CloseAllSessions(tok.slot); err != nil {
		t.Fatal(err)
	}
	s, _ := k.Signer("hsm-p256")
	if _, err := signMessage(s, keystore.ECDSAP256, msg, false); !errors.Is(err, keystore.ErrUnavailable) || !strings.Contains(err.Error(), `token "hsm"`) {
		t.Fatalf("signing after the sessions were closed: %v", err)
	}
	signAll()

	// Readiness: the probe finds a token whose sessions were all closed,
	// logs in again, and the next signature works without failing first.
	if err := k.ProbeTokens(context.Background()); err != nil {
		t.Fatalf("readiness probe of a healthy token: %v", err)
	}
	if err := tok.mod.CloseAllSessions(tok.slot); err != nil {
		t.Fatal(err)
	}
	if err := k.ProbeTokens(context.Background()); err != nil {
		t.Fatalf("readiness probe after the sessions were closed: %v", err)
	}
	s, _ = k.Signer("hsm-p256")
	if _, err := signMessage(s, keystore.ECDSAP256, msg, false); err != nil {
		t.Fatalf("signing after a probe logged in again: %v", err)
	}
	k.Lock()
	if err := tok.Probe(); err == nil {
		t.Fatal("the token answers a probe as logged in after Lock")
	}
	if err := k.Unlock("admin", pass, nil); err != nil {
		t.Fatal(err)
	}
	k.Lock()

	// A fresh process: the keystore finds its token keys by their sealed ids.
	k2, _ := open()
	if err := k2.Unlock("admin", pass, nil); err != nil {
		t.Fatal(err)
	}
	k = k2
	signAll()
	k2.Lock()

	// Editing a token key's usage is detected at unlock.
	var m map[string]any
	json.Unmarshal(data, &m)
	m["usage"] = "pgp"
	edited, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, "keys", "hsm-p256.json"), edited, 0o600); err != nil {
		t.Fatal(err)
	}
	k3, _ := open()
	if err := k3.Unlock("admin", pass, nil); err == nil || !strings.Contains(err.Error(), "hsm-p256.json") {
		t.Fatalf("unlock with an edited token key file: %v", err)
	}
}

func runPkcs11Tool(h softHSM, pin string, args ...string) (string, error) {
	args = append([]string{"--module", h.Module, "--token-label", h.Label, "--login", "--pin", pin}, args...)
	out, err := execCommand("pkcs11-tool", args...)
	return out, err
}
