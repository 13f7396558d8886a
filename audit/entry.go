package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/signet-dev/signet/internal/strictjson"
)

// An Entry records one act of the server: a signature made or refused, a
// token issued, a key created, the keystore unlocked or locked, a config
// reloaded. Its JSON encoding is what the log stores and hashes: the leaf
// of entry i is tlog.RecordHash of exactly those bytes.
type Entry struct {
	Time      time.Time `json:"time"`               // UTC
	Server    string    `json:"server"`             // the replica that acted
	RequestID string    `json:"request_id"`         // also in the server's log lines and the response
	RetryOf   string    `json:"retry_of,omitempty"` // request id this request repeats (idempotency key)
	Action    Action    `json:"action"`
	Decision  Decision  `json:"decision"`
	Reason    string    `json:"reason,omitempty"` // why it was denied or failed
	Principal Principal `json:"principal"`
	Client    string    `json:"client,omitempty"` // remote address; informational, never identity
	Key       *KeyRef   `json:"key,omitempty"`
	Format    string    `json:"format,omitempty"`
	Artifact  *Artifact `json:"artifact,omitempty"`
	Token     *TokenRef `json:"token,omitempty"` // the token issued, for ActionTokenIssue
	// Details carry what a format or action adds: an RPM's NEVRA, a
	// catalog's parameters, a custody share index. Never secrets.
	Details map[string]string `json:"details,omitempty"`

	// IdempotencyKey is the id the client gave the request, the same on
	// every attempt of it, and Attempt which attempt this was (from 1).
	// An entry with Attempt > 1 also has RetryOf = IdempotencyKey: it
	// repeats a request whose outcome the client did not learn, so an
	// auditor counts the signatures of one key once (docs/api.md#retries).
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	Attempt        int    `json:"attempt,omitempty"`

	manifest []byte // attached content manifest, stored beside the log
}

// AttachManifest attaches a content manifest (the files inside an
// artifact, as the client listed them) to the entry: the log stores it
// beside the entry, and the entry records its digest, so the manifest is
// as tamper-evident as the entry.
func (e *Entry) AttachManifest(m []byte) {
	if e.Artifact == nil {
		e.Artifact = &Artifact{}
	}
	e.Artifact.Manifest = ManifestDigest(m)
	e.manifest = m
}

// Action is what was asked.
type Action string

const (
	ActionSign           Action = "sign"
	ActionTokenIssue     Action = "token.issue"
	ActionDenyList       Action = "token.deny-list"
	ActionKeyCreate      Action = "key.create"
	ActionKeyRotate      Action = "key.rotate"
	ActionKeyRevoke      Action = "key.revoke"
	ActionKeyTransition  Action = "key.transition"
	ActionKeyList        Action = "key.list"
	ActionKeyCert        Action = "key.cert"
	ActionUnlock         Action = "keystore.unlock"
	ActionLock           Action = "keystore.lock"
	ActionCustody        Action = "keystore.custody"
	ActionConfigReload   Action = "config.reload"
	ActionAuthentication Action = "authenticate" // a caller that could not be authenticated
	ActionRead           Action = "read"         // a refused read (keys, public keys)
)

// Decision is how the server answered.
type Decision string

const (
	Allowed Decision = "allowed" // done
	Denied  Decision = "denied"  // refused: the caller may not, or asked wrongly
	Failed  Decision = "failed"  // allowed but not done: locked keystore, HSM error, …
)

// Principal is who asked, as proven.
type Principal struct {
	Kind      string `json:"kind"`                 // "mtls", "token", "agent" or "anonymous"
	Name      string `json:"name,omitempty"`       // principal name in the config; for a token, its issuer
	ID        string `json:"id,omitempty"`         // "sha256:…" of the certificate, or "token:<jti>"
	Subject   string `json:"subject,omitempty"`    // a token's subject (the job)
	LocalUser string `json:"local_user,omitempty"` // the local user an agent vouched for
}

// KeyRef names one version of a key.
type KeyRef struct {
	Name        string `json:"name"`
	Version     int    `json:"version,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Artifact is what was signed.
type Artifact struct {
	Name    string   `json:"name"`
	Size    int64    `json:"size,omitempty"`
	Digests []string `json:"digests,omitempty"` // "sha256:HEX" …
	// Manifest is the digest of the content manifest the client attached
	// (the files inside a package or image), stored beside the log.
	Manifest string `json:"manifest,omitempty"`
	// Signature is "sha256:HEX" of the signature returned, so that a
	// signature found in the wild can be traced to its entry.
	Signature string `json:"signature,omitempty"`
}

// TokenRef describes a token issued.
type TokenRef struct {
	ID        string   `json:"id"`
	Subject   string   `json:"subject"`
	Expiry    int64    `json:"exp"`
	Keys      []string `json:"keys,omitempty"`
	Formats   []string `json:"formats,omitempty"`
	Artifacts []string `json:"artifacts,omitempty"`
	Bound     bool     `json:"bound,omitempty"`
}

// MaxEntrySize bounds the encoding of one entry.
const MaxEntrySize = 64 << 10

// Marshal returns the bytes an entry is stored and hashed as.
func (e *Entry) Marshal() ([]byte, error) {
	e.Time = e.Time.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("audit entry is %d bytes; the limit is %d", len(b), MaxEntrySize)
	}
	return b, nil
}

// ParseEntry decodes stored entry bytes strictly.
func ParseEntry(b []byte) (*Entry, error) {
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("audit entry is %d bytes; the limit is %d", len(b), MaxEntrySize)
	}
	var e Entry
	if err := strictjson.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("audit entry: %w", err)
	}
	if e.Action == "" || e.Decision == "" || e.Time.IsZero() {
		return nil, errors.New("audit entry: missing time, action or decision")
	}
	return &e, nil
}

// A Receipt proves that one entry is in the log: the entry itself, its
// index, and an inclusion proof up to a checkpoint signed by the log key.
// Anyone with the log's public key checks it offline (VerifyReceipt).
type Receipt struct {
	Index      int64    `json:"index"`
	Entry      []byte   `json:"entry"`      // the stored entry bytes (base64 in JSON)
	Proof      [][]byte `json:"proof"`      // RFC 6962 inclusion proof, leaf to root
	Checkpoint string   `json:"checkpoint"` // signed note in the C2SP tlog-checkpoint form
}
