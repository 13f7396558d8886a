package audit

import (
	"fmt"
	"math/bits"

	"golang.org/x/mod/sumdb/tlog"
)

// An edge is the right edge of a tree of size records: the stored hashes of
// its maximal complete subtrees (at most 64), which is all it takes to
// append to the tree, compute its root, and prove the inclusion of records
// appended after it. Writers keep one in memory, so that committing a batch
// reads nothing from storage.
type edge struct {
	size   int64
	hashes map[int64]tlog.Hash // stored hash index → hash
}

// peakIndexes returns the stored hash indexes of the maximal complete
// subtrees of a tree of size n, left to right.
func peakIndexes(n int64) []int64 {
	var idx []int64
	var lo int64
	for lo < n {
		// The largest power of two not above n-lo that lo is aligned to is
		// simply the largest not above n-lo, since lo is a sum of larger
		// powers of two.
		level := 63 - bits.LeadingZeros64(uint64(n-lo))
		idx = append(idx, tlog.StoredHashIndex(level, lo>>level))
		lo += 1 << level
	}
	return idx
}

// loadEdge reads the edge of a tree of size n from r.
func loadEdge(n int64, r tlog.HashReader) (*edge, error) {
	idx := peakIndexes(n)
	hs, err := r.ReadHashes(idx)
	if err != nil {
		return nil, err
	}
	if len(hs) != len(idx) {
		return nil, fmt.Errorf("audit: read %d of %d tree hashes", len(hs), len(idx))
	}
	e := &edge{size: n, hashes: make(map[int64]tlog.Hash, len(idx))}
	for i, x := range idx {
		e.hashes[x] = hs[i]
	}
	return e, nil
}

// overlay extends an edge with the hashes of records appended to it. It
// serves tlog everything needed to append, compute the new root and prove
// the inclusion of the new records.
type overlay struct {
	base  *edge
	size  int64
	added map[int64]tlog.Hash
	order []indexedHash // added, in index order, for storage
}

type indexedHash struct {
	Index int64
	Hash  tlog.Hash
}

func newOverlay(base *edge) *overlay {
	return &overlay{base: base, size: base.size, added: make(map[int64]tlog.Hash)}
}

func (o *overlay) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := o.added[x]
		if !ok {
			if h, ok = o.base.hashes[x]; !ok {
				level, n := tlog.SplitStoredHashIndex(x)
				return nil, fmt.Errorf("audit: tree hash (level %d, node %d) is not on the right edge of the tree of size %d", level, n, o.base.size)
			}
		}
		out[i] = h
	}
	return out, nil
}

// append adds a record with the given leaf hash.
func (o *overlay) append(leaf tlog.Hash) error {
	hs, err := tlog.StoredHashesForRecordHash(o.size, leaf, o)
	if err != nil {
		return err
	}
	first := tlog.StoredHashIndex(0, o.size)
	for i, h := range hs {
		o.added[first+int64(i)] = h
		o.order = append(o.order, indexedHash{first + int64(i), h})
	}
	o.size++
	return nil
}

// edge returns the right edge of the extended tree.
func (o *overlay) edge() (*edge, error) { return loadEdge(o.size, o) }

// root returns the root hash of the extended tree.
func (o *overlay) root() (tlog.Hash, error) { return tlog.TreeHash(o.size, o) }
