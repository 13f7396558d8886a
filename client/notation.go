package client

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/format/notation"
)

// NotationChain returns key's certificate chain, leaf first, as notation
// embeds it, after checking that the leaf holds the key's public key.
func (c *Client) NotationChain(ctx context.Context, key string) ([]*x509.Certificate, error) {
	k, pub, err := c.keyPublic(ctx, key)
	if err != nil {
		return nil, err
	}
	kc, err := c.KeyChain(ctx, key)
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	for rest := []byte(kc.Chain); ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("key %q: certificate chain: %w", key, err)
		}
		chain = append(chain, cert)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("key %q has no certificate chain: run 'signet key cert %s --csr', have your CA issue it, then 'signet key cert %s --import-chain chain.pem'", key, key, key)
	}
	if !publicEqual(chain[0].PublicKey, pub) {
		return nil, fmt.Errorf("key %q (%s): the leaf certificate of its chain holds another key", key, k.Fingerprint)
	}
	return chain, nil
}

func publicEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// SignNotation signs a notation JWS signing input with key (format
// notation). name is the artifact's reference, REGISTRY/REPO@DIGEST, with
// the digest the signing input names. The signature is checked against
// the key before it is returned.
func (c *Client) SignNotation(ctx context.Context, key, name string, signingInput []byte) ([]byte, *audit.Receipt, error) {
	k, _, err := c.keyPublic(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.Sign(ctx, &api.SignRequest{Key: key, Format: "notation",
		Items: []api.SignItem{{Name: name, Size: int64(len(signingInput)), Data: signingInput}}})
	if err != nil {
		return nil, nil, err
	}
	s := resp.Signatures[0]
	pub, err := c.versionPublic(ctx, k, resp.KeyVersion)
	if err == nil {
		err = notation.Verify(pub, signingInput, s.Signature)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: the server's notation signature does not verify with key %q (%s): refusing it: %w", name, key, k.Fingerprint, err)
	}
	if s.Receipt == nil {
		return nil, nil, fmt.Errorf("%s: the server returned a signature without an audit receipt: refusing it", name)
	}
	return s.Signature, s.Receipt, nil
}
