// Package custody splits a keystore's unlock secret among M custodians so
// that any N of them, and no fewer, can reconstruct it.
//
// # Scheme
//
// The secret is a random scalar s of the ristretto255 group. [Split] draws
// a random polynomial f of degree N-1 with f(0) = s and gives custodian i
// (1 ≤ i ≤ M) the share f(i) (Shamir). It also publishes the Feldman
// commitments C_j = a_j·G to the coefficients a_j of f, so that anyone
// holding the public [Set] can check that a share is a point of f without
// learning anything about s: f(i)·G must equal Σ C_j·i^j. A wrong, corrupted
// or forged share is therefore rejected the moment it is submitted
// ([Set.Verify]), naming its index and custodian, instead of producing a
// wrong secret once the threshold is reached. The arithmetic is
// github.com/cloudflare/circl/secretsharing; ristretto255 is a prime-order
// group with constant-time scalar arithmetic.
//
// Each share is encrypted to its custodian's age public key
// (filippo.io/age: an X25519 "age1…" recipient from age-keygen, or a
// post-quantum "age1pq1…" one) and written as one share file per custodian. The plaintext secret is never
// stored: the keystore keeps only the Set, and derives its key-wrapping key
// from the secret when a quorum of shares has been submitted.
//
// # Formats
//
// A Set is JSON, kept in the keystore header (docs/custody.md):
//
//	{"id": "9f…(32 hex)", "threshold": 3, "created": "2025-01-02T03:04:05Z",
//	 "custodians": [{"name": "alice", "recipient": "age1…"}, …],
//	 "commitments": ["base64 of a 32-byte ristretto255 element", …]}
//
// Custodian i+1 is custodians[i]; there are exactly threshold commitments.
// A share, the plaintext inside a share file and the body of a share
// submission, is JSON
//
//	{"set": "9f…", "index": 2, "value": "base64 of a 32-byte scalar"}
//
// A share file is an ASCII-armored age file, preceded by comment lines
// starting with "#" that tell a person whose share it is:
//
//	# signet custody share 2 of 5 (threshold 3) for alice
//	# set 9f…, created 2025-01-02T03:04:05Z
//	-----BEGIN AGE ENCRYPTED FILE-----
//	…
//	-----END AGE ENCRYPTED FILE-----
//
// With the comment lines removed it is a standard age file:
// grep -v '^#' alice.share | age -d -i alice.key prints the share.
// Parsing is strict: anything but comments and blank lines before the armor,
// or anything after it, is an error; every file is at most 64 KiB.
//
// # What it guarantees, and what not
//
// Fewer than threshold shares reveal nothing about the secret (information
// theoretically, given the commitments only computationally: they fix s·G).
// A share that does not lie on the committed polynomial is detected on
// entry. Rekeying draws a new secret and a new Set with a new id, so shares
// of an old set are refused by id, and cannot unwrap the keystore's current
// key-wrapping either.
//
// It does not stop custodians from colluding, a custodian from losing
// their age identity (keep M comfortably above N), or anyone holding a
// quorum of shares and an old copy of the keystore from opening that copy:
// rekeying protects the live keystore, not its backups.
package custody

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/secretsharing"

	"github.com/signet-dev/signet/internal/strictjson"
)

// Limits on a Set.
const (
	MaxCustodians = 64
	SecretSize    = 32 // bytes of a ristretto255 scalar
	maxFileSize   = 64 << 10
)

var grp = group.Ristretto255

// Errors that callers branch on, wrapped with details.
var (
	ErrWrongSet   = errors.New("share belongs to another share set")
	ErrBadShare   = errors.New("share does not match the set's commitments")
	ErrDuplicate  = errors.New("share already received")
	ErrNotEnough  = errors.New("not enough shares")
	ErrSubmitter  = errors.New("principal already submitted a share")
	ErrMalformed  = errors.New("malformed")
	ErrNoIdentity = errors.New("no identity decrypts this share file")
)

// Custodian is one holder of a share.
type Custodian struct {
	Name      string `json:"name"`
	Recipient string `json:"recipient"` // age recipient the share is encrypted to
}

// Set is the public description of one sharing of a secret.
type Set struct {
	ID          string      `json:"id"`
	Threshold   int         `json:"threshold"`
	Created     string      `json:"created"` // RFC 3339, UTC, whole seconds
	Custodians  []Custodian `json:"custodians"`
	Commitments [][]byte    `json:"commitments"`

	commitments []group.Element
}

// Share is one custodian's share of the secret.
type Share struct {
	Set   string `json:"set"`
	Index int    `json:"index"` // 1-based; custodian Index-1 of the set
	Value []byte `json:"value"` // a canonical ristretto255 scalar
}

// String never prints the share's value.
func (s Share) String() string { return fmt.Sprintf("share %d of set %s", s.Index, s.Set) }

// Format prints only what String does, whatever the verb, so that a share
// handed to a logger never prints its value.
func (s Share) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// Wipe zeros the share's value.
func (s *Share) Wipe() { clear(s.Value) }

// ValidName reports an error unless name is a custodian name: 1 to 64
// printable characters without spaces at either end.
func ValidName(name string) error {
	ok := len(name) >= 1 && len(name) <= 64 && utf8.ValidString(name) && strings.TrimSpace(name) == name
	for _, r := range name {
		ok = ok && unicode.IsPrint(r)
	}
	if !ok {
		return fmt.Errorf("invalid custodian name %.80q: 1 to 64 printable characters", name)
	}
	return nil
}

// Split draws a new secret and shares it among custodians so that
// threshold of them can reconstruct it. It returns the secret (SecretSize
// bytes; the caller wipes it), the public Set and one share per custodian,
// in order.
func Split(threshold int, custodians []Custodian, now time.Time) ([]byte, *Set, []Share, error) {
	if err := Check(threshold, custodians); err != nil {
		return nil, nil, nil, err
	}
	n := len(custodians)
	var id [16]byte
	rand.Read(id[:])
	s := grp.RandomNonZeroScalar(rand.Reader)
	ss := secretsharing.New(rand.Reader, uint(threshold-1), s)
	set := &Set{
		ID: hex.EncodeToString(id[:]), Threshold: threshold,
		Created:    now.UTC().Truncate(time.Second).Format(time.RFC3339),
		Custodians: append([]Custodian(nil), custodians...),
	}
	set.commitments = ss.CommitSecret()
	for _, c := range set.commitments {
		b, err := c.MarshalBinaryCompress()
		if err != nil {
			return nil, nil, nil, err
		}
		set.Commitments = append(set.Commitments, b)
	}
	var shares []Share
	for i, sh := range ss.Share(uint(n)) {
		v, err := sh.Value.MarshalBinary()
		if err != nil {
			return nil, nil, nil, err
		}
		shares = append(shares, Share{Set: set.ID, Index: i + 1, Value: v})
	}
	secret, err := s.MarshalBinary()
	if err != nil {
		return nil, nil, nil, err
	}
	return secret, set, shares, nil
}

// Check reports whether a set of threshold of custodians can be made: 1 ≤
// threshold ≤ len(custodians) ≤ MaxCustodians, names valid and distinct,
// recipients valid.
func Check(threshold int, custodians []Custodian) error {
	n := len(custodians)
	if n < 1 || n > MaxCustodians {
		return fmt.Errorf("%d custodians; a set has 1 to %d", n, MaxCustodians)
	}
	if threshold < 1 || threshold > n {
		return fmt.Errorf("threshold %d with %d custodians; it must be between 1 and %d", threshold, n, n)
	}
	seen := map[string]bool{}
	for _, c := range custodians {
		if err := ValidName(c.Name); err != nil {
			return err
		}
		if seen[c.Name] {
			return fmt.Errorf("custodian %q is listed twice; give every custodian one share", c.Name)
		}
		seen[c.Name] = true
		if _, err := ParseRecipient(c.Recipient); err != nil {
			return fmt.Errorf("custodian %q: %w", c.Name, err)
		}
	}
	return nil
}

// ParseSet decodes and checks a Set.
func ParseSet(b []byte) (*Set, error) {
	var s Set
	if err := decodeStrict(b, &s); err != nil {
		return nil, fmt.Errorf("custody set: %w", err)
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("custody set: %w", err)
	}
	return &s, nil
}

// check validates s and decodes its commitments.
func (s *Set) check() error {
	if id, err := hex.DecodeString(s.ID); err != nil || len(id) != 16 || hex.EncodeToString(id) != s.ID {
		return fmt.Errorf("%w: id %.40q is not 32 lowercase hex digits", ErrMalformed, s.ID)
	}
	n := len(s.Custodians)
	if n < 1 || n > MaxCustodians {
		return fmt.Errorf("%w: %d custodians; a set has 1 to %d", ErrMalformed, n, MaxCustodians)
	}
	if s.Threshold < 1 || s.Threshold > n {
		return fmt.Errorf("%w: threshold %d with %d custodians", ErrMalformed, s.Threshold, n)
	}
	if t, err := time.Parse(time.RFC3339, s.Created); err != nil || t.UTC().Format(time.RFC3339) != s.Created {
		return fmt.Errorf("%w: created %.40q is not a UTC RFC 3339 time", ErrMalformed, s.Created)
	}
	seen := map[string]bool{}
	for i, c := range s.Custodians {
		if err := ValidName(c.Name); err != nil {
			return fmt.Errorf("%w: custodian %d: %v", ErrMalformed, i+1, err)
		}
		if seen[c.Name] {
			return fmt.Errorf("%w: custodian %q is listed twice", ErrMalformed, c.Name)
		}
		seen[c.Name] = true
		if _, err := ParseRecipient(c.Recipient); err != nil {
			return fmt.Errorf("%w: custodian %q: %v", ErrMalformed, c.Name, err)
		}
	}
	if len(s.Commitments) != s.Threshold {
		return fmt.Errorf("%w: %d commitments for threshold %d", ErrMalformed, len(s.Commitments), s.Threshold)
	}
	s.commitments = make([]group.Element, len(s.Commitments))
	for i, b := range s.Commitments {
		e := grp.NewElement()
		if len(b) != int(grp.Params().CompressedElementLength) || e.UnmarshalBinary(b) != nil || e.IsIdentity() {
			return fmt.Errorf("%w: commitment %d is not a ristretto255 element", ErrMalformed, i)
		}
		s.commitments[i] = e
	}
	return nil
}

// Marshal returns the JSON encoding of s.
func (s *Set) Marshal() ([]byte, error) { return json.Marshal(s) }

// Custodian returns the custodian of share index, or "" if there is none.
func (s *Set) Custodian(index int) string {
	if index < 1 || index > len(s.Custodians) {
		return ""
	}
	return s.Custodians[index-1].Name
}

// Verify checks that sh belongs to s and lies on its committed polynomial.
func (s *Set) Verify(sh Share) error {
	if sh.Set != s.ID {
		return fmt.Errorf("%v is not of the current set %s: %w; it was replaced by a rekey, use the share you received then", sh, s.ID, ErrWrongSet)
	}
	name := s.Custodian(sh.Index)
	if name == "" {
		return fmt.Errorf("share index %d: %w: the set has shares 1 to %d", sh.Index, ErrMalformed, len(s.Custodians))
	}
	v, err := scalar(sh.Value)
	if err != nil {
		return fmt.Errorf("share %d (custodian %q): %w", sh.Index, name, ErrBadShare)
	}
	if !secretsharing.Verify(uint(s.Threshold-1), secretsharing.Share{ID: grp.NewScalar().SetUint64(uint64(sh.Index)), Value: v}, s.commitments) {
		return fmt.Errorf("share %d (custodian %q): %w: it is corrupted or forged", sh.Index, name, ErrBadShare)
	}
	return nil
}

// Combine reconstructs the secret from at least threshold verified shares
// with distinct indexes.
func (s *Set) Combine(shares []Share) ([]byte, error) {
	if len(shares) < s.Threshold {
		return nil, fmt.Errorf("%w: %d of %d", ErrNotEnough, len(shares), s.Threshold)
	}
	seen := map[int]bool{}
	var ss []secretsharing.Share
	for _, sh := range shares {
		if err := s.Verify(sh); err != nil {
			return nil, err
		}
		if seen[sh.Index] {
			return nil, fmt.Errorf("share %d: %w", sh.Index, ErrDuplicate)
		}
		seen[sh.Index] = true
		v, _ := scalar(sh.Value)
		ss = append(ss, secretsharing.Share{ID: grp.NewScalar().SetUint64(uint64(sh.Index)), Value: v})
	}
	secret, err := secretsharing.Recover(uint(s.Threshold-1), ss)
	if err != nil {
		return nil, err
	}
	// Verified shares always interpolate to the committed secret; check
	// anyway, since a wrong secret would be silently wrong.
	if !grp.NewElement().MulGen(secret).IsEqual(s.commitments[0]) {
		return nil, errors.New("reconstructed secret does not match the commitment")
	}
	return secret.MarshalBinary()
}

// ParseShare decodes a share and checks its shape (not its value: see
// [Set.Verify]).
func ParseShare(b []byte) (Share, error) {
	var sh Share
	if err := decodeStrict(b, &sh); err != nil {
		return Share{}, fmt.Errorf("share: %w", err)
	}
	if err := sh.check(); err != nil {
		return Share{}, err
	}
	return sh, nil
}

func (sh Share) check() error {
	if id, err := hex.DecodeString(sh.Set); err != nil || len(id) != 16 {
		return fmt.Errorf("share: %w: set %.40q is not 32 hex digits", ErrMalformed, sh.Set)
	}
	if sh.Index < 1 || sh.Index > MaxCustodians {
		return fmt.Errorf("share: %w: index %d is not between 1 and %d", ErrMalformed, sh.Index, MaxCustodians)
	}
	if _, err := scalar(sh.Value); err != nil {
		return fmt.Errorf("share %d: %w: value is not a %d-byte canonical scalar", sh.Index, ErrMalformed, SecretSize)
	}
	return nil
}

func scalar(b []byte) (group.Scalar, error) {
	if len(b) != SecretSize {
		return nil, errors.New("wrong length")
	}
	v := grp.NewScalar()
	if err := v.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return v, nil
}

// decodeStrict decodes exactly one JSON object with no unknown fields.
func decodeStrict(data []byte, v any) error {
	if len(data) > maxFileSize {
		return fmt.Errorf("%w: larger than %d KiB", ErrMalformed, maxFileSize>>10)
	}
	if err := strictjson.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}
