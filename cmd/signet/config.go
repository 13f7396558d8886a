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
	cfg, err := config.Load(file)
	if err == nil {
		_, err = cfg.Build()
	}
	var es config.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			fmt.Fprintln(env.stderr, e)
		}
		return &exitCode{fmt.Errorf("%s: %d problem(s); the server would refuse to start (or to reload) with it", file, len(es)), 1}
	}
	if err != nil {
		return err
	}
	if err := checkConfigKeys(env, cfg); err != nil {
		fmt.Fprintln(env.stderr, err)
		return &exitCode{fmt.Errorf("%s: 1 problem(s); the server would refuse to start with it", file), 1}
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
