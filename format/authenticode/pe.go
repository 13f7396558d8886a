package authenticode

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Offsets and sizes of the PE/COFF fields this package reads or writes,
// from Microsoft's "PE Format" specification.
const (
	peOffsetField   = 0x3c // e_lfanew: file offset of the PE signature
	coffHeaderSize  = 20
	checksumOffset  = 64 // CheckSum, from the start of the optional header
	pe32DirOffset   = 96 // data directories of PE32, from the optional header
	pe32PlusDirOff  = 112
	pe32Magic       = 0x10b
	pe32PlusMagic   = 0x20b
	certTableIndex  = 4 // IMAGE_DIRECTORY_ENTRY_SECURITY
	dirEntrySize    = 8
	winCertHeader   = 8 // dwLength, wRevision, wCertificateType
	winCertRevision = 0x0200
	winCertPKCS7    = 0x0002 // WIN_CERT_TYPE_PKCS_SIGNED_DATA

	// MaxImageSize bounds a PE file: its certificate table offset and
	// size are 32-bit fields.
	MaxImageSize = math.MaxUint32
)

// ErrNotPE is wrapped by the errors of ParseImage for input that is not a
// PE image at all, as opposed to a damaged one.
var ErrNotPE = errors.New("not a PE file")

// Image is the layout of a PE file: where the three ranges that the
// Authenticode digest leaves out are, and where its signature goes.
type Image struct {
	Size     int64  // of the file
	PE32Plus bool   // 64-bit optional header
	Checksum uint32 // the optional header's CheckSum field, as found (0 if never set)

	checksumAt int64 // file offset of the optional header's CheckSum
	certDirAt  int64 // file offset of the certificate table's directory entry
	certAt     int64 // file offset of the certificate table; 0 if unsigned
	certSize   int64
}

// Signed reports whether the image has a certificate table.
func (im *Image) Signed() bool { return im.certAt != 0 }

// contentEnd is where the signed content ends: the certificate table, or
// the end of an unsigned file.
func (im *Image) contentEnd() int64 {
	if im.certAt != 0 {
		return im.certAt
	}
	return im.Size
}

// padding is the number of zero bytes that align the content to 8 bytes,
// where the certificate table must start. They become part of the file
// and so of the digest.
func (im *Image) padding() int64 { return (8 - im.contentEnd()%8) % 8 }

// ParseImage reads the headers of the PE file r of the given size. It
// checks what signing relies on: the MZ and PE signatures, a PE32 or PE32+
// optional header long enough to hold the certificate table's directory
// entry, and a certificate table, if any, that ends the file.
func ParseImage(r io.ReaderAt, size int64) (*Image, error) {
	if size < 0x40 {
		return nil, fmt.Errorf("%w: %d bytes is too short for a DOS header", ErrNotPE, size)
	}
	if size > MaxImageSize {
		return nil, fmt.Errorf("PE file is %d bytes; Authenticode addresses at most %d", size, int64(MaxImageSize))
	}
	var dos [0x40]byte
	if _, err := r.ReadAt(dos[:], 0); err != nil {
		return nil, fmt.Errorf("reading the DOS header: %w", err)
	}
	if dos[0] != 'M' || dos[1] != 'Z' {
		return nil, fmt.Errorf("%w: no MZ signature", ErrNotPE)
	}
	peAt := int64(binary.LittleEndian.Uint32(dos[peOffsetField:]))
	if peAt < 0x40 || peAt+4+coffHeaderSize > size {
		return nil, fmt.Errorf("%w: PE header offset 0x%x is outside the file", ErrNotPE, peAt)
	}
	var hdr [4 + coffHeaderSize + 2]byte // signature, COFF header, optional header magic
	if _, err := r.ReadAt(hdr[:], peAt); err != nil {
		return nil, fmt.Errorf("%w: reading the PE header: %v", ErrNotPE, err)
	}
	if !bytes.Equal(hdr[:4], []byte("PE\x00\x00")) {
		return nil, fmt.Errorf("%w: no PE signature at 0x%x", ErrNotPE, peAt)
	}
	optSize := int64(binary.LittleEndian.Uint16(hdr[4+16:]))
	optAt := peAt + 4 + coffHeaderSize
	im := &Image{Size: size, checksumAt: optAt + checksumOffset}
	var dirAt int64
	switch magic := binary.LittleEndian.Uint16(hdr[4+coffHeaderSize:]); magic {
	case pe32Magic:
		dirAt = optAt + pe32DirOffset
	case pe32PlusMagic:
		im.PE32Plus = true
		dirAt = optAt + pe32PlusDirOff
	default:
		return nil, fmt.Errorf("optional header magic 0x%x is neither PE32 (0x10b) nor PE32+ (0x20b)", magic)
	}
	im.certDirAt = dirAt + certTableIndex*dirEntrySize
	if optSize < dirAt-optAt+(certTableIndex+1)*dirEntrySize || optAt+optSize > size {
		return nil, fmt.Errorf("optional header of %d bytes has no certificate table entry, or does not fit the file", optSize)
	}
	opt := make([]byte, dirAt-optAt+(certTableIndex+1)*dirEntrySize)
	if _, err := r.ReadAt(opt, optAt); err != nil {
		return nil, fmt.Errorf("reading the optional header: %w", err)
	}
	if n := binary.LittleEndian.Uint32(opt[dirAt-optAt-4:]); n <= certTableIndex {
		return nil, fmt.Errorf("optional header lists %d data directories; the certificate table is the 5th", n)
	}
	im.Checksum = binary.LittleEndian.Uint32(opt[checksumOffset:])
	entry := opt[im.certDirAt-optAt:]
	im.certAt = int64(binary.LittleEndian.Uint32(entry))
	im.certSize = int64(binary.LittleEndian.Uint32(entry[4:]))
	switch {
	case im.certAt == 0 && im.certSize == 0:
	case im.certAt == 0 || im.certSize == 0:
		return nil, fmt.Errorf("certificate table entry is damaged: offset 0x%x, size %d", im.certAt, im.certSize)
	case im.certAt < optAt+optSize:
		return nil, fmt.Errorf("certificate table at 0x%x overlaps the headers", im.certAt)
	case im.certAt+im.certSize != size:
		// Since MS12-024, verifiers require the table to end the file, so
		// nothing unsigned can follow it.
		return nil, fmt.Errorf("certificate table (0x%x, %d bytes) does not end the %d-byte file", im.certAt, im.certSize, size)
	case im.certSize < winCertHeader:
		return nil, fmt.Errorf("certificate table of %d bytes is too short", im.certSize)
	}
	return im, nil
}

// Digest returns the Authenticode digest (SHA-256) of the image: the
// whole file except the CheckSum field, the certificate table's directory
// entry and the certificate table itself, followed by the zero bytes that
// align the content to 8 bytes (which WriteSigned inserts), as
// osslsigncode and signtool compute it. Signing does not change it.
func (im *Image) Digest(r io.ReaderAt) ([]byte, error) {
	h := sha256.New()
	write := func(b []byte) error { h.Write(b); return nil }
	end := im.contentEnd()
	for _, part := range [][2]int64{
		{0, im.checksumAt},
		{im.checksumAt + 4, im.certDirAt},
		{im.certDirAt + dirEntrySize, end},
	} {
		if err := copyPatched(write, r, part[0], part[1], nil); err != nil {
			return nil, fmt.Errorf("hashing the PE file: %w", err)
		}
	}
	h.Write(make([]byte, im.padding()))
	if im.certAt == 0 {
		// An unsigned file that grew since ParseImage would be hashed
		// short: refuse rather than sign a prefix.
		var b [1]byte
		if n, _ := r.ReadAt(b[:], end); n != 0 {
			return nil, errors.New("PE file grew while it was being hashed")
		}
	}
	return h.Sum(nil), nil
}

// WriteSigned writes the image read from r to w with signature (a DER
// PKCS #7 SignedData from Sign) as its only certificate: the content up to
// any previous certificate table, zero padding to 8 bytes, and one
// WIN_CERTIFICATE (revision 2.0, PKCS_SIGNED_DATA) padded to 8 bytes. It
// points the certificate table entry at it and sets the CheckSum, which it
// writes last, once the whole file has been summed. A previous signature,
// nested ones included, is replaced.
func (im *Image) WriteSigned(w io.WriterAt, r io.ReaderAt, signature []byte) error {
	end := im.contentEnd()
	pad := im.padding()
	sigPad := int64((8 - len(signature)%8) % 8)
	certAt := end + pad
	certLen := winCertHeader + int64(len(signature)) + sigPad
	if len(signature) == 0 || certAt+certLen > MaxImageSize {
		return fmt.Errorf("a %d-byte signature does not fit a %d-byte PE file", len(signature), end)
	}
	var entry [dirEntrySize]byte
	binary.LittleEndian.PutUint32(entry[:], uint32(certAt))
	binary.LittleEndian.PutUint32(entry[4:], uint32(certLen))
	var hdr [winCertHeader]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(certLen))
	binary.LittleEndian.PutUint16(hdr[4:], winCertRevision)
	binary.LittleEndian.PutUint16(hdr[6:], winCertPKCS7)
	var c checksum
	off := int64(0)
	write := func(b []byte) error {
		c.add(b)
		_, err := w.WriteAt(b, off)
		off += int64(len(b))
		return err
	}
	patches := []patch{{im.checksumAt, make([]byte, 4)}, {im.certDirAt, entry[:]}}
	if err := copyPatched(write, r, 0, end, patches); err != nil {
		return err
	}
	for _, b := range [][]byte{make([]byte, pad), hdr[:], signature, make([]byte, sigPad)} {
		if err := write(b); err != nil {
			return err
		}
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], c.value())
	_, err := w.WriteAt(sum[:], im.checksumAt)
	return err
}

// A patch replaces bytes of the input at an offset as they are copied.
type patch struct {
	at int64
	b  []byte
}

// copyPatched passes bytes from to end of r to write in chunks, with the
// patches applied. A file shorter than end is an error.
func copyPatched(write func([]byte) error, r io.ReaderAt, from, end int64, patches []patch) error {
	buf := make([]byte, 256<<10)
	for off := from; off < end; {
		b := buf[:min(int64(len(buf)), end-off)]
		if k, err := r.ReadAt(b, off); k < len(b) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("reading the PE file at %d: %w", off+int64(k), err)
		}
		for _, p := range patches {
			for i, v := range p.b {
				if at := p.at + int64(i); at >= off && at < off+int64(len(b)) {
					b[at-off] = v
				}
			}
		}
		if err := write(b); err != nil {
			return err
		}
		off += int64(len(b))
	}
	return nil
}

// ExtractSignature returns the DER PKCS #7 SignedData of the first
// WIN_CERTIFICATE (revision 2.0, PKCS_SIGNED_DATA) in the image's
// certificate table, without its padding.
func (im *Image) ExtractSignature(r io.ReaderAt) ([]byte, error) {
	if im.certAt == 0 {
		return nil, errors.New("PE file is not signed: it has no certificate table")
	}
	if im.certSize > maxCertTable {
		return nil, fmt.Errorf("certificate table of %d bytes is larger than the %d this reads", im.certSize, maxCertTable)
	}
	table := make([]byte, im.certSize)
	if _, err := r.ReadAt(table, im.certAt); err != nil {
		return nil, fmt.Errorf("reading the certificate table: %w", err)
	}
	for len(table) >= winCertHeader {
		n := int64(binary.LittleEndian.Uint32(table))
		if n < winCertHeader || n > int64(len(table)) {
			return nil, fmt.Errorf("WIN_CERTIFICATE length %d does not fit the certificate table", n)
		}
		rev, typ := binary.LittleEndian.Uint16(table[4:]), binary.LittleEndian.Uint16(table[6:])
		if rev == winCertRevision && typ == winCertPKCS7 {
			return derElement(table[winCertHeader:n])
		}
		n += (8 - n%8) % 8
		if n > int64(len(table)) {
			break
		}
		table = table[n:]
	}
	return nil, errors.New("certificate table holds no PKCS #7 signature")
}

// maxCertTable bounds the certificate table ExtractSignature reads into
// memory.
const maxCertTable = 16 << 20

// checksum computes the PE image checksum of bytes written to it in
// order: their 16-bit little-endian words summed with end-around carry,
// plus their length. (A final odd byte counts as a word's low byte.)
type checksum struct {
	sum uint64
	n   int64
}

func (c *checksum) add(p []byte) {
	if c.n%2 == 1 && len(p) > 0 {
		c.sum += uint64(p[0]) << 8
		c.n++
		p = p[1:]
	}
	for len(p) >= 2 {
		c.sum += uint64(binary.LittleEndian.Uint16(p))
		c.n += 2
		p = p[2:]
	}
	if len(p) == 1 {
		c.sum += uint64(p[0])
		c.n++
	}
}

// value folds the sum to 16 bits, which equals folding after every
// addition (both are the ones' complement sum, and both are 0 only for
// all-zero input), and adds the length.
func (c *checksum) value() uint32 {
	s := c.sum
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint32(s) + uint32(c.n)
}

// ComputeChecksum computes the PE checksum of the image read from r, counting
// its CheckSum field as zero: the value a correct CheckSum field holds.
func (im *Image) ComputeChecksum(r io.ReaderAt) (uint32, error) {
	var c checksum
	err := copyPatched(func(b []byte) error { c.add(b); return nil }, r, 0, im.Size, []patch{{im.checksumAt, make([]byte, 4)}})
	return c.value(), err
}
