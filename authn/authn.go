// Package authn turns proof of identity into a Principal.
//
// Identity is cryptographic: a caller is proven by a TLS client certificate
// that the server's TLS stack has already verified against the configured
// client CAs, or by a signed token (package token) in an "Authorization:
// Bearer" header. Source addresses and ports prove nothing and are never
// consulted.
//
// A token request is the token's: its principal is named after the token's
// issuer, whose grants bound what the token may do, and carries the claims.
// A client certificate presented beside an unbound token is ignored; a token
// bound to a certificate (claim cnf/x5t#S256, RFC 8705) is accepted only
// over a connection that presented that very certificate.
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
//
// A request may also carry an agent's assertion (header Signet-Local-User):
// "I, the principal proven above, ask on behalf of local user U", as
// signet agent sends it after the kernel told it who U is. Authenticate
// only checks its syntax and reports it in Principal.LocalUser; whether
// the principal may delegate at all is policy's decision, not ours.
package authn

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/token"
)

// Principal is an authenticated caller.
type Principal struct {
	Name   string        // the principal's name in the server config; for a token, its issuer
	Method string        // how it was proven: "mtls" or "token"
	ID     string        // what proved it: "sha256:<hex>" of the client certificate, or "token:<jti>"
	Token  *token.Claims // the token's claims, for Method "token"
	// LocalUser is the local user an agent asserts it asks for; "" when
	// the principal asks for itself. Nothing here vouches for it but the
	// principal: policy decides whether the principal may delegate.
	LocalUser string
}

// Authenticator proves callers by token or client certificate.
type Authenticator struct {
	Certs  *Certs
	Tokens *token.Verifier  // nil: tokens are not accepted
	Now    func() time.Time // nil: time.Now
}

// Authenticate returns the principal proven by r: its bearer token if it
// has one, else its verified client certificate; with the local user it
// asserts to ask for, if any.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	p, err := a.authenticate(r)
	if err != nil {
		return p, err
	}
	switch v := r.Header.Values(api.LocalUserHeader); len(v) {
	case 0:
	case 1:
		if err := api.CheckLocalUser(v[0]); err != nil {
			return Principal{}, fmt.Errorf("%w: %s header: %w", ErrUnauthenticated, api.LocalUserHeader, err)
		}
		p.LocalUser = v[0]
	default:
		return Principal{}, fmt.Errorf("%w: %d %s headers; an agent asserts one local user", ErrUnauthenticated, len(v), api.LocalUserHeader)
	}
	return p, nil
}

func (a *Authenticator) authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return a.Certs.Authenticate(r.TLS)
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return Principal{}, fmt.Errorf("%w: Authorization scheme %.20q is not supported; send 'Bearer TOKEN'", ErrUnauthenticated, scheme)
	}
	if a.Tokens == nil {
		return Principal{}, fmt.Errorf("%w: this server accepts no tokens (no tokens section in its config); use a client certificate", ErrUnauthenticated)
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	c, err := a.Tokens.Verify(strings.TrimSpace(tok), now())
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	if c.Confirm != nil {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			return Principal{}, fmt.Errorf("%w: token %s is bound to a client certificate; present that certificate", ErrUnauthenticated, c.ID)
		}
		sum := sha256.Sum256(r.TLS.VerifiedChains[0][0].Raw)
		if base64.RawURLEncoding.EncodeToString(sum[:]) != c.Confirm.CertSHA256 {
			return Principal{}, fmt.Errorf("%w: token %s is bound to another client certificate", ErrUnauthenticated, c.ID)
		}
	}
	return Principal{Name: c.Issuer, Method: "token", ID: "token:" + c.ID, Token: c}, nil
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
		return Principal{}, fmt.Errorf("%w: no verified client certificate; present one issued by a CA the server trusts (or a token, where the server accepts them)", ErrUnauthenticated)
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

// CertBinding returns the RFC 8705 confirmation value (x5t#S256) for a
// certificate given by its SHA-256 fingerprint in any form
// NormalizeFingerprint accepts.
func CertBinding(fingerprint string) (string, error) {
	fp, err := NormalizeFingerprint(fingerprint)
	if err != nil {
		return "", err
	}
	b, _ := hex.DecodeString(fp)
	return base64.RawURLEncoding.EncodeToString(b), nil
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
