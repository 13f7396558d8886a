package frost

import (
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
)

// ContextString is the RFC 9591 context string of FROST(Ed25519, SHA-512).
const ContextString = "FROST-ED25519-SHA512-v1"

// MaxParticipants bounds MaxSigners. RFC 9591 allows any number below the
// group order; a bound keeps every decoder's work small and fixed.
const MaxParticipants = 255

const (
	scalarSize  = 32
	elementSize = 32
)

// hashToScalar returns SHA-512(parts...) reduced modulo the group order,
// read little-endian, as the ciphersuite's H1, H2 and H3 do.
func hashToScalar(parts ...[]byte) *edwards25519.Scalar {
	h := sha512.New()
	for _, p := range parts {
		h.Write(p)
	}
	s, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	if err != nil {
		// SetUniformBytes fails only for inputs that are not 64 bytes long.
		panic("frost: SHA-512 output is not 64 bytes: " + err.Error())
	}
	return s
}

func hashBytes(parts ...[]byte) []byte {
	h := sha512.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// h1 derives binding factors ("rho").
func h1(m []byte) *edwards25519.Scalar { return hashToScalar([]byte(ContextString+"rho"), m) }

// h2 is the Ed25519 challenge: no context string, so that the result is an
// RFC 8032 signature.
func h2(m []byte) *edwards25519.Scalar { return hashToScalar(m) }

// h3 derives nonces.
func h3(m []byte) *edwards25519.Scalar { return hashToScalar([]byte(ContextString+"nonce"), m) }

// h4 hashes the message.
func h4(m []byte) []byte { return hashBytes([]byte(ContextString+"msg"), m) }

// h5 hashes the encoded commitment list.
func h5(m []byte) []byte { return hashBytes([]byte(ContextString+"com"), m) }

var (
	errIdentity    = errors.New("point is the identity element")
	errNotCanon    = errors.New("point encoding is not canonical")
	errTorsion     = errors.New("point is not in the prime-order subgroup")
	errScalarRange = errors.New("scalar is not below the group order")
)

// minusOne is L-1, used for the subgroup check [L]P = [L-1]P + P = identity.
var minusOne = edwards25519.NewScalar().Subtract(edwards25519.NewScalar(), scalarFromUint(1))

// decodeElement is DeserializeElement of the ciphersuite: a canonical
// encoding of a point of prime order (not the identity).
func decodeElement(b []byte) (*edwards25519.Point, error) {
	if len(b) != elementSize {
		return nil, fmt.Errorf("point is %d bytes, want %d", len(b), elementSize)
	}
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		return nil, fmt.Errorf("not a point on edwards25519: %w", err)
	}
	// SetBytes accepts non-canonical encodings (y >= p); RFC 8032 does not.
	if string(p.Bytes()) != string(b) {
		return nil, errNotCanon
	}
	if p.Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, errIdentity
	}
	// Public input: variable time is fine. q = [L-1]p + [0]B, then + p.
	q := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(minusOne, p, edwards25519.NewScalar())
	q.Add(q, p)
	if q.Equal(edwards25519.NewIdentityPoint()) != 1 {
		return nil, errTorsion
	}
	return p, nil
}

// encodeElement is SerializeElement: the identity has no encoding in FROST.
func encodeElement(p *edwards25519.Point) ([]byte, error) {
	if p.Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, errIdentity
	}
	return p.Bytes(), nil
}

func decodeScalar(b []byte) (*edwards25519.Scalar, error) {
	if len(b) != scalarSize {
		return nil, fmt.Errorf("scalar is %d bytes, want %d", len(b), scalarSize)
	}
	s, err := edwards25519.NewScalar().SetCanonicalBytes(b)
	if err != nil {
		return nil, errScalarRange
	}
	return s, nil
}

func scalarFromUint(v uint64) *edwards25519.Scalar {
	var b [32]byte
	binary.LittleEndian.PutUint64(b[:], v)
	s, err := edwards25519.NewScalar().SetCanonicalBytes(b[:])
	if err != nil {
		panic("frost: small integer is not a canonical scalar")
	}
	return s
}

// zeroScalar overwrites s in place.
func zeroScalar(s *edwards25519.Scalar) {
	if s != nil {
		s.Set(edwards25519.NewScalar())
	}
}

// Identifier names a participant: a non-zero scalar, here a small integer
// 1..MaxSigners as the trusted dealer assigns them.
type Identifier uint16

func (id Identifier) scalar() *edwards25519.Scalar { return scalarFromUint(uint64(id)) }

// encode is SerializeScalar(identifier).
func (id Identifier) encode() []byte { return id.scalar().Bytes() }

func decodeIdentifier(b []byte) (Identifier, error) {
	if len(b) != scalarSize {
		return 0, fmt.Errorf("identifier is %d bytes, want %d", len(b), scalarSize)
	}
	for _, c := range b[2:] {
		if c != 0 {
			return 0, fmt.Errorf("identifier is larger than %d", MaxParticipants)
		}
	}
	id := Identifier(binary.LittleEndian.Uint16(b))
	if id == 0 || id > MaxParticipants {
		return 0, fmt.Errorf("identifier %d is outside 1..%d", id, MaxParticipants)
	}
	return id, nil
}
