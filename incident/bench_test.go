package incident

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/signet-dev/signet/audit"
)

// benchLog is a log of 100,000 random entries (randomEntry: half of them
// about key "release", a third of those of its version 2), appended in
// commits of 64 entries, as group commit writes them under load. It is
// built once per process, in a directory removed at exit.
var benchLog = sync.OnceValues(func() (*testLog, error) {
	dir, err := os.MkdirTemp("", "incident-bench-")
	if err != nil {
		return nil, err
	}
	benchDir = dir
	tb := &onceTB{dir: dir}
	l := newTestLog(tb, dir)
	l.fill(tb, 100_000, 64, 42)
	// Closed and opened again, as a server restarted or a --data reader
	// sees it: the write-ahead log folded into the database, as the
	// store's checkpointer keeps it in service.
	l.log.Close()
	l.store.Close()
	if l.store, err = audit.OpenSQLite(filepath.Join(dir, "log.db")); err != nil {
		return nil, err
	}
	return l, tb.err
})

// benchDir is removed by TestMain.
var benchDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// BenchmarkReport measures incident reports over a log of 100,000
// entries against a baseline measured in the same run: a brute-force
// scan that reads and parses every entry of the log (what a report
// without the log's search columns would have to do), reporting the
// ratio. Each report proves every entry it returns and checks every
// proof.
//
//	go test -run '^$' -bench Report -benchtime 5x ./incident
func BenchmarkReport(b *testing.B) {
	l, err := benchLog()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	_, size, _ := l.store.Head(ctx)
	scan := func() int {
		n := 0
		for start := int64(0); start < size; start += 1000 {
			data, err := l.store.Entries(ctx, start, min(start+1000, size))
			if err != nil {
				b.Fatal(err)
			}
			for _, d := range data {
				if e, _ := audit.ParseEntry(d); e.Key != nil && e.Key.Name == "release" {
					n++
				}
			}
		}
		return n
	}
	var baseline float64
	b.Run("scan-baseline", func(b *testing.B) {
		for b.Loop() {
			scan()
		}
		baseline = b.Elapsed().Seconds() / float64(b.N)
	})
	for _, q := range []Query{{Key: "release"}, {Key: "release", Version: 2}, {Key: "nightly", Since: l.t0.Add(90_000 * 60e9)}} {
		name := "key"
		switch {
		case q.Version != 0:
			name = "version"
		case !q.Since.IsZero():
			name = "window"
		}
		b.Run(name, func(b *testing.B) {
			var r *Report
			cpu0 := cpuTime()
			for b.Loop() {
				var err error
				if r, err = Build(ctx, &StoreSource{Store: l.store}, q, l.vkey); err != nil {
					b.Fatal(err)
				}
			}
			per := b.Elapsed().Seconds() / float64(b.N)
			// CPU time of the process (every goroutine, server included)
			// per report: steadier than wall time on a shared machine.
			b.ReportMetric((cpuTime()-cpu0).Seconds()*1000/float64(b.N), "cpu-ms/report")
			b.ReportMetric(float64(len(r.Entries)), "entries")
			b.ReportMetric(per*1000, "ms/report")
			if baseline > 0 {
				b.ReportMetric(per/baseline, "x-scan")
			}
		})
	}
}

// onceTB is the testing.TB of a fixture built outside any one benchmark.
type onceTB struct {
	testing.TB
	dir string
	err error
}

func (o *onceTB) Helper()                      {}
func (o *onceTB) TempDir() string              { return filepath.Join(o.dir) }
func (o *onceTB) Cleanup(func())               {}
func (o *onceTB) Fatal(args ...any)            { panic(args) }
func (o *onceTB) Fatalf(f string, args ...any) { panic(f) }

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
