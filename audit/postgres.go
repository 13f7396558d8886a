package audit

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// OpenPostgres connects to the database named by dsn (a PostgreSQL URL or
// keyword/value string) and creates the log's tables if needed: the Store
// of a fleet, every replica appending to one log.
//
// Appends are sequenced by a row lock on the log's head (SELECT … FOR
// UPDATE), so concurrent writers from several processes each see the size
// the previous one committed and never reuse an index. Commits are durable
// when PostgreSQL says so (synchronous_commit on, its default).
func OpenPostgres(ctx context.Context, dsn string) (*SQLStore, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	db.SetMaxOpenConns(8)
	db.SetConnMaxIdleTime(time.Minute)
	d := dialect{name: "postgres", ph: func(n int) string { return "$" + strconv.Itoa(n) },
		lockHead: "SELECT size, last_time FROM head WHERE id = 0 FOR UPDATE"}
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
	ix := &termIndex{w: db, r: db, d: d, begin: "SET LOCAL synchronous_commit TO OFF"}
	_, err = conn.ExecContext(ctx, d.schema()+ix.schema())
	conn.ExecContext(ctx, "SELECT pg_advisory_unlock(7166510)")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("audit: creating the log tables: %w", err)
	}
	s, err := newSQLStore(db, db, d)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.ix = ix
	return s, nil
}
