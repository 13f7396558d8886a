package keystore

import (
	"context"
	"crypto"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeToken is a Token whose health the test sets: it answers probes
// with probeErr, or not at all while hang is open, and counts logins.
type fakeToken struct {
	mu       sync.Mutex
	loggedIn bool // Probe fails while false, as a device that lost its login
	loginErr error
	probeErr error
	hang     chan struct{} // probes block until it is closed; nil: they answer
	probes   int
}

func (f *fakeToken) Login(string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loginErr != nil {
		return f.loginErr
	}
	f.loggedIn = true
	return nil
}
func (f *fakeToken) Logout() error               { return nil }
func (f *fakeToken) SetPIN(string, string) error { return nil }
func (f *fakeToken) Generate(Type, string) ([]byte, crypto.PublicKey, error) {
	return nil, nil, errors.New("fake token generates nothing")
}
func (f *fakeToken) Signer([]byte, crypto.PublicKey) (crypto.Signer, error) {
	return nil, errors.New("fake token has no keys")
}
func (f *fakeToken) String() string { return "fake token" }

func (f *fakeToken) Probe() error {
	f.mu.Lock()
	f.probes++
	hang, err := f.hang, f.probeErr
	if err == nil && !f.loggedIn {
		err = errors.New("CKR_USER_NOT_LOGGED_IN")
	}
	f.mu.Unlock()
	if hang != nil {
		<-hang
	}
	return err
}

func (f *fakeToken) set(fn func(*fakeToken)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// TestProbeTokens checks readiness probes of tokens: nothing to probe
// while locked; a healthy token passes; a token that lost its login is
// logged in again, as a signature would; one that cannot log in, or
// answers with an error, is reported unavailable by name; and one that
// hangs is reported within the caller's deadline, with no second probe
// piling onto it.
func TestProbeTokens(t *testing.T) {
	d, _ := newStore(t)
	tok := &fakeToken{}
	if err := d.AddToken("hsm", []string{"hsm-*"}, tok); err != nil {
		t.Fatal(err)
	}
	k := NewKeyring(d, Timeouts{})
	ctx := context.Background()
	if err := k.ProbeTokens(ctx); err != nil {
		t.Fatalf("probe while locked: %v", err)
	}
	if err := k.Unlock("admin", pass, nil); err != nil {
		t.Fatal(err)
	}
	if err := k.ProbeTokens(ctx); err != nil {
		t.Fatalf("probe of a healthy token: %v", err)
	}

	// The device lost its login: the probe fails, logs in again, passes.
	tok.set(func(f *fakeToken) { f.loggedIn = false })
	if err := k.ProbeTokens(ctx); err != nil {
		t.Fatalf("probe after a lost login: %v", err)
	}

	// A device that keeps failing is unavailable, by name.
	tok.set(func(f *fakeToken) { f.probeErr = errors.New("CKR_DEVICE_REMOVED") })
	err := k.ProbeTokens(ctx)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), `token "hsm"`) || !strings.Contains(err.Error(), "CKR_DEVICE_REMOVED") {
		t.Fatalf("probe of a removed device: %v", err)
	}

	// A device that refuses the login is unavailable too.
	tok.set(func(f *fakeToken) { f.probeErr, f.loginErr = nil, errors.New("CKR_PIN_INCORRECT") })
	k.Lock()
	if err := k.Unlock("admin", pass, nil); err != nil {
		t.Fatal(err)
	}
	if err := k.ProbeTokens(ctx); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "CKR_PIN_INCORRECT") {
		t.Fatalf("probe of a token refusing the login: %v", err)
	}
	tok.set(func(f *fakeToken) { f.loginErr = nil })
	if err := k.ProbeTokens(ctx); err != nil {
		t.Fatalf("probe once the login works again: %v", err)
	}

	// A device that hangs: the probe returns at the deadline, and the
	// next one does not ask the device again while the first waits.
	hang := make(chan struct{})
	tok.set(func(f *fakeToken) { f.hang, f.probes = hang, 0 })
	for range 3 {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err := k.ProbeTokens(short)
		cancel()
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("probe of a hanging token: %v", err)
		}
	}
	tok.mu.Lock()
	probes := tok.probes
	tok.hang = nil
	tok.mu.Unlock()
	if probes != 1 {
		t.Errorf("a hanging token was probed %d times; want 1", probes)
	}
	close(hang)
	for {
		err := k.ProbeTokens(ctx)
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "has not returned") {
			t.Fatalf("probe after the token answers again: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}
