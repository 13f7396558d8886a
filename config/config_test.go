package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/authn"
	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/server"
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExample keeps docs/signet.example.yaml valid and true to what
// docs/config.md says about it.
func TestExample(t *testing.T) {
	c, err := Parse(readFile(t, "../docs/signet.example.yaml"))
	if err != nil {
		t.Fatalf("docs/signet.example.yaml: %v", err)
	}
	if c.Listen != "0.0.0.0:8443" || c.Data != "/var/lib/signet" || c.KeystoreDir() != "/var/lib/signet/keystore" {
		t.Errorf("listen %q, data %q, keystore %q", c.Listen, c.Data, c.KeystoreDir())
	}
	if len(c.TLS.ClientCAs) != 2 || c.TLS.Cert == "" || c.TLS.Key == "" {
		t.Errorf("tls = %+v", c.TLS)
	}
	// The example spells out the defaults; they must be the real ones.
	if c.Limits != server.DefaultLimits() {
		t.Errorf("example limits %+v differ from server.DefaultLimits() %+v", c.Limits, server.DefaultLimits())
	}
	if c.DrainTimeout != 30*time.Second {
		t.Errorf("drain_timeout = %v, want 30s", c.DrainTimeout)
	}

	var names []string
	for _, p := range c.Principals {
		names = append(names, p.Name)
	}
	if want := []string{"release-admin", "builders", "nightly", "build-host-7"}; !slices.Equal(names, want) {
		t.Fatalf("principals = %q, want %q", names, want)
	}
	admin, builders, nightly := c.Principals[0], c.Principals[1], c.Principals[2]
	if !admin.Admin || len(admin.Grants) != 0 {
		t.Errorf("release-admin: admin %v, %d grants; want an admin with no grants", admin.Admin, len(admin.Grants))
	}
	if _, err := authn.NormalizeFingerprint(admin.Certificate.SHA256); err != nil {
		t.Errorf("release-admin: %v", err)
	}
	if m := builders.Certificate; m.CA == "" || m.SubjectCN != "release-builder" {
		t.Errorf("builders certificate = %+v, want ca and subject_cn release-builder", m)
	}
	if m := nightly.Certificate; m.CA == "" || m.DNSName != "nightly.ci.example.org" {
		t.Errorf("nightly certificate = %+v, want ca and dns_name", m)
	}

	pol, err := c.Policy()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		r  policy.Request
		ok bool
	}{
		{policy.Request{Principal: "builders", Action: policy.Sign, Key: "release", Format: "raw", Artifact: "dist/signet-1.2.0.tar.gz"}, true},
		{policy.Request{Principal: "builders", Action: policy.Sign, Key: "release", Format: "raw", Artifact: "signet-1.2.0.tar.gz"}, false},
		{policy.Request{Principal: "builders", Action: policy.Sign, Key: "release", Format: "raw", Artifact: "dist/sub/signet-1.2.0.tar.gz"}, false},
		{policy.Request{Principal: "builders", Action: policy.Sign, Key: "release", Format: "raw", Artifact: "install.sh"}, false},
		{policy.Request{Principal: "builders", Action: policy.Sign, Key: "nightly", Format: "raw", Artifact: "x.tar.gz"}, false},
		{policy.Request{Principal: "builders", Action: policy.Admin}, false},
		{policy.Request{Principal: "nightly", Action: policy.Sign, Key: "nightly", Format: "raw", Artifact: "nightly/2025-01-02/signet.tar.gz"}, true},
		{policy.Request{Principal: "nightly", Action: policy.Sign, Key: "nightly", Format: "raw", Artifact: "nightly/signet.tar.gz"}, false},
		{policy.Request{Principal: "release-admin", Action: policy.Admin}, true},
		{policy.Request{Principal: "release-admin", Action: policy.Sign, Key: "release", Format: "raw", Artifact: "a.tar.gz"}, false},
		{policy.Request{Principal: "build-host-7", Action: policy.Sign, Key: "release", Format: "raw", Artifact: "a.tar.gz", LocalUser: "build-3"}, true},
		{policy.Request{Principal: "build-host-7", Action: policy.Sign, Key: "release", Format: "raw", Artifact: "a.tar.gz", LocalUser: "alice"}, false},
		{policy.Request{Principal: "builders", Action: policy.Sign, Key: "release", Format: "raw", Artifact: "a.tar.gz", LocalUser: "build-3"}, false},
	} {
		if err := pol.Authorize(tc.r); (err == nil) != tc.ok {
			t.Errorf("Authorize(%+v) = %v, want allowed %v", tc.r, err, tc.ok)
		}
	}
}

func TestParse(t *testing.T) {
	minimal := string(readFile(t, "testdata/minimal.yaml"))
	edit := func(old, new string) string {
		if !strings.Contains(minimal, old) {
			t.Fatalf("testdata/minimal.yaml has no %q", old)
		}
		return strings.Replace(minimal, old, new, 1)
	}
	const secondPrincipal = "  - name: ci\n    certificate:\n      dns_name: ci.example.org\n"
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // substrings of the error; none means success
	}{
		{"minimal", minimal, nil},
		{"unknown field", edit("listen:", "listn:"), []string{"line 3: listn: unknown field"}},
		{"unknown nested field", edit("subject_cn: ci", "subject_cm: ci"), []string{"principals[0].certificate.subject_cm: unknown field"}},
		{"unknown grant field", edit("artifacts:", "artefacts:"), []string{"principals[0].grants[0].artefacts: unknown field"}},
		{"missing listen", edit("listen: 127.0.0.1:8443\n", ""), []string{"listen is required"}},
		{"missing data", edit("data: data\n", ""), []string{"data is required"}},
		{"missing tls.cert", edit("  cert: server.pem\n", ""), []string{"tls.cert is required"}},
		{"missing tls.key", edit("  key: server-key.pem\n", ""), []string{"tls.key is required"}},
		{"missing client_cas", edit("  client_cas:\n    - ca.pem\n", ""), []string{"tls.client_cas is required"}},
		{"empty client_cas", edit("  client_cas:\n    - ca.pem\n", "  client_cas: []\n"), []string{"tls.client_cas is required"}},
		{"empty principals", minimal[:strings.Index(minimal, "principals:")] + "principals: []\n", []string{"principals is empty"}},
		{"no principals", minimal[:strings.Index(minimal, "principals:")], []string{"principals is empty"}},
		{"duplicate principal", minimal + secondPrincipal, []string{`principal "ci" is defined twice`}},
		{"missing principal name", minimal + "  - certificate:\n      dns_name: x.example.org\n", []string{"principals[1].name is required"}},
		{"every missing field at once", "principals: []\n", []string{
			"listen is required", "data is required", "tls.cert is required", "tls.key is required",
			"tls.client_cas is required", "principals is empty",
		}},
		{"empty file", "", []string{"the file is empty"}},
		{"negative limit", minimal + "limits:\n  max_batch: -1\n", []string{"limits.max_batch is negative"}},
		{"ca with pinned certificate", minimal + "  - name: pinned\n    certificate:\n      sha256: " + strings.Repeat("ab", 32) + "\n      ca: ca.pem\n", []string{"certificate.ca has no effect with certificate.sha256"}},
		{"duration without unit", minimal + "drain_timeout: 30\n", []string{"is not a duration"}},
		{"duration in words", minimal + "limits:\n  queue_timeout: 30 seconds\n", []string{"is not a duration"}},
		{"time-stamp policy", minimal + "timestamp:\n  policy: 1.3.6.1.4.1.32473.1\n  accuracy: 500ms\n", nil},
		{"bad time-stamp policy", minimal + "timestamp:\n  policy: example-policy\n", []string{"timestamp.policy: policy \"example-policy\" is not a dotted object identifier"}},
		{"bad time-stamp accuracy", minimal + "timestamp:\n  accuracy: 2h\n", []string{"timestamp.accuracy 2h0m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want error containing %q", c, tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestParseKeepsRelativePaths(t *testing.T) {
	c, err := Parse(readFile(t, "testdata/minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != "data" || c.TLS.Cert != "server.pem" || c.TLS.ClientCAs[0] != "ca.pem" {
		t.Errorf("Parse changed relative paths: data %q, cert %q, client_cas %q", c.Data, c.TLS.Cert, c.TLS.ClientCAs)
	}
}

func TestDurations(t *testing.T) {
	minimal := string(readFile(t, "testdata/minimal.yaml"))
	c, err := Parse([]byte(minimal + `
drain_timeout: 1m30s
limits:
  queue_timeout: 30s
  read_timeout: 500ms
  write_timeout: "2m"
  idle_timeout: 1h
  max_batch: 10
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		field     string
		got, want time.Duration
	}{
		{"drain_timeout", c.DrainTimeout, 90 * time.Second},
		{"limits.queue_timeout", c.Limits.QueueTimeout, 30 * time.Second},
		{"limits.read_timeout", c.Limits.ReadTimeout, 500 * time.Millisecond},
		{"limits.write_timeout", c.Limits.WriteTimeout, 2 * time.Minute},
		{"limits.idle_timeout", c.Limits.IdleTimeout, time.Hour},
	} {
		if d.got != d.want {
			t.Errorf("%s = %v, want %v", d.field, d.got, d.want)
		}
	}
	if c.Limits.MaxBatch != 10 || c.Limits.MaxBodyBytes != 0 {
		t.Errorf("limits = %+v; want max_batch 10 and the rest zero (defaulted by the server)", c.Limits)
	}

	// Omitted durations stay zero; the server and serve apply defaults.
	c, err = Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.DrainTimeout != 0 || c.Limits != (server.Limits{}) {
		t.Errorf("omitted fields: drain_timeout %v, limits %+v; want zero", c.DrainTimeout, c.Limits)
	}
}

// pkiFiles is a PKI written as PEM files, as an operator would have it.
type pkiFiles struct {
	ca, otherCA    *devpki.CA
	admin, builder tls.Certificate
	impostor       tls.Certificate // CN of a builder, from the other CA
}

func writePEM(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeCert(t *testing.T, dir, name string, c tls.Certificate) {
	t.Helper()
	key, err := devpki.KeyPEM(c)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, dir, name+".pem", devpki.CertPEM(c))
	writePEM(t, dir, name+"-key.pem", key)
}

func newPKI(t *testing.T, dir string) *pkiFiles {
	t.Helper()
	must := func(c tls.Certificate, err error) tls.Certificate {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca, err := devpki.NewCA("Test client CA")
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := devpki.NewCA("Other client CA")
	if err != nil {
		t.Fatal(err)
	}
	p := &pkiFiles{
		ca:       ca,
		otherCA:  otherCA,
		admin:    must(ca.IssueClient("alice")),
		builder:  must(ca.IssueClient("release-builder")),
		impostor: must(otherCA.IssueClient("release-builder")),
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writePEM(t, dir, "ca.pem", devpki.CertPEM(ca.TLSCertificate()))
	writePEM(t, dir, "other-ca.pem", devpki.CertPEM(otherCA.TLSCertificate()))
	writeCert(t, dir, "server", must(ca.IssueServer("localhost", "127.0.0.1")))
	return p
}

// opensslFingerprint formats a fingerprint as `openssl x509 -fingerprint
// -sha256` prints it, which the config must accept.
func opensslFingerprint(c *x509.Certificate) string {
	hex := strings.ToUpper(authn.Fingerprint(c))
	var parts []string
	for i := 0; i < len(hex); i += 2 {
		parts = append(parts, hex[i:i+2])
	}
	return strings.Join(parts, ":")
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	pki := newPKI(t, filepath.Join(dir, "pki"))
	cfgFile := filepath.Join(dir, "etc", "signet.yaml")
	if err := os.MkdirAll(filepath.Dir(cfgFile), 0o700); err != nil {
		t.Fatal(err)
	}
	// Both client CAs are trusted by TLS; the builders rule accepts only
	// the first.
	writePEM(t, dir, "etc/signet.yaml", fmt.Appendf(nil, `
listen: 127.0.0.1:0
data: ../state
tls:
  cert: ../pki/server.pem
  key: ../pki/server-key.pem
  client_cas: [../pki/ca.pem, ../pki/other-ca.pem]
limits:
  queue_timeout: 2s
drain_timeout: 5s
principals:
  - name: admin
    certificate:
      sha256: %q
    admin: true
  - name: builders
    certificate:
      ca: ../pki/ca.pem
      subject_cn: release-builder
    grants:
      - keys: [release]
        formats: [raw]
        artifacts: ["*.tar.gz"]
`, opensslFingerprint(pki.admin.Leaf)))

	c, err := Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}

	// Relative paths are resolved against the config file's directory.
	for _, p := range []struct{ field, got, want string }{
		{"data", c.Data, filepath.Join(dir, "state")},
		{"keystore", c.KeystoreDir(), filepath.Join(dir, "state", "keystore")},
		{"tls.cert", c.TLS.Cert, filepath.Join(dir, "pki", "server.pem")},
		{"tls.key", c.TLS.Key, filepath.Join(dir, "pki", "server-key.pem")},
		{"tls.client_cas[0]", c.TLS.ClientCAs[0], filepath.Join(dir, "pki", "ca.pem")},
		{"tls.client_cas[1]", c.TLS.ClientCAs[1], filepath.Join(dir, "pki", "other-ca.pem")},
		{"principals[1].certificate.ca", c.Principals[1].Certificate.CA, filepath.Join(dir, "pki", "ca.pem")},
	} {
		if p.got != p.want {
			t.Errorf("%s = %q, want %q", p.field, p.got, p.want)
		}
	}
	if c.Limits.QueueTimeout != 2*time.Second || c.DrainTimeout != 5*time.Second {
		t.Errorf("queue_timeout %v, drain_timeout %v; want 2s, 5s", c.Limits.QueueTimeout, c.DrainTimeout)
	}

	// TLS: mutual TLS 1.3 whose client pool holds the configured CAs.
	serverTLS, err := c.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	if serverTLS.MinVersion != tls.VersionTLS13 {
		t.Errorf("MinVersion = %x, want TLS 1.3", serverTLS.MinVersion)
	}
	if serverTLS.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Errorf("ClientAuth = %v, want RequireAndVerifyClientCert", serverTLS.ClientAuth)
	}
	if len(serverTLS.Certificates) != 1 {
		t.Fatalf("%d server certificates, want 1", len(serverTLS.Certificates))
	}
	for _, leaf := range []*x509.Certificate{pki.builder.Leaf, pki.impostor.Leaf} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: serverTLS.ClientCAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("client certificate %q does not verify against tls.client_cas: %v", leaf.Subject.CommonName, err)
		}
	}

	a, err := c.Authenticator()
	if err != nil {
		t.Fatal(err)
	}
	auth := a.Certs
	for _, tc := range []struct {
		name  string
		chain []*x509.Certificate
		want  string // principal, or "" for refusal
	}{
		{"builder by CA and subject CN", []*x509.Certificate{pki.builder.Leaf, pki.ca.Cert}, "builders"},
		{"admin by fingerprint", []*x509.Certificate{pki.admin.Leaf, pki.ca.Cert}, "admin"},
		{"same CN, other CA", []*x509.Certificate{pki.impostor.Leaf, pki.otherCA.Cert}, ""},
	} {
		p, err := auth.Authenticate(&tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{tc.chain}})
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s: authenticated as %q, want refusal", tc.name, p.Name)
		case tc.want == "" && !errors.Is(err, authn.ErrUnauthenticated):
			t.Errorf("%s: error %v, want ErrUnauthenticated", tc.name, err)
		case tc.want != "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (p.Name != tc.want || p.Method != "mtls" || p.ID != "sha256:"+authn.Fingerprint(tc.chain[0])):
			t.Errorf("%s: principal %+v, want %q", tc.name, p, tc.want)
		}
	}

	pol, err := c.Policy()
	if err != nil {
		t.Fatal(err)
	}
	sign := func(principal, artifact string) policy.Request {
		return policy.Request{Principal: principal, Action: policy.Sign, Key: "release", Format: "raw", Artifact: artifact}
	}
	if err := pol.Authorize(sign("builders", "signet-1.2.0.tar.gz")); err != nil {
		t.Errorf("builders may not sign a tarball: %v", err)
	}
	if err := pol.Authorize(sign("builders", "dist/signet-1.2.0.tar.gz")); !errors.Is(err, policy.ErrDenied) {
		t.Errorf("builders signing dist/…: %v, want denied ('*' does not cross '/')", err)
	}
	if err := pol.Authorize(sign("admin", "signet-1.2.0.tar.gz")); !errors.Is(err, policy.ErrDenied) {
		t.Errorf("admin without grants signing: %v, want denied", err)
	}
	if err := pol.Authorize(policy.Request{Principal: "admin", Action: policy.Admin}); err != nil {
		t.Errorf("admin may not administer: %v", err)
	}

	// The real thing: a TLS 1.3 handshake with the loaded configuration,
	// then authentication from the server's view of the connection.
	roots := x509.NewCertPool()
	roots.AddCert(pki.ca.Cert)
	for _, tc := range []struct {
		client tls.Certificate
		want   string
	}{
		{pki.builder, "builders"},
		{pki.admin, "admin"},
		{pki.impostor, ""},
	} {
		cs := handshake(t, serverTLS, &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{tc.client}})
		if cs.Version != tls.VersionTLS13 {
			t.Errorf("negotiated %x, want TLS 1.3", cs.Version)
		}
		p, err := auth.Authenticate(&cs)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%q from the other CA authenticated as %q", tc.client.Leaf.Subject.CommonName, p.Name)
			}
			continue
		}
		if err != nil || p.Name != tc.want {
			t.Errorf("handshake as %q: principal %q, %v; want %q", tc.client.Leaf.Subject.CommonName, p.Name, err, tc.want)
		}
	}
}

// handshake runs a TLS handshake over an in-memory connection and returns
// the server's connection state.
func handshake(t *testing.T, serverConfig, clientConfig *tls.Config) tls.ConnectionState {
	t.Helper()
	sc, cc := net.Pipe()
	defer sc.Close()
	defer cc.Close()
	srv := tls.Server(sc, serverConfig)
	errc := make(chan error, 1)
	go func() { errc <- tls.Client(cc, clientConfig).Handshake() }()
	if err := srv.Handshake(); err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	return srv.ConnectionState()
}

func TestHandshakeWithoutClientCertificateFails(t *testing.T) {
	dir := t.TempDir()
	pki := newPKI(t, dir)
	c := &Config{TLS: TLS{
		Cert:      filepath.Join(dir, "server.pem"),
		Key:       filepath.Join(dir, "server-key.pem"),
		ClientCAs: []string{filepath.Join(dir, "ca.pem")},
	}}
	serverTLS, err := c.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(pki.ca.Cert)
	sc, cc := net.Pipe()
	defer sc.Close()
	defer cc.Close()
	go func() {
		tls.Client(cc, &tls.Config{RootCAs: roots, ServerName: "localhost"}).Handshake()
		cc.Close()
	}()
	if err := tls.Server(sc, serverTLS).Handshake(); err == nil {
		t.Fatal("handshake without a client certificate succeeded")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	newPKI(t, dir)
	minimal := string(readFile(t, "testdata/minimal.yaml"))
	write := func(name, s string) string {
		writePEM(t, dir, name, []byte(s))
		return filepath.Join(dir, name)
	}
	// minimal.yaml names server.pem, server-key.pem and ca.pem, which
	// newPKI wrote into dir.
	good := minimal

	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "reading config") {
		t.Errorf("missing file: %v", err)
	}
	bad := write("bad.yaml", strings.Replace(minimal, "listen:", "listn:", 1))
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "listn") {
		t.Errorf("Load error %v does not name the file and the field", err)
	}

	tests := []struct {
		name   string
		yaml   string
		build  func(*Config) error
		errHas string
	}{
		{"missing server cert", strings.Replace(good, "cert: server.pem", "cert: nope.pem", 1),
			func(c *Config) error { _, err := c.ServerTLS(); return err }, "tls.cert/tls.key"},
		{"missing client CA file", strings.Replace(good, "- ca.pem", "- nope.pem", 1),
			func(c *Config) error { _, err := c.ServerTLS(); return err }, "tls.client_cas"},
		{"client CA file without certificates", strings.Replace(good, "- ca.pem", "- server-key.pem", 1),
			func(c *Config) error { _, err := c.ServerTLS(); return err }, "no PEM certificate"},
		{"missing principal CA", strings.Replace(good, "subject_cn: ci", "subject_cn: ci\n      ca: nope.pem", 1),
			func(c *Config) error { _, err := c.Authenticator(); return err }, `principal "ci": certificate.ca`},
		{"two certificate names", strings.Replace(good, "subject_cn: ci", "subject_cn: ci\n      dns_name: ci.example.org", 1),
			func(c *Config) error { _, err := c.Authenticator(); return err }, "exactly one of"},
		{"no certificate rule", strings.Replace(good, "subject_cn: ci", "ca: ca.pem", 1),
			func(c *Config) error { _, err := c.Authenticator(); return err }, "exactly one of"},
		{"bad fingerprint", strings.Replace(good, "subject_cn: ci", "sha256: abcd", 1),
			func(c *Config) error { _, err := c.Authenticator(); return err }, "not a SHA-256 fingerprint"},
		{"bad pattern", strings.Replace(good, `"*.tar.gz"`, `"[a-"`, 1),
			func(c *Config) error { _, err := c.Policy(); return err }, "bad pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(write(strings.ReplaceAll(tt.name, " ", "-")+".yaml", tt.yaml))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			err = tt.build(c)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %v, want one containing %q", err, tt.errHas)
			}
		})
	}
}
