package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Readiness bounds the probes behind GET /readyz. In-memory state (lock,
// audit log health, log key) is read on every call; the database and the
// hardware tokens are asked at most once per CacheFor, by one probe at a
// time, so that however often load balancers ask, a replica cannot
// overload them.
type Readiness struct {
	// CacheFor is how long a probe's result is reused; default 1s.
	CacheFor time.Duration
	// Timeout bounds one probe; default 2s. A database or token that has
	// not answered by then makes the replica not ready, and /readyz
	// answers anyway.
	Timeout time.Duration
}

func (r Readiness) withDefaults() (cacheFor, timeout time.Duration) {
	cacheFor, timeout = r.CacheFor, r.Timeout
	if cacheFor <= 0 {
		cacheFor = time.Second
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return cacheFor, timeout
}

// TokenProber is what a Keyring with hardware tokens adds for readiness:
// a check, bounded by ctx, that every token answers and is logged in.
// *keystore.Keyring implements it.
type TokenProber interface {
	ProbeTokens(ctx context.Context) error
}

// prober runs and caches the probes of what lies outside the process.
type prober struct {
	ttl, timeout time.Duration

	mu      sync.Mutex
	at      time.Time     // when err was learnt; zero if never
	err     error         // the last probe's outcome
	running chan struct{} // closed when the probe in flight ends; nil if none
}

// Ready reports why a signing request could not succeed now, or nil:
// the server is shutting down, the keystore is locked, the audit log is
// unwritable or cannot sign checkpoints, or its database or a hardware
// token does not answer.
func (s *Server) Ready(ctx context.Context) error {
	if s.draining.Load() {
		return errors.New("shutting down: finishing the requests in flight")
	}
	if s.keys.Locked() {
		return errors.New("keystore locked; run 'signet unlock'")
	}
	if err := s.checkAuditReady(); err != nil {
		return err
	}
	return s.probeOutside(ctx)
}

// probeOutside returns the outcome of a recent probe of the audit store
// and the tokens, starting one if none is recent or running. It waits at
// most the probe timeout: a probe that hangs is reported as such, and no
// second one starts while it does.
func (s *Server) probeOutside(ctx context.Context) error {
	p := &s.probe
	p.mu.Lock()
	if p.running == nil && !p.at.IsZero() && time.Since(p.at) < p.ttl {
		err := p.err
		p.mu.Unlock()
		return err
	}
	done := p.running
	if done == nil {
		done = make(chan struct{})
		p.running = done
		go s.runProbe(done)
	}
	p.mu.Unlock()
	t := time.NewTimer(p.timeout)
	defer t.Stop()
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	case <-t.C:
		return fmt.Errorf("the audit database or a hardware token has not answered a probe within %v", p.timeout)
	case <-ctx.Done():
		return fmt.Errorf("readiness probe: %w", ctx.Err())
	}
}

func (s *Server) runProbe(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), s.probe.timeout)
	defer cancel()
	err := s.audit.Store().Ping(ctx)
	if err != nil {
		err = hideCause(&apiError{http.StatusServiceUnavailable, "audit_unavailable", "audit log unwritable: its database does not take a durable write"}, err)
	} else if tp, ok := s.keys.(TokenProber); ok {
		err = tp.ProbeTokens(ctx)
	}
	s.probe.mu.Lock()
	s.probe.err, s.probe.at, s.probe.running = err, time.Now(), nil
	s.probe.mu.Unlock()
	close(done)
}

// readyz is 200 only when a signing request could succeed (see Ready).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(r.Context(), s.probe.timeout+time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		// The body says why in general terms; the cause (a database
		// address, a driver's error, a path) goes to the server log.
		id := newRequestID()
		w.Header()["X-Request-Id"] = []string{id}
		s.log.Debug("not ready", "id", id, "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready: " + publicMessage(err) + " (request " + id + ")\n"))
		return
	}
	w.Write([]byte("ready\n"))
}

// OpsHandler serves what operators' tools ask for on the separate metrics
// listener: GET /healthz, GET /readyz and, if metrics is not nil, GET
// /metrics.
func (s *Server) OpsHandler(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}
