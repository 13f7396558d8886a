package audit

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCheckpoint feeds arbitrary text to the checkpoint parser and to the
// signed-note verifier. Seeds signed with this run's key are added here;
// testdata/fuzz/FuzzCheckpoint holds malformed shapes.
func FuzzCheckpoint(f *testing.F) {
	k := newLogKey(f)
	s, _ := NewNoteSigner(origin, k.priv)
	signed, err := SignCheckpoint(Checkpoint{Origin: origin, Size: 12, Root: [32]byte{1, 2, 3}}, s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add(noteText(signed))
	f.Fuzz(func(t *testing.T, text string) {
		if c, err := ParseCheckpoint(text); err == nil {
			if c.Size < 0 || c.Origin == "" {
				t.Fatalf("parsed %+v", c)
			}
			// What parses re-formats to a prefix of the input.
			if !strings.HasPrefix(text, c.Text()) {
				t.Fatalf("%q parsed as %+v, which formats as %q", text, c, c.Text())
			}
		}
		if c, err := OpenCheckpoint(text, k.vkey); err == nil && c.Origin != origin {
			t.Fatalf("verified checkpoint of another origin: %+v", c)
		}
	})
}

// FuzzReceipt feeds arbitrary JSON to receipt verification: whatever it
// accepts must be an entry whose leaf is provably in a checkpoint signed by
// the log key.
func FuzzReceipt(f *testing.F) {
	k := newLogKey(f)
	st, err := OpenSQLite(filepath.Join(f.TempDir(), "a.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	l, err := Open(context.Background(), Options{Store: st, Origin: origin, Key: k.signer})
	if err != nil {
		f.Fatal(err)
	}
	rs, err := l.Append(context.Background(), testEntry(0), testEntry(1), testEntry(2))
	l.Close()
	if err != nil {
		f.Fatal(err)
	}
	for _, r := range rs {
		b, _ := json.Marshal(r)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Receipt
		if json.Unmarshal(b, &r) != nil {
			return
		}
		e, c, err := VerifyReceipt(&r, k.vkey)
		if err != nil {
			return
		}
		if e == nil || r.Index >= c.Size || c.Origin != origin {
			t.Fatalf("accepted receipt %s", b)
		}
	})
}

// FuzzEntry checks that whatever ParseEntry accepts survives a round trip.
func FuzzEntry(f *testing.F) {
	e := testEntry(3)
	b, _ := e.Marshal()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			return
		}
		out, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		e2, err := ParseEntry(out)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", out, err)
		}
		out2, _ := e2.Marshal()
		if string(out) != string(out2) {
			t.Fatalf("round trip changed %s to %s", out, out2)
		}
	})
}
