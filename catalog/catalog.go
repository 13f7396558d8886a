// Package catalog signs repository indexes in pull mode: APT Release
// files, RPM repodata (repomd.xml) and SHA256SUMS files.
//
// Whoever can get a repository index signed controls what every client of
// the repository installs. So the caller never sends the index: it names a
// configured catalog, fills in the parameters of its path template from
// per-parameter allow-lists (dists/{suite}/Release with suite ∈ {stable,
// testing}), and gives the SHA-256 of the copy it is about to publish.
// [Catalog.Check] then
//
//  1. resolves the path under the catalog's root directory: lexically
//     (no absolute path, no "..", no empty or "." component) and through an
//     os.Root, so symlinks may not lead outside the root; only regular files
//     are read, and FIFOs and devices are refused without blocking;
//  2. reads the index itself, bounded by the catalog's size limit, and
//     compares its SHA-256 with the caller's ([MismatchError]);
//  3. parses it strictly and checks that every file it references exists
//     under the root with the listed size and checksum, hashing them in
//     parallel on every core ([RefError] names the first offending file):
//     - apt-release: the Release file's SHA256 list (Packages, Sources,
//     Contents, Translation … and their compressed variants), then every
//     pool file that each Packages and Sources index lists; all compressed
//     variants of one index must have the same content;
//     - rpm-repomd: every <data> file of repomd.xml, then every package of
//     the primary metadata;
//     - sha256sums: every listed file;
//  4. optionally requires every referenced package to carry a detached
//     OpenPGP signature (FILE.sig or FILE.asc) by one of the catalog's
//     package signers.
//
// Only then does [Result.Sign] sign the bytes that were checked — the
// index as read, never a second read — producing the files the
// repository's clients look for: Release.gpg and InRelease for APT,
// repomd.xml.asc for RPM, SHA256SUMS.asc for checksum files. The caller
// places them.
//
// What it does not guarantee: the files are checked once, when the index
// is signed; whoever can write under the root can still change them later
// (the signed index then no longer matches and clients refuse them). It
// does not check embedded package signatures (rpm's header signatures,
// debsig), only detached ones, and reads no remote (xml:base) locations.
package catalog

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	gopenpgp "github.com/ProtonMail/go-crypto/openpgp"

	"github.com/signet-dev/signet/format/openpgp"
)

// Type is the kind of index a catalog signs.
type Type string

const (
	APTRelease Type = "apt-release"
	RPMRepomd  Type = "rpm-repomd"
	SHA256Sums Type = "sha256sums"
)

// DefaultMaxBytes bounds an index (and each decompressed index it
// references) when a catalog sets no max_bytes.
const DefaultMaxBytes = 256 << 20

// DefaultMaxHashBytes bounds the bytes one check hashes when a catalog
// sets no max_hash_bytes: enough for a project's own repository, and a
// bound on what one request can make the server read.
const DefaultMaxHashBytes = 16 << 30

// Spec is one configured catalog, as in the server config's catalogs:
// list (docs/config.md).
type Spec struct {
	Name       string              `yaml:"name"`
	Type       Type                `yaml:"type"`
	Root       string              `yaml:"root"`   // directory every path is resolved under
	Path       string              `yaml:"path"`   // template of the index path, e.g. dists/{suite}/Release
	Params     map[string][]string `yaml:"params"` // allowed values of each template parameter
	Key        string              `yaml:"key"`    // keystore key (pgp-ed25519 or pgp-rsa4096) that signs
	Principals []string            `yaml:"principals"`
	MaxBytes   int64               `yaml:"max_bytes"` // limit on the index and each index it references; default 256 MiB
	// MaxHashBytes bounds the bytes one check reads and hashes, all
	// referenced files together: hard links to one sparse file could
	// otherwise make a single request hash tens of GiB. Default 16 GiB.
	MaxHashBytes int64 `yaml:"max_hash_bytes"`
	// PackageSigners are OpenPGP certificate files (armored or binary).
	// If set, every referenced package needs a detached signature
	// (FILE.sig or FILE.asc) by one of them.
	PackageSigners []string `yaml:"package_signers"`
}

var (
	nameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	paramRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	valueRE = regexp.MustCompile(`^[A-Za-z0-9._+~-]{1,128}$`)
	placeRE = regexp.MustCompile(`\{([^{}]*)\}`)
)

// Check checks s and reports every problem, each naming the field.
func (s *Spec) Check() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("catalog %q: "+format, append([]any{s.Name}, args...)...))
	}
	if !nameRE.MatchString(s.Name) {
		bad("name must be 1 to 64 characters from a-z, 0-9, '.', '_', '-', starting with a letter or digit")
	}
	switch s.Type {
	case APTRelease, RPMRepomd, SHA256Sums:
	default:
		bad("type %q is not one of apt-release, rpm-repomd, sha256sums", s.Type)
	}
	if s.Root == "" {
		bad("root is required: the directory the index and the files it references are under")
	}
	if s.Key == "" {
		bad("key is required: a pgp-ed25519 or pgp-rsa4096 keystore key")
	}
	if len(s.Principals) == 0 {
		bad("principals is empty: nobody could request this catalog")
	}
	if s.MaxBytes < 0 {
		bad("max_bytes is negative; leave it out for the default (%d)", DefaultMaxBytes)
	}
	if s.MaxHashBytes < 0 {
		bad("max_hash_bytes is negative; leave it out for the default (%d)", DefaultMaxHashBytes)
	}
	used := map[string]bool{}
	for _, m := range placeRE.FindAllStringSubmatch(s.Path, -1) {
		p := m[1]
		used[p] = true
		if !paramRE.MatchString(p) {
			bad("path parameter {%s} is not a name of a-z, 0-9 and '_'", p)
		} else if len(s.Params[p]) == 0 {
			bad("path parameter {%s} has no allowed values: add params.%s: [...]", p, p)
		}
	}
	lit := placeRE.ReplaceAllString(s.Path, "x")
	if strings.ContainsAny(lit, "{}") {
		bad("path %q has an unbalanced brace", s.Path)
	} else if err := checkRel(lit); err != nil {
		bad("path: %v", err)
	}
	for p, vals := range s.Params {
		if !used[p] {
			bad("params.%s is not used in path %q", p, s.Path)
		}
		for _, v := range vals {
			if !valueRE.MatchString(v) || v == "." || v == ".." {
				bad("params.%s value %q: values are 1 to 128 characters from A-Z a-z 0-9 . _ + ~ - (no '/', not '.' or '..')", p, v)
			}
		}
	}
	return errors.Join(errs...)
}

// Catalog is a checked Spec with its package signers loaded.
type Catalog struct {
	spec    Spec
	max     int64
	maxHash int64
	signers gopenpgp.EntityList
}

// New checks spec and loads its package signers.
func New(spec Spec) (*Catalog, error) {
	if err := spec.Check(); err != nil {
		return nil, err
	}
	c := &Catalog{spec: spec, max: cmp.Or(spec.MaxBytes, DefaultMaxBytes), maxHash: cmp.Or(spec.MaxHashBytes, DefaultMaxHashBytes)}
	for _, f := range spec.PackageSigners {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("catalog %q: package_signers: %w", spec.Name, err)
		}
		ent, err := openpgp.ReadCertificate(b)
		if err != nil {
			return nil, fmt.Errorf("catalog %q: package_signers %s: %w", spec.Name, f, err)
		}
		c.signers = append(c.signers, ent)
	}
	return c, nil
}

// Spec returns the catalog's configuration.
func (c *Catalog) Spec() Spec { return c.spec }

// ParamError is a request parameter that is unknown, missing or not
// allowed.
type ParamError struct{ msg string }

func (e *ParamError) Error() string { return e.msg }

// Resolve fills in the path template and returns the index path relative
// to the root. Every template parameter must be given, with an allowed
// value, and nothing else.
func (c *Catalog) Resolve(params map[string]string) (string, error) {
	for k := range params {
		if _, ok := c.spec.Params[k]; !ok {
			return "", &ParamError{fmt.Sprintf("catalog %q has no parameter %.40q; its path is %s", c.spec.Name, k, c.spec.Path)}
		}
	}
	var first *ParamError // the first parameter at fault
	rel := placeRE.ReplaceAllStringFunc(c.spec.Path, func(m string) string {
		p := m[1 : len(m)-1]
		v, ok := params[p]
		allowed := c.spec.Params[p]
		switch {
		case first != nil:
		case !ok:
			first = &ParamError{fmt.Sprintf("catalog %q needs parameter %s (one of %s)", c.spec.Name, p, strings.Join(allowed, ", "))}
		case !slices.Contains(allowed, v):
			first = &ParamError{fmt.Sprintf("catalog %q: %s=%.40q is not allowed; allowed values are %s", c.spec.Name, p, v, strings.Join(allowed, ", "))}
		}
		return v
	})
	if first != nil {
		return "", first
	}
	if err := checkRel(rel); err != nil {
		return "", &ParamError{fmt.Sprintf("catalog %q: %v", c.spec.Name, err)}
	}
	return rel, nil
}

// MismatchError is an index whose SHA-256 is not what the caller expected.
type MismatchError struct {
	Path      string
	Want, Got []byte
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s has sha256 %x, but the request expects %x: the server's copy differs from the one being published", e.Path, e.Got, e.Want)
}

// TooLargeError is an index over the catalog's size limit.
type TooLargeError struct {
	Path        string
	Size, Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than this catalog's limit of %d bytes (max_bytes)", e.Path, e.Limit)
}

// HashLimitError is a check that would read and hash more than the
// catalog's max_hash_bytes in all.
type HashLimitError struct {
	Catalog string
	Path    string // the file that would have gone over
	Size    int64  // its size
	Limit   int64
}

func (e *HashLimitError) Error() string {
	return fmt.Sprintf("catalog %q: checking %s (%d bytes) would take the bytes this request hashes over the catalog's limit of %d (max_hash_bytes); "+
		"raise max_hash_bytes if the repository really is that large (hard links or sparse files can make it look larger than it is)", e.Catalog, e.Path, e.Size, e.Limit)
}

// IndexError is an index that cannot be parsed.
type IndexError struct {
	Path string
	Err  error
}

func (e *IndexError) Error() string { return fmt.Sprintf("%s: %v", e.Path, e.Err) }
func (e *IndexError) Unwrap() error { return e.Err }

// Result is a checked index, ready to sign.
type Result struct {
	Catalog string
	Type    Type
	Path    string   // the index, relative to the root
	Index   []byte   // its bytes, as read and checked
	SHA256  [32]byte // of Index
	// References is how many distinct files were verified, and
	// ReferencesDigest the SHA-256 of their sorted list, one
	// "ALG:HEX SIZE PATH\n" line each (SIZE -1 where the index lists
	// none): what the audit log records.
	References       int
	ReferencesDigest [32]byte
}

// Check resolves params, reads the index, compares its SHA-256 with
// want, and verifies everything it references (see the package
// documentation).
func (c *Catalog) Check(ctx context.Context, params map[string]string, want []byte) (*Result, error) {
	rel, err := c.Resolve(params)
	if err != nil {
		return nil, err
	}
	t, err := openTree(c.spec.Root)
	if err != nil {
		return nil, fmt.Errorf("catalog %q: %w", c.spec.Name, err)
	}
	defer t.Close()
	index, err := t.readIndex(rel, c.max)
	if err != nil {
		var tl *TooLargeError
		if errors.As(err, &tl) {
			return nil, err
		}
		return nil, &RefError{Path: rel, ListedIn: "the catalog's path template", Problem: err.Error()}
	}
	sum := sha256.Sum256(index)
	if !bytes.Equal(sum[:], want) {
		return nil, &MismatchError{Path: rel, Want: want, Got: sum[:]}
	}
	v := newVerifier(t, c.signers)
	v.budget.Store(c.maxHash)
	v.maxHash, v.catalog = c.maxHash, c.spec.Name
	ck := &checker{tree: t, v: v, max: c.max, seen: map[string]Ref{}}
	switch c.spec.Type {
	case APTRelease:
		err = ck.apt(ctx, rel, index)
	case RPMRepomd:
		err = ck.rpm(ctx, rel, index)
	case SHA256Sums:
		err = ck.sums(ctx, rel, index)
	}
	if err != nil {
		return nil, err
	}
	r := &Result{Catalog: c.spec.Name, Type: c.spec.Type, Path: rel, Index: index, SHA256: sum}
	r.References, r.ReferencesDigest = ck.digest()
	return r, nil
}

// checker walks one index tree, remembering every verified reference.
type checker struct {
	tree *tree
	v    *verifier
	max  int64
	seen map[string]Ref
}

// add resolves refs against dir, drops exact duplicates, refuses
// conflicting ones, and returns the new ones.
func (ck *checker) add(dir string, refs []Ref, listedIn string) ([]Ref, error) {
	out := refs[:0:0]
	for _, r := range refs {
		p, err := join(dir, r.Path)
		if err != nil {
			return nil, &IndexError{Path: listedIn, Err: err}
		}
		r.Path = p
		if old, ok := ck.seen[p]; ok {
			if old.Hash == r.Hash && bytes.Equal(old.Sum, r.Sum) && (old.Size == r.Size || old.Size < 0 || r.Size < 0) {
				continue
			}
			return nil, &RefError{Path: p, ListedIn: listedIn, Problem: "listed twice with different sizes or checksums"}
		}
		ck.seen[p] = r
		out = append(out, r)
	}
	return out, nil
}

func (ck *checker) digest() (int, [32]byte) {
	lines := make([]string, 0, len(ck.seen))
	for _, r := range ck.seen {
		lines = append(lines, fmt.Sprintf("%s:%s %d %s\n", hashName(r.Hash), hex.EncodeToString(r.Sum), r.Size, r.Path))
	}
	sort.Strings(lines)
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l))
	}
	var d [32]byte
	h.Sum(d[:0])
	return len(lines), d
}

// readListed reads an index that ref lists and checks it against ref
// again, since it may have changed since it was verified.
func (ck *checker) readListed(ref Ref, listedIn string) ([]byte, error) {
	b, err := ck.tree.readIndex(ref.Path, ck.max)
	if err != nil {
		var tl *TooLargeError
		if errors.As(err, &tl) {
			return nil, err
		}
		return nil, &RefError{Path: ref.Path, ListedIn: listedIn, Problem: err.Error()}
	}
	if err := ck.v.charge(ref.Path, int64(len(b))); err != nil {
		return nil, err
	}
	h := ref.Hash.New()
	h.Write(b)
	if !bytes.Equal(h.Sum(nil), ref.Sum) {
		return nil, &RefError{Path: ref.Path, ListedIn: listedIn, Problem: "changed while the catalog was being checked"}
	}
	return b, nil
}

func (ck *checker) apt(ctx context.Context, rel string, index []byte) error {
	listed, err := ParseRelease(index)
	if err != nil {
		return &IndexError{Path: rel, Err: err}
	}
	if listed, err = ck.add(path.Dir(rel), listed, rel); err != nil {
		return err
	}
	if err := ck.v.verify(ctx, listed, rel); err != nil {
		return err
	}
	// Group the compressed variants of each Packages and Sources index.
	type variant struct {
		ref Ref
		ext string
	}
	groups := map[string][]variant{}
	var stems []string
	for _, r := range listed {
		stem, ext := splitCompression(r.Path)
		if b := path.Base(stem); b != "Packages" && b != "Sources" {
			continue
		}
		if groups[stem] == nil {
			stems = append(stems, stem)
		}
		groups[stem] = append(groups[stem], variant{r, ext})
	}
	sort.Strings(stems)

	for _, stem := range stems {
		var content []byte
		var first string
		for _, v := range groups[stem] {
			b, err := ck.readListed(v.ref, rel)
			if err != nil {
				return err
			}
			d, err := decompress(b, v.ext, ck.max)
			if err != nil {
				return &IndexError{Path: v.ref.Path, Err: err}
			}
			if err := ck.v.charge(v.ref.Path, int64(len(d))); err != nil {
				return err
			}
			if content == nil {
				content, first = d, v.ref.Path
			} else if !bytes.Equal(d, content) {
				return &RefError{Path: v.ref.Path, ListedIn: rel, Problem: fmt.Sprintf("its content differs from %s; every compressed variant of an index must hold the same content", first)}
			}
		}
		var refs []Ref
		if path.Base(stem) == "Packages" {
			refs, err = ParsePackages(content)
		} else {
			refs, err = ParseSources(content)
		}
		if err != nil {
			return &IndexError{Path: first, Err: err}
		}
		// Pool paths are relative to the archive root, the catalog root.
		if refs, err = ck.add(".", refs, first); err != nil {
			return err
		}
		if err := ck.v.verify(ctx, refs, first); err != nil {
			return err
		}

	}
	return nil
}

func (ck *checker) rpm(ctx context.Context, rel string, index []byte) error {
	data, err := ParseRepomd(index)
	if err != nil {
		return &IndexError{Path: rel, Err: err}
	}
	base := path.Dir(path.Dir(rel)) // the directory above repodata/
	refs := make([]Ref, len(data))
	for i, d := range data {
		refs[i] = d.Ref
	}
	if refs, err = ck.add(base, refs, rel); err != nil {
		return err
	}
	if err := ck.v.verify(ctx, refs, rel); err != nil {
		return err
	}
	var primary *RepoData
	for i := range data {
		if data[i].Type == "primary" {
			if primary != nil {
				return &IndexError{Path: rel, Err: errors.New("more than one primary <data>")}
			}
			primary = &data[i]
		}
	}
	if primary == nil {
		return &IndexError{Path: rel, Err: errors.New("no <data type=\"primary\">")}
	}
	pref := primary.Ref
	pref.Path, _ = join(base, pref.Path)
	b, err := ck.readListed(pref, rel)
	if err != nil {
		return err
	}
	_, ext := splitCompression(pref.Path)
	content, err := decompress(b, ext, ck.max)
	if err != nil {
		return &IndexError{Path: pref.Path, Err: err}
	}
	if o := primary.Open; o != nil {
		h := o.Hash.New()
		h.Write(content)
		if !bytes.Equal(h.Sum(nil), o.Sum) {
			return &RefError{Path: pref.Path, ListedIn: rel, Problem: "its decompressed content does not match open-checksum"}
		}
	}
	pkgs, err := ParsePrimary(bytes.NewReader(content))
	if err != nil {
		return &IndexError{Path: pref.Path, Err: err}
	}
	if pkgs, err = ck.add(base, pkgs, pref.Path); err != nil {
		return err
	}
	return ck.v.verify(ctx, pkgs, pref.Path)
}

func (ck *checker) sums(ctx context.Context, rel string, index []byte) error {
	refs, err := ParseSHA256Sums(index)
	if err != nil {
		return &IndexError{Path: rel, Err: err}
	}
	if refs, err = ck.add(path.Dir(rel), refs, rel); err != nil {
		return err
	}
	return ck.v.verify(ctx, refs, rel)
}

// File is a signature file to place next to the index.
type File struct {
	Name string // base name, e.g. "InRelease"
	Data []byte
}

// Sign signs the checked index with s at time t and returns the files the
// repository's clients look for, next to the index.
func (r *Result) Sign(s *openpgp.Signer, t time.Time) ([]File, error) {
	h := sha256.New()
	h.Write(r.Index)
	sig, err := s.Detached(h, t)
	if err != nil {
		return nil, err
	}
	asc := openpgp.Armor(sig, "PGP SIGNATURE")
	base := path.Base(r.Path)
	switch r.Type {
	case APTRelease:
		inRelease, err := s.Clearsign(r.Index, t)
		if err != nil {
			return nil, &IndexError{Path: r.Path, Err: fmt.Errorf("cannot be clearsigned for InRelease: %w", err)}
		}
		return []File{{Name: "Release.gpg", Data: asc}, {Name: "InRelease", Data: inRelease}}, nil
	case RPMRepomd:
		return []File{{Name: base + ".asc", Data: asc}}, nil
	default:
		return []File{{Name: base + ".asc", Data: asc}}, nil
	}
}
