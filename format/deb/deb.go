// Package deb reads Debian binary packages (.deb) and writes their origin
// signature in the form debsigs makes and debsig-verify checks.
//
// # Format
//
// A .deb is an ar archive: the magic "!<arch>\n", then members, each a
// 60-byte header (name 16, modification time 12, owner 6, group 6, octal
// mode 8, size 10, all ASCII padded with spaces, then "`\n") followed by
// its data and, after data of odd length, a "\n". The members are, in this
// order (deb(5)):
//
//	debian-binary           "2.0\n"
//	control.tar[.gz|.xz|.zst]
//	data.tar[.gz|.xz|.zst|.bz2|.lzma]
//	_…                      optional members that readers ignore
//
// [ReadArchive] parses the ar container strictly: every header complete,
// its numbers decimal (mode octal), sizes within the file, padding
// present, names short ASCII (dpkg's form, or GNU ar's with a trailing
// slash; no long-name tables). [Open] then requires exactly the layout
// above, with no member name twice.
//
// # Signatures
//
// debsigs stores signatures in members named _gpg followed by a role; the
// origin signature, _gpgorigin, is a detached OpenPGP signature over the
// contents of debian-binary, control.tar.* and data.tar.*, concatenated
// in that order without their ar headers or padding
// ([Package.SignedContent]). debsig-verify finds the policy for the key
// that made it and checks it with gpg. [Sign] makes that signature from a
// SHA-256 hash the caller has fed with the signed content, so a signer
// needs only the hash state, never the package; [Package.WriteSigned]
// writes the package with the signature as its last member, replacing an
// earlier _gpgorigin and keeping every other member byte for byte.
//
// The signature says nothing about which package it covers beyond the
// hashed content: the package name, version and architecture come from
// the control file, which [Package.Control] reads for the signer's
// records.
//
// What this package does not do: the other debsigs roles (maint, archive),
// dpkg-sig's _gpgbuilder, or unpacking data.tar.
package deb

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/signet-dev/signet/format/openpgp"
)

const (
	arMagic    = "!<arch>\n"
	headerSize = 60

	// SignatureMember is the member holding the origin signature.
	SignatureMember = "_gpgorigin"

	// MaxMembers bounds the members of an archive: a package has three,
	// plus a few signatures.
	MaxMembers = 32

	// MaxControlFile bounds the control file read from control.tar.
	MaxControlFile = 1 << 20
	// maxControlTar bounds what is decompressed from control.tar before
	// the control file is found.
	maxControlTar = 64 << 20
)

// ErrNotDeb is returned for input that is not a Debian binary package.
var ErrNotDeb = errors.New("not a Debian binary package")

// A Member is one member of an ar archive.
type Member struct {
	Name   string
	Header []byte // the 60-byte header as in the file
	Offset int64  // where the data starts
	Size   int64
}

// An Archive is the list of members of an ar archive.
type Archive struct {
	Members []Member
	Size    int64 // bytes of the archive, padding included
}

// ReadArchive reads the member headers of the ar archive of size bytes in
// r. See the package documentation for what it accepts.
func ReadArchive(r io.ReaderAt, size int64) (*Archive, error) {
	magic := make([]byte, len(arMagic))
	if _, err := r.ReadAt(magic, 0); err != nil || string(magic) != arMagic {
		return nil, fmt.Errorf("%w: no ar magic (!<arch>)", ErrNotDeb)
	}
	a := &Archive{Size: size}
	for off := int64(len(arMagic)); off < size; {
		if len(a.Members) == MaxMembers {
			return nil, fmt.Errorf("%w: more than %d members", ErrNotDeb, MaxMembers)
		}
		h := make([]byte, headerSize)
		if size-off < headerSize {
			return nil, fmt.Errorf("%w: %d stray bytes at the end", ErrNotDeb, size-off)
		}
		if _, err := r.ReadAt(h, off); err != nil {
			return nil, fmt.Errorf("reading the member header at %d: %w", off, err)
		}
		m, err := parseMemberHeader(h)
		if err != nil {
			return nil, fmt.Errorf("%w: member %d (at byte %d): %v", ErrNotDeb, len(a.Members)+1, off, err)
		}
		m.Offset = off + headerSize
		if m.Size > size-m.Offset {
			return nil, fmt.Errorf("%w: member %s of %d bytes goes past the end of the file", ErrNotDeb, m.Name, m.Size)
		}
		off = m.Offset + m.Size
		if m.Size%2 == 1 {
			pad := make([]byte, 1)
			if off >= size {
				return nil, fmt.Errorf("%w: member %s lacks its padding byte", ErrNotDeb, m.Name)
			}
			if _, err := r.ReadAt(pad, off); err != nil {
				return nil, err
			}
			if pad[0] != '\n' {
				return nil, fmt.Errorf("%w: member %s is padded with %q, not a newline", ErrNotDeb, m.Name, pad[0])
			}
			off++
		}
		a.Members = append(a.Members, m)
	}
	return a, nil
}

func parseMemberHeader(h []byte) (Member, error) {
	if string(h[58:60]) != "`\n" {
		return Member{}, errors.New("header does not end in \"`\\n\"")
	}
	name := strings.TrimRight(string(h[:16]), " ")
	name = strings.TrimSuffix(name, "/") // GNU ar ends names with a slash
	if err := checkMemberName(name); err != nil {
		return Member{}, err
	}
	for _, f := range []struct {
		what       string
		b          []byte
		base       int
		mayBeBlank bool
	}{
		{"modification time", h[16:28], 10, true}, {"owner", h[28:34], 10, true}, {"group", h[34:40], 10, true},
		{"mode", h[40:48], 8, true}, {"size", h[48:58], 10, false},
	} {
		if _, err := parseNumber(f.b, f.base, f.mayBeBlank); err != nil {
			return Member{}, fmt.Errorf("%s %q: %v", f.what, f.b, err)
		}
	}
	size, _ := parseNumber(h[48:58], 10, false)
	return Member{Name: name, Header: h, Size: size}, nil
}

// parseNumber parses digits in base followed by spaces.
func parseNumber(b []byte, base int, mayBeBlank bool) (int64, error) {
	s := strings.TrimRight(string(b), " ")
	if s == "" {
		if mayBeBlank {
			return 0, nil
		}
		return 0, errors.New("empty")
	}
	for _, c := range []byte(s) {
		if c < '0' || c >= '0'+byte(base) {
			return 0, errors.New("not a number")
		}
	}
	return strconv.ParseInt(s, base, 64)
}

func checkMemberName(name string) error {
	if name == "" || len(name) > 16 {
		return fmt.Errorf("member name %q is empty or too long", name)
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c >= 0x7f || c == '/' {
			return fmt.Errorf("member name %q has a character %q that dpkg never writes (long names are not supported)", name, c)
		}
	}
	return nil
}

// A Package is a Debian binary package read from r.
type Package struct {
	Archive
	r                     io.ReaderAt
	binary, control, data Member
}

var (
	controlNames = []string{"control.tar", "control.tar.gz", "control.tar.xz", "control.tar.zst"}
	dataNames    = []string{"data.tar", "data.tar.gz", "data.tar.xz", "data.tar.zst", "data.tar.bz2", "data.tar.lzma"}
)

// Open reads the package of size bytes in r and checks its layout.
func Open(r io.ReaderAt, size int64) (*Package, error) {
	a, err := ReadArchive(r, size)
	if err != nil {
		return nil, err
	}
	ms := a.Members
	switch {
	case len(ms) < 3:
		return nil, fmt.Errorf("%w: %d members; a package has debian-binary, control.tar and data.tar", ErrNotDeb, len(ms))
	case ms[0].Name != "debian-binary":
		return nil, fmt.Errorf("%w: the first member is %q, not debian-binary", ErrNotDeb, ms[0].Name)
	case !slices.Contains(controlNames, ms[1].Name):
		return nil, fmt.Errorf("%w: the second member is %q, not control.tar[.gz|.xz|.zst]", ErrNotDeb, ms[1].Name)
	case !slices.Contains(dataNames, ms[2].Name):
		return nil, fmt.Errorf("%w: the third member is %q, not data.tar[.gz|.xz|.zst|.bz2|.lzma]", ErrNotDeb, ms[2].Name)
	}
	seen := map[string]bool{}
	for _, m := range ms[3:] {
		if !strings.HasPrefix(m.Name, "_") {
			return nil, fmt.Errorf("%w: member %q after data.tar does not start with an underscore", ErrNotDeb, m.Name)
		}
		if seen[m.Name] {
			return nil, fmt.Errorf("%w: member %q appears twice", ErrNotDeb, m.Name)
		}
		seen[m.Name] = true
	}
	version := make([]byte, 4)
	if ms[0].Size != 4 {
		return nil, fmt.Errorf("%w: debian-binary is %d bytes; this package format is 2.0 (\"2.0\\n\")", ErrNotDeb, ms[0].Size)
	}
	if _, err := r.ReadAt(version, ms[0].Offset); err != nil {
		return nil, err
	}
	if string(version) != "2.0\n" {
		return nil, fmt.Errorf("%w: debian-binary says %q; Signet signs format 2.0", ErrNotDeb, version)
	}
	return &Package{Archive: *a, r: r, binary: ms[0], control: ms[1], data: ms[2]}, nil
}

// SignedContent returns what an origin signature covers: the contents of
// debian-binary, control.tar.* and data.tar.*, concatenated.
func (p *Package) SignedContent() io.Reader {
	return io.MultiReader(p.section(p.binary), p.section(p.control), p.section(p.data))
}

// SignedSize is the length of SignedContent.
func (p *Package) SignedSize() int64 { return p.binary.Size + p.control.Size + p.data.Size }

func (p *Package) section(m Member) *io.SectionReader {
	return io.NewSectionReader(p.r, m.Offset, m.Size)
}

// Signature returns the content of the package's _gpgorigin member, if
// it has one.
func (p *Package) Signature() ([]byte, bool, error) {
	for _, m := range p.Members {
		if m.Name == SignatureMember {
			b, err := io.ReadAll(p.section(m))
			return b, true, err
		}
	}
	return nil, false, nil
}

// MaxSignature bounds a signature member: an armored RSA-4096 signature
// is about 900 bytes.
const MaxSignature = 64 << 10

// WriteSigned writes the package to w with sig as its _gpgorigin member,
// dated mtime, after every other member, which are copied unchanged.
func (p *Package) WriteSigned(w io.Writer, sig []byte, mtime time.Time) error {
	if len(sig) == 0 || len(sig) > MaxSignature {
		return fmt.Errorf("deb: a signature of %d bytes", len(sig))
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(arMagic)
	for _, m := range p.Members {
		if m.Name == SignatureMember {
			continue
		}
		bw.Write(m.Header)
		if _, err := io.Copy(bw, p.section(m)); err != nil {
			return fmt.Errorf("copying member %s: %w", m.Name, err)
		}
		if m.Size%2 == 1 {
			bw.WriteByte('\n')
		}
	}
	h := fmt.Sprintf("%-16s%-12d%-6d%-6d%-8s%-10d`\n", SignatureMember, max(mtime.Unix(), 0), 0, 0, "100644", len(sig))
	bw.WriteString(h)
	bw.Write(sig)
	if len(sig)%2 == 1 {
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// Sign finishes h, a SHA-256 hash fed with a package's signed content,
// with a binary-document signature dated t, and returns the content of
// the _gpgorigin member: the signature, ASCII-armored.
func Sign(s *openpgp.Signer, h hash.Hash, t time.Time) ([]byte, error) {
	sig, err := s.Detached(h, t)
	if err != nil {
		return nil, err
	}
	return openpgp.Armor(sig, "PGP SIGNATURE"), nil
}

// An Identity names a package as its control file does.
type Identity struct {
	Package, Version, Architecture string
}

// String returns the identity as NAME_VERSION_ARCH.
func (id Identity) String() string { return id.Package + "_" + id.Version + "_" + id.Architecture }

// CheckIdentity checks the syntax of each field as Debian policy defines
// it: a package name of lowercase letters, digits and "+.-", starting
// with a letter or digit; a version [EPOCH:]UPSTREAM[-REVISION] of
// letters, digits and ".+~-" (":" only after an epoch); an architecture
// of lowercase letters, digits and "-".
func CheckIdentity(id Identity) error {
	switch {
	case len(id.Package) < 2 || len(id.Package) > 128 || !isAlnum(id.Package[0], false) || !allOf(id.Package, "+.-", false):
		return fmt.Errorf("package name %.80q is not 2 to 128 lowercase letters, digits and +.- starting with a letter or digit", id.Package)
	case len(id.Architecture) < 1 || len(id.Architecture) > 64 || !isAlnum(id.Architecture[0], false) || !allOf(id.Architecture, "-", false):
		return fmt.Errorf("architecture %.80q is not lowercase letters, digits and -", id.Architecture)
	}
	v := id.Version
	if len(v) > 256 {
		return fmt.Errorf("version %.80q… is longer than 256 bytes", v)
	}
	epoch, rest, hasEpoch := strings.Cut(v, ":")
	if !hasEpoch {
		rest = v
	} else if epoch == "" || !allDigits(epoch) {
		return fmt.Errorf("version %.80q: epoch %q is not a number", v, epoch)
	}
	extra := ".+~-"
	if hasEpoch {
		extra += ":"
	}
	if rest == "" || !isAlnum(rest[0], true) || !allOf(rest, extra, true) || strings.HasSuffix(rest, "-") {
		return fmt.Errorf("version %.80q is not [EPOCH:]UPSTREAM[-REVISION] of letters, digits and .+~- starting with a letter or digit", v)
	}
	return nil
}

func isAlnum(c byte, upper bool) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || upper && c >= 'A' && c <= 'Z'
}

func allOf(s, extra string, upper bool) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i], upper) && strings.IndexByte(extra, s[i]) < 0 {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// Control reads the package's identity from the control file in
// control.tar.*.
func (p *Package) Control() (Identity, error) {
	raw, err := p.controlFile()
	if err != nil {
		return Identity{}, fmt.Errorf("%s: %w", p.control.Name, err)
	}
	return ParseControl(raw)
}

func (p *Package) controlFile() ([]byte, error) {
	var r io.Reader = p.section(p.control)
	switch p.control.Name {
	case "control.tar.gz":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		r = zr
	case "control.tar.xz":
		zr, err := xz.NewReader(r)
		if err != nil {
			return nil, err
		}
		r = zr
	case "control.tar.zst":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxControlTar))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(io.LimitReader(r, maxControlTar))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, errors.New("no control file")
		}
		if err != nil {
			return nil, err
		}
		if h.Name != "./control" && h.Name != "control" {
			continue
		}
		if h.Typeflag != tar.TypeReg || h.Size > MaxControlFile {
			return nil, fmt.Errorf("the control file is not a regular file of at most %d bytes", MaxControlFile)
		}
		return io.ReadAll(tr)
	}
}

// ParseControl reads Package, Version and Architecture from the first
// paragraph of a control file and checks them with CheckIdentity.
func ParseControl(b []byte) (Identity, error) {
	fields := map[string]string{}
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			if len(fields) == 0 {
				continue
			}
			break // end of the first paragraph
		}
		if l[0] == ' ' || l[0] == '\t' {
			if len(fields) == 0 {
				return Identity{}, fmt.Errorf("control line %d continues no field", i+1)
			}
			continue // continuation of a multi-line field
		}
		if l[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return Identity{}, fmt.Errorf("control line %d is not a field: %.80q", i+1, l)
		}
		key := strings.ToLower(name)
		if _, dup := fields[key]; dup {
			return Identity{}, fmt.Errorf("control field %s appears twice", name)
		}
		fields[key] = strings.TrimSpace(value)
	}
	id := Identity{Package: fields["package"], Version: fields["version"], Architecture: fields["architecture"]}
	if id.Package == "" || id.Version == "" || id.Architecture == "" {
		return Identity{}, errors.New("the control file lacks Package, Version or Architecture")
	}
	if err := CheckIdentity(id); err != nil {
		return Identity{}, fmt.Errorf("control file: %w", err)
	}
	return id, nil
}
