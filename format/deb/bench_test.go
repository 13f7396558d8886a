package deb_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"

	"github.com/signet-dev/signet/format/deb"
)

// BenchmarkSignedContent measures what the client does to sign a package:
// read the ar members and hash the signed content with SHA-256, over a
// package of 64 MiB, against BenchmarkSHA256 over the same number of
// bytes in one buffer.
func BenchmarkSignedContent(b *testing.B) {
	data := bytes.Repeat([]byte("signet "), 64<<20/7)
	pkg := append([]byte("!<arch>\n"), arMember("debian-binary", []byte("2.0\n"), false)...)
	pkg = append(pkg, arMember("control.tar", make([]byte, 10240), false)...)
	pkg = append(pkg, arMember("data.tar", data, false)...)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		p, err := deb.Open(bytes.NewReader(pkg), int64(len(pkg)))
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, p.SignedContent()); err != nil {
			b.Fatal(err)
		}
		h.Sum(nil)
	}
}

func BenchmarkSHA256(b *testing.B) {
	data := bytes.Repeat([]byte("signet "), 64<<20/7)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		sha256.Sum256(data)
	}
}
