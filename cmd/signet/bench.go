package main

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/bench"
)

func runBench(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	cf := clientFlags(fs)
	key := fs.String("key", "", "")
	format := fs.String("format", "raw", "")
	conc := fs.Int("concurrency", 16, "")
	dur := fs.Duration("duration", 10*time.Second, "")
	reqs := fs.Int("requests", 0, "")
	batch := fs.Int("batch", 1, "")
	size := fs.String("size", "1KiB", "")
	pss := fs.Bool("rsa-pss", false, "")
	baseline := fs.Bool("baseline", false, "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *key == "" || len(pos) > 0 {
		return usagef("usage: signet bench --key NAME [--format raw] [--concurrency 16] [--duration 10s] [--requests N] [--batch N] [--size 1KiB] [--baseline]")
	}
	n, err := parseSize(*size)
	if err != nil {
		return usagef("--size %q: %v", *size, err)
	}
	if *dur > 10*time.Minute || *conc < 1 || *conc > 1024 || *batch < 1 {
		return usagef("bench is bounded: --duration at most 10m, --concurrency 1 to 1024, --batch at least 1")
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	k, err := c.Key(env.ctx, *key)
	if err != nil {
		return err
	}
	run, err := bench.Prepare(bench.SignLoad{Key: k, Format: *format, Batch: *batch, Size: n, Options: api.SignOptions{RSAPSS: *pss}})
	if err != nil {
		return err
	}
	opts := bench.Options{Concurrency: *conc, Duration: *dur, Requests: *reqs}
	fmt.Fprintf(env.stdout, "signet bench: %d connections, %s, key %s (%s), format %s, batch %d, %s artifacts\n",
		*conc, *dur, k.Name, k.Type, *format, *batch, *size)
	t := run.Target(c, *conc)
	defer t.Close()
	res, err := bench.Run(env.ctx, opts, t.Do)
	if err != nil {
		return err
	}
	report(env.stdout, "signet", res, *batch)
	if spread := t.Spread(); spread != nil {
		urls := slices.Sorted(maps.Keys(spread))
		for _, u := range urls {
			fmt.Fprintf(env.stdout, "%-9s %d requests to %s\n", "", spread[u], u)
		}
	}
	fmt.Fprintf(env.stdout, "%-9s %d responses' signatures verified, with receipts\n", "", run.Checked())
	if *baseline {
		b, err := bench.StartBaseline()
		if err != nil {
			return err
		}
		defer b.Close()
		_, tc, token := c.Endpoint()
		bt := b.Target(tc, token, run.Body(), *conc)
		defer bt.Close()
		bres, err := bench.Run(env.ctx, opts, bt.Do)
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		report(env.stdout, "baseline", bres, 0)
		fmt.Fprintf(env.stdout, "%-9s %.2f of the baseline's requests/s\n", "ratio", res.RequestsPerSecond()/bres.RequestsPerSecond())
	}
	if res.Errors > 0 {
		return fmt.Errorf("%d requests failed; the first: %w", res.Errors, res.FirstErr)
	}
	return nil
}

func report(w io.Writer, name string, r *bench.Result, batch int) {
	fmt.Fprintf(w, "%-9s %9.0f req/s", name, r.RequestsPerSecond())
	if batch > 0 {
		fmt.Fprintf(w, " %9.0f sigs/s", r.RequestsPerSecond()*float64(batch))
	}
	fmt.Fprintf(w, "   latency p50 %s p90 %s p99 %s max %s   %d requests, %d errors\n",
		r.Percentile(0.5).Round(time.Microsecond), r.Percentile(0.9).Round(time.Microsecond),
		r.Percentile(0.99).Round(time.Microsecond), r.Max().Round(time.Microsecond), r.Requests, r.Errors)
}

// parseSize parses 512, 1KiB, 4MiB.
func parseSize(s string) (int, error) {
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != s {
		return 0, fmt.Errorf("not a size such as 512, 1KiB or 4MiB")
	}
	if n*mult > 64<<20 {
		return 0, fmt.Errorf("at most 64MiB")
	}
	return n * mult, nil
}
