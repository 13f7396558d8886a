package catalog

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// compressions are the compressed forms of an index that Signet reads, by
// file name suffix.
var compressions = []string{".gz", ".xz", ".zst", ".bz2"}

// splitCompression returns name without a known compression suffix, and
// the suffix.
func splitCompression(name string) (string, string) {
	for _, ext := range compressions {
		if strings.HasSuffix(name, ext) {
			return strings.TrimSuffix(name, ext), ext
		}
	}
	return name, ""
}

// decompress returns the content of b, compressed as ext says, refusing
// content larger than max bytes (decompression bombs included).
func decompress(b []byte, ext string, max int64) ([]byte, error) {
	var r io.Reader
	switch ext {
	case "":
		return b, nil
	case ".gz":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		r = zr
	case ".xz":
		zr, err := xz.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		r = zr
	case ".zst":
		zr, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(max)+1<<20))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	case ".bz2":
		r = bzip2.NewReader(bytes.NewReader(b))
	default:
		return nil, fmt.Errorf("unknown compression %q", ext)
	}
	out, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(out)) > max {
		return nil, fmt.Errorf("decompresses to more than the catalog's limit of %d bytes", max)
	}
	return out, nil
}
