package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/signet-dev/signet/audit"
)

// pendingRecords holds the audit entries of acts that took effect while
// the log could not record them. Only acts that must work without the
// log get here: the panic button (POST /v1/lock) and the keyring's own
// expiries (a lease ending, partial progress discarded). Every other act
// is recorded first or not done. A goroutine writes the entries, in
// order, as soon as the log takes them again.
type pendingRecords struct {
	mu      sync.Mutex
	entries []audit.Entry
	running bool // the retry goroutine is running
}

// Retry delays of the pending records' writer: short at first, so that a
// brief outage leaves no gap, then capped.
const (
	pendingFirstRetry = 100 * time.Millisecond
	pendingMaxRetry   = 5 * time.Second
	pendingAppendWait = 30 * time.Second // one attempt's bound
)

// keepPending keeps e, an act already done, until the log records it.
func (s *Server) keepPending(e audit.Entry) {
	e.Server = s.id
	if e.Details == nil {
		e.Details = map[string]string{}
	}
	e.Details["recorded_late"] = "true" // the act preceded its record
	p := &s.pending
	p.mu.Lock()
	p.entries = append(p.entries, e)
	start := !p.running
	p.running = true
	n := len(p.entries)
	p.mu.Unlock()
	s.log.Error("audit record pending: the act took effect while the audit log was down; its record is written when the log is back",
		"action", e.Action, "request", e.RequestID, "pending", n)
	if start {
		go s.writePending()
	}
}

// PendingRecords returns the number of audit entries of acts done that
// the log has not recorded yet.
func (s *Server) PendingRecords() int {
	s.pending.mu.Lock()
	defer s.pending.mu.Unlock()
	return len(s.pending.entries)
}

// writePending appends the pending entries until none is left, waiting
// longer after each failure.
func (s *Server) writePending() {
	p := &s.pending
	wait := pendingFirstRetry
	for {
		time.Sleep(wait)
		p.mu.Lock()
		batch := append([]audit.Entry(nil), p.entries...)
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), pendingAppendWait)
		_, err := s.audit.Append(ctx, batch...)
		cancel()
		if err != nil && !errors.Is(err, audit.ErrNoCheckpoint) {
			s.log.Warn("audit records still pending", "pending", len(batch), "err", err)
			wait = min(2*wait, pendingMaxRetry)
			continue
		}
		s.log.Info("pending audit records written", "records", len(batch))
		p.mu.Lock()
		p.entries = p.entries[len(batch):]
		if len(p.entries) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		wait = pendingFirstRetry
	}
}
