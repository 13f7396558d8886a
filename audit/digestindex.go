package audit

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// A digestIndex maps digests to the entries naming them, behind the log.
// It is derived data: everything in it can be rebuilt from the entries'
// digests column, and a search never depends on it being up to date (the
// entries above its mark are scanned). So it is written in sorted chunks,
// off the commit path, without an fsync per chunk: for SQLite in a file of
// its own with synchronous=NORMAL, for PostgreSQL in the log's database
// with asynchronous commits. A crash loses at most the latest chunks, which
// are indexed again.
type digestIndex struct {
	w, r  *sql.DB
	d     dialect
	begin string // runs first in an index transaction
}

const digestIndexSchema = `
CREATE TABLE IF NOT EXISTS digest_index (digest TEXT NOT NULL, idx BIGINT NOT NULL, PRIMARY KEY (digest, idx));
CREATE TABLE IF NOT EXISTS digest_index_head (id INTEGER PRIMARY KEY CHECK (id = 0), indexed BIGINT NOT NULL);
INSERT INTO digest_index_head (id, indexed) VALUES (0, 0) ON CONFLICT DO NOTHING;
`

// schema returns the tables kept behind the log: the digest index and
// the entry counts (counts.go).
func (x *digestIndex) schema() string {
	if x.d.name == "sqlite" {
		return strings.ReplaceAll(digestIndexSchema, "PRIMARY KEY (digest, idx));", "PRIMARY KEY (digest, idx)) WITHOUT ROWID;") +
			strings.ReplaceAll(countSchema, "principal, refusal)\n);", "principal, refusal)\n) WITHOUT ROWID;")
	}
	return digestIndexSchema + countSchema
}

// indexed returns the mark: entries below it are indexed.
func (x *digestIndex) indexed(ctx context.Context) (int64, error) {
	var n int64
	err := x.r.QueryRowContext(ctx, "SELECT indexed FROM digest_index_head WHERE id = 0").Scan(&n)
	return n, err
}

// digestsOf returns the indexed digests of entries [start, end).
func (x *digestIndex) digestsOf(ctx context.Context, start, end int64) (map[int64][]string, error) {
	out := map[int64][]string{}
	if start >= end {
		return out, nil
	}
	rows, err := x.r.QueryContext(ctx, x.d.q("SELECT idx, digest FROM digest_index WHERE idx >= ? AND idx < ?"), start, end)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var idx int64
		var d string
		if err := rows.Scan(&idx, &d); err != nil {
			return nil, err
		}
		out[idx] = append(out[idx], d)
	}
	return out, rows.Err()
}

// index indexes up to max entries of s above the mark, in one transaction
// that also moves the mark, and reports whether it caught up.
func (x *digestIndex) index(ctx context.Context, s *SQLStore, max int) (caughtUp bool, err error) {
	tx, err := x.w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if x.begin != "" {
		if _, err := tx.ExecContext(ctx, x.begin); err != nil {
			return false, err
		}
	}
	var mark int64
	lock := "SELECT indexed FROM digest_index_head WHERE id = 0"
	if x.d.name == "postgres" {
		lock += " FOR UPDATE" // one indexer at a time across replicas
	}
	if err := tx.QueryRowContext(ctx, lock).Scan(&mark); err != nil {
		return false, err
	}
	rows, err := s.r.QueryContext(ctx, s.d.q("SELECT idx, digests FROM entries WHERE idx >= ? ORDER BY idx LIMIT ?"), mark, max)
	if err != nil {
		return false, err
	}
	type pair struct {
		d   string
		idx int64
	}
	var pairs []pair
	n, next := 0, mark
	for rows.Next() {
		var idx int64
		var ds string
		if err := rows.Scan(&idx, &ds); err != nil {
			rows.Close()
			return false, err
		}
		if idx != next {
			rows.Close()
			return false, fmt.Errorf("audit: entry %d is missing from the log (found %d next)", next, idx)
		}
		for _, d := range splitDigests(ds) {
			pairs = append(pairs, pair{d, idx})
		}
		n, next = n+1, next+1
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	if n == 0 {
		return true, tx.Rollback()
	}
	// In index order, each page of the index is written once per chunk.
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.d, b.d); c != 0 {
			return c
		}
		return int(a.idx - b.idx)
	})
	ins, err := tx.PrepareContext(ctx, x.d.q("INSERT INTO digest_index (digest, idx) VALUES (?,?) ON CONFLICT DO NOTHING"))
	if err != nil {
		return false, err
	}
	defer ins.Close()
	for _, p := range pairs {
		if _, err := ins.ExecContext(ctx, p.d, p.idx); err != nil {
			return false, err
		}
	}
	if _, err := tx.ExecContext(ctx, x.d.q("UPDATE digest_index_head SET indexed = ? WHERE id = 0"), next); err != nil {
		return false, err
	}
	return n < max, tx.Commit()
}
