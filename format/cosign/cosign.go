// Package cosign makes and checks cosign's container image signatures: a
// "simple signing" payload that names an image by its manifest digest,
// and a bare signature over that payload, which cosign stores as a layer
// of a signature image in the registry.
//
// The payload (media type application/vnd.dev.cosign.simplesigning.v1+json)
// is one JSON object:
//
//	{"critical":{"identity":{"docker-reference":"REGISTRY/REPO"},
//	             "image":{"docker-manifest-digest":"sha256:HEX"},
//	             "type":"cosign container image signature"},
//	 "optional":{"KEY":"VALUE", …} or null}
//
// The signature covers the payload's bytes exactly as stored: SHA-256 of
// the payload, then ECDSA (ASN.1 DER) or RSA PKCS #1 v1.5 — what
// `cosign verify --key` checks by default. The signature travels base64
// in the layer annotation dev.cosignproject.cosign/signature.
//
// What a verifier learns from a good signature is the manifest digest;
// the docker-reference is a claim cosign does not check by default. A
// payload is parsed strictly (no unknown or duplicate keys, no other
// type, a well-formed sha256 digest), so a server can tell from it
// exactly which image it is asked to vouch for and record that.
package cosign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/signet-dev/signet/format/raw"
	"github.com/signet-dev/signet/internal/strictjson"
)

const (
	// MediaType is the media type of a simple signing payload layer.
	MediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// SignatureAnnotation holds a layer's signature, base64.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
	// Type is the payload's critical.type.
	Type = "cosign container image signature"
	// MaxPayloadSize bounds a payload; cosign's are a few hundred bytes,
	// more with annotations.
	MaxPayloadSize = 16 << 10
	// maxReference bounds docker-reference (registry host and path).
	maxReference = 512
)

// ErrVerify is returned for a signature that does not verify.
var ErrVerify = errors.New("cosign: signature does not verify")

// Payload is a parsed simple signing payload.
type Payload struct {
	// Reference is critical.identity.docker-reference: the repository,
	// "REGISTRY/REPO", without tag or digest.
	Reference string
	// Digest is critical.image.docker-manifest-digest, "sha256:HEX".
	Digest string
	// Annotations is the optional object (nil when null or absent).
	Annotations map[string]string
}

// Image is the image reference the payload vouches for,
// "REGISTRY/REPO@sha256:HEX": the artifact name Signet grants and records.
func (p *Payload) Image() string { return p.Reference + "@" + p.Digest }

type payloadJSON struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]string `json:"optional"`
}

// NewPayload returns the payload for the image repo@digest, with the
// given annotations (none if empty). The bytes are deterministic: keys in
// the order above, annotations sorted.
func NewPayload(repo, digest string, annotations map[string]string) ([]byte, error) {
	if err := checkReference(repo); err != nil {
		return nil, err
	}
	if err := checkDigest(digest); err != nil {
		return nil, err
	}
	for k, v := range annotations {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("cosign: annotation %.40q is not UTF-8", k)
		}
	}
	var p payloadJSON
	p.Critical.Identity.DockerReference = repo
	p.Critical.Image.DockerManifestDigest = digest
	p.Critical.Type = Type
	if len(annotations) > 0 {
		p.Optional = annotations // encoding/json sorts map keys
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("cosign: %w", err)
	}
	if len(b) > MaxPayloadSize {
		return nil, fmt.Errorf("cosign: payload is %d bytes with its annotations; the limit is %d", len(b), MaxPayloadSize)
	}
	return b, nil
}

// ParsePayload parses and checks a simple signing payload.
func ParsePayload(b []byte) (*Payload, error) {
	if len(b) > MaxPayloadSize {
		return nil, fmt.Errorf("cosign: payload is %d bytes; the limit is %d", len(b), MaxPayloadSize)
	}
	if !utf8.Valid(b) {
		return nil, errors.New("cosign: payload is not UTF-8")
	}
	if err := strictjson.CheckObject(b, 8); err != nil {
		return nil, fmt.Errorf("cosign: payload: %w", err)
	}
	// Decoding into maps keeps keys exact: encoding/json matches struct
	// fields case-insensitively.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil || top == nil {
		return nil, errors.New("cosign: payload is not a JSON object")
	}
	if err := onlyKeys(top, "payload", []string{"critical"}, "optional"); err != nil {
		return nil, err
	}
	var crit map[string]json.RawMessage
	if err := object(top["critical"], "critical", &crit); err != nil {
		return nil, err
	}
	if err := onlyKeys(crit, "critical", []string{"identity", "image", "type"}); err != nil {
		return nil, err
	}
	var typ string
	if err := json.Unmarshal(crit["type"], &typ); err != nil || typ != Type {
		return nil, fmt.Errorf("cosign: critical.type is %.80s, want %q", crit["type"], Type)
	}
	var identity, image map[string]json.RawMessage
	if err := object(crit["identity"], "critical.identity", &identity); err != nil {
		return nil, err
	}
	if err := onlyKeys(identity, "critical.identity", []string{"docker-reference"}); err != nil {
		return nil, err
	}
	if err := object(crit["image"], "critical.image", &image); err != nil {
		return nil, err
	}
	if err := onlyKeys(image, "critical.image", []string{"docker-manifest-digest"}); err != nil {
		return nil, err
	}
	var p Payload
	if err := json.Unmarshal(identity["docker-reference"], &p.Reference); err != nil {
		return nil, errors.New("cosign: critical.identity.docker-reference is not a string")
	}
	if err := checkReference(p.Reference); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(image["docker-manifest-digest"], &p.Digest); err != nil {
		return nil, errors.New("cosign: critical.image.docker-manifest-digest is not a string")
	}
	if err := checkDigest(p.Digest); err != nil {
		return nil, err
	}
	if opt, ok := top["optional"]; ok && !bytes.Equal(bytes.TrimSpace(opt), []byte("null")) {
		if err := json.Unmarshal(opt, &p.Annotations); err != nil || p.Annotations == nil {
			return nil, errors.New("cosign: optional is not an object of strings")
		}
	}
	return &p, nil
}

func object(raw json.RawMessage, what string, m *map[string]json.RawMessage) error {
	if err := json.Unmarshal(raw, m); err != nil || *m == nil {
		return fmt.Errorf("cosign: %s is not a JSON object", what)
	}
	return nil
}

// onlyKeys checks that m has every required key and no key but those
// and the optional ones.
func onlyKeys(m map[string]json.RawMessage, what string, required []string, optional ...string) error {
	for _, k := range required {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("cosign: %s has no %q", what, k)
		}
	}
	for k := range m {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			return fmt.Errorf("cosign: %s has unknown key %.40q", what, k)
		}
	}
	return nil
}

// checkReference checks a repository name: a registry host, a path, no
// tag or digest. It checks shape, not every rule of the distribution
// grammar; the registry client checks the rest.
func checkReference(s string) error {
	switch {
	case s == "":
		return errors.New("cosign: docker-reference is empty")
	case len(s) > maxReference:
		return fmt.Errorf("cosign: docker-reference is %d bytes; the limit is %d", len(s), maxReference)
	case strings.ContainsAny(s, "@ \t\r\n") || strings.Contains(s[strings.LastIndexByte(s, '/')+1:], ":"):
		return fmt.Errorf("cosign: docker-reference %.80q must be a repository (REGISTRY/REPO) without tag or digest", s)
	case !strings.Contains(s, "/"):
		return fmt.Errorf("cosign: docker-reference %.80q has no registry: want REGISTRY/REPO", s)
	}
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			return fmt.Errorf("cosign: docker-reference %.80q has a character outside printable ASCII", s)
		}
	}
	return nil
}

// checkDigest checks "sha256:" and 64 lowercase hex digits.
func checkDigest(d string) error {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 || strings.ToLower(h) != h {
		return fmt.Errorf("cosign: manifest digest %.80q is not sha256: and 64 lowercase hex digits", d)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return fmt.Errorf("cosign: manifest digest %.80q is not sha256: and 64 lowercase hex digits", d)
	}
	return nil
}

// CheckKey checks that pub can make signatures `cosign verify --key`
// accepts by default: ECDSA P-256 or RSA, both over SHA-256.
func CheckKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return nil
		}
	case *rsa.PublicKey:
		return nil
	}
	return fmt.Errorf("cosign: a %T key does not sign cosign signatures; use an ecdsa-p256 or RSA key", pub)
}

// Sign signs payload with s (ECDSA P-256 or RSA PKCS #1 v1.5, over
// SHA-256 of the payload).
func Sign(s crypto.Signer, payload []byte) ([]byte, error) {
	if err := CheckKey(s.Public()); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(payload)
	return raw.Sign(s, sum[:], raw.Options{})
}

// Verify checks that sig is a signature of payload under pub.
func Verify(pub crypto.PublicKey, payload, sig []byte) error {
	if err := CheckKey(pub); err != nil {
		return err
	}
	if err := raw.Verify(pub, payload, sig, raw.Options{}); err != nil {
		return ErrVerify
	}
	return nil
}
