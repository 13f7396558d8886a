package audit

import (
	"fmt"
	"strconv"
	"strings"
)

// Tiles: the C2SP tlog-tiles layout of the log.
//
// The Merkle tree is cut into tiles of height 8: a tile at level L holds up
// to 256 consecutive hashes of tree level 8·L, the hashes of complete
// subtrees of 256^L entries; the levels in between are recomputed by
// whoever reads the tile. Entries themselves come in bundles of 256, each
// entry a big-endian uint16 length followed by its bytes. Paths are
//
//	tile/<L>/<N>[.p/<W>]           hash tile N of level L
//	tile/entries/<N>[.p/<W>]       entry bundle N
//	checkpoint                     the latest signed checkpoint
//
// where N is written in groups of three decimal digits, all but the last
// prefixed with "x" (1234067 is x001/x234/067), and ".p/<W>" names a
// partial tile of W (1–255) hashes or entries, the prefix of the full tile
// that the tree's size allows. A full tile never changes once written; a
// partial one is the prefix of the full one it becomes.

// TileHeight is the height of the log's tiles: 256 hashes or entries each.
const TileHeight = 8

// tileWidth is the number of hashes or entries in a full tile.
const tileWidth = 1 << TileHeight

// A TileRef names a tile of the log: hash tile N of level Level, or entry
// bundle N when Entries is set, of Width hashes or entries (tileWidth for
// a full tile).
type TileRef struct {
	Level   int
	N       int64
	Width   int
	Entries bool
}

// Partial reports whether t is a partial tile.
func (t TileRef) Partial() bool { return t.Width < tileWidth }

// Path returns t's path per C2SP tlog-tiles, relative to the log's root.
func (t TileRef) Path() string {
	var b strings.Builder
	b.WriteString("tile/")
	if t.Entries {
		b.WriteString("entries")
	} else {
		b.WriteString(strconv.Itoa(t.Level))
	}
	b.WriteByte('/')
	b.WriteString(encodeTileIndex(t.N))
	if t.Partial() {
		b.WriteString(".p/")
		b.WriteString(strconv.Itoa(t.Width))
	}
	return b.String()
}

// encodeTileIndex writes n as zero-padded groups of three digits, all but
// the last prefixed with "x".
func encodeTileIndex(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

// maxTileLevel bounds the level of a hash tile: 8 levels of 8 bits cover
// every index an int64 holds.
const maxTileLevel = 8

// ParseTilePath parses a tile path per C2SP tlog-tiles ("tile/0/x001/234",
// "tile/entries/000.p/7"). It accepts only the one canonical spelling of
// each tile, so that one tile never has two URLs.
func ParseTilePath(p string) (TileRef, error) {
	bad := func(why string) (TileRef, error) {
		return TileRef{}, fmt.Errorf("tile path %.80q: %s", p, why)
	}
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return bad("does not start with tile/")
	}
	kind, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return bad("no tile index")
	}
	var t TileRef
	if kind == "entries" {
		t.Entries = true
	} else {
		l, err := strconv.Atoi(kind)
		if err != nil || l < 0 || l > maxTileLevel || strconv.Itoa(l) != kind {
			return bad("level is not a decimal number from 0 to 8")
		}
		t.Level = l
	}
	t.Width = tileWidth
	if idx, w, ok := strings.Cut(rest, ".p/"); ok {
		n, err := strconv.Atoi(w)
		if err != nil || n < 1 || n >= tileWidth || strconv.Itoa(n) != w {
			return bad("partial width is not a decimal number from 1 to 255")
		}
		t.Width, rest = n, idx
	}
	groups := strings.Split(rest, "/")
	if len(groups) > 6 {
		return bad("tile index too large")
	}
	for i, g := range groups {
		last := i == len(groups)-1
		if !last {
			var ok bool
			if g, ok = strings.CutPrefix(g, "x"); !ok {
				return bad("a group of the tile index before the last lacks its x prefix")
			}
		}
		if len(g) != 3 || strings.Trim(g, "0123456789") != "" {
			return bad("tile index groups must be three decimal digits")
		}
		if i == 0 && g == "000" && !last {
			return bad("tile index has a leading zero group")
		}
		d, _ := strconv.Atoi(g)
		t.N = t.N*1000 + int64(d)
	}
	if t.N < 0 {
		return bad("tile index too large")
	}
	return t, nil
}

// tileWidthAt returns the width of tile n of level (hash level; -1 for
// entry bundles) in a tree of size entries: 0 if the tree does not reach
// it, tileWidth if it is full.
func tileWidthAt(level int, n, size int64) int {
	// Hashes of tree level 8·L stored in a tree of size entries.
	count := size
	if level > 0 {
		count = size >> (TileHeight * level)
	}
	if count <= n*tileWidth {
		return 0
	}
	return int(min(count-n*tileWidth, tileWidth))
}
