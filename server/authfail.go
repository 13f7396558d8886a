package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/signet-dev/signet/audit"
)

// Authentication failures are not recorded one by one. Anyone who can
// reach the port can fail to authenticate (a garbage bearer token, an
// expired one, a certificate that matches no principal, no credentials),
// and a durable entry each would let them grow the log at will — and a
// full log stops all signing. So they are counted per source address and
// reason, and each interval (Limits.AuthFailureInterval) one entry per
// (address, reason) records the count, first and last time; a metric
// counts them as they come. Past Limits.AuthFailureBudget failures in an
// interval, an address's failing requests are answered 429 with
// Retry-After instead of 401. A principal's refusals (authenticated,
// then refused) are still recorded one by one.

// maxAuthFailureSources bounds the addresses counted per interval; the
// rest are counted together under address "other".
const maxAuthFailureSources = 10_000

type authFailKey struct{ addr, reason string }

type authFailCount struct {
	n           int
	first, last time.Time
	lastErr     string // the last failure's message, as a sample
}

// authFailures aggregates the authentication failures of one interval.
type authFailures struct {
	mu     sync.Mutex
	counts map[authFailKey]*authFailCount
	budget map[string]*authBudget // by address
	timer  *time.Timer            // flushes the interval; nil when idle
}

// authBudget is one address's failures in its current window.
type authBudget struct {
	n     int
	start time.Time
}

// sourceAddr is the address requests are counted under: the peer's IP,
// without the port, which changes per connection.
func sourceAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// authFailed counts the authentication failure of c with reason (an
// authCode) and returns the error to answer: 401 within the address's
// budget, 429 past it.
func (s *Server) authFailed(c *call, reason string, err error) error {
	a := &s.authFails
	now := time.Now()
	addr := sourceAddr(c.r)
	interval, budget := s.limits.AuthFailureInterval, s.limits.AuthFailureBudget
	a.mu.Lock()
	if a.counts == nil {
		a.counts, a.budget = map[authFailKey]*authFailCount{}, map[string]*authBudget{}
	}
	b := a.budget[addr]
	if b == nil || now.Sub(b.start) >= interval {
		if b == nil && len(a.budget) >= maxAuthFailureSources {
			s.forgetBudgets(now)
		}
		b = &authBudget{start: now}
		a.budget[addr] = b
	}
	b.n++
	over := b.n > budget
	retry := b.start.Add(interval).Sub(now)
	key := authFailKey{addr, reason}
	if _, ok := a.counts[key]; !ok && len(a.counts) >= maxAuthFailureSources {
		key.addr = "other"
	}
	n := a.counts[key]
	if n == nil {
		n = &authFailCount{first: now}
		a.counts[key] = n
	}
	n.n++
	n.last = now
	n.lastErr = err.Error()
	if len(n.lastErr) > 256 {
		n.lastErr = n.lastErr[:256]
	}
	if a.timer == nil {
		a.timer = time.AfterFunc(interval, s.flushAuthFailures)
	}
	a.mu.Unlock()
	s.metrics.authFailure(reason, over)
	if over {
		secs := int((retry + time.Second - 1) / time.Second)
		c.w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		return &apiError{http.StatusTooManyRequests, "too_many_failures", fmt.Sprintf(
			"too many failed authentications from %s (over %d in %v): retry after %ds with valid credentials", addr, budget, interval, max(secs, 1))}
	}
	return &apiError{http.StatusUnauthorized, reason, err.Error()}
}

// forgetBudgets drops the windows that have ended. a.mu is held.
func (s *Server) forgetBudgets(now time.Time) {
	for addr, b := range s.authFails.budget {
		if now.Sub(b.start) >= s.limits.AuthFailureInterval {
			delete(s.authFails.budget, addr)
		}
	}
}

// authFailureReasons are the texts of aggregated entries, worded so that
// audit.RefusalOf classifies them as it does single refusals.
var authFailureReasons = map[string]string{
	"token_expired":   "token expired or not yet valid",
	"token_revoked":   "token revoked",
	"token_invalid":   "token invalid",
	"unauthenticated": "no valid credentials",
}

// flushAuthFailures records the interval's counts, one entry per
// address and reason. Counts the log cannot take are kept for the next
// interval.
func (s *Server) flushAuthFailures() {
	a := &s.authFails
	a.mu.Lock()
	counts := a.counts
	a.counts = map[authFailKey]*authFailCount{}
	a.timer = nil
	s.forgetBudgets(time.Now())
	a.mu.Unlock()
	if len(counts) == 0 {
		return
	}
	keys := make([]authFailKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].addr < keys[j].addr || keys[i].addr == keys[j].addr && keys[i].reason < keys[j].reason
	})
	entries := make([]audit.Entry, len(keys))
	for i, k := range keys {
		n := counts[k]
		what := authFailureReasons[k.reason]
		if what == "" {
			what = k.reason
		}
		entries[i] = audit.Entry{
			Time: n.first, Server: s.id, RequestID: newRequestID(), Action: audit.ActionAuthentication, Decision: audit.Denied,
			Reason:    fmt.Sprintf("%d authentication failures (%s) from %s", n.n, what, k.addr),
			Principal: audit.Principal{Kind: "anonymous"}, Client: k.addr,
			Details: map[string]string{"aggregated": "true", "count": strconv.Itoa(n.n), "reason": k.reason,
				"first": n.first.UTC().Format(time.RFC3339Nano), "last": n.last.UTC().Format(time.RFC3339Nano), "last_error": n.lastErr},
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.audit.Append(ctx, entries...); err != nil && !errors.Is(err, audit.ErrNoCheckpoint) {
		s.log.Error("aggregated authentication failures not recorded; kept for the next interval", "entries", len(entries), "err", err)
		a.mu.Lock()
		for k, n := range counts {
			if m := a.counts[k]; m != nil {
				m.n += n.n
				m.first = n.first
				if m.lastErr == "" {
					m.lastErr = n.lastErr
				}
			} else {
				a.counts[k] = n
			}
		}
		if a.timer == nil {
			a.timer = time.AfterFunc(s.limits.AuthFailureInterval, s.flushAuthFailures)
		}
		a.mu.Unlock()
	}
}
