// Package bench is Signet's load generator: a closed loop of concurrent
// workers, each sending one request, waiting for its answer and sending the
// next, for a fixed time or number of requests. It measures throughput and
// the latency distribution; what a request is, and how its answer is
// checked, is the caller's.
//
// Closed-loop load is what a build farm does to a signing server: a fixed
// number of workers, each waiting for its signature. It cannot overload
// the server, so latencies are those of a server at its own pace, not of
// a queue growing without bound.
//
// Compare figures only with a baseline measured in the same run, with the
// same client, connections and request (Baseline): on a shared machine the
// absolute numbers move with everything else running, the ratio much less.
package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options bound a run. A run stops at whichever limit comes first.
type Options struct {
	Concurrency int           // workers, each with its own request in flight (default 16)
	Duration    time.Duration // how long to run (default 10s)
	Requests    int           // most requests in all; 0: no limit
	Warmup      int           // requests per worker before measuring (default 1: opens the connections)
}

// A Request sends one request and reports whether it succeeded.
type Request func(ctx context.Context) error

// Result is what a run measured.
type Result struct {
	Requests  int           // completed successfully while measuring
	Errors    int           // failed while measuring
	FirstErr  error         // the first failure, for the report
	Elapsed   time.Duration // measured time
	latencies []time.Duration
}

// RequestsPerSecond is the throughput of successful requests.
func (r *Result) RequestsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Percentile returns the latency below which fraction p (0 to 1) of the
// successful requests completed.
func (r *Result) Percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(p*float64(len(r.latencies)) + 0.5)
	return r.latencies[min(max(i, 1), len(r.latencies))-1]
}

// Max is the slowest successful request.
func (r *Result) Max() time.Duration { return r.Percentile(1) }

// Run drives do from opts.Concurrency workers until a limit is reached or
// ctx is done, and measures. Warm-up requests must succeed.
func Run(ctx context.Context, opts Options, do Request) (*Result, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.Duration <= 0 {
		opts.Duration = 10 * time.Second
	}
	if opts.Warmup <= 0 {
		opts.Warmup = 1
	}
	// Warm up: every worker completes its first requests, so that
	// connections are open and TLS handshakes are not measured.
	var wg sync.WaitGroup
	errs := make(chan error, opts.Concurrency)
	for range opts.Concurrency {
		wg.Go(func() {
			for range opts.Warmup {
				if err := do(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, fmt.Errorf("warm-up request failed: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	var issued atomic.Int64
	type worker struct {
		latencies []time.Duration
		errors    int
		first     error
	}
	workers := make([]worker, opts.Concurrency)
	start := time.Now()
	for i := range workers {
		w := &workers[i]
		w.latencies = make([]time.Duration, 0, 4096)
		wg.Go(func() {
			for ctx.Err() == nil {
				if opts.Requests > 0 && issued.Add(1) > int64(opts.Requests) {
					return
				}
				t := time.Now()
				err := do(ctx)
				d := time.Since(t)
				switch {
				case err == nil:
					w.latencies = append(w.latencies, d)
				case ctx.Err() != nil && errors.Is(err, ctx.Err()):
					return // stopped by the deadline, not a failure
				default:
					w.errors++
					if w.first == nil {
						w.first = err
					}
				}
			}
		})
	}
	wg.Wait()
	r := &Result{Elapsed: time.Since(start)}
	for _, w := range workers {
		r.latencies = append(r.latencies, w.latencies...)
		r.Errors += w.errors
		if r.FirstErr == nil {
			r.FirstErr = w.first
		}
	}
	slices.Sort(r.latencies)
	r.Requests = len(r.latencies)
	return r, nil
}
