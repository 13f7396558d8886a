package frost

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// NonceStore records which signing nonces have been used. It is the one
// piece of state that makes FROST safe across retries and crashes: a
// signer that answered twice from the same nonce pair (for two different
// messages or commitment lists) would reveal its secret share.
//
// Consume must record id as consumed, durably, before it returns nil, and
// must return ErrNonceUsed (possibly wrapped) if id was consumed before,
// by this process or an earlier one. If it cannot tell, it must return an
// error: KeyShare.Sign releases a share only after a nil return.
type NonceStore interface {
	Consume(id NonceID) error
}

// MemoryNonceStore is a NonceStore that lives only in memory. It is
// correct only when the nonces themselves also live only in this process's
// memory, so that a restart loses both together; use FileNonceStore when
// nonces can outlive the process.
type MemoryNonceStore struct {
	mu   sync.Mutex
	used map[NonceID]struct{}
}

// Consume implements NonceStore.
func (m *MemoryNonceStore) Consume(id NonceID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used == nil {
		m.used = map[NonceID]struct{}{}
	}
	if _, ok := m.used[id]; ok {
		return ErrNonceUsed
	}
	m.used[id] = struct{}{}
	return nil
}

// FileNonceStore is a NonceStore kept in an append-only text file, one
// line "consumed <32 hex digits>\n" per nonce after a header line. Consume
// appends the line and fsyncs the file before it returns, so a nonce
// reported consumed stays consumed across a crash or power loss. A crash
// in the middle of an append leaves a final line without its newline: no
// share was released for it (Consume had not returned), so OpenFileNonceStore
// drops it. Any other damage makes OpenFileNonceStore refuse the file.
//
// The file is locked (flock) while open, so two processes cannot share it
// by mistake. It grows by 42 bytes per signature; rotating it (with a new
// key share or a restart that discards every pending nonce) is the
// operator's business.
type FileNonceStore struct {
	mu     sync.Mutex
	f      *os.File
	path   string
	used   map[NonceID]struct{}
	broken error
}

const nonceLogHeader = "signet frost nonce log v1\n"

const nonceLineLen = len("consumed ") + 2*len(NonceID{}) + 1

// OpenFileNonceStore opens or creates the nonce log at path.
func OpenFileNonceStore(path string) (*FileNonceStore, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("frost: nonce log: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("frost: nonce log %s is in use by another process: %w", path, err)
	}
	s, err := openLocked(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func openLocked(f *os.File, path string) (*FileNonceStore, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("frost: nonce log: %w", err)
	}
	used, keep, err := parseNonceLog(data)
	if err != nil {
		return nil, fmt.Errorf("frost: nonce log %s: %w; it is damaged: keep it for investigation and start the key's signers on fresh nonces with a new log", path, err)
	}
	if keep < len(data) || len(data) == 0 {
		// A torn final line, or a new (or torn new) file: rewrite the tail.
		if err := f.Truncate(int64(keep)); err != nil {
			return nil, fmt.Errorf("frost: nonce log: dropping a torn final line: %w", err)
		}
		if keep == 0 {
			if _, err := f.WriteAt([]byte(nonceLogHeader), 0); err != nil {
				return nil, fmt.Errorf("frost: nonce log: %w", err)
			}
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("frost: nonce log: %w", err)
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			return nil, err
		}
	}
	if _, err := f.Seek(0, 2); err != nil {
		return nil, fmt.Errorf("frost: nonce log: %w", err)
	}
	return &FileNonceStore{f: f, path: path, used: used}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("frost: nonce log directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("frost: nonce log directory: %w", err)
	}
	return nil
}

// parseNonceLog reads a nonce log. It returns the consumed ids and the
// length of the well-formed prefix; only a final line without its newline
// (a torn append) may lie beyond it.
func parseNonceLog(data []byte) (map[NonceID]struct{}, int, error) {
	used := map[NonceID]struct{}{}
	if len(data) < len(nonceLogHeader) {
		if !bytes.HasPrefix([]byte(nonceLogHeader), data) {
			return nil, 0, errors.New("not a nonce log (bad header)")
		}
		return used, 0, nil // empty or torn header: nothing was ever consumed
	}
	if string(data[:len(nonceLogHeader)]) != nonceLogHeader {
		return nil, 0, errors.New("not a nonce log (bad header)")
	}
	off := len(nonceLogHeader)
	for line := 1; off < len(data); line++ {
		nl := bytes.IndexByte(data[off:], '\n')
		if nl < 0 {
			return used, off, nil // torn final line
		}
		rec := data[off : off+nl+1]
		if len(rec) != nonceLineLen || !bytes.HasPrefix(rec, []byte("consumed ")) {
			return nil, 0, fmt.Errorf("record %d is malformed", line)
		}
		var id NonceID
		if _, err := hex.Decode(id[:], rec[len("consumed "):nonceLineLen-1]); err != nil {
			return nil, 0, fmt.Errorf("record %d: %w", line, err)
		}
		if bytes.ContainsAny(rec[len("consumed "):nonceLineLen-1], "ABCDEF") {
			return nil, 0, fmt.Errorf("record %d is not in lower-case hex", line)
		}
		used[id] = struct{}{}
		off += nl + 1
	}
	return used, off, nil
}

// Consume implements NonceStore: it appends and fsyncs the record before
// returning nil.
func (s *FileNonceStore) Consume(id NonceID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return fmt.Errorf("nonce log %s failed earlier (%v); reopen it", s.path, s.broken)
	}
	if _, ok := s.used[id]; ok {
		return ErrNonceUsed
	}
	// Whatever happens next, this id is never handed out again by this
	// process: an uncertain write must lose the nonce, not reuse it.
	s.used[id] = struct{}{}
	line := make([]byte, 0, nonceLineLen)
	line = append(line, "consumed "...)
	line = hex.AppendEncode(line, id[:])
	line = append(line, '\n')
	if _, err := s.f.Write(line); err != nil {
		s.broken = err
		return fmt.Errorf("nonce log %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		s.broken = err
		return fmt.Errorf("nonce log %s: fsync: %w", s.path, err)
	}
	return nil
}

// Close releases the file and its lock.
func (s *FileNonceStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if s.broken == nil {
		s.broken = errors.New("closed")
	}
	return err
}
