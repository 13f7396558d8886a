package keycert

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxSubject bounds a subject string, and MaxValue one attribute value
// (X.520's upper bound for most name attributes).
const (
	MaxSubject = 1024
	MaxValue   = 64
)

// attributeTypes are the attribute types ParseSubject knows, by their
// RFC 4514 names.
var attributeTypes = map[string]asn1.ObjectIdentifier{
	"CN":           {2, 5, 4, 3},
	"SERIALNUMBER": {2, 5, 4, 5},
	"C":            {2, 5, 4, 6},
	"L":            {2, 5, 4, 7},
	"ST":           {2, 5, 4, 8},
	"STREET":       {2, 5, 4, 9},
	"O":            {2, 5, 4, 10},
	"OU":           {2, 5, 4, 11},
	"POSTALCODE":   {2, 5, 4, 17},
}

// ParseSubject parses a distinguished name written as in RFC 4514, such
// as "CN=Example Release,O=Example Corp,C=US", keeping the order written
// (which RFC 4514 gives most specific first). The attribute types are CN,
// O, OU, L, ST, C, STREET, POSTALCODE and SERIALNUMBER (any case); CN and
// SERIALNUMBER appear at most once. A value escapes ',', '+', '"', '\',
// '<', '>', ';', '=', '#' and spaces with a backslash; hex escapes and
// multi-valued RDNs ('+') are not supported. Values are 1 to MaxValue
// printable characters; C is two letters.
func ParseSubject(s string) (pkix.Name, error) {
	if s == "" {
		return pkix.Name{}, errors.New("empty subject; write it like CN=Example Release,O=Example Corp")
	}
	if len(s) > MaxSubject {
		return pkix.Name{}, fmt.Errorf("subject is %d bytes; the limit is %d", len(s), MaxSubject)
	}
	if !utf8.ValidString(s) {
		return pkix.Name{}, errors.New("subject is not valid UTF-8")
	}
	var atvs []pkix.AttributeTypeAndValue
	seen := map[string]bool{}
	for rest := s; ; {
		typ, value, more, err := nextAttribute(rest)
		if err != nil {
			return pkix.Name{}, fmt.Errorf("subject %.80q: %w", s, err)
		}
		key := strings.ToUpper(typ)
		oid, ok := attributeTypes[key]
		switch {
		case !ok:
			return pkix.Name{}, fmt.Errorf("subject %.80q: attribute type %q is not one of CN, O, OU, L, ST, C, STREET, POSTALCODE, SERIALNUMBER", s, typ)
		case (key == "CN" || key == "SERIALNUMBER") && seen[key]:
			return pkix.Name{}, fmt.Errorf("subject %.80q: %s appears twice", s, typ)
		case key == "C" && (len(value) != 2 || !isLetters(value)):
			return pkix.Name{}, fmt.Errorf("subject %.80q: C=%q is not a two-letter country code", s, value)
		case key == "C":
			value = strings.ToUpper(value)
		}
		seen[key] = true
		atvs = append(atvs, pkix.AttributeTypeAndValue{Type: oid, Value: value})
		if more == "" {
			break
		}
		rest = more
	}
	// The string lists the RDNs from the last to the first; ExtraNames
	// are encoded in order, one RDN each.
	slices.Reverse(atvs)
	return pkix.Name{ExtraNames: atvs}, nil
}

// nextAttribute reads "TYPE=VALUE" up to an unescaped ',' and returns the
// rest after it ("" at the end).
func nextAttribute(s string) (typ, value, rest string, err error) {
	typ, s, ok := strings.Cut(s, "=")
	typ = strings.TrimSpace(typ)
	if !ok || typ == "" {
		return "", "", "", fmt.Errorf("%.40q is not TYPE=VALUE", typ)
	}
	// Unescaped spaces around a value are not part of it; escaped ones are.
	s = strings.TrimLeft(s, " ")
	var v []byte
	keep := 0 // v[:keep] ends with the last escaped character
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ',' {
			if i == len(s)-1 {
				return "", "", "", errors.New("trailing comma")
			}
			rest = s[i+1:]
			break
		}
		if c == '+' {
			return "", "", "", errors.New("multi-valued RDNs ('+') are not supported; escape a literal + as \\+")
		}
		if c == '\\' {
			if i+1 == len(s) || !strings.ContainsRune(",+\"\\<>;=# ", rune(s[i+1])) {
				return "", "", "", errors.New("a backslash escapes only one of , + \" \\ < > ; = # and space (no hex escapes)")
			}
			i++
			v = append(v, s[i])
			keep = len(v)
			continue
		}
		v = append(v, c)
	}
	for len(v) > keep && v[len(v)-1] == ' ' {
		v = v[:len(v)-1]
	}
	value = string(v)
	if value == "" || utf8.RuneCountInString(value) > MaxValue {
		return "", "", "", fmt.Errorf("%s: a value is 1 to %d characters", typ, MaxValue)
	}
	for _, r := range value {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return "", "", "", fmt.Errorf("%s: value contains a control or invalid character", typ)
		}
	}
	return typ, value, rest, nil
}

func isLetters(s string) bool {
	for _, r := range s {
		if r < 'A' || r > 'z' || (r > 'Z' && r < 'a') {
			return false
		}
	}
	return true
}
