package client

import (
	"context"
	"crypto"
	"fmt"

	"github.com/signet-dev/signet/api"
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
