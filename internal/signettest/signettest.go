// Package signettest runs a real Signet server in the test's process, for
// the tests of packages that talk to one (client, agent): the real
// handler over mutual TLS 1.3 on loopback, an encrypted keystore, a
// policy, and an audit log in SQLite (or a store the test gives). There
// are no fakes; only the process boundary of `signet serve` is missing.
package signettest

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
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

// Options describe the server to start.
type Options struct {
	// Principals are recognised by client certificates whose subject CN
	// is their name, issued by the server's CA.
	Principals map[string]policy.Rules
	Keys       []keystore.Spec // created at start, besides the log key
	Limits     server.Limits
	Audit      audit.Store // nil: SQLite in a temporary directory
	ServerID   string      // default "test-server"
	// Wrap, if set, wraps the server's handler, to interfere with
	// requests and responses.
	Wrap func(http.Handler) http.Handler
	// CertDir keeps the certificate chains attached to keys (a temporary
	// directory if unset).
	CertDir string
	// Tokens turns tokens on: keystore key "tokens" signs them, for
	// audience "test", and connections may present one instead of a
	// client certificate.
	Tokens bool
}

// Server is a running server.
type Server struct {
	URL    *url.URL
	CA     *devpki.CA
	Pool   *x509.CertPool // trusts the server's certificate
	Keys   *keystore.Keyring
	Log    *audit.Log
	LogKey string // the log's verifier key
	certs  map[string]tls.Certificate
}

// Origin is the audit log's name.
const Origin = "test/audit"

// Start starts a server; it stops when tb ends.
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	check := func(err error) {
		if err != nil {
			tb.Helper()
			tb.Fatal(err)
		}
	}
	dir := tb.TempDir()
	pass := []byte("test passphrase")
	check(keystore.Init(dir, pass))
	ks, err := keystore.Open(dir)
	check(err)
	keys := keystore.NewKeyring(ks, keystore.Timeouts{})
	check(keys.Unlock("test", pass, nil))
	for _, spec := range o.Keys {
		_, err := keys.Create(spec)
		check(err)
	}
	logKey, err := keys.Create(keystore.Spec{Name: "audit-log", Type: keystore.Ed25519, Usage: "audit"})
	check(err)
	s := &Server{Keys: keys, certs: map[string]tls.Certificate{}}
	s.LogKey, err = audit.VerifierKey(Origin, logKey.Public.(ed25519.PublicKey))
	check(err)
	s.CA, err = devpki.NewCA("signettest CA")
	check(err)
	var rules []authn.CertRule
	for name := range o.Principals {
		c, err := s.CA.IssueClient(name)
		check(err)
		s.certs[name] = c
		rules = append(rules, authn.CertRule{Principal: name, SubjectCN: name, CA: s.CA.Cert})
	}
	certs, err := authn.NewCerts(rules)
	check(err)
	pol, err := policy.New(o.Principals)
	check(err)
	store := o.Audit
	if store == nil {
		sq, err := audit.OpenTiles(filepath.Join(tb.TempDir(), "audit"))
		check(err)
		tb.Cleanup(func() { sq.Close() })
		store = sq
	}
	var srv *server.Server
	s.Log, err = audit.Open(context.Background(), audit.Options{Store: store, Origin: Origin,
		Key: func() (crypto.Signer, error) { return srv.AuditKey() }})
	check(err)
	tb.Cleanup(func() { s.Log.Close() })
	if o.ServerID == "" {
		o.ServerID = "test-server"
	}
	if o.CertDir == "" {
		o.CertDir = tb.TempDir()
	}
	chains := keycert.NewDir(o.CertDir)
	auth := &authn.Authenticator{Certs: certs}
	var tokens server.TokenOptions
	if o.Tokens {
		k, err := keys.Create(keystore.Spec{Name: "tokens", Type: keystore.Ed25519, Usage: "token"})
		check(err)
		v, err := token.NewVerifier("test", map[string]ed25519.PublicKey{"tokens": k.Public.(ed25519.PublicKey)}, 0)
		check(err)
		auth.Tokens = v
		tokens = server.TokenOptions{Verifier: v, Audience: "test", SigningKey: "tokens", MaxTTL: 2 * time.Hour}
	}
	srv = server.New(server.Options{Audit: s.Log, AuditKey: "audit-log", ServerID: o.ServerID, Keys: keys, Policy: pol,
		Authn: auth, Limits: o.Limits, Certs: chains, Tokens: tokens})
	var h http.Handler = srv.Handler()
	if o.Wrap != nil {
		h = o.Wrap(h)
	}
	ts := httptest.NewUnstartedServer(h)
	serverCert, err := s.CA.IssueServer("127.0.0.1")
	check(err)
	s.Pool = x509.NewCertPool()
	s.Pool.AddCert(s.CA.Cert)
	ts.TLS = server.TLSConfig(serverCert, s.Pool, o.Tokens)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	tb.Cleanup(ts.Close)
	s.URL, _ = url.Parse(ts.URL)
	return s
}

// TLS returns the client TLS configuration of principal.
func (s *Server) TLS(principal string) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: s.Pool, Certificates: []tls.Certificate{s.certs[principal]}}
}

// Client returns a client of the server for principal.
func (s *Server) Client(principal string) *client.Client {
	return client.NewWithTLS(s.URL, s.TLS(principal))
}

// Credentials writes the CA and principal's certificate and key to dir
// and returns a client configuration that uses them.
func (s *Server) Credentials(tb testing.TB, dir, principal string) client.Config {
	tb.Helper()
	c := s.certs[principal]
	key, err := devpki.KeyPEM(c)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := client.Config{Server: s.URL.String(), CACert: filepath.Join(dir, "ca.pem"),
		ClientCert: filepath.Join(dir, principal+".pem"), ClientKey: filepath.Join(dir, principal+"-key.pem")}
	for name, b := range map[string][]byte{cfg.CACert: devpki.CertPEM(s.CA.TLSCertificate()), cfg.ClientCert: devpki.CertPEM(c), cfg.ClientKey: key} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return cfg
}

// Entries returns every entry of the audit log.
func (s *Server) Entries(tb testing.TB) []*audit.Entry {
	tb.Helper()
	return Entries(tb, s.Log.Store())
}

// Entries returns every entry of the log in store.
func Entries(tb testing.TB, store audit.Store) []*audit.Entry {
	tb.Helper()
	ctx := context.Background()
	_, size, err := store.Head(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*audit.Entry
	for start := int64(0); start < size; start += 1000 {
		data, err := store.Entries(ctx, start, min(size, start+1000))
		if err != nil {
			tb.Fatal(err)
		}
		for _, d := range data {
			e, err := audit.ParseEntry(d)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, e)
		}
	}
	return out
}
