package token

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/signet-dev/signet/internal/strictjson"
)

// A DenyList revokes tokens before they expire, by id or by subject, with no
// shared store: it is a file signed by a token-signing key, type
// "signet-deny+jwt", that every replica loads from its own disk.
//
// A deny list replaces the one before it rather than adding to it, so it
// names everything still revoked. A replica refuses a list issued before
// the one it holds, so that an old list cannot be put back to lift a
// revocation.
type DenyList struct {
	Issuer   string   `json:"iss"`
	IssuedAt int64    `json:"iat"`
	IDs      []string `json:"ids,omitempty"`
	Subjects []string `json:"subjects,omitempty"`

	ids, subjects map[string]bool
}

// SignDenyList returns d signed by signer under key id kid.
func SignDenyList(signer crypto.Signer, kid string, d DenyList) (string, error) {
	if d.Issuer == "" || d.IssuedAt <= 0 {
		return "", errors.New("token: deny list needs an issuer and an issue time")
	}
	return sign(signer, kid, string(typeDeny), d)
}

// ParseDenyList verifies a signed deny list with v's keys.
func (v *Verifier) ParseDenyList(s string) (*DenyList, error) {
	payload, err := v.open(string(bytes.TrimSpace([]byte(s))), typeDeny)
	if err != nil {
		return nil, err
	}
	var d DenyList
	if err := strictjson.Unmarshal(payload, &d); err != nil {
		return nil, fmt.Errorf("%w: deny list: %v", ErrMalformed, err)
	}
	if d.Issuer == "" || d.IssuedAt <= 0 {
		return nil, fmt.Errorf("%w: deny list without iss or iat", ErrMalformed)
	}
	d.ids, d.subjects = set(d.IDs), set(d.Subjects)
	return &d, nil
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// SetDenyList installs d, unless it is older than the list in force.
func (v *Verifier) SetDenyList(d *DenyList) error {
	for {
		old := v.deny.Load()
		if old != nil && d.IssuedAt < old.IssuedAt {
			return fmt.Errorf("deny list issued %s is older than the one in force (issued %s); refusing to roll back revocations",
				unix(d.IssuedAt), unix(old.IssuedAt))
		}
		if v.deny.CompareAndSwap(old, d) {
			return nil
		}
	}
}

// DenyList returns the deny list in force, or nil.
func (v *Verifier) DenyList() *DenyList { return v.deny.Load() }

// LoadDenyList reads, verifies and installs the deny list in file.
func (v *Verifier) LoadDenyList(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	d, err := v.ParseDenyList(string(b))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return v.SetDenyList(d)
}

// WatchDenyList loads the deny list in file now, failing if it cannot, and
// then every poll until ctx is done reloads it if it changed. A change that
// does not load is reported to onError and the list in force stays.
func (v *Verifier) WatchDenyList(ctx context.Context, file string, poll time.Duration, onError func(error)) error {
	if err := v.LoadDenyList(file); err != nil {
		return err
	}
	last, _ := os.ReadFile(file)
	var lastErr string // report each distinct failure once, not every poll
	go func() {
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			b, err := os.ReadFile(file)
			if err == nil && bytes.Equal(b, last) {
				continue
			}
			if err == nil {
				last = b
				var d *DenyList
				if d, err = v.ParseDenyList(string(b)); err == nil {
					err = v.SetDenyList(d)
				}
			}
			if err != nil && err.Error() != lastErr {
				onError(err)
			}
			lastErr = ""
			if err != nil {
				lastErr = err.Error()
			}
		}
	}()
	return nil
}
