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
// newline. Names are relative to the file's directory. Blank lines are
// allowed; anything else malformed is an error naming the line.
func ParseSHA256Sums(b []byte) ([]Ref, error) {
	var refs []Ref
	for n, line := range bytes.Split(b, []byte("\n")) {
		ln := n + 1
		l := string(bytes.TrimSuffix(line, []byte("\r")))
		if strings.TrimSpace(l) == "" {
			continue
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
