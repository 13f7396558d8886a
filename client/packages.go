package client

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/deb"
	"github.com/signet-dev/signet/format/openpgp"
	"github.com/signet-dev/signet/format/rpm"
)

// SignRPMs signs the RPM packages at paths with key, in one request, and
// rewrites each package in place with the signature in its signature
// header (rpmkeys --checksig verifies it). Only each package's main
// header travels, with its NEVRA; the server signs the header and the
// client checks the signature against the key's certificate before it
// writes anything. Before asking, it checks each package as rpm would:
// the header digests and the payload digest, so a damaged package is
// never signed. A package is replaced atomically (a temporary file in its
// directory, renamed over it); if it changed on disk meanwhile, it is
// left alone and SignRPMs fails. Signature is the OpenPGP signature
// packet inserted.
func (c *Client) SignRPMs(ctx context.Context, key string, paths []string) ([]FileSignature, error) {
	if len(paths) == 0 {
		return nil, errors.New("no packages to sign")
	}
	k, err := c.Key(ctx, key)
	if err != nil {
		return nil, err
	}
	cert, err := c.OpenPGPKey(ctx, key)
	if err != nil {
		return nil, err
	}
	type pkg struct {
		path string
		f    *os.File
		fi   os.FileInfo
		p    *rpm.Package
	}
	pkgs := make([]pkg, len(paths))
	defer func() {
		for _, p := range pkgs {
			if p.f != nil {
				p.f.Close()
			}
		}
	}()
	req := &api.SignRequest{Key: key, Format: "rpm", Items: make([]api.SignItem, len(paths))}
	for i, path := range paths {
		f, fi, err := openRegular(path)
		if err != nil {
			return nil, err
		}
		pkgs[i] = pkg{path: path, f: f, fi: fi}
		p, err := rpm.Read(f, rpm.MaxData)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		pkgs[i].p = p
		ph, err := rpm.ParsePackageHeader(p.Header.Bytes())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := p.CheckHeaderDigests(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := checkPayload(f, ph.PayloadDigest); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if n := int64(len(p.Header.Bytes())); k.MaxMessageBytes > 0 && n > k.MaxMessageBytes {
			return nil, fmt.Errorf("%s: the package header is %d bytes, and the server accepts at most %d (limits.max_message_bytes)", path, n, k.MaxMessageBytes)
		}
		n := ph.NEVRA
		req.Items[i] = api.SignItem{Name: itemName(ctx, path), Size: fi.Size(), Data: p.Header.Bytes(),
			Package: &api.PackageID{Name: n.Name, Epoch: n.Epoch, Version: n.Version, Release: n.Release, Arch: n.Arch}}
	}
	resp, err := c.Sign(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make([]FileSignature, len(paths))
	for i, s := range resp.Signatures {
		pk := pkgs[i]
		fresh := func() hash.Hash {
			h := sha256.New()
			h.Write(pk.p.Header.Bytes())
			return h
		}
		if err := c.checkDetached(ctx, key, &cert, fresh, s.Signature); err != nil {
			return nil, fmt.Errorf("%s: the server's signature does not verify with key %q (%s): refusing it: %v", pk.path, key, cert.Fingerprint, err)
		}
		if s.Receipt == nil {
			return nil, fmt.Errorf("%s: the server returned no audit receipt: refusing the signature", pk.path)
		}
		prefix, err := pk.p.Signed(s.Signature)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pk.path, err)
		}
		err = replaceFile(pk.path, pk.f, pk.fi, func(w io.Writer) error {
			if _, err := w.Write(prefix); err != nil {
				return err
			}
			if _, err := w.Write(pk.p.Header.Bytes()); err != nil {
				return err
			}
			_, err := io.Copy(w, io.NewSectionReader(pk.f, pk.p.PayloadOffset, pk.fi.Size()-pk.p.PayloadOffset))
			return err
		}, func(tmp *os.File) error {
			q, err := rpm.Read(tmp, rpm.MaxData)
			if err != nil {
				return err
			}
			if string(q.Header.Bytes()) != string(pk.p.Header.Bytes()) {
				return errors.New("the written main header differs from the one signed")
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		out[i] = FileSignature{Path: pk.path, Signature: s.Signature, Receipt: s.Receipt}
	}
	return out, nil
}

// checkPayload hashes the rest of f, the package's payload, and compares
// it with the digest the header records ("sha256:HEX", …).
func checkPayload(f io.Reader, want string) error {
	alg, _, _ := strings.Cut(want, ":")
	var h hash.Hash
	switch alg {
	case "sha256":
		h = sha256.New()
	case "sha384":
		h = sha512.New384()
	case "sha512":
		h = sha512.New()
	default:
		return fmt.Errorf("payload digest %s: unknown algorithm", want)
	}
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("reading the payload: %w", err)
	}
	if got := fmt.Sprintf("%s:%x", alg, h.Sum(nil)); got != want {
		return fmt.Errorf("the payload's digest is %s, but the header records %s: the package is damaged; refusing to sign it", got, want)
	}
	return nil
}

// SignDebs signs the Debian packages at paths with key, in one request,
// and rewrites each with its debsigs origin signature (the _gpgorigin
// member, which debsig-verify checks). Each package is hashed here and
// only the SHA-256 state of its signed content travels, with the name,
// version and architecture of its control file; the signature is checked
// against the key's certificate before anything is written. Packages are
// replaced atomically, as by SignRPMs. Signature is the _gpgorigin
// member's content.
func (c *Client) SignDebs(ctx context.Context, key string, paths []string) ([]FileSignature, error) {
	if len(paths) == 0 {
		return nil, errors.New("no packages to sign")
	}
	cert, err := c.OpenPGPKey(ctx, key)
	if err != nil {
		return nil, err
	}
	type pkg struct {
		path  string
		f     *os.File
		fi    os.FileInfo
		p     *deb.Package
		state []byte // crypto/sha256 state after the signed content
	}
	pkgs := make([]pkg, len(paths))
	defer func() {
		for _, p := range pkgs {
			if p.f != nil {
				p.f.Close()
			}
		}
	}()
	req := &api.SignRequest{Key: key, Format: "deb", Items: make([]api.SignItem, len(paths))}
	for i, path := range paths {
		f, fi, err := openRegular(path)
		if err != nil {
			return nil, err
		}
		pkgs[i] = pkg{path: path, f: f, fi: fi}
		p, err := deb.Open(f, fi.Size())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		id, err := p.Control()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, p.SignedContent()); err != nil {
			return nil, fmt.Errorf("hashing %s: %w", path, err)
		}
		st, err := openpgp.StateOf(h)
		if err != nil {
			return nil, err
		}
		pkgs[i].p = p
		pkgs[i].state, _ = h.(encoding.BinaryMarshaler).MarshalBinary()
		req.Items[i] = api.SignItem{Name: itemName(ctx, path), Size: p.SignedSize(),
			SHA256State: &api.HashState{Chain: st.Chain, Tail: st.Tail, Length: st.Length},
			Package:     &api.PackageID{Name: id.Package, Version: id.Version, Arch: id.Architecture}}
	}
	resp, err := c.Sign(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make([]FileSignature, len(paths))
	for i, s := range resp.Signatures {
		pk := pkgs[i]
		fresh := func() hash.Hash {
			h := sha256.New()
			h.(encoding.BinaryUnmarshaler).UnmarshalBinary(pk.state)
			return h
		}
		if err := c.checkDetached(ctx, key, &cert, fresh, s.Signature); err != nil {
			return nil, fmt.Errorf("%s: the server's signature does not verify with key %q (%s): refusing it: %v", pk.path, key, cert.Fingerprint, err)
		}
		if s.Receipt == nil {
			return nil, fmt.Errorf("%s: the server returned no audit receipt: refusing the signature", pk.path)
		}
		err := replaceFile(pk.path, pk.f, pk.fi, func(w io.Writer) error {
			return pk.p.WriteSigned(w, s.Signature, time.Now())
		}, func(tmp *os.File) error {
			fi, err := tmp.Stat()
			if err != nil {
				return err
			}
			q, err := deb.Open(tmp, fi.Size())
			if err != nil {
				return err
			}
			got, ok, err := q.Signature()
			if err != nil || !ok || string(got) != string(s.Signature) || q.SignedSize() != pk.p.SignedSize() {
				return errors.New("the written package does not carry the signature over the same content")
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		out[i] = FileSignature{Path: pk.path, Signature: s.Signature, Receipt: s.Receipt}
	}
	return out, nil
}

func openRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a regular file", path)
	}
	return f, fi, nil
}

// replaceFile replaces the file at path, open as src with info fi when it
// was read, by what write writes: into a temporary file in the same
// directory (of the link's target, for a symbolic link), which check
// reads back, synced, given path's mode, and renamed over it. It refuses
// if the file changed (size or modification time) since fi.
func replaceFile(path string, src *os.File, fi os.FileInfo, write func(io.Writer) error, check func(*os.File) error) (err error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".signet-*")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return fmt.Errorf("%s: writing the signed package: %w", path, err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := check(tmp); err != nil {
		return fmt.Errorf("%s: the signed package does not read back: %w", path, err)
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	now, err := src.Stat()
	if err != nil {
		return err
	}
	there, err := os.Stat(target)
	if err != nil {
		return err
	}
	if !os.SameFile(there, fi) || now.Size() != fi.Size() || !now.ModTime().Equal(fi.ModTime()) {
		return fmt.Errorf("%s changed while it was being signed; it is left as it is: sign it again", path)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
