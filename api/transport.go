package api

import (
	"errors"
	"fmt"
	"strconv"
	"unicode"

	"github.com/signet-dev/signet/policy"
)

// Request headers beyond authentication. Each is optional; a malformed
// one is refused with 400 (401 for LocalUserHeader), never ignored.
const (
	// IdempotencyKeyHeader carries the id a client gives one logical
	// request, the same on every attempt of it (retries, failover to
	// another server). The server records it in the audit entries of
	// the request, so that a repeated request is recognisable as such.
	IdempotencyKeyHeader = "Idempotency-Key"
	// AttemptHeader carries which attempt of that request this is,
	// counting from 1.
	AttemptHeader = "Signet-Attempt"
	// LocalUserHeader is set by signet agent: the local user, proven to
	// the agent by the kernel, on whose behalf the authenticated
	// principal (the agent's host) asks. Only principals with the
	// delegate right may send it.
	LocalUserHeader = "Signet-Local-User"
)

// Limits are a server's request limits, from GET /v1/limits, so that
// clients can size their batches. Through signet agent they are the
// smaller of the agent's and the server's.
type Limits struct {
	MaxBatch        int   `json:"max_batch"`         // items in one sign request
	MaxBodyBytes    int64 `json:"max_body_bytes"`    // one request body
	MaxMessageBytes int64 `json:"max_message_bytes"` // one item signed whole (pure Ed25519, DSSE)
}

// MaxAttempts bounds the attempt number a request may carry.
const MaxAttempts = 100

// CheckIdempotencyKey checks an idempotency key: 1 to 64 characters from
// A-Z a-z 0-9 and ". _ : -".
func CheckIdempotencyKey(k string) error {
	if k == "" || len(k) > 64 {
		return fmt.Errorf("%s header %.80q: give 1 to 64 characters", IdempotencyKeyHeader, k)
	}
	for i := 0; i < len(k); i++ {
		if !idChar(k[i]) {
			return fmt.Errorf("%s header %.80q: only letters, digits and . _ : - are allowed", IdempotencyKeyHeader, k)
		}
	}
	return nil
}

// ParseAttempt parses an attempt number, 1 to MaxAttempts.
func ParseAttempt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxAttempts || strconv.Itoa(n) != s {
		return 0, fmt.Errorf("%s header %.20q: give a decimal number from 1 to %d", AttemptHeader, s, MaxAttempts)
	}
	return n, nil
}

// CheckLocalUser checks a local user name as signet agent asserts it: the
// user's name from the host's user database, or "uid:N" for a uid it has
// no name for; 1 to 64 characters from A-Z a-z 0-9 and ". _ - @ $ + :".
// Names are recorded in the audit log and matched against patterns, so
// they hold no spaces, slashes or control characters.
func CheckLocalUser(u string) error {
	if u == "" || len(u) > 64 {
		return fmt.Errorf("local user %.80q: give 1 to 64 characters", u)
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if !idChar(c) && c != '@' && c != '$' && c != '+' {
			return fmt.Errorf("local user %.80q: character %q is not allowed in a local user name", u, c)
		}
	}
	return nil
}

func idChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-'
}

// CheckArtifactName checks an artifact name as every request decoder must
// before it is logged or matched against grants: 1 to 1024 bytes of
// printable UTF-8 (CheckPrintable), forming a clean relative path — no
// empty, "." or ".." segment, no leading '/', no backslash
// (policy.CheckArtifactName), since a grant's '*' matches "..".
func CheckArtifactName(name string) error {
	if err := CheckPrintable(name); err != nil {
		return err
	}
	return policy.CheckArtifactName(name)
}

// CheckPrintable keeps a name printable and bounded, so that it is safe
// to log: 1 to 1024 bytes of printable UTF-8. Names that are not matched
// against grants (a path inside a content manifest, a token's subject)
// need only this.
func CheckPrintable(name string) error {
	if name == "" {
		return errors.New("artifact name is empty; name what you are signing")
	}
	if len(name) > 1024 {
		return fmt.Errorf("artifact name is %d bytes; the limit is 1024", len(name))
	}
	for _, r := range name {
		if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("artifact name %.80q contains a control or invalid character", name)
		}
	}
	return nil
}
