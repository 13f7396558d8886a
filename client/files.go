package client

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/format/raw"
)

// PublicKey parses the PEM public key of k.
func PublicKey(k *api.Key) (crypto.PublicKey, error) {
	pub, err := ParsePublicKey([]byte(k.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("key %q from the server: %w", k.Name, err)
	}
	return pub, nil
}

// ParsePublicKey parses a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) block, as
// 'signet key public' prints it.
func ParsePublicKey(b []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("no PEM PUBLIC KEY block")
	}
	return x509.ParsePKIXPublicKey(block.Bytes)
}

// VerifyFile checks a raw signature of the file at path under pub. Digest
// keys stream the file through the hash; Ed25519 keys read it whole.
func VerifyFile(pub crypto.PublicKey, path string, sig []byte, opts raw.Options) error {
	h, err := raw.Hash(pub)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if h == 0 {
		msg, err := io.ReadAll(f)
		if err != nil {
			return err
		}
		return raw.Verify(pub, msg, sig, opts)
	}
	sum, err := digest(f, h)
	if err != nil {
		return fmt.Errorf("hashing %s: %w", path, err)
	}
	return raw.VerifyDigest(pub, sum, sig, opts)
}

func digest(r io.Reader, h crypto.Hash) ([]byte, error) {
	d := h.New()
	if _, err := io.Copy(d, r); err != nil {
		return nil, err
	}
	return d.Sum(nil), nil
}

// FileSignature is the raw signature of one file and the receipt proving
// that the server's audit log recorded it.
type FileSignature struct {
	Path      string
	Signature []byte
	Receipt   *audit.Receipt
}

// SignFiles signs the files at paths with key in one request. Each file is
// named by its base name for the server's policy. Digests are computed
// here; only Ed25519 keys upload file contents. Every signature returned is
// verified against the key's public key before SignFiles returns it.
func (c *Client) SignFiles(ctx context.Context, key string, paths []string, opts api.SignOptions) ([]FileSignature, error) {
	if len(paths) == 0 {
		return nil, errors.New("no files to sign")
	}
	k, err := c.Key(ctx, key)
	if err != nil {
		return nil, err
	}
	pub, err := PublicKey(k)
	if err != nil {
		return nil, err
	}
	h, err := raw.Hash(pub)
	if err != nil {
		return nil, err
	}
	req := &api.SignRequest{Key: key, Format: "raw", Options: opts, Items: make([]api.SignItem, len(paths))}
	tbs := make([][]byte, len(paths)) // what each signature covers, for checking
	for i, p := range paths {
		item, b, err := prepare(ctx, p, h, k)
		if err != nil {
			return nil, err
		}
		req.Items[i], tbs[i] = item, b
	}
	resp, err := c.Sign(ctx, req)
	if err != nil {
		return nil, err
	}
	if pub, err = c.versionPublic(ctx, k, resp.KeyVersion); err != nil {
		return nil, err
	}
	out := make([]FileSignature, len(paths))
	ro := raw.Options{PSS: opts.RSAPSS}
	for i, s := range resp.Signatures {
		if h == 0 {
			err = raw.Verify(pub, tbs[i], s.Signature, ro)
		} else {
			err = raw.VerifyDigest(pub, tbs[i], s.Signature, ro)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: the server's signature does not verify with key %q version %d: refusing it", paths[i], key, resp.KeyVersion)
		}
		if s.Receipt == nil {
			return nil, fmt.Errorf("%s: the server returned a signature without an audit receipt: refusing it", paths[i])
		}
		out[i] = FileSignature{Path: paths[i], Signature: s.Signature, Receipt: s.Receipt}
	}
	return out, nil
}

// prepare builds the sign item for the file at path: its digest under h, or
// for h == 0 its contents. It returns the bytes the signature will cover.
func prepare(ctx context.Context, path string, h crypto.Hash, k *api.Key) (api.SignItem, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return api.SignItem{}, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return api.SignItem{}, nil, err
	}
	if !fi.Mode().IsRegular() {
		return api.SignItem{}, nil, fmt.Errorf("%s: not a regular file", path)
	}
	item := api.SignItem{Name: itemName(ctx, path), Size: fi.Size()}
	if h == 0 {
		if k.MaxMessageBytes > 0 && fi.Size() > k.MaxMessageBytes {
			return item, nil, fmt.Errorf("%s is %d bytes: key %q is %s, which signs the whole file, and the server accepts at most %d bytes; use an ECDSA or RSA key, which sends only a digest",
				path, fi.Size(), k.Name, k.Type, k.MaxMessageBytes)
		}
		b, err := io.ReadAll(f)
		if err != nil {
			return item, nil, err
		}
		item.Data = b
		return item, b, nil
	}
	sum, err := digest(f, h)
	if err != nil {
		return item, nil, fmt.Errorf("hashing %s: %w", path, err)
	}
	item.Digest = api.Digest(h, sum)
	return item, sum, nil
}
