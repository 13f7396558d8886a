package audit

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// OpenSQLite opens (creating if needed) the embedded log database at path:
// one file in WAL mode with synchronous=FULL, so that a commit is on disk
// when it returns, and beside it the index kept behind the log (path with
// -index.db). One process writes them; `signet audit verify --data` may
// read them at the same time.
//
// The WAL is checkpointed into the database by a background connection,
// not by the committing writer, so that commits stay short.
func OpenSQLite(path string) (*SQLStore, error) { return openSQLite(path, "FULL") }

// openSQLite opens the database at path with the given synchronous mode:
// FULL for a log of record, NORMAL for the index derived from a tile log
// (TileStore), which is rebuilt from the log after any loss.
func openSQLite(path, synchronous string) (*SQLStore, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(" + synchronous + ")"
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate&_pragma=wal_autocheckpoint(0)&_pragma=cache_size(-16384)")
	if err != nil {
		return nil, fmt.Errorf("audit: opening %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	d := dialect{name: "sqlite", ph: func(int) string { return "?" }, lockHead: "SELECT size, last_time FROM head WHERE id = 0", prepare: true}
	if _, err := w.Exec(d.schema()); err != nil {
		w.Close()
		return nil, fmt.Errorf("audit: preparing %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("audit: opening %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	ix, err := openSQLiteTermIndex(strings.TrimSuffix(path, ".db")+"-index.db", d)
	if err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	s, err := newSQLStore(w, r, d)
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("audit: preparing %s: %w", path, err)
	}
	s.ix = ix
	stop := make(chan struct{})
	done := make(chan struct{})
	go checkpointWAL(r, stop, done)
	s.closeFn = func() { close(stop); <-done }
	return s, nil
}

// openSQLiteTermIndex opens the index's own file: derived data,
// so synchronous=NORMAL (no fsync per chunk; WAL keeps it consistent).
func openSQLiteTermIndex(path string, d dialect) (*termIndex, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("audit: opening %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	x := &termIndex{w: w, d: d}
	if _, err := w.Exec(x.schema()); err != nil {
		w.Close()
		return nil, fmt.Errorf("audit: preparing %s: %w", path, err)
	}
	if x.r, err = sql.Open("sqlite", dsn); err != nil {
		w.Close()
		return nil, err
	}
	x.r.SetMaxOpenConns(4)
	return x, nil
}

// checkpointWAL copies the WAL into the database every second. PASSIVE
// never waits for the writer or readers; the WAL is reused from its start
// once a checkpoint has caught up.
func checkpointWAL(db *sql.DB, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
			return
		case <-t.C:
			db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}
