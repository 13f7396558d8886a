package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/openpgp"
)

// OpenPGPKey fetches the OpenPGP certificate of a pgp-* key and checks it:
// go-crypto must accept its self-signature, and its fingerprint must be
// that of the key's public key and creation time as the server lists them.
func (c *Client) OpenPGPKey(ctx context.Context, name string) (*api.OpenPGPKey, error) {
	var out api.OpenPGPKey
	if err := c.do(ctx, http.MethodGet, "/v1/keys/"+url.PathEscape(name)+"/openpgp", nil, &out); err != nil {
		return nil, err
	}
	k, err := c.Key(ctx, name)
	if err != nil {
		return nil, err
	}
	pub, err := PublicKey(k)
	if err != nil {
		return nil, err
	}
	want, err := openpgp.NewKey(pub, k.Created, k.UID)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", name, err)
	}
	ent, err := openpgp.ReadCertificate(out.Certificate)
	if err != nil {
		return nil, fmt.Errorf("key %q: the server's certificate: %w", name, err)
	}
	fp := want.Fingerprint()
	if !bytes.Equal(ent.PrimaryKey.Fingerprint, fp[:]) || out.Fingerprint != want.FingerprintHex() {
		return nil, fmt.Errorf("key %q: the server's certificate is for another key than the one it lists (%s)", name, want.FingerprintHex())
	}
	return &out, nil
}

// SignFilesOpenPGP makes detached OpenPGP signatures of the files at
// paths with key, in one request. Each file is hashed here and only its
// SHA-256 state travels (see docs/formats.md); the server adds the
// signature trailer. Every signature is checked with go-crypto against the
// key's certificate and the file before it is returned.
func (c *Client) SignFilesOpenPGP(ctx context.Context, key string, paths []string, armor bool) ([]FileSignature, error) {
	if len(paths) == 0 {
		return nil, errors.New("no files to sign")
	}
	cert, err := c.OpenPGPKey(ctx, key)
	if err != nil {
		return nil, err
	}
	req := &api.SignRequest{Key: key, Format: "pgp", Options: api.SignOptions{Armor: armor}, Items: make([]api.SignItem, len(paths))}
	states := make([][]byte, len(paths))
	for i, p := range paths {
		h, size, err := hashFile(p)
		if err != nil {
			return nil, err
		}
		st, err := openpgp.StateOf(h)
		if err != nil {
			return nil, err
		}
		states[i], _ = h.(encoding.BinaryMarshaler).MarshalBinary()
		req.Items[i] = api.SignItem{Name: itemName(ctx, p), Size: size, SHA256State: &api.HashState{Chain: st.Chain, Tail: st.Tail, Length: st.Length}}
	}
	resp, err := c.Sign(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make([]FileSignature, len(paths))
	for i, s := range resp.Signatures {
		fresh := func() hash.Hash {
			h := sha256.New()
			h.(encoding.BinaryUnmarshaler).UnmarshalBinary(states[i])
			return h
		}
		if err := c.checkDetached(ctx, key, &cert, fresh, s.Signature); err != nil {
			return nil, fmt.Errorf("%s: the server's signature does not verify with key %q (%s): refusing it: %v", paths[i], key, cert.Fingerprint, err)
		}
		if s.Receipt == nil {
			return nil, fmt.Errorf("%s: the server returned no audit receipt: refusing the signature", paths[i])
		}
		out[i] = FileSignature{Path: paths[i], Signature: s.Signature, Receipt: s.Receipt}
	}
	return out, nil
}

// checkDetached checks sig, a detached signature of what fresh() hashes,
// against *cert; if it does not verify, it fetches the key's certificate
// again once and checks with that: the key may have been rotated since
// *cert was fetched, and signed with a subkey *cert does not have.
func (c *Client) checkDetached(ctx context.Context, key string, cert **api.OpenPGPKey, fresh func() hash.Hash, sig []byte) error {
	err := openpgp.CheckDetached((*cert).Certificate, fresh(), sig)
	if err == nil {
		return nil
	}
	again, ferr := c.OpenPGPKey(ctx, key)
	if ferr != nil {
		return err
	}
	*cert = again
	return openpgp.CheckDetached(again.Certificate, fresh(), sig)
}

// ClearsignFile has the server clearsign the text file at path, which is
// uploaded, and checks the result with go-crypto: it must verify and carry
// the file's text. Signature is the whole clearsigned message.
func (c *Client) ClearsignFile(ctx context.Context, key, path string) (*FileSignature, error) {
	k, err := c.Key(ctx, key)
	if err != nil {
		return nil, err
	}
	text, err := readRegular(path, k.MaxMessageBytes)
	if err != nil {
		return nil, err
	}
	cert, err := c.OpenPGPKey(ctx, key)
	if err != nil {
		return nil, err
	}
	resp, err := c.Sign(ctx, &api.SignRequest{Key: key, Format: "pgp-clearsign", Items: []api.SignItem{{Name: itemName(ctx, path), Size: int64(len(text)), Data: text}}})
	if err != nil {
		return nil, err
	}
	msg := resp.Signatures[0].Signature
	got, err := openpgp.CheckClearsigned(cert.Certificate, msg)
	if err != nil {
		// Rotated after the certificate was fetched?
		if cert, err = c.OpenPGPKey(ctx, key); err != nil {
			return nil, err
		}
		got, err = openpgp.CheckClearsigned(cert.Certificate, msg)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: the server's clearsigned text does not verify with key %q: refusing it: %v", path, key, err)
	}
	if want, err := openpgp.Cleartext(text); err != nil || !bytes.Equal(got, want) {
		return nil, fmt.Errorf("%s: the server's clearsigned text differs from the file: refusing it", path)
	}
	if resp.Signatures[0].Receipt == nil {
		return nil, fmt.Errorf("%s: the server returned no audit receipt: refusing the signature", path)
	}
	return &FileSignature{Path: path, Signature: msg, Receipt: resp.Signatures[0].Receipt}, nil
}

func hashFile(path string) (hash.Hash, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s: not a regular file", path)
	}
	d := sha256.New()
	n, err := io.Copy(d, f)
	if err != nil {
		return nil, 0, fmt.Errorf("hashing %s: %w", path, err)
	}
	return d, n, nil
}

func readRegular(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if max > 0 && fi.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes, and the server clearsigns at most %d; make a detached signature (--format pgp) instead", path, fi.Size(), max)
	}
	return io.ReadAll(f)
}

// CatalogSignature is what SignCatalog returns.
type CatalogSignature = api.CatalogSignResponse

// SignCatalog asks the server to check and sign catalog name with the
// given path parameters, expecting the index to have SHA-256 sum. If
// index is not nil it is the caller's copy: every returned signature is
// checked against it and the certificate the server returned.
func (c *Client) SignCatalog(ctx context.Context, name string, params map[string]string, sum []byte, index []byte) (*CatalogSignature, error) {
	var out api.CatalogSignResponse
	req := api.CatalogSignRequest{Params: params, Digest: "sha256:" + hex.EncodeToString(sum)}
	if err := c.do(ctx, http.MethodPost, "/v1/catalogs/"+url.PathEscape(name)+"/sign", req, &out); err != nil {
		return nil, err
	}
	if out.Digest != req.Digest {
		return nil, fmt.Errorf("catalog %s: the server signed %s, not %s", name, out.Digest, req.Digest)
	}
	if len(out.Files) == 0 {
		return nil, fmt.Errorf("catalog %s: the server returned no signature files", name)
	}
	ent, err := openpgp.ReadCertificate(out.Certificate)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", name, err)
	}
	if strings.ToUpper(hex.EncodeToString(ent.PrimaryKey.Fingerprint)) != out.OpenPGPFingerprint {
		return nil, fmt.Errorf("catalog %s: the certificate returned is not that of key %s", name, out.OpenPGPFingerprint)
	}
	for _, f := range out.Files {
		if f.Name == "" || f.Name != filepath.Base(f.Name) || strings.HasPrefix(f.Name, ".") {
			return nil, fmt.Errorf("catalog %s: the server returned a file named %q, which is not a plain file name", name, f.Name)
		}
		if index == nil {
			continue
		}
		if f.Name == "InRelease" {
			text, err := openpgp.CheckClearsigned(out.Certificate, f.Data)
			if err == nil {
				if want, cerr := openpgp.Cleartext(index); cerr != nil || !bytes.Equal(text, want) {
					err = errors.New("it holds another text than the index")
				}
			}
			if err != nil {
				return nil, fmt.Errorf("catalog %s: %s: %v", name, f.Name, err)
			}
			continue
		}
		h := sha256.New()
		h.Write(index)
		if err := openpgp.CheckDetached(out.Certificate, h, f.Data); err != nil {
			return nil, fmt.Errorf("catalog %s: %s: %v", name, f.Name, err)
		}
	}
	return &out, nil
}
