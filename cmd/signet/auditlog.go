package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/config"
)

// openLocalAudit opens the embedded audit log in the data directory: the
// tile log (config.AuditTiles), or a SQLite log (config.AuditDB) that was
// not migrated yet. A new deployment gets a tile log. readOnly opens an
// existing log for auditing beside a running server. It returns the store
// and where it is.
func openLocalAudit(data string, readOnly bool) (audit.Store, string, error) {
	cfg := &config.Config{Data: data}
	tiles, db := cfg.AuditTiles(), cfg.AuditDB()
	if audit.HasTiles(tiles) {
		var st *audit.TileStore
		var err error
		if readOnly {
			st, err = audit.OpenTilesReadOnly(tiles)
		} else {
			st, err = audit.OpenTiles(tiles)
		}
		return st, tiles, err
	}
	if _, err := os.Stat(db); err == nil {
		st, err := audit.OpenSQLite(db)
		return st, db, err
	}
	if readOnly {
		return nil, "", fmt.Errorf("no audit log in %s (neither %s nor %s)", data, tiles, db)
	}
	st, err := audit.OpenTiles(tiles)
	return st, tiles, err
}

// dataDir returns the data directory named by --data or by --config.
func dataDir(data, configFile string) (string, error) {
	if configFile != "" {
		cfg, err := config.Load(configFile)
		if err != nil {
			return "", err
		}
		if cfg.Audit.Postgres != "" {
			return "", errors.New("this server's audit log is in PostgreSQL: migrate and reindex are for the embedded log")
		}
		return cfg.Data, nil
	}
	return data, nil
}

// auditMigrate moves a SQLite audit log to a tile log with the same tree.
// The server must be stopped: the old log is locked against writers while
// it is copied, and checked unchanged before it is moved aside.
func auditMigrate(env *cmdEnv, fs *flag.FlagSet, args []string) error {
	data := fs.String("data", "", "")
	configFile := fs.String("config", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	dir, err := dataDir(*data, *configFile)
	if err != nil {
		return err
	}
	if len(pos) > 0 || dir == "" {
		return usagef("usage: signet audit migrate (--data DIR | --config FILE)")
	}
	cfg := &config.Config{Data: dir}
	db, tiles := cfg.AuditDB(), cfg.AuditTiles()
	if audit.HasTiles(tiles) {
		return fmt.Errorf("the audit log in %s is a tile log already", tiles)
	}
	if _, err := os.Stat(db); err != nil {
		return fmt.Errorf("no SQLite audit log to migrate in %s: %w", dir, err)
	}
	old, err := audit.OpenSQLite(db)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(env.ctx, time.Hour)
	defer cancel()
	r, err := audit.Migrate(ctx, old, tiles, nil)
	old.Close()
	if err != nil {
		return hintf("the old log is unchanged; check it with 'signet audit verify --data "+dir+"'", "migrating the audit log: %v", err)
	}
	// The switch: the old database (and its WAL and index) moves aside,
	// once closed (an open one would create a new file where it was),
	// unless a server still running appended to it meanwhile.
	if again, err := audit.OpenSQLite(db); err != nil {
		return err
	} else {
		_, size, err := again.Head(ctx)
		again.Close()
		if err != nil || size != r.Entries {
			os.RemoveAll(tiles)
			return hintf("stop the server, then run 'signet audit migrate' again", "the old log holds %d entries now, not the %d migrated: a server is still writing it (%v); nothing was switched", size, r.Entries, err)
		}
	}
	aside := db + ".migrated-" + time.Now().UTC().Format("20060102T150405Z")
	matches, _ := filepath.Glob(db + "*")
	for _, m := range matches {
		if strings.Contains(m, ".migrated-") {
			continue
		}
		if err := os.Rename(m, aside+strings.TrimPrefix(m, db)); err != nil {
			return fmt.Errorf("moving the old log aside (the tile log in %s is complete; move %s away by hand): %w", tiles, m, err)
		}
	}
	fmt.Fprintf(env.stdout, "migrated %d entries and %d manifests to %s: its tree has the root of each of the %d signed checkpoints of the old log\nthe old log is now %s\n",
		r.Entries, r.Manifests, tiles, r.Checkpoints, aside)
	return nil
}

// auditReindex rebuilds the search index of a tile log from the log.
func auditReindex(env *cmdEnv, fs *flag.FlagSet, args []string) error {
	data := fs.String("data", "", "")
	configFile := fs.String("config", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	dir, err := dataDir(*data, *configFile)
	if err != nil {
		return err
	}
	if len(pos) > 0 || dir == "" {
		return usagef("usage: signet audit reindex (--data DIR | --config FILE)")
	}
	tiles := (&config.Config{Data: dir}).AuditTiles()
	if !audit.HasTiles(tiles) {
		return hintf("move it to a tile log first with 'signet audit migrate --data "+dir+"'", "no tile log in %s", tiles)
	}
	st, err := audit.OpenTiles(tiles)
	if err != nil {
		return err
	}
	defer st.Close()
	t := time.Now()
	if err := st.Reindex(env.ctx); err != nil {
		return err
	}
	_, size, _ := st.Head(env.ctx)
	fmt.Fprintf(env.stdout, "rebuilt the search index of %s from its %d entries in %v\n", tiles, size, time.Since(t).Round(time.Millisecond))
	return nil
}
