// Package rpm reads RPM v4 package files and makes and inserts the
// OpenPGP header signatures that `rpmkeys --checksig` verifies.
//
// # Format
//
// An RPM package file is four parts, one after the other:
//
//	lead              96 bytes: magic ed ab ee db, version 3.0, package type,
//	                  name; obsolete, checked only for its magic, version
//	                  and signature type (5, "header signature")
//	signature header  a header (below) of digests and signatures, padded
//	                  with zeros to a multiple of 8 bytes
//	main header       a header of the package's metadata: name, version,
//	                  file list, dependencies, and the payload's digest
//	payload           the compressed cpio archive of the files
//
// A header is
//
//	magic 8e ad e8 01, 4 reserved zero bytes
//	il    uint32: number of index entries
//	dl    uint32: bytes of data
//	index il × (tag, type, offset, count), each a big-endian uint32
//	data  dl bytes, each entry's value at its offset
//
// The first entry of a package's headers is a region: tag 62 in the
// signature header, 63 (HEADERIMMUTABLE) in the main header, whose value,
// the last 16 bytes of the data, is an index entry whose negative offset
// says how many entries the region covers. [ParseHeader] accepts a header
// only if it is exactly that: a region covering every entry and ending the
// data, entries in data order without overlap, no tag twice, values of the
// right length and alignment for their type, strings terminated, within
// rpm's own limits (65535 entries, 256 MiB of data). Its checks of the
// structure are rpm's or stricter, so where both read a header they read
// the same entries. rpm also refuses a known tag of the wrong type; this
// package checks the types of the tags it reads (the NEVRA and the payload
// digest) and no others.
//
// # Signatures
//
// rpm 4.16 and later check header-only signatures: an OpenPGP signature
// over the main header's bytes exactly as they are in the file, stored in
// the signature header as RSAHEADER (tag 268) for RSA keys and DSAHEADER
// (tag 267) for every other algorithm, EdDSA included, as rpmsign stores
// them. The main header holds PAYLOADDIGEST, the SHA-256 of the
// compressed payload, so a header signature covers the whole package; rpm
// checks the payload against it. [SignHeader] therefore refuses headers
// without a payload digest, whose signature would leave the payload open.
//
// [SignHeader] parses the bytes it is given as a main header before
// signing them, so a signer that uses it never signs anything that is not
// an RPM package header: the signature is an OpenPGP binary-document
// signature (format/openpgp) whose document starts with the header magic
// and is a complete, strictly valid header. [Package.Signed] writes the
// signature header with the new signature in place of any OpenPGP
// signature the package had (header-only and the legacy header+payload
// ones), shrinking rpmbuild's reserved space so the file keeps its size
// when it can.
//
// What this package does not do: read or check the payload (callers hash
// it against [Header.PayloadDigest]), source lead names, v3 signatures,
// file signatures (IMA, fs-verity), or the v6 OpenPGP signatures of rpm 6.
package rpm

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/signet-dev/signet/format/openpgp"
)

// A Tag names a header entry.
type Tag uint32

// Tags used here (rpm's rpmtag.h).
const (
	TagSignatures    Tag = 62  // the signature header's region
	TagImmutable     Tag = 63  // the main header's region
	TagDSAHeader     Tag = 267 // header-only signature, not RSA (DSA, ECDSA, EdDSA)
	TagRSAHeader     Tag = 268 // header-only signature, RSA
	TagSHA1Header    Tag = 269 // hex SHA-1 of the main header
	TagSHA256Header  Tag = 273 // hex SHA-256 of the main header
	TagSigPGP        Tag = 1002
	TagSigGPG        Tag = 1005
	TagReservedSpace Tag = 1008 // zeros that signing may consume

	TagName              Tag = 1000
	TagVersion           Tag = 1001
	TagRelease           Tag = 1002
	TagEpoch             Tag = 1003
	TagArch              Tag = 1022
	TagSourceRPM         Tag = 1044
	TagPayloadDigest     Tag = 5092
	TagPayloadDigestAlgo Tag = 5093

	minTag Tag = 100 // rpm refuses tags below HEADERI18NTABLE but for regions
)

// A Type is the type of a header entry's value.
type Type uint32

// Entry types.
const (
	TypeChar        Type = 1
	TypeInt8        Type = 2
	TypeInt16       Type = 3
	TypeInt32       Type = 4
	TypeInt64       Type = 5
	TypeString      Type = 6
	TypeBin         Type = 7
	TypeStringArray Type = 8
	TypeI18NString  Type = 9
)

// Limits of rpm itself (hdrchkTags, hdrchkData).
const (
	MaxEntries = 0xFFFF
	MaxData    = 256 << 20
	LeadSize   = 96
)

var (
	headerMagic = []byte{0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0}
	leadMagic   = []byte{0xed, 0xab, 0xee, 0xdb}
)

// ErrNotRPM is returned for input that is not an RPM package or header.
var ErrNotRPM = errors.New("not an RPM v4 package")

// An Entry is one header entry with its value's bytes.
type Entry struct {
	Tag   Tag
	Type  Type
	Count uint32
	Value []byte // exactly the value, within the header's bytes
}

// A Header is a parsed header. Its entries are those after the region.
type Header struct {
	raw     []byte
	region  Tag
	entries []Entry
}

// Bytes returns the header as it is in the package: what a header
// signature covers.
func (h *Header) Bytes() []byte { return h.raw }

// Entries returns the entries after the region entry, in index order.
func (h *Header) Entries() []Entry { return h.entries }

// Get returns the entry for tag.
func (h *Header) Get(tag Tag) (Entry, bool) {
	for _, e := range h.entries {
		if e.Tag == tag {
			return e, true
		}
	}
	return Entry{}, false
}

// headerSize checks a header's 16-byte intro and returns its whole size.
func headerSize(intro []byte, maxData int) (int, error) {
	if len(intro) < 16 || !bytes.Equal(intro[:8], headerMagic) {
		return 0, fmt.Errorf("%w: no header magic (8e ad e8 01 00 00 00 00)", ErrNotRPM)
	}
	il := binary.BigEndian.Uint32(intro[8:])
	dl := binary.BigEndian.Uint32(intro[12:])
	switch {
	case il < 1 || il > MaxEntries:
		return 0, fmt.Errorf("%w: header has %d index entries; rpm allows 1 to %d", ErrNotRPM, il, MaxEntries)
	case dl < 16 || dl > MaxData:
		return 0, fmt.Errorf("%w: header has %d bytes of data; rpm allows at most %d", ErrNotRPM, dl, MaxData)
	case int64(dl) > int64(maxData):
		return 0, fmt.Errorf("header has %d bytes of data; the limit here is %d", dl, maxData)
	}
	return 16 + int(il)*16 + int(dl), nil
}

// ParseHeader parses b, which must be exactly one header whose region tag
// is region: TagImmutable for a main header, TagSignatures for a
// signature header. See the package documentation for what it checks.
func ParseHeader(b []byte, region Tag) (*Header, error) {
	n, err := headerSize(b, MaxData)
	if err != nil {
		return nil, err
	}
	if len(b) != n {
		return nil, fmt.Errorf("%w: header of %d bytes declares %d", ErrNotRPM, len(b), n)
	}
	il := int(binary.BigEndian.Uint32(b[8:]))
	dl := int(binary.BigEndian.Uint32(b[12:]))
	index, data := b[16:16+il*16], b[16+il*16:]
	ent := func(i int) (Tag, Type, int64, uint32) {
		e := index[i*16:]
		return Tag(binary.BigEndian.Uint32(e)), Type(binary.BigEndian.Uint32(e[4:])),
			int64(int32(binary.BigEndian.Uint32(e[8:]))), binary.BigEndian.Uint32(e[12:])
	}

	// The region: first entry, its trailer the last 16 bytes of data,
	// covering every entry.
	tag, typ, off, count := ent(0)
	if tag != region || typ != TypeBin || count != 16 || off != int64(dl-16) {
		return nil, fmt.Errorf("%w: header does not start with region tag %d ending its data", ErrNotRPM, region)
	}
	tr := data[dl-16:]
	ttag, ttyp := Tag(binary.BigEndian.Uint32(tr)), Type(binary.BigEndian.Uint32(tr[4:]))
	toff, tcount := int64(int32(binary.BigEndian.Uint32(tr[8:]))), binary.BigEndian.Uint32(tr[12:])
	if ttag != region || ttyp != TypeBin || tcount != 16 || toff != -int64(il)*16 {
		return nil, fmt.Errorf("%w: the region of tag %d does not cover all %d entries", ErrNotRPM, region, il)
	}

	h := &Header{raw: b, region: region, entries: make([]Entry, 0, il-1)}
	end := int64(0)
	seen := make(map[Tag]bool, il)
	for i := 1; i < il; i++ {
		tag, typ, off, count := ent(i)
		switch {
		case tag < minTag:
			return nil, fmt.Errorf("%w: entry %d has tag %d, below %d", ErrNotRPM, i, tag, minTag)
		case seen[tag]:
			return nil, fmt.Errorf("%w: tag %d appears twice", ErrNotRPM, tag)
		case typ < TypeChar || typ > TypeI18NString:
			return nil, fmt.Errorf("%w: tag %d has unknown type %d", ErrNotRPM, tag, typ)
		case count < 1 || int64(count) > int64(dl):
			return nil, fmt.Errorf("%w: tag %d has count %d", ErrNotRPM, tag, count)
		case off < end:
			return nil, fmt.Errorf("%w: tag %d's value at %d overlaps the previous one", ErrNotRPM, tag, off)
		case off%align(typ) != 0:
			return nil, fmt.Errorf("%w: tag %d's value at %d is not aligned for type %d", ErrNotRPM, tag, off, typ)
		}
		seen[tag] = true
		limit := int64(dl - 16) // values end before the region trailer
		if off >= limit {
			return nil, fmt.Errorf("%w: tag %d's value at %d is outside the data", ErrNotRPM, tag, off)
		}
		n, err := valueLen(typ, count, data[off:limit])
		if err != nil {
			return nil, fmt.Errorf("%w: tag %d: %v", ErrNotRPM, tag, err)
		}
		end = off + n
		h.entries = append(h.entries, Entry{Tag: tag, Type: typ, Count: count, Value: data[off:end:end]})
	}
	return h, nil
}

func align(t Type) int64 {
	switch t {
	case TypeInt16:
		return 2
	case TypeInt32:
		return 4
	case TypeInt64:
		return 8
	}
	return 1
}

// valueLen returns the length of a value of type t and count elements at
// the start of b, which it must fit in.
func valueLen(t Type, count uint32, b []byte) (int64, error) {
	switch t {
	case TypeString, TypeStringArray, TypeI18NString:
		if t == TypeString && count != 1 {
			return 0, fmt.Errorf("a string has count %d", count)
		}
		n := 0
		for range count {
			i := bytes.IndexByte(b[n:], 0)
			if i < 0 {
				return 0, errors.New("string is not terminated within the data")
			}
			n += i + 1
		}
		return int64(n), nil
	}
	n := int64(count) * align(t)
	if n > int64(len(b)) {
		return 0, fmt.Errorf("value of %d bytes does not fit the data", n)
	}
	return n, nil
}

// String returns the value of a string entry.
func (h *Header) String(tag Tag) (string, error) {
	e, ok := h.Get(tag)
	if !ok {
		return "", fmt.Errorf("header has no tag %d", tag)
	}
	if e.Type != TypeString {
		return "", fmt.Errorf("tag %d has type %d, not string", tag, e.Type)
	}
	return string(e.Value[:len(e.Value)-1]), nil
}

// Uint32 returns the value of an entry of one 32-bit integer.
func (h *Header) Uint32(tag Tag) (uint32, bool, error) {
	e, ok := h.Get(tag)
	if !ok {
		return 0, false, nil
	}
	if e.Type != TypeInt32 || e.Count != 1 {
		return 0, true, fmt.Errorf("tag %d is not one 32-bit integer", tag)
	}
	return binary.BigEndian.Uint32(e.Value), true, nil
}

// A NEVRA identifies a package: name, epoch (empty if none), version,
// release, architecture.
type NEVRA struct {
	Name, Epoch, Version, Release, Arch string
	Source                              bool // a source package (no SOURCERPM tag)
}

// String returns the NEVRA as rpm prints %{nevra}:
// NAME-[EPOCH:]VERSION-RELEASE.ARCH.
func (n NEVRA) String() string {
	ev := n.Version
	if n.Epoch != "" {
		ev = n.Epoch + ":" + ev
	}
	return n.Name + "-" + ev + "-" + n.Release + "." + n.Arch
}

// FileName returns the package's conventional file name,
// NAME-VERSION-RELEASE.ARCH.rpm, with "src" as the architecture of a
// source package.
func (n NEVRA) FileName() string {
	arch := n.Arch
	if n.Source {
		arch = "src"
	}
	return n.Name + "-" + n.Version + "-" + n.Release + "." + arch + ".rpm"
}

// MaxNEVRAField bounds each part of a NEVRA.
const MaxNEVRAField = 256

// CheckNEVRA checks that each part of n is what rpmbuild would accept:
// printable ASCII without blanks or slashes, no dash in version or
// release, an epoch of decimal digits, at most MaxNEVRAField bytes.
func CheckNEVRA(n NEVRA) error {
	for _, f := range []struct{ what, v, not string }{
		{"name", n.Name, "/"}, {"version", n.Version, "/-"}, {"release", n.Release, "/-"}, {"architecture", n.Arch, "/-"},
	} {
		if f.v == "" || len(f.v) > MaxNEVRAField {
			return fmt.Errorf("package %s is empty or longer than %d bytes", f.what, MaxNEVRAField)
		}
		for _, c := range []byte(f.v) {
			if c <= ' ' || c >= 0x7f || strings.IndexByte(f.not, c) >= 0 {
				return fmt.Errorf("package %s %.80q contains %q", f.what, f.v, c)
			}
		}
	}
	if n.Epoch != "" {
		if e, err := strconv.ParseUint(n.Epoch, 10, 32); err != nil || strconv.FormatUint(e, 10) != n.Epoch {
			return fmt.Errorf("package epoch %.20q is not a decimal number without leading zeros", n.Epoch)
		}
	}
	return nil
}

// NEVRA returns the package identity of a main header.
func (h *Header) NEVRA() (NEVRA, error) {
	var n NEVRA
	var err error
	for _, f := range []struct {
		tag Tag
		dst *string
	}{{TagName, &n.Name}, {TagVersion, &n.Version}, {TagRelease, &n.Release}, {TagArch, &n.Arch}} {
		if *f.dst, err = h.String(f.tag); err != nil {
			return NEVRA{}, fmt.Errorf("package identity: %w", err)
		}
	}
	epoch, ok, err := h.Uint32(TagEpoch)
	if err != nil {
		return NEVRA{}, fmt.Errorf("package identity: %w", err)
	}
	if ok {
		n.Epoch = strconv.FormatUint(uint64(epoch), 10)
	}
	_, hasSource := h.Get(TagSourceRPM)
	n.Source = !hasSource
	if err := CheckNEVRA(n); err != nil {
		return NEVRA{}, err
	}
	return n, nil
}

// PayloadDigest returns the digest of the compressed payload that the
// header records, as "sha256:HEX" (or sha384, sha512).
func (h *Header) PayloadDigest() (string, error) {
	e, ok := h.Get(TagPayloadDigest)
	if !ok || e.Type != TypeStringArray || e.Count != 1 {
		return "", errors.New("the header has no payload digest (PAYLOADDIGEST), so a header signature would not cover the payload; rebuild the package with rpm 4.14 or later")
	}
	algo, ok, err := h.Uint32(TagPayloadDigestAlgo)
	if err != nil || !ok {
		return "", errors.New("the header's payload digest has no algorithm (PAYLOADDIGESTALGO)")
	}
	var name string
	var size int
	switch algo { // OpenPGP hash algorithm ids, as rpm uses them
	case 8:
		name, size = "sha256", 32
	case 9:
		name, size = "sha384", 48
	case 10:
		name, size = "sha512", 64
	default:
		return "", fmt.Errorf("the header's payload digest uses hash algorithm %d; Signet signs packages whose payload digest is SHA-256, SHA-384 or SHA-512", algo)
	}
	hx := string(e.Value[:len(e.Value)-1])
	if sum, err := hex.DecodeString(hx); err != nil || len(sum) != size || hx != strings.ToLower(hx) {
		return "", fmt.Errorf("the header's payload digest %.140q is not %d lowercase hex digits", hx, 2*size)
	}
	return name + ":" + hx, nil
}

// A PackageHeader is a package's main header checked for signing: it
// parses, names its package and records its payload's digest.
type PackageHeader struct {
	*Header
	NEVRA         NEVRA
	PayloadDigest string // "sha256:HEX" (or sha384, sha512) of the compressed payload
}

// ParsePackageHeader parses b as a main header and requires a valid NEVRA
// and a payload digest.
func ParsePackageHeader(b []byte) (*PackageHeader, error) {
	h, err := ParseHeader(b, TagImmutable)
	if err != nil {
		return nil, err
	}
	n, err := h.NEVRA()
	if err != nil {
		return nil, err
	}
	pd, err := h.PayloadDigest()
	if err != nil {
		return nil, err
	}
	return &PackageHeader{Header: h, NEVRA: n, PayloadDigest: pd}, nil
}

// SignHeader signs b, the bytes of a package's main header, with s: an
// OpenPGP binary-document signature dated t over exactly b. It checks b
// with ParsePackageHeader first, so what it signs is always a whole RPM
// header, and returns the checked header and the signature packet.
func SignHeader(s *openpgp.Signer, b []byte, t time.Time) (*PackageHeader, []byte, error) {
	ph, err := ParsePackageHeader(b)
	if err != nil {
		return nil, nil, err
	}
	d := sha256.New()
	d.Write(b)
	sig, err := s.Detached(d, t)
	if err != nil {
		return nil, nil, err
	}
	return ph, sig, nil
}

// SignatureTag returns the signature-header tag that holds sig, one
// OpenPGP v4 signature packet: TagRSAHeader for RSA, TagDSAHeader for
// DSA, ECDSA and EdDSA, as rpmsign chooses.
func SignatureTag(sig []byte) (Tag, error) {
	r := bytes.NewReader(sig)
	p, err := packet.Read(r)
	if err != nil {
		return 0, fmt.Errorf("rpm: signature: %w", err)
	}
	s, ok := p.(*packet.Signature)
	if !ok || r.Len() != 0 {
		return 0, errors.New("rpm: signature: not exactly one OpenPGP signature packet")
	}
	if s.Version != 4 || s.SigType != packet.SigTypeBinary {
		return 0, fmt.Errorf("rpm: signature: version %d type %#x; rpm header signatures are v4 binary-document signatures", s.Version, s.SigType)
	}
	switch s.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly:
		return TagRSAHeader, nil
	case packet.PubKeyAlgoDSA, packet.PubKeyAlgoECDSA, packet.PubKeyAlgoEdDSA:
		return TagDSAHeader, nil
	}
	return 0, fmt.Errorf("rpm: signature: public-key algorithm %d has no RPM header tag", s.PubKeyAlgo)
}

// A Package is the part of an RPM package file before its payload.
type Package struct {
	Lead      []byte  // 96 bytes
	Signature *Header // the signature header
	Header    *Header // the main header
	// PayloadOffset is where the payload starts in the file.
	PayloadOffset int64
}

// Read reads a package's lead and headers from r, leaving r at the start
// of the payload. maxHeader bounds each header's data (rpm's own limit is
// MaxData).
func Read(r io.Reader, maxHeader int) (*Package, error) {
	lead := make([]byte, LeadSize)
	if _, err := io.ReadFull(r, lead); err != nil {
		return nil, fmt.Errorf("%w: reading the lead: %v", ErrNotRPM, eofIsShort(err))
	}
	if !bytes.Equal(lead[:4], leadMagic) {
		return nil, fmt.Errorf("%w: no RPM lead magic (ed ab ee db)", ErrNotRPM)
	}
	if lead[4] != 3 && lead[4] != 4 {
		return nil, fmt.Errorf("%w: lead version %d.%d; rpm reads 3 and 4", ErrNotRPM, lead[4], lead[5])
	}
	if st := binary.BigEndian.Uint16(lead[78:]); st != 5 {
		return nil, fmt.Errorf("%w: lead signature type %d; rpm reads only 5 (header signature)", ErrNotRPM, st)
	}
	sig, err := readHeader(r, TagSignatures, maxHeader)
	if err != nil {
		return nil, fmt.Errorf("signature header: %w", err)
	}
	pad := padding(len(sig.raw))
	if _, err := io.CopyN(io.Discard, r, int64(pad)); err != nil {
		return nil, fmt.Errorf("%w: signature header padding: %v", ErrNotRPM, eofIsShort(err))
	}
	main, err := readHeader(r, TagImmutable, maxHeader)
	if err != nil {
		return nil, fmt.Errorf("main header: %w", err)
	}
	return &Package{Lead: lead, Signature: sig, Header: main,
		PayloadOffset: int64(LeadSize + len(sig.raw) + pad + len(main.raw))}, nil
}

func readHeader(r io.Reader, region Tag, maxData int) (*Header, error) {
	intro := make([]byte, 16)
	if _, err := io.ReadFull(r, intro); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotRPM, eofIsShort(err))
	}
	n, err := headerSize(intro, maxData)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	copy(b, intro)
	if _, err := io.ReadFull(r, b[16:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotRPM, eofIsShort(err))
	}
	return ParseHeader(b, region)
}

func eofIsShort(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("file too short")
	}
	return err
}

// padding returns the zeros after a signature header of n bytes.
func padding(n int) int { return (8 - n%8) % 8 }

// CheckHeaderDigests checks the main header against the SHA-256 (or, in
// packages without one, SHA-1) digest the signature header holds for it,
// as rpm does: a mismatch means the file is damaged.
func (p *Package) CheckHeaderDigests() error {
	got := sha256.Sum256(p.Header.raw)
	want, err := p.Signature.String(TagSHA256Header)
	if err != nil {
		return errors.New("the signature header has no SHA-256 header digest; rebuild the package with rpm 4.14 or later")
	}
	if !strings.EqualFold(want, hex.EncodeToString(got[:])) {
		return fmt.Errorf("the main header's SHA-256 is %x, but the signature header records %.64s: the package is damaged", got, want)
	}
	return nil
}

// replacedTags are the signature-header tags a new signature replaces:
// every OpenPGP signature over the header, or the header and payload, so
// that the package carries only the signature just made.
var replacedTags = []Tag{TagDSAHeader, TagRSAHeader, TagSigPGP, TagSigGPG}

// Signed returns the lead and signature header of p with sig, one OpenPGP
// signature packet over p's main header, stored under the tag
// SignatureTag chooses, in place of any signature p had. The result,
// padded, replaces the file's bytes up to the main header. When p has
// reserved space large enough, it is shrunk so that the result has the
// size of what it replaces.
func (p *Package) Signed(sig []byte) ([]byte, error) {
	tag, err := SignatureTag(sig)
	if err != nil {
		return nil, err
	}
	entries := slices.DeleteFunc(slices.Clone(p.Signature.entries), func(e Entry) bool { return slices.Contains(replacedTags, e.Tag) })
	entries = append(entries, Entry{Tag: tag, Type: TypeBin, Count: uint32(len(sig)), Value: sig})
	slices.SortFunc(entries, func(a, b Entry) int { return cmp.Compare(a.Tag, b.Tag) })
	if r := slices.IndexFunc(entries, func(e Entry) bool { return e.Tag == TagReservedSpace }); r >= 0 {
		// Size the reserved space so that the padded header keeps its
		// size: with one byte reserved the header is one byte longer
		// than its smallest form, and each further byte adds one (the
		// reserved space is a byte string, unaligned).
		want := len(p.Signature.raw) + padding(len(p.Signature.raw))
		entries[r].Value, entries[r].Count = []byte{0}, 1
		n := want - len(encodeHeader(TagSignatures, entries)) + 1
		if n >= 1 {
			entries[r].Value, entries[r].Count = make([]byte, n), uint32(n)
		}
		if n < 1 || len(encodeHeader(TagSignatures, entries)) != want {
			entries = slices.Delete(entries, r, r+1) // not enough room: the file's size changes
		}
	}
	h := encodeHeader(TagSignatures, entries)
	if _, err := ParseHeader(h, TagSignatures); err != nil {
		return nil, fmt.Errorf("rpm: the new signature header does not parse: %w", err)
	}
	out := make([]byte, 0, LeadSize+len(h)+8)
	out = append(out, p.Lead...)
	out = append(out, h...)
	return append(out, make([]byte, padding(len(h)))...), nil
}

// encodeHeader lays out a header: the region entry, then entries (sorted
// by tag) with their values in the same order, aligned for their types,
// then the region trailer.
func encodeHeader(region Tag, entries []Entry) []byte {
	var data []byte
	index := make([]byte, 0, 16*(len(entries)+1))
	put := func(tag Tag, typ Type, off int, count uint32) {
		index = binary.BigEndian.AppendUint32(index, uint32(tag))
		index = binary.BigEndian.AppendUint32(index, uint32(typ))
		index = binary.BigEndian.AppendUint32(index, uint32(int32(off)))
		index = binary.BigEndian.AppendUint32(index, count)
	}
	put(region, TypeBin, 0, 16) // offset set below
	for _, e := range entries {
		for int64(len(data))%align(e.Type) != 0 {
			data = append(data, 0)
		}
		put(e.Tag, e.Type, len(data), e.Count)
		data = append(data, e.Value...)
	}
	binary.BigEndian.PutUint32(index[8:], uint32(len(data)))
	data = binary.BigEndian.AppendUint32(data, uint32(region))
	data = binary.BigEndian.AppendUint32(data, uint32(TypeBin))
	data = binary.BigEndian.AppendUint32(data, uint32(int32(-16*(len(entries)+1))))
	data = binary.BigEndian.AppendUint32(data, 16)
	out := make([]byte, 0, 16+len(index)+len(data))
	out = append(out, headerMagic...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(entries)+1))
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	out = append(out, index...)
	return append(out, data...)
}
