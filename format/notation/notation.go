// Package notation makes the signatures of Notary Project (notation) JWS
// envelopes: the signature over a JWS signing input
//
//	BASE64URL(protected header) "." BASE64URL(payload)
//
// whose header says "cty": "application/vnd.cncf.notary.payload.v1+json"
// and whose payload names the signed artifact:
//
//	{"targetArtifact":{"mediaType":"…","digest":"sha256:HEX","size":N,
//	                   "annotations":{…}}}
//
// notation (through a signing plugin's generate-signature) hands the
// signing input to the signer and builds the envelope around the
// signature itself. The algorithm follows from the key, as notation maps
// key specs to algorithms, and must be the header's "alg":
//
//	key          alg     signature
//	ECDSA P-256  ES256   r||s, 64 bytes (IEEE P1363, as JWS wants)
//	ECDSA P-384  ES384   r||s, 96 bytes
//	RSA 3072     PS384   RSASSA-PSS, SHA-384, salt = hash length
//	RSA 4096     PS512   RSASSA-PSS, SHA-512, salt = hash length
//
// ParseSigningInput parses strictly, so that a signer can tell which
// artifact digest it vouches for. Only the JWS envelope is supported;
// COSE is not.
package notation

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/signet-dev/signet/internal/strictjson"
)

const (
	// PayloadType is the header's cty.
	PayloadType = "application/vnd.cncf.notary.payload.v1+json"
	// MaxSigningInputSize bounds a signing input; notation's are well
	// under a kilobyte plus annotations.
	MaxSigningInputSize = 64 << 10
)

// SigningInput is a parsed JWS signing input.
type SigningInput struct {
	Alg       string // the header's alg
	MediaType string // targetArtifact.mediaType
	Digest    string // targetArtifact.digest, "sha256:HEX" (or sha384, sha512)
	Size      int64  // targetArtifact.size
}

// ParseSigningInput parses and checks a notation JWS signing input.
func ParseSigningInput(b []byte) (*SigningInput, error) {
	if len(b) > MaxSigningInputSize {
		return nil, fmt.Errorf("notation: signing input is %d bytes; the limit is %d", len(b), MaxSigningInputSize)
	}
	h64, p64, ok := strings.Cut(string(b), ".")
	if !ok || strings.Contains(p64, ".") {
		return nil, errors.New("notation: signing input is not HEADER.PAYLOAD")
	}
	header, err := base64.RawURLEncoding.Strict().DecodeString(h64)
	if err != nil {
		return nil, fmt.Errorf("notation: protected header is not base64url: %v", err)
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(p64)
	if err != nil {
		return nil, fmt.Errorf("notation: payload is not base64url: %v", err)
	}
	for what, doc := range map[string][]byte{"protected header": header, "payload": payload} {
		if err := strictjson.CheckObject(doc, 8); err != nil {
			return nil, fmt.Errorf("notation: %s: %w", what, err)
		}
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(header, &h); err != nil {
		return nil, fmt.Errorf("notation: protected header: %v", err)
	}
	var in SigningInput
	var cty string
	if json.Unmarshal(h["alg"], &in.Alg) != nil || in.Alg == "" {
		return nil, errors.New("notation: protected header has no alg")
	}
	if json.Unmarshal(h["cty"], &cty) != nil || cty != PayloadType {
		return nil, fmt.Errorf("notation: protected header cty is %.80s, want %q", h["cty"], PayloadType)
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, fmt.Errorf("notation: payload: %v", err)
	}
	if len(p) != 1 || p["targetArtifact"] == nil {
		return nil, errors.New(`notation: payload must hold exactly "targetArtifact"`)
	}
	var target map[string]json.RawMessage
	if err := json.Unmarshal(p["targetArtifact"], &target); err != nil || target == nil {
		return nil, errors.New("notation: targetArtifact is not an object")
	}
	for k := range target {
		switch k {
		case "mediaType", "digest", "size", "annotations":
		default:
			return nil, fmt.Errorf("notation: targetArtifact has unknown key %.40q", k)
		}
	}
	if json.Unmarshal(target["mediaType"], &in.MediaType) != nil || in.MediaType == "" {
		return nil, errors.New("notation: targetArtifact has no mediaType")
	}
	if json.Unmarshal(target["digest"], &in.Digest) != nil {
		return nil, errors.New("notation: targetArtifact has no digest")
	}
	if err := checkDigest(in.Digest); err != nil {
		return nil, err
	}
	if json.Unmarshal(target["size"], &in.Size) != nil || in.Size < 0 {
		return nil, errors.New("notation: targetArtifact has no size, or a negative one")
	}
	if a, ok := target["annotations"]; ok {
		var m map[string]string
		if json.Unmarshal(a, &m) != nil {
			return nil, errors.New("notation: targetArtifact annotations are not an object of strings")
		}
	}
	return &in, nil
}

func checkDigest(d string) error {
	alg, h, ok := strings.Cut(d, ":")
	sizes := map[string]int{"sha256": 32, "sha384": 48, "sha512": 64}
	if n, known := sizes[alg]; !ok || !known || len(h) != 2*n || strings.ToLower(h) != h {
		return fmt.Errorf("notation: targetArtifact digest %.80q is not sha256, sha384 or sha512 in lowercase hex", d)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return fmt.Errorf("notation: targetArtifact digest %.80q is not hex", d)
	}
	return nil
}

// Algorithm returns the JWS alg, hash and notation signing algorithm name
// of pub.
func Algorithm(pub crypto.PublicKey) (alg string, h crypto.Hash, name string, err error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", crypto.SHA256, "ECDSA-SHA-256", nil
		case elliptic.P384():
			return "ES384", crypto.SHA384, "ECDSA-SHA-384", nil
		}
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 3072:
			return "PS384", crypto.SHA384, "RSASSA-PSS-SHA-384", nil
		case 4096:
			return "PS512", crypto.SHA512, "RSASSA-PSS-SHA-512", nil
		}
	}
	return "", 0, "", fmt.Errorf("notation: a %T key of this size does not sign notation signatures; use ecdsa-p256, ecdsa-p384, rsa-3072 or rsa-4096", pub)
}

// KeySpec returns notation's key spec of pub ("EC-256", "RSA-3072" …).
func KeySpec(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return fmt.Sprintf("EC-%d", k.Curve.Params().BitSize), nil
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen()), nil
	}
	return "", fmt.Errorf("notation: no key spec for %T", pub)
}

// Sign signs a signing input with s, after checking that its alg is the
// key's.
func Sign(s crypto.Signer, signingInput []byte) ([]byte, error) {
	in, err := ParseSigningInput(signingInput)
	if err != nil {
		return nil, err
	}
	alg, h, _, err := Algorithm(s.Public())
	if err != nil {
		return nil, err
	}
	if in.Alg != alg {
		return nil, fmt.Errorf("notation: the header asks for alg %.20q; this key signs %s (check the key spec notation was told)", in.Alg, alg)
	}
	d := h.New()
	d.Write(signingInput)
	sum := d.Sum(nil)
	var opts crypto.SignerOpts = h
	if _, ok := s.Public().(*rsa.PublicKey); ok {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	}
	sig, err := s.Sign(rand.Reader, sum, opts)
	if err != nil {
		return nil, fmt.Errorf("notation: signing: %w", err)
	}
	if k, ok := s.Public().(*ecdsa.PublicKey); ok {
		return p1363(sig, (k.Curve.Params().BitSize+7)/8)
	}
	return sig, nil
}

// p1363 turns an ASN.1 DER ECDSA signature into r||s, each n bytes.
func p1363(der []byte, n int) ([]byte, error) {
	var r, s big.Int
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, errors.New("notation: the signer returned a malformed ECDSA signature")
	}
	if r.Sign() <= 0 || s.Sign() <= 0 || len(r.Bytes()) > n || len(s.Bytes()) > n {
		return nil, errors.New("notation: the signer returned an out-of-range ECDSA signature")
	}
	out := make([]byte, 2*n)
	r.FillBytes(out[:n])
	s.FillBytes(out[n:])
	return out, nil
}

// Verify checks sig over signingInput with pub.
func Verify(pub crypto.PublicKey, signingInput, sig []byte) error {
	_, h, _, err := Algorithm(pub)
	if err != nil {
		return err
	}
	d := h.New()
	d.Write(signingInput)
	sum := d.Sum(nil)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		n := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) == 2*n && ecdsa.Verify(k, sum, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])) {
			return nil
		}
	case *rsa.PublicKey:
		if rsa.VerifyPSS(k, h, sum, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil {
			return nil
		}
	}
	return errors.New("notation: signature does not verify")
}
