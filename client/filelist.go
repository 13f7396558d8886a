package client

import (
	"bytes"
	"fmt"
	"io"
)

// File lists (signet sign --files-from) name one file per line, as
// `find -type f` prints them, or separate names with NUL bytes, as
// `find -print0` does, so that any name can be listed. A list that holds a
// NUL byte anywhere is NUL-separated; otherwise a "\r" before a newline is
// dropped (lists written on Windows). Empty entries are skipped. Nothing
// else is special: no comments, no quoting, no globbing, and leading or
// trailing spaces belong to the name.
const (
	// MaxFileListBytes bounds a whole list.
	MaxFileListBytes = 256 << 20
	// MaxPathBytes bounds one name: Linux's PATH_MAX.
	MaxPathBytes = 4096
)

// ReadFileList reads a file list from r.
func ReadFileList(r io.Reader) ([]string, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileListBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the file list: %w", err)
	}
	if len(b) > MaxFileListBytes {
		return nil, fmt.Errorf("the file list is larger than %d MiB; split it", MaxFileListBytes>>20)
	}
	return ParseFileList(b)
}

// ParseFileList parses a file list.
func ParseFileList(b []byte) ([]string, error) {
	sep, unit := byte('\n'), "line"
	if bytes.IndexByte(b, 0) >= 0 {
		sep, unit = 0, "entry"
	}
	var paths []string
	for n := 1; len(b) > 0; n++ {
		entry, rest, _ := bytes.Cut(b, []byte{sep})
		b = rest
		if sep == '\n' {
			entry = bytes.TrimSuffix(entry, []byte("\r"))
		}
		if len(entry) == 0 {
			continue
		}
		if len(entry) > MaxPathBytes {
			return nil, fmt.Errorf("file list %s %d: the name is %d bytes, longer than any path (%d)", unit, n, len(entry), MaxPathBytes)
		}
		paths = append(paths, string(entry))
	}
	return paths, nil
}
