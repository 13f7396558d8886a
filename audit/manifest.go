package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// Content manifests are stored beside the log, keyed by the digest the
// entry records ("sha256:HEX" of the manifest's bytes): the entry is what
// the tree proves, so a manifest is only as tamper-evident as the check
// that its bytes hash to that digest. Verify makes it for every entry that
// names one, and ReadManifest for every manifest served.

// ErrManifestMismatch is returned for a stored manifest whose bytes do not
// hash to the digest it is stored under: the store was edited.
var ErrManifestMismatch = errors.New("audit: manifest does not hash to its digest")

// ManifestDigest is the digest an entry records for manifest m.
func ManifestDigest(m []byte) string {
	sum := sha256.Sum256(m)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// A ManifestReader returns stored manifests by digest (ErrNotFound when
// none is stored). A Store is one, and so is a client of a server's read
// API.
type ManifestReader interface {
	Manifest(ctx context.Context, digest string) ([]byte, error)
}

// ReadManifest returns the manifest stored under digest, after checking
// that its bytes hash to it.
func ReadManifest(ctx context.Context, r ManifestReader, digest string) ([]byte, error) {
	m, err := r.Manifest(ctx, digest)
	if err != nil {
		return nil, err
	}
	if got := ManifestDigest(m); got != digest {
		return nil, fmt.Errorf("%w: manifest %.80s is stored with bytes that hash to %s (edited behind the log); run 'signet audit verify'",
			ErrManifestMismatch, digest, got)
	}
	return m, nil
}

// checkManifest reports a manifest named by entry n that is missing or
// edited. checked remembers what was found for the digests already read
// ("" when good), so that a manifest shared by many entries is read once.
func checkManifest(ctx context.Context, mr ManifestReader, n int64, digest string, checked map[string]string, r *Report) {
	problem, seen := checked[digest]
	if !seen {
		m, err := mr.Manifest(ctx, digest)
		switch {
		case errors.Is(err, ErrNotFound):
			problem = "is not stored (deleted)"
		case err != nil:
			problem = fmt.Sprintf("could not be read: %v", err)
		case ManifestDigest(m) != digest:
			problem = "was edited: the stored bytes hash to " + ManifestDigest(m)
		}
		if len(checked) >= 100_000 {
			clear(checked) // bound the memory; at worst a manifest is read again
		}
		checked[digest] = problem
	}
	if problem != "" {
		r.fail(n, "entry %d: its content manifest %.80s %s", n, digest, problem)
	}
}
