// Package server is Signet's HTTP/JSON API.
//
// Every request flows one way:
//
//	authenticate → decode → authorize → sign → respond
//
// Authentication comes first so that nothing from an unknown caller is
// parsed. The caller is proven by its TLS client certificate (mutual TLS 1.3
// is required; see [TLSConfig]); the body is then decoded strictly (unknown
// fields, trailing data, oversized bodies and malformed digests are refused
// with a 4xx naming the problem); policy decides whether that principal may
// sign those artifacts with that key in that format; the keystore supplies a
// [crypto.Signer]; and the response carries the signatures. A refusal never
// signs anything.
//
// The API is versioned under /v1/ and documented in docs/api.md. Errors are
// JSON objects {"error": message, "code": code, "request_id": id} whose
// message says what went wrong and what to do; code is a stable word for
// programs to branch on.
//
// Resources are bounded: request bodies by [Limits.MaxBodyBytes], batches by
// [Limits.MaxBatch], pure Ed25519 messages by [Limits.MaxMessageBytes], and
// concurrent requests by [Limits.MaxInflight], beyond which callers wait at
// most [Limits.QueueTimeout] before a 503 with Retry-After. Serve bounds
// open connections and concurrent TLS handshakes ([Limits.MaxConns],
// [Limits.MaxHandshakes]), refusing the excess at once so that
// established clients keep being served; passphrase unlocks run two
// Argon2id derivations at a time and back off per principal after
// failures; and failed authentications, which anyone can cause, are
// counted per source address and recorded once per interval instead of
// one durable entry each ([Limits.AuthFailureInterval]), with 429 past
// [Limits.AuthFailureBudget].
//
// Record first, act second: every signature, refusal and admin or custody
// act is appended to the audit log and durable before it takes effect or
// is answered. Signatures are recorded before they are sent; keystore
// acts hand the keystore a keystore.Record (an actRecord) that it
// calls before the act changes anything, so that "503 audit_unavailable
// ... nothing was done" is always true. The panic button alone acts first
// (lock must work with the log down): it answers 202 with record_pending,
// and the server writes the record as soon as the log is back.
//
// For operations: GET /readyz is 200 only when a signature could be made
// and recorded now ([Server.Ready]); [Server.Reload] swaps the grants,
// authenticator, tokens and catalogs atomically, each request keeping
// the [Settings] it started with; [Metrics] counts with labels from
// bounded sets only. docs/operations.md is the operator's side.
package server

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/authn"
	"github.com/signet-dev/signet/catalog"
	"github.com/signet-dev/signet/custody"
	"github.com/signet-dev/signet/explorer"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/token"
)

// Keyring is what the server needs from the keys under custody: keys as
// crypto.Signers (from the encrypted file or a PKCS #11 token), unlocking
// by passphrase or one share at a time, the panic-button Lock, and status.
// *keystore.Keyring implements it, and Custodian.
type Keyring interface {
	List() ([]keystore.Key, error)
	Key(name string) (keystore.Key, error)
	Signer(name string) (crypto.Signer, error)
	// BackgroundSigner is Signer for the server's own work (audit
	// checkpoints): it fails while locked but never extends a lease.
	BackgroundSigner(name string) (crypto.Signer, error)
	// The acts below take a keystore.Record, which the server makes
	// append the act's audit entry: it is called before the act takes
	// effect, and the act is abandoned if it fails (record first, act
	// second). Create takes it in Spec.Record.
	Create(spec keystore.Spec) (keystore.Key, error)
	Unlock(by string, passphrase []byte, record func() error) error
	SubmitShare(by string, share custody.Share, record keystore.Record[keystore.Accepted]) (keystore.Accepted, error)
	Lock() bool
	Status() keystore.Status
	Locked() bool
	// Key versions (docs/rotation.md): a new version, a revoked one, and
	// the signer of an OpenPGP key's primary, which certifies subkeys.
	Rotate(name string, record keystore.Record[keystore.Key]) (keystore.Key, error)
	Revoke(name string, version int, reason keystore.Reason, record keystore.Record[keystore.Key]) (keystore.Key, error)
	PrimarySigner(name string) (crypto.Signer, error)
	// BackgroundPrimarySigner is PrimarySigner without extending the
	// lease, for certificates made because someone reads them.
	BackgroundPrimarySigner(name string) (crypto.Signer, error)
}

// Custodian is what a Keyring adds for custody administration: handing
// the keystore to custodians, rekeying, enrolling tokens, and the events
// (expiries) the server audits. A Keyring without it answers 501.
type Custodian interface {
	InitCustody(passphrase []byte, threshold int, custodians []custody.Custodian, record keystore.Record[*custody.Set]) (*custody.Set, []keystore.ShareFile, error)
	ProposeRekey(by string, threshold int, custodians []custody.Custodian, record keystore.Record[keystore.Proposal]) (keystore.Proposal, error)
	ApproveRekey(by, proposal string, share custody.Share) (keystore.Accepted, *custody.Set, []keystore.ShareFile, error)
	ResetProgress(record keystore.Record[[]custody.Received]) ([]custody.Received, error)
	EnrollToken(name, currentPIN string, record func() error) error
	Notify(func(keystore.Event) error)
	Expire()
}

// Authenticator proves who is calling.
type Authenticator interface {
	Authenticate(r *http.Request) (authn.Principal, error)
}

// Limits bound what one request and the whole server may consume.
type Limits struct {
	MaxBodyBytes    int64         `yaml:"max_body_bytes"`    // any request body
	MaxBatch        int           `yaml:"max_batch"`         // items in one sign request
	MaxMessageBytes int64         `yaml:"max_message_bytes"` // one pure Ed25519 message
	MaxInflight     int           `yaml:"max_inflight"`      // requests handled at once
	QueueTimeout    time.Duration `yaml:"queue_timeout"`     // wait for a slot before 503
	ReadTimeout     time.Duration `yaml:"read_timeout"`      // whole request, body included
	WriteTimeout    time.Duration `yaml:"write_timeout"`
	IdleTimeout     time.Duration `yaml:"idle_timeout"`
	// Failed authentications are counted per source address and
	// recorded as one entry per address and reason each interval;
	// past the budget in an interval, an address gets 429.
	AuthFailureInterval time.Duration `yaml:"auth_failure_interval"`
	AuthFailureBudget   int           `yaml:"auth_failure_budget"`
	// Connections: open at once (established or handshaking), TLS
	// handshakes at once, and how long one handshake may take.
	MaxConns         int           `yaml:"max_conns"`
	MaxHandshakes    int           `yaml:"max_handshakes"`
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
}

// DefaultLimits are the limits used for every field left zero.
func DefaultLimits() Limits {
	return Limits{
		MaxBodyBytes:    32 << 20,
		MaxBatch:        1000,
		MaxMessageBytes: 16 << 20,
		MaxInflight:     256,
		QueueTimeout:    10 * time.Second,
		ReadTimeout:     60 * time.Second,
		WriteTimeout:    60 * time.Second,
		IdleTimeout:     120 * time.Second,

		AuthFailureInterval: time.Minute,
		AuthFailureBudget:   60,

		MaxConns:         4096,
		MaxHandshakes:    64,
		HandshakeTimeout: 10 * time.Second,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v, def int64) int64 {
		if v <= 0 {
			return def
		}
		return v
	}
	l.MaxBodyBytes = set(l.MaxBodyBytes, d.MaxBodyBytes)
	l.MaxBatch = int(set(int64(l.MaxBatch), int64(d.MaxBatch)))
	l.MaxMessageBytes = set(l.MaxMessageBytes, d.MaxMessageBytes)
	l.MaxInflight = int(set(int64(l.MaxInflight), int64(d.MaxInflight)))
	l.QueueTimeout = time.Duration(set(int64(l.QueueTimeout), int64(d.QueueTimeout)))
	l.ReadTimeout = time.Duration(set(int64(l.ReadTimeout), int64(d.ReadTimeout)))
	l.WriteTimeout = time.Duration(set(int64(l.WriteTimeout), int64(d.WriteTimeout)))
	l.IdleTimeout = time.Duration(set(int64(l.IdleTimeout), int64(d.IdleTimeout)))
	l.AuthFailureInterval = time.Duration(set(int64(l.AuthFailureInterval), int64(d.AuthFailureInterval)))
	l.AuthFailureBudget = int(set(int64(l.AuthFailureBudget), int64(d.AuthFailureBudget)))
	l.MaxConns = int(set(int64(l.MaxConns), int64(d.MaxConns)))
	l.MaxHandshakes = int(set(int64(l.MaxHandshakes), int64(d.MaxHandshakes)))
	l.HandshakeTimeout = time.Duration(set(int64(l.HandshakeTimeout), int64(d.HandshakeTimeout)))
	return l
}

// Recorder is the audit log. The server appends an entry for every act —
// each signature, each refusal, each token, key and keystore change — and
// waits until it is durable before it answers. *audit.Log implements it.
type Recorder interface {
	Append(ctx context.Context, entries ...audit.Entry) ([]audit.Receipt, error)
	Ready() error       // why the log cannot record now, or nil
	Store() audit.Store // for the read API
	Origin() string     // the log's name
}

// Options are what a Server is made of.
type Options struct {
	Keys     Keyring
	Policy   *policy.Policy
	Authn    Authenticator
	Audit    Recorder
	AuditKey string       // keystore key (usage audit) that signs the log's checkpoints
	ServerID string       // names this replica in audit entries
	Limits   Limits       // zero fields take their DefaultLimits value
	Log      *slog.Logger // nil discards
	Tokens   TokenOptions
	Catalogs []*catalog.Catalog // indexes signed in pull mode (POST /v1/catalogs/{name}/sign)
	Certs    CertStore          // certificate chains attached to keys (Authenticode); nil: none can be
	Metrics  *Metrics           // nil: none are kept
	// Readiness bounds and caches the probes of GET /readyz.
	Readiness Readiness
	// KeyListKey is the keystore key (Ed25519, usage key-list) that signs
	// key lists; "" if this server signs none.
	KeyListKey string
	// Now is the clock that dates signatures and audit entries; nil is
	// time.Now. Tests move it through key windows.
	Now func() time.Time
	// Timestamp configures the RFC 3161 time-stamp authority.
	Timestamp TimestampOptions
	// PublicLog serves the log's checkpoint and hash tiles (GET /log/...)
	// without authentication; entry bundles always need an audit grant.
	PublicLog bool
}

// TokenOptions configure token issuance and inspection.
type TokenOptions struct {
	Verifier   *token.Verifier // nil: tokens are off
	Audience   string          // this deployment's name
	SigningKey string          // keystore key (Ed25519) that signs tokens; "" if this replica issues none
	MaxTTL     time.Duration   // longest lifetime of an issued token
}

// Server serves the Signet API.
type Server struct {
	keys     Keyring
	audit    Recorder
	auditKey string
	id       string
	limits   Limits
	log      *slog.Logger
	slots    chan struct{}
	certs    CertStore
	ui       *explorer.Explorer // the audit explorer, under /ui/

	// settings are what a reload replaces (see Reload); each request
	// uses the ones current when it started.
	settings atomic.Pointer[settings]
	draining atomic.Bool // Serve is shutting down: not ready
	metrics  *Metrics
	probe    prober

	keyListKey string
	now        func() time.Time
	timestamp  TimestampOptions
	publicLog  bool

	proversMu sync.Mutex
	provers   [2]*audit.Prover // for incident reports; see prover

	pgpCerts sync.Map // key name → *pgpCert: certificates as last made, for reads

	pending      pendingRecords // acts done while the log was down (lock, expiries), written when it is back
	unlocks      *unlockGate    // bounds passphrase derivations, throttles failures
	authFails    authFailures   // failed authentications, counted per address (authfail.go)
	connsRefused atomic.Int64   // connections closed unserved by Serve's listener (listener.go)

	buffers sync.Pool // of *bytes.Buffer, for responses
}

// New returns a Server.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	limits := o.Limits.withDefaults()
	if o.Audit == nil {
		panic("server: Options.Audit is nil: a server never signs without an audit log")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{
		certs:    o.Certs,
		keys:     o.Keys,
		audit:    o.Audit,
		auditKey: o.AuditKey,
		id:       o.ServerID,
		limits:   limits,
		log:      o.Log,
		slots:    make(chan struct{}, limits.MaxInflight),
		metrics:  o.Metrics,

		keyListKey: o.KeyListKey,
		publicLog:  o.PublicLog,
		now:        o.Now,
		unlocks:    newUnlockGate(),
		timestamp:  o.Timestamp.withDefaults(),
	}
	s.settings.Store(newSettings(Settings{Policy: o.Policy, Authn: o.Authn, Tokens: o.Tokens, Catalogs: o.Catalogs}))
	s.probe.ttl, s.probe.timeout = o.Readiness.withDefaults()
	s.metrics.attach(s)
	if c, ok := o.Keys.(Custodian); ok {
		c.Notify(s.recordEvent)
	}
	s.ui = s.newExplorer()
	return s
}

// TLSConfig returns the server side of TLS 1.3: cert is the server's
// certificate and clientCAs the roots client certificates must chain to.
// Client certificates are required unless tokens are accepted, in which
// case a connection may carry a token instead; either way every request is
// authenticated before anything else happens.
func TLSConfig(cert tls.Certificate, clientCAs *x509.CertPool, acceptTokens bool) *tls.Config {
	auth := tls.RequireAndVerifyClientCert
	if acceptTokens {
		auth = tls.VerifyClientCertIfGiven
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   auth,
		ClientCAs:    clientCAs,
	}
}

// Serve accepts TLS connections on ln until ctx is done, then stops
// accepting and waits up to drain for requests in flight to finish.
// Connections and handshakes are bounded (Limits.MaxConns,
// MaxHandshakes, HandshakeTimeout; see listener.go).
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsConfig *tls.Config, drain time.Duration) error {
	cfg := tlsConfig.Clone()
	if !slices.Contains(cfg.NextProtos, "h2") {
		cfg.NextProtos = append(cfg.NextProtos, "h2")
	}
	if !slices.Contains(cfg.NextProtos, "http/1.1") {
		cfg.NextProtos = append(cfg.NextProtos, "http/1.1")
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.limits.ReadTimeout,
		WriteTimeout:      s.limits.WriteTimeout,
		IdleTimeout:       s.limits.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(newTLSListener(ln, cfg, s.limits, &s.connsRefused)) }()
	go s.expireLeases(ctx)
	go s.ui.Run(ctx) // verifies the log, follows its checkpoints
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.draining.Store(true) // load balancers stop sending while we drain
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("draining requests: %w", err)
	}
	return nil
}

// Handler returns the HTTP handler for the whole API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /v1/keys", s.api(s.listKeys))
	mux.Handle("GET /v1/keys/{name}", s.api(s.getKey))
	mux.Handle("POST /v1/keys", s.api(s.createKey))
	mux.Handle("POST /v1/sign", s.api(s.sign))
	mux.Handle("GET /v1/keys/{name}/openpgp", s.api(s.getOpenPGPKey))
	mux.Handle("POST /v1/catalogs/{name}/sign", s.api(s.signCatalog))
	mux.Handle("POST /v1/keys/{name}/rotate", s.api(s.rotateKey))
	mux.Handle("POST /v1/keys/{name}/revoke", s.api(s.revokeKey))
	mux.Handle("GET /v1/keys/{name}/key-list", s.api(s.getKeyList))
	mux.Handle("POST /v1/transitions", s.api(s.transitionKeys))
	mux.Handle("POST /v1/keys/{name}/csr", s.api(s.keyCSR))
	mux.Handle("GET /v1/keys/{name}/chain", s.api(s.keyChain))
	mux.Handle("PUT /v1/keys/{name}/chain", s.api(s.attachChain))
	mux.Handle("POST /v1/timestamp", s.api(s.timestampJSON))
	mux.Handle("POST /v1/timestamp/{key}", s.api(s.timestampRFC3161))
	mux.Handle("POST /v1/unlock", s.api(s.unlock))
	mux.Handle("POST /v1/lock", s.api(s.lock))
	mux.Handle("GET /v1/status", s.api(s.status))
	mux.Handle("POST /v1/custody/init", s.api(s.custodyInit))
	mux.Handle("POST /v1/custody/rekey", s.api(s.custodyRekey))
	mux.Handle("POST /v1/custody/rekey/approve", s.api(s.custodyApprove))
	mux.Handle("POST /v1/custody/reset", s.api(s.custodyReset))
	mux.Handle("POST /v1/hsm/enroll", s.api(s.hsmEnroll))
	mux.Handle("POST /v1/tokens", s.api(s.issueToken))
	mux.Handle("POST /v1/tokens/verify", s.api(s.verifyToken))
	mux.Handle("POST /v1/tokens/deny-list", s.api(s.signDenyList))
	mux.Handle("GET /v1/audit/checkpoint", s.api(s.auditCheckpoint))
	mux.Handle("GET /v1/audit/key", s.api(s.auditKeyInfo))
	mux.Handle("GET /v1/audit/proof", s.api(s.auditProof))
	mux.Handle("GET /v1/audit/consistency", s.api(s.auditConsistency))
	mux.Handle("GET /v1/audit/entries", s.api(s.auditEntries))
	mux.Handle("GET /v1/audit/checkpoints", s.api(s.auditCheckpoints))
	mux.Handle("GET /v1/audit/search", s.api(s.auditSearch))
	mux.Handle("GET /v1/audit/manifests/{digest}", s.api(s.auditManifest))
	mux.Handle("GET /v1/limits", s.api(s.getLimits))
	mux.Handle("GET /ui/", s.api(s.explore))
	s.tileRoutes(mux)
	// Known paths with the wrong method get 405 and Allow; the rest 404.
	for path, allow := range map[string]string{"/v1/keys": "GET, POST", "/v1/keys/{name}": "GET", "/v1/sign": "POST", "/v1/unlock": "POST",
		"/v1/lock": "POST", "/v1/status": "GET", "/v1/custody/init": "POST", "/v1/custody/rekey": "POST", "/v1/custody/rekey/approve": "POST", "/v1/custody/reset": "POST", "/v1/hsm/enroll": "POST",
		"/v1/tokens": "POST", "/v1/tokens/verify": "POST", "/v1/tokens/deny-list": "POST",
		"/v1/audit/checkpoint": "GET", "/v1/audit/key": "GET", "/v1/audit/proof": "GET", "/v1/audit/consistency": "GET",
		"/v1/audit/entries": "GET", "/v1/audit/checkpoints": "GET", "/v1/audit/search": "GET", "/v1/audit/manifests/{digest}": "GET",
		"/v1/keys/{name}/openpgp": "GET", "/v1/catalogs/{name}/sign": "POST",
		"/v1/keys/{name}/rotate": "POST", "/v1/keys/{name}/revoke": "POST", "/v1/keys/{name}/key-list": "GET", "/v1/transitions": "POST",
		"/v1/keys/{name}/csr": "POST", "/v1/keys/{name}/chain": "GET, PUT", "/v1/timestamp": "POST", "/v1/timestamp/{key}": "POST", "/v1/limits": "GET", "/ui/": "GET"} {
		mux.Handle(path, s.api(func(c *call) error {
			c.recorded = true // a wrong method is not an act
			c.w.Header().Set("Allow", allow)
			return &apiError{http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s %s is not supported; use %s", c.r.Method, c.r.URL.Path, allow)}
		}))
	}
	mux.Handle("/", s.api(func(c *call) error {
		c.recorded = true // nor is a wrong path
		return &apiError{http.StatusNotFound, "not_found", "no such endpoint; see docs/api.md"}
	}))
	return mux
}

// A call is one API request. As a handler learns what the request is
// about it fills in action, key, format and artifact, so that a refusal at
// any point is recorded with what is known.
type call struct {
	w         http.ResponseWriter
	r         *http.Request
	id        string
	start     time.Time
	principal authn.Principal
	authErr   error // authentication failed with this

	action   audit.Action
	key      *audit.KeyRef
	format   string
	artifact *audit.Artifact
	details  map[string]string // e.g. a custody share's index, also on refusals
	recorded bool              // the handler appended its entries

	idempotencyKey string // the client's id for this request, on every attempt
	attempt        int    // which attempt of it, from 1

	set   *settings // the settings this request started with, to its end
	items int       // artifacts a sign request asked for, for metrics
}

// entry returns an audit entry for c with what is known so far.
func (c *call) entry(d audit.Decision, reason string) audit.Entry {
	p := audit.Principal{Kind: c.principal.Method, Name: c.principal.Name, ID: c.principal.ID}
	if t := c.principal.Token; t != nil {
		p.Subject = t.Subject
	}
	if c.principal.LocalUser != "" {
		p.Kind, p.LocalUser = "agent", c.principal.LocalUser
	}
	if p.Kind == "" {
		p.Kind = "anonymous"
	}
	action := c.action
	if action == "" {
		action = audit.ActionRead
	}
	if c.authErr != nil {
		action = audit.ActionAuthentication
	}
	e := audit.Entry{
		Time: c.start, RequestID: c.id, Action: action, Decision: d, Reason: reason,
		Principal: p, Client: c.r.RemoteAddr, Key: c.key, Format: c.format, Artifact: c.artifact, Details: c.details,
	}
	if c.idempotencyKey != "" {
		e.IdempotencyKey, e.Attempt = c.idempotencyKey, c.attempt
		if c.attempt > 1 {
			e.RetryOf = c.idempotencyKey
		}
	}
	return e
}

// record appends entries to the audit log, waits until they are durable
// and returns their receipts. If they cannot be recorded, nothing may be
// answered but a refusal.
func (s *Server) record(c *call, entries ...audit.Entry) ([]audit.Receipt, error) {
	receipts, err := s.append(c, entries...)
	if err != nil {
		return nil, auditError(err)
	}
	return receipts, nil
}

func (s *Server) append(c *call, entries ...audit.Entry) ([]audit.Receipt, error) {
	for i := range entries {
		entries[i].Server = s.id
	}
	c.recorded = true
	// A client that goes away does not unmake the record: of its
	// refusal, or of an act already begun.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.r.Context()), recordWait)
	defer cancel()
	receipts, err := s.audit.Append(ctx, entries...)
	switch {
	case errors.Is(err, audit.ErrNoCheckpoint):
		s.log.Debug("audit entries recorded without a checkpoint", "id", c.id, "err", err)
	case err != nil:
		s.log.Error("audit log append failed", "id", c.id, "err", err)
	}
	return receipts, err
}

// recordWait bounds how long a request waits for its entries to be
// durable.
const recordWait = 30 * time.Second

func auditError(err error) error {
	return hideCause(&apiError{http.StatusServiceUnavailable, "audit_unavailable",
		"the audit log cannot record this request, so nothing was done; the server log has the cause under this request id"}, err)
}

// recordAct is record for an act that needs no receipt: recorded durably
// is enough, even while the log key cannot sign a checkpoint (it may be
// the unlock that makes it available).
func (s *Server) recordAct(c *call, e audit.Entry) error {
	if _, err := s.append(c, e); err != nil && !errors.Is(err, audit.ErrNoCheckpoint) {
		return auditError(err)
	}
	return nil
}

// An actRecord is the audit entry of an admin or custody act, written
// before the act takes effect (record first, act second): its write is
// the keystore.Record the act is given.
type actRecord struct {
	s    *Server
	c    *call
	err  error // the record failed, so the act was abandoned
	done bool  // the record was written
}

func (s *Server) recordFirst(c *call) *actRecord { return &actRecord{s: s, c: c} }

// write appends e durably, or returns why it could not.
func (a *actRecord) write(e audit.Entry) error {
	a.err = a.s.recordAct(a.c, e)
	a.done = a.err == nil
	return a.err
}

// failed returns the answer to an act that failed with err, which the
// handler maps to answer: the record's own failure if the act was
// abandoned for it ("nothing was done" is then true); else answer, after
// a second entry says that the act its first entry announced failed.
func (a *actRecord) failed(answer error) error {
	if a.err != nil {
		return a.err
	}
	if a.done {
		msg := "internal error"
		var ae *apiError
		if errors.As(answer, &ae) {
			msg = ae.message
		}
		if rerr := a.s.recordAct(a.c, a.c.entry(audit.Failed, "the act recorded before this entry failed: "+msg)); rerr != nil {
			a.s.log.Error("the failure of a recorded act could not be recorded", "id", a.c.id, "err", answer)
		}
	}
	return answer
}

// recordRefusal appends the refusal err of c, unless the handler already
// recorded its outcome or the server shed the request unread.
func (s *Server) recordRefusal(c *call, err error) error {
	status := statusOf(err)
	if c.recorded || c.principal.Method == "" && c.authErr == nil {
		return err // recorded already, or shed before authentication
	}
	d := audit.Denied
	if status >= 500 {
		d = audit.Failed
	}
	msg := "internal error"
	var ae *apiError
	if errors.As(err, &ae) {
		msg = ae.message // never a hidden cause
	}
	if rerr := s.recordAct(c, c.entry(d, msg)); rerr != nil && ae != nil {
		ae.message += " (and the audit log could not record this refusal)"
	}
	return err
}

// api wraps an endpoint with request ids, the concurrency limit,
// authentication and error rendering.
func (s *Server) api(h func(*call) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{w: w, r: r, id: newRequestID(), start: s.now(), set: s.settings.Load()}
		w.Header()["X-Request-Id"] = []string{c.id}
		err := s.serve(c, h)
		if err != nil {
			s.writeError(c, s.recordRefusal(c, err))
		}
		s.metrics.observe(c, statusOf(err))
		if s.log.Enabled(r.Context(), slog.LevelInfo) {
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("id", c.id),
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("principal", c.principal.Name), slog.String("auth", c.principal.ID),
				slog.String("remote", r.RemoteAddr), slog.Int("status", statusOf(err)),
				slog.String("err", errString(err)), slog.Duration("duration", time.Since(c.start)))
		}
	})
}

func (s *Server) serve(c *call, h func(*call) error) error {
	if err := s.acquire(c.r.Context()); err != nil {
		return err
	}
	defer func() { <-s.slots }()
	p, err := c.set.authn.Authenticate(c.r)
	if err != nil {
		c.authErr = err
		s.metrics.tokenRejected(c, err)
		c.recorded = true // counted per address, recorded per interval
		return s.authFailed(c, authCode(err), err)
	}
	c.principal = p
	if err := c.readIdempotency(); err != nil {
		return err
	}
	if p.LocalUser != "" {
		if err := c.set.policy.Authorize(policy.Request{Principal: p.Name, Action: policy.Delegate, LocalUser: p.LocalUser}); err != nil {
			return &apiError{http.StatusForbidden, "forbidden", err.Error()}
		}
	}
	c.r.Body = http.MaxBytesReader(c.w, c.r.Body, s.limits.MaxBodyBytes)
	return h(c)
}

// readIdempotency reads the request's idempotency key and attempt number
// (docs/api.md#retries), which its audit entries record.
func (c *call) readIdempotency() error {
	h := c.r.Header
	key, attempt := h.Get(api.IdempotencyKeyHeader), h.Get(api.AttemptHeader)
	if key == "" {
		if attempt != "" {
			return badRequest("%s without %s: an attempt number counts the attempts of one keyed request", api.AttemptHeader, api.IdempotencyKeyHeader)
		}
		return nil
	}
	if err := api.CheckIdempotencyKey(key); err != nil {
		return badRequest("%v", err)
	}
	c.idempotencyKey, c.attempt = key, 1
	if attempt != "" {
		n, err := api.ParseAttempt(attempt)
		if err != nil {
			return badRequest("%v", err)
		}
		c.attempt = n
	}
	return nil
}

// InFlight returns the number of API requests being handled now.
func (s *Server) InFlight() int { return len(s.slots) }

func (s *Server) acquire(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(s.limits.QueueTimeout)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-t.C:
		return errOverloaded
	case <-ctx.Done():
		return &apiError{http.StatusServiceUnavailable, "canceled", "request canceled by the client while waiting for a slot"}
	}
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

var errOverloaded = &apiError{http.StatusServiceUnavailable, "overloaded", "server busy: too many requests in flight; retry shortly"}
