package explorer

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/signet-dev/signet/audit"
)

// checkpointCheck follows the stored checkpoints as they are made: each
// new one must be signed by the log key and extend the one before it (a
// consistency proof from the store, checked against both signed roots).
// Consistency being transitive, every checkpoint checked so far is then
// consistent with the latest. History before the first one it saw is the
// full verification's business (verifyRun).
type checkpointCheck struct {
	started bool
	last    audit.Checkpoint // the latest checkpoint checked
	checked int64            // checkpoints checked
	since   time.Time        // when checking started
	problem string           // the first inconsistency found; sticky
}

// verifyRun is the result of the last full verification.
type verifyRun struct {
	Start    time.Time
	Duration time.Duration
	Report   *audit.Report
	From     int64  // the size of the checkpoint it started from (0: the whole log)
	Err      string // verification could not run
}

// checkCheckpoints checks the checkpoints stored since the last call,
// spending at most budget (0: no limit) and reporting whether it caught up.
func (e *Explorer) checkCheckpoints(ctx context.Context, budget time.Duration) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := &e.cps
	if c.problem != "" {
		return true
	}
	vkey, err := e.opts.VerifierKey()
	if err != nil {
		return true // shown as the log key's state
	}
	store := e.opts.Log.Store()
	start := time.Now()
	// next checks a checkpoint against the last; advance makes it the
	// last. The head is checked without advancing, so that stored
	// checkpoints made meanwhile below its size are still checked.
	next := func(signed string, size int64, advance bool) bool {
		cp, err := audit.OpenCheckpoint(signed, vkey)
		if err != nil {
			c.problem = fmt.Sprintf("checkpoint of size %d: %v", size, err)
			return false
		}
		if cp.Size != size {
			c.problem = fmt.Sprintf("checkpoint stored as size %d says size %d", size, cp.Size)
			return false
		}
		if c.started {
			switch {
			case cp.Size < c.last.Size:
				c.problem = fmt.Sprintf("the log shrank from %d to %d entries", c.last.Size, cp.Size)
			case cp.Size == c.last.Size && cp.Root != c.last.Root:
				c.problem = fmt.Sprintf("two checkpoints of size %d with different roots: the log forked", cp.Size)
			case cp.Size > c.last.Size:
				proof, err := audit.ConsistencyProof(ctx, store, c.last.Size, cp.Size)
				if err != nil {
					c.problem = fmt.Sprintf("no consistency proof from %d to %d entries: %v", c.last.Size, cp.Size, err)
					break
				}
				tp := make(tlog.TreeProof, len(proof))
				for i, h := range proof {
					copy(tp[i][:], h)
				}
				if err := tlog.CheckTree(tp, cp.Size, cp.Root, c.last.Size, c.last.Root); err != nil {
					c.problem = fmt.Sprintf("the checkpoint of %d entries does not extend the one of %d entries (history rewritten): %v", cp.Size, c.last.Size, err)
				}
			}
			if c.problem != "" {
				return false
			}
		} else {
			c.started, c.since, advance = true, e.opts.Now(), true
		}
		if advance {
			c.last = cp
			c.checked++
		}
		return true
	}
	if !c.started {
		// Start from the latest stored checkpoint (or the head).
		cps, err := latestCheckpoints(ctx, store)
		if err != nil {
			return true
		}
		if len(cps) > 0 && !next(cps[0].Signed, cps[0].Size, true) {
			return true
		}
	}
	for {
		if budget > 0 && time.Since(start) > budget {
			return false
		}
		after := int64(-1)
		if c.started {
			after = c.last.Size
		}
		cps, err := store.Checkpoints(ctx, after, 200)
		if err != nil {
			return true
		}
		for _, sc := range cps {
			if !next(sc.Signed, sc.Size, true) {
				return true
			}
		}
		if len(cps) == 200 {
			continue
		}
		head, _, err := store.Head(ctx)
		if err != nil || head == "" {
			return true
		}
		hc, err := audit.ParseUnverified(head)
		if err != nil {
			c.problem = fmt.Sprintf("the head checkpoint: %v", err)
			return true
		}
		if !c.started || hc.Size != c.last.Size || hc.Root != c.last.Root {
			next(head, hc.Size, false)
		}
		return true
	}
}

// latestCheckpoints returns the stored checkpoint of the largest size, by
// bisection over Checkpoints (which pages upwards).
func latestCheckpoints(ctx context.Context, s audit.Store) ([]audit.StoredCheckpoint, error) {
	_, size, err := s.Head(ctx)
	if err != nil {
		return nil, err
	}
	lo, hi := int64(-1), size // some checkpoint has size > lo, none > hi
	first, err := s.Checkpoints(ctx, -1, 1)
	if err != nil || len(first) == 0 {
		return nil, err
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		cps, err := s.Checkpoints(ctx, mid, 1)
		if err != nil {
			return nil, err
		}
		if len(cps) > 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return s.Checkpoints(ctx, lo, 1)
}

// runVerify verifies the log (what is new since the last run, where the
// store remembers it) and keeps the result.
func (e *Explorer) runVerify(ctx context.Context) {
	run := &verifyRun{Start: e.opts.Now().UTC()}
	t := time.Now()
	vkey, err := e.opts.VerifierKey()
	if err == nil {
		// From the checkpoint the last run passed, where the store
		// remembers it (a tile log): a restart does not recompute the
		// whole log; 'signet audit verify' does.
		run.Report, run.From, err = audit.VerifyIncremental(ctx, e.opts.Log.Store(), vkey)
	}
	if ctx.Err() != nil {
		return // stopped, not failed
	}
	run.Duration = time.Since(t)
	if err != nil {
		run.Err = err.Error()
	}
	if run.Report != nil && !run.Report.OK() {
		e.opts.Logger.Error("audit log FAILS verification", "first_bad", run.Report.FirstBad, "problems", run.Report.Problems)
	}
	e.mu.Lock()
	e.verify = run
	e.mu.Unlock()
}

// health is what the overview shows of the log.
type health struct {
	Writable   string // "" when writable, else why not
	Size       int64
	Checkpoint *audit.Checkpoint // the head, nil if none signed yet
	Root       string
	HeadErr    string
	Latest     *audit.StoredCheckpoint // the latest kept checkpoint, with its time
	Checked    int64
	Since      time.Time
	CatchingUp bool
	Problem    string
	Verify     *verifyRun
	VerifyNext time.Duration
}

// health reads the log's state, checking new checkpoints first.
func (e *Explorer) health(ctx context.Context) health {
	caughtUp := e.checkCheckpoints(ctx, 100*time.Millisecond)
	var h health
	if err := e.opts.Log.Ready(); err != nil {
		h.Writable = err.Error()
	}
	store := e.opts.Log.Store()
	signed, size, err := store.Head(ctx)
	if err != nil {
		h.HeadErr = fmt.Sprintf("reading the log head: %v", err)
	}
	h.Size = size
	if signed != "" {
		vkey, err := e.opts.VerifierKey()
		if err != nil {
			h.HeadErr = fmt.Sprintf("the log key: %v", err)
		} else if cp, err := audit.OpenCheckpoint(signed, vkey); err != nil {
			h.HeadErr = err.Error()
		} else {
			h.Checkpoint = &cp
			h.Root = base64.StdEncoding.EncodeToString(cp.Root[:])
		}
	}
	if cps, err := latestCheckpoints(ctx, store); err == nil && len(cps) > 0 {
		h.Latest = &cps[0]
	}
	e.mu.Lock()
	h.Checked, h.Since, h.Problem, h.CatchingUp = e.cps.checked, e.cps.since, e.cps.problem, !caughtUp
	h.Verify = e.verify
	e.mu.Unlock()
	return h
}
