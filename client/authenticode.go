package client

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/format/authenticode"
	"github.com/signet-dev/signet/format/rfc3161"
)

// KeyCSR has key sign a PKCS #10 certificate request for subject
// ("CN=…,O=…"; "" for the server's default, CN= the key's uid or name).
func (c *Client) KeyCSR(ctx context.Context, key, subject string) (*api.CSR, error) {
	var out api.CSR
	if err := c.do(ctx, http.MethodPost, "/v1/keys/"+url.PathEscape(key)+"/csr", api.CSRRequest{Subject: subject}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AttachChain attaches a PEM certificate chain, leaf first, to key; the
// server checks it against the key.
func (c *Client) AttachChain(ctx context.Context, key string, chain []byte) (*api.KeyChain, error) {
	var out api.KeyChain
	if err := c.do(ctx, http.MethodPut, "/v1/keys/"+url.PathEscape(key)+"/chain", api.ChainRequest{Chain: string(chain)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// KeyChain returns the certificate chain attached to key.
func (c *Client) KeyChain(ctx context.Context, key string) (*api.KeyChain, error) {
	var out api.KeyChain
	if err := c.do(ctx, http.MethodGet, "/v1/keys/"+url.PathEscape(key)+"/chain", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SignedPE is a PE file signed with Authenticode.
type SignedPE struct {
	Path      string            // the file signed
	Out       string            // where the signed file was written
	Digest    string            // its Authenticode digest, "sha256:HEX", as the audit log records it
	Signer    *x509.Certificate // the certificate the signature carries
	Signature []byte            // the DER PKCS #7 SignedData embedded
	Receipt   *audit.Receipt
	Replaced  bool // the file was signed before; that signature was replaced
	// Timestamp is the RFC 3161 countersignature's token, when one was
	// asked for.
	Timestamp *rfc3161.Stamped
}

// SignAuthenticode signs the PE files at paths with key in one request
// and writes each signed file to outs[i], which may be paths[i] itself.
// Files are hashed here (the Authenticode digest); only a small structure
// holding each digest is sent. Each signature returned is checked — its
// digest, its signature, and that its certificate is the key's — and so
// is each file written, before it atomically replaces outs[i].
func (c *Client) SignAuthenticode(ctx context.Context, key string, paths, outs []string) ([]SignedPE, error) {
	return c.SignAuthenticodeWith(ctx, key, paths, outs, AuthenticodeOptions{})
}

// AuthenticodeOptions vary SignAuthenticodeWith.
type AuthenticodeOptions struct {
	// Timestamp is the URL of an RFC 3161 time-stamp authority (Signet's
	// own, https://SERVER/v1/timestamp/KEY, or any other): each
	// signature gets its countersignature, so that it still verifies
	// after the signing certificate expires. "": none.
	Timestamp string
}

// SignAuthenticodeWith is SignAuthenticode with options.
func (c *Client) SignAuthenticodeWith(ctx context.Context, key string, paths, outs []string, o AuthenticodeOptions) ([]SignedPE, error) {
	if len(paths) == 0 || len(paths) != len(outs) {
		return nil, errors.New("no PE files to sign, or not one output per file")
	}
	k, pub, err := c.keyPublic(ctx, key)
	if err != nil {
		return nil, err
	}
	items := make([]api.SignItem, len(paths))
	out := make([]SignedPE, len(paths))
	for i, p := range paths {
		im, digest, err := hashPE(p)
		if err != nil {
			return nil, err
		}
		items[i] = api.SignItem{Name: itemName(ctx, p), Size: im.Size, Data: authenticode.NewIndirectData(digest)}
		out[i] = SignedPE{Path: p, Out: outs[i], Digest: api.Digest(crypto.SHA256, digest), Replaced: im.Signed()}
	}
	resp, err := c.Sign(ctx, &api.SignRequest{Key: key, Format: "authenticode", Items: items})
	if err != nil {
		return nil, err
	}
	for i, s := range resp.Signatures {
		sig, err := authenticode.ParseSignature(s.Signature)
		if err == nil {
			err = sig.Verify()
		}
		if err == nil && api.Digest(crypto.SHA256, sig.Digest) != out[i].Digest {
			err = errors.New("it signs another file's digest")
		}
		if k2, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); err == nil && (!ok || !k2.Equal(sig.Signer.PublicKey)) {
			err = fmt.Errorf("its certificate %q is not for the key", sig.Signer.Subject)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: the server's Authenticode signature does not verify with key %q (%s): refusing it: %w", paths[i], key, k.Fingerprint, err)
		}
		if s.Receipt == nil {
			return nil, fmt.Errorf("%s: the server returned a signature without an audit receipt: refusing it", paths[i])
		}
		out[i].Signer, out[i].Signature, out[i].Receipt = sig.Signer, s.Signature, s.Receipt
		if o.Timestamp != "" {
			st, err := c.TimestampAt(ctx, o.Timestamp, crypto.SHA256, sig.TimestampDigest())
			if err != nil {
				return nil, fmt.Errorf("%s: time-stamping the signature: %w", paths[i], err)
			}
			if out[i].Signature, err = authenticode.AddTimestamp(s.Signature, st.Token); err != nil {
				return nil, fmt.Errorf("%s: %w", paths[i], err)
			}
			out[i].Timestamp = st
		}
	}
	for i := range out {
		if err := writeSignedPE(&out[i]); err != nil {
			return out[:i], err
		}
	}
	return out, nil
}

// hashPE parses the PE file at path and computes its Authenticode digest.
func hashPE(path string) (*authenticode.Image, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file", path)
	}
	im, err := authenticode.ParseImage(f, fi.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	digest, err := im.Digest(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return im, digest, nil
}

// writeSignedPE embeds s.Signature in s.Path and writes the result to
// s.Out through a temporary file beside it, which replaces s.Out only
// once it has been read back: its digest must still be the one signed (so
// a file that changed since it was hashed is refused) and its certificate
// table must hold the signature.
func writeSignedPE(s *SignedPE) error {
	in, err := os.Open(s.Path)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	im, err := authenticode.ParseImage(in, fi.Size())
	if err != nil {
		return fmt.Errorf("%s: %w", s.Path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.Out), ".signet-"+filepath.Base(s.Out)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := im.WriteSigned(tmp, in, s.Signature); err != nil {
		return fmt.Errorf("%s: writing the signed file: %w", s.Out, err)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	tfi, err := tmp.Stat()
	if err != nil {
		return err
	}
	signed, err := authenticode.ParseImage(tmp, tfi.Size())
	if err != nil {
		return fmt.Errorf("%s: the signed file does not parse: %w", s.Out, err)
	}
	digest, err := signed.Digest(tmp)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Out, err)
	}
	if api.Digest(crypto.SHA256, digest) != s.Digest {
		return fmt.Errorf("%s changed while it was being signed (its Authenticode digest is now %s, not the %s signed): sign it again", s.Path, api.Digest(crypto.SHA256, digest), s.Digest)
	}
	if embedded, err := signed.ExtractSignature(tmp); err != nil || !bytes.Equal(embedded, s.Signature) {
		return fmt.Errorf("%s: the signature embedded is not the one signed (%v)", s.Out, err)
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.Out)
}

// PESignature returns the Authenticode signature (DER PKCS #7 SignedData)
// embedded in the PE file at path.
func PESignature(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	im, err := authenticode.ParseImage(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sig, err := im.ExtractSignature(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sig, nil
}
