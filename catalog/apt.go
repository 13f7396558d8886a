package catalog

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// A stanza is one paragraph of a Debian control file (deb822): fields by
// lowercased name, and the line each starts on, for messages.
type stanza struct {
	line   int
	fields map[string]string
}

// parseDeb822 splits a control file into stanzas. It is strict: a line that
// is neither a field, a continuation nor blank is an error, as is a field
// given twice in one stanza. Values keep their continuation lines, joined
// with "\n", with the first line's leading blanks removed.
func parseDeb822(b []byte) ([]stanza, error) {
	var out []stanza
	var cur *stanza
	var last string
	for n, line := range bytes.Split(b, []byte("\n")) {
		ln := n + 1
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case len(bytes.TrimSpace(line)) == 0:
			cur, last = nil, ""
		case line[0] == ' ' || line[0] == '\t':
			if cur == nil || last == "" {
				return nil, fmt.Errorf("line %d: continuation line outside a field", ln)
			}
			cur.fields[last] += "\n" + string(bytes.TrimSpace(line))
		case line[0] == '#':
			// comment
		default:
			name, value, ok := bytes.Cut(line, []byte(":"))
			if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
				return nil, fmt.Errorf("line %d: %.60q is not a \"Field: value\" line", ln, line)
			}
			if cur == nil {
				out = append(out, stanza{line: ln, fields: map[string]string{}})
				cur = &out[len(out)-1]
			}
			last = strings.ToLower(string(name))
			if _, dup := cur.fields[last]; dup {
				return nil, fmt.Errorf("line %d: field %s given twice in one paragraph", ln, name)
			}
			cur.fields[last] = string(bytes.TrimSpace(value))
		}
	}
	return out, nil
}

// ParseRelease parses an APT Release file and returns the files its
// SHA256 field lists, with paths relative to the Release file's
// directory. A Release file without SHA256 checksums is refused: MD5 and
// SHA-1 do not protect anything any more.
func ParseRelease(b []byte) ([]Ref, error) {
	st, err := parseDeb822(b)
	if err != nil {
		return nil, fmt.Errorf("Release: %w", err)
	}
	if len(st) != 1 {
		return nil, fmt.Errorf("Release: %d paragraphs, want exactly 1", len(st))
	}
	sums, ok := st[0].fields["sha256"]
	if !ok || strings.TrimSpace(sums) == "" {
		return nil, fmt.Errorf("Release: no SHA256 field; generate it with SHA-256 checksums (apt-ftparchive release does)")
	}
	refs, err := checksumLines(sums, "Release SHA256")
	if err != nil {
		return nil, err
	}
	return refs, nil
}

// checksumLines parses " HEX SIZE PATH" lines.
func checksumLines(v, what string) ([]Ref, error) {
	var refs []Ref
	for i, l := range strings.Split(v, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		f := strings.Fields(l)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s line %d: %.80q is not \"SHA256 SIZE PATH\"", what, i, l)
		}
		sum, err := parseHex(f[0], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("%s line %d (%s): %w", what, i, f[2], err)
		}
		size, err := parseSize(f[1])
		if err != nil {
			return nil, fmt.Errorf("%s line %d (%s): %w", what, i, f[2], err)
		}
		if err := checkRel(f[2]); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", what, i, err)
		}
		refs = append(refs, Ref{Path: f[2], Size: size, Hash: crypto.SHA256, Sum: sum})
	}
	return refs, nil
}

// ParsePackages parses an APT Packages index and returns the package
// files it lists (Filename, Size, SHA256), with paths relative to the
// archive root.
func ParsePackages(b []byte) ([]Ref, error) {
	st, err := parseDeb822(b)
	if err != nil {
		return nil, fmt.Errorf("Packages: %w", err)
	}
	refs := make([]Ref, 0, len(st))
	for _, s := range st {
		name := s.fields["package"]
		if name == "" {
			return nil, fmt.Errorf("Packages: paragraph at line %d has no Package field", s.line)
		}
		fn, sz, sh := s.fields["filename"], s.fields["size"], s.fields["sha256"]
		if fn == "" || sz == "" || sh == "" {
			return nil, fmt.Errorf("Packages: package %.80s (line %d) lacks Filename, Size or SHA256", name, s.line)
		}
		if err := checkRel(fn); err != nil {
			return nil, fmt.Errorf("Packages: package %.80s (line %d): %w", name, s.line, err)
		}
		size, err := parseSize(sz)
		if err != nil {
			return nil, fmt.Errorf("Packages: package %.80s (line %d): %w", name, s.line, err)
		}
		sum, err := parseHex(sh, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("Packages: package %.80s (line %d): %w", name, s.line, err)
		}
		refs = append(refs, Ref{Path: fn, Size: size, Hash: crypto.SHA256, Sum: sum, Package: true})
	}
	return refs, nil
}

// ParseSources parses an APT Sources index and returns the source files
// it lists (Directory plus each Checksums-Sha256 entry), with paths
// relative to the archive root.
func ParseSources(b []byte) ([]Ref, error) {
	st, err := parseDeb822(b)
	if err != nil {
		return nil, fmt.Errorf("Sources: %w", err)
	}
	var refs []Ref
	for _, s := range st {
		name := s.fields["package"]
		dir, sums := s.fields["directory"], s.fields["checksums-sha256"]
		if name == "" || dir == "" || strings.TrimSpace(sums) == "" {
			return nil, fmt.Errorf("Sources: paragraph at line %d lacks Package, Directory or Checksums-Sha256", s.line)
		}
		if err := checkRel(dir); err != nil {
			return nil, fmt.Errorf("Sources: package %.80s (line %d): %w", name, s.line, err)
		}
		files, err := checksumLines(sums, "Sources: package "+name+" Checksums-Sha256")
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if strings.Contains(f.Path, "/") {
				return nil, fmt.Errorf("Sources: package %.80s (line %d): file %q is not a plain file name", name, s.line, f.Path)
			}
			f.Path = dir + "/" + f.Path
			f.Package = true
			refs = append(refs, f)
		}
	}
	return refs, nil
}

func parseSize(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || s != strconv.FormatInt(n, 10) {
		return 0, fmt.Errorf("size %.30q is not a non-negative decimal integer", s)
	}
	return n, nil
}

func parseHex(s string, h crypto.Hash) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != h.Size() {
		return nil, fmt.Errorf("checksum %.80q is not %d hex digits", s, 2*h.Size())
	}
	return b, nil
}
