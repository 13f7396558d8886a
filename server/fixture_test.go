package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/signet-dev/signet/authn"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/server"
)

// fixture is a running server with a keystore and one client per
// principal: "admin" (administrator, signs everything), "builder" (signs
// with key "release" in format raw, artifacts "*.tar.gz" only) and
// "stranger" (a valid certificate from the trusted CA matching no
// principal).
type fixture struct {
	keys    *keystore.Dir
	url     *url.URL
	ca      *devpki.CA
	clients map[string]*client.Client
	tls     map[string]*tls.Config // client TLS configs, by principal
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
	keys, err := keystore.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if err := keys.Unlock(pass); err != nil {
		tb.Fatal(err)
	}
	if _, err := keys.Create("release", keystore.ECDSAP256); err != nil {
		tb.Fatal(err)
	}
	for _, t := range types {
		if _, err := keys.Create(string(t), t); err != nil {
			tb.Fatal(err)
		}
	}
	ca, err := devpki.NewCA("test CA")
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{keys: keys, ca: ca, clients: map[string]*client.Client{}, tls: map[string]*tls.Config{}}
	var rules []authn.CertRule
	certs := map[string]tls.Certificate{}
	for _, name := range []string{"admin", "builder", "stranger"} {
		c, err := ca.IssueClient(name)
		if err != nil {
			tb.Fatal(err)
		}
		certs[name] = c
		if name != "stranger" {
			rules = append(rules, authn.CertRule{Principal: name, SubjectCN: name, CA: ca.Cert})
		}
	}
	auth, err := authn.NewCerts(rules)
	if err != nil {
		tb.Fatal(err)
	}
	all := []string{"*"}
	pol, err := policy.New(map[string]policy.Rules{
		"admin":   {Admin: true, Grants: []policy.Grant{{Keys: all, Formats: all, Artifacts: all}}},
		"builder": {Grants: []policy.Grant{{Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"*.tar.gz"}}}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv := server.New(keys, pol, auth, limits, nil)
	ts := httptest.NewUnstartedServer(srv.Handler())
	serverCert, err := ca.IssueServer("127.0.0.1")
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	ts.TLS = server.TLSConfig(serverCert, pool)
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

// httpClient returns a plain HTTP client presenting principal's certificate.
func (f *fixture) httpClient(principal string) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: f.tls[principal]}}
}
