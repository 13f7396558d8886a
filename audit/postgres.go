package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"golang.org/x/mod/sumdb/tlog"
)

// Postgres is the Store for a fleet: every replica appends to one log in
// one PostgreSQL database. Appends are sequenced by a row lock on the log's
// head (SELECT … FOR UPDATE), so concurrent writers from several processes
// each see the size the previous one committed and never reuse an index.
// Commits are durable when PostgreSQL says so (synchronous_commit on, its
// default).
type Postgres struct {
	db *sql.DB
}

const postgresSchema = `
CREATE TABLE IF NOT EXISTS signet_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS head (
	id INTEGER PRIMARY KEY CHECK (id = 0),
	size BIGINT NOT NULL,
	checkpoint TEXT NOT NULL
);
INSERT INTO head (id, size, checkpoint) VALUES (0, 0, '') ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS entries (
	idx BIGINT PRIMARY KEY,
	data BYTEA NOT NULL,
	time BIGINT NOT NULL,
	action TEXT NOT NULL,
	decision TEXT NOT NULL,
	principal TEXT NOT NULL,
	subject TEXT NOT NULL,
	key TEXT NOT NULL,
	version INTEGER NOT NULL,
	artifact TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_time ON entries (time);
CREATE INDEX IF NOT EXISTS entries_key ON entries (key, time);
CREATE INDEX IF NOT EXISTS entries_principal ON entries (principal, time);
CREATE INDEX IF NOT EXISTS entries_subject ON entries (subject, time);
CREATE TABLE IF NOT EXISTS digests (digest TEXT NOT NULL, idx BIGINT NOT NULL, PRIMARY KEY (digest, idx));
CREATE TABLE IF NOT EXISTS hashes (id BIGINT PRIMARY KEY, hash BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL, time BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS manifests (digest TEXT PRIMARY KEY, data BYTEA NOT NULL);
`

// OpenPostgres connects to the database named by dsn (a PostgreSQL URL or
// keyword/value string) and creates the log's tables if needed.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	db.SetMaxOpenConns(8)
	db.SetConnMaxIdleTime(time.Minute)
	// Replicas starting together race to create the tables; an advisory
	// lock makes that one at a time.
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("audit: connecting to PostgreSQL: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7166510)"); err != nil {
		db.Close()
		return nil, fmt.Errorf("audit: connecting to PostgreSQL: %w", err)
	}
	_, err = conn.ExecContext(ctx, postgresSchema)
	conn.ExecContext(ctx, "SELECT pg_advisory_unlock(7166510)")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("audit: creating the log tables: %w", err)
	}
	return &Postgres{db: db}, nil
}

func (p *Postgres) Close() error { return p.db.Close() }

func postgresHashQuery(n int) string {
	var b strings.Builder
	b.WriteString("SELECT id, hash FROM hashes WHERE id IN ($1")
	for i := 2; i <= n; i++ {
		b.WriteString(",$" + strconv.Itoa(i))
	}
	b.WriteString(")")
	return b.String()
}

func dollar(n int) string { return "$" + strconv.Itoa(n) }

func (p *Postgres) Append(ctx context.Context, build func(int64, tlog.HashReader) (*Batch, error)) (err error) {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var size int64
	if err := tx.QueryRowContext(ctx, "SELECT size FROM head WHERE id = 0 FOR UPDATE").Scan(&size); err != nil {
		return err
	}
	b, err := build(size, hashReader{ctx, tx, postgresHashQuery})
	if err != nil {
		return err
	}
	if err := insertBatch(ctx, tx, b, "$"); err != nil {
		return err
	}
	return tx.Commit()
}

func (p *Postgres) Head(ctx context.Context) (string, int64, error) {
	var note string
	var size int64
	err := p.db.QueryRowContext(ctx, "SELECT checkpoint, size FROM head WHERE id = 0").Scan(&note, &size)
	return note, size, err
}

func (p *Postgres) Hashes(ctx context.Context) tlog.HashReader {
	return hashReader{ctx, p.db, postgresHashQuery}
}

func (p *Postgres) Entries(ctx context.Context, start, end int64) ([][]byte, error) {
	return queryEntries(ctx, p.db, "SELECT idx, data FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx", start, end)
}

// Fields returns the search columns of entries [start, end).
func (p *Postgres) Fields(ctx context.Context, start, end int64) ([]StoredEntry, error) {
	return queryFields(ctx, p.db, "$", start, end)
}

func (p *Postgres) Checkpoints(ctx context.Context, after int64, limit int) ([]StoredCheckpoint, error) {
	return queryCheckpoints(ctx, p.db, "SELECT size, note, time FROM checkpoints WHERE size > $1 ORDER BY size LIMIT $2", after, limit)
}

func (p *Postgres) Search(ctx context.Context, q Query) ([]int64, error) {
	query, args := searchSQL(q, dollar)
	return querySearch(ctx, p.db, query, args)
}

func (p *Postgres) Manifest(ctx context.Context, digest string) ([]byte, error) {
	var b []byte
	err := p.db.QueryRowContext(ctx, "SELECT data FROM manifests WHERE digest = $1", digest).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return b, err
}

func (p *Postgres) Ping(ctx context.Context) error {
	_, err := p.db.ExecContext(ctx, "INSERT INTO signet_meta (k, v) VALUES ('ping', $1) ON CONFLICT (k) DO UPDATE SET v = excluded.v", time.Now().UTC().Format(time.RFC3339Nano))
	return err
}
