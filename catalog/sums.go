package catalog

import (
	"bytes"
	"crypto"
	"fmt"
	"strings"
)

// ParseSHA256Sums parses the output of sha256sum: lines "HEX  NAME" (text
// mode) or "HEX *NAME" (binary mode), with GNU's escaped form (a leading
// backslash, then \\ and \n in the name) for names holding a backslash or
// newline. Names are relative to the file's directory. Empty lines are
// allowed; anything else malformed is an error naming the line.
//
// It accepts no more than `sha256sum -c --strict` does (the signed file
// must mean to its users' tool what Signet checked; TestSHA256SumsLikeCoreutils
// compares the two): a line of blanks is refused, and so is a line ending
// in a carriage return, which coreutils 9 strips but older versions keep
// as the last character of the name. Some forms sha256sum accepts are
// refused too, as no sha256sum writes them: a single space or a tab
// before the name, comments, leading blanks, BSD-style (--tag) lines.
func ParseSHA256Sums(b []byte) ([]Ref, error) {
	var refs []Ref
	for n, line := range bytes.Split(b, []byte("\n")) {
		ln := n + 1
		l := string(line)
		if l == "" {
			continue
		}
		if strings.HasSuffix(l, "\r") {
			return nil, fmt.Errorf("SHA256SUMS line %d ends in a carriage return (CRLF line endings): sha256sum -c of some coreutils versions would look for a file whose name ends in it; write the file with LF line endings (dos2unix)", ln)
		}
		if strings.TrimSpace(l) == "" {
			return nil, fmt.Errorf("SHA256SUMS line %d holds only blanks, which sha256sum -c --strict refuses; remove it", ln)
		}
		escaped := strings.HasPrefix(l, "\\")
		if escaped {
			l = l[1:]
		}
		if len(l) < 66 || (l[64] != ' ') || (l[65] != ' ' && l[65] != '*') {
			return nil, fmt.Errorf("SHA256SUMS line %d: %.80q is not \"SHA256  NAME\"", ln, l)
		}
		sum, err := parseHex(l[:64], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("SHA256SUMS line %d: %w", ln, err)
		}
		name := l[66:]
		if escaped {
			if name, err = unescapeName(name); err != nil {
				return nil, fmt.Errorf("SHA256SUMS line %d: %w", ln, err)
			}
		}
		if err := checkRel(name); err != nil {
			return nil, fmt.Errorf("SHA256SUMS line %d: %w", ln, err)
		}
		refs = append(refs, Ref{Path: name, Size: -1, Hash: crypto.SHA256, Sum: sum, Package: true})
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("SHA256SUMS lists no files")
	}
	return refs, nil
}

func unescapeName(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("name %.80q ends in a lone backslash", s)
		}
		i++
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		default:
			return "", fmt.Errorf("name %.80q has an unknown escape \\%c", s, s[i])
		}
	}
	return b.String(), nil
}
