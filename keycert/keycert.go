// Package keycert keeps the X.509 certificate chains attached to Signet
// keys — the code-signing certificates that Authenticode signatures carry
// and the time-stamping certificates of RFC 3161 tokens — and makes the
// PKCS #10 certificate requests a CA issues them from.
//
// # How a key gets a certificate
//
// The key never leaves Signet, so its certificate request is made there:
// [NewCSR] has the key sign a request for a subject such as
// "CN=Example Release,O=Example Corp" ([ParseSubject] reads RFC 4514
// strings). The CA issues a certificate with the extended key usage of
// the key's [Purpose] (codeSigning, or timeStamping), and the chain it returns — leaf first, then each issuer — is
// attached to the key after [CheckChain] has checked it against the key.
//
// # Storage
//
// A chain is public data and is kept as such, apart from the encrypted
// keystore: [Dir] stores key NAME's chain as DIR/NAME.pem, PEM
// certificates leaf first, mode 0644. A file is replaced atomically: the
// new chain is written to a temporary file in DIR, synced, and renamed
// over the old one, and DIR is synced, so a crash leaves the old chain or
// the new one. Nothing here is secret; what matters is that a chain
// belongs to its key, so signers check it again with CheckChain at every
// use rather than trusting the file.
//
// # What it guarantees
//
// [CheckChain] accepts a chain only if its leaf certifies exactly the
// key's public key, has the extended key usage of the purpose (for
// time-stamping: that usage alone, in a critical extension, as RFC 3161
// section 2.3 requires), is not a CA and is valid now, and every certificate is signed by the next one (a CA
// allowed to issue it), within the path length and usage constraints of
// the chain, which may stop below a root. It does not decide whether the
// chain's root is trusted: that is the verifier's trust store. Someone who
// can write DIR can replace a chain with another valid one for the same
// key, or remove it; they cannot make a key sign anything it would not
// sign otherwise.
package keycert

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/signet-dev/signet/keystore"
)

// Limits on what a chain may be.
const (
	MaxChain     = 8        // certificates
	MaxChainSize = 64 << 10 // bytes of PEM
)

// ErrNoChain is wrapped by Dir.Chain when no chain is attached to a key.
var ErrNoChain = errors.New("no certificate chain attached")

// Dir stores chains as files in a directory.
type Dir struct{ path string }

// NewDir returns the Dir of directory path, which is created when the
// first chain is attached.
func NewDir(path string) *Dir { return &Dir{path: path} }

func (d *Dir) file(key string) (string, error) {
	if err := keystore.ValidName(key); err != nil {
		return "", err
	}
	return filepath.Join(d.path, key+".pem"), nil
}

// Chain returns the chain attached to key, leaf first, or an error
// wrapping ErrNoChain.
func (d *Dir) Chain(key string) ([]*x509.Certificate, error) {
	name, err := d.file(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("key %q: %w", key, ErrNoChain)
	} else if err != nil {
		return nil, fmt.Errorf("key %q: reading its certificate chain: %w", key, err)
	}
	chain, err := ParseChain(b)
	if err != nil {
		return nil, fmt.Errorf("key %q: %s: %w", key, name, err)
	}
	return chain, nil
}

// Attach stores chain as key's chain, replacing any previous one. It does
// not check the chain: see CheckChain.
func (d *Dir) Attach(key string, chain []*x509.Certificate) error {
	name, err := d.file(key)
	if err != nil {
		return err
	}
	if len(chain) == 0 {
		return errors.New("no certificates to attach")
	}
	if err := os.MkdirAll(d.path, 0o755); err != nil {
		return fmt.Errorf("certificate directory: %w", err)
	}
	if err := writeAtomic(name, EncodeChain(chain)); err != nil {
		return fmt.Errorf("key %q: storing its certificate chain: %w", key, err)
	}
	return nil
}

// BlobStore keeps one blob per key name: keystore.Blobs, a fleet
// keystore's database.
type BlobStore interface {
	Get(ctx context.Context, name string) ([]byte, bool, error)
	Put(ctx context.Context, name string, data []byte) error
}

// Shared stores chains in a BlobStore shared by the replicas of a fleet,
// so that a chain attached on one is used by all.
type Shared struct{ b BlobStore }

// NewShared returns the chain store kept in b.
func NewShared(b BlobStore) *Shared { return &Shared{b: b} }

// Chain returns the chain attached to key, leaf first, or an error
// wrapping ErrNoChain.
func (s *Shared) Chain(key string) ([]*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, ok, err := s.b.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("key %q: reading its certificate chain: %w", key, err)
	}
	if !ok {
		return nil, fmt.Errorf("key %q: %w", key, ErrNoChain)
	}
	chain, err := ParseChain(b)
	if err != nil {
		return nil, fmt.Errorf("key %q: stored chain: %w", key, err)
	}
	return chain, nil
}

// Attach stores chain as key's chain, replacing any previous one.
func (s *Shared) Attach(key string, chain []*x509.Certificate) error {
	if err := keystore.ValidName(key); err != nil {
		return err
	}
	if len(chain) == 0 {
		return errors.New("no certificates to attach")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.b.Put(ctx, key, EncodeChain(chain)); err != nil {
		return fmt.Errorf("key %q: storing its certificate chain: %w", key, err)
	}
	return nil
}

// writeAtomic replaces name with data: temporary file, sync, rename, sync
// of the directory.
func writeAtomic(name string, data []byte) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return err
	}
	df, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer df.Close()
	return df.Sync()
}

// ParseChain reads PEM CERTIFICATE blocks, in order. Text around the
// blocks (as openssl writes into bundles) is ignored; any other PEM block
// is an error, and a private key is refused by name.
func ParseChain(b []byte) ([]*x509.Certificate, error) {
	if len(b) > MaxChainSize {
		return nil, fmt.Errorf("certificate chain is %d bytes; the limit is %d", len(b), MaxChainSize)
	}
	var chain []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		switch {
		case bytes.Contains([]byte(block.Type), []byte("PRIVATE KEY")):
			return nil, fmt.Errorf("the chain contains a %s: keys stay in Signet; give only the certificates", block.Type)
		case block.Type != "CERTIFICATE":
			return nil, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE", len(chain)+1, block.Type)
		case len(chain) == MaxChain:
			return nil, fmt.Errorf("more than %d certificates", MaxChain)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM CERTIFICATE found; give the chain in PEM, leaf first (convert DER with 'openssl x509 -inform der')")
	}
	return chain, nil
}

// EncodeChain returns chain as PEM, in order.
func EncodeChain(chain []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range chain {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// Purpose is what a chain's leaf certifies its key for.
type Purpose int

const (
	CodeSigning  Purpose = iota // Authenticode: extendedKeyUsage codeSigning
	TimeStamping                // an RFC 3161 TSA: extendedKeyUsage timeStamping, alone and critical
)

func (p Purpose) eku() (x509.ExtKeyUsage, string) {
	if p == TimeStamping {
		return x509.ExtKeyUsageTimeStamping, "timeStamping extended key usage (1.3.6.1.5.5.7.3.8): ask the CA for a time-stamping certificate"
	}
	return x509.ExtKeyUsageCodeSigning, "codeSigning extended key usage (1.3.6.1.5.5.7.3.3): ask the CA for a code-signing certificate"
}

// oidExtKeyUsage is the extendedKeyUsage extension.
var oidExtKeyUsage = []int{2, 5, 29, 37}

// CheckChain checks that chain, leaf first, may be attached to the key
// whose public key is pub, for purpose, at time now (see the package
// documentation).
func CheckChain(chain []*x509.Certificate, pub crypto.PublicKey, purpose Purpose, now time.Time) error {
	if len(chain) == 0 || len(chain) > MaxChain {
		return fmt.Errorf("a chain has 1 to %d certificates, not %d", MaxChain, len(chain))
	}
	leaf := chain[0]
	name := fmt.Sprintf("certificate %q (serial %x)", leaf.Subject, leaf.SerialNumber)
	k, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !k.Equal(leaf.PublicKey) {
		return fmt.Errorf("%s is for another public key (%s), not this key's: the chain must start with the certificate issued for this key's request", name, keystore.Fingerprint(leaf.PublicKey))
	}
	eku, hint := purpose.eku()
	if !slices.Contains(leaf.ExtKeyUsage, eku) {
		return fmt.Errorf("%s lacks the %s", name, hint)
	}
	if purpose == TimeStamping {
		// RFC 3161 2.3: only id-kp-timeStamping, in a critical extension;
		// openssl ts -verify refuses anything else.
		critical := slices.ContainsFunc(leaf.Extensions, func(e pkix.Extension) bool { return e.Id.Equal(oidExtKeyUsage) && e.Critical })
		if len(leaf.ExtKeyUsage) != 1 || len(leaf.UnknownExtKeyUsage) != 0 || !critical {
			return fmt.Errorf("%s must have the timeStamping extended key usage alone, in a critical extension (RFC 3161 section 2.3): ask the CA for a dedicated time-stamping certificate", name)
		}
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("%s does not allow digital signatures (key usage)", name)
	}
	if leaf.IsCA {
		return fmt.Errorf("%s is a CA certificate, not one for signing", name)
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("%s is valid from %s to %s, not now", name, leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return fmt.Errorf("certificate %d (%q) is not issued by certificate %d (%q): %v; give the chain leaf first, each certificate followed by its issuer",
				i+1, chain[i].Subject, i+2, chain[i+1].Subject, err)
		}
	}
	// The chain, ending wherever it ends, must also pass the path checks
	// verifiers make: validity of every certificate, path lengths, and
	// extended key usages that allow code signing all the way up.
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(chain[len(chain)-1])
	for i := 1; i < len(chain)-1; i++ {
		inter.AddCert(chain[i])
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{eku}}); err != nil {
		return fmt.Errorf("chain of %s: %w", name, err)
	}
	return nil
}

// NewCSR returns a PEM PKCS #10 certificate request for subject, signed
// by signer (SHA-256 for RSA and P-256 keys, SHA-384 for P-384), as a CA
// expects proof that the requester holds the key.
func NewCSR(signer crypto.Signer, subject pkix.Name) ([]byte, error) {
	if len(subject.ToRDNSequence()) == 0 {
		return nil, errors.New("certificate request: empty subject")
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, signer)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}
