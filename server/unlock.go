package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/signet-dev/signet/keystore"
)

// Passphrase unlocks are expensive on purpose: each derives the KEK with
// Argon2id (64 MiB, three passes), so that a stolen keystore resists
// guessing. Served naively, that cost is the server's: 48 parallel wrong
// passphrases hold 3 GiB and every core. So the derivations a server
// runs at once are bounded (unlockDerivations; the others wait up to the
// queue timeout, then get 503 with Retry-After), a principal whose
// passphrases keep failing must wait before trying again (429 with
// Retry-After, doubling after each failure past unlockFreeFailures, up
// to unlockMaxBackoff), and once the last derivation ends the memory is
// handed back to the system.
const (
	unlockDerivations  = 2
	unlockFreeFailures = 3 // wrong passphrases allowed before any wait (typos)
	unlockFirstBackoff = time.Second
	unlockMaxBackoff   = 5 * time.Minute
	unlockMaxTracked   = 10_000 // principals whose failures are remembered
)

// unlockGate bounds passphrase derivations and throttles failures.
type unlockGate struct {
	slots chan struct{}

	mu       sync.Mutex
	running  int
	failures map[string]*unlockFailures // by principal
}

type unlockFailures struct {
	n     int       // wrong passphrases in a row
	until time.Time // no attempt before
}

func newUnlockGate() *unlockGate {
	return &unlockGate{slots: make(chan struct{}, unlockDerivations), failures: map[string]*unlockFailures{}}
}

// backoff is how long a principal waits after n wrong passphrases in a
// row.
func unlockBackoff(n int) time.Duration {
	if n <= unlockFreeFailures {
		return 0
	}
	d := unlockFirstBackoff
	for i := unlockFreeFailures + 1; i < n && d < unlockMaxBackoff; i++ {
		d *= 2
	}
	return min(d, unlockMaxBackoff)
}

// unlockPassphrase unlocks with passphrase for principal by, within the
// gate's bounds; record is the unlock's record (see Keyring.Unlock).
func (s *Server) unlockPassphrase(c *call, by string, passphrase []byte, record func() error) error {
	g := s.unlocks
	now := time.Now()
	g.mu.Lock()
	if f := g.failures[by]; f != nil && now.Before(f.until) {
		wait := f.until.Sub(now)
		n := f.n
		g.mu.Unlock()
		s.metrics.unlockAttempt("throttled")
		retry := int((wait + time.Second - 1) / time.Second)
		c.w.Header().Set("Retry-After", strconv.Itoa(retry))
		return &apiError{http.StatusTooManyRequests, "too_many_attempts", fmt.Sprintf(
			"%d wrong passphrases in a row from %q: wait %ds before trying again", n, by, retry)}
	}
	g.mu.Unlock()

	ctx, cancel := context.WithTimeout(c.r.Context(), s.limits.QueueTimeout)
	defer cancel()
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		s.metrics.unlockAttempt("busy")
		c.w.Header().Set("Retry-After", "5")
		return &apiError{http.StatusServiceUnavailable, "unlock_busy", fmt.Sprintf(
			"other unlocks are deriving their keys (at most %d at a time); retry in a few seconds", unlockDerivations)}
	}
	g.mu.Lock()
	g.running++
	g.mu.Unlock()
	err := s.keys.Unlock(by, passphrase, record)
	clear(passphrase)
	<-g.slots
	g.mu.Lock()
	g.running--
	idle := g.running == 0
	switch {
	case errors.Is(err, keystore.ErrBadPassphrase):
		f := g.failures[by]
		if f == nil {
			if len(g.failures) >= unlockMaxTracked {
				g.forgetExpired(now)
			}
			f = &unlockFailures{}
			g.failures[by] = f
		}
		f.n++
		f.until = time.Now().Add(unlockBackoff(f.n))
	case err == nil:
		delete(g.failures, by)
	}
	g.mu.Unlock()
	if idle {
		// Argon2id's 64 MiB per derivation would otherwise stay with
		// the process (all of it locked, under mlockall).
		debug.FreeOSMemory()
	}
	switch {
	case err == nil:
		s.metrics.unlockAttempt("unlocked")
	case errors.Is(err, keystore.ErrBadPassphrase):
		s.metrics.unlockAttempt("bad_passphrase")
	default:
		s.metrics.unlockAttempt("failed")
	}
	return err
}

// forgetExpired drops the failures whose wait is over, bounding the
// map. g.mu is held.
func (g *unlockGate) forgetExpired(now time.Time) {
	for by, f := range g.failures {
		if !now.Before(f.until) {
			delete(g.failures, by)
		}
	}
}
