package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/config"
	"github.com/signet-dev/signet/internal/dev"
	"github.com/signet-dev/signet/internal/harden"
	"github.com/signet-dev/signet/internal/logbuf"
	"github.com/signet-dev/signet/internal/sdlisten"
	"github.com/signet-dev/signet/keycert"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/server"
)

func runServe(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	devMode := fs.Bool("dev", false, "")
	data := fs.String("data", "signet-data", "")
	addr := fs.String("addr", "127.0.0.1:8443", "")
	configFile := fs.String("config", "", "")
	fs.String("metrics-addr", "", "") // read by applyOverrides
	fs.String("server-id", "", "")    // read by applyOverrides
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve takes no arguments, got %q", pos[0])
	}
	if *devMode == (*configFile != "") {
		return usagef("serve needs exactly one of --dev and --config FILE")
	}

	var cfg *config.Config
	var passphrase []byte
	var ln net.Listener
	if *devMode {
		fmt.Fprintln(env.stderr, dev.Warning)
		// The port first: a second server on it fails before it writes
		// anything into the data directory.
		if ln, err = listen(*addr); err != nil {
			return hintf("is another server running there? stop it, or give --addr another port (127.0.0.1:0 picks a free one)", "%w", err)
		}
		defer ln.Close()
		if cfg, passphrase, err = dev.Prepare(*data, *addr); err != nil {
			return fmt.Errorf("preparing development data directory %s: %w", *data, err)
		}
		if err := applyOverrides(fs, cfg); err != nil {
			return err
		}
	} else {
		if cfg, err = loadServeConfig(fs, *configFile); err != nil {
			return err
		}
	}

	logw := logbuf.New(env.stderr, 200*time.Millisecond)
	defer logw.Close()
	log := newLogger(logw, cfg.Log, *devMode)
	if !*devMode {
		// Before any key is unlocked: no core dumps, no ptrace by the
		// same user, no swapping where allowed.
		r := harden.Process()
		for what, err := range map[string]error{"core dumps (PR_SET_DUMPABLE)": r.NotDumpable, "core files (RLIMIT_CORE)": r.NoCore, "memory locking": r.Mlock} {
			if err != nil {
				log.Warn("hardening incomplete: "+what, "err", err)
			}
		}
	}
	dir, where, release, err := openKeystore(env.ctx, cfg, *devMode)
	if err != nil {
		return err
	}
	defer release()
	defer dir.Close()
	if err := cfg.AttachTokens(dir); err != nil {
		return err
	}
	ttl := cfg.Timeouts()
	if *devMode {
		ttl = keystore.Timeouts{} // a development keystore stays unlocked
	}
	keys := keystore.NewKeyring(dir, ttl)
	keys.SetRotation(cfg.RotateEvery)
	defer keys.Lock() // wipe keys and log out of tokens on the way out
	if passphrase != nil {
		if err := keys.Unlock("dev", passphrase, nil); err != nil {
			return fmt.Errorf("unlocking development keystore: %w", err)
		}
		if err := dev.EnsureAuditKey(dir, cfg.AuditKey()); err != nil {
			return err
		}
		if err := dev.EnsureKeyListKey(dir, cfg.KeyListKey()); err != nil {
			return err
		}
		if err := dev.EnsureTokenKey(dir, cfg); err != nil {
			return err
		}
	}
	rt, err := cfg.Build()
	if err != nil {
		return err
	}
	if ln == nil {
		if ln, err = listen(cfg.Listen); err != nil {
			return err
		}
		defer ln.Close()
	}
	store, err := openAuditStore(env, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	origin := cfg.AuditOrigin()
	if *devMode {
		// A development log keeps the origin chosen when it began, as a
		// deployment without a name does: the dev name is only the
		// audience of its tokens.
		origin = ""
	}
	if origin == "" {
		if origin, err = audit.DefaultOrigin(env.ctx, store); err != nil {
			return err
		}
	}
	if *devMode {
		cfg.Audit.Origin = origin // for client.env's log key; dev mode never reloads
	}
	var srv *server.Server
	metrics := server.NewMetrics()
	auditLog, err := audit.Open(env.ctx, audit.Options{
		Store: store, Origin: origin, CheckpointEvery: cfg.Audit.CheckpointEvery, Log: log,
		Key:         func() (crypto.Signer, error) { return srv.AuditKey() },
		Observe:     metrics.ObserveCommit,
		CommitDelay: cfg.AuditCommitDelay(),
		InFlight: func() int {
			if srv == nil {
				return 0
			}
			return srv.InFlight()
		},
	})
	if err != nil {
		return err
	}
	defer auditLog.Close()
	serverID := cfg.ServerID
	if serverID == "" {
		host, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		serverID = net.JoinHostPort(host, port)
	}
	watchCtx, stopKeystoreWatch := context.WithCancel(env.ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		dir.Watch(watchCtx, serverID, func(err error) { log.Warn("keystore: not following the fleet's key changes", "err", err) })
	}()
	defer func() { stopKeystoreWatch(); <-watchDone }()
	set := rt.Settings(cfg)
	opts := server.Options{Keys: keys, Policy: set.Policy, Authn: set.Authn, Tokens: set.Tokens, Catalogs: set.Catalogs,
		Limits: cfg.Limits, Log: log, Metrics: metrics,
		Audit: auditLog, AuditKey: cfg.AuditKey(), ServerID: serverID, Certs: certStore(cfg, dir),
		KeyListKey: cfg.KeyListKey(), Timestamp: cfg.TimestampOptions(), PublicLog: cfg.Audit.PublicTiles}
	if err := checkTokenSigningKey(cfg, keys, log); err != nil {
		return err
	}
	stopWatch, err := watchDenyList(env.ctx, cfg, rt, log)
	if err != nil {
		return err
	}
	srv = server.New(opts)
	tlsSwitch := server.NewTLSSwitch(rt.TLS)
	if _, err := keys.Key(cfg.AuditKey()); err != nil {
		log.Warn("no audit log key: signing is refused until an administrator creates it", "key", cfg.AuditKey(),
			"command", "signet key create "+cfg.AuditKey()+" --type ed25519 --usage audit")
	}

	if *devMode {
		logKey, err := devLogKey(keys, cfg)
		if err != nil {
			return err
		}
		clientEnv, err := dev.WriteClientEnv(*data, ln.Addr(), logKey)
		if err != nil {
			return err
		}
		// Comments, so that the output can still be sourced.
		fmt.Fprintf(env.stdout, "%s# Development server running. Point the client at it, then create a key and sign:\n#     . %s\n#     signet key create release --type ecdsa-p256\n#     signet sign --key release FILE\n",
			clientEnv, filepath.Join(*data, "client.env"))
	}
	if keys.Locked() {
		st := keys.Status()
		if st.Set != nil {
			log.Warn("keystore locked: signing is refused until custodians unlock it", "custodians", len(st.Set.Custodians), "threshold", st.Set.Threshold)
		} else {
			log.Warn("keystore locked: signing is refused until a custodian runs 'signet unlock'")
		}
	}
	ops, err := serveOps(cfg, rt, srv, metrics, log)
	if err != nil {
		return err
	}
	defer ops.stop()
	if *devMode {
		signal.Ignore(syscall.SIGHUP) // nothing to reload: the config is built in memory
	} else {
		r := &reloader{file: *configFile, flags: fs, running: cfg, srv: srv, keys: keys, log: log, tls: tlsSwitch,
			ops: ops.tls, verifier: rt.Authn.Tokens, stopWatch: stopWatch}
		go r.onSIGHUP(env.ctx)
	}
	log.Info("serving", "addr", ln.Addr().String(), "keystore", where, "metrics", ops.addr)
	drain := cfg.DrainTimeout
	if drain <= 0 {
		drain = 30 * time.Second
	}
	if err := srv.Serve(env.ctx, ln, tlsSwitch.Config(), drain); err != nil {
		return err
	}
	if err := auditLog.Close(); err != nil {
		return fmt.Errorf("flushing the audit log: %w", err)
	}
	log.Info("stopped: requests in flight finished, audit log flushed")
	return nil
}

// devLogKey is the verifier key of a development server's audit log,
// which its client.env pins.
func devLogKey(keys *keystore.Keyring, cfg *config.Config) (string, error) {
	k, err := keys.Key(cfg.AuditKey())
	if err != nil {
		return "", err
	}
	pub, ok := k.Public.(ed25519.PublicKey)
	if !ok {
		return "", fmt.Errorf("audit key %q is %s, not ed25519", k.Name, k.Type)
	}
	return audit.VerifierKey(cfg.AuditOrigin(), pub)
}

// newLogger returns the server's log: JSON lines in production (text in
// development, or as configured), buffered.
func newLogger(w io.Writer, c config.Log, dev bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.SlogLevel()}
	if c.Format == "text" || c.Format == "" && dev {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// listen returns the socket systemd passed (socket activation), or a new
// one on addr.
func listen(addr string) (net.Listener, error) {
	lns, err := sdlisten.Listeners()
	switch {
	case err != nil:
		return nil, err
	case len(lns) == 1:
		return lns[0], nil
	case len(lns) > 1:
		return nil, fmt.Errorf("systemd passed %d sockets; signet serves one (ListenStream= once in signet.socket)", len(lns))
	}
	return net.Listen("tcp", addr)
}

// openAuditStore opens the audit log's store: PostgreSQL for a fleet, else
// the embedded log in the data directory (openLocalAudit).
func openAuditStore(env *cmdEnv, cfg *config.Config) (audit.Store, error) {
	if dsn := cfg.Audit.Postgres; dsn != "" {
		ctx, cancel := context.WithTimeout(env.ctx, 30*time.Second)
		defer cancel()
		return audit.OpenPostgres(ctx, dsn)
	}
	st, _, err := openLocalAudit(cfg.Data, false)
	return st, err
}

// checkTokenSigningKey makes sure the key this replica issues tokens with
// is the one the verifiers list under its name. Replicas share one config
// but not necessarily one keystore: a replica without the key verifies
// tokens and issues none.
func checkTokenSigningKey(cfg *config.Config, keys *keystore.Keyring, log *slog.Logger) error {
	if cfg.Tokens == nil {
		return nil
	}
	name := cfg.Tokens.SigningKey
	if name == "" {
		return nil
	}
	k, err := keys.Key(name)
	if errors.Is(err, keystore.ErrNotFound) {
		log.Warn("this replica verifies tokens but issues none: its keystore has no tokens.signing_key", "key", name)
		return nil
	} else if err != nil {
		return fmt.Errorf("tokens.signing_key: %w", err)
	}
	if k.Usage != "token" {
		return hintf("create a key for tokens only: 'signet key create NEWNAME --type ed25519 --usage token'",
			"tokens.signing_key %q has usage %q: a token key must sign tokens and nothing else", name, k.Usage)
	}
	return cfg.CheckTokenSigningKey(k.Public)
}

// certStore is where certificate chains attached to keys live: in a
// fleet keystore's database, shared by the replicas, else in DATA/certs.
func certStore(cfg *config.Config, dir *keystore.Dir) server.CertStore {
	if b, ok := dir.SharedBlobs(); ok {
		return keycert.NewShared(b)
	}
	return keycert.NewDir(cfg.CertsDir())
}

// openKeystore opens the keystore cfg names: in PostgreSQL for a fleet,
// else the directory, claimed for this server alone.
func openKeystore(ctx context.Context, cfg *config.Config, devMode bool) (d *keystore.Dir, where string, release func(), err error) {
	if url := cfg.Keystore.Postgres; url != "" && !devMode {
		if d, err = keystore.OpenPostgres(ctx, url); err != nil {
			return nil, "", nil, err
		}
		return d, d.Path(), func() {}, nil
	}
	if release, err = keystore.LockServing(cfg.KeystoreDir()); err != nil {
		return nil, "", nil, err
	}
	if d, err = keystore.Open(cfg.KeystoreDir()); err != nil {
		release()
		return nil, "", nil, err
	}
	return d, cfg.KeystoreDir(), release, nil
}

// runKeystoreMigrate moves a keystore directory into PostgreSQL.
func runKeystoreMigrate(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("keystore migrate", flag.ContinueOnError)
	from := fs.String("from", "", "")
	to := fs.String("to", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *from == "" || *to == "" || len(pos) > 0 {
		return usagef("usage: signet keystore migrate --from DIR --to postgres://…")
	}
	names, err := keystore.MigrateToPostgres(env.ctx, *from, *to)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "keystore %s copied to PostgreSQL with %d keys (%s); set keystore.postgres in the config of every replica, restart them, and keep %s as a backup\n",
		*from, len(names), strings.Join(names, ", "), *from)
	return nil
}

func runKeystore(env *cmdEnv, args []string) error {
	if len(args) > 0 && args[0] == "migrate" {
		return runKeystoreMigrate(env, args[1:])
	}
	if len(args) == 0 || args[0] != "init" {
		return usagef("keystore: the subcommands are 'init' and 'migrate'")
	}
	fs := flag.NewFlagSet("keystore init", flag.ContinueOnError)
	dir := fs.String("dir", "", "")
	passFile := fs.String("passphrase-file", "", "")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if *dir == "" || len(pos) > 0 {
		return usagef("usage: signet keystore init --dir DIR [--passphrase-file FILE]")
	}
	pass, err := readPassphrase(env, *passFile, true)
	if err != nil {
		return err
	}
	if err := keystore.Init(*dir, pass); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "keystore created in %s\n", *dir)
	return nil
}

// readPassphrase reads a passphrase from file ("-" is standard input), or
// prompts without echo when standard input is a terminal.
func readPassphrase(env *cmdEnv, file string, confirm bool) ([]byte, error) {
	var b []byte
	var err error
	switch {
	case file == "-" || file == "" && !term.IsTerminal(int(os.Stdin.Fd())):
		b, err = bufio.NewReader(os.Stdin).ReadBytes('\n')
		if len(b) > 0 {
			err = nil
		}
	case file != "":
		b, err = os.ReadFile(file)
	default:
		fmt.Fprint(env.stderr, "Passphrase: ")
		b, err = term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(env.stderr)
		if err == nil && confirm {
			fmt.Fprint(env.stderr, "Again: ")
			again, err2 := term.ReadPassword(int(os.Stdin.Fd()))
			fmt.Fprintln(env.stderr)
			if err2 != nil || !bytes.Equal(b, again) {
				return nil, errors.New("the passphrases do not match")
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading passphrase: %w", err)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) == 0 {
		return nil, errors.New("empty passphrase")
	}
	return b, nil
}
