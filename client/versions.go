package client

import (
	"cmp"
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/raw"
)

// versionPublic returns the public key of version n of key k, as the
// client checks a signature against it: the key that signed is the one
// the response names (api.SignResponse.KeyVersion), which is the active
// version when the request was signed. If k, fetched before signing, does
// not list n (a rotation happened in between), k is fetched again. A
// server that names no version (n == 0) signed with k's public key.
func (c *Client) versionPublic(ctx context.Context, k *api.Key, n int) (crypto.PublicKey, error) {
	if n == 0 {
		return PublicKey(k)
	}
	for attempt := 0; attempt < 2; attempt++ {
		for _, v := range k.Versions {
			if v.Version == n && v.PublicKey != "" {
				pub, err := ParsePublicKey([]byte(v.PublicKey))
				if err != nil {
					return nil, fmt.Errorf("key %q version %d: %w", k.Name, n, err)
				}
				return pub, nil
			}
		}
		if attempt == 0 {
			fresh, err := c.Key(ctx, k.Name)
			if err != nil {
				return nil, err
			}
			k = fresh
		}
	}
	return nil, fmt.Errorf("key %q: the server signed with version %d, which it does not list", k.Name, n)
}

// VerifyFileVersions checks sig, a raw signature of the file at path, with
// every version of k, as a verifier that trusts the key does: a
// signature by the active or a retired version is good, and it returns
// that version; one by a revoked version is refused, naming it; one by
// none of them is ErrVerify. A key listed without versions is checked
// with its public key, and reported as version 0.
func VerifyFileVersions(k *api.Key, path string, sig []byte, opts raw.Options) (int, error) {
	if len(k.Versions) == 0 {
		pub, err := PublicKey(k)
		if err != nil {
			return 0, err
		}
		return 0, VerifyFile(pub, path, sig, opts)
	}
	// The active version first: most signatures are recent.
	vs := slices.Clone(k.Versions)
	active := func(v api.KeyVersion) int {
		if v.Version == k.Version {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(vs, func(a, b api.KeyVersion) int { return cmp.Compare(active(a), active(b)) })
	for _, v := range vs {
		if v.PublicKey == "" {
			continue
		}
		pub, err := ParsePublicKey([]byte(v.PublicKey))
		if err != nil {
			return 0, fmt.Errorf("key %q version %d: %w", k.Name, v.Version, err)
		}
		err = VerifyFile(pub, path, sig, opts)
		switch {
		case errors.Is(err, raw.ErrVerify):
			continue
		case err != nil:
			return 0, err
		case v.State == "revoked":
			return v.Version, fmt.Errorf("%w: it was made by key %q version %d, revoked at %s (%s): it is not to be believed",
				raw.ErrVerify, k.Name, v.Version, v.Revoked.UTC().Format(time.RFC3339), v.Reason)
		}
		return v.Version, nil
	}
	return 0, raw.ErrVerify
}
