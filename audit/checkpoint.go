package audit

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

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// A Checkpoint is a signed statement of the log's size and root hash, in
// the C2SP tlog-checkpoint form:
//
//	<origin>
//	<size>
//	<base64 root hash>
//
// carried as the text of a signed note (golang.org/x/mod/sumdb/note), so
// that the whole checkpoint reads:
//
//	signet.example.org/audit
//	1234
//	pKs8kPuS4Glr9u8iBzRUz+9n82spaRN/RuwkZ0hMLIk=
//
//	— signet.example.org/audit Az3grlHrbL…
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// Text returns the checkpoint body that is signed.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// ParseCheckpoint parses a checkpoint body. Extension lines after the root
// are allowed, as C2SP permits, and ignored.
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitAfter(text, "\n")
	if len(lines) < 4 || !strings.HasSuffix(text, "\n") {
		return Checkpoint{}, errors.New("checkpoint: want origin, size and root hash lines")
	}
	origin := strings.TrimSuffix(lines[0], "\n")
	size, err := strconv.ParseInt(strings.TrimSuffix(lines[1], "\n"), 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != strings.TrimSuffix(lines[1], "\n") {
		return Checkpoint{}, fmt.Errorf("checkpoint: size line %.40q is not a decimal number", lines[1])
	}
	root, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSuffix(lines[2], "\n"))
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("checkpoint: root line %.60q is not a base64 SHA-256 hash", lines[2])
	}
	if origin == "" || strings.ContainsAny(origin, " \t") {
		return Checkpoint{}, fmt.Errorf("checkpoint: bad origin %.60q", origin)
	}
	c := Checkpoint{Origin: origin, Size: size}
	copy(c.Root[:], root)
	return c, nil
}

// ParseUnverified parses a signed checkpoint without checking its
// signature: for reading the size of a checkpoint whose source is trusted
// anyway (one's own store), or before verifying it.
func ParseUnverified(signed string) (Checkpoint, error) {
	return ParseCheckpoint(noteText(signed))
}

// NoteSigner signs checkpoints with an Ed25519 crypto.Signer from the
// keystore, as a note.Signer, so that the log key's bytes are never seen.
type NoteSigner struct {
	name string
	hash uint32
	s    crypto.Signer
}

// NewNoteSigner returns a note signer named name (the log's origin) for s,
// which must be an Ed25519 key.
func NewNoteSigner(name string, s crypto.Signer) (*NoteSigner, error) {
	pub, ok := s.Public().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("audit: the log key is a %T; it must be Ed25519", s.Public())
	}
	return &NoteSigner{name: name, hash: keyHash(name, pub), s: s}, nil
}

func (n *NoteSigner) Name() string    { return n.name }
func (n *NoteSigner) KeyHash() uint32 { return n.hash }
func (n *NoteSigner) Sign(msg []byte) ([]byte, error) {
	return n.s.Sign(rand.Reader, msg, crypto.Hash(0))
}

// keyHash is the signed-note key hash of an Ed25519 key (algorithm 1).
func keyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{1})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// VerifierKey returns the log's public key in the signed-note form
// "origin+hash+key", which auditors pin and pass to 'signet audit'.
func VerifierKey(origin string, pub ed25519.PublicKey) (string, error) {
	return note.NewEd25519VerifierKey(origin, pub)
}

// SignCheckpoint returns the signed note of c.
func SignCheckpoint(c Checkpoint, s note.Signer) (string, error) {
	b, err := note.Sign(&note.Note{Text: c.Text()}, s)
	if err != nil {
		return "", fmt.Errorf("audit: signing checkpoint: %w", err)
	}
	return string(b), nil
}

// OpenCheckpoint verifies a signed checkpoint with the log's verifier key
// and returns it. The origin must be the verifier's name.
func OpenCheckpoint(signed string, vkey string) (Checkpoint, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("log key %.80q: %w", vkey, err)
	}
	return openCheckpoint(signed, v)
}

func openCheckpoint(signed string, v note.Verifier) (Checkpoint, error) {
	if len(signed) > 16<<10 {
		return Checkpoint{}, errors.New("checkpoint: larger than 16 KiB")
	}
	n, err := note.Open([]byte(signed), note.VerifierList(v))
	if err != nil {
		var unknown *note.UnverifiedNoteError
		if errors.As(err, &unknown) {
			return Checkpoint{}, fmt.Errorf("checkpoint is not signed by log key %s", v.Name())
		}
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("checkpoint is for log %q, not %q", c.Origin, v.Name())
	}
	return c, nil
}

// VerifyReceipt checks a receipt offline with the log's verifier key: the
// checkpoint's signature, and the inclusion proof of the receipt's entry
// under the checkpoint's root. It returns the entry and the checkpoint.
func VerifyReceipt(r *Receipt, vkey string) (*Entry, Checkpoint, error) {
	c, err := OpenCheckpoint(r.Checkpoint, vkey)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	if err := VerifyInclusion(c, r.Index, r.Entry, r.Proof); err != nil {
		return nil, c, fmt.Errorf("receipt: %w", err)
	}
	e, err := ParseEntry(r.Entry)
	if err != nil {
		return nil, c, fmt.Errorf("receipt: %w", err)
	}
	return e, c, nil
}

// hashesOf converts a proof to byte slices for JSON.
func hashesOf[P ~[]tlog.Hash](p P) [][]byte {
	out := make([][]byte, len(p))
	for i, h := range p {
		out[i] = bytes.Clone(h[:])
	}
	return out
}
