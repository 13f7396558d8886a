package audit

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// SQLStore is the Store over a SQL database: SQLite (OpenSQLite) or
// PostgreSQL (OpenPostgres). The two differ only in their dialect.
//
// Tables:
//
//	head        one row: the log's size and latest signed checkpoint
//	entries     idx, the entry bytes, and the columns searches use (among
//	            them the entry's digests, newline-separated)
//	hash_runs   (first, hashes): the tree hashes one commit stored, which
//	            are consecutive stored-hash indexes in tlog's layout, as
//	            one blob of 32-byte hashes starting at index first
//	checkpoints signed checkpoints kept for audits
//	manifests   content manifests, by digest
//
// A commit only appends, to these three tables, and the entries table has
// no secondary index: every index page a commit dirties is a page it must
// write and fsync. A random B-tree insert (a digest) costs a page per
// entry, and even append-only indexes cost a page each per commit; with
// seven of them commits wrote three times the pages. So every index lives
// behind the log (see termIndex): entries by key, version, principal,
// subject, decision, action and digest, built in sorted chunks by Index,
// and a search combines it with a scan of the entries it has not reached:
// complete either way. Entry times never decrease along the log (the Log
// sees to it), so a time range is found by bisection, without an index.
type SQLStore struct {
	w, r *sql.DB // writer (one connection for SQLite) and readers
	d    dialect

	// Statements of every commit, prepared once on w where the dialect
	// prepares; nil otherwise.
	getHead, insEntry, insRun, setHead, setHeadSize, insCheckpoint *sql.Stmt

	ix      *termIndex
	closeFn func()
}

// dialect is what differs between databases.
type dialect struct {
	name     string
	ph       func(n int) string // the nth placeholder
	lockHead string             // selects head.size, locking it against other writers
	prepare  bool               // prepare the hot statements once (SQLite); PostgreSQL's driver caches them
}

const sqlSchema = `
CREATE TABLE IF NOT EXISTS head (
	id INTEGER PRIMARY KEY CHECK (id = 0),
	size BIGINT NOT NULL,
	checkpoint TEXT NOT NULL,
	last_time BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
	idx BIGINT PRIMARY KEY,
	data BLOB NOT NULL,
	time BIGINT NOT NULL,
	action TEXT NOT NULL,
	decision TEXT NOT NULL,
	principal TEXT NOT NULL,
	subject TEXT NOT NULL,
	key TEXT NOT NULL,
	version INTEGER NOT NULL,
	artifact TEXT NOT NULL,
	digests TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS hash_runs (first BIGINT PRIMARY KEY, hashes BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL, time BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS manifests (digest TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS signet_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
INSERT INTO head (id, size, checkpoint, last_time) VALUES (0, 0, '', 0) ON CONFLICT DO NOTHING;
`

// schema returns the schema in d's types.
func (d dialect) schema() string {
	if d.name == "postgres" {
		return strings.ReplaceAll(sqlSchema, "BLOB", "BYTEA")
	}
	// In SQLite only INTEGER PRIMARY KEY is the row id itself.
	return strings.ReplaceAll(sqlSchema, "BIGINT PRIMARY KEY", "INTEGER PRIMARY KEY")
}

// q rewrites the ? placeholders of query for d.
func (d dialect) q(query string) string {
	if d.name == "sqlite" {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString(d.ph(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// newSQLStore prepares the hot statements.
func newSQLStore(w, r *sql.DB, d dialect) (*SQLStore, error) {
	s := &SQLStore{w: w, r: r, d: d}
	if d.prepare {
		for _, p := range []struct {
			to    **sql.Stmt
			query string
		}{
			{&s.getHead, d.lockHead}, {&s.insEntry, insertEntrySQL}, {&s.insRun, insertRunSQL},
			{&s.setHead, setHeadSQL}, {&s.setHeadSize, setHeadSizeSQL}, {&s.insCheckpoint, insertCheckpointSQL},
		} {
			st, err := w.Prepare(d.q(p.query))
			if err != nil {
				return nil, err
			}
			*p.to = st
		}
	}
	return s, nil
}

const (
	insertEntrySQL      = "INSERT INTO entries (idx, data, time, action, decision, principal, subject, key, version, artifact, digests) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
	insertRunSQL        = "INSERT INTO hash_runs (first, hashes) VALUES (?,?)"
	setHeadSQL          = "UPDATE head SET size = ?, last_time = ?, checkpoint = ? WHERE id = 0"
	setHeadSizeSQL      = "UPDATE head SET size = ?, last_time = ? WHERE id = 0"
	insertCheckpointSQL = "INSERT INTO checkpoints (size, note, time) VALUES (?,?,?)"
)

func (s *SQLStore) Close() error {
	if s.closeFn != nil {
		s.closeFn()
	}
	for _, st := range []*sql.Stmt{s.getHead, s.insEntry, s.insRun, s.setHead, s.setHeadSize, s.insCheckpoint} {
		if st != nil {
			st.Close()
		}
	}
	var errs []error
	if s.ix.w != s.w {
		errs = append(errs, s.ix.w.Close(), s.ix.r.Close())
	}
	if s.r != s.w {
		errs = append(errs, s.r.Close())
	}
	return errors.Join(append(errs, s.w.Close())...)
}

func (s *SQLStore) Append(ctx context.Context, build func(int64, time.Time, tlog.HashReader) (*Batch, error)) (err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var size, last int64
	row := func() *sql.Row { return tx.QueryRowContext(ctx, s.d.lockHead) }
	if s.getHead != nil {
		row = func() *sql.Row { return tx.StmtContext(ctx, s.getHead).QueryRowContext(ctx) }
	}
	if err := row().Scan(&size, &last); err != nil {
		return err
	}
	b, err := build(size, time.Unix(0, last).UTC(), &hashReader{ctx: ctx, q: tx, d: s.d})
	if err != nil {
		return err
	}
	if err := s.insert(ctx, tx, b); err != nil {
		return err
	}
	return tx.Commit()
}

type execer interface {
	ExecContext(ctx context.Context, args ...any) (sql.Result, error)
}

// stmt returns a prepared statement bound to tx, or one that runs query.
func (s *SQLStore) stmt(ctx context.Context, tx *sql.Tx, prepared *sql.Stmt, query string) execer {
	if prepared != nil {
		return tx.StmtContext(ctx, prepared)
	}
	return txExec{tx, s.d.q(query)}
}

type txExec struct {
	tx    *sql.Tx
	query string
}

func (t txExec) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.query, args...)
}

// insert writes batch b in tx.
func (s *SQLStore) insert(ctx context.Context, tx *sql.Tx, b *Batch) error {
	insEntry := s.stmt(ctx, tx, s.insEntry, insertEntrySQL)
	for _, e := range b.Entries {
		if _, err := insEntry.ExecContext(ctx, e.Index, e.Data, e.Time.UnixNano(), e.Action, e.Decision, e.Principal, e.Subject, e.Key, e.Version, e.Artifact,
			strings.Join(e.Digests, "\n")); err != nil {
			return fmt.Errorf("storing entry %d: %w", e.Index, err)
		}
	}
	if len(b.Hashes) > 0 {
		run := make([]byte, 0, len(b.Hashes)*tlog.HashSize)
		for i, h := range b.Hashes {
			if h.Index != b.Hashes[0].Index+int64(i) {
				return fmt.Errorf("audit: tree hashes of one commit are not consecutive (%d after %d)", h.Index, b.Hashes[0].Index)
			}
			run = append(run, h.Hash[:]...)
		}
		if _, err := s.stmt(ctx, tx, s.insRun, insertRunSQL).ExecContext(ctx, b.Hashes[0].Index, run); err != nil {
			return fmt.Errorf("storing tree hashes: %w", err)
		}
	}
	for d, m := range b.Manifests {
		if _, err := tx.ExecContext(ctx, s.d.q("INSERT INTO manifests (digest, data) VALUES (?,?) ON CONFLICT DO NOTHING"), d, m); err != nil {
			return err
		}
	}
	last := b.LastTime.UnixNano()
	if c := b.Checkpoint; c != nil {
		if _, err := s.stmt(ctx, tx, s.setHead, setHeadSQL).ExecContext(ctx, b.Size, last, c.Signed); err != nil {
			return err
		}
		if b.KeepCheckpoint {
			if _, err := s.stmt(ctx, tx, s.insCheckpoint, insertCheckpointSQL).ExecContext(ctx, c.Size, c.Signed, c.Time.UnixNano()); err != nil {
				return err
			}
		}
	} else if _, err := s.stmt(ctx, tx, s.setHeadSize, setHeadSizeSQL).ExecContext(ctx, b.Size, last); err != nil {
		return err
	}
	return nil
}

// hashReader reads stored tree hashes from the hash runs.
type hashReader struct {
	ctx context.Context
	q   interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}
	d dialect
}

type hashRun struct {
	first  int64
	hashes []byte
}

func (r hashRun) covers(i int64) bool {
	return i >= r.first && i < r.first+int64(len(r.hashes)/tlog.HashSize)
}

func (h *hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	sorted := slices.Clone(indexes)
	slices.Sort(sorted)
	lo, hi := sorted[0], sorted[len(sorted)-1]
	var runs []hashRun
	var err error
	if hi-lo <= 4*int64(len(sorted))+64 {
		// Dense, as when verifying: every run from the one holding lo.
		runs, err = h.query("SELECT first, hashes FROM hash_runs WHERE first >= COALESCE((SELECT MAX(first) FROM hash_runs WHERE first <= ?), 0) AND first <= ? ORDER BY first", lo, hi)
	} else {
		// Sparse, as for a proof: the run holding each index.
		for _, i := range sorted {
			if len(runs) > 0 && runs[len(runs)-1].covers(i) {
				continue
			}
			rs, err := h.query("SELECT first, hashes FROM hash_runs WHERE first <= ? ORDER BY first DESC LIMIT 1", i)
			if err != nil {
				return nil, err
			}
			runs = append(runs, rs...)
		}
	}
	if err != nil {
		return nil, err
	}
	out := make([]tlog.Hash, len(indexes))
	for k, i := range indexes {
		// The runs are in increasing order of first: the run holding i
		// is the last one starting at or before it.
		j, found := slices.BinarySearchFunc(runs, i, func(r hashRun, i int64) int { return cmp.Compare(r.first, i) })
		if !found {
			j--
		}
		if j < 0 || !runs[j].covers(i) {
			level, n := tlog.SplitStoredHashIndex(i)
			return nil, fmt.Errorf("audit: tree hash %d (level %d, node %d) is not stored", i, level, n)
		}
		off := (i - runs[j].first) * tlog.HashSize
		copy(out[k][:], runs[j].hashes[off:])
	}
	return out, nil
}

func (h *hashReader) query(q string, args ...any) ([]hashRun, error) {
	rows, err := h.q.QueryContext(h.ctx, h.d.q(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var runs []hashRun
	for rows.Next() {
		var r hashRun
		if err := rows.Scan(&r.first, &r.hashes); err != nil {
			return nil, err
		}
		if len(r.hashes)%tlog.HashSize != 0 {
			return nil, fmt.Errorf("audit: stored tree hashes from %d are %d bytes, not a multiple of %d", r.first, len(r.hashes), tlog.HashSize)
		}
		runs = append(runs, r)
	}
	return runs, rows.Err()
}

func (s *SQLStore) Head(ctx context.Context) (string, int64, error) {
	var note string
	var size int64
	err := s.r.QueryRowContext(ctx, "SELECT checkpoint, size FROM head WHERE id = 0").Scan(&note, &size)
	return note, size, err
}

func (s *SQLStore) Hashes(ctx context.Context) tlog.HashReader {
	return &hashReader{ctx: ctx, q: s.r, d: s.d}
}

func (s *SQLStore) Entries(ctx context.Context, start, end int64) ([][]byte, error) {
	rows, err := s.r.QueryContext(ctx, s.d.q("SELECT idx, data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx"), start, end)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([][]byte, 0, max(0, min(end-start, 1<<16)))
	for next := start; rows.Next(); next++ {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return out, err
		}
		if idx != next {
			return out, fmt.Errorf("audit: entry %d is missing (found %d next)", next, idx)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Fields returns the search columns of entries [start, end), with the
// terms the index behind the log holds for those of them it has reached.
func (s *SQLStore) Fields(ctx context.Context, start, end int64) ([]StoredEntry, error) {
	out, err := s.fields(ctx, "idx >= ? AND idx < ?", start, end)
	if err != nil {
		return nil, err
	}
	indexed, err := s.ix.indexed(ctx)
	if err != nil {
		return nil, err
	}
	in, err := s.ix.termsIn(ctx, start, min(end, indexed))
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Index < indexed {
			out[i].Indexed = append([]string{}, in[out[i].Index]...)
		}
	}
	return out, nil
}

// fields reads the search columns of the entries where cond holds, in
// index order.
func (s *SQLStore) fields(ctx context.Context, cond string, args ...any) ([]StoredEntry, error) {
	rows, err := s.r.QueryContext(ctx, s.d.q("SELECT idx, time, action, decision, principal, subject, key, version, artifact, digests FROM entries WHERE "+cond+" ORDER BY idx"), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredEntry
	for rows.Next() {
		var e StoredEntry
		var t int64
		var digests string
		if err := rows.Scan(&e.Index, &t, &e.Action, &e.Decision, &e.Principal, &e.Subject, &e.Key, &e.Version, &e.Artifact, &digests); err != nil {
			return nil, err
		}
		e.Time = time.Unix(0, t).UTC()
		e.Digests = splitDigests(digests)
		out = append(out, e)
	}
	return out, rows.Err()
}

func splitDigests(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func (s *SQLStore) Checkpoints(ctx context.Context, after int64, limit int) ([]StoredCheckpoint, error) {
	rows, err := s.r.QueryContext(ctx, s.d.q("SELECT size, note, time FROM checkpoints WHERE size > ? ORDER BY size LIMIT ?"), after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredCheckpoint
	for rows.Next() {
		var c StoredCheckpoint
		var t int64
		if err := rows.Scan(&c.Size, &c.Signed, &t); err != nil {
			return nil, err
		}
		c.Time = time.Unix(0, t).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *SQLStore) Search(ctx context.Context, q Query) ([]int64, error) {
	lo, hi, err := s.window(ctx, q.Since, q.Until, q.After+1, q.Before)
	if err != nil || lo >= hi {
		return nil, err
	}
	var out []int64
	if terms := driverTerms(q); terms != nil {
		mark, err := s.ix.indexed(ctx)
		if err != nil {
			return nil, err
		}
		// Below the mark, candidates come from the index a page at a
		// time; the entries' columns decide.
		for lo < min(hi, mark) && len(out) < q.Limit {
			cands, err := s.ix.postings(ctx, terms, lo, min(hi, mark), q.Limit, false)
			if err != nil {
				return nil, err
			}
			if len(cands) == 0 {
				lo = min(hi, mark)
				break
			}
			got, err := s.filter(ctx, q, "idx IN (?"+strings.Repeat(",?", len(cands)-1)+")", anys(cands)...)
			if err != nil {
				return nil, err
			}
			out = append(out, got[:min(len(got), q.Limit-len(out))]...)
			lo = cands[len(cands)-1] + 1
		}
		lo = max(lo, min(hi, mark))
	}
	// Above the mark, or with no term to look up: the entries themselves,
	// a range of their primary key.
	for lo < hi && len(out) < q.Limit {
		end := min(hi, lo+4096)
		got, err := s.filter(ctx, q, "idx >= ? AND idx < ?", lo, end)
		if err != nil {
			return nil, err
		}
		out = append(out, got[:min(len(got), q.Limit-len(out))]...)
		lo = end
	}
	return out, nil
}

// driverTerms are the terms whose postings hold every entry q can match,
// the most selective first choice: nil if q names none.
func driverTerms(q Query) []string {
	switch {
	case q.Digest != "":
		return []string{"digest:" + q.Digest}
	case q.Principal != "":
		return []string{"principal:" + q.Principal, "subject:" + q.Principal}
	case q.Key != "" && q.Version != 0:
		return []string{"version:" + q.Key + "@" + strconv.Itoa(q.Version)}
	case q.Key != "":
		return []string{"key:" + q.Key}
	case q.Decision != "" && q.Decision != string(Allowed):
		return []string{"decision:" + q.Decision}
	case q.Action != "" && q.Action != string(ActionSign):
		return []string{"action:" + q.Action}
	}
	return nil
}

// filter returns, in index order, the indexes of the entries where cond
// holds that match q's fields (its window aside).
func (s *SQLStore) filter(ctx context.Context, q Query, cond string, args ...any) ([]int64, error) {
	es, err := s.fields(ctx, cond, args...)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range es {
		if q.matches(&e) {
			out = append(out, e.Index)
		}
	}
	return out, nil
}

// matches reports whether e matches q's fields (its window and name aside).
func (q Query) matches(e *StoredEntry) bool {
	return (q.Key == "" || e.Key == q.Key) && (q.Version == 0 || e.Version == q.Version) &&
		(q.Principal == "" || e.Principal == q.Principal || e.Subject == q.Principal) &&
		(q.Action == "" || e.Action == q.Action) && (q.Decision == "" || e.Decision == q.Decision) &&
		(q.Digest == "" || slices.Contains(e.Digests, q.Digest)) &&
		(q.Since.IsZero() || !e.Time.Before(q.Since)) && (q.Until.IsZero() || e.Time.Before(q.Until))
}

// window narrows the index range [lo, hi) to the entries of the time range
// [since, until) (zero: unbounded), by bisection: entry times never
// decrease along the log.
func (s *SQLStore) window(ctx context.Context, since, until time.Time, lo, hi int64) (int64, int64, error) {
	var err error
	if !since.IsZero() {
		if lo, err = s.firstAt(ctx, since, lo, hi); err != nil {
			return 0, 0, err
		}
	}
	if !until.IsZero() {
		if hi, err = s.firstAt(ctx, until, lo, hi); err != nil {
			return 0, 0, err
		}
	}
	return lo, hi, nil
}

// firstAt returns the first index in [lo, hi) whose entry's time is t or
// later, or hi.
func (s *SQLStore) firstAt(ctx context.Context, t time.Time, lo, hi int64) (int64, error) {
	var err error
	i := sort.Search(int(hi-lo), func(k int) bool {
		if err != nil {
			return true
		}
		var at int64
		err = s.r.QueryRowContext(ctx, s.d.q("SELECT time FROM entries WHERE idx = ?"), lo+int64(k)).Scan(&at)
		return at >= t.UnixNano()
	})
	if err != nil {
		return 0, fmt.Errorf("audit: finding the entries of %s: %w", t.Format(time.RFC3339), err)
	}
	return lo + int64(i), nil
}

func anys(xs []int64) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func queryIndexes(ctx context.Context, db *sql.DB, query string, args ...any) ([]int64, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var idx int64
		if err := rows.Scan(&idx); err != nil {
			return nil, err
		}
		out = append(out, idx)
	}
	return out, rows.Err()
}

// Index brings what is kept behind the log — the index of entries by term
// and the entry counts — up to date by up to max entries each, and
// reports whether both caught up.
func (s *SQLStore) Index(ctx context.Context, max int) (bool, error) {
	indexed, err := s.ix.index(ctx, s, max)
	if err != nil {
		return false, err
	}
	counted, err := s.ix.count(ctx, s, max)
	if err != nil {
		return false, fmt.Errorf("counting entries: %w", err)
	}
	return indexed && counted, nil
}

func (s *SQLStore) Manifest(ctx context.Context, digest string) ([]byte, error) {
	var b []byte
	err := s.r.QueryRowContext(ctx, s.d.q("SELECT data FROM manifests WHERE digest = ?"), digest).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return b, err
}

func (s *SQLStore) Ping(ctx context.Context) error {
	_, err := s.w.ExecContext(ctx, s.d.q("INSERT INTO signet_meta (k, v) VALUES ('ping', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v"),
		time.Now().UTC().Format(time.RFC3339Nano))
	return err
}
