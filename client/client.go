// Package client calls a Signet server. The CLI is built on it; other Go
// programs can use it directly.
//
// A Client speaks HTTP/JSON over mutual TLS 1.3 and keeps connections
// alive. It never uploads what it does not have to: for keys that sign a
// digest (ECDSA, RSA) [Client.SignFiles] hashes files locally, streaming, and
// sends only the digest; only pure Ed25519, which signs the message itself,
// sends the file, and only up to the size the server accepts.
// [Client.SignBatch] signs many files: it hashes them concurrently and sends
// them in batches as large as the server accepts.
//
// A Client may know several servers (replicas of one deployment) and fail
// over between them. A request that fails on a connection error, a timeout
// or a 5xx answer is tried again, on the next server, with exponential
// backoff and jitter, up to [Retry.Attempts] times in all; a 4xx answer is
// final. Every attempt of one request carries the same idempotency key and
// its attempt number, which the server records in the audit log, so that a
// request repeated after an unknown outcome (the connection broke after
// the server signed) is recorded as a retry of the first, not as a second
// independent request (docs/api.md#retries).
//
// The server may also be a local signet agent, "unix:/run/signet/agent.sock":
// the agent proves to the server who the local caller is, so the client
// presents no credentials of its own, and the agent, not the client, fails
// over and retries.
//
// Errors from the server are *Error values carrying the HTTP status, the
// server's message and its request id, which is what an operator needs to
// find the request in the server log.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/custody"
	"github.com/signet-dev/signet/keystore"
)

// Config says where the server is and how to prove who we are.
type Config struct {
	// Server is the base URL, https://host:port. Several URLs, separated
	// by commas or spaces, are replicas of one deployment, tried in turn.
	// "unix:PATH" is the socket of a local signet agent.
	Server     string
	CACert     string // PEM file of the CA that issued the server certificate
	ClientCert string // PEM client certificate
	ClientKey  string // PEM private key of ClientCert
	Token      string // bearer token; with it, a client certificate is optional
	Retry      Retry  // zero fields take their defaults
}

// Retry bounds how a Client retries a request that failed for a reason
// that may be temporary.
type Retry struct {
	// For is the retry budget: no retry starts after this long since the
	// first attempt of a request. The default, DefaultRetryFor, outlasts
	// a database failover or a rolling restart.
	For        time.Duration
	Attempts   int           // attempts of one request, over all servers; default as many as For allows (at most api.MaxAttempts), and 1 through an agent
	MinBackoff time.Duration // wait before the first retry, doubled for each further one; default 100ms
	MaxBackoff time.Duration // longest wait; default 5s
	Timeout    time.Duration // one attempt, response included; default 5m
	// Waiting, if set, is told before each wait for a retry: the server
	// that failed, why, and how long the client waits. The CLI shows it
	// on a terminal.
	Waiting func(server string, err error, wait time.Duration)
}

// DefaultRetryFor is the default retry budget: long enough for a
// PostgreSQL failover (tens of seconds), short enough that a real outage
// fails a build in a minute.
const DefaultRetryFor = 60 * time.Second

func (r Retry) withDefaults(agent bool) Retry {
	if r.For <= 0 {
		r.For = DefaultRetryFor
	}
	if r.Attempts <= 0 || r.Attempts > api.MaxAttempts {
		r.Attempts = api.MaxAttempts
		if agent {
			r.Attempts = 1
		}
	}
	if r.MinBackoff <= 0 {
		r.MinBackoff = 100 * time.Millisecond
	}
	if r.MaxBackoff < r.MinBackoff {
		r.MaxBackoff = max(5*time.Second, r.MinBackoff)
	}
	if r.Timeout <= 0 {
		r.Timeout = 5 * time.Minute
	}
	return r
}

// FromEnv reads SIGNET_SERVER, SIGNET_CACERT, SIGNET_CLIENT_CERT,
// SIGNET_CLIENT_KEY, SIGNET_TOKEN and SIGNET_RETRY_FOR (a Go duration,
// such as 2m; ignored if malformed, which ParseRetryFor reports).
func FromEnv() Config {
	c := Config{
		Server:     os.Getenv("SIGNET_SERVER"),
		CACert:     os.Getenv("SIGNET_CACERT"),
		ClientCert: os.Getenv("SIGNET_CLIENT_CERT"),
		ClientKey:  os.Getenv("SIGNET_CLIENT_KEY"),
		Token:      os.Getenv("SIGNET_TOKEN"),
	}
	if v := os.Getenv("SIGNET_RETRY_FOR"); v != "" {
		c.Retry.For, _ = ParseRetryFor(v)
	}
	return c
}

// ParseRetryFor parses a retry budget: a Go duration from 0s (no
// retries beyond the first attempt's failover) to 24h.
func ParseRetryFor(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > 24*time.Hour {
		return 0, fmt.Errorf("retry budget %q: give a duration such as 60s or 5m, at most 24h", s)
	}
	if d == 0 {
		d = time.Nanosecond // no time to retry; 0 would mean the default
	}
	return d, nil
}

// Client is a connection to the servers of one Signet deployment, or to a
// local agent. It is safe for concurrent use.
type Client struct {
	servers []server
	base    *url.URL // the first server, for messages
	http    *http.Client
	token   string
	retry   Retry
	state   *state
	// localUser is asserted on every request (api.LocalUserHeader): set
	// by signet agent, never by an ordinary client.
	localUser string
	caFile    string // the CA certificate file, for messages
}

// server is one place requests go.
type server struct {
	url  *url.URL // base URL requests are made against
	name string   // for messages: host:port, or unix:PATH
}

// state is what copies of a Client share.
type state struct {
	next    atomic.Int64 // index of the server to try first
	retries atomic.Int64 // attempts beyond the first, over all requests
}

// ParseServers parses a Config.Server value: https URLs separated by
// commas or spaces, or one "unix:PATH".
func ParseServers(s string) ([]*url.URL, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	if len(fields) == 0 {
		return nil, errors.New("no server given: set SIGNET_SERVER (or --server), e.g. '. DATA/client.env' after 'signet serve --dev'")
	}
	var out []*url.URL
	for _, f := range fields {
		u, err := url.Parse(f)
		switch {
		case err == nil && u.Scheme == "unix":
			if len(fields) > 1 {
				return nil, fmt.Errorf("server %q is a local agent socket: give it alone, the agent fails over between servers itself", f)
			}
			if socketPath(u) == "" {
				return nil, fmt.Errorf("server %q names no socket; write unix:/run/signet/agent.sock", f)
			}
		case err != nil || u.Scheme != "https" || u.Host == "":
			return nil, fmt.Errorf("server %q is not an https:// URL (nor unix:PATH of a signet agent)", f)
		}
		out = append(out, u)
	}
	return out, nil
}

// socketPath returns the socket of a unix: URL.
func socketPath(u *url.URL) string {
	if u.Opaque != "" {
		return u.Opaque
	}
	return u.Path
}

// New returns a Client for cfg after loading its certificates.
func New(cfg Config) (*Client, error) {
	urls, err := ParseServers(cfg.Server)
	if err != nil {
		return nil, err
	}
	if urls[0].Scheme == "unix" {
		// The agent proves who we are; credentials of our own would not
		// reach the server, so they are not asked for.
		return newAgentClient(socketPath(urls[0]), cfg.Retry), nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS13}
	if cfg.CACert != "" {
		b, err := os.ReadFile(cfg.CACert)
		if err != nil {
			return nil, fmt.Errorf("CA certificate: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("CA certificate %s: no PEM certificate found", cfg.CACert)
		}
	}
	switch {
	case cfg.ClientCert != "" && cfg.ClientKey != "":
		cert, err := tls.LoadX509KeyPair(cfg.ClientCert, cfg.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case cfg.Token == "":
		return nil, errors.New("no credentials: set SIGNET_TOKEN, or SIGNET_CLIENT_CERT and SIGNET_CLIENT_KEY (or --token, --cert and --cert-key)")
	}
	c := newClient(urls, tc, cfg.Retry)
	c.token, c.caFile = cfg.Token, cfg.CACert
	return c, nil
}

// NewWithTLS returns a Client for the server at base using tc as is.
func NewWithTLS(base *url.URL, tc *tls.Config) *Client {
	return newClient([]*url.URL{base}, tc, Retry{})
}

func newClient(urls []*url.URL, tc *tls.Config, retry Retry) *Client {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	c := &Client{base: urls[0], http: &http.Client{Transport: tr}, retry: retry.withDefaults(false), state: new(state)}
	for _, u := range urls {
		c.servers = append(c.servers, server{url: u, name: u.Host})
	}
	if len(urls) > 1 {
		// Clients spread over the replicas, and each stays with one
		// until it fails.
		c.state.next.Store(int64(mrand.IntN(len(urls))))
	}
	return c
}

// newAgentClient returns a Client for the signet agent listening on the
// Unix socket at path: plain HTTP, no credentials.
func newAgentClient(path string, retry Retry) *Client {
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	u := &url.URL{Scheme: "http", Host: "signet-agent"}
	return &Client{
		servers: []server{{url: u, name: "unix:" + path}},
		base:    u,
		http:    &http.Client{Transport: tr},
		retry:   retry.withDefaults(true),
		state:   new(state),
	}
}

// OnBehalfOf returns a copy of c that asserts, on every request, that it
// asks on behalf of localUser. Only signet agent does this, and the server
// accepts it only from principals allowed to delegate.
func (c *Client) OnBehalfOf(localUser string) *Client {
	cc := *c
	cc.localUser = localUser
	return &cc
}

// WithRetry returns a copy of c that retries as r says (zero fields take
// their defaults).
func (c *Client) WithRetry(r Retry) *Client {
	cc := *c
	cc.retry = r.withDefaults(false)
	return &cc
}

// Replica is one server of a Client's list, with a Client that talks to
// it alone.
type Replica struct {
	Name   string // host:port, as messages name it
	Client *Client
}

// Replicas returns one Client per server listed, each talking to that
// server alone (retrying there, within the budget): for the acts that
// concern every replica of a fleet — unlock, lock, status, custody
// shares — which must not go to one of them at random. The copies share
// c's connections.
func (c *Client) Replicas() []Replica {
	out := make([]Replica, len(c.servers))
	for i, srv := range c.servers {
		cc := *c
		cc.servers, cc.base, cc.state = []server{srv}, srv.url, new(state)
		out[i] = Replica{Name: srv.name, Client: &cc}
	}
	return out
}

// Retries returns how many attempts beyond the first this client (and its
// copies) made, over all requests so far.
func (c *Client) Retries() int64 { return c.state.retries.Load() }

// Error is an error answered by the server.
type Error struct {
	Status    int    // HTTP status
	Code      string // stable word to branch on: "forbidden", "locked", …
	Message   string
	RequestID string
	// Items lists the items of a sign request at fault, when the request
	// was refused because of them alone.
	Items      []api.ItemError
	RetryAfter time.Duration // the server's Retry-After, if any
}

func (e *Error) Error() string {
	if e.RequestID != "" {
		return fmt.Sprintf("server: %s (HTTP %d, request %s)", e.Message, e.Status, e.RequestID)
	}
	return fmt.Sprintf("server: %s (HTTP %d)", e.Message, e.Status)
}

// errorFrom builds the Error of a response with the given status and body.
func errorFrom(status int, body []byte) *Error {
	var ae api.Error
	json.Unmarshal(body, &ae)
	e := &Error{Status: status, Code: ae.Code, Message: ae.Message, RequestID: ae.RequestID, Items: ae.Items}
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
	}
	return e
}

// Keys lists the keys this client may use.
func (c *Client) Keys(ctx context.Context) ([]api.Key, error) {
	var out api.KeyList
	err := c.do(ctx, http.MethodGet, "/v1/keys", nil, &out)
	return out.Keys, err
}

// Key describes one key, including its public key.
func (c *Client) Key(ctx context.Context, name string) (*api.Key, error) {
	var out api.Key
	if err := c.do(ctx, http.MethodGet, "/v1/keys/"+url.PathEscape(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateKey asks the server to generate a key: name, type, and the usage
// (format family) it will sign in.
func (c *Client) CreateKey(ctx context.Context, req *api.CreateKeyRequest) (*api.Key, error) {
	var out api.Key
	if err := c.do(ctx, http.MethodPost, "/v1/keys", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Unlock supplies the keystore passphrase.
func (c *Client) Unlock(ctx context.Context, passphrase string) error {
	return c.do(ctx, http.MethodPost, "/v1/unlock", api.UnlockRequest{Passphrase: passphrase}, nil)
}

// UnlockShare submits one custodian's share toward unlocking.
func (c *Client) UnlockShare(ctx context.Context, share custody.Share) (*api.UnlockResponse, error) {
	var out api.UnlockResponse
	if err := c.do(ctx, http.MethodPost, "/v1/unlock", api.UnlockRequest{Share: &share}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Lock locks the keystore now.
func (c *Client) Lock(ctx context.Context) (*api.LockResponse, error) {
	var out api.LockResponse
	if err := c.do(ctx, http.MethodPost, "/v1/lock", struct{}{}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Status returns the keystore's lock state, lease and custody progress.
func (c *Client) Status(ctx context.Context) (*api.Status, error) {
	var out api.Status
	if err := c.do(ctx, http.MethodGet, "/v1/status", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CustodyInit hands the keystore over to custodians.
func (c *Client) CustodyInit(ctx context.Context, req *api.CustodyInitRequest) (*api.CustodyShares, error) {
	var out api.CustodyShares
	if err := c.do(ctx, http.MethodPost, "/v1/custody/init", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ProposeRekey proposes a new share set.
func (c *Client) ProposeRekey(ctx context.Context, req *api.RekeyRequest) (*keystore.Proposal, error) {
	var out keystore.Proposal
	if err := c.do(ctx, http.MethodPost, "/v1/custody/rekey", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ApproveRekey submits one current custodian's share for a proposal.
func (c *Client) ApproveRekey(ctx context.Context, req *api.RekeyApproval) (*api.RekeyApprovalResponse, error) {
	var out api.RekeyApprovalResponse
	if err := c.do(ctx, http.MethodPost, "/v1/custody/rekey/approve", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ResetCustody discards partial unlock progress and a pending rekey.
func (c *Client) ResetCustody(ctx context.Context) (*api.ResetResponse, error) {
	var out api.ResetResponse
	if err := c.do(ctx, http.MethodPost, "/v1/custody/reset", struct{}{}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// EnrollToken hands a PKCS #11 token over to the keystore.
func (c *Client) EnrollToken(ctx context.Context, token, pin string) error {
	return c.do(ctx, http.MethodPost, "/v1/hsm/enroll", api.EnrollRequest{Token: token, PIN: pin}, nil)
}

// IssueToken asks for a token for one job.
func (c *Client) IssueToken(ctx context.Context, req *api.TokenRequest) (*api.TokenResponse, error) {
	var out api.TokenResponse
	if err := c.do(ctx, http.MethodPost, "/v1/tokens", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// VerifyToken asks the server whether tok is valid there and now.
func (c *Client) VerifyToken(ctx context.Context, tok string) (*api.TokenVerifyResponse, error) {
	var out api.TokenVerifyResponse
	if err := c.do(ctx, http.MethodPost, "/v1/tokens/verify", api.TokenVerifyRequest{Token: tok}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DenyList asks the server to sign a deny list.
func (c *Client) DenyList(ctx context.Context, req *api.DenyListRequest) (string, error) {
	var out api.DenyListResponse
	if err := c.do(ctx, http.MethodPost, "/v1/tokens/deny-list", req, &out); err != nil {
		return "", err
	}
	return out.DenyList, nil
}

// Sign sends one sign request.
func (c *Client) Sign(ctx context.Context, req *api.SignRequest) (*api.SignResponse, error) {
	var out api.SignResponse
	if err := c.do(ctx, http.MethodPost, "/v1/sign", req, &out); err != nil {
		return nil, err
	}
	if len(out.Signatures) != len(req.Items) {
		return nil, fmt.Errorf("server returned %d signatures for %d items", len(out.Signatures), len(req.Items))
	}
	return &out, nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	b, where, err := c.roundTrip(ctx, method, path, body)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("response from %s is not valid JSON: %w", where, err)
	}
	return nil
}

// maxResponse bounds a response body.
const maxResponse = 256 << 20

type idempotencyKey struct{}

// WithIdempotencyKey returns a context under which requests carry key, and
// count their attempts from first, instead of a fresh key of their own.
// signet agent uses it to pass on the key of the local client it serves.
// Give each distinct request its own key.
func WithIdempotencyKey(ctx context.Context, key string, first int) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, keyAttempt{key, max(first, 1)})
}

type keyAttempt struct {
	key   string
	first int
}

// NewIdempotencyKey returns a fresh random idempotency key.
func NewIdempotencyKey() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// roundTrip makes a request, with retries and failover, and returns the
// body of its 2xx response and the server that gave it.
func (c *Client) roundTrip(ctx context.Context, method, path string, body []byte) ([]byte, string, error) {
	ka, ok := ctx.Value(idempotencyKey{}).(keyAttempt)
	if !ok {
		ka = keyAttempt{NewIdempotencyKey(), 1}
	}
	n := int64(len(c.servers))
	start := time.Now()
	for attempt := 1; ; attempt++ {
		i := c.state.next.Load()
		srv := c.servers[i%n]
		b, err := c.attempt(ctx, srv, method, path, body, ka.key, ka.first+attempt-1)
		if err == nil {
			return b, srv.name, nil
		}
		// A key unknown to one replica may be known to another (a fleet
		// whose replicas have not all loaded a new key yet): each other
		// replica is asked once.
		missing := n > 1 && attempt < int(n) && isNoKey(err)
		if ctx.Err() != nil || !Retryable(err) && !missing {
			return nil, srv.name, err
		}
		// A locked keystore waits for a person, not for time: another
		// replica may be unlocked, so each is asked once, and the retry
		// budget is not spent waiting.
		if isLocked(err) {
			if attempt >= int(n) {
				return nil, srv.name, err
			}
			missing = true
		}
		wait := c.backoff(attempt, err)
		if missing {
			wait = 0
		}
		wait = min(wait, max(c.retry.For-time.Since(start), 0)) // the last retry at the budget's end
		spent := time.Since(start)
		if attempt >= c.retry.Attempts || ka.first+attempt > api.MaxAttempts || spent >= c.retry.For {
			if attempt > 1 {
				return nil, srv.name, fmt.Errorf("%w (gave up after %d attempts in %s; the retry budget is %s: --retry-for or SIGNET_RETRY_FOR)",
					err, attempt, spent.Round(100*time.Millisecond), c.retry.For)
			}
			return nil, srv.name, err
		}
		// The next attempt goes to the next server; concurrent requests
		// that failed on the same one move on only once.
		c.state.next.CompareAndSwap(i, i+1)
		c.state.retries.Add(1)
		if c.retry.Waiting != nil && wait > 0 {
			c.retry.Waiting(srv.name, err, wait)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, srv.name, err
		}
	}
}

// backoff returns the wait before attempt+1: exponential from MinBackoff,
// at most MaxBackoff, with jitter over its upper half so that clients
// that failed together do not return together; at least what the server
// asked for with Retry-After.
func (c *Client) backoff(attempt int, err error) time.Duration {
	d := c.retry.MaxBackoff
	if attempt < 30 {
		d = min(d, c.retry.MinBackoff<<(attempt-1))
	}
	d = d/2 + mrand.N(d/2+1)
	var se *Error
	if errors.As(err, &se) && se.RetryAfter > d {
		d = min(se.RetryAfter, c.retry.MaxBackoff)
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attempt makes one attempt of a request at srv.
func (c *Client) attempt(ctx context.Context, srv server, method, path string, body []byte, key string, attempt int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.retry.Timeout)
	defer cancel()
	path, query, _ := strings.Cut(path, "?")
	u := srv.url.JoinPath(path)
	u.RawQuery = query
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set(api.IdempotencyKeyHeader, key)
	req.Header.Set(api.AttemptHeader, strconv.Itoa(attempt))
	if c.localUser != "" {
		req.Header.Set(api.LocalUserHeader, c.localUser)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.explain(srv, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("reading response from %s: %w", srv.name, err)
	}
	if resp.StatusCode >= 300 {
		e := errorFrom(resp.StatusCode, b)
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return nil, e
	}
	return b, nil
}

// isNoKey reports whether err is a server's 404 for a key it does not
// know.
func isNoKey(err error) bool {
	var se *Error
	return errors.As(err, &se) && se.Status == http.StatusNotFound && strings.Contains(se.Message, "no key named")
}

// isLocked reports whether err is a server's 503 for a locked keystore.
func isLocked(err error) bool {
	var se *Error
	return errors.As(err, &se) && se.Status == http.StatusServiceUnavailable && se.Code == "locked"
}

// explain wraps an error of reaching srv with what it likely means.
func (c *Client) explain(srv server, err error) error {
	var unknownCA x509.UnknownAuthorityError
	switch {
	case errors.As(err, &unknownCA):
		ca := "the system's CAs"
		if c.caFile != "" {
			ca = "the CA in " + c.caFile + " ($SIGNET_CACERT)"
		}
		return fmt.Errorf("contacting %s: %w: %s did not issue this server's certificate; if the server was started again with another data directory, source that directory's client.env ('. DATA/client.env')", srv.name, err, ca)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("contacting %s: %w: is the server running, and listening at %s? ($SIGNET_SERVER or --server)", srv.name, err, srv.name)
	case errors.Is(err, syscall.ENOENT) && srv.url.Scheme == "unix":
		return fmt.Errorf("contacting %s: %w: is the agent running, with its socket there?", srv.name, err)
	}
	return fmt.Errorf("contacting %s: %w", srv.name, err)
}

// Retryable reports whether a request that failed with err may succeed if
// made again, on this server or another: connection failures, timeouts of
// one attempt and 5xx answers (an unavailable audit log, a locked
// keystore, an overloaded or dying replica). 4xx answers are final, and
// so are certificate problems, which are configuration, not outages, and
// a canceled request.
func Retryable(err error) bool {
	var se *Error
	if errors.As(err, &se) {
		return se.Status >= 500 && se.Status != http.StatusNotImplemented && se.Status != http.StatusHTTPVersionNotSupported
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		header    tls.RecordHeaderError
		op        *net.OpError
	)
	switch {
	case errors.Is(err, context.Canceled):
		return false
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify):
		return false
	case errors.As(err, &header):
		return false // not TLS at the other end
	case errors.As(err, &op) && op.Op == "remote error":
		return false // the server's TLS refused us: our certificate
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.ENOENT):
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// HTTP/2 reports a reset stream, a lost connection or a server going
	// away with errors of unexported types: the outcome is unknown, and
	// the request is repeated under the same idempotency key.
	s := err.Error()
	return strings.Contains(s, "http2: ") || strings.Contains(s, "stream error: stream ID")
}

// Endpoint describes how c reaches its server, for tools that drive the
// server with their own transport (signet bench): the base URL, a copy of
// the TLS configuration, and the bearer token if any.
func (c *Client) Endpoint() (base *url.URL, tc *tls.Config, token string) {
	tr, _ := c.http.Transport.(*http.Transport)
	if tr != nil {
		tc = tr.TLSClientConfig.Clone()
	}
	return c.base, tc, c.token
}
