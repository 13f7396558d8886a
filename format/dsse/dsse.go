// Package dsse signs in-toto attestations: a Statement v1 wrapped in a
// DSSE envelope (Dead Simple Signing Envelope), as `cosign
// verify-blob-attestation --key` and in-toto verifiers read them.
//
// # Format
//
// The payload is an in-toto Statement v1, JSON:
//
//	{"_type": "https://in-toto.io/Statement/v1",
//	 "subject": [{"name": "app.tar.gz", "digest": {"sha256": "…"}}],
//	 "predicateType": "https://slsa.dev/provenance/v1",
//	 "predicate": {…}}
//
// The envelope carries it base64-encoded with its type and the signatures:
//
//	{"payloadType": "application/vnd.in-toto+json",
//	 "payload": "<base64 of the statement bytes>",
//	 "signatures": [{"keyid": "SHA256:…", "sig": "<base64>"}]}
//
// A signature covers the pre-authentication encoding (PAE) of type and
// payload, "DSSEv1 <len(type)> <type> <len(payload)> <payload>", so the
// type cannot be swapped after signing. The scheme follows from the key:
//
//	Ed25519      Ed25519 over PAE
//	ECDSA P-256  ECDSA over SHA-256(PAE), ASN.1 DER
//	ECDSA P-384  ECDSA over SHA-384(PAE), ASN.1 DER
//	RSA          PKCS #1 v1.5 over SHA-256(PAE) (what cosign verifies), or
//	             with Options.PSS, RSASSA-PSS, salt 32 (what
//	             go-securesystemslib's RSA verifier expects)
//
// The keyid is the SHA-256 fingerprint of the key in SSH form,
// "SHA256:<base64>", the value go-securesystemslib's SHA256KeyID computes:
// verifiers that do not name their key id compute the same value and match.
//
// # What it guarantees
//
// [Sign] takes a [crypto.Signer] (keystore or HSM) and signs only a
// statement that [ParseStatement] accepts, and that parser is strict: the
// bytes must be UTF-8 JSON without duplicate keys at any depth, the
// statement type must be v1, every subject needs a name and a sha256
// digest, predicateType must be an absolute URI and predicate an object.
// Duplicate keys are refused because JSON parsers disagree on which value
// wins, and a signer that read one value must not sign what a verifier
// reads as another. The signed payload is exactly the bytes given, not a
// re-encoding, so the caller can check what was signed.
//
// It does not decide what a predicate means or whether its subjects are
// the artifacts a caller may attest: the server's policy does that.
package dsse

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
)

const (
	// PayloadType is the DSSE payload type of in-toto statements.
	PayloadType = "application/vnd.in-toto+json"
	// StatementV1 is the _type of an in-toto Statement v1.
	StatementV1 = "https://in-toto.io/Statement/v1"
	// StatementV01 is the _type of an in-toto Statement v0.1, which
	// cosign v2 still writes; its fields are those of v1.
	StatementV01 = "https://in-toto.io/Statement/v0.1"

	// MaxStatementSize bounds a statement: attestations are metadata, and
	// the server holds them in memory.
	MaxStatementSize = 256 << 10
	// MaxSubjects bounds the subjects of one statement.
	MaxSubjects = 1000
	// MaxNameSize bounds a subject name, URI or predicate type.
	MaxNameSize = 1024
	// MaxEnvelopeSize bounds an envelope: the base64 statement and a few
	// signatures.
	MaxEnvelopeSize = MaxStatementSize*4/3 + 64<<10

	maxDepth = 64 // of JSON nesting
)

// ErrVerify is returned when an envelope's signature does not verify.
var ErrVerify = errors.New("dsse: signature does not verify")

// digestSizes are the subject digest algorithms accepted, with their sizes.
var digestSizes = map[string]int{"sha256": 32, "sha384": 48, "sha512": 64}

// Statement is an in-toto Statement v1.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate,omitempty"`
}

// Subject is one artifact a statement is about.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"` // algorithm → lowercase hex
}

// NewStatement returns the JSON of a Statement v1 about subjects, checked
// as ParseStatement checks it.
func NewStatement(subjects []Subject, predicateType string, predicate json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(Statement{Type: StatementV1, Subject: subjects, PredicateType: predicateType, Predicate: predicate})
	if err != nil {
		return nil, fmt.Errorf("dsse: statement: %w", err)
	}
	if _, err := ParseStatement(b); err != nil {
		return nil, err
	}
	return b, nil
}

// ParseStatement parses and checks an in-toto Statement v1.
func ParseStatement(b []byte) (*Statement, error) {
	return parseStatement(b, StatementV1)
}

// ParseStatementV01 is ParseStatement that also takes a Statement v0.1,
// whose _type it keeps in Statement.Type. Cosign v2 attests in v0.1.
func ParseStatementV01(b []byte) (*Statement, error) {
	return parseStatement(b, StatementV1, StatementV01)
}

func parseStatement(b []byte, types ...string) (*Statement, error) {
	if len(b) > MaxStatementSize {
		return nil, fmt.Errorf("dsse: statement is %d bytes; the limit is %d", len(b), MaxStatementSize)
	}
	if !utf8.Valid(b) {
		return nil, errors.New("dsse: statement is not UTF-8")
	}
	if err := checkJSON(b); err != nil {
		return nil, fmt.Errorf("dsse: statement: %w", err)
	}
	// Decoding into maps keeps keys exact: encoding/json would match
	// struct fields case-insensitively, so "_TYPE" would pass as "_type".
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil || top == nil {
		return nil, errors.New("dsse: statement is not a JSON object")
	}
	if err := onlyKeys(top, "statement", "_type", "subject", "predicateType", "predicate"); err != nil {
		return nil, err
	}
	var s Statement
	if err := field(top, "_type", &s.Type); err != nil {
		return nil, err
	}
	if !slices.Contains(types, s.Type) {
		return nil, fmt.Errorf("dsse: statement _type is %.80q, want %q", s.Type, strings.Join(types, `" or "`))
	}
	if err := field(top, "predicateType", &s.PredicateType); err != nil {
		return nil, err
	}
	if err := checkURI(s.PredicateType); err != nil {
		return nil, fmt.Errorf("dsse: predicateType: %w", err)
	}
	if p, ok := top["predicate"]; ok {
		if !bytes.HasPrefix(bytes.TrimLeft(p, " \t\r\n"), []byte("{")) {
			return nil, errors.New("dsse: predicate is not a JSON object")
		}
		s.Predicate = p
	}
	var subjects []map[string]json.RawMessage
	if err := field(top, "subject", &subjects); err != nil {
		return nil, err
	}
	switch n := len(subjects); {
	case n == 0:
		return nil, errors.New("dsse: statement has no subject; name at least one artifact")
	case n > MaxSubjects:
		return nil, fmt.Errorf("dsse: statement has %d subjects; the limit is %d", n, MaxSubjects)
	}
	s.Subject = make([]Subject, len(subjects))
	for i, m := range subjects {
		sub, err := parseSubject(m)
		if err != nil {
			return nil, fmt.Errorf("dsse: subject %d: %w", i+1, err)
		}
		s.Subject[i] = sub
	}
	return &s, nil
}

func parseSubject(m map[string]json.RawMessage) (Subject, error) {
	var sub Subject
	if m == nil {
		return sub, errors.New("not a JSON object")
	}
	if err := onlyKeys(m, "subject", "name", "digest"); err != nil {
		return sub, err
	}
	if err := field(m, "name", &sub.Name); err != nil {
		return sub, err
	}
	if err := checkName(sub.Name); err != nil {
		return sub, err
	}
	if err := field(m, "digest", &sub.Digest); err != nil {
		return sub, err
	}
	if _, ok := sub.Digest["sha256"]; !ok {
		return sub, fmt.Errorf("%q has no sha256 digest", sub.Name)
	}
	for alg, hx := range sub.Digest {
		n, ok := digestSizes[alg]
		if !ok {
			return sub, fmt.Errorf("%q: digest algorithm %.20q is not sha256, sha384 or sha512", sub.Name, alg)
		}
		if raw, err := hex.DecodeString(hx); err != nil || len(raw) != n || hx != strings.ToLower(hx) {
			return sub, fmt.Errorf("%q: %s digest %.140q is not %d lowercase hex digits", sub.Name, alg, hx, 2*n)
		}
	}
	return sub, nil
}

// onlyKeys refuses keys of m other than allowed.
func onlyKeys(m map[string]json.RawMessage, what string, allowed ...string) error {
	for k := range m {
		found := false
		for _, a := range allowed {
			found = found || k == a
		}
		if !found {
			return fmt.Errorf("dsse: %s has field %.40q; the fields are %s", what, k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// field decodes the required field key of m into v.
func field(m map[string]json.RawMessage, key string, v any) error {
	raw, ok := m[key]
	if !ok || string(raw) == "null" {
		return fmt.Errorf("dsse: missing %q", key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("dsse: %q has the wrong type: %v", key, err)
	}
	return nil
}

func checkName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	if len(name) > MaxNameSize {
		return fmt.Errorf("name is %d bytes; the limit is %d", len(name), MaxNameSize)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("name %.80q contains a control character", name)
		}
	}
	return nil
}

func checkURI(s string) error {
	if len(s) > MaxNameSize {
		return fmt.Errorf("%d bytes; the limit is %d", len(s), MaxNameSize)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%.80q is not an absolute URI such as https://slsa.dev/provenance/v1", s)
	}
	return nil
}

// checkJSON checks that b is exactly one JSON object, nested at most
// maxDepth deep, with no duplicate key in any object.
func checkJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next token of an object is a key
	}
	var stack []*frame
	first := true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if len(stack) != 0 || first {
				return errors.New("truncated JSON")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("not valid JSON: %v", err)
		}
		if first {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return errors.New("not a JSON object")
			}
		} else if len(stack) == 0 {
			return errors.New("data after the JSON object")
		}
		first = false
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			if top.object && top.key {
				if d, ok := tok.(json.Delim); ok && d == '}' {
					stack = stack[:len(stack)-1]
					continue
				}
				k := tok.(string) // the decoder guarantees object keys are strings
				if top.keys[k] {
					return fmt.Errorf("duplicate key %.40q", k)
				}
				top.keys[k] = true
				top.key = false
				continue
			}
			if top.object {
				top.key = true // this token is a value; a key comes next
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, key: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > maxDepth {
			return fmt.Errorf("nested more than %d deep", maxDepth)
		}
	}
}

// Options select variants of the signature scheme.
type Options struct {
	// PSS selects RSASSA-PSS for RSA keys instead of PKCS #1 v1.5. It is
	// an error with other keys.
	PSS bool
	// StatementV01 also accepts in-toto Statement v0.1, which cosign v2
	// writes (format cosign-attestation).
	StatementV01 bool
}

func (o Options) parse(b []byte) (*Statement, error) {
	if o.StatementV01 {
		return ParseStatementV01(b)
	}
	return ParseStatement(b)
}

// scheme is how one key signs and verifies PAE.
type scheme struct {
	pub  crypto.PublicKey
	hash crypto.Hash // 0 for Ed25519
	opts crypto.SignerOpts
}

func newScheme(pub crypto.PublicKey, o Options) (*scheme, error) {
	_, isRSA := pub.(*rsa.PublicKey)
	if o.PSS && !isRSA {
		return nil, errors.New("dsse: PSS applies only to RSA keys")
	}
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return &scheme{pub: pub, opts: crypto.Hash(0)}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return &scheme{pub: pub, hash: crypto.SHA256, opts: crypto.SHA256}, nil
		case elliptic.P384():
			return &scheme{pub: pub, hash: crypto.SHA384, opts: crypto.SHA384}, nil
		}
		return nil, fmt.Errorf("dsse: ECDSA curve %s is not supported", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if o.PSS {
			return &scheme{pub: pub, hash: crypto.SHA256, opts: &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}}, nil
		}
		return &scheme{pub: pub, hash: crypto.SHA256, opts: crypto.SHA256}, nil
	}
	return nil, fmt.Errorf("dsse: %T keys are not supported", pub)
}

func (s *scheme) tbs(pae []byte) []byte {
	if s.hash == 0 {
		return pae
	}
	h := s.hash.New()
	h.Write(pae)
	return h.Sum(nil)
}

func (s *scheme) verify(pae, sig []byte) bool {
	d := s.tbs(pae)
	switch k := s.pub.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(k, d, sig)
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, d, sig)
	case *rsa.PublicKey:
		if pss, ok := s.opts.(*rsa.PSSOptions); ok {
			return rsa.VerifyPSS(k, s.hash, d, sig, pss) == nil
		}
		return rsa.VerifyPKCS1v15(k, s.hash, d, sig) == nil
	}
	return false
}

// KeyID returns the keyid Signet writes for pub: "SHA256:" and the
// unpadded base64 SHA-256 of its SSH encoding.
func KeyID(pub crypto.PublicKey) (string, error) {
	id, err := ssldsse.SHA256KeyID(pub)
	if err != nil {
		return "", fmt.Errorf("dsse: key id: %w", err)
	}
	return id, nil
}

// envelopeSigner adapts a crypto.Signer to go-securesystemslib's
// dsse.Signer.
type envelopeSigner struct {
	s     crypto.Signer
	sch   *scheme
	keyID string
}

func (e *envelopeSigner) Sign(_ context.Context, pae []byte) ([]byte, error) {
	return e.s.Sign(rand.Reader, e.sch.tbs(pae), e.sch.opts)
}

func (e *envelopeSigner) KeyID() (string, error) { return e.keyID, nil }

// Sign checks statement with ParseStatement and returns the JSON envelope
// of it signed by s, ending in a newline.
func Sign(ctx context.Context, s crypto.Signer, statement []byte, o Options) ([]byte, error) {
	if _, err := o.parse(statement); err != nil {
		return nil, err
	}
	sch, err := newScheme(s.Public(), o)
	if err != nil {
		return nil, err
	}
	id, err := KeyID(s.Public())
	if err != nil {
		return nil, err
	}
	es, err := ssldsse.NewEnvelopeSigner(&envelopeSigner{s: s, sch: sch, keyID: id})
	if err != nil {
		return nil, fmt.Errorf("dsse: %w", err)
	}
	env, err := es.SignPayload(ctx, PayloadType, statement)
	if err != nil {
		return nil, fmt.Errorf("dsse: signing: %w", err)
	}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("dsse: envelope: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseEnvelope parses a DSSE envelope of an in-toto statement strictly:
// no unknown or duplicate fields, standard base64, at least one signature.
func ParseEnvelope(b []byte) (*ssldsse.Envelope, error) {
	if len(b) > MaxEnvelopeSize {
		return nil, fmt.Errorf("dsse: envelope is %d bytes; the limit is %d", len(b), MaxEnvelopeSize)
	}
	if !utf8.Valid(b) {
		return nil, errors.New("dsse: envelope is not UTF-8")
	}
	if err := checkJSON(b); err != nil {
		return nil, fmt.Errorf("dsse: envelope: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, errors.New("dsse: envelope is not a JSON object")
	}
	if err := onlyKeys(top, "envelope", "payloadType", "payload", "signatures"); err != nil {
		return nil, err
	}
	var env ssldsse.Envelope
	var sigs []map[string]json.RawMessage
	if err := field(top, "payloadType", &env.PayloadType); err != nil {
		return nil, err
	}
	if env.PayloadType != PayloadType {
		return nil, fmt.Errorf("dsse: payloadType is %.80q, want %q", env.PayloadType, PayloadType)
	}
	if err := field(top, "payload", &env.Payload); err != nil {
		return nil, err
	}
	if _, err := base64.StdEncoding.Strict().DecodeString(env.Payload); err != nil {
		return nil, errors.New("dsse: payload is not standard base64")
	}
	if err := field(top, "signatures", &sigs); err != nil {
		return nil, err
	}
	if len(sigs) == 0 {
		return nil, errors.New("dsse: envelope has no signatures")
	}
	for i, m := range sigs {
		var s ssldsse.Signature
		if m == nil {
			return nil, fmt.Errorf("dsse: signature %d is not an object", i+1)
		}
		if err := onlyKeys(m, "signature", "keyid", "sig"); err != nil {
			return nil, err
		}
		if _, ok := m["keyid"]; ok {
			if err := field(m, "keyid", &s.KeyID); err != nil {
				return nil, err
			}
		}
		if err := field(m, "sig", &s.Sig); err != nil {
			return nil, err
		}
		if _, err := base64.StdEncoding.Strict().DecodeString(s.Sig); err != nil {
			return nil, fmt.Errorf("dsse: signature %d is not standard base64", i+1)
		}
		env.Signatures = append(env.Signatures, s)
	}
	return &env, nil
}

// envelopeVerifier adapts a public key to go-securesystemslib's
// dsse.Verifier.
type envelopeVerifier struct {
	sch   *scheme
	keyID string
}

func (v *envelopeVerifier) Verify(_ context.Context, pae, sig []byte) error {
	if !v.sch.verify(pae, sig) {
		return ErrVerify
	}
	return nil
}

func (v *envelopeVerifier) KeyID() (string, error)   { return v.keyID, nil }
func (v *envelopeVerifier) Public() crypto.PublicKey { return v.sch.pub }

// Verify checks that the envelope b carries a valid signature by pub over
// a valid statement, and returns the statement and its bytes.
func Verify(ctx context.Context, b []byte, pub crypto.PublicKey, o Options) (*Statement, []byte, error) {
	env, err := ParseEnvelope(b)
	if err != nil {
		return nil, nil, err
	}
	sch, err := newScheme(pub, o)
	if err != nil {
		return nil, nil, err
	}
	id, err := KeyID(pub)
	if err != nil {
		return nil, nil, err
	}
	ev, err := ssldsse.NewEnvelopeVerifier(&envelopeVerifier{sch: sch, keyID: id})
	if err != nil {
		return nil, nil, fmt.Errorf("dsse: %w", err)
	}
	_, payload, err := ev.VerifyAndDecode(ctx, env)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrVerify, err)
	}
	st, err := o.parse(payload)
	if err != nil {
		return nil, nil, err
	}
	return st, payload, nil
}
