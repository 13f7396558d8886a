package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// SQLite is the embedded Store: one file in the data directory, in WAL
// mode with synchronous=FULL, so that a commit is on disk when it returns.
// One process writes it; `signet audit verify --data` may read it at the
// same time.
type SQLite struct {
	w *sql.DB // the one writer connection
	r *sql.DB // readers
}

const sqliteSchema = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS head (
	id INTEGER PRIMARY KEY CHECK (id = 0),
	size INTEGER NOT NULL,
	checkpoint TEXT NOT NULL
);
INSERT OR IGNORE INTO head (id, size, checkpoint) VALUES (0, 0, '');
CREATE TABLE IF NOT EXISTS entries (
	idx INTEGER PRIMARY KEY,
	data BLOB NOT NULL,
	time INTEGER NOT NULL,
	action TEXT NOT NULL,
	decision TEXT NOT NULL,
	principal TEXT NOT NULL,
	subject TEXT NOT NULL,
	key TEXT NOT NULL,
	version INTEGER NOT NULL,
	artifact TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_time ON entries (time);
CREATE INDEX IF NOT EXISTS entries_key ON entries (key, time);
CREATE INDEX IF NOT EXISTS entries_principal ON entries (principal, time);
CREATE INDEX IF NOT EXISTS entries_subject ON entries (subject, time);
CREATE TABLE IF NOT EXISTS digests (digest TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (digest, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hashes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL, time INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS manifests (digest TEXT PRIMARY KEY, data BLOB NOT NULL);
`

// OpenSQLite opens (creating if needed) the log database at path.
func OpenSQLite(path string) (*SQLite, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	dsn := func(extra string) string {
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" + extra
	}
	w, err := sql.Open("sqlite", dsn("&_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("audit: opening %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if _, err := w.Exec(sqliteSchema); err != nil {
		w.Close()
		return nil, fmt.Errorf("audit: preparing %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn("&_pragma=query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("audit: opening %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	return &SQLite{w: w, r: r}, nil
}

func (s *SQLite) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// hashReader reads stored hashes through q, in one query per call.
type hashReader struct {
	ctx context.Context
	q   interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}
	sql func(n int) string // query selecting (id, hash) for n ids
}

func (h hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	args := make([]any, len(indexes))
	for i, x := range indexes {
		args[i] = x
	}
	rows, err := h.q.QueryContext(h.ctx, h.sql(len(indexes)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := make(map[int64]tlog.Hash, len(indexes))
	for rows.Next() {
		var id int64
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			return nil, err
		}
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("audit: stored hash %d is %d bytes", id, len(b))
		}
		got[id] = tlog.Hash(b)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := got[x]
		if !ok {
			return nil, fmt.Errorf("audit: stored hash %d is missing", x)
		}
		out[i] = h
	}
	return out, nil
}

func sqliteHashQuery(n int) string {
	return "SELECT id, hash FROM hashes WHERE id IN (?" + strings.Repeat(",?", n-1) + ")"
}

func (s *SQLite) Append(ctx context.Context, build func(int64, tlog.HashReader) (*Batch, error)) (err error) {
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock, now
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
	b, err := build(size, hashReader{ctx, tx, sqliteHashQuery})
	if err != nil {
		return err
	}
	if err := insertBatch(ctx, tx, b, "?"); err != nil {
		return err
	}
	return tx.Commit()
}

// insertBatch writes b with placeholders written as ph(1), ph(2)…: "?" for
// SQLite, "$" for PostgreSQL.
func insertBatch(ctx context.Context, tx *sql.Tx, b *Batch, ph string) error {
	p := func(n int) string {
		if ph == "?" {
			return "?"
		}
		return "$" + strconv.Itoa(n)
	}
	insEntry, err := tx.PrepareContext(ctx, "INSERT INTO entries (idx, data, time, action, decision, principal, subject, key, version, artifact) VALUES ("+
		p(1)+","+p(2)+","+p(3)+","+p(4)+","+p(5)+","+p(6)+","+p(7)+","+p(8)+","+p(9)+","+p(10)+")")
	if err != nil {
		return err
	}
	defer insEntry.Close()
	insDigest, err := tx.PrepareContext(ctx, "INSERT INTO digests (digest, idx) VALUES ("+p(1)+","+p(2)+") ON CONFLICT DO NOTHING")
	if err != nil {
		return err
	}
	defer insDigest.Close()
	insHash, err := tx.PrepareContext(ctx, "INSERT INTO hashes (id, hash) VALUES ("+p(1)+","+p(2)+")")
	if err != nil {
		return err
	}
	defer insHash.Close()
	for _, e := range b.Entries {
		if _, err := insEntry.ExecContext(ctx, e.Index, e.Data, e.Time.UnixNano(), e.Action, e.Decision, e.Principal, e.Subject, e.Key, e.Version, e.Artifact); err != nil {
			return fmt.Errorf("storing entry %d: %w", e.Index, err)
		}
		for _, d := range e.Digests {
			if _, err := insDigest.ExecContext(ctx, d, e.Index); err != nil {
				return err
			}
		}
	}
	for _, h := range b.Hashes {
		if _, err := insHash.ExecContext(ctx, h.Index, h.Hash[:]); err != nil {
			return fmt.Errorf("storing tree hash %d: %w", h.Index, err)
		}
	}
	for d, m := range b.Manifests {
		if _, err := tx.ExecContext(ctx, "INSERT INTO manifests (digest, data) VALUES ("+p(1)+","+p(2)+") ON CONFLICT DO NOTHING", d, m); err != nil {
			return err
		}
	}
	if c := b.Checkpoint; c != nil {
		if _, err := tx.ExecContext(ctx, "UPDATE head SET size = "+p(1)+", checkpoint = "+p(2)+" WHERE id = 0", b.Size, c.Signed); err != nil {
			return err
		}
		if b.KeepCheckpoint {
			if _, err := tx.ExecContext(ctx, "INSERT INTO checkpoints (size, note, time) VALUES ("+p(1)+","+p(2)+","+p(3)+")", c.Size, c.Signed, c.Time.UnixNano()); err != nil {
				return err
			}
		}
	} else if _, err := tx.ExecContext(ctx, "UPDATE head SET size = "+p(1)+" WHERE id = 0", b.Size); err != nil {
		return err
	}
	return nil
}

func (s *SQLite) Head(ctx context.Context) (string, int64, error) {
	var note string
	var size int64
	err := s.r.QueryRowContext(ctx, "SELECT checkpoint, size FROM head WHERE id = 0").Scan(&note, &size)
	return note, size, err
}

func (s *SQLite) Hashes(ctx context.Context) tlog.HashReader {
	return hashReader{ctx, s.r, sqliteHashQuery}
}

func (s *SQLite) Entries(ctx context.Context, start, end int64) ([][]byte, error) {
	return queryEntries(ctx, s.r, "SELECT idx, data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx", start, end)
}

func queryEntries(ctx context.Context, db *sql.DB, q string, start, end int64) ([][]byte, error) {
	rows, err := db.QueryContext(ctx, q, start, end)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([][]byte, 0, end-start)
	for next := start; rows.Next(); next++ {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return nil, err
		}
		if idx != next {
			return out, fmt.Errorf("audit: entry %d is missing (found %d next)", next, idx)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Fields returns the search columns of entries [start, end).
func (s *SQLite) Fields(ctx context.Context, start, end int64) ([]StoredEntry, error) {
	return queryFields(ctx, s.r, "?", start, end)
}

func queryFields(ctx context.Context, db *sql.DB, ph string, start, end int64) ([]StoredEntry, error) {
	p1, p2 := "?", "?"
	if ph == "$" {
		p1, p2 = "$1", "$2"
	}
	rows, err := db.QueryContext(ctx, "SELECT idx, time, action, decision, principal, subject, key, version, artifact FROM entries WHERE idx >= "+p1+" AND idx < "+p2+" ORDER BY idx", start, end)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredEntry
	pos := map[int64]int{}
	for rows.Next() {
		var e StoredEntry
		var t int64
		if err := rows.Scan(&e.Index, &t, &e.Action, &e.Decision, &e.Principal, &e.Subject, &e.Key, &e.Version, &e.Artifact); err != nil {
			return nil, err
		}
		e.Time = time.Unix(0, t).UTC()
		pos[e.Index] = len(out)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	drows, err := db.QueryContext(ctx, "SELECT idx, digest FROM digests WHERE idx >= "+p1+" AND idx < "+p2, start, end)
	if err != nil {
		return nil, err
	}
	defer drows.Close()
	for drows.Next() {
		var idx int64
		var d string
		if err := drows.Scan(&idx, &d); err != nil {
			return nil, err
		}
		if i, ok := pos[idx]; ok {
			out[i].Digests = append(out[i].Digests, d)
		}
	}
	return out, drows.Err()
}

func (s *SQLite) Checkpoints(ctx context.Context, after int64, limit int) ([]StoredCheckpoint, error) {
	return queryCheckpoints(ctx, s.r, "SELECT size, note, time FROM checkpoints WHERE size > ? ORDER BY size LIMIT ?", after, limit)
}

func queryCheckpoints(ctx context.Context, db *sql.DB, q string, after int64, limit int) ([]StoredCheckpoint, error) {
	rows, err := db.QueryContext(ctx, q, after, limit)
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

func (s *SQLite) Search(ctx context.Context, q Query) ([]int64, error) {
	query, args := searchSQL(q, func(n int) string { return "?" + strconv.Itoa(n) })
	return querySearch(ctx, s.r, query, args)
}

// searchSQL builds the search query; ph(n) is the nth placeholder.
func searchSQL(q Query, ph func(int) string) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", ph(len(args))))
	}
	from := "entries e"
	if q.Digest != "" {
		from = "digests d JOIN entries e ON e.idx = d.idx"
		add("d.digest = ?", q.Digest)
	}
	if q.Key != "" {
		add("e.key = ?", q.Key)
	}
	if q.Version != 0 {
		add("e.version = ?", q.Version)
	}
	if q.Principal != "" {
		args = append(args, q.Principal)
		n := ph(len(args))
		where = append(where, "(e.principal = "+n+" OR e.subject = "+n+")")
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
	query := "SELECT e.idx FROM " + from + " WHERE " + strings.Join(where, " AND ") + " ORDER BY e.idx LIMIT " + strconv.Itoa(q.Limit)
	return query, args
}

func querySearch(ctx context.Context, db *sql.DB, query string, args []any) ([]int64, error) {
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

func (s *SQLite) Manifest(ctx context.Context, digest string) ([]byte, error) {
	var b []byte
	err := s.r.QueryRowContext(ctx, "SELECT data FROM manifests WHERE digest = ?", digest).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return b, err
}

func (s *SQLite) Ping(ctx context.Context) error {
	_, err := s.w.ExecContext(ctx, "INSERT INTO meta (k, v) VALUES ('ping', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", time.Now().UTC().Format(time.RFC3339Nano))
	return err
}
