package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The search index of a TileStore is derived data: a SQLite database
// (DIR/index/) holding, for every entry, the columns searches use (the
// same tables as a SQLStore: entries, checkpoints kept for audits,
// manifests), and behind them the term index and entry counts. It is fed
// from the log — the entry bundles and the commit journal — never by a
// commit: the writer's background pass (Index) mirrors what was
// committed, about a second behind, and a search first brings it up to
// the log's size at the time it was asked (catchUp), so that answers stay
// complete. How far a search waits is the lag: the entries committed since
// the last background pass, copied at some 20 µs each; a search's context
// bounds the wait, and when it expires the search fails saying how far the
// index had read rather than answering from part of the log. Deleting
// DIR/index (or 'signet audit reindex') rebuilds it from the log.

// mirrorChunk is how many entries one index transaction copies.
const mirrorChunk = 5000

// errIndexBehind is returned when a search could not wait for the index.
var errIndexBehind = errors.New("audit: the search index is behind the log")

// catchUp mirrors the log into the index, up to max entries (all when max
// ≤ 0), and reports whether the index reached the log's size.
func (s *TileStore) catchUp(ctx context.Context, max int) (bool, error) {
	s.ixMu.Lock()
	defer s.ixMu.Unlock()
	size, _, jlen := s.headState()
	copied := 0
	for {
		ixSize, off, err := s.ix.mirrorState(ctx)
		if err != nil {
			return false, fmt.Errorf("audit: reading the search index: %w", err)
		}
		if ixSize > size || off > jlen {
			if s.readOnly {
				// The writer indexed what it committed after this
				// reader opened the log; searches stop at the reader's
				// size anyway.
				return true, nil
			}
			if err := s.resetIndex(); err != nil {
				return false, err
			}
			continue
		}
		if off >= jlen {
			return true, nil
		}
		if max > 0 && copied >= max {
			return false, nil
		}
		if err := ctx.Err(); err != nil {
			return false, fmt.Errorf("%w: it has read %d of the log's %d entries (%w)", errIndexBehind, ixSize, size, err)
		}
		n, err := s.mirrorFrom(ctx, ixSize, off, jlen)
		if err != nil {
			return false, fmt.Errorf("audit: indexing the log from entry %d: %w", ixSize, err)
		}
		copied += n
	}
}

// mirrorFrom copies the commits recorded from journal offset off (below
// jlen) into the index, about mirrorChunk entries' worth, and returns how
// many entries it copied.
func (s *TileStore) mirrorFrom(ctx context.Context, from, off, jlen int64) (int, error) {
	f, err := os.Open(s.path("commits"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	j := &journalReader{r: f, off: off, end: jlen}
	m := &mirrorBatch{from: from, size: from, manifests: map[string][]byte{}}
	for m.size-from < mirrorChunk {
		r, _, err := j.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("commit journal: %w", err)
		}
		if r.Size < m.size {
			return 0, fmt.Errorf("commit journal: a record of size %d follows one of %d (the index does not belong to this log; run 'signet audit reindex')", r.Size, m.size)
		}
		m.size, m.last = r.Size, r.Last
		if r.Note != "" {
			m.note = r.Note
			if r.Keep {
				m.checkpoints = append(m.checkpoints, StoredCheckpoint{Size: r.Size, Signed: r.Note, Time: r.Signed})
			}
		}
		for d, b := range r.Manifests {
			m.manifests[d] = b
		}
	}
	m.off = j.off
	// The columns the writer kept, when they reach back to from.
	s.mu.Lock()
	if k := len(s.recent); k > 0 && s.recent[0].Index <= from && s.recent[k-1].Index >= m.size-1 {
		first := s.recent[0].Index
		m.entries = append(m.entries, s.recent[from-first:m.size-first]...)
		// What the index holds is not kept again.
		s.recent = append(s.recent[:0], s.recent[m.size-first:]...)
	} else if len(s.recent) > 0 && (s.recent[0].Index < from || len(s.recent) >= maxRecent) {
		s.recent = nil // out of step (another index pass, a reset): parse
	}
	s.mu.Unlock()
	if m.entries != nil || m.size == from {
		if err := s.ix.mirror(ctx, m); err != nil {
			return 0, err
		}
		return int(m.size - from), nil
	}
	data, err := s.entries(from, m.size)
	if err != nil {
		return 0, err
	}
	for i, b := range data {
		n := from + int64(i)
		e, err := ParseEntry(b)
		if err != nil {
			// Kept without columns: verify names it.
			m.entries = append(m.entries, StoredEntry{Index: n, Data: b})
			continue
		}
		m.entries = append(m.entries, storedEntry(n, e, b))
	}
	if err := s.ix.mirror(ctx, m); err != nil {
		return 0, err
	}
	return len(data), nil
}

// A mirrorBatch is what one index transaction copies from the log.
type mirrorBatch struct {
	from, size  int64 // the index's size before and after
	last        time.Time
	note        string // the latest checkpoint among them, if any
	entries     []StoredEntry
	checkpoints []StoredCheckpoint
	manifests   map[string][]byte
	off         int64 // the journal offset read to
}

// mirrorState returns how many entries the index holds and the offset of
// the commit journal it has read to.
func (s *SQLStore) mirrorState(ctx context.Context) (int64, int64, error) {
	var size int64
	if err := s.r.QueryRowContext(ctx, "SELECT size FROM head WHERE id = 0").Scan(&size); err != nil {
		return 0, 0, err
	}
	var v string
	err := s.r.QueryRowContext(ctx, "SELECT v FROM signet_meta WHERE k = 'journal'").Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return size, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	off, err := strconv.ParseInt(v, 10, 64)
	return size, off, err
}

// mirror writes m in one transaction, unless another process moved the
// index meanwhile (then the caller reads its state again).
func (s *SQLStore) mirror(ctx context.Context, m *mirrorBatch) (err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var size int64
	if err := tx.QueryRowContext(ctx, "SELECT size FROM head WHERE id = 0").Scan(&size); err != nil {
		return err
	}
	if size != m.from {
		return tx.Rollback()
	}
	ins, err := tx.PrepareContext(ctx, s.d.q(insertEntrySQL))
	if err != nil {
		return err
	}
	defer ins.Close()
	for _, e := range m.entries {
		if _, err := ins.ExecContext(ctx, e.Index, e.Data, e.Time.UnixNano(), e.Action, e.Decision, e.Principal, e.Subject, e.Key, e.Version, e.Artifact,
			strings.Join(e.Digests, "\n")); err != nil {
			return fmt.Errorf("indexing entry %d: %w", e.Index, err)
		}
	}
	for _, c := range m.checkpoints {
		if _, err := tx.ExecContext(ctx, s.d.q("INSERT INTO checkpoints (size, note, time) VALUES (?,?,?) ON CONFLICT DO NOTHING"), c.Size, c.Signed, c.Time.UnixNano()); err != nil {
			return err
		}
	}
	for d, b := range m.manifests {
		if _, err := tx.ExecContext(ctx, s.d.q("INSERT INTO manifests (digest, data) VALUES (?,?) ON CONFLICT DO NOTHING"), d, b); err != nil {
			return err
		}
	}
	if m.note != "" {
		_, err = tx.ExecContext(ctx, s.d.q(setHeadSQL), m.size, m.last.UnixNano(), m.note)
	} else {
		_, err = tx.ExecContext(ctx, s.d.q(setHeadSizeSQL), m.size, m.last.UnixNano())
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.d.q("INSERT INTO signet_meta (k, v) VALUES ('journal', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v"),
		strconv.FormatInt(m.off, 10)); err != nil {
		return err
	}
	return tx.Commit()
}

// resetIndex deletes the index and opens an empty one. The caller holds
// ixMu.
func (s *TileStore) resetIndex() error {
	if s.ix != nil {
		s.ix.Close()
	}
	dir := filepath.Join(s.dir, "index")
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("audit: removing the search index: %w", err)
	}
	ix, err := openSQLite(filepath.Join(dir, "search.db"), "NORMAL")
	if err != nil {
		return err
	}
	s.ix = ix
	return nil
}

// Reindex rebuilds the search index from the log: its entries' columns,
// checkpoints and manifests, then its term index and entry counts.
func (s *TileStore) Reindex(ctx context.Context) error {
	if s.readOnly {
		return errors.New("audit: the log was opened read-only")
	}
	s.ixMu.Lock()
	err := s.resetIndex()
	s.ixMu.Unlock()
	if err != nil {
		return err
	}
	for {
		caughtUp, err := s.Index(ctx, mirrorChunk)
		if err != nil || caughtUp {
			return err
		}
	}
}

// Index mirrors up to max entries of the log into the search index and
// brings its term index and counts up to date by as many.
func (s *TileStore) Index(ctx context.Context, max int) (bool, error) {
	if !s.readOnly {
		s.writeCheckpointFile()
	}
	mirrored, err := s.catchUp(ctx, max)
	if err != nil {
		return false, err
	}
	indexed, err := s.ix.Index(ctx, max)
	return mirrored && indexed, err
}

// upToDate brings the index to the log's size before a search.
func (s *TileStore) upToDate(ctx context.Context) error {
	_, err := s.catchUp(ctx, 0)
	return err
}

func (s *TileStore) Search(ctx context.Context, q Query) ([]int64, error) {
	if err := s.upToDate(ctx); err != nil {
		return nil, err
	}
	return s.ix.Search(ctx, q)
}

func (s *TileStore) Manifest(ctx context.Context, digest string) ([]byte, error) {
	if err := s.upToDate(ctx); err != nil {
		return nil, err
	}
	return s.ix.Manifest(ctx, digest)
}

func (s *TileStore) Counts(ctx context.Context, q CountQuery) ([]Count, error) {
	if err := s.upToDate(ctx); err != nil {
		return nil, err
	}
	return s.ix.Counts(ctx, q)
}

func (s *TileStore) LatestRefusals(ctx context.Context, since, until time.Time, before int64, limit int) ([]int64, error) {
	if err := s.upToDate(ctx); err != nil {
		return nil, err
	}
	return s.ix.LatestRefusals(ctx, since, until, before, limit)
}

// Checkpoints returns the checkpoints kept for audits, from the index
// brought up to date.
func (s *TileStore) Checkpoints(ctx context.Context, after int64, limit int) ([]StoredCheckpoint, error) {
	if err := s.upToDate(ctx); err != nil {
		return nil, err
	}
	size, _, _ := s.headState()
	cps, err := s.ix.Checkpoints(ctx, after, limit)
	// A reader opened earlier than the index moved sees its own size.
	for i, c := range cps {
		if c.Size > size {
			return cps[:i], err
		}
	}
	return cps, err
}

// Fields returns the search columns of entries [start, end) as the index
// holds them, for verification.
func (s *TileStore) Fields(ctx context.Context, start, end int64) ([]StoredEntry, error) {
	if err := s.upToDate(ctx); err != nil {
		return nil, err
	}
	return s.ix.Fields(ctx, start, end)
}

func (s *TileStore) storedCounts(ctx context.Context) (counts, int64, error) {
	if err := s.upToDate(ctx); err != nil {
		return nil, 0, err
	}
	return s.ix.storedCounts(ctx)
}
