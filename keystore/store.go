package keystore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrStale reports a change refused because another replica changed the
// same record first: the keystore reloads the record and the caller tries
// again from what it now holds. A change never overwrites a newer record.
var ErrStale = errors.New("changed meanwhile by another replica")

// ErrStoreUnavailable reports a change that could not be stored because
// the keystore's database did not answer; nothing changed (or, if the
// commit's answer was lost, the change is there: reload and look).
var ErrStoreUnavailable = errors.New("keystore database unavailable")

// ErrInUse reports a keystore directory already opened for serving by
// another running process.
var ErrInUse = errors.New("in use by another running server")

// store is where a Dir's records live: the files of a directory, or the
// tables of a PostgreSQL database shared by a fleet (see OpenPostgres).
// Every change is a compare-and-swap on the record's serial.
type store interface {
	// createKey stores a new key record; an error matching fs.ErrExist
	// if the name is taken.
	createKey(ctx context.Context, name string, data []byte) error
	// replaceKey replaces the record of key name, whose serial must still
	// be serial, by data (whose serial is serial+1); ErrStale otherwise.
	replaceKey(ctx context.Context, name string, serial int, data []byte) error
	// replaceHeader replaces the header, whose serial must still be
	// serial; ErrStale otherwise.
	replaceHeader(ctx context.Context, serial int64, data []byte) error
}

// fileStore is the keystore directory itself: one replica's. A second
// running server cannot open it (LockServing), so the compare-and-swap
// only guards against offline tools.
type fileStore struct{ path string }

func (f fileStore) keyPath(name string) string { return filepath.Join(f.path, keysDir, name+".json") }

func (f fileStore) createKey(_ context.Context, name string, data []byte) error {
	return writeNew(f.keyPath(name), data)
}

func (f fileStore) replaceKey(_ context.Context, name string, serial int, data []byte) error {
	unlock, err := flockFile(filepath.Join(f.path, keysDir, ".lock"), false)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := readFileMax(f.keyPath(name), maxKeyFileSize)
	if err != nil {
		return err
	}
	rec, err := parseKeyFile(cur)
	if err != nil {
		return err
	}
	if rec.serial != serial {
		return fmt.Errorf("key %q: %w: its file has serial %d, this server holds %d", name, ErrStale, rec.serial, serial)
	}
	return writeReplace(f.keyPath(name), data)
}

func (f fileStore) replaceHeader(_ context.Context, _ int64, data []byte) error {
	return writeReplace(filepath.Join(f.path, headerFile), data)
}

// flockFile takes an exclusive flock on path (created if missing): waiting
// for it, or failing with ErrInUse at once if nowait.
func flockFile(path string, nowait bool) (func(), error) {
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_EX
	if nowait {
		how |= syscall.LOCK_NB
	}
	for {
		err = syscall.Flock(int(fh.Fd()), how)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		fh.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrInUse
		}
		return nil, err
	}
	return func() { fh.Close() }, nil
}

// LockServing claims the keystore directory dir for one running server
// until release is called or the process ends. A second server opening
// the same directory (on the same host, or on a shared file system that
// supports flock) fails with ErrInUse: replicas sharing one directory
// would each keep their own copy of the keys in memory and not see each
// other's changes. A fleet keeps its keystore in PostgreSQL instead
// ('signet keystore migrate').
func LockServing(dir string) (release func(), err error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil // Open says what to do
	}
	release, err = flockFile(filepath.Join(dir, "serve.lock"), true)
	if errors.Is(err, ErrInUse) {
		return nil, fmt.Errorf("keystore %s: %w: a keystore directory serves one replica; a fleet keeps its keys in PostgreSQL (run 'signet keystore migrate --to postgres://…' and set keystore.postgres)", dir, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore %s: %w", dir, err)
	}
	return release, nil
}
