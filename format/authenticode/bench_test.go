package authenticode_test

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/signet-dev/signet/format/authenticode"
	"github.com/signet-dev/signet/format/authenticode/authenticodetest"
)

// discardAt is an io.WriterAt that keeps nothing.
type discardAt struct{}

func (discardAt) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

// BenchmarkDigest measures what the client does with a 64 MiB PE file in
// memory — the Authenticode digest, and embedding a signature (copying
// the file and computing its checksum) — against the baseline measured in
// the same run: SHA-256 of the same bytes.
func BenchmarkDigest(b *testing.B) {
	pe := authenticodetest.MinimalPE(true, bytes.Repeat([]byte{0x90, 0xc3, 0x48, 0x31}, 16<<20), nil)
	b.Run("baseline-sha256", func(b *testing.B) {
		b.SetBytes(int64(len(pe)))
		for b.Loop() {
			sha256.Sum256(pe)
		}
	})
	b.Run("authenticode-digest", func(b *testing.B) {
		b.SetBytes(int64(len(pe)))
		for b.Loop() {
			im, err := authenticode.ParseImage(bytes.NewReader(pe), int64(len(pe)))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := im.Digest(bytes.NewReader(pe)); err != nil {
				b.Fatal(err)
			}
		}
	})
	sig := make([]byte, 2000)
	sig[0], sig[1], sig[2], sig[3] = 0x30, 0x82, 0x07, 0xcc
	b.Run("embed", func(b *testing.B) {
		b.SetBytes(int64(len(pe)))
		im, err := authenticode.ParseImage(bytes.NewReader(pe), int64(len(pe)))
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := im.WriteSigned(discardAt{}, bytes.NewReader(pe), sig); err != nil {
				b.Fatal(err)
			}
		}
	})
}
