package rpm

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"
)

// bigHeader is a main header listing 50,000 files, about 2.6 MB: the
// size of a large package's header.
func bigHeader() []byte {
	var names bytes.Buffer
	sizes := make([]byte, 0, 4*50000)
	for i := range 50000 {
		fmt.Fprintf(&names, "file-%06d.txt\x00", i)
		sizes = append(sizes, 0, 0, 1, byte(i))
	}
	h, _ := ParseHeader(testMainHeader(), TagImmutable)
	digests := bytes.Repeat([]byte("d41d8cd98f00b204e9800998ecf8427e\x00"), 50000)
	entries := append(h.entries,
		Entry{Tag: 1028, Type: TypeInt32, Count: 50000, Value: sizes},               // FILESIZES
		Entry{Tag: 1035, Type: TypeStringArray, Count: 50000, Value: digests},       // FILEDIGESTS
		Entry{Tag: 1117, Type: TypeStringArray, Count: 50000, Value: names.Bytes()}, // BASENAMES
	)
	return encodeHeader(TagImmutable, entries)
}

// BenchmarkParsePackageHeader measures the server's check of a large
// header before it signs it, against BenchmarkHeaderSHA256, hashing the
// same bytes (which signing does anyway).
func BenchmarkParsePackageHeader(b *testing.B) {
	hdr := bigHeader()
	b.SetBytes(int64(len(hdr)))
	b.ResetTimer()
	for range b.N {
		if _, err := ParsePackageHeader(hdr); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHeaderSHA256(b *testing.B) {
	hdr := bigHeader()
	b.SetBytes(int64(len(hdr)))
	b.ResetTimer()
	for range b.N {
		sha256.Sum256(hdr)
	}
}
