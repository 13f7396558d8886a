package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// InclusionProofs proves each entry of indexes in the tree of the given
// size, as InclusionProof does one, reading the stored tree hashes they
// need in few reads: an incident report proves thousands of entries, and
// their proofs share most of their upper hashes. It is a Prover used
// once, which reads the whole tree when the entries are a sixteenth of
// it or more.
func InclusionProofs(ctx context.Context, s Store, indexes []int64, size int64) ([][][]byte, error) {
	p := NewProver(s, size)
	if int64(len(indexes))*16 >= size {
		// A good part of the tree: most of its hashes are needed.
		if err := p.LoadAll(ctx); err != nil {
			return nil, err
		}
	}
	return p.Prove(ctx, indexes)
}

// A Prover makes inclusion proofs in the tree of one size. It keeps the
// stored hashes it has read, so that proofs made a page at a time read
// each hash once. It is safe for concurrent use.
type Prover struct {
	s    Store
	size int64

	mu   sync.Mutex
	have mapReader
	all  sliceReader // every stored hash of the tree, after LoadAll
}

// Size returns the size of the tree p proves in.
func (p *Prover) Size() int64 { return p.size }

// NewProver returns a Prover for the tree of size entries of s.
func NewProver(s Store, size int64) *Prover {
	return &Prover{s: s, size: size, have: mapReader{}}
}

// MaxLoadAll bounds the stored hashes LoadAll reads: 2 Mi hashes, 64 MiB,
// the tree of a log of a million entries.
const MaxLoadAll = 1 << 21

// LoadAll reads every stored hash of the tree, in windows of consecutive
// indexes, for a caller about to prove much of it. It does nothing for a
// tree of more than MaxLoadAll stored hashes, which is proven as asked.
func (p *Prover) LoadAll(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := tlog.StoredHashCount(p.size)
	if p.all != nil || n > MaxLoadAll {
		return nil
	}
	r := p.s.Hashes(ctx)
	all := make(sliceReader, 0, n)
	for lo := int64(0); lo < n; lo += proofWindow {
		ask := make([]int64, min(proofWindow, n-lo))
		for j := range ask {
			ask[j] = lo + int64(j)
		}
		hs, err := r.ReadHashes(ask)
		if err != nil {
			return err
		}
		all = append(all, hs...)
	}
	p.all, p.have = all, nil
	return nil
}

// Prove proves each entry of indexes.
//
// Unless LoadAll has read the whole tree, it asks tlog which stored hashes
// each proof needs, reads those it has not read yet, sorted, in windows
// of consecutive stored-hash indexes (each window one contiguous read
// where the proofs need more than one hash in 64, a read of just those
// hashes where they need fewer), then builds the proofs from memory.
func (p *Prover) Prove(ctx context.Context, indexes []int64) ([][][]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, i := range indexes {
		if i < 0 || i >= p.size {
			return nil, fmt.Errorf("%w: entry %d is not in a tree of size %d", ErrNotFound, i, p.size)
		}
	}
	var r tlog.HashReader = p.all
	if p.all == nil {
		need := &recordingReader{}
		for _, i := range indexes {
			if _, err := tlog.ProveRecord(p.size, i, need); err != nil {
				return nil, err
			}
		}
		var wanted []int64
		for _, i := range slices.Compact(slices.Sorted(slices.Values(need.seen))) {
			if _, ok := p.have[i]; !ok {
				wanted = append(wanted, i)
			}
		}
		if err := readWindows(p.s.Hashes(ctx), wanted, p.have); err != nil {
			return nil, err
		}
		r = p.have
	}
	out := make([][][]byte, len(indexes))
	for k, i := range indexes {
		pr, err := tlog.ProveRecord(p.size, i, r)
		if err != nil {
			return nil, err
		}
		out[k] = hashesOf(pr)
	}
	return out, nil
}

// sliceReader reads hashes from a slice indexed by stored-hash index.
type sliceReader []tlog.Hash

func (s sliceReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for k, i := range indexes {
		if i < 0 || i >= int64(len(s)) {
			return nil, fmt.Errorf("audit: tree hash %d was not read", i)
		}
		out[k] = s[i]
	}
	return out, nil
}

// proofWindow is the span of stored-hash indexes read at once: 64 Ki
// hashes, 2 MiB.
const proofWindow = 1 << 16

// readWindows reads the hashes at sorted indexes from r into have.
func readWindows(r tlog.HashReader, sorted []int64, have mapReader) error {
	for len(sorted) > 0 {
		n := 1
		for n < len(sorted) && sorted[n]-sorted[0] < proofWindow {
			n++
		}
		win := sorted[:n]
		sorted = sorted[n:]
		lo, hi := win[0], win[len(win)-1]
		ask := win
		if span := hi - lo + 1; int64(len(win))*64 >= span {
			// Dense enough: one contiguous read beats picking.
			ask = make([]int64, span)
			for j := range ask {
				ask[j] = lo + int64(j)
			}
		}
		hs, err := r.ReadHashes(ask)
		if err != nil {
			return err
		}
		for j, i := range ask {
			have[i] = hs[j]
		}
	}
	return nil
}

// recordingReader answers every read with zero hashes and remembers which
// indexes were asked for.
type recordingReader struct{ seen []int64 }

func (r *recordingReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	r.seen = append(r.seen, indexes...)
	return make([]tlog.Hash, len(indexes)), nil
}

// mapReader reads hashes from memory.
type mapReader map[int64]tlog.Hash

func (m mapReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for k, i := range indexes {
		h, ok := m[i]
		if !ok {
			return nil, fmt.Errorf("audit: tree hash %d was not read", i)
		}
		out[k] = h
	}
	return out, nil
}

// VerifyInclusion checks that entry, whose proof is given, is entry index
// of the tree the (already verified) checkpoint cp commits to. Checking
// many entries against one checkpoint, open it once with OpenCheckpoint
// and call this for each; VerifyReceipt does both for one receipt.
func VerifyInclusion(cp Checkpoint, index int64, entry []byte, proof [][]byte) error {
	if index < 0 || index >= cp.Size {
		return fmt.Errorf("entry %d is not below the checkpoint's size %d", index, cp.Size)
	}
	if len(proof) > 64 {
		return fmt.Errorf("proof of %d hashes is too long", len(proof))
	}
	p := make(tlog.RecordProof, len(proof))
	for i, h := range proof {
		if len(h) != tlog.HashSize {
			return fmt.Errorf("proof hash %d is %d bytes", i, len(h))
		}
		copy(p[i][:], h)
	}
	if err := tlog.CheckRecord(p, cp.Size, cp.Root, index, tlog.RecordHash(entry)); err != nil {
		return fmt.Errorf("entry %d is not in the log of size %d: %v", index, cp.Size, err)
	}
	return nil
}

// entriesAtReader is implemented by stores that read scattered entries in
// one query.
type entriesAtReader interface {
	EntriesAt(ctx context.Context, indexes []int64) ([][]byte, error)
}

// entriesAt returns the stored bytes of the entries at indexes.
func entriesAt(ctx context.Context, s Store, indexes []int64) ([][]byte, error) {
	if r, ok := s.(entriesAtReader); ok {
		return r.EntriesAt(ctx, indexes)
	}
	out := make([][]byte, len(indexes))
	for k, i := range indexes {
		data, err := s.Entries(ctx, i, i+1)
		if err != nil {
			return nil, err
		}
		if len(data) != 1 {
			return nil, fmt.Errorf("audit: entry %d is missing", i)
		}
		out[k] = data[0]
	}
	return out, nil
}

// EntriesAt returns the stored bytes of the entries at indexes (each
// stored), in the order given, reading up to 500 per query.
func (s *SQLStore) EntriesAt(ctx context.Context, indexes []int64) ([][]byte, error) {
	byIndex := make(map[int64][]byte, len(indexes))
	for start := 0; start < len(indexes); start += 500 {
		chunk := indexes[start:min(start+500, len(indexes))]
		q := "SELECT idx, data FROM entries WHERE idx IN (?" + strings.Repeat(",?", len(chunk)-1) + ")"
		rows, err := s.r.QueryContext(ctx, s.d.q(q), anys(chunk)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var idx int64
			var b []byte
			if err := rows.Scan(&idx, &b); err != nil {
				rows.Close()
				return nil, err
			}
			byIndex[idx] = b
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	out := make([][]byte, len(indexes))
	for k, i := range indexes {
		b, ok := byIndex[i]
		if !ok {
			return nil, fmt.Errorf("audit: entry %d is missing", i)
		}
		out[k] = b
	}
	return out, nil
}
