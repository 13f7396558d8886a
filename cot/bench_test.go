package cot_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-dev/signet/cot/cottest"
)

// manyTasks is a graph whose signing task consumes builds × per artifacts
// of size bytes each, from builds generic-worker builds.
func manyTasks(tb testing.TB, builds, per int, size int64) (*cottest.Graph, int64) {
	tb.Helper()
	g := cottest.New(cottest.Options{Builds: builds, ArtifactsPerBuild: per, ArtifactSize: size})
	return g, int64(builds*per) * size
}

// TestVerifyManyTasks is a small version of BenchmarkVerify2000x5 that
// runs with the tests: 50 builds, 250 artifacts.
func TestVerifyManyTasks(t *testing.T) {
	g, total := manyTasks(t, 50, 5, 4096)
	o := serve(t, g)
	o.TaskType = "signing"
	var n int64
	o.Progress = func(k int64) { n += k } // Parallel 1: no race
	o.Parallel = 1
	res := verify(t, g, "signing", o)
	if !res.Verified {
		t.Fatalf("did not verify:\n%s", tree(res))
	}
	if got := len(res.Artifacts); got != 250+2 {
		t.Errorf("%d artifacts verified, want 252", got)
	}
	if want := total + 2*int64(len("linux build of product ✓\n")); n < total || n > want+100 {
		t.Errorf("progress counted %d bytes, want about %d", n, total)
	}
}

// BenchmarkVerify2000x5 verifies a chain whose signing task consumes 2,000
// builds with 5 artifacts each, 2 GiB of artifact bytes served from
// loopback, and in the same run hashes the same bytes, written to files,
// with sha256sum. It reports both times and their ratio
// (sha256sum ÷ verify; ≥ 0.8 is the target). See docs/performance.md.
func BenchmarkVerify2000x5(b *testing.B) {
	const builds, per = 2000, 5
	size := int64(2<<30) / (builds * per)
	g, total := manyTasks(b, builds, per, size)
	o := serve(b, g)
	o.TaskType = "signing"

	dir := b.TempDir()
	var files []string
	for _, t := range g.Tasks {
		for name, s := range t.Big {
			p := filepath.Join(dir, fmt.Sprintf("%s-%s", t.ID, filepath.Base(name)))
			f, err := os.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(f, io.NewSectionReader(s.R, 0, s.Size)); err != nil {
				b.Fatal(err)
			}
			f.Close()
			files = append(files, p)
		}
	}
	sha256sum := func() time.Duration {
		start := time.Now()
		for i := 0; i < len(files); i += 1000 {
			cmd := exec.Command("sha256sum", files[i:min(i+1000, len(files))]...)
			cmd.Stdout = io.Discard
			if err := cmd.Run(); err != nil {
				b.Fatalf("sha256sum: %v", err)
			}
		}
		return time.Since(start)
	}
	sha256sum() // warm the page cache
	var base, ver time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		base += sha256sum()
		start := time.Now()
		res := verify(b, g, "signing", o)
		ver += time.Since(start)
		if !res.Verified || len(res.Artifacts) != builds*per+2 {
			b.Fatalf("did not verify %d artifacts", builds*per)
		}
	}
	b.StopTimer()
	b.ReportMetric(ver.Seconds()/float64(b.N), "verify-s")
	b.ReportMetric(base.Seconds()/float64(b.N), "sha256sum-s")
	b.ReportMetric(base.Seconds()/ver.Seconds(), "ratio")
	b.ReportMetric(float64(total)/(1<<20)/(ver.Seconds()/float64(b.N)), "verify-MiB/s")
	b.SetBytes(total)
}
