// Package token issues and verifies Signet's self-contained signing tokens.
//
// A token is a JWS in compact serialization (RFC 7515) whose payload is a
// JSON object of claims (RFC 7519 names where they exist) and whose header
// pins everything a verifier could otherwise be talked into:
//
//	header   {"alg":"EdDSA","kid":"tok-2026a","typ":"signet+jwt"}
//	payload  {"iss":"ci","sub":"build-4711","aud":"signet-prod","jti":"…",
//	          "iat":1795000000,"nbf":1795000000,"exp":1795007200,
//	          "scope":{"keys":["release"],"formats":["raw"],"artifacts":["*.tar.gz"]},
//	          "cnf":{"x5t#S256":"…"}}
//
// The claims travel in clear; the signature is Ed25519 by a token-signing
// key held in the keystore. Any replica that lists the key's public half
// under its key id verifies any token by itself: there is no shared store,
// no call to another replica and no replay state. This is the design
// Mozilla's signing servers moved to when they dropped their shared store
// of tokens and nonces.
//
// Verification is strict, and each way a token can be wrong has its own
// sentinel error, so that callers and logs can tell a tampered token from an
// expired one. The algorithm is pinned to EdDSA ("none", HMAC and every
// other algorithm are refused), the type must be "signet+jwt" (explicit
// typing, RFC 8725 §3.11, so that no other JWT signed by the same key passes
// as a token), each segment must be canonical unpadded base64url (a token
// has exactly one spelling), unknown header parameters and unknown claims
// are refused, and the audience must be this deployment.
//
// A [Verifier] remembers the tokens whose signatures it has checked, so
// that a worker presenting the same token with every request pays for the
// Ed25519 verification once. The time window, audience and deny list are
// checked on every use. The cache is a pure function of the token bytes and
// the verifier's keys: a new key set means a new Verifier and an empty cache.
//
// What tokens do not protect against: use of a stolen token within its
// lifetime (keep lifetimes short and scopes narrow), and use on a replica
// that has not yet received a deny list naming it.
package token

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-dev/signet/internal/strictjson"
)

// Type is the JWS "typ" header of every token.
const Type = "signet+jwt"

// MaxSize is the largest token accepted, in bytes.
const MaxSize = 8 << 10

// Claims are what a token says.
type Claims struct {
	Issuer    string        `json:"iss"` // principal that issued it
	Subject   string        `json:"sub"` // the job it was issued for
	Audience  string        `json:"aud"` // the deployment that accepts it
	ID        string        `json:"jti"` // random token id
	IssuedAt  int64         `json:"iat"` // Unix seconds
	NotBefore int64         `json:"nbf"`
	Expiry    int64         `json:"exp"`
	Scope     Scope         `json:"scope"`
	Confirm   *Confirmation `json:"cnf,omitempty"`
}

// Scope is what a token may be used for.
type Scope struct {
	Keys      []string `json:"keys"`                // key name patterns
	Formats   []string `json:"formats"`             // format patterns
	Artifacts []string `json:"artifacts"`           // artifact name patterns
	MaxItems  int      `json:"max_items,omitempty"` // most items in one sign request; 0: no token limit
}

// Confirmation binds a token to one TLS client certificate (RFC 8705).
type Confirmation struct {
	CertSHA256 string `json:"x5t#S256"` // unpadded base64url SHA-256 of the certificate's DER
}

// Errors returned by Verify, each wrapped with the details of the case.
var (
	ErrMalformed   = errors.New("malformed token")
	ErrEncoding    = errors.New("token is not canonical base64url")
	ErrType        = errors.New("wrong token type")
	ErrAlgorithm   = errors.New("wrong token algorithm")
	ErrUnknownKey  = errors.New("token signed by an unknown key")
	ErrSignature   = errors.New("token signature does not verify")
	ErrAudience    = errors.New("token issued for another deployment")
	ErrNotYetValid = errors.New("token not yet valid")
	ErrExpired     = errors.New("token expired")
	ErrRevoked     = errors.New("token revoked")
)

// NewID returns a random 128-bit token id.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Sign returns the token for c, signed by signer (an Ed25519 key) under key
// id kid.
func Sign(signer crypto.Signer, kid string, c Claims) (string, error) {
	if err := c.check(); err != nil {
		return "", err
	}
	return sign(signer, kid, Type, c)
}

// sign serializes payload as a compact JWS of type typ.
func sign(signer crypto.Signer, kid, typ string, payload any) (string, error) {
	if _, ok := signer.Public().(ed25519.PublicKey); !ok {
		return "", fmt.Errorf("token: signing key %q is a %T; token keys are Ed25519", kid, signer.Public())
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: opaque{signer, kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	obj, err := js.Sign(body)
	if err != nil {
		return "", fmt.Errorf("token: signing with key %q: %w", kid, err)
	}
	return obj.CompactSerialize()
}

// opaque lets go-jose sign with a keystore Signer it never sees the bytes of.
type opaque struct {
	s   crypto.Signer
	kid string
}

func (o opaque) Public() *jose.JSONWebKey {
	return &jose.JSONWebKey{Key: o.s.Public(), KeyID: o.kid, Algorithm: string(jose.EdDSA)}
}
func (o opaque) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{jose.EdDSA} }
func (o opaque) SignPayload(payload []byte, _ jose.SignatureAlgorithm) ([]byte, error) {
	return o.s.Sign(rand.Reader, payload, crypto.Hash(0))
}

// check reports claims a valid token must have.
func (c *Claims) check() error {
	var missing []string
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"iss", c.Issuer != ""}, {"sub", c.Subject != ""}, {"aud", c.Audience != ""}, {"jti", c.ID != ""},
		{"iat", c.IssuedAt > 0}, {"nbf", c.NotBefore > 0}, {"exp", c.Expiry > 0},
		{"scope.keys", len(c.Scope.Keys) > 0}, {"scope.formats", len(c.Scope.Formats) > 0},
		{"scope.artifacts", len(c.Scope.Artifacts) > 0},
	} {
		if !f.ok {
			missing = append(missing, f.name)
		}
	}
	switch {
	case len(missing) > 0:
		return fmt.Errorf("%w: missing claims %s", ErrMalformed, strings.Join(missing, ", "))
	case c.Expiry <= c.NotBefore:
		return fmt.Errorf("%w: exp is not after nbf", ErrMalformed)
	case c.Scope.MaxItems < 0:
		return fmt.Errorf("%w: negative scope.max_items", ErrMalformed)
	case c.Confirm != nil && c.Confirm.CertSHA256 == "":
		return fmt.Errorf("%w: empty cnf", ErrMalformed)
	}
	return nil
}

// Verifier checks tokens against the token-signing keys of a deployment.
// It is safe for concurrent use.
type Verifier struct {
	audience string
	keys     map[string]ed25519.PublicKey
	skew     time.Duration

	deny atomic.Pointer[DenyList] // nil: none

	mu       sync.RWMutex
	verified map[string]*Claims // token → its checked claims
}

// maxCached bounds the verified-token cache. When it is full it is emptied:
// tokens are re-verified, never trusted without a check.
const maxCached = 1 << 14

// NewVerifier returns a Verifier accepting tokens for audience signed by
// any of keys (by key id), with skew of tolerance on time claims (60 s if
// zero).
func NewVerifier(audience string, keys map[string]ed25519.PublicKey, skew time.Duration) (*Verifier, error) {
	if audience == "" {
		return nil, errors.New("token: empty audience; set the deployment name")
	}
	if len(keys) == 0 {
		return nil, errors.New("token: no verification keys")
	}
	for id, k := range keys {
		if id == "" || len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("token: verification key %q is not a valid Ed25519 public key", id)
		}
	}
	if skew == 0 {
		skew = 60 * time.Second
	}
	if skew < 0 {
		return nil, fmt.Errorf("token: negative clock skew %s", skew)
	}
	return &Verifier{audience: audience, keys: keys, skew: skew, verified: make(map[string]*Claims)}, nil
}

// Verify checks tok at time now and returns its claims. The claims are
// shared: callers must not modify them.
func (v *Verifier) Verify(tok string, now time.Time) (*Claims, error) {
	v.mu.RLock()
	c := v.verified[tok]
	v.mu.RUnlock()
	if c == nil {
		var err error
		if c, err = v.verifySignature(tok, typeToken); err != nil {
			return nil, err
		}
		v.mu.Lock()
		if len(v.verified) >= maxCached {
			clear(v.verified)
		}
		v.verified[tok] = c
		v.mu.Unlock()
	}
	if err := v.checkUse(c, now); err != nil {
		return nil, err
	}
	return c, nil
}

// checkUse checks what may change between two uses of a token.
func (v *Verifier) checkUse(c *Claims, now time.Time) error {
	if c.Audience != v.audience {
		return fmt.Errorf("%w: token %s is for %q, this is %q", ErrAudience, c.ID, c.Audience, v.audience)
	}
	t := now.Unix()
	skew := int64(v.skew / time.Second)
	if t > c.Expiry+skew {
		return fmt.Errorf("%w: token %s for %q expired at %s (%s ago); ask the orchestrator for a new one",
			ErrExpired, c.ID, c.Subject, unix(c.Expiry), now.Sub(time.Unix(c.Expiry, 0)).Round(time.Second))
	}
	if nb := max(c.NotBefore, c.IssuedAt); t+skew < nb {
		return fmt.Errorf("%w: token %s is valid from %s, %s from now; check the clocks of this server and its issuer",
			ErrNotYetValid, c.ID, unix(nb), time.Unix(nb, 0).Sub(now).Round(time.Second))
	}
	if d := v.deny.Load(); d != nil {
		if d.ids[c.ID] {
			return fmt.Errorf("%w: token %s is on the deny list issued %s", ErrRevoked, c.ID, unix(d.IssuedAt))
		}
		if d.subjects[c.Subject] {
			return fmt.Errorf("%w: every token of subject %q is on the deny list issued %s", ErrRevoked, c.Subject, unix(d.IssuedAt))
		}
	}
	return nil
}

func unix(t int64) string { return time.Unix(t, 0).UTC().Format(time.RFC3339) }

// A jwsType is the typ of a JWS this package reads and what its payload is.
type jwsType string

const (
	typeToken jwsType = Type
	typeDeny  jwsType = "signet-deny+jwt"
)

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// verifySignature checks everything about tok that does not depend on when
// it is used, and returns its claims.
func (v *Verifier) verifySignature(tok string, want jwsType) (*Claims, error) {
	payload, err := v.open(tok, want)
	if err != nil {
		return nil, err
	}
	var c Claims
	if err := strictjson.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

// open checks the structure, header and signature of a compact JWS of type
// want and returns its payload.
func (v *Verifier) open(tok string, want jwsType) ([]byte, error) {
	what := "token"
	if want == typeDeny {
		what = "deny list"
	}
	if len(tok) > MaxSize {
		return nil, fmt.Errorf("%w: %s is %d bytes; the limit is %d", ErrMalformed, what, len(tok), MaxSize)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: a %s is three base64url segments joined by '.', this has %d (truncated or not a %s?)", ErrMalformed, what, len(parts), what)
	}
	var seg [3][]byte
	for i, p := range parts {
		b, err := base64.RawURLEncoding.Strict().DecodeString(p)
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("%w: segment %d of the %s", ErrEncoding, i+1, what)
		}
		seg[i] = b
	}
	var h header
	if err := strictjson.Unmarshal(seg[0], &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if h.Alg != string(jose.EdDSA) {
		return nil, fmt.Errorf("%w: alg %.20q; Signet %ss are EdDSA only", ErrAlgorithm, h.Alg, what)
	}
	if h.Typ != string(want) {
		return nil, fmt.Errorf("%w: typ %.40q, want %q", ErrType, h.Typ, want)
	}
	pub, ok := v.keys[h.Kid]
	if !ok {
		return nil, fmt.Errorf("%w: kid %.64q is not among this server's tokens.verifiers; its key was removed, or the %s is from another deployment", ErrUnknownKey, h.Kid, what)
	}
	obj, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	payload, err := obj.Verify(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: key %q: the %s was altered or forged", ErrSignature, h.Kid, what)
	}
	return payload, nil
}
