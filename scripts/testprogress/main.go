// Command testprogress turns the event stream of 'go test -json' into
// the progress of a long test run: a line per package as it finishes,
// with its time; the whole output of every failed test (and of a package
// that failed outside its tests, or did not build); a line every
// --every while packages are still running, naming the tests that have
// run longest; and a summary. It exits 1 if anything failed, so that
// scripts/test can stop on it.
//
// Usage:
//
//	go test -json ./... | go run ./scripts/testprogress [--every 30s]
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// event is one line of 'go test -json' (cmd/test2json).
type event struct {
	Time       time.Time
	Action     string
	Package    string
	ImportPath string // build-output and build-fail
	Test       string
	Elapsed    float64
	Output     string
}

// run is what is known of the packages and tests so far.
type run struct {
	mu       sync.Mutex
	w        io.Writer
	start    time.Time
	running  map[string]time.Time // package → start
	tests    map[string]time.Time // "pkg TestName" → start
	output   map[string][]string  // "pkg TestName" (or "pkg") → its output
	passed   int
	failed   []string
	sawEvent bool
}

func main() {
	every := flag.Duration("every", 30*time.Second, "how often to say what is still running")
	flag.Parse()
	r := &run{w: os.Stdout, start: time.Now(), running: map[string]time.Time{}, tests: map[string]time.Time{}, output: map[string][]string{}}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(*every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.heartbeat()
			case <-done:
				return
			}
		}
	}()
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// Not an event: the go command's own messages (a vet or
			// setup failure). Shown as they are.
			fmt.Fprintln(r.w, sc.Text())
			continue
		}
		r.handle(e)
	}
	close(done)
	if err := sc.Err(); err != nil {
		fmt.Fprintf(r.w, "testprogress: reading go test's output: %v\n", err)
		os.Exit(1)
	}
	os.Exit(r.summary())
}

func (r *run) handle(e event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sawEvent = true
	switch e.Action {
	case "build-output":
		r.output[e.ImportPath] = append(r.output[e.ImportPath], e.Output)
	case "build-fail":
		r.failed = append(r.failed, e.ImportPath)
		fmt.Fprintf(r.w, "  FAIL  %s: does not build\n%s", e.ImportPath, strings.Join(r.output[e.ImportPath], ""))
	case "start":
		r.running[e.Package] = e.Time
	case "run":
		r.tests[e.Package+" "+e.Test] = e.Time
	case "output":
		k := e.Package
		if e.Test != "" {
			k += " " + e.Test
		}
		r.output[k] = append(r.output[k], e.Output)
	case "pass", "skip":
		if e.Test != "" {
			r.forget(e.Package + " " + e.Test)
			return
		}
		delete(r.running, e.Package)
		r.passed++
		fmt.Fprintf(r.w, "  ok    %-50s %6.1fs   (%s)\n", e.Package, e.Elapsed, r.elapsed())
		r.forgetPackage(e.Package)
	case "fail":
		if e.Test != "" {
			k := e.Package + " " + e.Test
			if !strings.Contains(e.Test, "/") || len(r.output[k]) > 0 {
				fmt.Fprintf(r.w, "  --- FAIL %s %s (%.1fs)\n%s", e.Package, e.Test, e.Elapsed, strings.Join(r.output[k], ""))
			}
			r.forget(k)
			return
		}
		delete(r.running, e.Package)
		r.failed = append(r.failed, e.Package)
		fmt.Fprintf(r.w, "  FAIL  %-50s %6.1fs   (%s)\n%s", e.Package, e.Elapsed, r.elapsed(), strings.Join(r.output[e.Package], ""))
		r.forgetPackage(e.Package)
	}
}

func (r *run) forget(k string) {
	delete(r.tests, k)
	delete(r.output, k)
}

func (r *run) forgetPackage(pkg string) {
	for k := range r.tests {
		if strings.HasPrefix(k, pkg+" ") {
			delete(r.tests, k)
		}
	}
	for k := range r.output {
		if k == pkg || strings.HasPrefix(k, pkg+" ") {
			delete(r.output, k)
		}
	}
}

func (r *run) elapsed() string { return time.Since(r.start).Round(time.Second).String() }

// heartbeat says which packages are still running, and their longest
// running tests.
func (r *run) heartbeat() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.running) == 0 {
		fmt.Fprintf(r.w, "  …     %s: building and starting packages\n", r.elapsed())
		return
	}
	var pkgs []string
	for p := range r.running {
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	now := time.Now()
	for _, p := range pkgs {
		type t struct {
			name string
			d    time.Duration
		}
		var ts []t
		for k, s := range r.tests {
			if name, ok := strings.CutPrefix(k, p+" "); ok && strings.Count(name, "/") <= 1 {
				ts = append(ts, t{name, now.Sub(s)})
			}
		}
		slices.SortFunc(ts, func(a, b t) int { return int(b.d - a.d) })
		var names []string
		for _, x := range ts[:min(3, len(ts))] {
			names = append(names, fmt.Sprintf("%s %s", x.name, x.d.Round(time.Second)))
		}
		fmt.Fprintf(r.w, "  …     %s: %s running for %s: %s\n", r.elapsed(), p, now.Sub(r.running[p]).Round(time.Second), strings.Join(names, ", "))
	}
}

// summary prints the totals and returns the exit code.
func (r *run) summary() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.sawEvent {
		fmt.Fprintln(r.w, "testprogress: no test events: did go test run with -json?")
		return 1
	}
	if len(r.failed) > 0 {
		fmt.Fprintf(r.w, "%d packages passed, %d failed in %s: %s\n", r.passed, len(r.failed), r.elapsed(), strings.Join(r.failed, ", "))
		return 1
	}
	fmt.Fprintf(r.w, "%d packages passed in %s\n", r.passed, r.elapsed())
	return 0
}
