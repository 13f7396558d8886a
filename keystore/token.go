package keystore

import (
	"context"
	"crypto"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"slices"
	"sync/atomic"
)

// A Token is a hardware security module, or SoftHSM, that generates keys
// and signs inside itself: its private keys never leave it. Package
// keystore/pkcs11 implements it for PKCS #11 tokens.
//
// The keystore still keeps a key file for every token key, holding its
// public key, usage and creation time and, sealed under the KEK, the
// token's id for the private object: the token stores the key, the
// keystore what it is for.
type Token interface {
	// Login opens the token's sessions with the user PIN.
	Login(pin string) error
	// Logout ends the login and closes every session. After it no
	// Signer from the token works.
	Logout() error
	// SetPIN changes the user PIN from old to new.
	SetPIN(old, new string) error
	// Generate creates a non-extractable key pair of type t labelled
	// label and returns the id of its private object.
	Generate(t Type, label string) (id []byte, pub crypto.PublicKey, err error)
	// Signer returns a signer for the private object id whose public
	// key is pub. Login must have succeeded.
	Signer(id []byte, pub crypto.PublicKey) (crypto.Signer, error)
	// String describes the token for status and errors.
	String() string
}

// token is a Token attached to a Dir.
type token struct {
	name string
	dev  Token
	keys []string // patterns of the key names created in it
	in   bool     // logged in
	err  error    // why the last login failed, while unlocked

	// broken is set when a signature fails in the token (a lost session,
	// a reset device): the next Signer logs in again.
	broken atomic.Bool
	// probing is set while a readiness probe of the token runs, so that a
	// token that hangs is asked by one probe at a time, not one per check.
	probing atomic.Bool
}

// A Prober is a Token that can tell quickly whether it answers and this
// process is logged in to it. keystore/pkcs11.Token is one.
type Prober interface {
	Probe() error
}

// TokenStatus describes an attached token.
type TokenStatus struct {
	Name     string   `json:"name"`
	Device   string   `json:"device"`
	Keys     []string `json:"keys"` // patterns of the key names it holds
	LoggedIn bool     `json:"logged_in"`
	Error    string   `json:"error,omitempty"`
}

// AddToken attaches a token named name to d: keys whose names match one of
// the patterns (path.Match syntax) are created in it, and their key files
// name it. Attach every token before the first Unlock.
func (d *Dir) AddToken(name string, keys []string, dev Token) error {
	if err := ValidName(name); err != nil {
		return fmt.Errorf("token name: %w", err)
	}
	for _, p := range keys {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("token %q: bad key pattern %q: %w", name, p, err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range d.tokens {
		if t.name == name {
			return fmt.Errorf("token %q is attached twice", name)
		}
	}
	d.tokens = append(d.tokens, &token{name: name, dev: dev, keys: keys})
	return nil
}

// Tokens describes the attached tokens.
func (d *Dir) Tokens() []TokenStatus {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []TokenStatus
	for _, t := range d.tokens {
		ts := TokenStatus{Name: t.name, Device: t.dev.String(), Keys: t.keys, LoggedIn: t.in}
		if t.err != nil {
			ts.Error = t.err.Error()
		}
		out = append(out, ts)
	}
	return out
}

// route returns the token a new key named name goes to, or nil for the
// file. d.mu is held.
func (d *Dir) route(name string) *token {
	for _, t := range d.tokens {
		for _, p := range t.keys {
			if ok, _ := path.Match(p, name); ok {
				return t
			}
		}
	}
	return nil
}

func (d *Dir) tokenNamed(name string) *token {
	for _, t := range d.tokens {
		if t.name == name {
			return t
		}
	}
	return nil
}

// tokenPIN is the user PIN of token name: derived from the KEK, so that it
// is available exactly while the keystore is unlocked and no person needs
// to know it (see EnrollToken).
func tokenPIN(kek []byte, name string) string {
	k, err := hkdf.Key(sha256.New, kek, nil, "signet pkcs11 user pin v1\x00"+name, 16)
	if err != nil {
		panic("keystore: hkdf: " + err.Error()) // unreachable: the length is fixed
	}
	return hex.EncodeToString(k)
}

// login logs into t and attaches the signers of its keys. d.mu is held
// for writing and d is unlocked. A failure is kept in t.err: the keys of
// that token stay unavailable, the others work.
func (d *Dir) login(t *token) {
	if t.in {
		return
	}
	if err := t.dev.Login(tokenPIN(d.kek, t.name)); err != nil {
		t.err = fmt.Errorf("token %q (%s): login failed: %w; if the token is new, run 'signet hsm enroll %s'", t.name, t.dev, err, t.name)
		return
	}
	t.in, t.err = true, nil
	for _, s := range d.slots {
		for _, vs := range s.loaded() {
			d.attach(t, vs)
		}
	}
}

// attach gives vs, a key pair in t, the token's signer. d.mu is held for
// writing and t is logged in.
func (d *Dir) attach(t *token, vs *versionSigner) {
	if vs.backend != t.name {
		return
	}
	sk := vs.sealed()
	if sk == nil || sk.objectID == nil {
		return
	}
	sg, err := t.dev.Signer(sk.objectID, vs.pub)
	if err != nil {
		t.err = fmt.Errorf("token %q (%s): key %q: %w", t.name, t.dev, vs.s.rec.key.Name, err)
		return
	}
	vs.priv = sg
}

// logout ends the login of t and drops its signers. d.mu is held for
// writing.
func (d *Dir) logout(t *token) {
	for _, s := range d.slots {
		for _, vs := range s.loaded() {
			if vs.backend == t.name {
				vs.priv = nil
			}
		}
	}
	if t.in {
		t.dev.Logout() // the session is gone either way
	}
	t.in, t.err = false, nil
}

// reconnect retries the login of token name after a failure.
func (d *Dir) reconnect(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tokenNamed(name)
	if t == nil {
		return fmt.Errorf("%w: the key is in token %q, which the configuration does not attach (keystore.pkcs11)", ErrUnavailable, name)
	}
	if d.kek == nil {
		return ErrLocked
	}
	d.logout(t)
	d.login(t)
	if t.err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, t.err)
	}
	t.broken.Store(false)
	return nil
}

// loggedIn logs into t unless it is logged in and working. Logging in
// again would invalidate the signers handed out in the current login, as
// PKCS #11 object handles belong to their sessions.
func (d *Dir) loggedIn(t *token) error {
	d.mu.RLock()
	ok := t.in && !t.broken.Load()
	d.mu.RUnlock()
	if ok {
		return nil
	}
	return d.reconnect(t.name)
}

// tokenBroken reports whether the token of a key needs a new login. d.mu
// is held for reading.
func (d *Dir) tokenBroken(backend string) bool {
	if backend == "" {
		return false
	}
	t := d.tokenNamed(backend)
	return t == nil || t.broken.Load()
}

// EnrollToken hands token name over to the keystore: it changes the
// token's user PIN from currentPIN (set when the token was initialized) to
// one derived from the KEK, then logs in. From then on the token opens
// exactly when the keystore is unlocked, and nobody knows its user PIN; the
// security officer PIN can still reset it. d must be unlocked.
func (d *Dir) EnrollToken(name, currentPIN string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tokenNamed(name)
	if t == nil {
		return fmt.Errorf("enroll token %q: %w: no such token in the configuration (keystore.pkcs11)", name, ErrNotFound)
	}
	if d.kek == nil {
		return fmt.Errorf("enroll token %q: %w; run 'signet unlock' first", name, ErrLocked)
	}
	d.logout(t)
	if err := t.dev.SetPIN(currentPIN, tokenPIN(d.kek, name)); err != nil {
		return fmt.Errorf("enroll token %q (%s): changing the user PIN: %w: %v", name, t.dev, ErrBadPassphrase, err)
	}
	d.login(t)
	if t.err != nil {
		return fmt.Errorf("enroll token %q: %w", name, t.err)
	}
	return nil
}

// ProbeTokens checks, within ctx, that every attached token answers and is
// logged in, for readiness. A token that lost its login (a reset device,
// closed sessions) is logged in again first, as the next signature would
// be, so the answer is whether a signature could be made now. It returns
// nil while locked: there is nothing to probe then. A token that does not
// answer before ctx ends is reported as unavailable; its probe goes on in
// the background, and no second one starts until it returns.
func (k *Keyring) ProbeTokens(ctx context.Context) error { return k.dir.ProbeTokens(ctx) }

// ProbeTokens is Keyring.ProbeTokens.
func (d *Dir) ProbeTokens(ctx context.Context) error {
	d.mu.RLock()
	locked := d.kek == nil
	tokens := slices.Clone(d.tokens)
	d.mu.RUnlock()
	if locked {
		return nil
	}
	var errs []error
	for _, t := range tokens {
		if err := d.probeToken(ctx, t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *Dir) probeToken(ctx context.Context, t *token) error {
	if !t.probing.CompareAndSwap(false, true) {
		return fmt.Errorf("token %q (%s): %w: an earlier probe has not returned yet", t.name, t.dev, ErrUnavailable)
	}
	done := make(chan error, 1)
	go func() {
		err := d.checkToken(t)
		// Done before the answer is: a probe that follows the answer must
		// not find this one still running.
		t.probing.Store(false)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("token %q (%s): %w: no answer to a probe: %v", t.name, t.dev, ErrUnavailable, ctx.Err())
	}
}

// checkToken logs into t again if it needs it, then asks it whether it
// answers and is logged in; if not, it tries one new login.
func (d *Dir) checkToken(t *token) error {
	d.mu.RLock()
	healthy := t.in && t.err == nil && !t.broken.Load()
	d.mu.RUnlock()
	if !healthy {
		if err := d.reconnect(t.name); err != nil {
			return fmt.Errorf("token %q: %w", t.name, err)
		}
	}
	p, ok := t.dev.(Prober)
	if !ok {
		return nil
	}
	err := p.Probe()
	if err == nil {
		return nil
	}
	if rerr := d.reconnect(t.name); rerr != nil {
		return fmt.Errorf("token %q (%s): %w: %v", t.name, t.dev, ErrUnavailable, err)
	}
	if err := p.Probe(); err != nil {
		return fmt.Errorf("token %q (%s): %w: %v", t.name, t.dev, ErrUnavailable, err)
	}
	return nil
}
