package audit

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// A Source is what an auditor reads: a Store opened directly, or a server's
// read API.
type Source interface {
	Head(ctx context.Context) (signed string, size int64, err error)
	Entries(ctx context.Context, start, end int64) ([][]byte, error)
	Checkpoints(ctx context.Context, after int64, limit int) ([]StoredCheckpoint, error)
}

// A Report is the result of Verify.
type Report struct {
	Size        int64    // entries checked
	Checkpoints int      // signed checkpoints checked
	FirstBad    int64    // index of the first entry that fails, or -1
	Problems    []string // what failed, first first

	badRanges [][2]int64 // leaf ranges whose tree hashes were reported
}

// OK reports whether nothing failed.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) fail(index int64, format string, args ...any) {
	if index >= 0 && (r.FirstBad < 0 || index < r.FirstBad) {
		r.FirstBad = index
	}
	if len(r.Problems) < 100 {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// verifyChunk is how many entries Verify reads at a time.
const verifyChunk = 1000

// Verify recomputes the Merkle tree from every stored entry and checks it
// against every stored checkpoint and the head, each of whose signature it
// checks with the log's verifier key. Editing, deleting, reordering or
// truncating entries, or forging a checkpoint, is reported with the first
// bad index. Each content manifest an entry names must be stored and hash
// to its digest, when src can return manifests (a Store, a server's read
// API). When src is a Store it also checks the stored leaf hashes,
// which pinpoint an edited entry exactly, and the columns search uses, so
// that an entry cannot be hidden from searches.
func Verify(ctx context.Context, src Source, vkey string) (*Report, error) {
	r := &Report{FirstBad: -1}
	// The counts first: their mark is then at most the size read next.
	var stored, computed counts
	counted := int64(-1)
	if cs, ok := src.(countStore); ok {
		var err error
		if stored, counted, err = cs.storedCounts(ctx); err != nil {
			return nil, fmt.Errorf("reading entry counts: %w", err)
		}
		computed = counts{}
	}
	headNote, size, err := src.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the log head: %w", err)
	}
	// The checkpoints to check, in increasing size: the stored history
	// and the head.
	var cps []StoredCheckpoint
	for after := int64(-1); ; {
		page, err := src.Checkpoints(ctx, after, 1000)
		if err != nil {
			return nil, fmt.Errorf("reading checkpoints: %w", err)
		}
		if len(page) == 0 {
			break
		}
		cps = append(cps, page...)
		after = page[len(page)-1].Size
	}
	if headNote != "" {
		if c, err := ParseUnverified(headNote); err == nil && (len(cps) == 0 || cps[len(cps)-1].Size < c.Size) {
			cps = append(cps, StoredCheckpoint{Size: c.Size, Signed: headNote})
		}
	}
	cps = tileChecks(src, cps, r)
	type want struct {
		size int64
		root tlog.Hash
	}
	var wants []want
	for _, c := range cps {
		cp, err := OpenCheckpoint(c.Signed, vkey)
		if err != nil {
			r.fail(-1, "checkpoint of size %d: %v", c.Size, err)
			continue
		}
		if cp.Size != c.Size {
			r.fail(-1, "checkpoint stored as size %d says size %d", c.Size, cp.Size)
			continue
		}
		r.Checkpoints++
		wants = append(wants, want{cp.Size, cp.Root})
	}
	if n := len(wants); n > 0 && wants[n-1].size > size {
		r.fail(size, "log truncated: %d entries stored, but checkpoint of size %d was signed", size, wants[n-1].size)
	}

	store, _ := src.(Store)
	manifests, _ := src.(ManifestReader)
	checkedManifests := map[string]string{}
	o := newOverlay(&edge{hashes: map[int64]tlog.Hash{}})
	prevGood := int64(0)
	var rewritten [][2]int64 // checkpoints whose root did not match: [last good size, size)
	var prevTime time.Time
	for start := int64(0); start < size; start += verifyChunk {
		end := min(start+verifyChunk, size)
		data, err := src.Entries(ctx, start, end)
		if err != nil || int64(len(data)) != end-start {
			r.fail(start+int64(len(data)), "entries %d to %d: %v", start, end, cmp.Or(err, fmt.Errorf("only %d stored", len(data))))
			break
		}
		for i, b := range data {
			n := start + int64(i)
			e, err := ParseEntry(b)
			if err != nil {
				r.fail(n, "entry %d: %v", n, err)
			} else {
				if n < counted {
					computed.add(countedOf(n, e))
				}
				if e.Time.Before(prevTime) {
					r.fail(n, "entry %d is dated %s, before the entry ahead of it: searches by time rely on entry times never decreasing", n, e.Time.Format(time.RFC3339Nano))
				}
				prevTime = e.Time
				if manifests != nil && e.Artifact != nil && e.Artifact.Manifest != "" {
					checkManifest(ctx, manifests, n, e.Artifact.Manifest, checkedManifests, r)
				}
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
					rewritten = append(rewritten, [2]int64{prevGood, o.size})
				} else {
					prevGood = o.size
				}
				wants = wants[1:]
			}
		}
		if store != nil {
			if err := checkHashes(ctx, store, o.order, r); err != nil {
				return nil, err
			}
			if err := checkFields(ctx, store, start, end, data, r); err != nil {
				return nil, err
			}
		}
		for _, bad := range rewritten {
			// The bad entry is in [lo, hi); name the range unless the
			// tree hashes already pinpointed it there.
			lo, hi := bad[0], bad[1]
			at := lo
			if r.FirstBad >= lo && r.FirstBad < hi {
				at = -1
			}
			r.fail(at, "entries %d to %d do not match the signed checkpoint of size %d (history rewritten)", lo, hi, hi)
		}
		rewritten = rewritten[:0]
		// Keep only the right edge in memory.
		e, err := o.edge()
		if err != nil {
			return nil, err
		}
		o = newOverlay(e)
	}
	r.Size = o.size
	if pr, ok := src.(pastHeadReader); ok && r.Size == size {
		if err := checkPastHead(ctx, pr, size, r); err != nil {
			return nil, err
		}
	}
	if computed != nil && r.Size >= counted {
		checkCounts(stored, computed, counted, r)
	}
	return r, nil
}

// pastHeadReader is implemented by stores that can list what they hold
// beyond the log's head.
type pastHeadReader interface {
	pastHead(ctx context.Context, size int64) (pastHead, error)
}

// pastHead is what a store holds beyond a log of Size entries: rows that
// no checkpoint covers and on which the next append collides.
type pastHead struct {
	Entries        int64 // entry rows at or past Size
	First, Last    int64 // their least and greatest index
	HashRuns       int64 // runs of tree hashes starting at or past Size's first leaf
	FirstHashIndex int64 // the stored-hash index the next append starts at
}

// checkPastHead reports rows stored past the head: the writer appends at
// the head's size, so while they are there every append fails on them
// (a UNIQUE constraint) and nothing can be signed.
func checkPastHead(ctx context.Context, pr pastHeadReader, size int64, r *Report) error {
	p, err := pr.pastHead(ctx, size)
	if err != nil {
		return fmt.Errorf("reading what is stored past the log's head: %w", err)
	}
	if p.Entries > 0 {
		r.fail(size, "entries %d to %d (%d rows) are stored past the log's head of %d entries: no checkpoint covers them, and the server cannot append while they are there (UNIQUE constraint); "+
			"keep a copy as evidence, then either restore the head they belong to from a backup, or delete them (DELETE FROM entries WHERE idx >= %d; DELETE FROM hash_runs WHERE first >= %d)",
			p.First, p.Last, p.Entries, size, size, p.FirstHashIndex)
	}
	if p.HashRuns > 0 {
		r.fail(size, "%d runs of tree hashes are stored past the log's head of %d entries (from stored-hash index %d): the server cannot append while they are there (UNIQUE constraint); "+
			"keep a copy as evidence, then delete them (DELETE FROM hash_runs WHERE first >= %d)", p.HashRuns, size, p.FirstHashIndex, p.FirstHashIndex)
	}
	return nil
}

func (s *SQLStore) pastHead(ctx context.Context, size int64) (pastHead, error) {
	p := pastHead{FirstHashIndex: tlog.StoredHashIndex(0, size)}
	var first, last sql.NullInt64
	if err := s.r.QueryRowContext(ctx, s.d.q("SELECT COUNT(*), MIN(idx), MAX(idx) FROM entries WHERE idx >= ?"), size).Scan(&p.Entries, &first, &last); err != nil {
		return p, err
	}
	p.First, p.Last = first.Int64, last.Int64
	err := s.r.QueryRowContext(ctx, s.d.q("SELECT COUNT(*) FROM hash_runs WHERE first >= ?"), p.FirstHashIndex).Scan(&p.HashRuns)
	return p, err
}

// countStore is implemented by stores that keep entry counts.
type countStore interface {
	storedCounts(ctx context.Context) (counts, int64, error)
}

// countedOf is what the counter reads of entry n.
func countedOf(n int64, e *Entry) countedEntry {
	s := storedEntry(n, e, nil)
	c := countedEntry{idx: n, refusal: RefusalOf(e)}
	c.key = countKey{start: s.Time.UnixNano(), action: s.Action, decision: s.Decision, key: s.Key, version: s.Version,
		principal: s.Principal, refusal: c.refusal}
	return c
}

// checkCounts compares the entry counts kept behind the log with the ones
// recomputed from the first n entries, so that no entry is hidden from
// timelines.
func checkCounts(stored, computed counts, n int64, r *Report) {
	var bad []string
	for k, want := range computed {
		if got := stored[k]; got != want {
			bad = append(bad, fmt.Sprintf("%v from %s, %s %s, key %q v%d, principal %q: %d counted, %d entries",
				k.span, time.Unix(k.start, 0).UTC().Format(time.RFC3339), k.action, k.decision, k.key, k.version, k.principal, got, want))
		}
	}
	for k, got := range stored {
		if _, ok := computed[k]; !ok {
			bad = append(bad, fmt.Sprintf("%v from %s, %s %s, key %q v%d, principal %q: %d counted, no entries",
				k.span, time.Unix(k.start, 0).UTC().Format(time.RFC3339), k.action, k.decision, k.key, k.version, k.principal, got))
		}
	}
	slices.Sort(bad)
	for i, b := range bad {
		if i == 3 {
			r.fail(-1, "entry counts: %d more differ", len(bad)-i)
			break
		}
		r.fail(-1, "entry counts of the first %d entries do not match them (timeline tampered): %s", n, b)
	}
}

// checkHashes compares the tree hashes recomputed from the entries with
// the ones stored when they were appended. A leaf that differs is an entry
// edited, swapped or replaced; an interior node that differs while its
// leaves match means stored leaf hashes were rewritten too, somewhere
// below it.
func checkHashes(ctx context.Context, s Store, computed []indexedHash, r *Report) error {
	idx := make([]int64, len(computed))
	for i, h := range computed {
		idx[i] = h.Index
	}
	stored, err := s.Hashes(ctx).ReadHashes(idx)
	if err != nil {
		if len(computed) > 0 {
			_, n := tlog.SplitStoredHashIndex(computed[0].Index)
			r.fail(n, "reading stored tree hashes: %v", err)
		}
		return nil
	}
	for i, h := range computed {
		if stored[i] == h.Hash {
			continue
		}
		level, n := tlog.SplitStoredHashIndex(h.Index)
		lo, hi := n<<level, (n+1)<<level
		// Every ancestor of a bad node differs too; report only the lowest.
		if slices.ContainsFunc(r.badRanges, func(b [2]int64) bool { return lo <= b[0] && b[1] <= hi }) {
			continue
		}
		r.badRanges = append(r.badRanges, [2]int64{lo, hi})
		if level == 0 {
			r.fail(n, "entry %d: its bytes do not match the leaf hash stored when it was appended (edited, swapped or replaced)%s", n, where(s, level, n))
		} else {
			r.fail(lo, "entries %d to %d: the stored tree hash over them differs from the one recomputed (entries and leaf hashes rewritten)%s", lo, hi, where(s, level, n))
		}
	}
	return nil
}

// fieldReader is implemented by stores that can return the searchable
// columns of their entries.
type fieldReader interface {
	Fields(ctx context.Context, start, end int64) ([]StoredEntry, error)
}

// checkFields compares the columns search uses with the entries' bytes.
func checkFields(ctx context.Context, s Store, start, end int64, data [][]byte, r *Report) error {
	fr, ok := s.(fieldReader)
	if !ok {
		return nil
	}
	got, err := fr.Fields(ctx, start, end)
	if err != nil {
		r.fail(start, "reading search columns %d to %d: %v", start, end, err)
		return nil
	}
	for i, b := range data {
		n := start + int64(i)
		e, err := ParseEntry(b)
		if err != nil {
			continue // reported already
		}
		want := storedEntry(n, e, nil)
		if i >= len(got) {
			r.fail(n, "entry %d: no search columns", n)
			continue
		}
		if g := got[i]; !sameFields(g, want) {
			r.fail(n, "entry %d: the columns searches use do not match its bytes (search index tampered)", n)
		}
	}
	return nil
}

// sameFields compares the searchable fields of stored entry a with those
// of b, built from the entry's bytes. The terms the index behind the log
// holds for it must be the entry's too.
func sameFields(a, b StoredEntry) bool {
	sorted := func(x []string) []string {
		x = slices.Clone(x)
		slices.Sort(x)
		return slices.Compact(x)
	}
	return a.Index == b.Index && a.Time.Equal(b.Time) && a.Action == b.Action && a.Decision == b.Decision &&
		a.Principal == b.Principal && a.Subject == b.Subject && a.Key == b.Key && a.Version == b.Version &&
		a.Artifact == b.Artifact && slices.Equal(sorted(a.Digests), sorted(b.Digests)) &&
		(a.Indexed == nil || slices.Equal(sorted(a.Indexed), termsOf(&b)))
}

// InclusionProof proves entry index is in the tree of the given size.
func InclusionProof(ctx context.Context, s Store, index, size int64) ([][]byte, error) {
	if index < 0 || index >= size {
		return nil, fmt.Errorf("%w: entry %d is not in a tree of size %d", ErrNotFound, index, size)
	}
	p, err := tlog.ProveRecord(size, index, s.Hashes(ctx))
	if err != nil {
		return nil, err
	}
	return hashesOf(p), nil
}

// ConsistencyProof proves the tree of size old is a prefix of the tree of
// size new, for 1 ≤ old ≤ new (the empty tree is a prefix of every tree,
// with no proof).
func ConsistencyProof(ctx context.Context, s Store, old, new int64) ([][]byte, error) {
	if old < 1 || old > new {
		return nil, fmt.Errorf("%w: no consistency proof from size %d to %d", ErrNotFound, old, new)
	}
	p, err := tlog.ProveTree(new, old, s.Hashes(ctx))
	if err != nil {
		return nil, err
	}
	return hashesOf(p), nil
}

// A Match is one search result.
type Match struct {
	Index int64  `json:"index"`
	Entry []byte `json:"entry"`
	// Proof, when asked for (GET /v1/audit/search?proofs=1), proves the
	// entry is in the checkpoint the search was answered against.
	Proof PackedHashes `json:"proof,omitempty"`
}

// PackedHashes is a list of tree hashes that JSON encodes as one base64
// string of their concatenation rather than as an array of strings: a
// page of search results carries a thousand proofs, and one string each
// is much cheaper to encode and decode.
type PackedHashes [][]byte

// MarshalText encodes h as the base64 of its concatenation, which JSON
// writes as one string. (Text rather than JSON: encoding/json re-scans
// what a MarshalJSON returns, which cost more than the encoding.)
func (h PackedHashes) MarshalText() ([]byte, error) {
	enc := base64.StdEncoding
	out := make([]byte, enc.EncodedLen(len(h)*tlog.HashSize))
	var group [3 * tlog.HashSize]byte // whole base64 quanta: 3 hashes, 128 characters
	o := 0
	for i := 0; i < len(h); i += 3 {
		n := 0
		for _, x := range h[i:min(i+3, len(h))] {
			if len(x) != tlog.HashSize {
				return nil, fmt.Errorf("audit: a proof hash of %d bytes", len(x))
			}
			n += copy(group[n:], x)
		}
		enc.Encode(out[o:], group[:n])
		o += enc.EncodedLen(n)
	}
	return out, nil
}

// UnmarshalJSON decodes one base64 string of whole hashes.
func (h *PackedHashes) UnmarshalJSON(data []byte) error {
	var b []byte
	if n := len(data); n >= 2 && data[0] == '"' && data[n-1] == '"' && bytes.IndexByte(data, '\\') < 0 {
		// The common case, decoded without a second JSON pass.
		b = make([]byte, base64.StdEncoding.DecodedLen(n-2))
		m, err := base64.StdEncoding.Decode(b, data[1:n-1])
		if err != nil {
			return fmt.Errorf("audit: proof: %w", err)
		}
		b = b[:m]
	} else if err := json.Unmarshal(data, &b); err != nil {
		return err
	}
	if len(b)%tlog.HashSize != 0 || len(b) > 64*tlog.HashSize {
		return fmt.Errorf("audit: proof of %d bytes is not a list of at most 64 hashes", len(b))
	}
	out := make([][]byte, len(b)/tlog.HashSize)
	for i := range out {
		out[i] = b[i*tlog.HashSize : (i+1)*tlog.HashSize : (i+1)*tlog.HashSize]
	}
	*h = out
	return nil
}

// Search returns every entry matching q below size, in index order, up to
// q.Limit, and the index to continue after (or -1 when done).
func Search(ctx context.Context, s Store, q Query, size int64) ([]Match, int64, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 1000
	}
	if q.Name != "" {
		if _, err := path.Match(q.Name, ""); err != nil {
			return nil, -1, fmt.Errorf("name pattern %q: %w", q.Name, err)
		}
	}
	q.Before = size
	var out []Match
	for {
		idx, err := s.Search(ctx, q)
		if err != nil {
			return nil, -1, err
		}
		data, err := entriesAt(ctx, s, idx)
		if err != nil {
			return nil, -1, err
		}
		for k, i := range idx {
			q.After = i
			if q.Name != "" {
				e, err := ParseEntry(data[k])
				if err != nil || e.Artifact == nil {
					continue
				}
				if ok, _ := path.Match(q.Name, e.Artifact.Name); !ok {
					continue
				}
			}
			out = append(out, Match{Index: i, Entry: data[k]})
			if len(out) == q.Limit {
				return out, i, nil
			}
		}
		if len(idx) < q.Limit {
			return out, -1, nil
		}
	}
}

// ErrInconsistent is returned by Watch when the log is not an extension of
// what the watcher saw before: it forked or rewrote history.
var ErrInconsistent = errors.New("audit log inconsistent")
