package frost

import (
	"encoding/binary"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
)

// Wire encodings. Commitments and shares use the RFC 9591 element and
// scalar encodings, prefixed with the identifier as a scalar (the layout of
// one entry of encode_group_commitment_list). Group information and key
// shares carry a magic string naming the format and ciphersuite so that a
// file of one kind is never read as another.
//
//	SigningCommitment: id(32) ‖ hiding(32) ‖ binding(32)            96 bytes
//	SignatureShare:    id(32) ‖ z(32)                               64 bytes
//	GroupInfo:         "signet-frost-ed25519-group-v1\n" ‖ t(u16 BE) ‖ n(u16 BE) ‖ C_0..C_{t-1}(32 each)
//	KeyShare:          "signet-frost-ed25519-share-v1\n" ‖ id(u16 BE) ‖ s_i(32) ‖ GroupInfo
const (
	groupMagic = "signet-frost-ed25519-group-v1\n"
	shareMagic = "signet-frost-ed25519-share-v1\n"

	// SigningCommitmentSize and SignatureShareSize are the encoded sizes.
	SigningCommitmentSize = scalarSize + 2*elementSize
	SignatureShareSize    = 2 * scalarSize
)

// Bytes encodes the commitment.
func (c SigningCommitment) Bytes() []byte {
	out := make([]byte, 0, SigningCommitmentSize)
	out = append(out, c.ID.encode()...)
	out = append(out, c.Hiding.Bytes()...)
	return append(out, c.Binding.Bytes()...)
}

// ParseSigningCommitment decodes a commitment, refusing identifiers outside
// 1..MaxParticipants and points that are not canonical, of prime order and
// not the identity.
func ParseSigningCommitment(b []byte) (SigningCommitment, error) {
	if len(b) != SigningCommitmentSize {
		return SigningCommitment{}, fmt.Errorf("frost: commitment is %d bytes, want %d", len(b), SigningCommitmentSize)
	}
	id, err := decodeIdentifier(b[:32])
	if err != nil {
		return SigningCommitment{}, fmt.Errorf("frost: commitment: %w", err)
	}
	h, err := decodeElement(b[32:64])
	if err != nil {
		return SigningCommitment{}, fmt.Errorf("frost: commitment of participant %d: hiding: %w", id, err)
	}
	bd, err := decodeElement(b[64:96])
	if err != nil {
		return SigningCommitment{}, fmt.Errorf("frost: commitment of participant %d: binding: %w", id, err)
	}
	return SigningCommitment{ID: id, Hiding: h, Binding: bd}, nil
}

// Bytes encodes the share.
func (s SignatureShare) Bytes() []byte {
	return append(s.ID.encode(), s.Z.Bytes()...)
}

// ParseSignatureShare decodes a signature share (identifier and canonical
// scalar). Whether it is a correct share is VerifySignatureShare's question.
func ParseSignatureShare(b []byte) (SignatureShare, error) {
	if len(b) != SignatureShareSize {
		return SignatureShare{}, fmt.Errorf("frost: signature share is %d bytes, want %d", len(b), SignatureShareSize)
	}
	id, err := decodeIdentifier(b[:32])
	if err != nil {
		return SignatureShare{}, fmt.Errorf("frost: signature share: %w", err)
	}
	z, err := decodeScalar(b[32:])
	if err != nil {
		return SignatureShare{}, fmt.Errorf("frost: signature share of participant %d: %w", id, err)
	}
	return SignatureShare{ID: id, Z: z}, nil
}

// Bytes encodes the group information.
func (g *GroupInfo) Bytes() []byte {
	out := make([]byte, 0, len(groupMagic)+4+len(g.Commitment)*elementSize)
	out = append(out, groupMagic...)
	out = binary.BigEndian.AppendUint16(out, uint16(g.MinSigners))
	out = binary.BigEndian.AppendUint16(out, uint16(g.MaxSigners))
	for _, c := range g.Commitment {
		out = append(out, c.Bytes()...)
	}
	return out
}

// ParseGroupInfo decodes group information, refusing trailing bytes,
// thresholds outside 2 <= t <= n <= MaxParticipants and bad points.
func ParseGroupInfo(b []byte) (*GroupInfo, error) {
	g, rest, err := parseGroupInfo(b)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("frost: group information has %d trailing bytes", len(rest))
	}
	return g, nil
}

func parseGroupInfo(b []byte) (*GroupInfo, []byte, error) {
	if len(b) < len(groupMagic)+4 || string(b[:len(groupMagic)]) != groupMagic {
		return nil, nil, errors.New("frost: not FROST(Ed25519, SHA-512) group information (bad magic)")
	}
	b = b[len(groupMagic):]
	t, n := int(binary.BigEndian.Uint16(b)), int(binary.BigEndian.Uint16(b[2:]))
	b = b[4:]
	if err := checkThreshold(t, n); err != nil {
		return nil, nil, err
	}
	if len(b) < t*elementSize {
		return nil, nil, fmt.Errorf("frost: group information is truncated: %d bytes for %d commitment points", len(b), t)
	}
	g := &GroupInfo{MinSigners: t, MaxSigners: n, Commitment: make([]*edwards25519.Point, t)}
	for i := range t {
		p, err := decodeElement(b[i*elementSize : (i+1)*elementSize])
		if err != nil {
			return nil, nil, fmt.Errorf("frost: group information: commitment point %d: %w", i, err)
		}
		g.Commitment[i] = p
	}
	return g, b[t*elementSize:], nil
}

// Bytes encodes the key share, secret included: seal the result (to the
// server's age recipient, for example) and clear it after use.
func (k *KeyShare) Bytes() []byte {
	out := make([]byte, 0, len(shareMagic)+2+scalarSize)
	out = append(out, shareMagic...)
	out = binary.BigEndian.AppendUint16(out, uint16(k.ID))
	out = append(out, k.secret.Bytes()...)
	return append(out, k.Group.Bytes()...)
}

// ParseKeyShare decodes a key share and checks it against the dealer's VSS
// commitment (vss_verify): a share that does not lie on the committed
// polynomial is refused.
func ParseKeyShare(b []byte) (*KeyShare, error) {
	if len(b) < len(shareMagic)+2+scalarSize || string(b[:len(shareMagic)]) != shareMagic {
		return nil, errors.New("frost: not a FROST(Ed25519, SHA-512) key share (bad magic)")
	}
	b = b[len(shareMagic):]
	id := Identifier(binary.BigEndian.Uint16(b))
	s, err := decodeScalar(b[2 : 2+scalarSize])
	if err != nil {
		return nil, fmt.Errorf("frost: key share: secret: %w", err)
	}
	g, err := ParseGroupInfo(b[2+scalarSize:])
	if err != nil {
		zeroScalar(s)
		return nil, fmt.Errorf("frost: key share: %w", err)
	}
	k := &KeyShare{ID: id, Group: g}
	k.secret.Set(s)
	zeroScalar(s)
	if err := k.VerifyShare(); err != nil {
		k.Zero()
		return nil, err
	}
	return k, nil
}
