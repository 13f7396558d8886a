package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/signet-dev/signet/api"
)

func TestRetryable(t *testing.T) {
	urlErr := func(err error) error { return &url.Error{Op: "Post", URL: "https://signet:8443/v1/sign", Err: err} }
	dial := func(errno syscall.Errno) error {
		return urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: errno}})
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"500 internal", &Error{Status: 500, Code: "internal"}, true},
		{"502 from a load balancer", &Error{Status: 502}, true},
		{"503 audit unavailable", &Error{Status: 503, Code: "audit_unavailable"}, true},
		{"503 locked: another replica may be unlocked", &Error{Status: 503, Code: "locked"}, true},
		{"503 overloaded", &Error{Status: 503, Code: "overloaded", RetryAfter: time.Second}, true},
		{"504 gateway timeout", &Error{Status: 504}, true},
		{"501 not implemented", &Error{Status: 501}, false},
		{"400 bad request", &Error{Status: 400, Code: "bad_request"}, false},
		{"401 unauthenticated", &Error{Status: 401, Code: "unauthenticated"}, false},
		{"403 forbidden", &Error{Status: 403, Code: "forbidden"}, false},
		{"404 not found", &Error{Status: 404, Code: "not_found"}, false},
		{"409 exists", &Error{Status: 409, Code: "exists"}, false},
		{"413 too large", &Error{Status: 413, Code: "too_large"}, false},
		{"429 too many requests", &Error{Status: 429}, false},
		{"wrapped 503", fmt.Errorf("signing: %w", &Error{Status: 503}), true},
		{"connection refused", dial(syscall.ECONNREFUSED), true},
		{"connection reset", urlErr(&net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}), true},
		{"broken pipe", urlErr(&net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}), true},
		{"host unreachable", dial(syscall.EHOSTUNREACH), true},
		{"server closed the connection", urlErr(io.EOF), true},
		{"truncated response", fmt.Errorf("reading response: %w", io.ErrUnexpectedEOF), true},
		{"attempt timed out", urlErr(context.DeadlineExceeded), true},
		{"DNS failure", urlErr(&net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "signet2", IsNotFound: true}}), true},
		{"agent socket missing", dial(syscall.ENOENT), true},
		{"canceled", urlErr(context.Canceled), false},
		{"unknown CA", urlErr(x509.UnknownAuthorityError{}), false},
		{"wrong host name", urlErr(x509.HostnameError{Host: "signet"}), false},
		{"expired certificate", urlErr(x509.CertificateInvalidError{Reason: x509.Expired}), false},
		{"certificate verification", urlErr(&tls.CertificateVerificationError{Err: errors.New("x")}), false},
		{"not TLS", urlErr(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), false},
		{"our certificate refused", urlErr(&net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}), false},
		{"bad JSON", errors.New("response from signet is not valid JSON"), false},
		{"HTTP/2 stream reset", urlErr(errors.New("stream error: stream ID 3; INTERNAL_ERROR; received from peer")), true},
		{"HTTP/2 connection lost", urlErr(errors.New("http2: client connection lost")), true},
		{"HTTP/2 GOAWAY", urlErr(errors.New("http2: server sent GOAWAY and closed the connection; LastStreamID=1, ErrCode=NO_ERROR")), true},
	}
	for _, tt := range tests {
		if got := Retryable(tt.err); got != tt.want {
			t.Errorf("%s: Retryable(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// replica is a test server that records the attempts it saw.
type replica struct {
	*httptest.Server
	mu       sync.Mutex
	attempts []string // "key/attempt"
}

func (r *replica) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.attempts...)
}

// newReplica serves h after recording the attempt.
func newReplica(t *testing.T, h http.HandlerFunc) *replica {
	r := &replica{}
	r.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.attempts = append(r.attempts, req.Header.Get(api.IdempotencyKeyHeader)+"/"+req.Header.Get(api.AttemptHeader))
		r.mu.Unlock()
		h(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func ok(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"keys":[]}`)) }

func fail(status int, code string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":"failing on purpose","code":%q}`, code)
	}
}

// hangUp reads the request and closes the connection without answering:
// the outcome is unknown to the client.
func hangUp(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// testClient returns a client of the replicas, in this order, starting
// with the first.
func testClient(t *testing.T, retry Retry, replicas ...*replica) *Client {
	pool := x509.NewCertPool()
	var urls []*url.URL
	for _, r := range replicas {
		pool.AddCert(r.Certificate())
		u, _ := url.Parse(r.URL)
		urls = append(urls, u)
	}
	if retry.MinBackoff == 0 {
		retry.MinBackoff, retry.MaxBackoff = time.Millisecond, 10*time.Millisecond
	}
	c := newClient(urls, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, retry)
	c.state.next.Store(0)
	// httptest servers speak HTTP/1.1 over TLS 1.2 with their own certificate.
	c.http.Transport.(*http.Transport).ForceAttemptHTTP2 = false
	return c
}

func TestFailover(t *testing.T) {
	ctx := context.Background()
	down := newReplica(t, ok)
	down.Close() // connection refused
	tests := []struct {
		name     string
		handlers []http.HandlerFunc // nil: a replica that is down
		attempts int                // Retry.Attempts
		wantErr  string
		want     [][]int // attempt numbers each replica saw
	}{
		{"first answers", []http.HandlerFunc{ok, ok}, 0, "", [][]int{{1}, {}}},
		{"down, then 503, then ok", []http.HandlerFunc{nil, fail(503, "audit_unavailable"), ok}, 0, "", [][]int{{}, {2}, {3}}},
		{"hang-up after the request, then ok", []http.HandlerFunc{hangUp, ok}, 0, "", [][]int{{1}, {2}}},
		{"4xx is final", []http.HandlerFunc{fail(403, "forbidden"), ok}, 0, "failing on purpose (HTTP 403)", [][]int{{1}, {}}},
		{"bounded", []http.HandlerFunc{fail(500, "internal"), fail(502, "")}, 3, "gave up after 3 attempts", [][]int{{1, 3}, {2}}},
		{"round and round", []http.HandlerFunc{fail(503, "overloaded"), fail(503, "overloaded")}, 5, "gave up after 5 attempts", [][]int{{1, 3, 5}, {2, 4}}},
		{"locked: each replica once", []http.HandlerFunc{fail(503, "locked"), fail(503, "locked")}, 0, "failing on purpose", [][]int{{1}, {2}}},
		{"locked, then unlocked", []http.HandlerFunc{fail(503, "locked"), ok}, 0, "", [][]int{{1}, {2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rs []*replica
			for _, h := range tt.handlers {
				if h == nil {
					rs = append(rs, down)
					continue
				}
				rs = append(rs, newReplica(t, h))
			}
			c := testClient(t, Retry{Attempts: tt.attempts}, rs...)
			_, err := c.Keys(ctx)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Keys = %v, want error %q", err, tt.wantErr)
			}
			// Every attempt carried the same key and its number.
			key := ""
			for i, r := range rs {
				if r == down {
					continue
				}
				var got []int
				for _, a := range r.seen() {
					k, n, _ := strings.Cut(a, "/")
					if key == "" {
						key = k
					}
					if k != key || len(k) != 32 {
						t.Errorf("replica %d saw key %q, want %q on every attempt", i, k, key)
					}
					var x int
					fmt.Sscan(n, &x)
					got = append(got, x)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want[i]) && !(len(got) == 0 && len(tt.want[i]) == 0) {
					t.Errorf("replica %d saw attempts %v, want %v", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	slow := newReplica(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	fast := newReplica(t, ok)
	c := testClient(t, Retry{Timeout: 200 * time.Millisecond}, slow, fast)
	if _, err := c.Keys(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := fast.seen(); len(got) != 1 || !strings.HasSuffix(got[0], "/2") {
		t.Errorf("the fast replica saw %v, want attempt 2", got)
	}
	if c.Retries() != 1 {
		t.Errorf("Retries = %d, want 1", c.Retries())
	}
}

func TestCanceledIsNotRetried(t *testing.T) {
	r := newReplica(t, fail(503, "overloaded"))
	c := testClient(t, Retry{MinBackoff: time.Hour, MaxBackoff: time.Hour}, r)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Keys(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || len(r.seen()) != 1 {
		t.Fatalf("Keys = %v after %d attempts; want the caller's deadline after 1", err, len(r.seen()))
	}
}

func TestCertificateErrorIsFinal(t *testing.T) {
	a, b := newReplica(t, ok), newReplica(t, ok)
	c := testClient(t, Retry{}, a, b)
	c.http.Transport.(*http.Transport).TLSClientConfig.RootCAs = x509.NewCertPool() // trusts neither
	_, err := c.Keys(context.Background())
	if err == nil || !strings.Contains(err.Error(), "certificate") || strings.Contains(err.Error(), "gave up") {
		t.Fatalf("Keys = %v, want a certificate error on the first attempt", err)
	}
}

func TestRetryAfter(t *testing.T) {
	c := &Client{retry: Retry{}.withDefaults(false)}
	for attempt := 1; attempt < 40; attempt++ {
		d := c.backoff(attempt, errors.New("x"))
		ceil := min(c.retry.MaxBackoff, c.retry.MinBackoff<<min(attempt-1, 20))
		if d < ceil/2 || d > ceil {
			t.Errorf("attempt %d: backoff %v, want within [%v, %v]", attempt, d, ceil/2, ceil)
		}
	}
	if d := c.backoff(1, &Error{Status: 503, RetryAfter: 2 * time.Second}); d != 2*time.Second {
		t.Errorf("backoff with Retry-After 2s = %v", d)
	}
	if d := c.backoff(1, &Error{Status: 503, RetryAfter: time.Hour}); d != c.retry.MaxBackoff {
		t.Errorf("backoff with Retry-After 1h = %v, want at most %v", d, c.retry.MaxBackoff)
	}
}

func TestParseServers(t *testing.T) {
	tests := []struct {
		in   string
		want string // hosts joined by space, or the error
	}{
		{"https://a:8443", "a:8443"},
		{"https://a:8443,https://b:8443 https://c", "a:8443 b:8443 c"},
		{" https://a , https://b ", "a b"},
		{"unix:/run/signet/agent.sock", "unix:/run/signet/agent.sock"},
		{"unix:///run/signet/agent.sock", "unix:/run/signet/agent.sock"},
		{"unix:agent.sock", "unix:agent.sock"},
		{"", "no server given"},
		{"http://a", `not an https:// URL`},
		{"https://", `not an https:// URL`},
		{"unix:", "names no socket"},
		{"https://a,unix:/run/a.sock", "give it alone"},
	}
	for _, tt := range tests {
		urls, err := ParseServers(tt.in)
		var got []string
		for _, u := range urls {
			if u.Scheme == "unix" {
				got = append(got, "unix:"+socketPath(u))
			} else {
				got = append(got, u.Host)
			}
		}
		if err != nil {
			got = []string{err.Error()}
		}
		if s := strings.Join(got, " "); !strings.Contains(s, tt.want) {
			t.Errorf("ParseServers(%q) = %q, want %q", tt.in, s, tt.want)
		}
	}
}

// TestRetryBudget: with the default number of attempts a client retries
// for its time budget, not for a fixed count, tells Waiting before each
// wait, and says what budget it exhausted.
func TestRetryBudget(t *testing.T) {
	r := newReplica(t, fail(503, "audit_unavailable"))
	var waits atomic.Int64
	c := testClient(t, Retry{For: 2 * time.Second, Waiting: func(string, error, time.Duration) { waits.Add(1) }}, r)
	_, err := c.Keys(context.Background())
	if err == nil || !strings.Contains(err.Error(), "retry budget is 2s") {
		t.Fatalf("Keys = %v; want an error naming the retry budget", err)
	}
	// MaxBackoff 10ms in a 2 s budget: far more than the 5 attempts a
	// count-bounded client made.
	if n := len(r.seen()); n <= 5 {
		t.Errorf("%d attempts in the budget; want more than 5", n)
	}
	if int(waits.Load()) != len(r.seen())-1 {
		t.Errorf("Waiting called %d times for %d attempts; want one per retry", waits.Load(), len(r.seen()))
	}
}

// TestNoKeyFailsOver: a replica that does not know a key (a fleet whose
// replicas have not all loaded it) is not the last word when others are
// listed; with one server the 404 is final.
func TestNoKeyFailsOver(t *testing.T) {
	noKey := func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(404)
		fmt.Fprint(w, `{"error":"no key named \"rel2\"; 'signet key list' shows the keys","code":"not_found"}`)
	}
	a, b := newReplica(t, noKey), newReplica(t, ok)
	if _, err := testClient(t, Retry{}, a, b).Keys(context.Background()); err != nil {
		t.Fatalf("with a second replica that knows the key: %v", err)
	}
	only := newReplica(t, noKey)
	_, err := testClient(t, Retry{}, only).Keys(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no key named") || len(only.seen()) != 1 {
		t.Fatalf("one server: %v after %d attempts; want the 404 at once", err, len(only.seen()))
	}
	both := []*replica{newReplica(t, noKey), newReplica(t, noKey)}
	_, err = testClient(t, Retry{}, both...).Keys(context.Background())
	if err == nil || len(both[0].seen())+len(both[1].seen()) != 2 {
		t.Fatalf("two servers without the key: %v after %d+%d attempts; want each asked once", err, len(both[0].seen()), len(both[1].seen()))
	}
}

func TestParseRetryFor(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{{"60s", time.Minute, true}, {"2m", 2 * time.Minute, true}, {"0s", time.Nanosecond, true},
		{"-1s", 0, false}, {"25h", 0, false}, {"soon", 0, false}, {"", 0, false}} {
		got, err := ParseRetryFor(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseRetryFor(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
