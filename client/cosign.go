package client

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/format/cosign"
	"github.com/signet-dev/signet/format/dsse"
	"github.com/signet-dev/signet/format/raw"
)

// SignCosignPayload signs a cosign simple signing payload (format cosign)
// with key. The item is named after the image the payload names,
// REGISTRY/REPO@sha256:HEX, which is what grants match. The signature is
// checked against the key before it is returned. Package oci builds the
// payload and attaches the signature to the registry.
func (c *Client) SignCosignPayload(ctx context.Context, key string, payload []byte) ([]byte, *audit.Receipt, error) {
	p, err := cosign.ParsePayload(payload)
	if err != nil {
		return nil, nil, err
	}
	k, _, err := c.keyPublic(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.Sign(ctx, &api.SignRequest{Key: key, Format: "cosign",
		Items: []api.SignItem{{Name: p.Image(), Size: int64(len(payload)), Data: payload}}})
	if err != nil {
		return nil, nil, err
	}
	s := resp.Signatures[0]
	pub, err := c.versionPublic(ctx, k, resp.KeyVersion)
	if err == nil {
		err = cosign.Verify(pub, payload, s.Signature)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: the server's cosign signature does not verify with key %q (%s): refusing it: %w", p.Image(), key, k.Fingerprint, err)
	}
	if s.Receipt == nil {
		return nil, nil, fmt.Errorf("%s: the server returned a signature without an audit receipt: refusing it", p.Image())
	}
	return s.Signature, s.Receipt, nil
}

// AttestCosign signs an in-toto statement about images (format
// cosign-attestation) with key and returns the DSSE envelope. image names
// the item: one of the statement's subjects as REGISTRY/REPO@sha256:HEX.
func (c *Client) AttestCosign(ctx context.Context, key, image string, statement []byte) ([]byte, *audit.Receipt, error) {
	k, _, err := c.keyPublic(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.Sign(ctx, &api.SignRequest{Key: key, Format: "cosign-attestation",
		Items: []api.SignItem{{Name: image, Size: int64(len(statement)), Data: statement}}})
	if err != nil {
		return nil, nil, err
	}
	s := resp.Signatures[0]
	pub, err := c.versionPublic(ctx, k, resp.KeyVersion)
	if err == nil {
		var payload []byte
		_, payload, err = dsse.Verify(ctx, s.Signature, pub, dsse.Options{StatementV01: true})
		if err == nil && !bytes.Equal(payload, statement) {
			err = errors.New("the statement signed is not the one sent")
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: the server's attestation does not verify with key %q (%s): refusing it: %w", image, key, k.Fingerprint, err)
	}
	if s.Receipt == nil {
		return nil, nil, fmt.Errorf("%s: the server returned an attestation without an audit receipt: refusing it", image)
	}
	return s.Signature, s.Receipt, nil
}

// SignCosignDigest signs a SHA-256 digest with a cosign key (format
// cosign-digest), naming it name for the server's grants, and checks the
// signature before returning it.
func (c *Client) SignCosignDigest(ctx context.Context, key, name string, digest []byte) ([]byte, *audit.Receipt, error) {
	if len(digest) != sha256.Size {
		return nil, nil, fmt.Errorf("%s: a cosign digest is SHA-256 (32 bytes), got %d bytes", name, len(digest))
	}
	k, _, err := c.keyPublic(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.Sign(ctx, &api.SignRequest{Key: key, Format: "cosign-digest",
		Items: []api.SignItem{{Name: name, Digest: api.Digest(crypto.SHA256, digest)}}})
	if err != nil {
		return nil, nil, err
	}
	s := resp.Signatures[0]
	pub, err := c.versionPublic(ctx, k, resp.KeyVersion)
	if err == nil {
		err = raw.VerifyDigest(pub, digest, s.Signature, raw.Options{})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: the server's signature does not verify with key %q (%s): refusing it: %w", name, key, k.Fingerprint, err)
	}
	if s.Receipt == nil {
		return nil, nil, fmt.Errorf("%s: the server returned a signature without an audit receipt: refusing it", name)
	}
	return s.Signature, s.Receipt, nil
}
