package audit

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkAppend measures durable entries per second with group commit:
// 16 goroutines each append one entry at a time and wait for its receipt,
// as 16 concurrent signing requests do. It reports entries/s and the mean
// entries per commit (one transaction, one fsync each).
//
//	go test -run '^$' -bench Append -benchtime 5s ./audit
//
// The "+delay" variants commit as 'signet serve' does by default: a commit
// waits up to 200 µs for the appenders in flight (Options.CommitDelay).
func BenchmarkAppend(b *testing.B) {
	for _, be := range backends(nil) {
		for _, delay := range []time.Duration{0, 200 * time.Microsecond} {
			name := be.name
			if delay > 0 {
				name += "+delay"
			}
			b.Run(name, func(b *testing.B) { benchmarkAppend(b, be, delay) })
		}
	}
}

func benchmarkAppend(b *testing.B, be backend, delay time.Duration) {
	k := newLogKey(b)
	s, _ := be.open(b)
	var inFlight atomic.Int64
	l, err := Open(context.Background(), Options{Store: s, Origin: origin, Key: k.signer,
		CommitDelay: delay, InFlight: func() int { return int(inFlight.Load()) }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	var n atomic.Int64
	b.SetParallelism(8) // 16 appenders on 2 cores
	cpu0 := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			// Digests of real artifacts and signatures are random,
			// which is what indexes by digest see.
			i := n.Add(1)
			e := testEntry(int(i))
			a := sha256.Sum256([]byte(fmt.Sprint("artifact", i)))
			s := sha256.Sum256([]byte(fmt.Sprint("signature", i)))
			e.Artifact.Digests = []string{fmt.Sprintf("sha256:%x", a)}
			e.Artifact.Signature = fmt.Sprintf("sha256:%x", s)
			inFlight.Add(1)
			_, err := l.Append(context.Background(), e)
			inFlight.Add(-1)
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	// The process's CPU (user and system, every thread: the
	// writer, fsyncs, the background index) per entry appended.
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/entry")
	st := l.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	if st.Commits > 0 {
		b.ReportMetric(float64(st.Entries)/float64(st.Commits), "entries/commit")
	}
}

// processCPU returns the CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
