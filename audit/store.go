package audit

import (
	"context"
	"errors"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// A Store keeps the log durably. It knows nothing of Merkle trees: it
// stores entries, the tree hashes it is handed, and checkpoints, and it
// sequences appends. SQLite (one server) and PostgreSQL (a fleet of
// replicas sharing one log) implement it.
type Store interface {
	// Append locks the log against other writers, calls build with the
	// number of entries stored, the time of the latest one and a reader of
	// the stored tree hashes, durably writes the batch build returns, and
	// unlocks. If build fails nothing is written. When Append returns nil
	// the batch is durable.
	Append(ctx context.Context, build func(size int64, last time.Time, r tlog.HashReader) (*Batch, error)) error

	// Head returns the latest checkpoint written (its signed note; ""
	// if none was signed yet) and the number of entries stored.
	Head(ctx context.Context) (signed string, size int64, err error)

	// Hashes returns a reader of stored tree hashes, for proofs.
	Hashes(ctx context.Context) tlog.HashReader

	// Entries returns the stored bytes of entries [start, end).
	Entries(ctx context.Context, start, end int64) ([][]byte, error)

	// Checkpoints returns up to limit stored checkpoints of size greater
	// than after, in increasing size.
	Checkpoints(ctx context.Context, after int64, limit int) ([]StoredCheckpoint, error)

	// Search returns the indexes of entries matching q (except q.Name,
	// which the caller filters), in increasing order, at most q.Limit,
	// all above q.After and below q.Before.
	Search(ctx context.Context, q Query) ([]int64, error)

	// Manifest returns a stored content manifest by its digest.
	Manifest(ctx context.Context, digest string) ([]byte, error)

	// IndexDigests brings what is kept behind the log — the index of
	// entries by digest, the entry counts — up to date by up to max
	// entries, and reports whether it caught up. The log calls it in the
	// background; searches and counts are complete either way.
	Index(ctx context.Context, max int) (caughtUp bool, err error)

	// Counts returns how many entries of each kind fall in each bucket of
	// q (see CountQuery), for every entry stored.
	Counts(ctx context.Context, q CountQuery) ([]Count, error)

	// LatestRefusals returns the indexes of the latest (by time) denied
	// or failed entries in [since, until) below before, at most limit,
	// latest first.
	LatestRefusals(ctx context.Context, since, until time.Time, before int64, limit int) ([]int64, error)

	// Ping proves the store is writable, durably, without changing the log.
	Ping(ctx context.Context) error

	Close() error
}

// A Batch is what one commit writes.
type Batch struct {
	Entries    []StoredEntry
	Hashes     []indexedHash
	Checkpoint *StoredCheckpoint // nil if no log key was available to sign
	// KeepCheckpoint asks to keep Checkpoint in the history that audits
	// check, not only as the head.
	KeepCheckpoint bool
	Manifests      map[string][]byte // digest → manifest
	Size           int64             // the log's size after the batch
	LastTime       time.Time         // the time of its last entry, the latest in the log
}

// A StoredEntry is an entry as stored: its bytes and the fields it is
// searched by, which `signet audit verify` checks against the bytes.
type StoredEntry struct {
	Index     int64
	Data      []byte
	Time      time.Time
	Action    string
	Decision  string
	Principal string
	Subject   string
	Key       string
	Version   int
	Artifact  string
	Digests   []string
	// Indexed are the terms the index behind the log holds for the entry, when
	// it has reached it (read back by Fields, for verification).
	Indexed []string
}

// A StoredCheckpoint is a signed checkpoint as stored.
type StoredCheckpoint struct {
	Size   int64
	Signed string
	Time   time.Time
}

// Query selects entries. Zero fields match everything.
type Query struct {
	Key       string
	Version   int
	Principal string // principal name, or a token subject
	Digest    string // "ALG:HEX" of the artifact
	Name      string // artifact name glob (path.Match); filtered by the caller
	Action    string
	Decision  string
	Since     time.Time // inclusive
	Until     time.Time // exclusive
	After     int64     // only indexes > After; -1 for all
	Before    int64     // only indexes < Before (the checkpoint's size)
	Limit     int
}

// ErrNotFound is returned for a manifest or range that is not stored.
var ErrNotFound = errors.New("audit: not found")

// storedEntry extracts the searchable fields of e.
func storedEntry(index int64, e *Entry, data []byte) StoredEntry {
	s := StoredEntry{
		Index: index, Data: data, Time: e.Time.UTC(), Action: string(e.Action), Decision: string(e.Decision),
		Principal: e.Principal.Name, Subject: e.Principal.Subject,
	}
	if e.Key != nil {
		s.Key, s.Version = e.Key.Name, e.Key.Version
	}
	if e.Artifact != nil {
		s.Artifact = e.Artifact.Name
		s.Digests = e.Artifact.Digests
		if e.Artifact.Signature != "" {
			s.Digests = append(s.Digests[:len(s.Digests):len(s.Digests)], e.Artifact.Signature)
		}
	}
	return s
}
