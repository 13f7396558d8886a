package audit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sys/unix"
)

// TileStore is the Store of the embedded default: the log of record is a
// directory of append-only files laid out per C2SP tlog-tiles (see
// tiles.go), and everything a search needs lives in a derived SQLite
// index beside it that is rebuilt from the log whenever it is missing.
//
//	DIR/tile/entries/<N>   entry bundles, 256 entries each
//	DIR/tile/<L>/<N>       hash tiles, 256 hashes each
//	DIR/commits            the commit journal (journal.go)
//	DIR/checkpoint         the latest signed checkpoint, for static serving
//	DIR/index/             the derived search index (SQLite)
//	DIR/lock               held (flock) by the one process that writes
//
// Files are named by their full tile's path and grow by appending until
// full; a partial tile of width W is the first W hashes or entries of its
// file. A commit writes each file it touches once (the current entry
// bundle, the level-0 hash tile and the higher ones a complete subtree
// reaches, the journal record) with pwrite at offsets it knows, syncs them
// all at once (fdatasync, concurrently, so the commit waits for about one
// disk flush), and only then acknowledges: no database, no per-entry work
// beyond copying bytes. The commit's journal record is what makes it part
// of the log: on open, the last record whose entries and hashes the files
// hold — their leaf hashes match and the tree's root is the checkpoint's —
// is the head, and any bytes past it (a commit cut short by a crash or a
// full disk, never acknowledged) are cut off.
type TileStore struct {
	dir      string
	readOnly bool
	lock     *os.File

	wmu    sync.Mutex // one commit at a time
	closed bool

	mu         sync.RWMutex
	size       int64
	last       time.Time
	head       string
	journalLen int64
	bundleLen  int64         // bytes of the rightmost entry bundle
	broken     *dirty        // bytes past the durable state, to cut before writing again
	recent     []StoredEntry // the search columns of the latest entries, for the index
	damage     []string      // what a read-only open found wrong, for Verify

	files map[string]*os.File // files the writer keeps open (the rightmost tiles, the journal)

	cmu   sync.Mutex
	cache map[string][]byte // full tiles and bundles, which never change

	ixMu sync.Mutex
	ix   *SQLStore
}

// maxTorn bounds the entries past the last commit record that opening a
// log cuts: a commit cut short holds at most a batch (4096 entries by
// default). More means the journal lost records, and cutting would destroy
// entries that were acknowledged.
const maxTorn = 1 << 16

var errDamaged = errors.New("audit: the log is damaged")

// maxRecent bounds the search columns kept for the index (about 10 MB);
// past it, the index parses the entries from the bundles.
const maxRecent = 20000

// dirty lists what a failed commit may have written.
type dirty struct {
	err   error
	files []dirtyFile
}

type dirtyFile struct {
	path    string
	length  int64 // its durable length
	created bool
}

// OpenTiles opens (creating if needed) the tile log in dir for writing. One
// process at a time may write a log; others open it with OpenTilesReadOnly.
func OpenTiles(dir string) (*TileStore, error) { return openTiles(dir, false) }

// OpenTilesReadOnly opens the tile log in dir as it is, for auditing: it
// takes no lock, cuts nothing, and sees the log as it was when opened.
func OpenTilesReadOnly(dir string) (*TileStore, error) { return openTiles(dir, true) }

// HasTiles reports whether dir holds a tile log.
func HasTiles(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "commits"))
	return err == nil
}

func openTiles(dir string, readOnly bool) (*TileStore, error) {
	s := &TileStore{dir: dir, readOnly: readOnly, files: map[string]*os.File{}, cache: map[string][]byte{}}
	if !readOnly {
		if err := os.MkdirAll(filepath.Join(dir, "tile"), 0o700); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		l, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		if err := unix.Flock(int(l.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			l.Close()
			return nil, fmt.Errorf("audit: the log in %s is open for writing by another process (%v); stop it first, or read it with 'signet audit verify --data'", dir, err)
		}
		s.lock = l
		f, err := os.OpenFile(filepath.Join(dir, "commits"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("audit: %w", err)
		}
		f.Close()
	} else if !HasTiles(dir) {
		return nil, fmt.Errorf("audit: no tile log in %s", dir)
	}
	if err := s.recover(); err != nil {
		s.Close()
		return nil, err
	}
	ix, err := openSQLite(filepath.Join(dir, "index", "search.db"), "NORMAL")
	if err != nil {
		s.Close()
		return nil, err
	}
	s.ix = ix
	return s, nil
}

// Dir returns the directory of the log.
func (s *TileStore) Dir() string { return s.dir }

func (s *TileStore) path(rel string) string { return filepath.Join(s.dir, filepath.FromSlash(rel)) }

// recover finds the head (the last commit record whose data the files
// hold) and, when writable, cuts everything past it.
func (s *TileStore) recover() error {
	f, err := os.Open(s.path("commits"))
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	j := &journalReader{r: f, end: st.Size()}
	// The records of the last two commits: only the last can be in doubt,
	// since a commit starts once the one before it is durable.
	type rec struct {
		r        *commitRecord
		off, end int64
	}
	var prev, last *rec
	for {
		r, off, err := j.next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, errTornRecord) {
			// A commit cut short leaves nothing valid after it; a record
			// damaged in the middle of the journal does.
			if at, ok := nextRecord(f, off+1, j.end); ok {
				msg := fmt.Sprintf("commit journal %s: the record at byte %d is damaged (%v), and a valid one follows at byte %d: the journal was edited", s.path("commits"), off, err, at)
				if !s.readOnly {
					return fmt.Errorf("audit: %s; run 'signet audit verify --data' and restore the log from a backup", msg)
				}
				s.damage = append(s.damage, msg)
			}
			break
		}
		if err != nil {
			return fmt.Errorf("audit: reading %s: %w", s.path("commits"), err)
		}
		if last != nil && r.Size < last.r.Size {
			msg := fmt.Sprintf("commit journal %s: the record at byte %d has size %d, below the %d before it: records were reordered or edited", s.path("commits"), off, r.Size, last.r.Size)
			if !s.readOnly {
				return fmt.Errorf("audit: %s; run 'signet audit verify --data'", msg)
			}
			s.damage = append(s.damage, msg)
			break
		}
		prev, last = last, &rec{r, off, j.off}
	}
	head := &rec{r: &commitRecord{}}
	prevSize := int64(0)
	if prev != nil {
		prevSize = prev.r.Size
	}
	switch {
	case last == nil:
	case s.holds(last.r, prevSize) == nil:
		head = last
	default:
		// The last commit did not reach the disk whole: it was never
		// acknowledged.
		cause := s.holds(last.r, prevSize)
		if prev != nil {
			if err := s.holds(prev.r, prev.r.Size-1); err != nil {
				return fmt.Errorf("audit: the log in %s is damaged, not just cut short (%v, and before it %v): run 'signet audit verify --data'", s.dir, cause, err)
			}
			head = prev
		}
	}
	s.size, s.last, s.head, s.journalLen = head.r.Size, head.r.Last, head.r.Note, head.end
	if s.bundleLen, err = s.bundleBytes(s.size); err != nil && s.size%tileWidth != 0 {
		return fmt.Errorf("audit: %w", err)
	}
	if s.readOnly {
		far := TileRef{N: (s.size+maxTorn)/tileWidth + 1, Width: tileWidth, Entries: true}.Path()
		if _, err := os.Stat(s.path(far)); err == nil {
			s.damage = append(s.damage, fmt.Sprintf("%s exists, far past the last commit record (%d entries): the commit journal was cut or edited", far, s.size))
		}
		return nil
	}
	// Cut whatever lies past the head: bytes of a commit cut short.
	if err := s.cut(); err != nil {
		return fmt.Errorf("audit: cutting the log in %s back to its last durable commit (%d entries): %w", s.dir, s.size, err)
	}
	return s.writeCheckpointFile()
}

// holds checks that the files hold commit r, whose commit started at size
// from: its entries, their leaf hashes, the hashes of every level, and, if
// it was signed, a tree whose root is its checkpoint's.
func (s *TileStore) holds(r *commitRecord, from int64) error {
	n := r.Size
	if n == 0 {
		return nil
	}
	from = min(from, n)
	if from == n {
		from = n - 1 // check at least the last entry
	}
	data, err := s.entries(from, n)
	if err != nil {
		return err
	}
	hs, err := s.ReadHashes(leafIndexes(from, n))
	if err != nil {
		return err
	}
	for i, b := range data {
		if tlog.RecordHash(b) != hs[i] {
			return fmt.Errorf("entry %d does not match its leaf hash in %s", from+int64(i), TileRef{N: (from + int64(i)) / tileWidth, Width: tileWidth}.Path())
		}
	}
	root, err := tlog.TreeHash(n, s)
	if err != nil {
		return err
	}
	if r.Note != "" {
		c, err := ParseUnverified(r.Note)
		if err != nil {
			return fmt.Errorf("checkpoint of size %d: %w", n, err)
		}
		if c.Size != n || c.Root != root {
			return fmt.Errorf("the tiles' tree of %d entries does not have the root of the checkpoint of that size", n)
		}
	}
	return nil
}

func leafIndexes(from, to int64) []int64 {
	out := make([]int64, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, tlog.StoredHashIndex(0, i))
	}
	return out
}

// bundleBytes returns the length in bytes of the first size%256 entries
// of the bundle holding entry size.
func (s *TileStore) bundleBytes(size int64) (int64, error) {
	k := int(size % tileWidth)
	if k == 0 {
		return 0, nil
	}
	b, err := os.ReadFile(s.path(TileRef{N: size / tileWidth, Width: tileWidth, Entries: true}.Path()))
	if err != nil {
		return 0, err
	}
	off := 0
	for range k {
		if off+2 > len(b) {
			return 0, fmt.Errorf("entry bundle %d: cut short", size/tileWidth)
		}
		off += 2 + int(binary.BigEndian.Uint16(b[off:]))
	}
	if off > len(b) {
		return 0, fmt.Errorf("entry bundle %d: cut short", size/tileWidth)
	}
	return int64(off), nil
}

// cut truncates every file to the log's size and removes the files past
// it, then syncs them.
func (s *TileStore) cut() error {
	type file struct {
		rel    string
		length int64
	}
	var keep []file
	var remove []string
	n := s.size / tileWidth
	keep = append(keep, file{TileRef{N: n, Width: tileWidth, Entries: true}.Path(), s.bundleLen})
	for m := n + 1; ; m++ {
		rel := TileRef{N: m, Width: tileWidth, Entries: true}.Path()
		if _, err := os.Stat(s.path(rel)); err != nil {
			break
		}
		if (m-n)*tileWidth > maxTorn {
			return fmt.Errorf("%w: entry bundles go on to %s and beyond, more than one commit past the last commit record (%d entries): the commit journal was cut or edited; run 'signet audit verify --data'", errDamaged, rel, s.size)
		}
		remove = append(remove, rel)
	}
	for level := 0; level < maxTileLevel; level++ {
		count := s.size >> (TileHeight * level)
		t := TileRef{Level: level, N: count / tileWidth, Width: tileWidth}
		keep = append(keep, file{t.Path(), count % tileWidth * tlog.HashSize})
		for m := t.N + 1; ; m++ {
			rel := TileRef{Level: level, N: m, Width: tileWidth}.Path()
			if _, err := os.Stat(s.path(rel)); err != nil {
				break
			}
			remove = append(remove, rel)
		}
	}
	keep = append(keep, file{"commits", s.journalLen})
	for _, f := range keep {
		p := s.path(f.rel)
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if st.Size() == f.length {
			continue
		}
		if st.Size() < f.length {
			return fmt.Errorf("%s is %d bytes, shorter than the %d its commits wrote", f.rel, st.Size(), f.length)
		}
		if f.length == 0 && f.rel != "commits" {
			remove = append(remove, f.rel)
			continue
		}
		if err := truncateSync(p, f.length); err != nil {
			return err
		}
	}
	for _, rel := range remove {
		if err := os.Remove(s.path(rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := syncDir(filepath.Dir(s.path(rel))); err != nil {
			return err
		}
	}
	return nil
}

func truncateSync(p string, n int64) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(n); err != nil {
		return err
	}
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeCheckpointFile writes the head's checkpoint to DIR/checkpoint, for
// a static web server. It is a copy: the journal is the record, so it is
// replaced atomically but not synced, and not by each commit (a rename over
// a file flushes the new one on ext4, which cost a commit as much as its
// own sync): on open, on close and by the background index pass, so that
// it lags the head by about a second.
func (s *TileStore) writeCheckpointFile() error {
	s.mu.RLock()
	note := s.head
	s.mu.RUnlock()
	if note == "" {
		return nil
	}
	tmp := s.path("checkpoint.tmp")
	if err := os.WriteFile(tmp, []byte(note), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.path("checkpoint"))
}

func (s *TileStore) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if !s.readOnly {
		errs = append(errs, s.writeCheckpointFile())
	}
	for _, f := range s.files {
		errs = append(errs, f.Close())
	}
	s.files = nil
	if s.ix != nil {
		errs = append(errs, s.ix.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}

// Head returns the latest checkpoint and the log's size.
func (s *TileStore) Head(ctx context.Context) (string, int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.head, s.size, nil
}

// Size returns the log's size and the time of its latest entry.
func (s *TileStore) headState() (int64, time.Time, int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.size, s.last, s.journalLen
}

// Hashes returns a reader of the tree's stored hashes, computed from the
// hash tiles.
func (s *TileStore) Hashes(ctx context.Context) tlog.HashReader { return s }

// ReadHashes reads stored hashes from the hash tiles: each from the
// narrowest tile holding it, as tlog.HashFromTile recomputes the levels a
// tile does not store.
func (s *TileStore) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for k, i := range indexes {
		t := tlog.TileForIndex(TileHeight, i)
		data, err := s.tileData(TileRef{Level: t.L, N: t.N, Width: t.W})
		if err != nil {
			return nil, err
		}
		if out[k], err = tlog.HashFromTile(t, data, i); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// tileData returns the first t.Width hashes of hash tile t.N of level
// t.Level, or the first t.Width entries' bytes of an entry bundle.
func (s *TileStore) tileData(t TileRef) ([]byte, error) {
	full := TileRef{Level: t.Level, N: t.N, Width: tileWidth, Entries: t.Entries}
	rel := full.Path()
	s.cmu.Lock()
	b, ok := s.cache[rel]
	s.cmu.Unlock()
	if !ok {
		var err error
		if b, err = os.ReadFile(s.path(rel)); err != nil {
			return nil, fmt.Errorf("audit: reading %s: %w", rel, err)
		}
		if !t.Entries && len(b) == tileWidth*tlog.HashSize || t.Entries && countBundle(b) == tileWidth {
			s.cmu.Lock()
			if len(s.cache) >= 512 {
				clear(s.cache)
			}
			s.cache[rel] = b
			s.cmu.Unlock()
		}
	}
	if t.Entries {
		end, err := bundlePrefix(b, t.Width)
		if err != nil {
			return nil, fmt.Errorf("audit: %s: %w", rel, err)
		}
		return b[:end], nil
	}
	if len(b) < t.Width*tlog.HashSize {
		return nil, fmt.Errorf("audit: %s holds %d hashes, fewer than the %d of the tree", rel, len(b)/tlog.HashSize, t.Width)
	}
	return b[:t.Width*tlog.HashSize], nil
}

// countBundle returns how many whole entries b holds.
func countBundle(b []byte) int {
	n := 0
	for off := 0; off+2 <= len(b); n++ {
		off += 2 + int(binary.BigEndian.Uint16(b[off:]))
		if off > len(b) {
			return n
		}
	}
	return n
}

// bundlePrefix returns the length of the first w entries of bundle b.
func bundlePrefix(b []byte, w int) (int, error) {
	off := 0
	for i := range w {
		if off+2 > len(b) {
			return 0, fmt.Errorf("holds %d entries, fewer than the %d of the tree", i, w)
		}
		off += 2 + int(binary.BigEndian.Uint16(b[off:]))
		if off > len(b) {
			return 0, fmt.Errorf("entry %d cut short", i)
		}
	}
	return off, nil
}

// ParseBundle splits an entry bundle into its entries.
func ParseBundle(b []byte) ([][]byte, error) {
	var out [][]byte
	for off := 0; off < len(b); {
		if off+2 > len(b) || len(out) == tileWidth {
			return nil, fmt.Errorf("entry bundle: bytes after entry %d are not an entry", len(out))
		}
		n := int(binary.BigEndian.Uint16(b[off:]))
		if off+2+n > len(b) {
			return nil, fmt.Errorf("entry bundle: entry %d cut short", len(out))
		}
		out = append(out, b[off+2:off+2+n:off+2+n])
		off += 2 + n
	}
	return out, nil
}

// Entries returns the bytes of entries [start, end).
func (s *TileStore) Entries(ctx context.Context, start, end int64) ([][]byte, error) {
	size, _, _ := s.headState()
	if start < 0 || end > size || start > end {
		return nil, fmt.Errorf("%w: entries %d to %d of a log of %d", ErrNotFound, start, end, size)
	}
	return s.entries(start, end)
}

// entries reads entries [start, end) from the bundles.
func (s *TileStore) entries(start, end int64) ([][]byte, error) {
	out := make([][]byte, 0, end-start)
	for n := start / tileWidth; n*tileWidth < end; n++ {
		w := int(min(end-n*tileWidth, tileWidth))
		b, err := s.tileData(TileRef{N: n, Width: w, Entries: true})
		if err != nil {
			return nil, err
		}
		es, err := ParseBundle(b)
		if err != nil {
			return nil, fmt.Errorf("audit: %s: %w", TileRef{N: n, Width: w, Entries: true}.Path(), err)
		}
		lo := max(start-n*tileWidth, 0)
		out = append(out, es[lo:]...)
	}
	return out, nil
}

// EntriesAt returns the bytes of the entries at indexes.
func (s *TileStore) EntriesAt(ctx context.Context, indexes []int64) ([][]byte, error) {
	size, _, _ := s.headState()
	out := make([][]byte, len(indexes))
	bundles := map[int64][][]byte{}
	for k, i := range indexes {
		if i < 0 || i >= size {
			return nil, fmt.Errorf("%w: entry %d of a log of %d", ErrNotFound, i, size)
		}
		n := i / tileWidth
		es, ok := bundles[n]
		if !ok {
			var err error
			if es, err = s.entries(n*tileWidth, min(size, (n+1)*tileWidth)); err != nil {
				return nil, err
			}
			bundles[n] = es
		}
		out[k] = es[i-n*tileWidth]
	}
	return out, nil
}

// Tile returns the bytes of the tile named by t, as the read API serves
// them, if the log of size entries holds it: a partial tile only when the
// tree's size ends in it.
func (s *TileStore) Tile(ctx context.Context, t TileRef) ([]byte, error) {
	size, _, _ := s.headState()
	level := t.Level
	if t.Entries {
		level = 0
	}
	// The first W hashes or entries of a tile never change, so any
	// prefix of what the tree holds may be served (and cached for good).
	if t.Width > tileWidthAt(level, t.N, size) {
		return nil, fmt.Errorf("%w: %s is not in the log of %d entries", ErrNotFound, t.Path(), size)
	}
	return s.tileData(t)
}

// Append commits one batch: see TileStore.
func (s *TileStore) Append(ctx context.Context, build func(int64, time.Time, tlog.HashReader) (*Batch, error)) error {
	if s.readOnly {
		return errors.New("audit: the log was opened read-only")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.repair(); err != nil {
		return err
	}
	size, last, jlen := s.headState()
	b, err := build(size, last, s)
	if err != nil {
		return err
	}
	if b.Size != size+int64(len(b.Entries)) {
		return fmt.Errorf("audit: a batch of %d entries from %d claims size %d", len(b.Entries), size, b.Size)
	}
	w := &tileWrite{s: s, bufs: map[string]*pendingWrite{}}
	bundleLen := s.bundleLen
	for k, e := range b.Entries {
		if e.Index != size+int64(k) {
			return fmt.Errorf("audit: entry %d of a batch from %d has index %d", k, size, e.Index)
		}
		if len(e.Data) > 0xffff {
			return fmt.Errorf("audit: entry %d is %d bytes; a tile log takes at most 65535", e.Index, len(e.Data))
		}
		if e.Index%tileWidth == 0 {
			bundleLen = 0
		}
		rel := TileRef{N: e.Index / tileWidth, Width: tileWidth, Entries: true}.Path()
		p := w.at(rel, bundleLen)
		p.data = binary.BigEndian.AppendUint16(p.data, uint16(len(e.Data)))
		p.data = append(p.data, e.Data...)
		p.full = e.Index%tileWidth == tileWidth-1
		bundleLen += 2 + int64(len(e.Data))
	}
	for _, h := range b.Hashes {
		level, n := tlog.SplitStoredHashIndex(h.Index)
		if level%TileHeight != 0 {
			continue // recomputed from the tile below
		}
		rel := TileRef{Level: level / TileHeight, N: n / tileWidth, Width: tileWidth}.Path()
		p := w.at(rel, n%tileWidth*tlog.HashSize)
		if p.off+int64(len(p.data)) != n%tileWidth*tlog.HashSize {
			return fmt.Errorf("audit: hash %d of level %d out of order", n, level)
		}
		p.data = append(p.data, h.Hash[:]...)
		p.full = n%tileWidth == tileWidth-1
	}
	rec := &commitRecord{Size: b.Size, Last: b.LastTime, Manifests: b.Manifests}
	if b.LastTime.IsZero() {
		rec.Last = last
	}
	head := ""
	if c := b.Checkpoint; c != nil {
		rec.Note, rec.Keep, rec.Signed = c.Signed, b.KeepCheckpoint, c.Time
		head = c.Signed
	}
	rb, err := rec.encode()
	if err != nil {
		return err
	}
	w.at("commits", jlen).data = rb
	if err := w.commit(); err != nil {
		s.mu.Lock()
		s.broken = &dirty{err: err, files: w.undo}
		s.mu.Unlock()
		return err
	}
	// Full tiles will not be written again.
	for rel := range w.bufs {
		if rel != "commits" && w.bufs[rel].full {
			if f := s.files[rel]; f != nil {
				f.Close()
				delete(s.files, rel)
			}
		}
	}
	s.mu.Lock()
	s.size, s.last, s.journalLen, s.bundleLen = b.Size, rec.Last, jlen+int64(len(rb)), bundleLen
	if head != "" {
		s.head = head
	}
	// The index copies these columns rather than parse the entries again.
	if len(s.recent) < maxRecent {
		s.recent = append(s.recent, b.Entries...)
	}
	s.mu.Unlock()
	return nil
}

// A tileWrite is the writes of one commit, one per file.
type tileWrite struct {
	s     *TileStore
	bufs  map[string]*pendingWrite
	order []string
	undo  []dirtyFile
}

type pendingWrite struct {
	off  int64
	data []byte
	full bool
}

func (w *tileWrite) at(rel string, off int64) *pendingWrite {
	p, ok := w.bufs[rel]
	if !ok {
		p = &pendingWrite{off: off}
		w.bufs[rel] = p
		w.order = append(w.order, rel)
	}
	return p
}

// commit writes every buffer to its file and syncs them all, concurrently.
func (w *tileWrite) commit() error {
	if len(w.s.files) > 32 { // left open by commits that failed
		for k, g := range w.s.files {
			if k != "commits" {
				g.Close()
				delete(w.s.files, k)
			}
		}
	}
	var dirs []string
	files := make([]*os.File, 0, len(w.order))
	for _, rel := range w.order {
		p := w.bufs[rel]
		f, created, err := w.s.open(rel, &dirs)
		if err != nil {
			return err
		}
		w.undo = append(w.undo, dirtyFile{path: w.s.path(rel), length: p.off, created: created})
		if _, err := f.WriteAt(p.data, p.off); err != nil {
			return fmt.Errorf("writing %s: %w", rel, err)
		}
		files = append(files, f)
	}
	errs := make([]error, len(files)+len(dirs))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() {
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				errs[i] = fmt.Errorf("syncing %s: %w", f.Name(), err)
			}
		})
	}
	for i, d := range dirs {
		wg.Go(func() { errs[len(files)+i] = syncDir(d) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// open returns the writer's handle on rel, creating the file (and its
// directories, listed in dirs for syncing) if needed.
func (s *TileStore) open(rel string, dirs *[]string) (*os.File, bool, error) {
	if f := s.files[rel]; f != nil {
		return f, false, nil
	}
	p := s.path(rel)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	created := false
	if errors.Is(err, fs.ErrNotExist) {
		created = true
		dir := filepath.Dir(p)
		if _, serr := os.Stat(dir); serr != nil {
			// The directories made must be in their parents durably too.
			top := dir
			for {
				if _, err := os.Stat(filepath.Dir(top)); err == nil {
					break
				}
				top = filepath.Dir(top)
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, false, err
			}
			for d := dir; ; d = filepath.Dir(d) {
				*dirs = append(*dirs, filepath.Dir(d))
				if d == top {
					break
				}
			}
		}
		if !slices.Contains(*dirs, dir) {
			*dirs = append(*dirs, dir)
		}
		f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o600)
	}
	if err != nil {
		return nil, false, err
	}
	s.files[rel] = f
	return f, created, nil
}

// repair cuts what a failed commit may have written, so that the next
// commit starts from the durable state.
func (s *TileStore) repair() error {
	s.mu.Lock()
	d := s.broken
	s.mu.Unlock()
	if d == nil {
		return nil
	}
	for rel, f := range s.files {
		f.Close()
		delete(s.files, rel)
	}
	for _, f := range d.files {
		var err error
		if f.created && f.length == 0 {
			err = os.Remove(f.path)
			if errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
		} else {
			err = truncateSync(f.path, f.length)
		}
		if err != nil {
			return fmt.Errorf("audit: a commit failed (%v), and cutting it back failed too: %w", d.err, err)
		}
	}
	s.mu.Lock()
	s.broken = nil
	s.mu.Unlock()
	return nil
}

// Ping proves the log's disk takes a durable write, cutting back a failed
// commit first.
func (s *TileStore) Ping(ctx context.Context) error {
	if s.readOnly {
		return errors.New("audit: the log was opened read-only")
	}
	// The writer's lock only to cut a failed commit: readiness probes
	// must not hold commits up for the length of their own sync.
	s.mu.RLock()
	broken := s.broken != nil
	s.mu.RUnlock()
	if broken {
		s.wmu.Lock()
		err := s.repair()
		s.wmu.Unlock()
		if err != nil {
			return err
		}
	}
	f, err := os.CreateTemp(s.dir, "ping.tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	// A page, as a commit writes: a disk with a few bytes left is full.
	if _, err := f.Write(make([]byte, 4096)); err != nil {
		return err
	}
	return f.Sync()
}

// nextRecord reports whether a valid commit record starts anywhere in
// [from, end) of the journal, and where.
func nextRecord(f io.ReaderAt, from, end int64) (int64, bool) {
	if from >= end {
		return 0, false
	}
	b := make([]byte, end-from)
	if _, err := f.ReadAt(b, from); err != nil && !errors.Is(err, io.EOF) {
		return 0, false
	}
	for i := 0; ; {
		k := bytes.Index(b[i:], []byte(journalMagic))
		if k < 0 {
			return 0, false
		}
		if _, _, err := decodeCommitRecord(b[i+k:]); err == nil {
			return from + int64(i+k), true
		}
		i += k + 1
	}
}

// Problems returns what opening the log read-only found wrong with it
// (for Verify): a damaged journal, a checkpoint file that does not belong.
func (s *TileStore) Problems() []string { return s.damage }

// checkpointFile returns the checkpoint in DIR/checkpoint, if any.
func (s *TileStore) checkpointFile() (string, bool) {
	b, err := os.ReadFile(s.path("checkpoint"))
	if err != nil {
		return "", false
	}
	return string(b), true
}

// tileOf names the files that hold stored hash (level, n): the hash tile,
// and for a leaf the entry bundle.
func (s *TileStore) tileOf(level int, n int64) string {
	t := tlog.TileForIndex(TileHeight, tlog.StoredHashIndex(level, n))
	where := TileRef{Level: t.L, N: t.N, Width: tileWidth}.Path()
	if level == 0 {
		where = TileRef{N: n / tileWidth, Width: tileWidth, Entries: true}.Path() + " or " + where
	}
	return where
}

// keepOrigin stores origin as the log's (DIR/origin) unless one is
// stored, and returns the one stored (see DefaultOrigin).
func (s *TileStore) keepOrigin(ctx context.Context, origin string) (string, error) {
	if b, err := os.ReadFile(s.path("origin")); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if s.readOnly {
		return "", errors.New("audit: the log was opened read-only")
	}
	// Written aside, then linked into place: the first to link wins,
	// and every other reads back what it stored.
	f, err := os.CreateTemp(s.dir, "origin.tmp*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.WriteString(origin + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	if err := os.Link(tmp, s.path("origin")); errors.Is(err, fs.ErrExist) {
		b, err := os.ReadFile(s.path("origin"))
		return strings.TrimSpace(string(b)), err
	} else if err != nil {
		return "", err
	}
	return origin, syncDir(s.dir)
}
