package openpgp

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// A HashState is a SHA-256 computation stopped after a document's bytes,
// in a form any SHA-256 implementation can produce and resume: Chain is
// the eight 32-bit chaining values (big-endian) after the last whole
// 64-byte block, Tail the Length mod 64 bytes after that block, and
// Length the number of bytes hashed. A client hashes a large file locally
// and sends its HashState; the signer resumes it, appends its own
// signature trailer and signs, so the file never travels and the signer
// still decides everything the signature says about itself.
type HashState struct {
	Chain  []byte
	Tail   []byte
	Length int64
}

// sha256Magic prefixes Go's binary encoding of a SHA-256 state.
const sha256Magic = "sha\x03"

// StateOf returns the state of h, a SHA-256 hash from crypto/sha256.
func StateOf(h hash.Hash) (HashState, error) {
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok || h.Size() != sha256.Size {
		return HashState{}, errors.New("openpgp: hash state: not a crypto/sha256 hash")
	}
	b, err := m.MarshalBinary()
	if err != nil {
		return HashState{}, err
	}
	// "sha\x03" | 8 × uint32 | 64-byte block buffer | uint64 length
	if len(b) != 4+32+64+8 || string(b[:4]) != sha256Magic {
		return HashState{}, errors.New("openpgp: hash state: unexpected crypto/sha256 state encoding")
	}
	n := binary.BigEndian.Uint64(b[100:])
	if n > 1<<62 {
		return HashState{}, errors.New("openpgp: hash state: length out of range")
	}
	return HashState{Chain: b[4:36], Tail: b[36 : 36+n%64], Length: int64(n)}, nil
}

// Resume returns a SHA-256 hash in state st, ready for more bytes. It
// checks the state's shape; any chaining value is a possible state.
func (st HashState) Resume() (hash.Hash, error) {
	switch {
	case len(st.Chain) != 32:
		return nil, fmt.Errorf("hash state: chain is %d bytes, want 32", len(st.Chain))
	case st.Length < 0 || st.Length > 1<<62:
		return nil, fmt.Errorf("hash state: length %d out of range", st.Length)
	case int64(len(st.Tail)) != st.Length%64:
		return nil, fmt.Errorf("hash state: tail is %d bytes, but a length of %d leaves %d bytes after the last whole block", len(st.Tail), st.Length, st.Length%64)
	}
	b := make([]byte, 0, 4+32+64+8)
	b = append(b, sha256Magic...)
	b = append(b, st.Chain...)
	b = append(b, st.Tail...)
	b = append(b, make([]byte, 64-len(st.Tail))...)
	b = binary.BigEndian.AppendUint64(b, uint64(st.Length))
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("hash state: %w", err)
	}
	return h, nil
}
