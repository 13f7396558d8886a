package main

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/internal/pgtest"
	"github.com/signet-dev/signet/internal/signettest"
	"github.com/signet-dev/signet/keystore"
)

// TestReload sends SIGHUP to a running `signet serve --config`: a file
// that does not load is refused with its line in the log and changes
// nothing; a good one takes grants and the server certificate away from
// the old and gives them to the new at once, says which changed fields
// need a restart, and both reloads are in the audit log and the metrics.
func TestReload(t *testing.T) {
	// Most of its time is spent waiting on the servers it starts.
	t.Parallel()
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	write := func(name string, b []byte) {
		check(os.WriteFile(path(name), b, 0o600))
	}
	ca, err := devpki.NewCA("reload CA")
	check(err)
	write("ca.pem", devpki.CertPEM(ca.TLSCertificate()))
	issue := func(name string, c tls.Certificate, err error) *x509.Certificate {
		check(err)
		key, err := devpki.KeyPEM(c)
		check(err)
		write(name+".pem", devpki.CertPEM(c))
		write(name+"-key.pem", key)
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		check(err)
		return leaf
	}
	c, err := ca.IssueServer("127.0.0.1")
	first := issue("server", c, err)
	for _, p := range []string{"admin", "builder"} {
		c, err := ca.IssueClient(p)
		issue(p, c, err)
	}
	pass := []byte("reload passphrase")
	check(keystore.Init(path("data/keystore"), pass))
	ks, err := keystore.Open(path("data/keystore"))
	check(err)
	check(ks.Unlock(pass))
	_, err = ks.Create(keystore.Spec{Name: "release", Type: keystore.ECDSAP256})
	check(err)
	_, err = ks.Create(keystore.Spec{Name: "audit-log", Type: keystore.Ed25519, Usage: "audit"})
	check(err)
	ks.Lock()
	m := &member{t: t, name: "server", addr: freeAddr(t), metricsAddr: freeAddr(t)}
	config := func(grants, extra string) []byte {
		return fmt.Appendf(nil, `listen: %s
data: data
tls: {cert: server.pem, key: server-key.pem, client_cas: [ca.pem]}
metrics: {listen: %s}
%s
principals:
  - {name: admin, certificate: {subject_cn: admin}, admin: true}
  - name: builder
    certificate: {subject_cn: builder}
    grants: [%s]
`, m.addr, m.metricsAddr, extra, grants)
	}
	write("signet.yaml", config(`{keys: [release], formats: [raw], artifacts: ["*"]}`, ""))
	m.args = []string{"serve", "--config", path("signet.yaml")}
	m.start()
	admin := func() *client.Client {
		c, err := client.New(client.Config{Server: "https://" + m.addr, CACert: path("ca.pem"), ClientCert: path("admin.pem"), ClientKey: path("admin-key.pem")})
		check(err)
		return c
	}
	ctx := context.Background()
	check(admin().Unlock(ctx, string(pass)))
	sign := func(name string) error {
		c, err := client.New(client.Config{Server: "https://" + m.addr, CACert: path("ca.pem"), ClientCert: path("builder.pem"),
			ClientKey: path("builder-key.pem"), Retry: client.Retry{Attempts: 1}})
		check(err)
		sum := sha256.Sum256([]byte(name))
		_, err = c.Sign(ctx, &api.SignRequest{Key: "release", Format: "raw", Items: []api.SignItem{{Name: name, Digest: api.Digest(crypto.SHA256, sum[:])}}})
		return err
	}
	hup := func(want string) {
		t.Helper()
		n := strings.Count(m.stderr.String(), want)
		check(m.cmd.Process.Signal(syscall.SIGHUP))
		for start := time.Now(); strings.Count(m.stderr.String(), want) == n; time.Sleep(10 * time.Millisecond) {
			if time.Since(start) > waitLimit {
				t.Fatalf("no %q in the log after SIGHUP:\n%s", want, m.stderr)
			}
		}
	}
	serverSerial := func() string {
		conn, err := tls.Dial("tcp", m.addr, &tls.Config{RootCAs: poolOf(t, path("ca.pem")), MinVersion: tls.VersionTLS13,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				c, err := tls.LoadX509KeyPair(path("builder.pem"), path("builder-key.pem"))
				return &c, err
			}})
		check(err)
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	check(sign("a.tar.gz"))
	if got := serverSerial(); got != first.SerialNumber.String() {
		t.Fatalf("serving certificate %s, want %s", got, first.SerialNumber)
	}

	// A file that does not load: refused at its line, nothing changes.
	bad := config(``, "")
	bad = []byte(strings.Replace(string(bad), "metrics:", "metrix:", 1))
	write("signet.yaml", bad)
	hup("config reload refused")
	if log := m.stderr.String(); !strings.Contains(log, "signet.yaml:4: metrix: unknown field") {
		t.Fatalf("the refusal does not name the line and field:\n%s", log)
	}
	check(sign("b.tar.gz"))

	// A good file: the grant is gone, a new certificate is served, and
	// the limits changed too, which only a restart applies.
	c, err = ca.IssueServer("127.0.0.1")
	second := issue("server", c, err)
	write("signet.yaml", config(``, "limits: {max_batch: 10}"))
	hup("config reloaded")
	var ce *client.Error
	if err := sign("c.tar.gz"); !errors.As(err, &ce) || ce.Code != "forbidden" {
		t.Fatalf("signing after the grant was removed: %v", err)
	}
	if got := serverSerial(); got != second.SerialNumber.String() {
		t.Fatalf("after the reload, serving certificate %s, want the new %s", got, second.SerialNumber)
	}
	if log := m.stderr.String(); !strings.Contains(log, `"restart_needed":["limits"]`) {
		t.Errorf("the log does not say that limits need a restart:\n%s", log)
	}
	resp, err := http.Get("http://" + m.metricsAddr + "/metrics")
	check(err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`signet_config_reloads_total{result="applied"} 1`, `signet_config_reloads_total{result="refused"} 1`,
		`signet_signatures_total{format="raw",key="release",result="signed"} 2`, `signet_signatures_total{format="raw",key="release",result="refused"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	m.stop()

	store, err := audit.OpenTilesReadOnly(path("data/audit/tiles"))
	check(err)
	defer store.Close()
	var reloads []string
	for _, e := range signettest.Entries(t, store) {
		if e.Action == audit.ActionConfigReload {
			reloads = append(reloads, fmt.Sprintf("%s %s %s", e.Decision, e.Details["restart_needed"], e.Reason))
			if len(e.Details["config_sha256"]) != 64 {
				t.Errorf("reload entry without the file's digest: %+v", e)
			}
		}
	}
	if len(reloads) != 2 || !strings.HasPrefix(reloads[0], "failed") || !strings.Contains(reloads[0], "metrix") || reloads[1] != "allowed limits " {
		t.Errorf("reload entries: %q", reloads)
	}
}

func poolOf(t *testing.T, file string) *x509.CertPool {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(b)
	return p
}

// TestReadyDatabaseOutage stops the PostgreSQL server under a replica:
// /readyz turns not ready, naming the audit log, and keeps answering
// while the database is gone; when it is back, the replica is ready and
// signs again.
func TestReadyDatabaseOutage(t *testing.T) {
	// Most of its time is spent waiting on the servers it starts.
	t.Parallel()
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	ca, err := devpki.NewCA("outage CA")
	check(err)
	check(os.WriteFile(path("ca.pem"), devpki.CertPEM(ca.TLSCertificate()), 0o600))
	for name, issue := range map[string]func() (tls.Certificate, error){
		"server": func() (tls.Certificate, error) { return ca.IssueServer("127.0.0.1") },
		"admin":  func() (tls.Certificate, error) { return ca.IssueClient("admin") },
	} {
		c, err := issue()
		check(err)
		key, err := devpki.KeyPEM(c)
		check(err)
		check(os.WriteFile(path(name+".pem"), devpki.CertPEM(c), 0o600))
		check(os.WriteFile(path(name+"-key.pem"), key, 0o600))
	}
	pass := []byte("outage passphrase")
	check(keystore.Init(path("data/keystore"), pass))
	ks, err := keystore.Open(path("data/keystore"))
	check(err)
	check(ks.Unlock(pass))
	_, err = ks.Create(keystore.Spec{Name: "release", Type: keystore.ECDSAP256})
	check(err)
	_, err = ks.Create(keystore.Spec{Name: "audit-log", Type: keystore.Ed25519, Usage: "audit"})
	check(err)
	ks.Lock()
	m := &member{t: t, name: "server", addr: freeAddr(t), metricsAddr: freeAddr(t)}
	check(os.WriteFile(path("signet.yaml"), fmt.Appendf(nil, `listen: %s
data: data
tls: {cert: server.pem, key: server-key.pem, client_cas: [ca.pem]}
metrics: {listen: %s}
audit: {postgres: %q}
principals:
  - {name: admin, certificate: {subject_cn: admin}, admin: true, grants: [{keys: [release], formats: [raw], artifacts: ["*"]}]}
`, m.addr, m.metricsAddr, dsn), 0o600))
	m.args = []string{"serve", "--config", path("signet.yaml")}
	m.start()
	admin, err := client.New(client.Config{Server: "https://" + m.addr, CACert: path("ca.pem"), ClientCert: path("admin.pem"),
		ClientKey: path("admin-key.pem"), Retry: client.Retry{Attempts: 1}})
	check(err)
	ctx := context.Background()
	check(admin.Unlock(ctx, string(pass)))
	waitReadyz := func(want bool) string {
		t.Helper()
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			ready, why := m.readyz() // a hang fails here, at the client's timeout
			if ready == want {
				return why
			}
			if time.Since(start) > waitLimit {
				t.Fatalf("readyz still %v (%s) after %v", ready, why, waitLimit)
			}
		}
	}
	waitReadyz(true)
	check(pg.Stop())
	if why := waitReadyz(false); !strings.Contains(why, "audit log unwritable") {
		t.Fatalf("not ready, but not for the database: %s", why)
	}
	for range 5 {
		if ready, why := m.readyz(); ready || !strings.Contains(why, "audit log unwritable") {
			t.Fatalf("readyz during the outage: %v %s", ready, why)
		}
	}
	check(pg.Start())
	waitReadyz(true)
	sum := sha256.Sum256([]byte("after"))
	_, err = admin.Sign(ctx, &api.SignRequest{Key: "release", Format: "raw", Items: []api.SignItem{{Name: "after.tar.gz", Digest: api.Digest(crypto.SHA256, sum[:])}}})
	check(err)
	m.stop()
}
