package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/config"
)

// writeReceipt saves the audit receipt of a signature beside it.
func writeReceipt(name string, r *audit.Receipt) error { return client.WriteReceipt(name, r) }

func runAudit(env *cmdEnv, args []string) error {
	if len(args) == 0 {
		return usagef("audit needs a subcommand: key, check-receipt, search, verify, watch, migrate or reindex")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("audit "+sub, flag.ContinueOnError)
	cf := clientFlags(fs)
	logKey := fs.String("log-key", os.Getenv("SIGNET_LOG_KEY"), "")
	switch sub {
	case "key":
		if _, err := parseFlags(fs, args); err != nil {
			return err
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		k, err := c.AuditKey(env.ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, k.VerifierKey)
		return nil
	case "check-receipt":
		return auditCheckReceipt(env, fs, logKey, args)
	case "search":
		return auditSearch(env, fs, cf, args)
	case "verify":
		return auditVerify(env, fs, cf, logKey, args)
	case "watch":
		return auditWatch(env, fs, cf, logKey, args)
	case "migrate":
		return auditMigrate(env, fs, args)
	case "reindex":
		return auditReindex(env, fs, args)
	}
	return usagef("unknown audit subcommand %q: use key, check-receipt, search, verify, watch, migrate or reindex", sub)
}

func needLogKey(k string) error {
	if k == "" {
		return hintf("get it once with 'signet audit key', check it out of band, and pin it (--log-key or $SIGNET_LOG_KEY)",
			"no log key: give the audit log's verifier key with --log-key or $SIGNET_LOG_KEY")
	}
	return nil
}

func auditCheckReceipt(env *cmdEnv, fs *flag.FlagSet, logKey *string, args []string) error {
	showEntry := fs.Bool("entry", false, "")
	sigFile := fs.String("signature", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: signet audit check-receipt --log-key KEY [--signature SIG] [--entry] FILE.sig.receipt")
	}
	if err := needLogKey(*logKey); err != nil {
		return err
	}
	b, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	var r audit.Receipt
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: not a receipt: %w", pos[0], err)
	}
	e, cp, err := audit.VerifyReceipt(&r, *logKey)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	// The signature beside the receipt must be the one the entry records.
	if *sigFile == "" {
		if s, ok := strings.CutSuffix(pos[0], ".receipt"); ok {
			if _, err := os.Stat(s); err == nil {
				*sigFile = s
			}
		}
	}
	if *sigFile != "" {
		sig, err := signatureIn(*sigFile, e)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(sig)
		if e.Artifact == nil || e.Artifact.Signature != fmt.Sprintf("sha256:%x", sum) {
			return fmt.Errorf("%s: the log records another signature than %s", pos[0], *sigFile)
		}
	}
	fmt.Fprintf(env.stdout, "receipt OK: entry %d of %s (checkpoint of %d entries)\n", r.Index, cp.Origin, cp.Size)
	fmt.Fprintf(env.stdout, "%s %s %s by %s", e.Time.Format(time.RFC3339), e.Action, e.Decision, describePrincipal(e.Principal))
	if e.Artifact != nil && e.Key != nil {
		fmt.Fprintf(env.stdout, ": %s with key %s (%s)", e.Artifact.Name, e.Key.Name, e.Format)
	}
	fmt.Fprintln(env.stdout)
	if *sigFile != "" {
		fmt.Fprintf(env.stdout, "signature %s is the one recorded\n", *sigFile)
	}
	if *showEntry {
		fmt.Fprintf(env.stdout, "%s\n", r.Entry)
	}
	return nil
}

func describePrincipal(p audit.Principal) string {
	s := p.Name
	if s == "" {
		s = p.Kind
	}
	if p.Subject != "" {
		s += " (token for " + p.Subject + ")"
	}
	if p.LocalUser != "" {
		s += " for local user " + p.LocalUser
	}
	return s
}

func auditSearch(env *cmdEnv, fs *flag.FlagSet, cf *clientOptions, args []string) error {
	q := url.Values{}
	for _, name := range []string{"key", "version", "principal", "digest", "name", "since", "until", "action", "decision"} {
		fs.Func(name, "", func(v string) error { q.Set(name, v); return nil })
	}
	asJSON := fs.Bool("json", false, "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("usage: signet audit search [--key K] [--version V] [--principal P] [--digest ALG:HEX] [--name GLOB] [--since T] [--until T] [--json]")
	}
	if d := q.Get("digest"); d != "" && !strings.Contains(d, ":") {
		q.Set("digest", "sha256:"+strings.ToLower(d))
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, searchHeader)
	}
	var first, last *api.AuditSearch
	n := 0
	for {
		page, err := c.Search(env.ctx, q)
		if err != nil {
			return err
		}
		if first == nil {
			first = page
		}
		last = page
		for _, m := range page.Matches {
			n++
			if *asJSON {
				fmt.Fprintf(env.stdout, "{\"index\":%d,\"entry\":%s}\n", m.Index, m.Entry)
				continue
			}
			if err := searchRow(tw, m); err != nil {
				return err
			}
		}
		if page.Next == 0 {
			break
		}
		q.Set("after", strconv.FormatInt(page.Next, 10))
	}
	// Entries recorded beyond the checkpoint come last and apart: durable,
	// but with no inclusion proof until a checkpoint covers them. In JSON
	// they are under their own field, so that nothing takes one for a
	// proven match.
	if *asJSON {
		for _, m := range last.Unproven {
			fmt.Fprintf(env.stdout, "{\"unproven\":{\"index\":%d,\"entry\":%s},\"reason\":%q}\n", m.Index, m.Entry, last.UnprovenReason)
		}
		return nil
	}
	tw.Flush()
	if len(last.Unproven) > 0 {
		fmt.Fprintf(env.stdout, "\nRECORDED SINCE THE CHECKPOINT, NOT YET PROVEN (no signed checkpoint covers them, so no inclusion proof):\n")
		tw = tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, searchHeader)
		for _, m := range last.Unproven {
			if err := searchRow(tw, m); err != nil {
				return err
			}
		}
		tw.Flush()
	}
	if first.Checkpoint != "" {
		cp, _ := audit.ParseUnverified(first.Checkpoint)
		fmt.Fprintf(env.stderr, "%d entries match, of the %d entries of %s in the checkpoint searched\n", n, cp.Size, cp.Origin)
	} else {
		fmt.Fprintf(env.stderr, "the audit log has no signed checkpoint yet\n")
	}
	if last.Recorded > last.Size && last.UnprovenReason != "" {
		more := ""
		if last.UnprovenMore {
			more = " (the first ones; narrow the search for the rest)"
		}
		since := " since"
		if first.Checkpoint == "" {
			since = ""
		}
		fmt.Fprintf(env.stderr, "%d more match among the %d entries recorded%s, which no signed checkpoint covers yet%s\n", len(last.Unproven), last.Recorded-last.Size, since, more)
		if len(last.Unproven) > 0 {
			fmt.Fprintf(env.stderr, "unproven: %s\n", last.UnprovenNote)
		}
	}
	return nil
}

const searchHeader = "INDEX\tTIME\tACTION\tDECISION\tPRINCIPAL\tKEY\tFORMAT\tARTIFACT"

// searchRow writes a match as a row under searchHeader.
func searchRow(tw *tabwriter.Writer, m audit.Match) error {
	e, err := audit.ParseEntry(m.Entry)
	if err != nil {
		return fmt.Errorf("entry %d: %w", m.Index, err)
	}
	key, art := "", ""
	if e.Key != nil {
		key = e.Key.Name
		if e.Key.Version > 0 {
			key += "@" + strconv.Itoa(e.Key.Version)
		}
	}
	if e.Artifact != nil {
		art = e.Artifact.Name
	}
	fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%q\n", m.Index, e.Time.Format(time.RFC3339), e.Action, e.Decision, describePrincipal(e.Principal), key, e.Format, art)
	return nil
}

func auditVerify(env *cmdEnv, fs *flag.FlagSet, cf *clientOptions, logKey *string, args []string) error {
	data := fs.String("data", "", "")
	pg := fs.String("postgres", "", "")
	configFile := fs.String("config", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("usage: signet audit verify --log-key KEY (--data DIR | --config FILE | --postgres URL | --server URL)")
	}
	if err := needLogKey(*logKey); err != nil {
		return err
	}
	var src audit.Source
	var where string
	switch {
	case *configFile != "":
		cfg, err := config.Load(*configFile)
		if err != nil {
			return err
		}
		*data, *pg = cfg.Data, cfg.Audit.Postgres
		fallthrough
	case *pg != "" || *data != "":
		var st audit.Store
		if *pg != "" {
			ctx, cancel := context.WithTimeout(env.ctx, 30*time.Second)
			st, err = audit.OpenPostgres(ctx, *pg)
			cancel()
			where = "PostgreSQL"
		} else {
			st, where, err = openLocalAudit(*data, true)
		}
		if err != nil {
			return err
		}
		defer st.Close()
		src = st
	default:
		c, err := cf.client()
		if err != nil {
			return err
		}
		src, where = c, cf.cfg.Server
	}
	r, err := audit.Verify(env.ctx, src, *logKey)
	if err != nil {
		return err
	}
	if !r.OK() {
		for _, p := range r.Problems {
			fmt.Fprintf(env.stdout, "BAD: %s\n", p)
		}
		if r.FirstBad >= 0 {
			return fmt.Errorf("audit log %s FAILS verification: first bad entry %d", where, r.FirstBad)
		}
		return fmt.Errorf("audit log %s FAILS verification", where)
	}
	fmt.Fprintf(env.stdout, "audit log %s OK: %d entries, %d signed checkpoints, all consistent\n", where, r.Size, r.Checkpoints)
	return nil
}

// errInconsistent makes watch exit with status 3, distinct from failing to
// reach the server.
type exitCode struct {
	error
	code int
}

func (e *exitCode) Unwrap() error { return e.error }

func auditWatch(env *cmdEnv, fs *flag.FlagSet, cf *clientOptions, logKey *string, args []string) error {
	stateFile := fs.String("state", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *stateFile == "" {
		return usagef("usage: signet audit watch --server URL --log-key KEY --state FILE")
	}
	if err := needLogKey(*logKey); err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(*stateFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	prev, err := audit.ParseWatchState(b)
	if err != nil {
		return err
	}
	next, cp, err := audit.Watch(env.ctx, c, *logKey, prev)
	if errors.Is(err, audit.ErrInconsistent) {
		return &exitCode{fmt.Errorf("ALERT: %w; keep %s as evidence", err, *stateFile), 3}
	}
	if err != nil {
		return err
	}
	out, _ := json.MarshalIndent(next, "", "  ")
	tmp := *stateFile + ".tmp"
	if err := os.WriteFile(tmp, append(out, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, *stateFile); err != nil {
		return err
	}
	if prev == nil {
		fmt.Fprintf(env.stdout, "%s: first checkpoint seen: %d entries\n", cp.Origin, cp.Size)
	} else {
		fmt.Fprintf(env.stdout, "%s: consistent, %d entries\n", cp.Origin, cp.Size)
	}
	return nil
}
