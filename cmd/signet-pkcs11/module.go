package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/format/raw"
)

// config is where the module's one slot points.
type config struct {
	vars     map[string]string // SIGNET_* settings
	label    string            // the token's label
	artifact string            // the artifact name signatures are requested and recorded under
	keys     []string          // patterns of the key names exposed; nil: all
}

// loadConfig reads the settings: the file named by SIGNET_PKCS11_CONFIG
// (KEY=VALUE lines, as in the client.env that 'signet serve --dev'
// writes; "export " and quotes are allowed), else the environment.
func loadConfig() (*config, error) {
	vars := map[string]string{}
	for _, k := range []string{"SIGNET_SERVER", "SIGNET_CACERT", "SIGNET_CLIENT_CERT", "SIGNET_CLIENT_KEY", "SIGNET_TOKEN", "SIGNET_PKCS11_LABEL", "SIGNET_PKCS11_ARTIFACT", "SIGNET_PKCS11_KEYS"} {
		if v, ok := os.LookupEnv(k); ok {
			vars[k] = v
		}
	}
	if path := os.Getenv("SIGNET_PKCS11_CONFIG"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("SIGNET_PKCS11_CONFIG: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || line[0] == '#' {
				continue
			}
			k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
			if !ok || !strings.HasPrefix(k, "SIGNET_") {
				return nil, fmt.Errorf("%s:%d: not a SIGNET_NAME=value line", path, n)
			}
			vars[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	if vars["SIGNET_SERVER"] == "" {
		return nil, errors.New("no Signet server: set SIGNET_SERVER, or SIGNET_PKCS11_CONFIG to a file such as the client.env of 'signet serve --dev'")
	}
	c := &config{vars: vars, label: vars["SIGNET_PKCS11_LABEL"], artifact: vars["SIGNET_PKCS11_ARTIFACT"]}
	if c.label == "" {
		c.label = "Signet"
	}
	if c.artifact == "" {
		c.artifact = "pkcs11:" + filepath.Base(os.Args[0])
	}
	if v := vars["SIGNET_PKCS11_KEYS"]; v != "" {
		c.keys = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
		for _, p := range c.keys {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("SIGNET_PKCS11_KEYS: bad pattern %q", p)
			}
		}
	}
	return c, nil
}

// exposes reports whether key name is one of the keys configured.
func (c *config) exposes(name string) bool {
	return c.keys == nil || slices.ContainsFunc(c.keys, func(p string) bool { ok, _ := path.Match(p, name); return ok })
}

// needsPIN reports how the module authenticates: ready (a client can
// be made now) or what the login PIN provides (the passphrase of an
// encrypted client key, or a token).
func (c *config) needsPIN() (bool, error) {
	if c.vars["SIGNET_TOKEN"] != "" || strings.HasPrefix(c.vars["SIGNET_SERVER"], "unix:") {
		return false, nil
	}
	if c.vars["SIGNET_CLIENT_CERT"] == "" || c.vars["SIGNET_CLIENT_KEY"] == "" {
		return true, nil // the PIN is a token
	}
	b, err := os.ReadFile(c.vars["SIGNET_CLIENT_KEY"])
	if err != nil {
		return false, fmt.Errorf("client key: %w", err)
	}
	block, _ := pem.Decode(b)
	//lint:ignore SA1019 legacy PEM encryption is what openssl's -aes256 writes and the only one Go reads
	return block != nil && x509.IsEncryptedPEMBlock(block), nil //nolint:staticcheck
}

// newClient returns a client for the configured server, using pin as
// needsPIN says.
func (c *config) newClient(pin string) (*client.Client, error) {
	cfg := client.Config{Server: c.vars["SIGNET_SERVER"], CACert: c.vars["SIGNET_CACERT"], ClientCert: c.vars["SIGNET_CLIENT_CERT"],
		ClientKey: c.vars["SIGNET_CLIENT_KEY"], Token: c.vars["SIGNET_TOKEN"]}
	need, err := c.needsPIN()
	switch {
	case err != nil:
		return nil, err
	case !need:
		return client.New(cfg)
	case cfg.ClientCert == "" || cfg.ClientKey == "":
		if pin == "" {
			return nil, errLogin
		}
		cfg.Token = pin
		return client.New(cfg)
	}
	// An encrypted client key: the PIN is its passphrase.
	keyPEM, err := os.ReadFile(cfg.ClientKey)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(keyPEM)
	der, err := x509.DecryptPEMBlock(block, []byte(pin)) //nolint:staticcheck // see needsPIN
	if err != nil {
		return nil, errLogin
	}
	certPEM, err := os.ReadFile(cfg.ClientCert)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: der}))
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	urls, err := client.ParseServers(cfg.Server)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
	if cfg.CACert != "" {
		b, err := os.ReadFile(cfg.CACert)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = x509.NewCertPool()
		tc.RootCAs.AppendCertsFromPEM(b)
	}
	return client.NewWithTLS(urls[0], tc), nil
}

var errLogin = errors.New("wrong PIN")

// callTimeout bounds each request to the server.
const callTimeout = 60 * time.Second

// module is the state of the library between C_Initialize and
// C_Finalize: one slot, the objects of the keys the principal may use,
// and the sessions. mu guards everything but what a session's own mutex
// guards; no lock is held during a request to the server except the
// session's.
type module struct {
	mu       sync.Mutex
	cfg      *config
	needPIN  bool
	client   *client.Client
	loggedIn bool
	objects  []*object // nil until loaded
	sessions map[ulong]*session
	next     ulong
}

type session struct {
	mu    sync.Mutex
	flags ulong
	found []ulong // results of C_FindObjectsInit not yet returned
	find  bool
	op    *signOp
}

// logf reports what the module cannot say through a return value.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "signet-pkcs11: "+format+"\n", args...)
}

func newModule() (*module, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, err
	}
	m := &module{cfg: cfg, sessions: map[ulong]*session{}, next: 1}
	if m.needPIN, err = cfg.needsPIN(); err != nil {
		return nil, err
	}
	if !m.needPIN {
		if m.client, err = cfg.newClient(""); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// session returns session h.
func (m *module) session(h ulong) (*session, ulong) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[h]
	if !ok {
		return nil, ckrSessionHandleInvalid
	}
	return s, ckrOK
}

// load fetches the keys the principal may use, with their public keys and
// certificates, unless already loaded.
func (m *module) load() ([]*object, ulong) {
	m.mu.Lock()
	c, objs := m.client, m.objects
	m.mu.Unlock()
	if objs != nil {
		return objs, ckrOK
	}
	if c == nil {
		return []*object{}, ckrOK // before login nothing is visible
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	keys, err := c.Keys(ctx)
	if err != nil {
		logf("listing keys at %s: %v", m.cfg.vars["SIGNET_SERVER"], err)
		return nil, ckrDeviceError
	}
	objs = []*object{}
	next := ulong(1)
	for _, k := range keys {
		if k.Usage != "raw" || !m.cfg.exposes(k.Name) {
			continue // the module makes raw signatures only
		}
		full, err := c.Key(ctx, k.Name)
		if err != nil {
			logf("key %q: %v", k.Name, err)
			continue
		}
		chain := ""
		if full.Certificate {
			kc, err := c.KeyChain(ctx, k.Name)
			if err != nil {
				logf("key %q: its certificate: %v", k.Name, err)
			} else {
				chain = kc.Chain
			}
		}
		ki, err := newKeyInfo(full, chain)
		if err != nil {
			continue // a type PKCS #11 has no mechanism for here
		}
		o, err := objectsOf(ki, next)
		if err != nil {
			logf("key %q: %v", k.Name, err)
			continue
		}
		objs = append(objs, o...)
		next += 3
	}
	m.mu.Lock()
	if m.client == c {
		m.objects = objs
	}
	m.mu.Unlock()
	return objs, ckrOK
}

// object returns the object of handle h visible in session s.
func (m *module) object(h ulong) (*object, ulong) {
	objs, rv := m.load()
	if rv != ckrOK {
		return nil, rv
	}
	for _, o := range objs {
		if o.handle == h && m.visible(o) {
			return o, ckrOK
		}
	}
	return nil, ckrObjectHandleInvalid
}

func (m *module) visible(o *object) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !o.private || !m.needPIN || m.loggedIn
}

func (m *module) openSession(flags ulong) (ulong, ulong) {
	if flags&ckfSerialSession == 0 {
		return 0, ckrSessionParallelNotSupported
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.next
	m.next++
	m.sessions[h] = &session{flags: flags}
	return h, ckrOK
}

func (m *module) closeSession(h ulong) ulong {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[h]; !ok {
		return ckrSessionHandleInvalid
	}
	delete(m.sessions, h)
	if len(m.sessions) == 0 {
		m.logoutLocked()
	}
	return ckrOK
}

func (m *module) closeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.sessions)
	m.logoutLocked()
}

func (m *module) logoutLocked() {
	m.loggedIn = false
	if m.needPIN {
		m.client, m.objects = nil, nil
	}
}

func (m *module) sessionState(s *session) ulong {
	m.mu.Lock()
	defer m.mu.Unlock()
	rw := s.flags&ckfRWSession != 0
	switch {
	case m.loggedIn && rw:
		return cksRWUserFunctions
	case m.loggedIn:
		return cksROUserFunctions
	case rw:
		return cksRWPublicSession
	}
	return cksROPublicSession
}

// login logs the user in. When the configuration needs no PIN, any PIN
// is accepted: tools that always log in keep working, and nothing is
// protected by it.
func (m *module) login(user ulong, pin string) ulong {
	if user == ckuSO {
		return ckrPinIncorrect // there is no security officer: the token is managed in Signet
	}
	if user != ckuUser {
		return ckrUserTypeInvalid
	}
	m.mu.Lock()
	if m.loggedIn {
		m.mu.Unlock()
		return ckrUserAlreadyLoggedIn
	}
	need := m.needPIN
	m.mu.Unlock()
	if need {
		c, err := m.cfg.newClient(pin)
		if errors.Is(err, errLogin) {
			return ckrPinIncorrect
		} else if err != nil {
			logf("%v", err)
			return ckrDeviceError
		}
		// A token given as PIN is proven by listing the keys.
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		_, err = c.Keys(ctx)
		cancel()
		var ce *client.Error
		if errors.As(err, &ce) && ce.Status == 401 {
			return ckrPinIncorrect
		} else if err != nil {
			logf("%v", err)
			return ckrDeviceError
		}
		m.mu.Lock()
		m.client, m.objects = c, nil
		m.mu.Unlock()
	}
	m.mu.Lock()
	m.loggedIn = true
	m.mu.Unlock()
	return ckrOK
}

func (m *module) logout() ulong {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.loggedIn {
		return ckrUserNotLoggedIn
	}
	m.logoutLocked()
	return ckrOK
}

// attr is one attribute of a template.
type attr struct {
	typ   ulong
	value []byte
}

func (m *module) findInit(s *session, template []attr) ulong {
	objs, rv := m.load()
	if rv != ckrOK {
		return rv
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.find {
		return ckrOperationActive
	}
	s.find, s.found = true, nil
	for _, o := range objs {
		if !m.visible(o) {
			continue
		}
		if slices.IndexFunc(template, func(a attr) bool { v, ok := o.attrs[a.typ]; return !ok || !bytes.Equal(v, a.value) }) < 0 {
			s.found = append(s.found, o.handle)
		}
	}
	return ckrOK
}

func (m *module) findNext(s *session, max int) ([]ulong, ulong) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.find {
		return nil, ckrOperationNotInitialized
	}
	n := min(max, len(s.found))
	out := s.found[:n]
	s.found = s.found[n:]
	return out, ckrOK
}

func (m *module) findFinal(s *session) ulong {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.find {
		return ckrOperationNotInitialized
	}
	s.find, s.found = false, nil
	return ckrOK
}

func (m *module) signInit(s *session, mech ulong, pss []ulong, key ulong) ulong {
	o, rv := m.object(key)
	if rv == ckrObjectHandleInvalid {
		return ckrKeyHandleInvalid
	} else if rv != ckrOK {
		return rv
	}
	if o.class != ckoPrivateKey {
		return ckrKeyFunctionNotPermitted
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.op != nil {
		return ckrOperationActive
	}
	op, rv := newSignOp(o.key, mech, pss)
	if rv != ckrOK {
		return rv
	}
	s.op = op
	return ckrOK
}

// finish makes the signature of the operation in s: out is nil to ask
// only for its length, which keeps the operation going, as does a buffer
// too small.
func (m *module) finish(s *session, data []byte, oneShot bool, outLen int, wantSig bool) ([]byte, int, ulong) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := s.op
	if op == nil {
		return nil, 0, ckrOperationNotInitialized
	}
	if !wantSig {
		return nil, op.key.sigLen, ckrOK
	}
	if outLen < op.key.sigLen {
		return nil, op.key.sigLen, ckrBufferTooSmall
	}
	s.op = nil // every outcome from here ends the operation
	if oneShot {
		if rv := op.update(data); rv != ckrOK {
			return nil, 0, rv
		}
	}
	sig, rv := m.signRemote(op)
	return sig, len(sig), rv
}

// signRemote has the server sign what op computed, checks the signature
// against the key, and converts it to the mechanism's encoding.
func (m *module) signRemote(op *signOp) ([]byte, ulong) {
	digest, message, rv := op.request()
	if rv != ckrOK {
		return nil, rv
	}
	m.mu.Lock()
	c := m.client
	m.mu.Unlock()
	if c == nil {
		return nil, ckrUserNotLoggedIn
	}
	item := api.SignItem{Name: m.cfg.artifact}
	if message != nil {
		item.Data = message
	} else {
		item.Digest = api.Digest(op.key.hash, digest)
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := c.Sign(ctx, &api.SignRequest{Key: op.key.name, Format: "raw", Options: api.SignOptions{RSAPSS: op.pss}, Items: []api.SignItem{item}})
	if err != nil {
		logf("signing with key %q: %v", op.key.name, err)
		var ce *client.Error
		if errors.As(err, &ce) && ce.Status < 500 {
			return nil, ckrFunctionFailed
		}
		return nil, ckrDeviceError
	}
	sig := resp.Signatures[0].Signature
	if message != nil {
		err = raw.Verify(op.key.pub, message, sig, raw.Options{})
	} else {
		err = raw.VerifyDigest(op.key.pub, digest, sig, raw.Options{PSS: op.pss})
	}
	if err != nil {
		logf("key %q: the server's signature does not verify: %v", op.key.name, err)
		return nil, ckrGeneralError
	}
	out, err := op.toPKCS11(sig)
	if err != nil {
		logf("key %q: %v", op.key.name, err)
		return nil, ckrGeneralError
	}
	return out, ckrOK
}
