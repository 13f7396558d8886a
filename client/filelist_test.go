package client

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestParseFileList(t *testing.T) {
	long := strings.Repeat("d/", MaxPathBytes/2) + "x"
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{"", nil, ""},
		{"a.tar.gz\nb.tar.gz\n", []string{"a.tar.gz", "b.tar.gz"}, ""},
		{"a.tar.gz\nb.tar.gz", []string{"a.tar.gz", "b.tar.gz"}, ""}, // no final newline
		{"a\r\nb\r\n", []string{"a", "b"}, ""},                       // written on Windows
		{"a\r\r\n", []string{"a\r"}, ""},                             // only the line end goes
		{"\n\na\n\n", []string{"a"}, ""},                             // empty lines skipped
		{" spaced name \n#not a comment\n-\n", []string{" spaced name ", "#not a comment", "-"}, ""},
		{"line\nbreak\x00tab\there\x00", []string{"line\nbreak", "tab\there"}, ""}, // find -print0
		{"a\x00\x00b", []string{"a", "b"}, ""},
		{"caf\xe9\n", []string{"caf\xe9"}, ""}, // names are bytes, not UTF-8
		{"ok\n" + long + "\n", nil, "file list line 2: the name is 4097 bytes"},
		{"ok\x00" + long, nil, "file list entry 2: the name is 4097 bytes"},
	}
	for _, tt := range tests {
		got, err := ParseFileList([]byte(tt.in))
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseFileList(%.40q) = %v, want error %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || !slices.Equal(got, tt.want)):
			t.Errorf("ParseFileList(%.40q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := ReadFileList(bytes.NewReader(make([]byte, MaxFileListBytes+1))); err == nil || !strings.Contains(err.Error(), "larger than 256 MiB") {
		t.Errorf("huge list: %v", err)
	}
}

func FuzzParseFileList(f *testing.F) {
	for _, s := range []string{"", "a\nb\n", "a\r\nb", "a\x00b\x00", "\n\n", "x\r\r\n", strings.Repeat("y", MaxPathBytes+1)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		paths, err := ParseFileList(b)
		if err != nil {
			if !strings.Contains(err.Error(), "file list") {
				t.Fatalf("error %q does not say where", err)
			}
			return
		}
		nul := bytes.IndexByte(b, 0) >= 0
		for _, p := range paths {
			if p == "" || len(p) > MaxPathBytes || strings.IndexByte(p, 0) >= 0 || !nul && strings.IndexByte(p, '\n') >= 0 {
				t.Fatalf("bad path %q from %q", p, b)
			}
		}
		// NUL-separated, the same names read back the same.
		again, err := ParseFileList([]byte(strings.Join(paths, "\x00") + "\x00"))
		if err != nil || !slices.Equal(again, paths) {
			t.Fatalf("round trip of %q: %q, %v", paths, again, err)
		}
	})
}
