package server_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/authn"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/keycert"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/server"
	"github.com/signet-dev/signet/token"
)

// fixture is a running server with a keystore and one client per
// principal: "admin" (administrator, signs everything), "builder" (signs
// with key "release" in format raw, artifacts "*.tar.gz" only), "ci" (may
// issue tokens for what it may sign: release, raw, "*.tar.gz" and
// "*.zip"), "releaser" (format ssh with any key and artifact, format dsse
// for "*.tar.gz"; may issue tokens) and "stranger" (a valid certificate from the trusted CA
// matching no principal). Tokens are on, signed by keystore key "tokens"
// for audience "test".
type fixture struct {
	keys    *keystore.Keyring
	url     *url.URL
	ca      *devpki.CA
	clients map[string]*client.Client
	tls     map[string]*tls.Config // client TLS configs, by principal
	certs   map[string]tls.Certificate
	tokens  *token.Verifier
	audit   *audit.Log
	logKey  string // the audit log's verifier key
	certDir string // where certificate chains attached to keys are kept

	srv      *server.Server
	metrics  *server.Metrics
	settings server.Settings // as the server started
}

// newFixture starts a server over real mutual TLS on loopback with keys of
// the given types, named after their type ("ecdsa-p256", …) plus "release"
// (ECDSA P-256).
func newFixture(tb testing.TB, limits server.Limits, types ...keystore.Type) *fixture {
	tb.Helper()
	return newFixtureWith(tb, fixtureOptions{limits: limits, types: types})
}

// fixtureOptions vary the fixture.
type fixtureOptions struct {
	limits   server.Limits
	types    []keystore.Type
	auditDir string // where the audit log's database lives; default a temporary directory
	tiles    bool   // the log is a tile log (audit.TileStore), not SQLite
	// publicLog serves the checkpoint and hash tiles without authentication.
	publicLog bool
	auditKey  string // the log key's name; default "audit-log", which the fixture creates
	// auditStore, if set, opens the log's store instead of SQLite in
	// auditDir (a PostgreSQL database, say).
	auditStore func(testing.TB) audit.Store
	// auditOff replaces the log by one that records nothing, to measure
	// what the log costs. Only benchmarks use it.
	auditOff bool
	// principals are further principals, each with a client certificate
	// of its name.
	principals map[string]policy.Rules
	// wrapStore and wrapRecorder, if set, interpose on the audit store
	// and log, to make them fail or hang; readiness bounds /readyz.
	wrapStore    func(audit.Store) audit.Store
	wrapRecorder func(server.Recorder) server.Recorder
	readiness    server.Readiness
	// now, if set, is the clock of the server and the keyring (set
	// before any key is created); rotateEvery their rotation policy.
	now         func() time.Time
	rotateEvery func(name string) time.Duration
	// keyListKey names the key-list root key, which the fixture creates.
	keyListKey string
	// log, if set, receives the server's log as JSON at debug level.
	log io.Writer
	// token, if set, is a (fake) PKCS #11 token "hsm" for keys "hsm-*".
	token *fakeToken
	// wrapKeys, if set, interposes on the keyring the server uses.
	wrapKeys func(server.Keyring) server.Keyring
}

// discardLog is the audit log of fixtures with auditOff.
type discardLog struct{ *audit.Log }

func (discardLog) Append(_ context.Context, entries ...audit.Entry) ([]audit.Receipt, error) {
	return make([]audit.Receipt, len(entries)), nil
}

func newFixtureWith(tb testing.TB, o fixtureOptions) *fixture {
	tb.Helper()
	limits, types := o.limits, o.types
	dir := tb.TempDir()
	pass := []byte("test passphrase")
	if err := keystore.Init(dir, pass); err != nil {
		tb.Fatal(err)
	}
	ks, err := keystore.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if o.token != nil {
		if err := ks.AddToken("hsm", []string{"hsm-*"}, o.token); err != nil {
			tb.Fatal(err)
		}
	}
	keys := keystore.NewKeyring(ks, keystore.Timeouts{})
	if o.now != nil {
		keys.SetClock(o.now)
	}
	if o.rotateEvery != nil {
		keys.SetRotation(o.rotateEvery)
	}
	if err := keys.Unlock("test", pass, nil); err != nil {
		tb.Fatal(err)
	}
	if o.keyListKey != "" {
		if _, err := keys.Create(keystore.Spec{Name: o.keyListKey, Type: keystore.Ed25519, Usage: "key-list"}); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := keys.Create(keystore.Spec{Name: "release", Type: keystore.ECDSAP256}); err != nil {
		tb.Fatal(err)
	}
	tokKey, err := keys.Create(keystore.Spec{Name: "tokens", Type: keystore.Ed25519, Usage: "token"})
	if err != nil {
		tb.Fatal(err)
	}
	verifier, err := token.NewVerifier("test", map[string]ed25519.PublicKey{"tokens": tokKey.Public.(ed25519.PublicKey)}, 0)
	if err != nil {
		tb.Fatal(err)
	}
	for _, t := range types {
		if _, err := keys.Create(keystore.Spec{Name: string(t), Type: t}); err != nil {
			tb.Fatal(err)
		}
	}
	ca, err := devpki.NewCA("test CA")
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{keys: keys, ca: ca, clients: map[string]*client.Client{}, tls: map[string]*tls.Config{}, tokens: verifier, certDir: filepath.Join(tb.TempDir(), "certs")}
	var rules []authn.CertRule
	certs := map[string]tls.Certificate{}
	f.certs = certs
	names := []string{"admin", "builder", "ci", "releaser", "stranger"}
	for name := range o.principals {
		names = append(names, name)
	}
	for _, name := range names {
		c, err := ca.IssueClient(name)
		if err != nil {
			tb.Fatal(err)
		}
		certs[name] = c
		if name != "stranger" {
			rules = append(rules, authn.CertRule{Principal: name, SubjectCN: name, CA: ca.Cert})
		}
	}
	certRules, err := authn.NewCerts(rules)
	if err != nil {
		tb.Fatal(err)
	}
	all := []string{"*"}
	rulesOf := map[string]policy.Rules{
		"admin":   {Admin: true, Grants: []policy.Grant{{Keys: all, Formats: all, Artifacts: all}}},
		"builder": {Grants: []policy.Grant{{Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"*.tar.gz"}}}},
		"ci":      {IssueTokens: true, Grants: []policy.Grant{{Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"*.tar.gz", "*.zip"}}}},
		// releaser signs in format ssh with any key, and attests
		// (format dsse) to *.tar.gz only: grants are per format.
		"releaser": {IssueTokens: true, Grants: []policy.Grant{{Keys: all, Formats: []string{"ssh"}, Artifacts: all}, {Keys: all, Formats: []string{"dsse"}, Artifacts: []string{"*.tar.gz"}}}},
	}
	maps.Copy(rulesOf, o.principals)
	pol, err := policy.New(rulesOf)
	if err != nil {
		tb.Fatal(err)
	}
	logKey, err := keys.Create(keystore.Spec{Name: "audit-log", Type: keystore.Ed25519, Usage: "audit"})
	if err != nil {
		tb.Fatal(err)
	}
	if f.logKey, err = audit.VerifierKey("test/audit", logKey.Public.(ed25519.PublicKey)); err != nil {
		tb.Fatal(err)
	}
	if o.auditDir == "" {
		o.auditDir = tb.TempDir()
	}
	if o.auditKey == "" {
		o.auditKey = "audit-log"
	}
	var store audit.Store
	switch {
	case o.auditStore != nil:
		store = o.auditStore(tb)
	case o.tiles:
		store, err = audit.OpenTiles(filepath.Join(o.auditDir, "tiles"))
	default:
		store, err = audit.OpenSQLite(filepath.Join(o.auditDir, "audit.db"))
	}
	if err != nil {
		tb.Fatal(err)
	}
	if o.wrapStore != nil {
		store = o.wrapStore(store)
	}
	var srv *server.Server
	f.metrics = server.NewMetrics()
	f.audit, err = audit.Open(context.Background(), audit.Options{Store: store, Origin: "test/audit",
		Key:         func() (crypto.Signer, error) { return srv.AuditKey() },
		Observe:     f.metrics.ObserveCommit,
		CommitDelay: 200 * time.Microsecond, // as signet serve by default
		InFlight: func() int {
			if srv == nil {
				return 0
			}
			return srv.InFlight()
		}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.audit.Close(); store.Close() })
	var rec server.Recorder = f.audit
	if o.auditOff {
		rec = discardLog{f.audit}
	}
	if o.wrapRecorder != nil {
		rec = o.wrapRecorder(rec)
	}
	f.settings = server.Settings{Policy: pol, Authn: &authn.Authenticator{Certs: certRules, Tokens: verifier},
		Tokens: server.TokenOptions{Verifier: verifier, Audience: "test", SigningKey: "tokens", MaxTTL: 2 * time.Hour}}
	var logger *slog.Logger
	if o.log != nil {
		logger = slog.New(slog.NewJSONHandler(o.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var serverKeys server.Keyring = keys
	if o.wrapKeys != nil {
		serverKeys = o.wrapKeys(keys)
	}
	srv = server.New(server.Options{
		Log:       logger,
		Metrics:   f.metrics,
		Readiness: o.readiness,
		Audit:     rec,
		AuditKey:  o.auditKey,
		ServerID:  "test-server",
		Keys:      serverKeys,
		Policy:    pol,
		Authn:     &authn.Authenticator{Certs: certRules, Tokens: verifier},
		Limits:    limits,
		Tokens:    server.TokenOptions{Verifier: verifier, Audience: "test", SigningKey: "tokens", MaxTTL: 2 * time.Hour},
		Certs:     keycert.NewDir(f.certDir),

		KeyListKey: o.keyListKey,
		Now:        o.now,
		PublicLog:  o.publicLog,
	})
	f.srv = srv
	ts := httptest.NewUnstartedServer(srv.Handler())
	serverCert, err := ca.IssueServer("127.0.0.1")
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	ts.TLS = server.TLSConfig(serverCert, pool, true)
	ts.StartTLS()
	tb.Cleanup(ts.Close)
	f.url, _ = url.Parse(ts.URL)
	for name, c := range certs {
		tc := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{c}}
		f.tls[name] = tc
		// A short retry budget: tests that take the log down expect the
		// 503 in about the time the old five attempts took.
		f.clients[name] = client.NewWithTLS(f.url, tc).WithRetry(client.Retry{For: 2 * time.Second})
	}
	return f
}

// readyz returns the status and body of GET /readyz.
func (f *fixture) readyz(tb testing.TB) (int, string) {
	tb.Helper()
	resp, err := f.httpClient("admin").Get(f.url.JoinPath("/readyz").String())
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReady waits until /readyz says ready, failing after 30 s.
func (f *fixture) waitReady(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body := f.readyz(tb)
		if status == 200 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not ready after 30 s: %s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// smallDisk mounts a 2 MiB tmpfs for the audit log, so that tests can fill
// it. It needs root, as ./scripts/test runs in CI.
func smallDisk(tb testing.TB) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Fatal("this test mounts a small tmpfs to fill the audit log's disk and must run as root (as ./scripts/test does in CI)")
	}
	dir := tb.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		tb.Fatalf("mount tmpfs: %v %s", err, out)
	}
	tb.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill fills the file system of dir and returns a function that frees it.
func fill(tb testing.TB, dir string) (release func()) {
	tb.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	if err != nil {
		tb.Fatal(err)
	}
	// Down to the last byte: a write that finds a page free still fits.
	for size := 64 << 10; size >= 1; size /= 8 {
		buf := make([]byte, size)
		for {
			if _, err := f.Write(buf); err != nil {
				break
			}
		}
	}
	f.Close()
	return func() { os.Remove(name) }
}

// httpClient returns a plain HTTP client presenting principal's
// certificate ("" for none).
func (f *fixture) httpClient(principal string) *http.Client {
	tc := f.tls["admin"].Clone()
	tc.Certificates = nil
	if principal != "" {
		tc = f.tls[principal]
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
}
