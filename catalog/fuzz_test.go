package catalog

import (
	"bytes"
	"testing"
)

// Every parser must return refs whose paths are clean and relative, or an
// error, and never panic or hang, whatever the index says.
func checkRefs(t *testing.T, refs []Ref, err error) {
	if err != nil {
		return
	}
	for _, r := range refs {
		if err := checkRel(r.Path); err != nil {
			t.Fatalf("parser returned an unsafe path: %v", err)
		}
		if len(r.Sum) != r.Hash.Size() {
			t.Fatalf("parser returned a %d-byte %v sum", len(r.Sum), r.Hash)
		}
	}
}

func FuzzParseRelease(f *testing.F) {
	f.Add([]byte("Origin: x\nSHA256:\n 0000000000000000000000000000000000000000000000000000000000000000 12 main/binary-all/Packages\n"))
	f.Add([]byte("SHA256:\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		refs, err := ParseRelease(b)
		checkRefs(t, refs, err)
	})
}

func FuzzParsePackages(f *testing.F) {
	f.Add([]byte("Package: a\nFilename: pool/a.deb\nSize: 3\nSHA256: 0000000000000000000000000000000000000000000000000000000000000000\n\nPackage: b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		refs, err := ParsePackages(b)
		checkRefs(t, refs, err)
	})
}

func FuzzParseSources(f *testing.F) {
	f.Add([]byte("Package: a\nDirectory: pool/main/a\nChecksums-Sha256:\n 0000000000000000000000000000000000000000000000000000000000000000 3 a_1.dsc\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		refs, err := ParseSources(b)
		checkRefs(t, refs, err)
	})
}

func FuzzParseRepomd(f *testing.F) {
	f.Add([]byte(`<repomd><data type="primary"><checksum type="sha256">0000000000000000000000000000000000000000000000000000000000000000</checksum><location href="repodata/p.xml.gz"/><size>1</size></data></repomd>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		data, err := ParseRepomd(b)
		if err == nil {
			for _, d := range data {
				checkRefs(t, []Ref{d.Ref}, nil)
			}
		}
	})
}

func FuzzParsePrimary(f *testing.F) {
	f.Add([]byte(`<metadata><package type="rpm"><name>a</name><checksum type="sha256">0000000000000000000000000000000000000000000000000000000000000000</checksum><size package="1"/><location href="a.rpm"/></package></metadata>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		refs, err := ParsePrimary(bytes.NewReader(b))
		checkRefs(t, refs, err)
	})
}

func FuzzParseSHA256Sums(f *testing.F) {
	f.Add([]byte("0000000000000000000000000000000000000000000000000000000000000000  a.iso\n0000000000000000000000000000000000000000000000000000000000000000 *b.bin\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		refs, err := ParseSHA256Sums(b)
		checkRefs(t, refs, err)
	})
}

// FuzzDecompress feeds arbitrary bytes to every decompressor under a small
// limit: errors are fine, panics and outputs over the limit are not.
func FuzzDecompress(f *testing.F) {
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, uint8(0))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0}, uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, which uint8) {
		ext := compressions[int(which)%len(compressions)]
		out, err := decompress(b, ext, 1<<16)
		if err == nil && len(out) > 1<<16 {
			t.Fatalf("%s: %d bytes past the limit", ext, len(out))
		}
	})
}
