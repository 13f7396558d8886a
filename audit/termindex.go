package audit

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A termIndex holds what is kept behind the log: the index of entries by
// term (key, version, principal, subject, decision, action, digest) and
// the entry counts (see counts.go). It is derived data: everything in it
// can be rebuilt from the entries' columns, and a search never depends on
// it being up to date (the entries above its mark are scanned). So it is
// written in sorted chunks, off the commit path, without an fsync per
// chunk: for SQLite in a file of its own with synchronous=NORMAL, for
// PostgreSQL in the log's database with asynchronous commits. A crash
// loses at most the latest chunks, which are indexed again.
type termIndex struct {
	w, r  *sql.DB
	d     dialect
	begin string // runs first in an index transaction
}

const termIndexSchema = `
CREATE TABLE IF NOT EXISTS terms (term TEXT NOT NULL, idx BIGINT NOT NULL, PRIMARY KEY (term, idx));
CREATE TABLE IF NOT EXISTS terms_head (id INTEGER PRIMARY KEY CHECK (id = 0), indexed BIGINT NOT NULL);
INSERT INTO terms_head (id, indexed) VALUES (0, 0) ON CONFLICT DO NOTHING;
`

// schema returns the tables kept behind the log: the term index and the
// entry counts (counts.go).
func (x *termIndex) schema() string {
	if x.d.name == "sqlite" {
		return strings.ReplaceAll(termIndexSchema, "PRIMARY KEY (term, idx));", "PRIMARY KEY (term, idx)) WITHOUT ROWID;") +
			strings.ReplaceAll(countSchema, "principal, refusal)\n);", "principal, refusal)\n) WITHOUT ROWID;")
	}
	return termIndexSchema + countSchema
}

// termsOf returns the terms an entry is found by. A term is "field:value".
// Only selective values are indexed: the action "sign" and the decision
// "allowed" match most of the log, so a search by them alone reads the
// entries in order rather than a posting list as long as the log.
func termsOf(e *StoredEntry) []string {
	var t []string
	if e.Action != string(ActionSign) {
		t = append(t, "action:"+e.Action)
	}
	if e.Decision != string(Allowed) {
		t = append(t, "decision:"+e.Decision)
	}
	if e.Principal != "" {
		t = append(t, "principal:"+e.Principal)
	}
	if e.Subject != "" {
		t = append(t, "subject:"+e.Subject)
	}
	if e.Key != "" {
		t = append(t, "key:"+e.Key)
		if e.Version != 0 {
			t = append(t, "version:"+e.Key+"@"+strconv.Itoa(e.Version))
		}
	}
	for _, d := range e.Digests {
		t = append(t, "digest:"+d)
	}
	slices.Sort(t)
	return slices.Compact(t)
}

// indexed returns the mark: entries below it are indexed.
func (x *termIndex) indexed(ctx context.Context) (int64, error) {
	var n int64
	err := x.r.QueryRowContext(ctx, "SELECT indexed FROM terms_head WHERE id = 0").Scan(&n)
	return n, err
}

// termsIn returns the indexed terms of entries [start, end).
func (x *termIndex) termsIn(ctx context.Context, start, end int64) (map[int64][]string, error) {
	out := map[int64][]string{}
	if start >= end {
		return out, nil
	}
	rows, err := x.r.QueryContext(ctx, x.d.q("SELECT idx, term FROM terms WHERE idx >= ? AND idx < ?"), start, end)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var idx int64
		var t string
		if err := rows.Scan(&idx, &t); err != nil {
			return nil, err
		}
		out[idx] = append(out[idx], t)
	}
	return out, rows.Err()
}

// postings returns up to limit indexes in [lo, hi) of entries with any of
// terms, in increasing order.
func (x *termIndex) postings(ctx context.Context, terms []string, lo, hi int64, limit int, desc bool) ([]int64, error) {
	order := "ASC"
	if desc {
		order = "DESC"
	}
	var all []int64
	for _, t := range terms {
		got, err := queryIndexes(ctx, x.r, x.d.q("SELECT idx FROM terms WHERE term = ? AND idx >= ? AND idx < ? ORDER BY idx "+order+" LIMIT ?"), t, lo, hi, limit)
		if err != nil {
			return nil, err
		}
		all = append(all, got...)
	}
	slices.SortFunc(all, func(a, b int64) int {
		if desc {
			return cmp.Compare(b, a)
		}
		return cmp.Compare(a, b)
	})
	all = slices.Compact(all)
	return all[:min(len(all), limit)], nil
}

// beginAt begins a transaction of the work kept behind the log and reads
// its mark with query, which names the one row holding it. On PostgreSQL
// the row stays locked until the transaction ends, so that one replica at
// a time moves the mark.
func (x *termIndex) beginAt(ctx context.Context, query string) (*sql.Tx, int64, error) {
	tx, err := x.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	if x.begin != "" {
		if _, err := tx.ExecContext(ctx, x.begin); err != nil {
			tx.Rollback()
			return nil, 0, err
		}
	}
	if x.d.name == "postgres" {
		query += " FOR UPDATE"
	}
	var mark int64
	if err := tx.QueryRowContext(ctx, query).Scan(&mark); err != nil {
		tx.Rollback()
		return nil, 0, err
	}
	return tx, mark, nil
}

// index indexes up to max entries of s above the mark, in one transaction
// that also moves the mark, and reports whether it caught up.
func (x *termIndex) index(ctx context.Context, s *SQLStore, max int) (caughtUp bool, err error) {
	tx, mark, err := x.beginAt(ctx, "SELECT indexed FROM terms_head WHERE id = 0")
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	es, err := s.Fields(ctx, mark, mark+int64(max))
	if err != nil {
		return false, err
	}
	type posting struct {
		term string
		idx  int64
	}
	var ps []posting
	next := mark
	for _, e := range es {
		if e.Index != next {
			return false, fmt.Errorf("audit: entry %d is missing from the log (found %d next)", next, e.Index)
		}
		for _, t := range termsOf(&e) {
			ps = append(ps, posting{t, e.Index})
		}
		next++
	}
	if len(es) == 0 {
		return true, tx.Rollback()
	}
	// In index order, each page of the index is written once per chunk.
	slices.SortFunc(ps, func(a, b posting) int {
		return cmp.Or(strings.Compare(a.term, b.term), cmp.Compare(a.idx, b.idx))
	})
	// Many rows a statement: each statement costs far more than a row.
	const rows = 200
	var full *sql.Stmt
	for len(ps) > 0 {
		n := min(len(ps), rows)
		query := x.d.q("INSERT INTO terms (term, idx) VALUES " + strings.Repeat("(?,?),", n-1) + "(?,?) ON CONFLICT DO NOTHING")
		args := make([]any, 0, 2*n)
		for _, p := range ps[:n] {
			args = append(args, p.term, p.idx)
		}
		if n == rows && full == nil {
			if full, err = tx.PrepareContext(ctx, query); err != nil {
				return false, err
			}
			defer full.Close()
		}
		if n == rows {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, query, args...)
		}
		if err != nil {
			return false, err
		}
		ps = ps[n:]
	}
	if _, err := tx.ExecContext(ctx, x.d.q("UPDATE terms_head SET indexed = ? WHERE id = 0"), next); err != nil {
		return false, err
	}
	return len(es) < max, tx.Commit()
}
