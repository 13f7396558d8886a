package catalog

import (
	"bytes"
	"context"
	"crypto"
	_ "crypto/sha512" // SHA-384 and SHA-512 checksums in repodata
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	gopenpgp "github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// A Ref is a file an index lists: its path (relative to the index's base
// directory as parsed, relative to the catalog root once resolved), size
// (-1 if the index gives none), and checksum.
type Ref struct {
	Path    string
	Size    int64
	Hash    crypto.Hash
	Sum     []byte
	Package bool // a package (not an index), whose own signature a catalog may require
}

// A RefError is a referenced file that is missing or does not match its
// index: the first one, in index order.
type RefError struct {
	Path     string // relative to the catalog root
	ListedIn string // the index that lists it
	Problem  string
}

func (e *RefError) Error() string {
	return fmt.Sprintf("%s (listed in %s): %s", e.Path, e.ListedIn, e.Problem)
}

// maxSignatureBytes bounds a package's detached signature file.
const maxSignatureBytes = 64 << 10

// verifier checks files against refs, in parallel.
type verifier struct {
	tree    *tree
	signers gopenpgp.EntityList // non-empty: packages need a signature by one of these
	workers int
	// budget is how many more bytes the check may hash (of maxHash): a
	// file's size is taken from it before the file is read.
	budget  atomic.Int64
	maxHash int64
	catalog string
}

func newVerifier(t *tree, signers gopenpgp.EntityList) *verifier {
	return &verifier{tree: t, signers: signers, workers: runtime.GOMAXPROCS(0)}
}

// verify checks every ref, listed in listedIn, and returns the RefError of
// the first one (in refs order) that fails. Workers take refs in order
// and stop taking more once a failure is known, so the error reported is
// always the first failing ref, whatever the scheduling.
func (v *verifier) verify(ctx context.Context, refs []Ref, listedIn string) error {
	var next atomic.Int64
	var firstBad atomic.Int64
	firstBad.Store(int64(len(refs)))
	errs := make([]error, len(refs))
	var wg sync.WaitGroup
	for range min(v.workers, len(refs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for {
				i := next.Add(1) - 1
				if i >= int64(len(refs)) || i > firstBad.Load() {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[i] = err
				} else {
					errs[i] = v.check(&refs[i], listedIn, buf)
				}
				if errs[i] != nil {
					for {
						cur := firstBad.Load()
						if i >= cur || firstBad.CompareAndSwap(cur, i) {
							break
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	if i := firstBad.Load(); i < int64(len(refs)) {
		return errs[i]
	}
	return nil
}

func (v *verifier) check(r *Ref, listedIn string, buf []byte) error {
	bad := func(format string, args ...any) error {
		return &RefError{Path: r.Path, ListedIn: listedIn, Problem: fmt.Sprintf(format, args...)}
	}
	f, size, err := v.tree.open(r.Path)
	if err != nil {
		return &RefError{Path: r.Path, ListedIn: listedIn, Problem: err.Error()}
	}
	defer f.Close()
	if r.Size >= 0 && size != r.Size {
		return bad("size is %d bytes, but the index lists %d", size, r.Size)
	}
	if err := v.charge(r.Path, size); err != nil {
		return err
	}
	h := r.Hash.New()
	n, err := io.CopyBuffer(h, f, buf)
	if err != nil {
		return bad("reading: %v", err)
	}
	if n != size {
		return bad("changed while being read")
	}
	if got := h.Sum(nil); !bytes.Equal(got, r.Sum) {
		return bad("%s is %s, but the index lists %s", hashName(r.Hash), hex.EncodeToString(got), hex.EncodeToString(r.Sum))
	}
	if r.Package && len(v.signers) > 0 {
		if err := v.checkSignature(r, h, buf); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}

// charge takes n bytes of path, about to be hashed or decompressed, from
// the check's budget.
func (v *verifier) charge(path string, n int64) error {
	if v.budget.Add(-n) < 0 {
		return &HashLimitError{Catalog: v.catalog, Path: path, Size: n, Limit: v.maxHash}
	}
	return nil
}

// checkSignature requires PATH.sig or PATH.asc, a detached binary
// signature of the file by one of the allowed keys. h is the file's hash
// under r.Hash, not yet finished.
func (v *verifier) checkSignature(r *Ref, h hash.Hash, buf []byte) error {
	var sigBytes []byte
	var sigPath string
	for _, ext := range []string{".sig", ".asc"} {
		b, err := v.tree.readIndex(r.Path+ext, maxSignatureBytes)
		if err == nil {
			sigBytes, sigPath = b, r.Path+ext
			break
		}
		var tl *TooLargeError
		if errors.As(err, &tl) {
			return fmt.Errorf("signature %s is larger than %d bytes", r.Path+ext, maxSignatureBytes)
		}
	}
	if sigBytes == nil {
		return fmt.Errorf("package signatures are required, and there is no %s.sig or %s.asc", r.Path, r.Path)
	}
	var rd io.Reader = bytes.NewReader(sigBytes)
	if bytes.HasPrefix(bytes.TrimSpace(sigBytes), []byte("-----BEGIN")) {
		block, err := armor.Decode(rd)
		if err != nil {
			return fmt.Errorf("signature %s: %v", sigPath, err)
		}
		rd = block.Body
	}
	p, err := packet.Read(rd)
	if err != nil {
		return fmt.Errorf("signature %s: %v", sigPath, err)
	}
	sig, ok := p.(*packet.Signature)
	if !ok || sig.SigType != packet.SigTypeBinary || sig.IssuerKeyId == nil {
		return fmt.Errorf("signature %s is not a binary-document signature naming its issuer", sigPath)
	}
	keys := v.signers.KeysByIdUsage(*sig.IssuerKeyId, packet.KeyFlagSign)
	if len(keys) == 0 {
		return fmt.Errorf("signature %s is by key %016X, which is not among the catalog's package_signers", sigPath, *sig.IssuerKeyId)
	}
	switch sig.Hash {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return fmt.Errorf("signature %s uses hash %v; package signatures must use SHA-256, SHA-384 or SHA-512", sigPath, sig.Hash)
	}
	if sig.Hash != r.Hash {
		// Signed with another hash than the index uses: hash again.
		h = sig.Hash.New()
		f, _, err := v.tree.open(r.Path)
		if err != nil {
			return err
		}
		_, err = io.CopyBuffer(h, f, buf)
		f.Close()
		if err != nil {
			return err
		}
	}
	for _, k := range keys {
		c, err := cloneHash(h, sig.Hash)
		if err != nil {
			return err
		}
		if k.PublicKey.VerifySignature(c, sig) == nil {
			return nil
		}
	}
	return fmt.Errorf("signature %s does not verify with key %016X", sigPath, *sig.IssuerKeyId)
}

func cloneHash(h hash.Hash, alg crypto.Hash) (hash.Hash, error) {
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok {
		return nil, fmt.Errorf("cannot copy a %s state", hashName(alg))
	}
	b, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	c := alg.New()
	if err := c.(encoding.BinaryUnmarshaler).UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return c, nil
}

func hashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA256:
		return "sha256"
	case crypto.SHA384:
		return "sha384"
	case crypto.SHA512:
		return "sha512"
	}
	return h.String()
}
