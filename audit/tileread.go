package audit

import (
	"context"
	"encoding/binary"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// ReadTile returns the bytes of tile t of s's tree of size entries, as
// C2SP tlog-tiles serves them: the 32-byte hashes of a hash tile, or the
// length-prefixed entries of an entry bundle. A tile log serves its files;
// a SQL store's tiles are made from its stored hashes and entries, so a
// fleet on PostgreSQL serves the same API. Any prefix of what the tree
// holds of a tile may be asked for (it never changes); ErrNotFound is
// returned for more.
func ReadTile(ctx context.Context, s Store, t TileRef, size int64) ([]byte, error) {
	level := t.Level
	if t.Entries {
		level = 0
	}
	if t.Width < 1 || t.Width > tileWidthAt(level, t.N, size) {
		return nil, fmt.Errorf("%w: %s is not in the log of %d entries", ErrNotFound, t.Path(), size)
	}
	if ts, ok := s.(*TileStore); ok {
		return ts.tileData(t)
	}
	if t.Entries {
		es, err := s.Entries(ctx, t.N*tileWidth, t.N*tileWidth+int64(t.Width))
		if err != nil {
			return nil, err
		}
		var b []byte
		for _, e := range es {
			if len(e) > 0xffff {
				return nil, fmt.Errorf("audit: entry of %d bytes does not fit an entry bundle", len(e))
			}
			b = binary.BigEndian.AppendUint16(b, uint16(len(e)))
			b = append(b, e...)
		}
		return b, nil
	}
	return tlog.ReadTileData(tlog.Tile{H: TileHeight, L: t.Level, N: t.N, W: t.Width}, s.Hashes(ctx))
}
