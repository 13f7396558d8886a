package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/config"
	"github.com/signet-dev/signet/keystore"
)

// runConfig runs 'signet config check FILE': the server's own parser and
// builder over FILE and every file it names (certificates, CAs, token
// keys, deny list, catalogs' signers), offline, with each problem at its
// line.
func runConfig(env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] != "check" {
		return usagef("config: the only subcommand is 'check': signet config check FILE")
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: signet config check FILE")
	}
	file := pos[0]
	// Every problem in one run: the file's own, then those of the files
	// it names and of the data it would serve, even when the first failed.
	cfg, err := config.LoadAll(file)
	if es := (config.Errors)(nil); cfg == nil && !errors.As(err, &es) {
		return err
	}
	var all config.Errors
	add := func(err error) {
		var es config.Errors
		var e *config.Error
		switch {
		case err == nil:
		case errors.As(err, &es):
			all = append(all, es...)
		case errors.As(err, &e):
			all = append(all, e)
		default:
			all = append(all, &config.Error{File: file, Err: err})
		}
	}
	add(err)
	if cfg != nil {
		_, err := cfg.Build()
		add(err)
		add(checkAuditOrigin(env, cfg))
		if err == nil {
			add(checkConfigKeys(env, cfg))
		}
	}
	if len(all) > 0 {
		for _, e := range all {
			fmt.Fprintln(env.stderr, e)
		}
		return &exitCode{fmt.Errorf("%s: %s; the server would refuse to start (or to reload) with it", file, plural(len(all), "problem")), 1}
	}
	fmt.Fprintf(env.stdout, "%s: OK\n", file)
	return nil
}

// checkConfigKeys checks the keys the config names against the keystore,
// where it can be read from here (its directory, or its database within
// a few seconds): the checks the server makes at start. Keys are public
// parts only; nothing is unlocked. An unreachable keystore is noted, not
// a problem: the check also runs where only the config is.
func checkConfigKeys(env *cmdEnv, cfg *config.Config) error {
	var d *keystore.Dir
	var err error
	if url := cfg.Keystore.Postgres; url != "" {
		ctx, cancel := context.WithTimeout(env.ctx, 5*time.Second)
		defer cancel()
		d, err = keystore.OpenPostgres(ctx, url)
	} else if _, serr := os.Stat(filepath.Join(cfg.KeystoreDir(), "keystore.json")); serr == nil {
		d, err = keystore.Open(cfg.KeystoreDir())
	} else {
		fmt.Fprintf(env.stderr, "note: keys not checked: no keystore at %s here\n", cfg.KeystoreDir())
		return nil
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "note: keys not checked: %v\n", err)
		return nil
	}
	defer d.Close()
	return checkTokenSigningKey(cfg, keystore.NewKeyring(d, keystore.Timeouts{}), slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// checkAuditOrigin compares the origin the configuration gives its audit
// log with the one of the log already in its data directory, read only:
// the server refuses to start when they differ.
func checkAuditOrigin(env *cmdEnv, cfg *config.Config) error {
	if cfg.Audit.Postgres != "" {
		return nil // a fleet's log is checked by the server that opens it
	}
	if !audit.HasTiles(cfg.AuditTiles()) {
		if _, err := os.Stat(cfg.AuditDB()); err != nil {
			return nil // no log yet: any name is fine
		}
	}
	store, where, err := openLocalAudit(cfg.Data, true)
	if err != nil {
		return fmt.Errorf("the audit log in %s: %w", cfg.Data, err)
	}
	defer store.Close()
	head, _, err := store.Head(env.ctx)
	if err != nil || head == "" {
		return err
	}
	c, err := audit.ParseUnverified(head)
	if err != nil {
		return fmt.Errorf("the audit log in %s: %w", where, err)
	}
	return cfg.AuditOriginError(c.Origin)
}
