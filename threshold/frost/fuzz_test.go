package frost

import (
	"bytes"
	"testing"
)

// The decoders take bytes from other servers and from files; none may
// panic, and whatever they accept must re-encode to the same bytes (one
// encoding per value). Seeds live in testdata/fuzz/<FuzzName>/.

func FuzzParseSigningCommitment(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseSigningCommitment(b)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Bytes(), b) {
			t.Fatalf("accepted %x but re-encodes as %x", b, c.Bytes())
		}
	})
}

func FuzzParseSignatureShare(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSignatureShare(b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Bytes(), b) {
			t.Fatalf("accepted %x but re-encodes as %x", b, s.Bytes())
		}
	})
}

func FuzzParseGroupInfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseGroupInfo(b)
		if err != nil {
			return
		}
		if !bytes.Equal(g.Bytes(), b) {
			t.Fatalf("accepted %x but re-encodes as %x", b, g.Bytes())
		}
		for id := Identifier(1); int(id) <= g.MaxSigners; id++ {
			if _, err := g.VerifyingShare(id); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzParseKeyShare(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKeyShare(b)
		if err != nil {
			return
		}
		if !bytes.Equal(k.Bytes(), b) {
			t.Fatalf("accepted %x but re-encodes as %x", b, k.Bytes())
		}
		if err := k.VerifyShare(); err != nil {
			t.Fatalf("accepted a share that fails vss_verify: %v", err)
		}
	})
}

func FuzzParseNonceLog(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		used, keep, err := parseNonceLog(b)
		if err != nil {
			return
		}
		if keep > len(b) || bytes.IndexByte(b[keep:], '\n') >= 0 {
			t.Fatalf("kept %d of %d bytes, but a complete line lies beyond", keep, len(b))
		}
		// The kept prefix must read back to the same set with nothing torn.
		again, keep2, err := parseNonceLog(b[:keep])
		if err != nil || keep2 != keep || len(again) != len(used) {
			t.Fatalf("prefix re-read: %v, kept %d of %d, %d ids vs %d", err, keep2, keep, len(again), len(used))
		}
	})
}
