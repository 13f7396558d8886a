package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// A Monitor is what Watch reads from a log server.
type Monitor interface {
	// Checkpoint returns the latest signed checkpoint.
	Checkpoint(ctx context.Context) (string, error)
	// Consistency returns a proof that the tree of size old is a prefix of
	// the tree of size new.
	Consistency(ctx context.Context, old, new int64) ([][]byte, error)
}

// WatchState is what a monitor remembers between runs: the last checkpoint
// it verified.
type WatchState struct {
	Checkpoint string `json:"checkpoint"` // signed note
}

// Watch fetches the latest checkpoint, checks its signature, and checks
// that it extends the checkpoint in prev (if any) with a consistency proof.
// It returns the new state to save. A log that shrank, forked or rewrote
// history fails with ErrInconsistent, and the old state must be kept as
// evidence.
func Watch(ctx context.Context, m Monitor, vkey string, prev *WatchState) (*WatchState, Checkpoint, error) {
	signed, err := m.Checkpoint(ctx)
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("fetching the latest checkpoint: %w", err)
	}
	cur, err := OpenCheckpoint(signed, vkey)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	next := &WatchState{Checkpoint: signed}
	if prev == nil || prev.Checkpoint == "" {
		return next, cur, nil
	}
	old, err := OpenCheckpoint(prev.Checkpoint, vkey)
	if err != nil {
		return nil, cur, fmt.Errorf("saved state: %w", err)
	}
	switch {
	case cur.Size < old.Size:
		return nil, cur, fmt.Errorf("%w: the log shrank from %d to %d entries", ErrInconsistent, old.Size, cur.Size)
	case cur.Size == old.Size:
		if cur.Root != old.Root {
			return nil, cur, fmt.Errorf("%w: two checkpoints of size %d with different roots (%s, %s): the log forked",
				ErrInconsistent, cur.Size, b64(old.Root), b64(cur.Root))
		}
		return next, cur, nil
	}
	proof, err := m.Consistency(ctx, old.Size, cur.Size)
	if err != nil {
		return nil, cur, fmt.Errorf("fetching the consistency proof %d → %d: %w", old.Size, cur.Size, err)
	}
	tp := make(tlog.TreeProof, len(proof))
	for i, h := range proof {
		if len(h) != tlog.HashSize {
			return nil, cur, fmt.Errorf("consistency proof hash %d is %d bytes", i, len(h))
		}
		copy(tp[i][:], h)
	}
	if err := tlog.CheckTree(tp, cur.Size, cur.Root, old.Size, old.Root); err != nil {
		return nil, cur, fmt.Errorf("%w: the log of %d entries does not extend the one of %d entries seen before: %v",
			ErrInconsistent, cur.Size, old.Size, err)
	}
	return next, cur, nil
}

func b64(h tlog.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }

// ParseWatchState parses a saved state file ("" or empty is no state).
func ParseWatchState(b []byte) (*WatchState, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var s WatchState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("watch state: %w", err)
	}
	return &s, nil
}
