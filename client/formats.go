package client

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/ssh"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/format/dsse"
	"github.com/signet-dev/signet/format/minisign"
	"github.com/signet-dev/signet/format/sshsig"
)

// SSHKeyComment is the comment SSHPublicKey puts on a key's line:
// "signet:" and the key name. signet-ssh-sign reads it back to find the
// key without searching.
const SSHKeyComment = "signet:"

// SSHPublicKey returns the public key of k as an authorized_keys line
// commented "signet:NAME", the form of allowed_signers files and of git's
// user.signingkey (after "key::").
func SSHPublicKey(k *api.Key) ([]byte, error) {
	pub, err := PublicKey(k)
	if err != nil {
		return nil, err
	}
	return sshsig.AuthorizedKey(pub, SSHKeyComment+k.Name)
}

// MinisignPublicKey returns the public key of k as a minisign public key
// file, with the key id derived from the key (minisign.KeyIDFor).
func MinisignPublicKey(k *api.Key) ([]byte, error) {
	pub, err := PublicKey(k)
	if err != nil {
		return nil, err
	}
	mk, err := minisign.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("key %q (%s): %w", k.Name, k.Type, err)
	}
	return mk.Marshal(), nil
}

// FindSSHKey returns the server key whose public key is the one on the
// authorized_keys line given, as git passes it to signet-ssh-sign. A line
// commented "signet:NAME" names the key; any other line is matched by
// fingerprint against the keys this client may use.
func (c *Client) FindSSHKey(ctx context.Context, line []byte) (*api.Key, error) {
	pub, comment, _, _, err := ssh.ParseAuthorizedKey(line)
	if err != nil {
		return nil, fmt.Errorf("signing key %.80q is not an SSH public key line: %w", strings.TrimSpace(string(line)), err)
	}
	cpub, ok := pub.(ssh.CryptoPublicKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s is not a plain public key", ssh.FingerprintSHA256(pub))
	}
	der, err := x509.MarshalPKIXPublicKey(cpub.CryptoPublicKey())
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", ssh.FingerprintSHA256(pub), err)
	}
	sum := sha256.Sum256(der)
	fp := "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
	if name, ok := strings.CutPrefix(comment, SSHKeyComment); ok {
		k, err := c.Key(ctx, name)
		if err != nil {
			return nil, err
		}
		if k.Fingerprint != fp {
			return nil, fmt.Errorf("signing key line names key %q, but that key's fingerprint is %s, not %s: export the line again with 'signet key public %s --format ssh'", name, k.Fingerprint, fp, name)
		}
		return k, nil
	}
	keys, err := c.Keys(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.Fingerprint == fp {
			return c.Key(ctx, k.Name)
		}
	}
	return nil, fmt.Errorf("no server key you may use has the public key %s (%s); 'signet key list' shows the keys", ssh.FingerprintSHA256(pub), fp)
}

// SignSSH signs the files at paths with key in namespace ns (SSHSIG, as
// 'ssh-keygen -Y sign -n NS' does), in one request. Files are hashed here
// with SHA-512; only digests are sent. Each armored signature returned is
// checked against the key before SignSSH returns it.
func (c *Client) SignSSH(ctx context.Context, key, ns string, paths []string) ([]FileSignature, error) {
	items, sums, err := digestFiles(ctx, paths, crypto.SHA512)
	if err != nil {
		return nil, err
	}
	return c.signSSH(ctx, key, ns, paths, items, sums)
}

// SignSSHMessage signs the message read from r, named name for the
// server's policy, like SignSSH.
func (c *Client) SignSSHMessage(ctx context.Context, key, ns, name string, r io.Reader) (*FileSignature, error) {
	item, sum, err := digestItem(name, r, crypto.SHA512)
	if err != nil {
		return nil, err
	}
	sigs, err := c.signSSH(ctx, key, ns, []string{name}, []api.SignItem{item}, [][]byte{sum})
	if err != nil {
		return nil, err
	}
	return &sigs[0], nil
}

func (c *Client) signSSH(ctx context.Context, key, ns string, paths []string, items []api.SignItem, sums [][]byte) ([]FileSignature, error) {
	if err := sshsig.ValidNamespace(ns); err != nil {
		return nil, err
	}
	k, pub, err := c.keyPublic(ctx, key)
	if err != nil {
		return nil, err
	}
	spub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", key, err)
	}
	resp, err := c.Sign(ctx, &api.SignRequest{Key: key, Format: "ssh", Options: api.SignOptions{Namespace: ns}, Items: items})
	if err != nil {
		return nil, err
	}
	if resp.KeyVersion != k.Version {
		if pub, err = c.versionPublic(ctx, k, resp.KeyVersion); err == nil {
			spub, err = ssh.NewPublicKey(pub)
		}
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
	}
	out := make([]FileSignature, len(items))
	for i, s := range resp.Signatures {
		sig, err := sshsig.Parse(s.Signature)
		if err == nil {
			err = sig.Verify(spub, ns, sums[i])
		}
		if err != nil {
			return nil, fmt.Errorf("%s: the server's SSH signature does not verify with key %q (%s): refusing it: %w", paths[i], key, k.Fingerprint, err)
		}
		if s.Receipt == nil {
			return nil, fmt.Errorf("%s: the server returned a signature without an audit receipt: refusing it", paths[i])
		}
		out[i] = FileSignature{Path: paths[i], Signature: s.Signature, Receipt: s.Receipt}
	}
	return out, nil
}

// MinisignTrustedComment is the trusted comment minisign itself writes
// for a prehashed signature of the file at path made now.
func MinisignTrustedComment(path string, now time.Time) string {
	return fmt.Sprintf("timestamp:%d\tfile:%s\thashed", now.Unix(), filepath.Base(path))
}

// SignMinisign signs the files at paths with key as minisign does
// (prehashed "ED"), in one request. Files are hashed here with BLAKE2b-512;
// only digests are sent. trustedComment is the signed comment of every
// signature; if empty, each gets MinisignTrustedComment. Each signature
// file returned is checked against the key before SignMinisign returns it.
func (c *Client) SignMinisign(ctx context.Context, key string, paths []string, trustedComment string) ([]FileSignature, error) {
	if trustedComment != "" {
		if err := minisign.ValidComment(trustedComment); err != nil {
			return nil, fmt.Errorf("trusted comment: %w", err)
		}
	}
	k, pub, err := c.keyPublic(ctx, key)
	if err != nil {
		return nil, err
	}
	mpub, err := minisign.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("key %q (%s): %w; minisign needs an ed25519 key created with --usage minisign", key, k.Type, err)
	}
	items, sums, err := digestFiles(ctx, paths, crypto.BLAKE2b_512)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for i := range items {
		items[i].TrustedComment = trustedComment
		if trustedComment == "" {
			items[i].TrustedComment = MinisignTrustedComment(paths[i], now)
		}
	}
	resp, err := c.Sign(ctx, &api.SignRequest{Key: key, Format: "minisign", Items: items})
	if err != nil {
		return nil, err
	}
	if resp.KeyVersion != k.Version {
		if pub, err = c.versionPublic(ctx, k, resp.KeyVersion); err == nil {
			mpub, err = minisign.NewPublicKey(pub)
		}
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
	}
	out := make([]FileSignature, len(items))
	for i, s := range resp.Signatures {
		sig, err := minisign.ParseSignature(s.Signature)
		if err == nil {
			err = sig.Verify(mpub, sums[i])
		}
		if err == nil && sig.TrustedComment != items[i].TrustedComment {
			err = errors.New("the trusted comment is not the one sent")
		}
		if err != nil {
			return nil, fmt.Errorf("%s: the server's minisign signature does not verify with key %q (%s): refusing it: %w", paths[i], key, k.Fingerprint, err)
		}
		if s.Receipt == nil {
			return nil, fmt.Errorf("%s: the server returned a signature without an audit receipt: refusing it", paths[i])
		}
		out[i] = FileSignature{Path: paths[i], Signature: s.Signature, Receipt: s.Receipt}
	}
	return out, nil
}

// Attest asks key to sign an in-toto Statement v1 about the files at
// subjects (named by base name, with their SHA-256 computed here) with
// the given predicate type and predicate (a JSON object), and returns the
// DSSE envelope, checked against the key, and its audit receipt.
func (c *Client) Attest(ctx context.Context, key string, subjects []string, predicateType string, predicate []byte, opts api.SignOptions) ([]byte, *audit.Receipt, error) {
	if len(subjects) == 0 {
		return nil, nil, errors.New("no subjects to attest")
	}
	var subs []dsse.Subject
	seen := map[string]string{}
	for _, p := range subjects {
		name := itemName(ctx, p)
		if prev, ok := seen[name]; ok {
			return nil, nil, fmt.Errorf("subjects %s and %s have the same name %q", prev, p, name)
		}
		seen[name] = p
		item, _, err := digestFile(ctx, p, crypto.SHA256)
		if err != nil {
			return nil, nil, err
		}
		_, sum, _ := api.ParseDigest(item.Digest)
		subs = append(subs, dsse.Subject{Name: name, Digest: map[string]string{"sha256": hex.EncodeToString(sum)}})
	}
	statement, err := dsse.NewStatement(subs, predicateType, json.RawMessage(bytes.TrimSpace(predicate)))
	if err != nil {
		return nil, nil, err
	}
	k, _, err := c.keyPublic(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.Sign(ctx, &api.SignRequest{Key: key, Format: "dsse", Options: opts,
		Items: []api.SignItem{{Name: subs[0].Name, Size: int64(len(statement)), Data: statement}}})
	if err != nil {
		return nil, nil, err
	}
	env := resp.Signatures[0].Signature
	pub, err := c.versionPublic(ctx, k, resp.KeyVersion)
	if err != nil {
		return nil, nil, err
	}
	_, payload, err := dsse.Verify(ctx, env, pub, dsse.Options{PSS: opts.RSAPSS})
	if err == nil && !bytes.Equal(payload, statement) {
		err = errors.New("the statement signed is not the one sent")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("the server's attestation does not verify with key %q (%s): refusing it: %w", key, k.Fingerprint, err)
	}
	receipt := resp.Signatures[0].Receipt
	if receipt == nil {
		return nil, nil, errors.New("the server returned an attestation without an audit receipt: refusing it")
	}
	return env, receipt, nil
}

// keyPublic fetches key and parses its public key.
func (c *Client) keyPublic(ctx context.Context, key string) (*api.Key, crypto.PublicKey, error) {
	k, err := c.Key(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	pub, err := PublicKey(k)
	if err != nil {
		return nil, nil, err
	}
	return k, pub, nil
}

// digestFiles hashes the files at paths with h, streaming, and returns
// their sign items (named by itemName) and digests.
func digestFiles(ctx context.Context, paths []string, h crypto.Hash) ([]api.SignItem, [][]byte, error) {
	if len(paths) == 0 {
		return nil, nil, errors.New("no files to sign")
	}
	items := make([]api.SignItem, len(paths))
	sums := make([][]byte, len(paths))
	for i, p := range paths {
		var err error
		if items[i], sums[i], err = digestFile(ctx, p, h); err != nil {
			return nil, nil, err
		}
	}
	return items, sums, nil
}

func digestFile(ctx context.Context, path string, h crypto.Hash) (api.SignItem, []byte, error) {
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
	item, sum, err := digestItem(itemName(ctx, path), f, h)
	if err != nil {
		return item, nil, fmt.Errorf("hashing %s: %w", path, err)
	}
	return item, sum, nil
}

func digestItem(name string, r io.Reader, h crypto.Hash) (api.SignItem, []byte, error) {
	var d hash.Hash
	switch h {
	case crypto.SHA512:
		d = sha512.New()
	case crypto.SHA256:
		d = sha256.New()
	case crypto.BLAKE2b_512:
		d, _ = blake2b.New512(nil)
	default:
		return api.SignItem{}, nil, fmt.Errorf("no hash %v", h)
	}
	n, err := io.Copy(d, r)
	if err != nil {
		return api.SignItem{}, nil, err
	}
	sum := d.Sum(nil)
	return api.SignItem{Name: name, Size: n, Digest: api.Digest(h, sum)}, sum, nil
}
