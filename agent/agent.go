// Package agent is signet agent: a small trusted proxy on a build host
// that lets local programs sign without credentials of their own, and
// tells the Signet server, with the host's credentials, which local user
// asks.
//
// Local programs speak Signet's HTTP API (a subset: sign, keys, limits,
// checkpoints and proofs) over a Unix socket. For every connection the
// agent asks the kernel who is at the other end — the uid, gid and pid of
// the process that connected (SO_PEERCRED) and its supplementary groups
// (SO_PEERGROUPS) — and maps them through local grants: which users or
// groups may sign with which keys, in which formats, for which artifact
// names. A request the grants allow is validated (strict JSON, bounded
// sizes, well-formed names and digests) and forwarded to the server over
// mutual TLS with the host's client certificate (or a host token), with
// the header Signet-Local-User naming the local user. The server accepts
// it only if the host's principal has the delegate right, authorizes it
// against the host's grants, and records both the host and the local
// user in the audit log.
//
// What the kernel vouches for, and what it does not: the uid and groups
// of the process that called connect(2), at that moment. It says nothing
// about which program that is (any process of the user can connect), and
// nothing at all about a caller's root: root on the host can act as any
// user, and so can whoever controls the agent, which holds the host's
// credentials. The server bounds the damage with the host principal's own
// grants; docs/agent.md has the whole threat model.
//
// The agent holds no signing keys and parses no artifacts: digests and
// data pass through as opaque values. It runs as its own unprivileged
// user; nothing in Signet is setuid, and the agent refuses to run so.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
)

// Caller is a local process as the kernel described it when it connected.
type Caller struct {
	UID, GID uint32
	PID      int32
	Groups   []uint32 // supplementary groups
	User     string   // the user's name, or "uid:N" if the host has none
}

func (c *Caller) String() string {
	return fmt.Sprintf("local user %s (uid %d)", c.User, c.UID)
}

// inGroup reports whether gid is the caller's primary or a supplementary
// group.
func (c *Caller) inGroup(gid uint32) bool {
	return c.GID == gid || slices.Contains(c.Groups, gid)
}

// Options are what an Agent is made of.
type Options struct {
	Upstream *client.Client // the servers, with the host's credentials
	Grants   []Grant        // as ParseConfig resolved them
	Limits   Limits         // zero fields take defaults
	Log      *slog.Logger   // nil discards
}

// Agent serves local callers.
type Agent struct {
	upstream *client.Client
	grants   []Grant
	limits   Limits
	log      *slog.Logger
	slots    chan struct{}

	mu     sync.Mutex
	byUser map[uint32]int // slots held, by uid
}

// New returns an Agent.
func New(o Options) (*Agent, error) {
	if o.Upstream == nil {
		return nil, errors.New("agent: no upstream client")
	}
	for i, g := range o.Grants {
		if len(g.uids) == 0 && len(g.gids) == 0 {
			return nil, fmt.Errorf("agent: grant %d is not resolved; build grants with ParseConfig", i+1)
		}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	l := o.Limits.withDefaults()
	return &Agent{upstream: o.Upstream, grants: o.Grants, limits: l, log: o.Log, slots: make(chan struct{}, l.MaxInflight), byUser: map[uint32]int{}}, nil
}

// CheckNotSetuid refuses to go on in a setuid or setgid process: the
// agent proves identity with its own credentials and must not borrow
// anyone else's privileges, nor lend its own.
func CheckNotSetuid() error {
	if os.Geteuid() != os.Getuid() || os.Getegid() != os.Getgid() {
		return errors.New("signet agent must not run setuid or setgid; run it as its own user (docs/agent.md)")
	}
	return nil
}

// Listen creates the agent's socket at name with the given permissions
// and group (-1: the agent's). The socket is made in a private directory
// and renamed into place, so that it is never reachable with other
// permissions. An existing socket nobody listens on is replaced; any
// other file at name is an error.
func Listen(name string, mode os.FileMode, gid int) (net.Listener, error) {
	if fi, err := os.Lstat(name); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket; remove it or choose another --socket", name)
		}
		if c, err := net.DialTimeout("unix", name, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another agent is listening there", name)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(name), ".signet-agent-")
	if err != nil {
		return nil, fmt.Errorf("creating the socket: %w", err)
	}
	defer os.RemoveAll(tmp)
	at := filepath.Join(tmp, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: at, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("creating the socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	fail := func(err error) (net.Listener, error) {
		ln.Close()
		return nil, fmt.Errorf("socket %s: %w", name, err)
	}
	if gid >= 0 {
		if err := os.Lchown(at, -1, gid); err != nil {
			return fail(err)
		}
	}
	if err := os.Chmod(at, mode); err != nil {
		return fail(err)
	}
	if err := os.Rename(at, name); err != nil {
		return fail(err)
	}
	return &listener{ln, name}, nil
}

// listener removes its socket when closed.
type listener struct {
	*net.UnixListener
	name string
}

func (l *listener) Close() error {
	err := l.UnixListener.Close()
	os.Remove(l.name)
	return err
}

type callerKey struct{}

// Serve serves local callers on ln until ctx is done, then waits up to
// drain for requests in flight.
func (a *Agent) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	hs := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       a.limits.ReadTimeout, // a body trickled byte by byte holds its slot no longer
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			caller, err := PeerCredentials(c)
			if err != nil {
				return context.WithValue(ctx, callerKey{}, err)
			}
			return context.WithValue(ctx, callerKey{}, caller)
		},
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("draining requests: %w", err)
	}
	return nil
}

// Handler returns the agent's HTTP handler. Its requests must come through
// Serve, which attaches the caller the kernel reported.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.Handle("POST /v1/sign", a.local(a.sign))
	mux.Handle("GET /v1/keys", a.local(a.keys))
	mux.Handle("GET /v1/keys/{name}", a.local(a.key))
	mux.Handle("GET /v1/limits", a.local(a.limitsOf))
	mux.Handle("GET /v1/audit/checkpoint", a.local(a.checkpoint))
	mux.Handle("GET /v1/audit/key", a.local(a.auditKey))
	mux.Handle("GET /v1/audit/proof", a.local(a.proof))
	mux.Handle("/", a.local(func(*call) error {
		return &localError{http.StatusNotFound, "not_found", "it forwards signing, key lookups, limits and audit proofs only; for anything else use credentials of your own with the server"}
	}))
	return mux
}

// call is one local request.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	id     string // the agent's id for it, in its log
	caller *Caller
	grants []Grant // the grants that apply to the caller
	ctx    context.Context
	// upstream is the client acting for the caller; status, items and
	// upstreamID describe the outcome for the agent's log.
	upstream   *client.Client
	upstreamID string
	items      int
}

// localError is a refusal by the agent itself.
type localError struct {
	status  int
	code    string
	message string
}

func (e *localError) Error() string { return e.message }

// itemsError is a refusal of some items of a sign request by the local
// grants, listed so that the client may drop them.
type itemsError struct {
	*localError
	items []api.ItemError
}

func (e *itemsError) Unwrap() error { return e.localError }

// local wraps an endpoint: the caller, their grants, a concurrency slot,
// the idempotency key, and error rendering.
func (a *Agent) local(h func(*call) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		c := &call{w: w, r: r, id: "agent-" + client.NewIdempotencyKey()[:16]}
		err := a.serve(c, h)
		if err != nil {
			a.writeError(c, err)
		}
		attrs := []slog.Attr{slog.String("id", c.id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", statusOf(err)), slog.Duration("duration", time.Since(start))}
		if c.caller != nil {
			attrs = append(attrs, slog.String("user", c.caller.User), slog.Uint64("uid", uint64(c.caller.UID)), slog.Int("pid", int(c.caller.PID)))
		}
		if c.items > 0 {
			attrs = append(attrs, slog.Int("items", c.items))
		}
		if c.upstreamID != "" {
			attrs = append(attrs, slog.String("server_request", c.upstreamID))
		}
		if err != nil {
			attrs = append(attrs, slog.String("err", err.Error()))
		}
		a.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

func (a *Agent) serve(c *call, h func(*call) error) error {
	switch v := c.r.Context().Value(callerKey{}).(type) {
	case *Caller:
		caller := *v
		caller.User = userName(caller.UID)
		c.caller = &caller
	case error:
		return fmt.Errorf("who is calling: %w", v)
	default:
		return errors.New("who is calling: the request did not come through the agent's socket")
	}
	if len(c.r.Header.Values(api.LocalUserHeader)) > 0 {
		return &localError{http.StatusBadRequest, "bad_request", fmt.Sprintf("do not send %s: the agent tells the server who you are", api.LocalUserHeader)}
	}
	for _, g := range a.grants {
		if slices.Contains(g.uids, c.caller.UID) || slices.ContainsFunc(g.gids, c.caller.inGroup) {
			c.grants = append(c.grants, g)
		}
	}
	if len(c.grants) == 0 {
		return &localError{http.StatusForbidden, "forbidden", fmt.Sprintf("permission denied: %s has no grants on this host; its administrator lists who may sign in the agent's grants", c.caller)}
	}
	ctx := c.r.Context()
	key, attempt := c.r.Header.Get(api.IdempotencyKeyHeader), 1
	if key != "" {
		if err := api.CheckIdempotencyKey(key); err != nil {
			return &localError{http.StatusBadRequest, "bad_request", err.Error()}
		}
		if s := c.r.Header.Get(api.AttemptHeader); s != "" {
			n, err := api.ParseAttempt(s)
			if err != nil {
				return &localError{http.StatusBadRequest, "bad_request", err.Error()}
			}
			attempt = n
		}
		ctx = client.WithIdempotencyKey(ctx, key, attempt)
	}
	c.ctx = ctx
	c.upstream = a.upstream.OnBehalfOf(c.caller.User)
	if !a.takeUserSlot(c.caller.UID) {
		c.w.Header().Set("Retry-After", "1")
		return &localError{http.StatusTooManyRequests, "too_many_requests", fmt.Sprintf(
			"%s has %d requests in flight, the most one local user may (limits.max_per_user); retry when one ends", c.caller, a.limits.MaxPerUser)}
	}
	defer a.giveUserSlot(c.caller.UID)
	select {
	case a.slots <- struct{}{}:
		defer func() { <-a.slots }()
	case <-time.After(10 * time.Second):
		c.w.Header().Set("Retry-After", "1")
		return &localError{http.StatusServiceUnavailable, "overloaded", "signet agent busy: too many requests in flight; retry shortly"}
	case <-ctx.Done():
		return ctx.Err()
	}
	c.r.Body = http.MaxBytesReader(c.w, c.r.Body, a.limits.MaxBodyBytes)
	return h(c)
}

// takeUserSlot counts one more request of uid in flight, unless uid has
// MaxPerUser already.
func (a *Agent) takeUserSlot(uid uint32) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byUser[uid] >= a.limits.MaxPerUser {
		return false
	}
	a.byUser[uid]++
	return true
}

func (a *Agent) giveUserSlot(uid uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byUser[uid]--; a.byUser[uid] <= 0 {
		delete(a.byUser, uid)
	}
}

// userName is the name the host gives uid, or "uid:N".
func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil && api.CheckLocalUser(u.Username) == nil {
		return u.Username
	}
	return "uid:" + id
}

func statusOf(err error) int {
	var le *localError
	var ce *client.Error
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &le):
		return le.status
	case errors.As(err, &ce):
		return ce.Status
	case client.Retryable(err):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// writeError answers err: the agent's refusal, the server's answer
// passed on as it came, or the failure to reach the server.
func (a *Agent) writeError(c *call, err error) {
	e := api.Error{Message: "internal error in signet agent; its log has details under this request id", Code: "internal", RequestID: c.id}
	var le *localError
	var ie *itemsError
	var ce *client.Error
	switch {
	case errors.As(err, &ie):
		e = api.Error{Message: "signet agent: " + ie.message, Code: ie.code, RequestID: c.id, Items: ie.items}
	case errors.As(err, &le):
		e = api.Error{Message: "signet agent: " + le.message, Code: le.code, RequestID: c.id}
	case errors.As(err, &ce):
		e = api.Error{Message: ce.Message, Code: ce.Code, RequestID: ce.RequestID, Items: ce.Items}
		c.upstreamID = ce.RequestID
	case client.Retryable(err):
		e = api.Error{Message: fmt.Sprintf("signet agent could not get an answer from the Signet servers: %v", err), Code: "upstream_unavailable", RequestID: c.id}
	}
	writeJSON(c.w, statusOf(err), e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"signet agent could not encode its answer","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// sign checks a sign request against the caller's grants and forwards it.
func (a *Agent) sign(c *call) error {
	req, err := ParseSignRequest(c.r.Body, a.limits)
	if err != nil {
		return err
	}
	c.items = len(req.Items)
	if err := c.authorize(req); err != nil {
		return err
	}
	resp, err := c.upstream.Sign(c.ctx, req)
	if err != nil {
		return err
	}
	c.upstreamID = resp.RequestID
	writeJSON(c.w, http.StatusOK, resp)
	return nil
}

// authorize checks every item of req against the caller's grants. When
// only artifact names are refused, the refusal lists all of them.
func (c *call) authorize(req *api.SignRequest) error {
	if !slices.ContainsFunc(c.grants, func(g Grant) bool { return matchAny(g.Keys, req.Key) }) {
		return &localError{http.StatusForbidden, "forbidden", fmt.Sprintf("permission denied: %s may not use key %q on this host", c.caller, req.Key)}
	}
	if !slices.ContainsFunc(c.grants, func(g Grant) bool { return matchAny(g.Keys, req.Key) && matchAny(g.Formats, req.Format) }) {
		return &localError{http.StatusForbidden, "forbidden", fmt.Sprintf("permission denied: %s may not use key %q in format %q on this host", c.caller, req.Key, req.Format)}
	}
	var refused []api.ItemError
	for i, it := range req.Items {
		if !slices.ContainsFunc(c.grants, func(g Grant) bool {
			return matchAny(g.Keys, req.Key) && matchAny(g.Formats, req.Format) && matchAny(g.Artifacts, it.Name)
		}) {
			msg := fmt.Sprintf("permission denied: %s may not sign artifact %q with key %q in format %q on this host", c.caller, it.Name, req.Key, req.Format)
			refused = append(refused, api.ItemError{Item: i + 1, Error: "signet agent: " + msg})
		}
	}
	if len(refused) > 0 {
		return &itemsError{&localError{http.StatusForbidden, "forbidden", strings.TrimPrefix(refused[0].Error, "signet agent: ")}, refused}
	}
	return nil
}

// mayUseKey reports whether some grant of the caller names key.
func (c *call) mayUseKey(key string) bool {
	return slices.ContainsFunc(c.grants, func(g Grant) bool { return matchAny(g.Keys, key) })
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if policy.Match(p, s) {
			return true
		}
	}
	return false
}

func (a *Agent) keys(c *call) error {
	keys, err := c.upstream.Keys(c.ctx)
	if err != nil {
		return err
	}
	out := api.KeyList{Keys: []api.Key{}}
	for _, k := range keys {
		if c.mayUseKey(k.Name) {
			out.Keys = append(out.Keys, k)
		}
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (a *Agent) key(c *call) error {
	name := c.r.PathValue("name")
	if err := keystore.ValidName(name); err != nil {
		return &localError{http.StatusBadRequest, "bad_request", err.Error()}
	}
	if !c.mayUseKey(name) {
		return &localError{http.StatusForbidden, "forbidden", fmt.Sprintf("permission denied: %s has no grant for key %q on this host", c.caller, name)}
	}
	k, err := c.upstream.Key(c.ctx, name)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, k)
	return nil
}

// limitsOf answers the smaller of the agent's and the server's limits.
func (a *Agent) limitsOf(c *call) error {
	l, err := c.upstream.Limits(c.ctx)
	if err != nil {
		return err
	}
	l.MaxBatch = min(l.MaxBatch, a.limits.MaxBatch)
	l.MaxBodyBytes = min(l.MaxBodyBytes, a.limits.MaxBodyBytes)
	l.MaxMessageBytes = min(l.MaxMessageBytes, a.limits.MaxBodyBytes*3/4)
	writeJSON(c.w, http.StatusOK, l)
	return nil
}

func (a *Agent) checkpoint(c *call) error {
	cp, err := c.upstream.Checkpoint(c.ctx)
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(c.w, cp)
	return nil
}

func (a *Agent) auditKey(c *call) error {
	k, err := c.upstream.AuditKey(c.ctx)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, k)
	return nil
}

func (a *Agent) proof(c *call) error {
	index, err := strconv.ParseInt(c.r.URL.Query().Get("index"), 10, 64)
	if err != nil || index < 0 {
		return &localError{http.StatusBadRequest, "bad_request", "give the entry with ?index=N"}
	}
	r, err := c.upstream.Proof(c.ctx, index)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, r)
	return nil
}
