package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"
)

// The commit journal of a TileStore (file "commits" beside the tiles) is
// where a commit becomes durable: one record per commit, appended after
// the commit's entries and hashes and synced with them. A record is
//
//	magic    "SGC1"
//	length   uint32, of the payload
//	crc      uint32, CRC-32C of the payload
//	payload:
//	  size      int64   the log's size after the commit
//	  last      int64   the time of its latest entry, Unix nanoseconds
//	  signed    int64   when its checkpoint was signed, Unix nanoseconds
//	  flags     uint8   1: keep the checkpoint in the history audits check
//	  note      uint32 length + bytes: the signed checkpoint of the commit
//	            ("" when the log key was unavailable)
//	  manifests uint32 count, then each: uint16 length + digest,
//	            uint32 length + manifest bytes
//
// all integers big-endian. The last record whose data the tiles hold is
// the log's head; a record cut short by a crash fails its length or CRC
// and is cut off when the store opens.

const journalMagic = "SGC1"

// journalHeader is the size of a record's magic, length and CRC.
const journalHeader = 12

// maxJournalRecord bounds a record's payload: the manifests of one commit
// are the bulk of it.
const maxJournalRecord = 256 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// A commitRecord is one record of the commit journal.
type commitRecord struct {
	Size      int64
	Last      time.Time
	Signed    time.Time // when Note was signed
	Keep      bool
	Note      string
	Manifests map[string][]byte
}

// encode returns the record's bytes, header included.
func (r *commitRecord) encode() ([]byte, error) {
	n := 8 + 8 + 8 + 1 + 4 + len(r.Note) + 4
	for d, m := range r.Manifests {
		if len(d) > 0xffff {
			return nil, fmt.Errorf("audit: manifest digest of %d bytes", len(d))
		}
		n += 2 + len(d) + 4 + len(m)
	}
	if n > maxJournalRecord {
		return nil, fmt.Errorf("audit: a commit of %d bytes of manifests is more than the log takes at once", n)
	}
	b := make([]byte, journalHeader, journalHeader+n)
	copy(b, journalMagic)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Size))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Last.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Signed.UnixNano()))
	var flags byte
	if r.Keep {
		flags = 1
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Note)))
	b = append(b, r.Note...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Manifests)))
	for d, m := range r.Manifests {
		b = binary.BigEndian.AppendUint16(b, uint16(len(d)))
		b = append(b, d...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(m)))
		b = append(b, m...)
	}
	binary.BigEndian.PutUint32(b[4:], uint32(n))
	binary.BigEndian.PutUint32(b[8:], crc32.Checksum(b[journalHeader:], crcTable))
	return b, nil
}

// errTornRecord is returned for a record cut short or damaged.
var errTornRecord = errors.New("commit record torn or damaged")

// decodeCommitPayload parses a record's payload (its CRC already checked).
func decodeCommitPayload(p []byte) (*commitRecord, error) {
	bad := func(what string) (*commitRecord, error) {
		return nil, fmt.Errorf("%w: %s", errTornRecord, what)
	}
	if len(p) < 8+8+8+1+4+4 {
		return bad("too short")
	}
	r := &commitRecord{
		Size:   int64(binary.BigEndian.Uint64(p)),
		Last:   time.Unix(0, int64(binary.BigEndian.Uint64(p[8:]))).UTC(),
		Signed: time.Unix(0, int64(binary.BigEndian.Uint64(p[16:]))).UTC(),
		Keep:   p[24]&1 != 0,
	}
	if r.Size < 0 || p[24]&^1 != 0 {
		return bad("bad size or flags")
	}
	p = p[25:]
	n := binary.BigEndian.Uint32(p)
	p = p[4:]
	if uint64(n) > uint64(len(p)) {
		return bad("checkpoint overruns the record")
	}
	r.Note, p = string(p[:n]), p[n:]
	if len(p) < 4 {
		return bad("no manifest count")
	}
	count := binary.BigEndian.Uint32(p)
	p = p[4:]
	for range count {
		if len(p) < 2 {
			return bad("manifest digest overruns the record")
		}
		dl := int(binary.BigEndian.Uint16(p))
		p = p[2:]
		if len(p) < dl+4 {
			return bad("manifest digest overruns the record")
		}
		d := string(p[:dl])
		ml := binary.BigEndian.Uint32(p[dl:])
		p = p[dl+4:]
		if uint64(ml) > uint64(len(p)) {
			return bad("manifest overruns the record")
		}
		if r.Manifests == nil {
			r.Manifests = map[string][]byte{}
		}
		r.Manifests[d] = p[:ml:ml]
		p = p[ml:]
	}
	if len(p) != 0 {
		return bad("bytes after the manifests")
	}
	return r, nil
}

// decodeCommitRecord parses one whole record at the start of b and returns
// it and its length.
func decodeCommitRecord(b []byte) (*commitRecord, int, error) {
	if len(b) < journalHeader || string(b[:4]) != journalMagic {
		return nil, 0, fmt.Errorf("%w: no record header", errTornRecord)
	}
	n := binary.BigEndian.Uint32(b[4:])
	if n > maxJournalRecord || uint64(len(b)-journalHeader) < uint64(n) {
		return nil, 0, fmt.Errorf("%w: record of %d bytes cut short", errTornRecord, n)
	}
	p := b[journalHeader : journalHeader+int(n)]
	if crc32.Checksum(p, crcTable) != binary.BigEndian.Uint32(b[8:]) {
		return nil, 0, fmt.Errorf("%w: checksum mismatch", errTornRecord)
	}
	r, err := decodeCommitPayload(p)
	if err != nil {
		return nil, 0, err
	}
	return r, journalHeader + int(n), nil
}

// A journalReader reads the records of a journal in order.
type journalReader struct {
	r   io.ReaderAt
	off int64 // where the next record starts
	end int64 // the file's length
	buf []byte
}

// next returns the next record and its offset, io.EOF at the end, or
// errTornRecord (wrapped) where the journal stops making sense: the
// records before it are the journal.
func (j *journalReader) next() (*commitRecord, int64, error) {
	if j.off >= j.end {
		return nil, j.off, io.EOF
	}
	var h [journalHeader]byte
	if _, err := j.r.ReadAt(h[:], j.off); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, j.off, fmt.Errorf("%w: header cut short", errTornRecord)
		}
		return nil, j.off, err
	}
	if string(h[:4]) != journalMagic {
		return nil, j.off, fmt.Errorf("%w: no record header at byte %d", errTornRecord, j.off)
	}
	n := int64(binary.BigEndian.Uint32(h[4:]))
	if n > maxJournalRecord || j.off+journalHeader+n > j.end {
		return nil, j.off, fmt.Errorf("%w: record at byte %d cut short", errTornRecord, j.off)
	}
	if int64(cap(j.buf)) < journalHeader+n {
		j.buf = make([]byte, journalHeader+n)
	}
	b := j.buf[:journalHeader+n]
	if _, err := j.r.ReadAt(b, j.off); err != nil {
		return nil, j.off, err
	}
	r, size, err := decodeCommitRecord(b)
	if err != nil {
		return nil, j.off, fmt.Errorf("record at byte %d: %w", j.off, err)
	}
	// The manifests alias j.buf; copy them out.
	for d, m := range r.Manifests {
		r.Manifests[d] = append([]byte(nil), m...)
	}
	at := j.off
	j.off += int64(size)
	return r, at, nil
}
