package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/authn"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/server"
	"github.com/signet-dev/signet/token"
)

// fixture is a running server with a keystore and one client per
// principal: "admin" (administrator, signs everything), "builder" (signs
// with key "release" in format raw, artifacts "*.tar.gz" only), "ci" (may
// issue tokens for what it may sign: release, raw, "*.tar.gz" and
// "*.zip") and "stranger" (a valid certificate from the trusted CA
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
	audit   *memoryLog
}

// memoryLog records entries in memory. TODO(audit): replace with the
// SQLite log once package audit has it.
type memoryLog struct {
	mu      sync.Mutex
	entries []audit.Entry
}

func (l *memoryLog) Append(_ context.Context, entries ...audit.Entry) ([]audit.Receipt, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := make([]audit.Receipt, len(entries))
	for i, e := range entries {
		rs[i].Index = int64(len(l.entries))
		l.entries = append(l.entries, e)
	}
	return rs, nil
}

// newFixture starts a server over real mutual TLS on loopback with keys of
// the given types, named after their type ("ecdsa-p256", …) plus "release"
// (ECDSA P-256).
func newFixture(tb testing.TB, limits server.Limits, types ...keystore.Type) *fixture {
	tb.Helper()
	dir := tb.TempDir()
	pass := []byte("test passphrase")
	if err := keystore.Init(dir, pass); err != nil {
		tb.Fatal(err)
	}
	ks, err := keystore.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	keys := keystore.NewKeyring(ks, keystore.Timeouts{})
	if err := keys.Unlock("test", pass); err != nil {
		tb.Fatal(err)
	}
	if _, err := keys.Create(keystore.Spec{Name: "release", Type: keystore.ECDSAP256}); err != nil {
		tb.Fatal(err)
	}
	tokKey, err := keys.Create(keystore.Spec{Name: "tokens", Type: keystore.Ed25519})
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
	f := &fixture{keys: keys, ca: ca, clients: map[string]*client.Client{}, tls: map[string]*tls.Config{}, tokens: verifier}
	var rules []authn.CertRule
	certs := map[string]tls.Certificate{}
	f.certs = certs
	for _, name := range []string{"admin", "builder", "ci", "stranger"} {
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
	pol, err := policy.New(map[string]policy.Rules{
		"admin":   {Admin: true, Grants: []policy.Grant{{Keys: all, Formats: all, Artifacts: all}}},
		"builder": {Grants: []policy.Grant{{Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"*.tar.gz"}}}},
		"ci":      {IssueTokens: true, Grants: []policy.Grant{{Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"*.tar.gz", "*.zip"}}}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	f.audit = &memoryLog{}
	srv := server.New(server.Options{
		Audit:  f.audit,
		Keys:   keys,
		Policy: pol,
		Authn:  &authn.Authenticator{Certs: certRules, Tokens: verifier},
		Limits: limits,
		Tokens: server.TokenOptions{Verifier: verifier, Audience: "test", SigningKey: "tokens", MaxTTL: 2 * time.Hour},
	})
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
		f.clients[name] = client.NewWithTLS(f.url, tc)
	}
	return f
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
