package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/config"
	"github.com/signet-dev/signet/incident"
)

const incidentUsage = `usage: signet incident report --key NAME [--version V] [--since T] [--until T] [--json] [-o FILE]
                              [--log-key KEY] [--data DIR | --config FILE | --postgres URL | --server URL]
       signet incident resign --report R --source DIR --key NEW [--log-key KEY]`

func runIncident(env *cmdEnv, args []string) error {
	if len(args) == 0 {
		return usagef("%s", incidentUsage)
	}
	switch args[0] {
	case "report":
		return incidentReport(env, args[1:])
	case "resign":
		return incidentResign(env, args[1:])
	}
	return usagef("unknown incident subcommand %q: use report or resign", args[0])
}

func incidentReport(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("incident report", flag.ContinueOnError)
	cf := clientFlags(fs)
	logKey := fs.String("log-key", os.Getenv("SIGNET_LOG_KEY"), "")
	key := fs.String("key", "", "")
	version := fs.Int("version", 0, "")
	since := fs.String("since", "", "")
	until := fs.String("until", "", "")
	asJSON := fs.Bool("json", false, "")
	out := fs.String("o", "", "")
	data := fs.String("data", "", "")
	pg := fs.String("postgres", "", "")
	configFile := fs.String("config", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *key == "" || *version < 0 {
		return usagef("%s", incidentUsage)
	}
	if err := needLogKey(*logKey); err != nil {
		return err
	}
	q := incident.Query{Key: *key, Version: *version}
	for _, t := range []struct {
		flag string
		s    string
		to   *time.Time
	}{{"since", *since, &q.Since}, {"until", *until, &q.Until}} {
		if t.s == "" {
			continue
		}
		if *t.to, err = time.Parse(time.RFC3339, t.s); err != nil {
			return usagef("--%s %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", t.flag, t.s)
		}
	}
	src, where, closeSrc, err := incidentSource(env, cf, *data, *pg, *configFile)
	if err != nil {
		return err
	}
	defer closeSrc()
	r, err := incident.Build(env.ctx, src, q, *logKey)
	if err != nil {
		return err
	}
	w, closeOut := env.stdout, func() error { return nil }
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		w, closeOut = f, f.Close
	}
	if *asJSON {
		b, err := r.Marshal()
		if err == nil {
			_, err = w.Write(b)
		}
		if err == nil {
			err = closeOut()
		}
		return err
	}
	printReport(w, r, where)
	return closeOut()
}

// incidentSource opens the audit log to report from: the store itself
// (--data, --postgres, --config) or the server's search API.
func incidentSource(env *cmdEnv, cf *clientOptions, data, pg, configFile string) (incident.Source, string, func(), error) {
	if configFile != "" {
		cfg, err := config.Load(configFile)
		if err != nil {
			return nil, "", nil, err
		}
		data, pg = cfg.Data, cfg.Audit.Postgres
	}
	switch {
	case pg != "":
		ctx, cancel := context.WithTimeout(env.ctx, 30*time.Second)
		defer cancel()
		st, err := audit.OpenPostgres(ctx, pg)
		if err != nil {
			return nil, "", nil, err
		}
		return &incident.StoreSource{Store: st}, "PostgreSQL", func() { st.Close() }, nil
	case data != "":
		st, where, err := openLocalAudit(data, true)
		if err != nil {
			return nil, "", nil, err
		}
		return &incident.StoreSource{Store: st}, where, func() { st.Close() }, nil
	}
	c, err := cf.client()
	if err != nil {
		return nil, "", nil, err
	}
	return &client.AuditSource{C: c}, cf.cfg.Server, func() {}, nil
}

// printReport writes r for people.
func printReport(w io.Writer, r *incident.Report, where string) {
	scope := "key " + r.Key + ", every version"
	if r.Version != 0 {
		scope = fmt.Sprintf("key %s version %d", r.Key, r.Version)
	}
	window := "from the start"
	if !r.Since.IsZero() {
		window = "from " + r.Since.UTC().Format(time.RFC3339)
	}
	if !r.Until.IsZero() {
		window += " until " + r.Until.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "incident report: %s, %s, over the %d entries of log %s (%s)\n", scope, window, r.Size, r.Log, where)
	count := func(what string, c incident.Count) {
		if c.N == 0 {
			fmt.Fprintf(w, "%-18s 0\n", what+":")
			return
		}
		fmt.Fprintf(w, "%-18s %d, first %s, last %s\n", what+":", c.N, c.First.UTC().Format(time.RFC3339), c.Last.UTC().Format(time.RFC3339))
	}
	count("signatures", r.Signatures)
	count("refused attempts", r.Refused)
	count("other acts", r.Other)
	fmt.Fprintf(w, "%-18s %d\n", "artifacts signed:", r.ArtifactCount)
	if len(r.Versions) > 0 {
		fmt.Fprintln(w, "\nby version:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  VERSION\tSIGNATURES\tREFUSED\tFIRST\tLAST")
		for _, v := range r.Versions {
			fmt.Fprintf(tw, "  %d\t%d\t%d\t%s\t%s\n", v.Version, v.Signatures.N, v.Refused.N, stamp(v.Signatures.First), stamp(v.Signatures.Last))
		}
		tw.Flush()
	}
	if len(r.Groups) > 0 {
		fmt.Fprintln(w, "\nby principal and token:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  PRINCIPAL\tKIND\tTOKEN\tSUBJECT\tSIGNATURES\tREFUSED\tFIRST\tLAST")
		for _, g := range r.Groups {
			first, last := g.Signatures.First, g.Signatures.Last
			if g.Signatures.N == 0 {
				first, last = g.Refused.First, g.Refused.Last
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", dash(g.Principal), g.Kind, dash(g.Token), dash(g.Subject), g.Signatures.N, g.Refused.N, stamp(first), stamp(last))
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nevery entry was proven in the log against %d signed checkpoint(s); --json writes them with their proofs, for 'signet incident resign'\n", len(r.Checkpoints))
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func incidentResign(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("incident resign", flag.ContinueOnError)
	cf := clientFlags(fs)
	logKey := fs.String("log-key", os.Getenv("SIGNET_LOG_KEY"), "")
	reportFile := fs.String("report", "", "")
	source := fs.String("source", "", "")
	key := fs.String("key", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *reportFile == "" || *source == "" || *key == "" {
		return usagef("%s", incidentUsage)
	}
	if err := needLogKey(*logKey); err != nil {
		return err
	}
	b, err := os.ReadFile(*reportFile)
	if err != nil {
		return err
	}
	r, err := incident.Parse(b, *logKey)
	if err != nil {
		return hintf("write the report with 'signet incident report --key NAME --json -o R'", "%s: %w", *reportFile, err)
	}
	if r.Key == *key {
		return hintf("rotate the key first ('signet key rotate "+*key+"') or name another key", "--key %s is the key the report is about: re-sign with a new key", *key)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	// The key is checked once, before any work: a key that is missing
	// or locked would otherwise fail every artifact alike.
	if _, err := c.Key(env.ctx, *key); err != nil {
		return fmt.Errorf("--key %s: %w; nothing was re-signed", *key, err)
	}
	items, err := client.LocateArtifacts(*source, r.Artifacts())
	if err != nil {
		return err
	}
	var done, total atomic.Int64
	live := startLine(env.stderr, func() string {
		d, t := done.Load(), max(total.Load(), 1)
		return fmt.Sprintf("re-signing %s %d/%d", bar(float64(d)/float64(t), 30), d, t)
	})
	c.Resign(env.ctx, *key, items, func(d, t int) { done.Store(int64(d)); total.Store(int64(t)) })
	live.stop()

	var ok, missing, mismatched, failed int
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	for _, it := range items {
		switch {
		case it.Resigned():
			ok++
			fmt.Fprintf(tw, "re-signed\t%s\t%s\n", it.Path, it.Signature)
		case strings.HasPrefix(it.Problem, "missing"):
			missing++
			fmt.Fprintf(tw, "MISSING\t%s\t%s\n", it.Name, it.Problem)
		case strings.HasPrefix(it.Problem, "mismatch"):
			mismatched++
			fmt.Fprintf(tw, "MISMATCH\t%s\t%s\n", it.Name, it.Problem)
		default:
			failed++
			fmt.Fprintf(tw, "FAILED\t%s\t%s\n", it.Name, it.Problem)
		}
	}
	tw.Flush()
	fmt.Fprintf(env.stdout, "%d artifacts reported: %d re-signed with key %s, %d missing, %d mismatched, %d failed\n",
		len(items), ok, *key, missing, mismatched, failed)
	if ok != len(items) {
		return fmt.Errorf("%d of %d artifacts were not re-signed; see the list above", len(items)-ok, len(items))
	}
	return nil
}
