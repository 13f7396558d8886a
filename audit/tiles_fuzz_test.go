package audit

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// FuzzTilePath feeds arbitrary paths to the tile path parser: whatever it
// accepts must be the one canonical spelling of its tile.
func FuzzTilePath(f *testing.F) {
	f.Add("tile/0/x001/234")
	f.Add("tile/entries/000.p/7")
	f.Fuzz(func(t *testing.T, p string) {
		tr, err := ParseTilePath(p)
		if err != nil {
			return
		}
		if tr.Width < 1 || tr.Width > tileWidth || tr.N < 0 || tr.Level < 0 || tr.Level > maxTileLevel {
			t.Fatalf("%q parsed as %+v", p, tr)
		}
		if got := tr.Path(); got != p {
			t.Fatalf("%q parsed as %+v, whose path is %q", p, tr, got)
		}
	})
}

// FuzzCommitRecord feeds arbitrary bytes to the commit journal's record
// parser: whatever it accepts re-encodes to the same bytes (for records of
// at most one manifest, whose order is fixed).
func FuzzCommitRecord(f *testing.F) {
	r := &commitRecord{Size: 300, Last: time.Unix(1_800_000_000, 5).UTC(), Signed: time.Unix(1_800_000_001, 0).UTC(), Keep: true,
		Note: "origin\n300\nAAAA\n\n— origin sig\n", Manifests: map[string][]byte{"sha256:00": []byte("manifest")}}
	b, err := r.encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := decodeCommitRecord(b)
		if err != nil {
			return
		}
		if n > len(b) || r.Size < 0 {
			t.Fatalf("record of %d bytes from %d: %+v", n, len(b), r)
		}
		if len(r.Manifests) <= 1 {
			again, err := r.encode()
			if err != nil || !bytes.Equal(again, b[:n]) {
				t.Fatalf("record %+v re-encodes differently: %v", r, err)
			}
		}
	})
}

// FuzzBundle feeds arbitrary bytes to the entry bundle parser: whatever
// it accepts is at most 256 entries that re-encode to the same bytes.
func FuzzBundle(f *testing.F) {
	var b []byte
	for _, e := range []string{`{"a":1}`, "", "xyz"} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(e)))
		b = append(b, e...)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := ParseBundle(b)
		if err != nil {
			return
		}
		if len(es) > tileWidth {
			t.Fatalf("%d entries in a bundle", len(es))
		}
		var again []byte
		for _, e := range es {
			again = binary.BigEndian.AppendUint16(again, uint16(len(e)))
			again = append(again, e...)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("bundle re-encodes differently")
		}
		if n, err := bundlePrefix(b, len(es)); len(es) > 0 && (err != nil || n != len(b)) {
			t.Fatalf("prefix of %d entries: %d, %v", len(es), n, err)
		}
	})
}
