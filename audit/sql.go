package audit

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
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
// Every commit only appends: its rows go at the end of each table and
// index. The index of entries by digest is the exception — digests are
// random, and a B-tree insert at a random place dirties a page that the
// commit must write and fsync, two per entry, which cut throughput eightfold
// in measurements. So digests are indexed behind the log, in sorted chunks,
// by IndexDigests (see digestIndex), and a search by digest combines that
// index with a scan of the entries not indexed yet: complete either way.
type SQLStore struct {
	w, r *sql.DB // writer (one connection for SQLite) and readers
	d    dialect

	// Statements of every commit, prepared once on w where the dialect
	// prepares; nil otherwise.
	getHead, insEntry, insRun, setHead, setHeadSize, insCheckpoint *sql.Stmt

	ix      *digestIndex
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
	checkpoint TEXT NOT NULL
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
CREATE INDEX IF NOT EXISTS entries_time ON entries (time);
CREATE INDEX IF NOT EXISTS entries_key ON entries (key, time);
CREATE INDEX IF NOT EXISTS entries_key_idx ON entries (key, idx);
CREATE INDEX IF NOT EXISTS entries_key_version_idx ON entries (key, version, idx);
CREATE INDEX IF NOT EXISTS entries_principal ON entries (principal, time);
CREATE INDEX IF NOT EXISTS entries_subject ON entries (subject, time);
CREATE INDEX IF NOT EXISTS entries_decision ON entries (decision, time);
CREATE TABLE IF NOT EXISTS hash_runs (first BIGINT PRIMARY KEY, hashes BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL, time BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS manifests (digest TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS signet_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
INSERT INTO head (id, size, checkpoint) VALUES (0, 0, '') ON CONFLICT DO NOTHING;
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
	setHeadSQL          = "UPDATE head SET size = ?, checkpoint = ? WHERE id = 0"
	setHeadSizeSQL      = "UPDATE head SET size = ? WHERE id = 0"
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

func (s *SQLStore) Append(ctx context.Context, build func(int64, tlog.HashReader) (*Batch, error)) (err error) {
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
	row := func() *sql.Row { return tx.QueryRowContext(ctx, s.d.lockHead) }
	if s.getHead != nil {
		row = func() *sql.Row { return tx.StmtContext(ctx, s.getHead).QueryRowContext(ctx) }
	}
	if err := row().Scan(&size); err != nil {
		return err
	}
	b, err := build(size, &hashReader{ctx: ctx, q: tx, d: s.d})
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
	if c := b.Checkpoint; c != nil {
		if _, err := s.stmt(ctx, tx, s.setHead, setHeadSQL).ExecContext(ctx, b.Size, c.Signed); err != nil {
			return err
		}
		if b.KeepCheckpoint {
			if _, err := s.stmt(ctx, tx, s.insCheckpoint, insertCheckpointSQL).ExecContext(ctx, c.Size, c.Signed, c.Time.UnixNano()); err != nil {
				return err
			}
		}
	} else if _, err := s.stmt(ctx, tx, s.setHeadSize, setHeadSizeSQL).ExecContext(ctx, b.Size); err != nil {
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
// digests the digest index holds for those of them it has indexed.
func (s *SQLStore) Fields(ctx context.Context, start, end int64) ([]StoredEntry, error) {
	rows, err := s.r.QueryContext(ctx, s.d.q("SELECT idx, time, action, decision, principal, subject, key, version, artifact, digests FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx"), start, end)
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
	if err := rows.Err(); err != nil {
		return nil, err
	}
	indexed, err := s.ix.indexed(ctx)
	if err != nil {
		return nil, err
	}
	in, err := s.ix.digestsOf(ctx, start, min(end, indexed))
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
	if q.Digest == "" {
		return s.search(ctx, q, nil)
	}
	// By digest: take candidates from the digest index and the tail it
	// has not reached, a page at a time, and filter them by the rest.
	var out []int64
	for len(out) < q.Limit {
		cands, err := s.digestCandidates(ctx, q.Digest, q.After, q.Before, q.Limit)
		if err != nil || len(cands) == 0 {
			return out, err
		}
		got, err := s.search(ctx, Query{Key: q.Key, Version: q.Version, Principal: q.Principal, Action: q.Action, Decision: q.Decision,
			Since: q.Since, Until: q.Until, After: q.After, Before: q.Before, Limit: q.Limit - len(out)}, cands)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
		q.After = cands[len(cands)-1]
	}
	return out, nil
}

// search selects entries by their columns, among only if not nil.
func (s *SQLStore) search(ctx context.Context, q Query, only []int64) ([]int64, error) {
	var where []string
	var args []any
	add := func(cond string, v ...any) {
		where = append(where, cond)
		args = append(args, v...)
	}
	if only != nil {
		add("e.idx IN (?"+strings.Repeat(",?", len(only)-1)+")", anys(only)...)
	}
	if q.Key != "" {
		add("e.key = ?", q.Key)
	}
	if q.Version != 0 {
		add("e.version = ?", q.Version)
	}
	if q.Principal != "" {
		add("(e.principal = ? OR e.subject = ?)", q.Principal, q.Principal)
	}
	if q.Action != "" {
		add("e.action = ?", q.Action)
	}
	if q.Decision != "" {
		add("e.decision = ?", q.Decision)
	}
	if !q.Since.IsZero() {
		add("e.time >= ?", q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		add("e.time < ?", q.Until.UnixNano())
	}
	add("e.idx > ?", q.After)
	add("e.idx < ?", q.Before)
	query := "SELECT e.idx FROM entries e WHERE " + strings.Join(where, " AND ") + " ORDER BY e.idx LIMIT " + strconv.Itoa(q.Limit)
	return queryIndexes(ctx, s.r, s.d.q(query), args...)
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

// digestCandidates returns up to limit indexes in (after, before) of
// entries naming digest d: from the digest index below its mark, and from
// the entries themselves above it.
func (s *SQLStore) digestCandidates(ctx context.Context, d string, after, before int64, limit int) ([]int64, error) {
	indexed, err := s.ix.indexed(ctx)
	if err != nil {
		return nil, err
	}
	out, err := queryIndexes(ctx, s.ix.r, s.ix.d.q("SELECT idx FROM digest_index WHERE digest = ? AND idx > ? AND idx < ? ORDER BY idx LIMIT ?"),
		d, after, min(before, indexed), limit)
	if err != nil || len(out) == limit {
		return out, err
	}
	// The tail: LIKE narrows, the exact comparison decides.
	rows, err := s.r.QueryContext(ctx, s.d.q("SELECT idx, digests FROM entries WHERE idx >= ? AND idx > ? AND idx < ? AND digests LIKE ? ORDER BY idx"),
		indexed, after, before, "%"+d+"%")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() && len(out) < limit {
		var idx int64
		var ds string
		if err := rows.Scan(&idx, &ds); err != nil {
			return nil, err
		}
		if slices.Contains(splitDigests(ds), d) {
			out = append(out, idx)
		}
	}
	return out, rows.Err()
}

// IndexDigests indexes the digests of up to max entries the digest index
// has not reached, counts up to max entries not counted yet (see Counts),
// and reports whether both have caught up with the log.
func (s *SQLStore) IndexDigests(ctx context.Context, max int) (bool, error) {
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
