package keystore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A fleet keeps one keystore in PostgreSQL, beside its audit log: the
// same records as a keystore directory (the header and one record per
// key, the same bytes, sealed under the same KEK), in rows.
//
//	keystore_records   name ('' for the header), serial, change, data
//	keystore_head      the change counter, one row
//	keystore_replicas  id, the change each replica last loaded, when
//
// Every write is a compare-and-swap on the record's serial in a
// transaction that also increments the change counter. The counter's row
// lock orders the writes, so change numbers commit in increasing order
// and a replica that has loaded change N has seen every change up to N.
// The transaction sends NOTIFY keystore_changes; each replica LISTENs,
// and polls the counter every WatchInterval in case a notification is
// lost, loads what changed, and records the change it has loaded in
// keystore_replicas. A writer waits for the live replicas to have
// loaded its change (AwaitFleet), so that a revocation has taken effect
// everywhere before the command that made it returns, or says which
// replica has not confirmed.
const (
	pgSchema = `
CREATE TABLE IF NOT EXISTS keystore_head (
	id integer PRIMARY KEY CHECK (id = 0),
	change bigint NOT NULL);
INSERT INTO keystore_head (id, change) VALUES (0, 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS keystore_records (
	name text PRIMARY KEY,
	serial bigint NOT NULL,
	change bigint NOT NULL,
	data bytea NOT NULL,
	updated timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS keystore_records_change ON keystore_records (change);
CREATE TABLE IF NOT EXISTS keystore_certs (
	name text PRIMARY KEY,
	data bytea NOT NULL,
	updated timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS keystore_replicas (
	id text PRIMARY KEY,
	change bigint NOT NULL,
	seen timestamptz NOT NULL);`
	pgChannel = "keystore_changes"
	pgLockID  = 7166511 // advisory lock serializing schema creation

	// WatchInterval is how often a replica polls for changes it was not
	// notified of, and records that it is alive.
	WatchInterval = time.Second
	// ReplicaTimeout is how long a replica that has not recorded itself
	// counts as alive: a writer waits for the replicas seen within it.
	ReplicaTimeout = 10 * time.Second
	// storeTimeout bounds one write to the store.
	storeTimeout = 30 * time.Second
)

// pgStore is a keystore in PostgreSQL.
type pgStore struct {
	pool *pgxpool.Pool
	wake chan struct{} // asks the watcher to refresh now
	last int64         // the change of this Dir's last write; guarded by Dir.mu
}

// OpenPostgres opens the keystore kept in the PostgreSQL database named
// by dsn (put there by MigrateToPostgres), creating its tables if needed.
// It starts locked, like Open. Call Watch to follow the other replicas'
// changes and Close when done.
func OpenPostgres(ctx context.Context, dsn string) (*Dir, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open keystore: the PostgreSQL URL: %w", err)
	}
	cfg.MaxConns = 4
	where := fmt.Sprintf("postgres://%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := connect(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open keystore %s: %w", where, err)
	}
	d := &Dir{path: where, slots: make(map[string]*slot), store: &pgStore{pool: pool, wake: make(chan struct{}, 1)}}
	err = pool.QueryRow(ctx, "SELECT serial, data FROM keystore_records WHERE name = ''").Scan(&d.hdrSerial, new([]byte))
	if errors.Is(err, pgx.ErrNoRows) {
		pool.Close()
		return nil, fmt.Errorf("open keystore %s: %w; move a keystore there with 'signet keystore migrate --from DIR --to %s'", where, ErrNotInitialized, where)
	}
	if err == nil {
		err = d.Refresh(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open keystore %s: %w", where, err)
	}
	return d, nil
}

func connect(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer conn.Release()
	// Replicas starting together race to create the tables.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", pgLockID); err != nil {
		pool.Close()
		return nil, err
	}
	_, err = conn.Exec(ctx, pgSchema)
	conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", pgLockID)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("creating the keystore tables: %w", err)
	}
	return pool, nil
}

// Close releases what d holds in its store (its PostgreSQL connections).
// It does not lock d.
func (d *Dir) Close() {
	if p, ok := d.store.(*pgStore); ok {
		p.pool.Close()
	}
}

// write runs one compare-and-swap: update (or insert) in a transaction
// that takes the next change number, then notifies the replicas.
func (p *pgStore) write(ctx context.Context, stmt string, args ...any) (int64, error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrStoreUnavailable, err)
	}
	defer tx.Rollback(ctx)
	var change int64
	if err := tx.QueryRow(ctx, "UPDATE keystore_head SET change = change + 1 WHERE id = 0 RETURNING change").Scan(&change); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrStoreUnavailable, err)
	}
	tag, err := tx.Exec(ctx, stmt, append([]any{change}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrStoreUnavailable, err)
	}
	if tag.RowsAffected() != 1 {
		return 0, ErrStale
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", pgChannel, fmt.Sprint(change)); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrStoreUnavailable, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrStoreUnavailable, err)
	}
	p.last = change
	return change, nil
}

func (p *pgStore) createKey(ctx context.Context, name string, data []byte) error {
	_, err := p.write(ctx, "INSERT INTO keystore_records (change, name, serial, data) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING", name, serialOf(data), data)
	if errors.Is(err, ErrStale) {
		return fs.ErrExist
	}
	return err
}

func (p *pgStore) replaceKey(ctx context.Context, name string, serial int, data []byte) error {
	_, err := p.write(ctx, "UPDATE keystore_records SET change = $1, serial = $2, data = $3, updated = now() WHERE name = $4 AND serial = $5", serial+1, data, name, serial)
	if errors.Is(err, ErrStale) {
		return fmt.Errorf("key %q: %w: another replica changed it first; this replica reloads it: look at 'signet key versions %s' and try again", name, ErrStale, name)
	}
	return err
}

func (p *pgStore) replaceHeader(ctx context.Context, serial int64, data []byte) error {
	_, err := p.write(ctx, "UPDATE keystore_records SET change = $1, serial = serial + 1, data = $2, updated = now() WHERE name = '' AND serial = $3", data, serial)
	if errors.Is(err, ErrStale) {
		return fmt.Errorf("keystore header: %w: another replica changed the custodians first; this replica reloads them: try again", ErrStale)
	}
	return err
}

// serialOf is the serial of a key record, 0 for format 1 or if unreadable
// (Create has just made it, so it is readable).
func serialOf(data []byte) int {
	rec, err := parseKeyFile(data)
	if err != nil {
		return 0
	}
	return rec.serial
}

// refreshSoon asks the watcher, if any, to load changes now: a write was
// refused as stale. It never blocks; d.mu may be held.
func (d *Dir) refreshSoon() {
	if p, ok := d.store.(*pgStore); ok {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// Refresh loads the records other replicas changed since d last looked.
// A key's new record replaces its old one; if the active version changed,
// signers bound to the old one fail with ErrRetired from then on, as
// after a local Rotate or Revoke. While d is unlocked a new record must
// pass the checks Unlock makes (seals, MAC) or it is not applied. A
// keystore directory has nothing to refresh: it serves one replica.
func (d *Dir) Refresh(ctx context.Context) error {
	p, ok := d.store.(*pgStore)
	if !ok {
		return nil
	}
	d.mu.RLock()
	since := d.change
	d.mu.RUnlock()
	rows, err := p.pool.Query(ctx, "SELECT name, serial, change, data FROM keystore_records WHERE change > $1 ORDER BY change", since)
	if err != nil {
		return fmt.Errorf("keystore %s: loading changes: %w", d.path, err)
	}
	type row struct {
		name   string
		serial int64
		change int64
		data   []byte
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.name, &r.serial, &r.change, &r.data); err != nil {
			rows.Close()
			return fmt.Errorf("keystore %s: loading changes: %w", d.path, err)
		}
		got = append(got, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("keystore %s: loading changes: %w", d.path, err)
	}
	d.mu.Lock()
	var errs []error
	for _, r := range got {
		// Rows of one change (a migration) share its number; a record a
		// concurrent Refresh applied already is skipped by its serial.
		var err error
		if r.name == "" {
			err = d.applyHeader(r.serial, r.data)
		} else {
			err = d.applyKey(r.name, r.data)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("keystore %s: record %q (change %d) not loaded: %w", d.path, r.name, r.change, err))
		}
		d.change = max(d.change, r.change)
	}
	change, applied := d.change, d.applied
	d.mu.Unlock()
	if applied != nil {
		applied(change)
	}
	return errors.Join(errs...)
}

// applyHeader replaces the header. d.mu is held for writing.
func (d *Dir) applyHeader(serial int64, data []byte) error {
	if serial <= d.hdrSerial && d.hdr.Version != 0 {
		return nil // this Dir's own write
	}
	h, err := parseHeader(data)
	if err != nil {
		return err
	}
	d.hdr, d.hdrSerial = h, serial
	return nil
}

// applyKey replaces or adds the record of key name. d.mu is held for
// writing.
func (d *Dir) applyKey(name string, data []byte) error {
	rec, err := parseKeyFile(data)
	if err != nil {
		return err
	}
	if rec.key.Name != name {
		return fmt.Errorf("holds key %q; the record was renamed or replaced: restore it from a backup", rec.key.Name)
	}
	s := d.slots[name]
	if s != nil && rec.serial <= s.rec.serial {
		return nil // this Dir's own write, or older
	}
	if d.kek != nil {
		if err := rec.check(d.kek); err != nil {
			return err
		}
	}
	if s == nil {
		s = d.newSlot(rec)
		d.slots[name] = s
		return d.loadSigners(s, s.loaded())
	}
	s.rec = rec
	var load []*versionSigner
	if a := rec.active(); a == nil || s.active == nil || s.active.number != a.v.Number {
		if s.active != nil {
			wipe(s.active.priv)
			s.active.priv = nil
		}
		s.active = nil
		if a != nil {
			s.active = newVersionSigner(s, a, false)
			load = append(load, s.active)
		}
	}
	if c := rec.certifier(); c != nil && s.primary == nil {
		s.primary = newVersionSigner(s, c, true)
		load = append(load, s.primary)
	}
	return d.loadSigners(s, load)
}

// loadSigners decrypts the private keys of vss, if d is unlocked. d.mu is
// held for writing.
func (d *Dir) loadSigners(s *slot, vss []*versionSigner) error {
	if d.kek == nil {
		return nil
	}
	for _, vs := range vss {
		if vs.backend != "" {
			if t := d.tokenNamed(vs.backend); t != nil {
				d.attach(t, vs)
			}
			continue
		}
		priv, err := s.rec.open(vs.sealed(), d.kek)
		if err != nil {
			return err
		}
		vs.priv = priv
	}
	return nil
}

// Watch follows the changes the other replicas make to a keystore in
// PostgreSQL until ctx ends: it LISTENs for their notifications, polls
// every WatchInterval in case one is lost, loads what changed (Refresh)
// and records, under replica, the change it has loaded, which writers
// wait for (AwaitFleet). Errors (a database outage) go to report; Watch
// keeps trying. For a keystore directory it returns at once.
func (d *Dir) Watch(ctx context.Context, replica string, report func(error)) {
	p, ok := d.store.(*pgStore)
	if !ok {
		return
	}
	ack := func(change int64) {
		actx, cancel := context.WithTimeout(ctx, WatchInterval)
		defer cancel()
		p.pool.Exec(actx, `INSERT INTO keystore_replicas (id, change, seen) VALUES ($1, $2, now())
ON CONFLICT (id) DO UPDATE SET change = GREATEST(keystore_replicas.change, EXCLUDED.change), seen = now()`, replica, change)
	}
	d.mu.Lock()
	d.applied = ack
	d.mu.Unlock()
	for ctx.Err() == nil {
		if err := d.watch(ctx, p); err != nil && ctx.Err() == nil {
			report(err)
			select {
			case <-ctx.Done():
			case <-time.After(WatchInterval):
			}
		}
	}
	// Leaving: writers need not wait for this replica any more.
	dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p.pool.Exec(dctx, "DELETE FROM keystore_replicas WHERE id = $1", replica)
}

// watch is one connection's worth of Watch.
func (d *Dir) watch(ctx context.Context, p *pgStore) error {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("keystore %s: watching for changes: %w", d.path, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+pgChannel); err != nil {
		conn.Conn().Close(ctx) // do not return a listening connection to the pool
		return fmt.Errorf("keystore %s: watching for changes: %w", d.path, err)
	}
	defer conn.Conn().Close(context.Background())
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := d.Refresh(rctx)
		cancel()
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, WatchInterval)
		go func() {
			select {
			case <-p.wake:
				cancel()
			case <-wctx.Done():
			}
		}()
		_, err = conn.Conn().WaitForNotification(wctx)
		woken := wctx.Err() != nil
		cancel()
		if err != nil && !woken {
			return fmt.Errorf("keystore %s: watching for changes: %w", d.path, err)
		}
	}
	return nil
}

// A Replica is one replica of a fleet as the keystore database knows it.
type Replica struct {
	ID     string    // its server id
	Change int64     // the last change it loaded
	Seen   time.Time // when it last recorded itself
}

// AwaitFleet waits up to wait for every live replica (seen within
// ReplicaTimeout) to have loaded this Dir's last write, and returns those
// that have not. For a keystore directory, or before any write, it
// returns nil at once.
func (d *Dir) AwaitFleet(ctx context.Context, wait time.Duration) ([]Replica, error) {
	p, ok := d.store.(*pgStore)
	if !ok {
		return nil, nil
	}
	d.mu.RLock()
	target := p.last
	d.mu.RUnlock()
	if target == 0 {
		return nil, nil
	}
	if err := d.Refresh(ctx); err != nil { // and record that this replica has it
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		rows, err := p.pool.Query(ctx, "SELECT id, change, seen FROM keystore_replicas WHERE seen > now() - $1::interval AND change < $2 ORDER BY id",
			fmt.Sprintf("%d milliseconds", ReplicaTimeout.Milliseconds()), target)
		if err != nil {
			return nil, fmt.Errorf("keystore %s: asking which replicas loaded change %d: %w", d.path, target, err)
		}
		behind, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Replica, error) {
			var x Replica
			return x, r.Scan(&x.ID, &x.Change, &x.Seen)
		})
		if err != nil {
			return nil, fmt.Errorf("keystore %s: asking which replicas loaded change %d: %w", d.path, target, err)
		}
		if len(behind) == 0 || !time.Now().Before(deadline) {
			return behind, nil
		}
		select {
		case <-ctx.Done():
			return behind, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Replicas lists the replicas the keystore database knows, live or not.
func (d *Dir) Replicas(ctx context.Context) ([]Replica, error) {
	p, ok := d.store.(*pgStore)
	if !ok {
		return nil, nil
	}
	rows, err := p.pool.Query(ctx, "SELECT id, change, seen FROM keystore_replicas ORDER BY id")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Replica, error) {
		var x Replica
		return x, r.Scan(&x.ID, &x.Change, &x.Seen)
	})
}

// MigrateToPostgres copies the keystore in directory dir to the database
// named by dsn, record for record (the same sealed bytes: the KEK, the
// passphrase or custodians and every key stay as they were). It refuses a
// database that already holds a keystore. Stop the server using dir
// first; afterwards serve from the database (keystore.postgres) and keep
// dir as a backup. It returns the names of the keys copied.
func MigrateToPostgres(ctx context.Context, dir, dsn string) ([]string, error) {
	release, err := LockServing(dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w; stop the server using it first", err)
	}
	defer release()
	if _, err := Open(dir); err != nil { // every record parses
		return nil, fmt.Errorf("migrate: %w", err)
	}
	hdr, err := readFile(filepath.Join(dir, headerFile))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, keysDir))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	keys := map[string][]byte{}
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			if keys[name], err = readFileMax(filepath.Join(dir, keysDir, e.Name()), maxKeyFileSize); err != nil {
				return nil, fmt.Errorf("migrate: %w", err)
			}
		}
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("migrate: the PostgreSQL URL: %w", err)
	}
	pool, err := connect(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer pool.Close()
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	var change int64
	if err := tx.QueryRow(ctx, "UPDATE keystore_head SET change = change + 1 WHERE id = 0 RETURNING change").Scan(&change); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var n int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM keystore_records").Scan(&n); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if n > 0 {
		return nil, fmt.Errorf("migrate: the database already holds a keystore (%d records); migrate into an empty database", n)
	}
	names := make([]string, 0, len(keys))
	batch := &pgx.Batch{}
	batch.Queue("INSERT INTO keystore_records (name, serial, change, data) VALUES ('', 0, $1, $2)", change, hdr)
	for name, data := range keys {
		batch.Queue("INSERT INTO keystore_records (name, serial, change, data) VALUES ($1, $2, $3, $4)", name, serialOf(data), change, data)
		names = append(names, name)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

// SharedBlobs returns the store of public per-key data (certificate
// chains, package keycert) that a fleet keystore keeps in its database,
// so that a chain attached on one replica is the chain of every replica;
// false for a keystore directory, whose replica keeps such data in its
// own data directory.
func (d *Dir) SharedBlobs() (*Blobs, bool) {
	p, ok := d.store.(*pgStore)
	if !ok {
		return nil, false
	}
	return &Blobs{pool: p.pool}, true
}

// Blobs are public data kept per key in a fleet keystore's database.
// Every replica reads them there, so there is no copy to go stale.
type Blobs struct{ pool *pgxpool.Pool }

// Get returns the blob of key name, or false if it has none.
func (b *Blobs) Get(ctx context.Context, name string) ([]byte, bool, error) {
	var data []byte
	err := b.pool.QueryRow(ctx, "SELECT data FROM keystore_certs WHERE name = $1", name).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("keystore database: %w", err)
	}
	return data, true, nil
}

// Put replaces the blob of key name, in one statement: concurrent Puts
// leave one of them whole, the last to commit.
func (b *Blobs) Put(ctx context.Context, name string, data []byte) error {
	_, err := b.pool.Exec(ctx, `INSERT INTO keystore_certs (name, data) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data, updated = now()`, name, data)
	if err != nil {
		return fmt.Errorf("keystore database: %w", err)
	}
	return nil
}
