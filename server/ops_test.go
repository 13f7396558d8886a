package server_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/authn"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/server"
	"github.com/signet-dev/signet/token"
)

// signOne asks c to sign one artifact named name with key "release".
func signOne(c *client.Client, name string) (*api.SignResponse, error) {
	sum := sha256.Sum256([]byte(name))
	return c.Sign(context.Background(), &api.SignRequest{Key: "release", Format: "raw",
		Items: []api.SignItem{{Name: name, Digest: api.Digest(crypto.SHA256, sum[:])}}})
}

// gate is an Authenticator that holds every request at authentication
// until released, to keep requests in flight across a reload or a drain.
type gate struct {
	server.Authenticator
	entered chan struct{}
	release chan struct{}
}

func newGate(a server.Authenticator) *gate {
	return &gate{Authenticator: a, entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (g *gate) Authenticate(r *http.Request) (authn.Principal, error) {
	g.entered <- struct{}{}
	<-g.release
	return g.Authenticator.Authenticate(r)
}

// TestReload replaces the settings while a request is held in flight:
// the held request finishes under the grants it started with, later
// requests get the new ones, and each reload is in the audit log.
func TestReload(t *testing.T) {
	f := newFixture(t, server.Limits{})
	builder := f.clients["builder"]
	if _, err := signOne(builder, "before.tar.gz"); err != nil {
		t.Fatal(err)
	}

	// Hold a request of the builder under settings whose authenticator
	// is a gate; then reload to a policy that no longer grants it.
	held := f.settings
	g := newGate(held.Authn)
	held.Authn = g
	if err := f.srv.Reload(context.Background(), held, map[string]string{"step": "gate"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := signOne(builder, "in-flight.tar.gz"); done <- err }()
	<-g.entered
	revoked := f.settings
	pol, err := policy.New(map[string]policy.Rules{"admin": {Admin: true}})
	if err != nil {
		t.Fatal(err)
	}
	revoked.Policy = pol
	if err := f.srv.Reload(context.Background(), revoked, map[string]string{"step": "revoke"}); err != nil {
		t.Fatal(err)
	}
	if _, err := signOne(builder, "after.tar.gz"); !isCode(err, "forbidden") {
		t.Fatalf("signing after the grant was removed: %v", err)
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatalf("the request in flight during the reload: %v", err)
	}

	var reloads []string
	for _, e := range f.entries(t) {
		if e.Action == audit.ActionConfigReload {
			if e.Decision != audit.Allowed || e.Principal.Kind != "server" || e.Server != "test-server" {
				t.Errorf("reload entry: %+v", e)
			}
			reloads = append(reloads, e.Details["step"])
		}
	}
	if strings.Join(reloads, ",") != "gate,revoke" {
		t.Errorf("reload entries %q; want gate, revoke", reloads)
	}
}

// failingLog is a Recorder whose appends fail while fail is set.
type failingLog struct {
	server.Recorder
	fail *atomic.Bool
}

func (l failingLog) Append(ctx context.Context, e ...audit.Entry) ([]audit.Receipt, error) {
	if l.fail.Load() {
		return nil, errors.New("disk on fire")
	}
	return l.Recorder.Append(ctx, e...)
}

// TestReloadUnrecorded checks that a reload the audit log cannot record
// is not applied, and that a refused reload is recorded as failed.
func TestReloadUnrecorded(t *testing.T) {
	var fail atomic.Bool
	f := newFixtureWith(t, fixtureOptions{wrapRecorder: func(r server.Recorder) server.Recorder { return failingLog{r, &fail} }})
	revoked := f.settings
	pol, err := policy.New(map[string]policy.Rules{"admin": {Admin: true}})
	if err != nil {
		t.Fatal(err)
	}
	revoked.Policy = pol
	fail.Store(true)
	if err := f.srv.Reload(context.Background(), revoked, nil); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("reload with an unwritable log: %v", err)
	}
	fail.Store(false)
	if _, err := signOne(f.clients["builder"], "still.tar.gz"); err != nil {
		t.Fatalf("the old grants should stay after an unrecorded reload: %v", err)
	}
	f.srv.RecordFailedReload(context.Background(), errors.New("signet.yaml:3: listn: unknown field"), map[string]string{"config_sha256": "x"})
	es := f.entries(t)
	last := es[len(es)-1]
	if last.Action != audit.ActionConfigReload || last.Decision != audit.Failed || !strings.Contains(last.Reason, "listn") {
		t.Fatalf("refused reload entry: %+v", last)
	}
	for _, e := range es {
		if e.Action == audit.ActionConfigReload && e.Decision == audit.Allowed {
			t.Fatalf("an unrecorded reload left an entry: %+v", e)
		}
	}
}

// scrape returns the metrics in the text exposition format.
func scrape(t *testing.T, m *server.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// metricValue returns the value of the sample whose name and labels are
// exactly series, or -1.
func metricValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}

// TestMetrics counts signatures by key, format and result, requests by
// route and status class, audit commits, token rejections by reason, and
// the keystore's state, and checks that what callers choose (artifact
// names, principals, unknown key names) never becomes a label.
func TestMetrics(t *testing.T) {
	f := newFixture(t, server.Limits{})
	builder := f.clients["builder"]
	for i := range 3 {
		if _, err := signOne(builder, fmt.Sprintf("secret-artifact-%d.tar.gz", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := signOne(builder, "not-granted.exe"); !isCode(err, "forbidden") {
		t.Fatalf("refused name: %v", err)
	}
	sum := sha256.Sum256([]byte("x"))
	_, err := f.clients["admin"].Sign(context.Background(), &api.SignRequest{Key: "no-such-key-4711", Format: "raw",
		Items: []api.SignItem{{Name: "x.tar.gz", Digest: api.Digest(crypto.SHA256, sum[:])}}})
	if !isCode(err, "not_found") {
		t.Fatalf("unknown key: %v", err)
	}
	// Tokens: one expired, one from nowhere.
	signer, err := f.keys.Signer("tokens")
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-2 * time.Hour).Unix()
	expired, err := token.Sign(signer, "tokens", token.Claims{Issuer: "ci", Subject: "job", Audience: "test", ID: token.NewID(),
		IssuedAt: past, NotBefore: past, Expiry: past + 60, Scope: token.Scope{Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"*"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{expired, "xyzzy-not-a-token"} {
		if status, _ := bearer(t, f, "", tok, "GET", "/v1/keys", ""); status != 401 {
			t.Fatalf("token %.20s: status %d", tok, status)
		}
	}

	text := scrape(t, f.metrics)
	for series, want := range map[string]float64{
		`signet_signatures_total{format="raw",key="release",result="signed"}`:        3,
		`signet_signatures_total{format="raw",key="release",result="refused"}`:       1,
		`signet_signatures_total{format="raw",key="unknown",result="refused"}`:       1,
		`signet_request_duration_seconds_count{code="2xx",endpoint="POST /v1/sign"}`: 3,
		`signet_request_duration_seconds_count{code="4xx",endpoint="POST /v1/sign"}`: 2,
		`signet_request_duration_seconds_count{code="4xx",endpoint="GET /v1/keys"}`:  2,
		`signet_token_rejections_total{reason="expired"}`:                            1,
		`signet_token_rejections_total{reason="malformed"}`:                          1,
		`signet_token_rejections_total{reason="revoked"}`:                            0,
		`signet_keystore_locked`:                  0,
		`signet_keystore_lease_remaining_seconds`: -2, // +Inf: checked below
		`signet_ready`:                            1,
	} {
		got := metricValue(text, series)
		if want == -2 {
			if !strings.Contains(text, series+" +Inf") {
				t.Errorf("%s: want +Inf (no lease limits)", series)
			}
			continue
		}
		if got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if n := metricValue(text, "signet_audit_commit_entries_count"); n < 1 {
		t.Errorf("no audit commit observed: %v", n)
	}
	// The two failed authentications are recorded per interval, later.
	if n := metricValue(text, "signet_audit_commit_entries_sum"); n < 5 {
		t.Errorf("audit commits wrote %v entries; want at least the 5 authenticated requests", n)
	}
	for _, secret := range []string{"secret-artifact", "not-granted", "no-such-key-4711", "builder", "xyzzy-not-a-token", expired[:20]} {
		if strings.Contains(text, secret) {
			t.Errorf("the metrics mention %q", secret)
		}
	}
	// Every label value is from a bounded set.
	labels := regexp.MustCompile(`(\w+)="([^"]*)"`)
	allowed := map[string]*regexp.Regexp{
		"key": regexp.MustCompile(`^(release|unknown)$`), "format": regexp.MustCompile(`^(raw|unknown)$`),
		"result": regexp.MustCompile(`^(signed|refused|failed|applied|unlocked|bad_passphrase|throttled|busy)$`), "code": regexp.MustCompile(`^[1-5]xx$`),
		"endpoint": regexp.MustCompile(`^(GET|POST|PUT) /v1/[a-z/{}-]+$`), "reason": regexp.MustCompile(`^[a-z_]+$`),
	}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "signet_") {
			continue
		}
		for _, m := range labels.FindAllStringSubmatch(line, -1) {
			if re, ok := allowed[m[1]]; ok && !re.MatchString(m[2]) {
				t.Errorf("label %s=%q in %s", m[1], m[2], line)
			}
		}
	}

	f.keys.Lock()
	text = scrape(t, f.metrics)
	if metricValue(text, "signet_keystore_locked") != 1 || metricValue(text, "signet_keystore_lease_remaining_seconds") != 0 || metricValue(text, "signet_ready") != 0 {
		t.Errorf("after Lock: locked %v, lease %v, ready %v", metricValue(text, "signet_keystore_locked"),
			metricValue(text, "signet_keystore_lease_remaining_seconds"), metricValue(text, "signet_ready"))
	}
}

// pingStore is an audit store whose Ping the test controls: it fails
// with err, or hangs until hang is closed, and counts calls.
type pingStore struct {
	audit.Store
	mu    sync.Mutex
	err   error
	hang  chan struct{}
	pings int
}

func (s *pingStore) Ping(ctx context.Context) error {
	s.mu.Lock()
	s.pings++
	err, hang := s.err, s.hang
	s.mu.Unlock()
	if hang != nil {
		<-hang // ignores ctx, as a stuck driver might
	}
	if err != nil {
		return err
	}
	return s.Store.Ping(ctx)
}

func (s *pingStore) set(err error, hang chan struct{}) (pings int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pings, s.err, s.hang, s.pings = s.pings, err, hang, 0
	return pings
}

// TestReadyProbes checks that /readyz probes the audit database: not
// ready while it fails, an answer (not a hang) while it does not answer,
// one probe at a time however many ask, and results cached.
func TestReadyProbes(t *testing.T) {
	ps := &pingStore{}
	f := newFixtureWith(t, fixtureOptions{
		wrapStore: func(s audit.Store) audit.Store { ps.Store = s; return ps },
		readiness: server.Readiness{CacheFor: time.Hour, Timeout: 200 * time.Millisecond},
	})
	status, body := f.readyz(t)
	if status != 200 {
		t.Fatalf("readyz: %d %s", status, body)
	}
	for range 20 {
		if status, body := f.readyz(t); status != 200 {
			t.Fatalf("readyz: %d %s", status, body)
		}
	}
	if n := ps.set(errors.New("connection refused"), nil); n != 1 {
		t.Errorf("21 readiness checks within CacheFor probed the database %d times; want 1", n)
	}

	// A new server over the same failing store, with no cache.
	f2 := newFixtureWith(t, fixtureOptions{
		wrapStore: func(s audit.Store) audit.Store { return &pingStore{Store: s, err: errors.New("connection refused")} },
		readiness: server.Readiness{CacheFor: time.Nanosecond, Timeout: 200 * time.Millisecond},
	})
	// The driver's error goes to the server log, not to whoever asks.
	if status, body := f2.readyz(t); status != 503 || !strings.Contains(body, "audit log unwritable") || strings.Contains(body, "connection refused") {
		t.Fatalf("readyz with the database refusing: %d %s", status, body)
	}

	// A database that hangs: every check answers, not ready, and only
	// one probe is ever waiting on it.
	hang := make(chan struct{})
	hs := &pingStore{hang: hang}
	f3 := newFixtureWith(t, fixtureOptions{
		wrapStore: func(s audit.Store) audit.Store { hs.Store = s; return hs },
		readiness: server.Readiness{CacheFor: time.Nanosecond, Timeout: 100 * time.Millisecond},
	})
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := f3.httpClient("admin")
			client.Timeout = 30 * time.Second // a failure bound, not a measurement
			resp, err := client.Get(f3.url.JoinPath("/readyz").String())
			if err != nil {
				t.Errorf("readyz while the database hangs: %v", err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 || !strings.Contains(string(b), "has not answered") {
				t.Errorf("readyz while the database hangs: %d %s", resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	hs.mu.Lock()
	pings := hs.pings
	hs.mu.Unlock()
	if pings != 1 {
		t.Errorf("10 checks of a hanging database started %d probes; want 1", pings)
	}
	close(hang)
	hs.set(nil, nil)
	f3.waitReady(t)
}

// TestDrain serves on a listener of its own, holds a request in flight and
// stops the server: it is not ready while it drains, the request
// completes, and Serve returns nil.
func TestDrain(t *testing.T) {
	f := newFixture(t, server.Limits{})
	g := newGate(f.settings.Authn)
	set := f.settings
	set.Authn = g
	if err := f.srv.Reload(context.Background(), set, nil); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := f.ca.IssueServer("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(f.ca.Cert)
	sw := server.NewTLSSwitch(server.TLSConfig(serverCert, pool, true))
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(ctx, ln, sw.Config(), 30*time.Second) }()
	u, _ := url.Parse("https://" + ln.Addr().String())
	c := client.NewWithTLS(u, f.tls["builder"])
	done := make(chan error, 1)
	go func() { _, err := signOne(c, "draining.tar.gz"); done <- err }()
	<-g.entered
	if err := f.srv.Ready(context.Background()); err != nil {
		t.Fatalf("not ready before the stop: %v", err)
	}
	stop()
	for f.srv.Ready(context.Background()) == nil {
		time.Sleep(time.Millisecond)
	}
	if err := f.srv.Ready(context.Background()); !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("while draining: %v", err)
	}
	if _, err := tls.Dial("tcp", ln.Addr().String(), f.tls["builder"]); err == nil {
		t.Error("a new connection was accepted while draining")
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatalf("the request in flight: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after a complete drain: %v", err)
	}
}

// isCode reports whether err is an API error with code.
func isCode(err error, code string) bool {
	var ae *client.Error
	return errors.As(err, &ae) && ae.Code == code
}
