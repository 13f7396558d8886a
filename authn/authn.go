// Package authn turns proof of identity into a Principal.
//
// Identity is cryptographic: a principal is proven by a TLS client
// certificate that the server's TLS stack has already verified against the
// configured client CAs. Source addresses and ports prove nothing and are
// never consulted.
//
// A CertRule names a principal and says which certificates prove it, in one
// of two ways:
//
//   - by certificate fingerprint (SHA-256 of the DER certificate), which pins
//     one certificate and suits a handful of long-lived clients; or
//   - by issuing CA plus a subject common name or subject alternative name,
//     which suits a fleet whose certificates are reissued often.
//
// Rules are tried in order and the first match wins, so list specific rules
// before general ones. A verified certificate that matches no rule is
// refused: being signed by a trusted CA is not by itself a grant.
package authn

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Principal is an authenticated caller.
type Principal struct {
	Name   string // the principal's name in the server config
	Method string // how it was proven: "mtls"
	ID     string // what proved it: "sha256:<hex>" of the client certificate
}

// ErrUnauthenticated is matched by every authentication failure.
var ErrUnauthenticated = errors.New("unauthenticated")

// CertRule says which client certificates prove Principal.
type CertRule struct {
	Principal string
	// SHA256 pins one certificate by the hex SHA-256 of its DER encoding
	// (colons and case are ignored).
	SHA256 string
	// CA, if set, must appear in the verified chain.
	CA *x509.Certificate
	// Exactly one of these is compared with the leaf certificate when
	// SHA256 is empty.
	SubjectCN, DNSName, Email, URI string
}

// Certs authenticates TLS client certificates against an ordered list of
// rules.
type Certs struct {
	rules []CertRule
}

// NewCerts checks rules and returns a Certs that applies them in order.
func NewCerts(rules []CertRule) (*Certs, error) {
	out := make([]CertRule, len(rules))
	for i, r := range rules {
		if r.Principal == "" {
			return nil, fmt.Errorf("certificate rule %d: no principal name", i+1)
		}
		if r.SHA256 != "" {
			fp, err := NormalizeFingerprint(r.SHA256)
			if err != nil {
				return nil, fmt.Errorf("principal %q: %w", r.Principal, err)
			}
			r.SHA256 = fp
		}
		n := 0
		for _, s := range []string{r.SHA256, r.SubjectCN, r.DNSName, r.Email, r.URI} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			return nil, fmt.Errorf("principal %q: give exactly one of certificate sha256, subject_cn, dns_name, email or uri", r.Principal)
		}
		out[i] = r
	}
	return &Certs{rules: out}, nil
}

// Authenticate returns the principal proven by the verified client
// certificate in cs.
func (c *Certs) Authenticate(cs *tls.ConnectionState) (Principal, error) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Principal{}, fmt.Errorf("%w: no verified client certificate; present one issued by a CA the server trusts", ErrUnauthenticated)
	}
	leaf := cs.VerifiedChains[0][0]
	fp := Fingerprint(leaf)
	for _, r := range c.rules {
		if r.matches(leaf, fp, cs.VerifiedChains) {
			return Principal{Name: r.Principal, Method: "mtls", ID: "sha256:" + fp}, nil
		}
	}
	return Principal{}, fmt.Errorf("%w: client certificate %q (sha256:%s) matches no principal in the server config",
		ErrUnauthenticated, leaf.Subject.CommonName, fp)
}

func (r CertRule) matches(leaf *x509.Certificate, fp string, chains [][]*x509.Certificate) bool {
	if r.SHA256 != "" {
		return r.SHA256 == fp
	}
	if r.CA != nil && !slices.ContainsFunc(chains, func(chain []*x509.Certificate) bool {
		return slices.ContainsFunc(chain[1:], func(c *x509.Certificate) bool { return bytes.Equal(c.Raw, r.CA.Raw) })
	}) {
		return false
	}
	switch {
	case r.SubjectCN != "":
		return leaf.Subject.CommonName == r.SubjectCN
	case r.DNSName != "":
		return slices.Contains(leaf.DNSNames, r.DNSName)
	case r.Email != "":
		return slices.Contains(leaf.EmailAddresses, r.Email)
	case r.URI != "":
		return slices.ContainsFunc(leaf.URIs, func(u *url.URL) bool { return u.String() == r.URI })
	}
	return false
}

// Fingerprint returns the lowercase hex SHA-256 of cert's DER encoding.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// NormalizeFingerprint accepts a SHA-256 fingerprint as printed by
// `openssl x509 -fingerprint -sha256` or as plain hex, with an optional
// "sha256:" prefix, and returns lowercase hex.
func NormalizeFingerprint(s string) (string, error) {
	t := strings.ToLower(strings.TrimPrefix(strings.ToLower(s), "sha256:"))
	t = strings.TrimPrefix(t, "sha256 fingerprint=")
	t = strings.ReplaceAll(t, ":", "")
	if b, err := hex.DecodeString(t); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("certificate fingerprint %q is not a SHA-256 fingerprint (64 hex digits)", s)
	}
	return t, nil
}
