package audit

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkAppend measures durable entries per second with group commit:
// 16 goroutines each append one entry at a time and wait for its receipt,
// as 16 concurrent signing requests do. It reports entries/s and the mean
// entries per commit (one transaction, one fsync each).
//
//	go test -run '^$' -bench Append -benchtime 5s ./audit
func BenchmarkAppend(b *testing.B) {
	for _, be := range backends(nil) {
		b.Run(be.name, func(b *testing.B) {
			k := newLogKey(b)
			s, _ := be.open(b)
			l := openLog(b, s, k.signer)
			var n atomic.Int64
			b.SetParallelism(8) // 16 appenders on 2 cores
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
					if _, err := l.Append(context.Background(), e); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			st := l.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
			if st.Commits > 0 {
				b.ReportMetric(float64(st.Entries)/float64(st.Commits), "entries/commit")
			}
		})
	}
}
