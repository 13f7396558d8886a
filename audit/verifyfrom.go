package audit

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// VerifyFrom verifies what was appended to the log since a checkpoint
// verified before (from, a signed checkpoint, checked again here): that
// the stored tree still has from's root at from's size, then, as Verify
// does for the whole log, the entries after it against their leaf hashes,
// the columns searches use, and every checkpoint signed since. It is what
// a server runs on start and periodically, in time proportional to the
// new entries rather than the whole log; what it does not look at again
// is history below from that was rewritten together with its leaf hashes
// but not the tiles above them — which only the full Verify ('signet
// audit verify') recomputes.
func VerifyFrom(ctx context.Context, s Store, vkey, from string) (*Report, error) {
	r := &Report{FirstBad: -1}
	start, err := OpenCheckpoint(from, vkey)
	if err != nil {
		return nil, fmt.Errorf("the checkpoint verified before: %w", err)
	}
	headNote, size, err := s.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the log head: %w", err)
	}
	if size < start.Size {
		r.fail(size, "log truncated: %d entries stored, but the checkpoint of size %d was verified before", size, start.Size)
		return r, nil
	}
	e, err := loadEdge(start.Size, s.Hashes(ctx))
	if err != nil {
		r.fail(-1, "reading the tree of the checkpoint of size %d verified before: %v", start.Size, err)
		return r, nil
	}
	o := newOverlay(e)
	if root, err := o.root(); err != nil || root != start.Root {
		r.fail(-1, "the stored tree of %d entries no longer has the root of the checkpoint verified before: history rewritten; run 'signet audit verify' (%v)", start.Size, err)
		return r, nil
	}
	var cps []StoredCheckpoint
	for after := start.Size; ; {
		page, err := s.Checkpoints(ctx, after, 1000)
		if err != nil {
			return nil, fmt.Errorf("reading checkpoints: %w", err)
		}
		if len(page) == 0 {
			break
		}
		cps = append(cps, page...)
		after = page[len(page)-1].Size
	}
	if c, err := ParseUnverified(headNote); err == nil && c.Size > start.Size && (len(cps) == 0 || cps[len(cps)-1].Size < c.Size) {
		cps = append(cps, StoredCheckpoint{Size: c.Size, Signed: headNote})
	}
	cps = tileChecks(s, cps, r)
	type want struct {
		size int64
		root tlog.Hash
	}
	var wants []want
	for _, c := range cps {
		if c.Size < start.Size {
			continue
		}
		cp, err := OpenCheckpoint(c.Signed, vkey)
		if err != nil {
			r.fail(-1, "checkpoint of size %d: %v", c.Size, err)
			continue
		}
		r.Checkpoints++
		wants = append(wants, want{cp.Size, cp.Root})
	}
	if n := len(wants); n > 0 && wants[n-1].size > size {
		r.fail(size, "log truncated: %d entries stored, but checkpoint of size %d was signed", size, wants[n-1].size)
	}
	var prevTime time.Time
	if start.Size > 0 {
		if d, err := s.Entries(ctx, start.Size-1, start.Size); err == nil && len(d) == 1 {
			if pe, err := ParseEntry(d[0]); err == nil {
				prevTime = pe.Time
			}
		}
	}
	for len(wants) > 0 && wants[0].size == o.size {
		if wants[0].root != start.Root {
			r.fail(-1, "two checkpoints of size %d with different roots: the log forked", o.size)
		}
		wants = wants[1:]
	}
	for lo := start.Size; lo < size; lo += verifyChunk {
		hi := min(lo+verifyChunk, size)
		data, err := s.Entries(ctx, lo, hi)
		if err != nil || int64(len(data)) != hi-lo {
			r.fail(lo+int64(len(data)), "entries %d to %d: %v", lo, hi, cmp.Or(err, fmt.Errorf("only %d stored", len(data))))
			break
		}
		good := o.size
		var rewritten [][2]int64
		for i, b := range data {
			n := lo + int64(i)
			if pe, err := ParseEntry(b); err != nil {
				r.fail(n, "entry %d: %v", n, err)
			} else {
				if pe.Time.Before(prevTime) {
					r.fail(n, "entry %d is dated %s, before the entry ahead of it", n, pe.Time.Format(time.RFC3339Nano))
				}
				prevTime = pe.Time
			}
			if err := o.append(tlog.RecordHash(b)); err != nil {
				return nil, err
			}
			for len(wants) > 0 && wants[0].size == o.size {
				root, err := o.root()
				if err != nil {
					return nil, err
				}
				if root != wants[0].root {
					rewritten = append(rewritten, [2]int64{good, o.size})
				}
				good = o.size
				wants = wants[1:]
			}
		}
		if err := checkHashes(ctx, s, o.order, r); err != nil {
			return nil, err
		}
		if err := checkFields(ctx, s, lo, hi, data, r); err != nil {
			return nil, err
		}
		for _, bad := range rewritten {
			at := bad[0]
			if r.FirstBad >= bad[0] && r.FirstBad < bad[1] {
				at = -1 // the leaf hashes pinpointed it
			}
			r.fail(at, "entries %d to %d do not match the signed checkpoint of size %d (history rewritten)", bad[0], bad[1], bad[1])
		}
		next, err := o.edge()
		if err != nil {
			return nil, err
		}
		o = newOverlay(next)
	}
	r.Size = o.size // the log verified up to, as Verify reports
	return r, nil
}

// A store that remembers the last checkpoint a verification passed, so
// that the next one starts there. The tile log keeps it in DIR/verified.
type verifiedStore interface {
	Verified() (string, error)
	SetVerified(signed string) error
}

// Verified returns the last checkpoint a verification of the log passed
// ("" if none).
func (s *TileStore) Verified() (string, error) {
	b, err := os.ReadFile(s.path("verified"))
	if os.IsNotExist(err) {
		return "", nil
	}
	return string(b), err
}

// SetVerified records the checkpoint a verification passed.
func (s *TileStore) SetVerified(signed string) error {
	if s.readOnly {
		return nil
	}
	tmp := s.path("verified.tmp")
	if err := os.WriteFile(tmp, []byte(signed), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.path("verified"))
}

// VerifyIncremental verifies s from the checkpoint its last verification
// passed (the whole log when there is none, or when s does not remember),
// and on success remembers the head it reached. It returns the report and
// the size it started from.
func VerifyIncremental(ctx context.Context, s Store, vkey string) (*Report, int64, error) {
	vs, ok := s.(verifiedStore)
	var from string
	if ok {
		from, _ = vs.Verified()
	}
	head, _, err := s.Head(ctx)
	if err != nil {
		return nil, 0, err
	}
	var r *Report
	var start int64
	var forged error
	if from != "" {
		c, err := OpenCheckpoint(from, vkey)
		if err == nil {
			start = c.Size
			if r, err = VerifyFrom(ctx, s, vkey, from); err != nil {
				return nil, 0, err
			}
		} else {
			forged = err
		}
	}
	if r == nil {
		if r, err = Verify(ctx, s, vkey); err != nil {
			return nil, 0, err
		}
		start = 0
	}
	if forged != nil {
		// Verified in full instead; the remembered checkpoint was edited.
		r.fail(-1, "the checkpoint remembered as verified is not the log's (%v): it was tampered with", forged)
	}
	if ok && r.OK() && head != "" {
		if c, err := OpenCheckpoint(head, vkey); err == nil && c.Size >= start {
			vs.SetVerified(head)
		}
	}
	return r, start, nil
}
