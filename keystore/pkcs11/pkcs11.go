// Package pkcs11 is the keystore's PKCS #11 backend: keys generated and
// used inside a hardware security module (or SoftHSM), never outside it.
//
// A [Token] is one PKCS #11 token, named by its module (the vendor's
// shared library) and its label or slot id. It implements
// [keystore.Token]: the keystore logs in with the user PIN while it is
// unlocked, and logs out — closing every session, so that no handle stays
// usable — when its lease ends.
//
// Keys are generated in the token with CKA_TOKEN, CKA_PRIVATE and
// CKA_SENSITIVE true and CKA_EXTRACTABLE false: the token refuses to
// reveal or export them, even to Signet. ECDSA (P-256, P-384) and RSA keys
// go through github.com/ThalesGroup/crypto11 (CKM_ECDSA, CKM_RSA_PKCS,
// CKM_RSA_PKCS_PSS); Ed25519, which crypto11 lacks, through
// github.com/miekg/pkcs11 with CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA
// (PKCS #11 3.0; SoftHSM 2.6 has them). Each key pair shares a random
// 16-byte CKA_ID and is labelled with the key name.
//
// Both libraries load the same module into the process. crypto11 owns its
// initialization (C_Initialize and, after its last context closes,
// C_Finalize); this package opens its own sessions alongside, for Ed25519
// and PIN changes, and closes them before crypto11 finalizes.
//
// What it does not do: protect against someone who can log into the token
// with the user PIN (by design only Signet can, see docs/custody.md), or
// detect a token replaced by a look-alike with the same label.
package pkcs11

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/ThalesGroup/crypto11"
	p11 "github.com/miekg/pkcs11"

	"github.com/signet-dev/signet/keystore"
)

// PKCS #11 3.0 constants for Ed25519, which miekg/pkcs11 v1.1 lacks.
const (
	ckkECEdwards        = 0x00000040
	ckmECEdwardsKeyGen  = 0x00001055
	ckmEdDSA            = 0x00001057
	maxEd25519Sessions  = 4
	defaultMaxSessions  = 16
	ed25519PublicKeyLen = 32
)

// oidEd25519 is the DER OBJECT IDENTIFIER 1.3.101.112, the CKA_EC_PARAMS
// of an Ed25519 key.
var oidEd25519 = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}

// Config names a token.
type Config struct {
	Module     string // path of the PKCS #11 module
	TokenLabel string // exactly one of TokenLabel and Slot
	Slot       *int   // slot id, as pkcs11-tool --list-slots prints it
}

// Token is a PKCS #11 token. It is safe for concurrent use.
type Token struct {
	cfg Config

	mu       sync.RWMutex
	c11      *crypto11.Context // nil while logged out
	mod      *p11.Ctx
	slot     uint
	sessions chan p11.SessionHandle // idle sessions for Ed25519

	smu  sync.Mutex          // guards open, which readers of mu append to
	open []p11.SessionHandle // every session this package opened
}

// New returns a Token for cfg. Nothing is loaded until Login.
func New(cfg Config) (*Token, error) {
	if cfg.Module == "" {
		return nil, errors.New("pkcs11: module is required: the path of the token's PKCS #11 library")
	}
	if (cfg.TokenLabel == "") == (cfg.Slot == nil) {
		return nil, errors.New("pkcs11: give exactly one of token_label and slot")
	}
	return &Token{cfg: cfg}, nil
}

func (t *Token) String() string {
	if t.cfg.Slot != nil {
		return fmt.Sprintf("pkcs11 slot %d of %s", *t.cfg.Slot, t.cfg.Module)
	}
	return fmt.Sprintf("pkcs11 token %q of %s", t.cfg.TokenLabel, t.cfg.Module)
}

// Login loads the module, finds the token and logs in with pin.
func (t *Token) Login(pin string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c11 != nil {
		return nil
	}
	c, err := crypto11.Configure(&crypto11.Config{
		Path: t.cfg.Module, TokenLabel: t.cfg.TokenLabel, SlotNumber: t.cfg.Slot, Pin: pin,
		MaxSessions: defaultMaxSessions,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", t, err)
	}
	mod, slot, err := t.attach()
	if err != nil {
		c.Close()
		return err
	}
	t.c11, t.mod, t.slot = c, mod, slot
	t.sessions = make(chan p11.SessionHandle, maxEd25519Sessions)
	return nil
}

// attach loads the module a second time for this package's own sessions
// (crypto11 has initialized it already) and finds the slot.
func (t *Token) attach() (*p11.Ctx, uint, error) {
	mod := p11.New(t.cfg.Module)
	if mod == nil {
		return nil, 0, fmt.Errorf("%s: cannot load the module", t)
	}
	if err := mod.Initialize(); err != nil && !isCode(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		mod.Destroy()
		return nil, 0, fmt.Errorf("%s: %w", t, err)
	}
	slot, err := findSlot(mod, t.cfg)
	if err != nil {
		mod.Destroy()
		return nil, 0, fmt.Errorf("%s: %w", t, err)
	}
	return mod, slot, nil
}

func findSlot(mod *p11.Ctx, cfg Config) (uint, error) {
	slots, err := mod.GetSlotList(true)
	if err != nil {
		return 0, err
	}
	for _, s := range slots {
		if cfg.Slot != nil {
			if uint(*cfg.Slot) == s {
				return s, nil
			}
			continue
		}
		info, err := mod.GetTokenInfo(s)
		if err == nil && info.Label == cfg.TokenLabel {
			return s, nil
		}
	}
	return 0, errors.New("no such token; 'pkcs11-tool --module MODULE --list-slots' lists them")
}

func isCode(err error, code uint) bool {
	var e p11.Error
	return errors.As(err, &e) && uint(e) == code
}

// Logout logs out and closes every session, then releases the module.
func (t *Token) Logout() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c11 == nil {
		return nil
	}
	var err error
	if s, serr := t.mod.OpenSession(t.slot, p11.CKF_SERIAL_SESSION); serr == nil {
		// Logging out is per application and token, not per session.
		if lerr := t.mod.Logout(s); lerr != nil && !isCode(lerr, p11.CKR_USER_NOT_LOGGED_IN) {
			err = lerr
		}
		t.open = append(t.open, s)
	}
	for _, s := range t.open {
		t.mod.CloseSession(s)
	}
	t.open, t.sessions = nil, nil
	t.mod.Destroy() // no C_Finalize: crypto11 does it when its last context closes
	t.mod = nil
	t.c11.Close()
	t.c11 = nil
	return err
}

// SetPIN changes the user PIN. The token must be logged out or logged in;
// either works.
func (t *Token) SetPIN(old, new string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	mod, slot, err := t.mod, t.slot, error(nil)
	if mod == nil {
		if mod, slot, err = t.attach(); err != nil {
			return err
		}
		// Without crypto11 this package initialized the module: finalize
		// it again so that a later Login starts clean.
		defer func() { mod.Finalize(); mod.Destroy() }()
	}
	s, err := mod.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("%s: %w", t, err)
	}
	defer mod.CloseSession(s)
	if err := mod.SetPIN(s, old, new); err != nil {
		return fmt.Errorf("%s: %w", t, err)
	}
	return nil
}

// Generate creates a key pair of type typ labelled label.
func (t *Token) Generate(typ keystore.Type, label string) ([]byte, crypto.PublicKey, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.c11 == nil {
		return nil, nil, errLoggedOut
	}
	id := make([]byte, 16)
	rand.Read(id)
	pub, priv, err := templates(id, label)
	if err != nil {
		return nil, nil, err
	}
	var s crypto11.Signer
	switch typ {
	case keystore.Ed25519:
		p, err := t.generateEd25519(id, label)
		return id, p, err
	case keystore.ECDSAP256:
		s, err = t.c11.GenerateECDSAKeyPairWithAttributes(pub, priv, elliptic.P256())
	case keystore.ECDSAP384:
		s, err = t.c11.GenerateECDSAKeyPairWithAttributes(pub, priv, elliptic.P384())
	case keystore.RSA3072:
		s, err = t.c11.GenerateRSAKeyPairWithAttributes(pub, priv, 3072)
	case keystore.RSA4096:
		s, err = t.c11.GenerateRSAKeyPairWithAttributes(pub, priv, 4096)
	default:
		return nil, nil, fmt.Errorf("key type %s cannot be generated in a PKCS #11 token; use ed25519, ecdsa-p256, ecdsa-p384, rsa-3072 or rsa-4096", typ)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: generating %s key: %w", t, typ, err)
	}
	return id, s.Public(), nil
}

// templates are the attributes of both halves of a new key pair: the
// private half can sign and can never leave the token.
func templates(id []byte, label string) (pub, priv crypto11.AttributeSet, err error) {
	pub, err = crypto11.NewAttributeSetWithIDAndLabel(id, []byte(label))
	if err != nil {
		return nil, nil, err
	}
	priv = pub.Copy()
	for _, a := range []struct {
		t crypto11.AttributeType
		v bool
	}{{crypto11.CkaToken, true}, {crypto11.CkaPrivate, true}, {crypto11.CkaSensitive, true}, {crypto11.CkaExtractable, false}, {crypto11.CkaSign, true}} {
		if err := priv.Set(a.t, a.v); err != nil {
			return nil, nil, err
		}
	}
	if err := pub.Set(crypto11.CkaToken, true); err != nil {
		return nil, nil, err
	}
	return pub, priv, nil
}

var errLoggedOut = errors.New("token is logged out: the keystore is locked")

// Signer returns the signer for private object id.
func (t *Token) Signer(id []byte, pub crypto.PublicKey) (crypto.Signer, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.c11 == nil {
		return nil, errLoggedOut
	}
	if ed, ok := pub.(ed25519.PublicKey); ok {
		return t.findEd25519(id, ed)
	}
	s, err := t.c11.FindKeyPair(id, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: finding key %x: %w", t, id, err)
	}
	if s == nil {
		return nil, fmt.Errorf("%s: no key pair with id %x: was it deleted from the token?", t, id)
	}
	if p, ok := s.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !p.Equal(pub) {
		return nil, fmt.Errorf("%s: key %x in the token is not the key the keystore records", t, id)
	}
	switch pub.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey:
		return &signer{t: t, s: s}, nil
	}
	return nil, fmt.Errorf("%s: unsupported public key %T", t, pub)
}

// signer holds the token's read lock while signing, so that Logout waits
// for signatures in progress and then no signature starts.
type signer struct {
	t *Token
	s crypto.Signer
}

func (s *signer) Public() crypto.PublicKey { return s.s.Public() }

func (s *signer) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	if s.t.c11 == nil {
		return nil, errLoggedOut
	}
	return s.s.Sign(rand, digest, opts)
}

// Probe checks that the token answers and that this process is logged in
// to it, by asking the state of a session (C_GetSessionInfo).
func (t *Token) Probe() error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.c11 == nil {
		return errLoggedOut
	}
	s, err := t.session()
	if err != nil {
		return fmt.Errorf("%s: %w", t, err)
	}
	info, err := t.mod.GetSessionInfo(s)
	if err != nil {
		// The session is dead; it stays in t.open until Logout closes it.
		return fmt.Errorf("%s: %w", t, err)
	}
	t.release(s)
	if info.State != p11.CKS_RO_USER_FUNCTIONS && info.State != p11.CKS_RW_USER_FUNCTIONS {
		return fmt.Errorf("%s: not logged in (session state %d): the token was reset or lost its login", t, info.State)
	}
	return nil
}

// session borrows an idle session for Ed25519, opening one if needed.
// t.mu is held for reading.
func (t *Token) session() (p11.SessionHandle, error) {
	select {
	case s := <-t.sessions:
		return s, nil
	default:
	}
	s, err := t.mod.OpenSession(t.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		return 0, err
	}
	t.smu.Lock()
	t.open = append(t.open, s)
	t.smu.Unlock()
	return s, nil
}

// release returns a session to the pool. t.mu is held for reading.
func (t *Token) release(s p11.SessionHandle) {
	select {
	case t.sessions <- s:
	default: // the pool is full; the session stays in t.open until Logout
	}
}

func (t *Token) generateEd25519(id []byte, label string) (ed25519.PublicKey, error) {
	s, err := t.session()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	defer t.release(s)
	common := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_ID, id),
		p11.NewAttribute(p11.CKA_LABEL, label),
		p11.NewAttribute(p11.CKA_KEY_TYPE, ckkECEdwards),
	}
	pubT := append([]*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
		p11.NewAttribute(p11.CKA_VERIFY, true),
		p11.NewAttribute(p11.CKA_EC_PARAMS, oidEd25519),
	}, common...)
	privT := append([]*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_SIGN, true),
	}, common...)
	pubH, _, err := t.mod.GenerateKeyPair(s, []*p11.Mechanism{p11.NewMechanism(ckmECEdwardsKeyGen, nil)}, pubT, privT)
	if err != nil {
		return nil, fmt.Errorf("%s: generating ed25519 key: %w", t, err)
	}
	return ed25519Public(t.mod, s, pubH)
}

// ed25519Public reads CKA_EC_POINT, which tokens return either raw or,
// as PKCS #11 3.0 says, as a DER OCTET STRING.
func ed25519Public(mod *p11.Ctx, s p11.SessionHandle, h p11.ObjectHandle) (ed25519.PublicKey, error) {
	attrs, err := mod.GetAttributeValue(s, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_EC_POINT, nil)})
	if err != nil {
		return nil, fmt.Errorf("reading the ed25519 public key: %w", err)
	}
	v := attrs[0].Value
	if len(v) == ed25519PublicKeyLen+2 && v[0] == 0x04 && v[1] == ed25519PublicKeyLen {
		v = v[2:]
	}
	if len(v) != ed25519PublicKeyLen {
		return nil, fmt.Errorf("ed25519 public key is %d bytes", len(v))
	}
	return ed25519.PublicKey(bytes.Clone(v)), nil
}

// findEd25519 finds the private and public objects of id.
func (t *Token) findEd25519(id []byte, pub ed25519.PublicKey) (crypto.Signer, error) {
	s, err := t.session()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	defer t.release(s)
	find := func(class uint) (p11.ObjectHandle, error) {
		tmpl := []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, class), p11.NewAttribute(p11.CKA_ID, id), p11.NewAttribute(p11.CKA_KEY_TYPE, ckkECEdwards)}
		if err := t.mod.FindObjectsInit(s, tmpl); err != nil {
			return 0, err
		}
		hs, _, err := t.mod.FindObjects(s, 2)
		t.mod.FindObjectsFinal(s)
		if err != nil {
			return 0, err
		}
		if len(hs) != 1 {
			return 0, fmt.Errorf("%d objects with id %x; want 1: was the key deleted from the token?", len(hs), id)
		}
		return hs[0], nil
	}
	pubH, err := find(p11.CKO_PUBLIC_KEY)
	if err != nil {
		return nil, fmt.Errorf("%s: ed25519 public key: %w", t, err)
	}
	got, err := ed25519Public(t.mod, s, pubH)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	if !got.Equal(pub) {
		return nil, fmt.Errorf("%s: key %x in the token is not the key the keystore records", t, id)
	}
	privH, err := find(p11.CKO_PRIVATE_KEY)
	if err != nil {
		return nil, fmt.Errorf("%s: ed25519 private key: %w", t, err)
	}
	return &ed25519Signer{t: t, h: privH, pub: pub}, nil
}

// ed25519Signer signs with CKM_EDDSA: pure Ed25519 over the whole message.
type ed25519Signer struct {
	t   *Token
	h   p11.ObjectHandle
	pub ed25519.PublicKey
}

func (e *ed25519Signer) Public() crypto.PublicKey { return e.pub }

func (e *ed25519Signer) Sign(_ io.Reader, message []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.Hash(0) {
		return nil, errors.New("ed25519 in a token signs whole messages (pure Ed25519) only")
	}
	if o, ok := opts.(*ed25519.Options); ok && o.Context != "" {
		return nil, errors.New("ed25519 contexts are not supported in a token")
	}
	t := e.t
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.c11 == nil {
		return nil, errLoggedOut
	}
	s, err := t.session()
	if err != nil {
		return nil, err
	}
	defer t.release(s)
	if err := t.mod.SignInit(s, []*p11.Mechanism{p11.NewMechanism(ckmEdDSA, nil)}, e.h); err != nil {
		return nil, err
	}
	return t.mod.Sign(s, message)
}
