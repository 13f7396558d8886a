package audit

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Entry counts: how many entries of each kind — action, decision, key,
// version, principal, refusal class — fall in each minute, quarter hour,
// hour, two and six hours, and day.
// They draw timelines (what each key signed, for whom, over a month or a
// year) without reading the entries: a million entries are a few thousand
// counts.
//
// Like the term index, counts are derived data kept behind the log, not
// by the commit: an upsert into an index keyed by time, key and principal
// would dirty pages a commit must write and fsync, which the log avoids
// (see SQLStore). A background pass (Index) counts entries in
// chunks, each chunk in one transaction that also moves a mark; Counts
// combines the counts below the mark with the entries above it, so an
// answer is complete however far behind the counting is. A crash loses
// nothing but the latest chunks, counted again. `signet audit verify`
// recomputes the counts from the entries and compares.

// Refusal classes group the reasons of denied and failed entries, which
// are free text naming tokens and artifacts, into the few kinds an
// operator watches for.
const (
	RefusalTokenInvalid    = "token invalid"   // tampered, malformed, unknown key, wrong audience
	RefusalTokenExpired    = "token expired"   // also not yet valid
	RefusalTokenRevoked    = "token revoked"   // on the deny list
	RefusalUnauthenticated = "unauthenticated" // no or unknown certificate, no credentials
	RefusalScope           = "scope"           // outside the principal's grants or the token's scope
	RefusalLocked          = "locked"          // keystore locked
	RefusalBadRequest      = "bad request"     // malformed or unsupported request, unknown key
	RefusalFailed          = "failed"          // allowed but not done: log, HSM, internal error
)

// RefusalOf classifies the reason of a denied or failed entry; "" for an
// allowed one. It reads the server's messages, so its classes are a guide
// for operators; the reason itself stays in the entry.
func RefusalOf(e *Entry) string {
	if e.Decision == Allowed {
		return ""
	}
	r := strings.ToLower(e.Reason)
	switch {
	case e.Action == ActionAuthentication:
		switch {
		case strings.Contains(r, "token expired"), strings.Contains(r, "not yet valid"):
			return RefusalTokenExpired
		case strings.Contains(r, "token revoked"):
			return RefusalTokenRevoked
		case strings.Contains(r, "token"):
			return RefusalTokenInvalid
		}
		return RefusalUnauthenticated
	case strings.Contains(r, "locked"):
		return RefusalLocked
	case strings.Contains(r, "permission denied"), strings.Contains(r, "does not cover"), strings.Contains(r, "may only sign"),
		strings.Contains(r, "no longer valid"), strings.Contains(r, "allows at most"):
		return RefusalScope
	case e.Decision == Failed:
		return RefusalFailed
	}
	return RefusalBadRequest
}

// A Count is the number of entries of one kind in one bucket of time.
type Count struct {
	Start     time.Time // the bucket's start, UTC
	Action    string
	Decision  string
	Key       string
	Version   int
	Principal string // principal name (a token's issuer)
	Refusal   string // RefusalOf the entries; "" for allowed ones
	N         int64
}

// A CountQuery asks for counts in buckets of Bucket from Since to Until.
type CountQuery struct {
	Since, Until time.Time // [Since, Until), whole minutes (whole hours or days for such buckets)
	// Bucket is a whole number of minutes. Buckets start at Since.
	Bucket time.Duration
}

// The spans entries are counted in, longest first. A timeline reads the
// longest span that divides its buckets, so that it reads about one count
// per bucket and kind: these cover the explorer's ranges (1 hour by the
// minute … 90 days by the day). Adding a span needs the counts rebuilt
// (an empty entry_counts and a mark of 0), as old entries lack it.
var countSpans = []time.Duration{24 * time.Hour, 6 * time.Hour, 2 * time.Hour, time.Hour, 15 * time.Minute, time.Minute}

// span returns the longest span counts are kept in that divides b, and
// checks that t is aligned to it.
func (q CountQuery) span() (time.Duration, error) {
	if q.Bucket < time.Minute || q.Bucket%time.Minute != 0 {
		return 0, fmt.Errorf("count buckets of %v: want a whole number of minutes", q.Bucket)
	}
	if !q.Since.Before(q.Until) {
		return 0, fmt.Errorf("counts from %v to %v: an empty range", q.Since, q.Until)
	}
	for _, s := range countSpans {
		if q.Bucket%s == 0 {
			if q.Since.UnixNano()%int64(s) != 0 || q.Until.UnixNano()%int64(s) != 0 {
				continue
			}
			return s, nil
		}
	}
	return 0, fmt.Errorf("counts from %v to %v: give whole minutes", q.Since, q.Until)
}

// countKey is what a count counts.
type countKey struct {
	start                                     int64 // unix seconds
	action, decision, key, principal, refusal string
	version                                   int
}

const countSchema = `
CREATE TABLE IF NOT EXISTS entry_counts (
	span INTEGER NOT NULL,
	start BIGINT NOT NULL,
	action TEXT NOT NULL,
	decision TEXT NOT NULL,
	key TEXT NOT NULL,
	version INTEGER NOT NULL,
	principal TEXT NOT NULL,
	refusal TEXT NOT NULL,
	n BIGINT NOT NULL,
	PRIMARY KEY (span, start, action, decision, key, version, principal, refusal)
);
CREATE TABLE IF NOT EXISTS entry_counts_head (id INTEGER PRIMARY KEY CHECK (id = 0), counted BIGINT NOT NULL);
INSERT INTO entry_counts_head (id, counted) VALUES (0, 0) ON CONFLICT DO NOTHING;
`

// countedEntry is what counting reads of an entry.
type countedEntry struct {
	idx     int64
	key     countKey // start is the entry's time in nanoseconds
	refusal string
}

// selectCounted reads the entries counting needs; the bytes only of
// refusals, to classify their reasons.
const selectCounted = "SELECT idx, time, action, decision, key, version, principal, CASE WHEN decision = 'allowed' THEN NULL ELSE data END FROM entries"

func scanCounted(rows *sql.Rows) (countedEntry, error) {
	var c countedEntry
	var data []byte
	if err := rows.Scan(&c.idx, &c.key.start, &c.key.action, &c.key.decision, &c.key.key, &c.key.version, &c.key.principal, &data); err != nil {
		return c, err
	}
	if c.key.decision != string(Allowed) {
		if e, err := ParseEntry(data); err == nil {
			c.refusal = RefusalOf(e)
		} else {
			c.refusal = RefusalFailed // unreadable; verify names it
		}
	}
	c.key.refusal = c.refusal
	return c, nil
}

// add counts e in every span.
func (m counts) add(e countedEntry) {
	for _, s := range countSpans {
		k := e.key
		k.start = e.key.start / int64(s) * int64(s/time.Second)
		m[spanKey{s, k}]++
	}
}

type spanKey struct {
	span time.Duration
	countKey
}

type counts map[spanKey]int64

// count counts up to max entries of s above the mark, in one transaction
// that also moves the mark, and reports whether it caught up.
func (x *termIndex) count(ctx context.Context, s *SQLStore, max int) (caughtUp bool, err error) {
	tx, mark, err := x.beginAt(ctx, "SELECT counted FROM entry_counts_head WHERE id = 0")
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	rows, err := s.r.QueryContext(ctx, s.d.q(selectCounted+" WHERE idx >= ? ORDER BY idx LIMIT ?"), mark, max)
	if err != nil {
		return false, err
	}
	m := counts{}
	n, next := 0, mark
	for rows.Next() {
		c, err := scanCounted(rows)
		if err != nil {
			rows.Close()
			return false, err
		}
		if c.idx != next {
			rows.Close()
			return false, fmt.Errorf("audit: entry %d is missing from the log (found %d next)", next, c.idx)
		}
		m.add(c)
		n, next = n+1, next+1
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	if n == 0 {
		return true, tx.Rollback()
	}
	// In key order, each page of the counts is written once per chunk.
	keys := make([]spanKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b spanKey) int {
		return cmp.Or(cmp.Compare(a.span, b.span), cmp.Compare(a.start, b.start), strings.Compare(a.action, b.action),
			strings.Compare(a.decision, b.decision), strings.Compare(a.key, b.key), cmp.Compare(a.version, b.version),
			strings.Compare(a.principal, b.principal), strings.Compare(a.refusal, b.refusal))
	})
	up, err := tx.PrepareContext(ctx, x.d.q(`INSERT INTO entry_counts (span, start, action, decision, key, version, principal, refusal, n)
		VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (span, start, action, decision, key, version, principal, refusal) DO UPDATE SET n = entry_counts.n + excluded.n`))
	if err != nil {
		return false, err
	}
	defer up.Close()
	for _, k := range keys {
		if _, err := up.ExecContext(ctx, int64(k.span/time.Second), k.start, k.action, k.decision, k.key, k.version, k.principal, k.refusal, m[k]); err != nil {
			return false, err
		}
	}
	if _, err := tx.ExecContext(ctx, x.d.q("UPDATE entry_counts_head SET counted = ? WHERE id = 0"), next); err != nil {
		return false, err
	}
	return n < max, tx.Commit()
}

// Counts returns how many entries of each kind fall in each bucket of q,
// for every entry stored: from the counts kept behind the log, and from
// the entries not counted yet. Buckets without entries are left out; the
// rest come in order of start, then kind.
func (s *SQLStore) Counts(ctx context.Context, q CountQuery) ([]Count, error) {
	span, err := q.span()
	if err != nil {
		return nil, err
	}
	since, until := q.Since.Unix(), q.Until.Unix()
	bucket := int64(q.Bucket / time.Second)
	m := map[countKey]int64{}
	// One statement reads the mark and the counts below it, so that both
	// come from one snapshot while the counter moves on.
	rows, err := s.ix.r.QueryContext(ctx, s.ix.d.q(`SELECT -1, '', '', '', 0, '', '', counted FROM entry_counts_head WHERE id = 0
		UNION ALL
		SELECT b, action, decision, key, version, principal, refusal, CAST(SUM(n) AS BIGINT) FROM (
			SELECT ? + (start - ?) / ? * ? AS b, action, decision, key, version, principal, refusal, n FROM entry_counts
			WHERE span = ? AND start >= ? AND start < ?) t
		GROUP BY b, action, decision, key, version, principal, refusal`),
		since, since, bucket, bucket, int64(span/time.Second), since, until)
	if err != nil {
		return nil, fmt.Errorf("audit: reading entry counts: %w", err)
	}
	mark := int64(-1)
	for rows.Next() {
		var k countKey
		var n int64
		if err := rows.Scan(&k.start, &k.action, &k.decision, &k.key, &k.version, &k.principal, &k.refusal, &n); err != nil {
			rows.Close()
			return nil, err
		}
		if k.start == -1 && k.action == "" {
			mark = n
			continue
		}
		m[k] += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: reading entry counts: %w", err)
	}
	if mark < 0 {
		return nil, errors.New("audit: the entry counts have no mark")
	}
	// The entries not counted yet, by index only: a condition on time
	// would let the planner walk the time index over the whole range.
	rows, err = s.r.QueryContext(ctx, s.d.q(selectCounted+" WHERE idx >= ?"), mark)
	if err != nil {
		return nil, fmt.Errorf("audit: reading entries not counted yet: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanCounted(rows)
		if err != nil {
			return nil, err
		}
		k := c.key
		if k.start < q.Since.UnixNano() || k.start >= q.Until.UnixNano() {
			continue
		}
		k.start = since + (k.start/int64(time.Second)-since)/bucket*bucket
		m[k]++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: reading entries not counted yet: %w", err)
	}
	out := make([]Count, 0, len(m))
	for k, n := range m {
		out = append(out, Count{Start: time.Unix(k.start, 0).UTC(), Action: k.action, Decision: k.decision, Key: k.key, Version: k.version,
			Principal: k.principal, Refusal: k.refusal, N: n})
	}
	slices.SortFunc(out, compareCounts)
	return out, nil
}

func compareCounts(a, b Count) int {
	return cmp.Or(a.Start.Compare(b.Start), strings.Compare(a.Action, b.Action), strings.Compare(a.Decision, b.Decision),
		strings.Compare(a.Key, b.Key), cmp.Compare(a.Version, b.Version), strings.Compare(a.Principal, b.Principal),
		strings.Compare(a.Refusal, b.Refusal))
}

// LatestRefusals returns the indexes of the latest refused entries (denied
// or failed) of the time range [since, until) below before, newest first:
// an operator's first question after "how many" is "which, lately".
func (s *SQLStore) LatestRefusals(ctx context.Context, since, until time.Time, before int64, limit int) ([]int64, error) {
	lo, hi, err := s.window(ctx, since, until, 0, before)
	if err != nil || lo >= hi {
		return nil, err
	}
	mark, err := s.ix.indexed(ctx)
	if err != nil {
		return nil, err
	}
	// Above the mark, newest first, from the entries themselves.
	var out []int64
	for end := hi; end > max(lo, mark) && len(out) < limit; {
		start := max(lo, mark, end-4096)
		es, err := s.fields(ctx, "idx >= ? AND idx < ? AND decision IN ('denied', 'failed')", start, end)
		if err != nil {
			return nil, err
		}
		for i := len(es) - 1; i >= 0 && len(out) < limit; i-- {
			out = append(out, es[i].Index)
		}
		end = start
	}
	if len(out) == limit || lo >= mark {
		return out, nil
	}
	got, err := s.ix.postings(ctx, []string{"decision:denied", "decision:failed"}, lo, min(hi, mark), limit-len(out), true)
	return append(out, got...), err
}

// storedCounts returns every count kept below the mark, by span, for
// verification.
func (s *SQLStore) storedCounts(ctx context.Context) (counts, int64, error) {
	// The mark and the counts from one snapshot: a SQLite read
	// transaction is one; PostgreSQL's needs repeatable read.
	var opts *sql.TxOptions
	if s.ix.d.name == "postgres" {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	tx, err := s.ix.r.BeginTx(ctx, opts)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	var mark int64
	if err := tx.QueryRowContext(ctx, "SELECT counted FROM entry_counts_head WHERE id = 0").Scan(&mark); err != nil {
		return nil, 0, err
	}
	rows, err := tx.QueryContext(ctx, "SELECT span, start, action, decision, key, version, principal, refusal, n FROM entry_counts")
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	m := counts{}
	for rows.Next() {
		var k spanKey
		var span, n int64
		if err := rows.Scan(&span, &k.start, &k.action, &k.decision, &k.key, &k.version, &k.principal, &k.refusal, &n); err != nil {
			return nil, 0, err
		}
		k.span = time.Duration(span) * time.Second
		m[k] = n
	}
	return m, mark, rows.Err()
}
