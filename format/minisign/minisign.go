// Package minisign produces and checks minisign signatures in the
// prehashed form ("ED") that `minisign -V` verifies, and minisign public
// key files.
//
// # Format
//
// A signature file (FILE.minisig) is four lines, each ending in "\n":
//
//	untrusted comment: <text, not signed>
//	base64("ED" || key id (8 bytes) || Ed25519(BLAKE2b-512(file)))
//	trusted comment: <text>
//	base64(Ed25519(signature || trusted comment))
//
// The first signature covers the 64-byte BLAKE2b-512 digest of the file, so
// the signer needs only the digest, never the file; the second, the global
// signature, binds the trusted comment (conventionally a timestamp and the
// file name) to the first. A public key file is two lines:
//
//	untrusted comment: minisign public key <key id in hex>
//	base64("Ed" || key id || Ed25519 public key (32 bytes))
//
// minisign prints a key id as the hexadecimal of the 8 bytes read as a
// little-endian integer, so the printed digits are the bytes in reverse
// order ([KeyID.String]).
//
// # Key ids
//
// minisign makes a key id at random when it generates a key. Signet's keys
// are generated elsewhere, so [KeyIDFor] derives the id from the public
// key: the first 8 bytes of SHA-256 of the 32-byte Ed25519 public key.
// Anyone holding the public key computes the same id, so the server, the
// client and an exported public key file always agree without storing it.
//
// # What it guarantees
//
// [Sign] takes a [crypto.Signer] holding an Ed25519 key (from a keystore or
// an HSM) and its output is accepted by `minisign -V` with the public key
// file of [PublicKey.Marshal]. Both Ed25519 signatures are pure Ed25519
// over short inputs, so a signer that refuses to sign a message is never
// needed. Parsing is strict: wrong line prefixes, bad base64, wrong lengths
// or extra lines are errors. The legacy non-prehashed "Ed" signatures parse
// but never verify here: Signet neither makes nor checks them.
package minisign

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/blake2b"
)

const (
	algPublicKey = "Ed" // the algorithm of a public key, and of legacy signatures
	algPrehashed = "ED" // Ed25519 over BLAKE2b-512 of the file

	untrustedPrefix = "untrusted comment: "
	trustedPrefix   = "trusted comment: "

	// MaxComment bounds each comment, in bytes. minisign accepts up to
	// about 1 KiB of untrusted and 8 KiB of trusted comment; Signet keeps
	// trusted comments within 1 KiB because they are copied into audit
	// records.
	MaxComment = 1000

	// MaxSize bounds a signature or public key file.
	MaxSize = 4 << 10

	// DigestSize is the size of the BLAKE2b-512 digest an "ED" signature
	// covers.
	DigestSize = blake2b.Size
)

// ErrVerify is returned when a signature does not verify.
var ErrVerify = errors.New("minisign: signature does not verify")

// KeyID identifies a minisign key.
type KeyID [8]byte

// KeyIDFor derives the key id of an Ed25519 public key: the first 8 bytes
// of its SHA-256.
func KeyIDFor(pub ed25519.PublicKey) KeyID {
	sum := sha256.Sum256(pub)
	return KeyID(sum[:8])
}

// String returns id as minisign prints it: the little-endian integer in
// uppercase hexadecimal, without leading zeros (minisign's "%" PRIX64), so
// that a public key file Signet writes is byte for byte the one minisign
// would.
func (id KeyID) String() string {
	return strings.ToUpper(strconv.FormatUint(binary.LittleEndian.Uint64(id[:]), 16))
}

// PublicKey is a minisign public key.
type PublicKey struct {
	ID  KeyID
	Key ed25519.PublicKey
}

// NewPublicKey returns the minisign public key of pub with its derived id.
func NewPublicKey(pub crypto.PublicKey) (*PublicKey, error) {
	k, ok := pub.(ed25519.PublicKey)
	if !ok || len(k) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("minisign: a %T key cannot sign; minisign keys are Ed25519", pub)
	}
	return &PublicKey{ID: KeyIDFor(k), Key: k}, nil
}

// Marshal returns the public key file.
func (p *PublicKey) Marshal() []byte {
	raw := append(append([]byte(algPublicKey), p.ID[:]...), p.Key...)
	return fmt.Appendf(nil, "%sminisign public key %s\n%s\n", untrustedPrefix, p.ID, base64.StdEncoding.EncodeToString(raw))
}

// ParsePublicKey parses a public key file, or its base64 line alone (as
// `minisign -P` takes it).
func ParsePublicKey(b []byte) (*PublicKey, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("minisign: public key is %d bytes; the limit is %d", len(b), MaxSize)
	}
	lines, err := splitLines(b)
	if err != nil {
		return nil, fmt.Errorf("minisign: public key: %w", err)
	}
	switch {
	case len(lines) == 2 && strings.HasPrefix(lines[0], untrustedPrefix):
		lines = lines[1:]
	case len(lines) != 1:
		return nil, errors.New("minisign: public key: want an untrusted comment line and a base64 line")
	}
	raw, err := decode(lines[0], 2+8+ed25519.PublicKeySize, "public key")
	if err != nil {
		return nil, err
	}
	if string(raw[:2]) != algPublicKey {
		return nil, fmt.Errorf("minisign: public key algorithm %q; only Ed25519 (%q) is known", raw[:2], algPublicKey)
	}
	return &PublicKey{ID: KeyID(raw[2:10]), Key: ed25519.PublicKey(raw[10:])}, nil
}

// Signature is a minisign signature.
type Signature struct {
	UntrustedComment string
	Algorithm        string // "ED" (prehashed) or legacy "Ed"
	KeyID            KeyID
	Signature        [ed25519.SignatureSize]byte
	TrustedComment   string
	GlobalSignature  [ed25519.SignatureSize]byte
}

// ValidComment reports an error unless c can be a comment: at most
// MaxComment bytes of UTF-8 without control characters other than tab.
func ValidComment(c string) error {
	if len(c) > MaxComment {
		return fmt.Errorf("minisign: comment is %d bytes; the limit is %d", len(c), MaxComment)
	}
	if !utf8.ValidString(c) {
		return fmt.Errorf("minisign: comment %.80q is not UTF-8", c)
	}
	for _, r := range c {
		if r != '\t' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') {
			return fmt.Errorf("minisign: comment %.80q contains a control character or line break", c)
		}
	}
	return nil
}

// Sign makes a prehashed signature of the file whose BLAKE2b-512 digest is
// digest, with the Ed25519 signer s, under key id id.
func Sign(s crypto.Signer, id KeyID, digest []byte, trustedComment, untrustedComment string) (*Signature, error) {
	if _, ok := s.Public().(ed25519.PublicKey); !ok {
		return nil, fmt.Errorf("minisign: a %T key cannot sign; minisign keys are Ed25519", s.Public())
	}
	if len(digest) != DigestSize {
		return nil, fmt.Errorf("minisign: digest is %d bytes, want the %d of BLAKE2b-512", len(digest), DigestSize)
	}
	if err := ValidComment(trustedComment); err != nil {
		return nil, fmt.Errorf("trusted comment: %w", err)
	}
	if err := ValidComment(untrustedComment); err != nil {
		return nil, fmt.Errorf("untrusted comment: %w", err)
	}
	sig := &Signature{UntrustedComment: untrustedComment, Algorithm: algPrehashed, KeyID: id, TrustedComment: trustedComment}
	first, err := s.Sign(rand.Reader, digest, crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("minisign: signing: %w", err)
	}
	if len(first) != ed25519.SignatureSize {
		return nil, fmt.Errorf("minisign: signer returned %d bytes, not an Ed25519 signature", len(first))
	}
	copy(sig.Signature[:], first)
	global, err := s.Sign(rand.Reader, sig.globalMessage(), crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("minisign: signing the trusted comment: %w", err)
	}
	if len(global) != ed25519.SignatureSize {
		return nil, fmt.Errorf("minisign: signer returned %d bytes, not an Ed25519 signature", len(global))
	}
	copy(sig.GlobalSignature[:], global)
	return sig, nil
}

// globalMessage is what the global signature covers.
func (s *Signature) globalMessage() []byte {
	return append(s.Signature[:len(s.Signature):len(s.Signature)], s.TrustedComment...)
}

// Marshal returns the signature file.
func (s *Signature) Marshal() []byte {
	raw := append(append([]byte(s.Algorithm), s.KeyID[:]...), s.Signature[:]...)
	var b bytes.Buffer
	b.WriteString(untrustedPrefix + s.UntrustedComment + "\n")
	b.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
	b.WriteString(trustedPrefix + s.TrustedComment + "\n")
	b.WriteString(base64.StdEncoding.EncodeToString(s.GlobalSignature[:]) + "\n")
	return b.Bytes()
}

// ParseSignature parses a signature file.
func ParseSignature(b []byte) (*Signature, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("minisign: signature is %d bytes; the limit is %d", len(b), MaxSize)
	}
	lines, err := splitLines(b)
	if err != nil {
		return nil, fmt.Errorf("minisign: signature: %w", err)
	}
	if len(lines) != 4 {
		return nil, fmt.Errorf("minisign: signature has %d lines, want 4", len(lines))
	}
	var s Signature
	var ok bool
	if s.UntrustedComment, ok = strings.CutPrefix(lines[0], untrustedPrefix); !ok {
		return nil, fmt.Errorf("minisign: signature: first line does not start with %q", untrustedPrefix)
	}
	if s.TrustedComment, ok = strings.CutPrefix(lines[2], trustedPrefix); !ok {
		return nil, fmt.Errorf("minisign: signature: third line does not start with %q", trustedPrefix)
	}
	for _, c := range []string{s.UntrustedComment, s.TrustedComment} {
		if err := ValidComment(c); err != nil {
			return nil, err
		}
	}
	raw, err := decode(lines[1], 2+8+ed25519.SignatureSize, "signature")
	if err != nil {
		return nil, err
	}
	switch a := string(raw[:2]); a {
	case algPrehashed, algPublicKey:
		s.Algorithm = a
	default:
		return nil, fmt.Errorf("minisign: signature algorithm %q is not %q or %q", a, algPrehashed, algPublicKey)
	}
	s.KeyID = KeyID(raw[2:10])
	copy(s.Signature[:], raw[10:])
	global, err := decode(lines[3], ed25519.SignatureSize, "global signature")
	if err != nil {
		return nil, err
	}
	copy(s.GlobalSignature[:], global)
	return &s, nil
}

// Verify checks that s is a prehashed signature by pub of the file whose
// BLAKE2b-512 digest is digest, including the trusted comment.
func (s *Signature) Verify(pub *PublicKey, digest []byte) error {
	if s.Algorithm != algPrehashed {
		return fmt.Errorf("%w: legacy non-prehashed (%q) signatures are not accepted; re-sign with minisign 0.8 or later, or signet", ErrVerify, s.Algorithm)
	}
	if s.KeyID != pub.ID {
		return fmt.Errorf("%w: made by key id %s, not %s", ErrVerify, s.KeyID, pub.ID)
	}
	if len(digest) != DigestSize {
		return fmt.Errorf("minisign: digest is %d bytes, want the %d of BLAKE2b-512", len(digest), DigestSize)
	}
	if !ed25519.Verify(pub.Key, digest, s.Signature[:]) {
		return ErrVerify
	}
	if !ed25519.Verify(pub.Key, s.globalMessage(), s.GlobalSignature[:]) {
		return fmt.Errorf("%w: the trusted comment was altered", ErrVerify)
	}
	return nil
}

// splitLines splits b into lines ending in "\n" (or "\r\n"); the last line
// may lack its end.
func splitLines(b []byte) ([]string, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("not UTF-8 text")
	}
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil, errors.New("empty")
	}
	return strings.Split(s, "\n"), nil
}

func decode(line string, n int, what string) ([]byte, error) {
	raw, err := base64.StdEncoding.Strict().DecodeString(line)
	if err != nil {
		return nil, fmt.Errorf("minisign: %s line is not base64", what)
	}
	if len(raw) != n {
		return nil, fmt.Errorf("minisign: %s is %d bytes, want %d", what, len(raw), n)
	}
	return raw, nil
}
