package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/signet-dev/signet/agent"
	"github.com/signet-dev/signet/client"
)

// runAgent is 'signet agent': the local proxy of a build host.
func runAgent(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	socket := fs.String("socket", "", "")
	configFile := fs.String("config", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *configFile == "" {
		return usagef("usage: signet agent --config agent.yaml [--socket PATH]")
	}
	if err := agent.CheckNotSetuid(); err != nil {
		return err
	}
	cfg, err := agent.LoadConfig(*configFile)
	if err != nil {
		return err
	}
	path := cfg.Socket.Path
	if *socket != "" {
		path = *socket
	}
	if path == "" {
		path = agent.DefaultSocket
	}
	mode, err := cfg.SocketMode()
	if err != nil {
		return err
	}
	gid, err := cfg.SocketGroup()
	if err != nil {
		return err
	}
	cc, err := cfg.ClientConfig()
	if err != nil {
		return err
	}
	upstream, err := client.New(cc)
	if err != nil {
		return fmt.Errorf("agent config %s: %w", *configFile, err)
	}
	log := slog.New(slog.NewTextHandler(env.stderr, nil))
	if os.Geteuid() == 0 {
		log.Warn("running as root: run signet agent as a user of its own, which alone can read the host's key (docs/agent.md)")
	}
	a, err := agent.New(agent.Options{Upstream: upstream, Grants: cfg.Grants, Limits: cfg.Limits, Log: log})
	if err != nil {
		return err
	}
	ln, err := agent.Listen(path, mode, gid)
	if err != nil {
		return hintf(listenHint(err, gid), "%w", err)
	}
	defer ln.Close()
	log.Info("serving local users", "socket", path, "mode", fmt.Sprintf("%04o", mode), "servers", cc.Server)
	if err := a.Serve(env.ctx, ln, 30*time.Second); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// listenHint says how to fix what kept the agent from making its socket:
// giving it to a group the agent's user is not in, or a directory it
// cannot write.
func listenHint(err error, gid int) string {
	var pe *os.PathError
	if errors.As(err, &pe) && pe.Op == "lchown" {
		return fmt.Sprintf("the agent's user must be in group %d (socket.group) to give it the socket: add it ('usermod -aG GROUP signet-agent', or SupplementaryGroups=GROUP in its systemd unit) and start the agent again, or leave socket.group out", gid)
	}
	return "create the directory for the agent's user, e.g. 'install -d -o signet-agent -g signet -m 0750 /run/signet'"
}
