package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
)

// TestInclusionProofs checks the batched proofs against one-at-a-time
// ones and against the checkpoint, on both backends, for scattered and
// dense sets of entries, and that EntriesAt reads scattered entries.
func TestInclusionProofs(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			k := newLogKey(t)
			s, _ := b.open(t)
			l := openLog(t, s, k.signer)
			// Several commits of several sizes, so that proofs cross runs.
			for i := 0; i < 300; {
				n := 1 + i%37
				var batch []Entry
				for j := 0; j < n && i < 300; j++ {
					batch = append(batch, testEntry(i))
					i++
				}
				if _, err := l.Append(ctx, batch...); err != nil {
					t.Fatal(err)
				}
			}
			signed, size, err := s.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cp, err := OpenCheckpoint(signed, k.vkey)
			if err != nil {
				t.Fatal(err)
			}
			r := mrand.New(mrand.NewPCG(1, 2))
			sets := [][]int64{{0}, {size - 1}, {}}
			var scattered, all []int64
			for i := int64(0); i < size; i++ {
				all = append(all, i)
				if r.IntN(9) == 0 {
					scattered = append(scattered, i)
				}
			}
			sets = append(sets, scattered, all, []int64{size - 1, 3, 3, 0})
			for _, set := range sets {
				proofs, err := InclusionProofs(ctx, s, set, size)
				if err != nil {
					t.Fatal(err)
				}
				data, err := s.(entriesAtReader).EntriesAt(ctx, set)
				if err != nil {
					t.Fatal(err)
				}
				for k, i := range set {
					one, err := InclusionProof(ctx, s, i, size)
					if err != nil {
						t.Fatal(err)
					}
					if fmt.Sprint(one) != fmt.Sprint(proofs[k]) {
						t.Fatalf("entry %d: batched proof differs", i)
					}
					want, _ := s.Entries(ctx, i, i+1)
					if !bytes.Equal(data[k], want[0]) {
						t.Fatalf("EntriesAt read another entry for %d", i)
					}
					if err := VerifyInclusion(cp, i, data[k], proofs[k]); err != nil {
						t.Fatalf("entry %d: %v", i, err)
					}
					if i > 0 && VerifyInclusion(cp, i-1, data[k], proofs[k]) == nil {
						t.Fatalf("entry %d's proof verifies at %d", i, i-1)
					}
				}
			}
			if _, err := InclusionProofs(ctx, s, []int64{size}, size); err == nil {
				t.Error("a proof beyond the tree")
			}
			if _, err := s.(entriesAtReader).EntriesAt(ctx, []int64{size + 5}); err == nil {
				t.Error("EntriesAt read an entry that is not stored")
			}
		})
	}
}

// TestPackedHashes round-trips proofs through their compact JSON and
// refuses strings that are not whole hashes.
func TestPackedHashes(t *testing.T) {
	p := PackedHashes{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)}
	b, err := json.Marshal(Match{Index: 3, Entry: []byte("{}"), Proof: p})
	if err != nil {
		t.Fatal(err)
	}
	var m Match
	if err := json.Unmarshal(b, &m); err != nil || fmt.Sprint(m.Proof) != fmt.Sprint(p) {
		t.Fatalf("round trip: %v, %v", m.Proof, err)
	}
	for _, bad := range []string{`{"index":1,"entry":"","proof":"AAAA"}`, `{"index":1,"entry":"","proof":["AAAA"]}`, `{"index":1,"entry":"","proof":7}`} {
		if err := json.Unmarshal([]byte(bad), &m); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
	if _, err := json.Marshal(PackedHashes{{1, 2}}); err == nil {
		t.Error("a short hash was encoded")
	}
}

// FuzzPackedHashes checks that no JSON value makes the proof decoder
// panic, and that what it accepts is whole hashes that encode back.
func FuzzPackedHashes(f *testing.F) {
	f.Add([]byte(`"` + strings.Repeat("A", 44) + `"`))
	f.Add([]byte(`"AAAA"`))
	f.Add([]byte(`"\u0041AAA"`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h PackedHashes
		if err := h.UnmarshalJSON(b); err != nil {
			return
		}
		for _, x := range h {
			if len(x) != 32 {
				t.Fatalf("a hash of %d bytes from %q", len(x), b)
			}
		}
		out, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		var back PackedHashes
		if err := back.UnmarshalJSON(out); err != nil || fmt.Sprint(back) != fmt.Sprint(h) {
			t.Fatalf("round trip of %q: %v", b, err)
		}
	})
}

// BenchmarkEncodeMatches encodes a page of search results as the search
// API answers it: 1,000 entries of about 500 bytes, each with a proof of
// 17 hashes (a log of about 100,000 entries).
func BenchmarkEncodeMatches(b *testing.B) {
	page := make([]Match, 1000)
	for i := range page {
		proof := make(PackedHashes, 17)
		for j := range proof {
			proof[j] = bytes.Repeat([]byte{byte(i + j)}, 32)
		}
		page[i] = Match{Index: int64(i), Entry: bytes.Repeat([]byte{'x'}, 500), Proof: proof}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(page); err != nil {
			b.Fatal(err)
		}
	}
}
