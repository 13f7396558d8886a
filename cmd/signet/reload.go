package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/signet-dev/signet/config"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/server"
	"github.com/signet-dev/signet/token"
)

// loadServeConfig loads the config file and applies the command line's
// overrides: replicas may share one file and differ only in these.
func loadServeConfig(fs *flag.FlagSet, file string) (*config.Config, error) {
	cfg, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	if err := applyOverrides(fs, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func applyOverrides(fs *flag.FlagSet, cfg *config.Config) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		switch v := f.Value.String(); f.Name {
		case "addr":
			cfg.Listen = v
		case "data":
			cfg.Data = v
		case "metrics-addr":
			err = cfg.SetMetricsListen(v)
		case "server-id":
			cfg.ServerID = v // each replica's own, where they share one config file
		}
	})
	return err
}

// watchDenyList polls the deny list of cfg's tokens into rt's verifier
// until the returned function is called (at a reload) or ctx ends.
func watchDenyList(ctx context.Context, cfg *config.Config, rt *config.Runtime, log *slog.Logger) (stop func(), err error) {
	t := cfg.Tokens
	if t == nil || t.DenyList == "" {
		return func() {}, nil
	}
	poll := t.DenyListPoll
	if poll <= 0 {
		poll = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	err = rt.Authn.Tokens.WatchDenyList(ctx, t.DenyList, poll, func(err error) {
		log.Error("token deny list not reloaded; the previous one stays in force", "file", t.DenyList, "err", err)
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("tokens.deny_list: %w", err)
	}
	return cancel, nil
}

// opsListener is the listener of /metrics, /healthz and /readyz.
type opsListener struct {
	addr string            // "" when off
	tls  *server.TLSSwitch // nil when plain HTTP
	hs   *http.Server
}

// serveOps starts the metrics listener if the config has one.
func serveOps(cfg *config.Config, rt *config.Runtime, srv *server.Server, m *server.Metrics, log *slog.Logger) (*opsListener, error) {
	o := &opsListener{}
	if cfg.Metrics.Listen == "" {
		return o, nil
	}
	ln, err := net.Listen("tcp", cfg.Metrics.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen: %w", err)
	}
	o.addr = ln.Addr().String()
	o.hs = &http.Server{
		Handler:           srv.OpsHandler(m.Handler()),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if rt.MetricsTLS != nil {
		o.tls = server.NewTLSSwitch(rt.MetricsTLS)
		o.hs.TLSConfig = o.tls.Config()
		go o.hs.ServeTLS(ln, "", "")
	} else {
		go o.hs.Serve(ln)
	}
	return o, nil
}

// stop closes the metrics listener: the last thing to go, so that
// /readyz says "shutting down" while the API drains.
func (o *opsListener) stop() {
	if o.hs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	o.hs.Shutdown(ctx)
}

// reloader applies the config file again at each SIGHUP.
type reloader struct {
	file    string
	flags   *flag.FlagSet
	running *config.Config // as started: what a restart would change is compared to it
	srv     *server.Server
	keys    *keystore.Keyring
	log     *slog.Logger
	tls     *server.TLSSwitch
	ops     *server.TLSSwitch // of the metrics listener; nil if plain or off

	verifier  *token.Verifier // the one in force
	stopWatch func()          // stops the deny-list watcher of verifier
}

func (r *reloader) onSIGHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload(ctx)
		}
	}
}

// reload loads the file, builds everything it names, and swaps it in;
// if anything fails, nothing changes and the log says why.
func (r *reloader) reload(ctx context.Context) {
	details := map[string]string{"file": r.file}
	if b, err := os.ReadFile(r.file); err == nil {
		sum := sha256.Sum256(b)
		details["config_sha256"] = hex.EncodeToString(sum[:])
	}
	refuse := func(err error) {
		r.log.Error("config reload refused; the running configuration stays", "file", r.file, "err", err)
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		r.srv.RecordFailedReload(rctx, err, details)
	}
	next, err := loadServeConfig(r.flags, r.file)
	if err != nil {
		refuse(err)
		return
	}
	rt, err := next.Build()
	if err != nil {
		refuse(err)
		return
	}
	if err := checkTokenSigningKey(next, r.keys, r.log); err != nil {
		refuse(err)
		return
	}
	// A reload never lifts a revocation: the deny list in force is
	// replaced only by one at least as recent.
	if r.verifier != nil && rt.Authn.Tokens != nil {
		if old := r.verifier.DenyList(); old != nil {
			if cur := rt.Authn.Tokens.DenyList(); cur == nil || cur.IssuedAt < old.IssuedAt {
				refuse(fmt.Errorf("tokens.deny_list: the deny list in force (issued %s) is newer than the configured one; a reload never lifts revocations (restart to do so deliberately)",
					time.Unix(old.IssuedAt, 0).UTC().Format(time.RFC3339)))
				return
			}
		}
	}
	fixed := r.running.FixedFields(next)
	if len(fixed) > 0 {
		details["restart_needed"] = strings.Join(fixed, ",")
	}
	stopWatch, err := watchDenyList(ctx, next, rt, r.log)
	if err != nil {
		refuse(err)
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := r.srv.Reload(rctx, rt.Settings(next), details); err != nil {
		stopWatch()
		r.log.Error("config reload refused; the running configuration stays", "file", r.file, "err", err)
		return
	}
	r.tls.Set(rt.TLS)
	if r.ops != nil && rt.MetricsTLS != nil {
		r.ops.Set(rt.MetricsTLS)
	}
	r.stopWatch()
	r.stopWatch, r.verifier = stopWatch, rt.Authn.Tokens
	if len(fixed) > 0 {
		r.log.Warn("config reloaded, except fields that only a restart applies", "file", r.file, "restart_needed", fixed)
	} else {
		r.log.Info("config reloaded", "file", r.file)
	}
}
