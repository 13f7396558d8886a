package client

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"

	"github.com/signet-dev/signet/api"
	formatcot "github.com/signet-dev/signet/format/cot"
)

// SignChainOfTrust signs the chain-of-trust document at path with key, a
// key created with usage cot, and returns the 64-byte signature to write
// as path + ".sig". The document is checked here first, so that a worker
// learns of a malformed one before the request; the signature is checked
// against the key before it is returned.
func (c *Client) SignChainOfTrust(ctx context.Context, key, path string) ([]byte, error) {
	doc, err := readBounded(path, formatcot.MaxDocumentBytes)
	if err != nil {
		return nil, err
	}
	if _, err := formatcot.Check(doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	k, err := c.Key(ctx, key)
	if err != nil {
		return nil, err
	}
	if k.Usage != "cot" {
		return nil, fmt.Errorf("key %q was created for %s signatures; chain-of-trust documents need an ed25519 key created with --usage cot", key, k.Usage)
	}
	pub, err := PublicKey(k)
	if err != nil {
		return nil, err
	}
	edPub, ok := pub.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("key %q is %s; chain-of-trust signatures are ed25519", key, k.Type)
	}
	resp, err := c.Sign(ctx, &api.SignRequest{Key: key, Format: "cot", Items: []api.SignItem{{Name: itemName(ctx, path), Size: int64(len(doc)), Data: doc}}})
	if err != nil {
		return nil, err
	}
	sig := resp.Signatures[0].Signature
	if resp.KeyVersion != k.Version {
		if pub, err = c.versionPublic(ctx, k, resp.KeyVersion); err != nil {
			return nil, err
		}
		if edPub, ok = pub.(ed25519.PublicKey); !ok {
			return nil, fmt.Errorf("key %q version %d is not ed25519", key, resp.KeyVersion)
		}
	}
	if err := formatcot.Verify(edPub, doc, sig); err != nil {
		return nil, fmt.Errorf("%s: the server's signature does not verify with key %q (%s): refusing it", path, key, k.Fingerprint)
	}
	return sig, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes, the limit for a chain-of-trust document", path, limit)
	}
	return b, nil
}
