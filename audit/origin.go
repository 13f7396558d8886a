package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// A log's origin is the first line of its checkpoints and the name in its
// verifier key: two logs with the same origin and key have
// indistinguishable checkpoints. A deployment that names none gets one of
// its own, chosen once when its log is first opened and kept in the store
// (so every replica of a fleet, and every restart, uses it): "signet/audit/"
// and 16 random hex digits. A log begun before origins were kept goes on
// under the origin of its head — "signet/audit" for those — since a log
// keeps its name for life.

// LegacyOrigin is the origin every deployment without a configured one
// shared before origins were chosen per deployment.
const LegacyOrigin = "signet/audit"

// originStore is implemented by stores that keep the log's origin.
type originStore interface {
	// keepOrigin stores origin as the log's unless one is stored, and
	// returns the one stored.
	keepOrigin(ctx context.Context, origin string) (string, error)
}

// DefaultOrigin returns the origin of the log in s for a deployment that
// configures none: the one kept in s; or, the first time, the origin of
// the log's head if it has one, else a new unique one — which it keeps.
func DefaultOrigin(ctx context.Context, s Store) (string, error) {
	ks, ok := s.(originStore)
	if !ok {
		return "", errors.New("audit: this store cannot keep the log's origin; set audit.origin in the config")
	}
	origin := ""
	signed, _, err := s.Head(ctx)
	if err != nil {
		return "", fmt.Errorf("audit: reading the log head: %w", err)
	}
	if signed != "" {
		c, err := ParseUnverified(signed)
		if err != nil {
			return "", fmt.Errorf("audit: stored head: %w", err)
		}
		origin = c.Origin
	} else {
		var b [8]byte
		rand.Read(b[:])
		origin = LegacyOrigin + "/" + hex.EncodeToString(b[:])
	}
	kept, err := ks.keepOrigin(ctx, origin)
	if err != nil {
		return "", fmt.Errorf("audit: keeping the log's origin: %w", err)
	}
	return kept, nil
}

func (s *SQLStore) keepOrigin(ctx context.Context, origin string) (string, error) {
	// Replicas opening a new log together each propose one; the first
	// stored wins and every one reads it back.
	if _, err := s.w.ExecContext(ctx, s.d.q("INSERT INTO signet_meta (k, v) VALUES ('origin', ?) ON CONFLICT (k) DO NOTHING"), origin); err != nil {
		return "", err
	}
	var kept string
	err := s.w.QueryRowContext(ctx, "SELECT v FROM signet_meta WHERE k = 'origin'").Scan(&kept)
	return kept, err
}
