package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/signet-dev/signet/config"
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
	fmt.Fprintf(env.stdout, "%s: OK\n", file)
	return nil
}
