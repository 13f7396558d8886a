package client_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/internal/signettest"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
)

// fileMix describes the files of the batch benchmark: count files of
// log-uniformly distributed sizes between lo and hi bytes.
type fileMix struct {
	count  int
	lo, hi int64
}

// releaseMix is 10,000 files from 1 KiB to 10 MiB, about 1.1 GiB: many
// small files, fewer large ones, a few very large, like a release
// directory of packages, checksums and images.
var releaseMix = []fileMix{
	{8000, 1 << 10, 64 << 10},
	{1900, 64 << 10, 1 << 20},
	{100, 1 << 20, 10 << 20},
}

// writeMix writes the files of mix to dir, with random contents from a
// fixed seed, and returns their paths and total size.
func writeMix(tb testing.TB, dir string, mix []fileMix) ([]string, int64) {
	tb.Helper()
	rng := rand.New(rand.NewChaCha8([32]byte{'s', 'i', 'g', 'n', 'e', 't'}))
	src := rand.NewChaCha8([32]byte{'d', 'a', 't', 'a'})
	buf := make([]byte, 10<<20)
	var paths []string
	var total int64
	for _, m := range mix {
		for range m.count {
			size := int64(float64(m.lo) * math.Pow(float64(m.hi)/float64(m.lo), rng.Float64()))
			src.Read(buf[:size])
			p := filepath.Join(dir, fmt.Sprintf("f%05d.bin", len(paths)))
			if err := os.WriteFile(p, buf[:size], 0o644); err != nil {
				tb.Fatal(err)
			}
			paths = append(paths, p)
			total += size
		}
	}
	// Shuffle, so that large files are spread over the run.
	rng.Shuffle(len(paths), func(i, j int) { paths[i], paths[j] = paths[j], paths[i] })
	return paths, total
}

// sha256sum hashes paths with coreutils' sha256sum, 1,000 files per
// process, one process after another.
func sha256sum(tb testing.TB, paths []string) time.Duration {
	tb.Helper()
	start := time.Now()
	for i := 0; i < len(paths); i += 1000 {
		cmd := exec.Command("sha256sum", paths[i:min(i+1000, len(paths))]...)
		cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
		if err := cmd.Run(); err != nil {
			tb.Fatalf("sha256sum: %v", err)
		}
	}
	return time.Since(start)
}

// benchServer is a server in this process, with the audit log on disk.
func benchServer(tb testing.TB) *client.Client {
	s := signettest.Start(tb, signettest.Options{
		Principals: map[string]policy.Rules{"builder": {Grants: []policy.Grant{{Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"*"}}}}},
		Keys:       []keystore.Spec{{Name: "release", Type: keystore.ECDSAP256}},
	})
	return s.Client("builder")
}

// signAll signs paths, writing signatures and receipts next to the files
// after removing those of an earlier run, and fails unless every file was
// signed.
func signAll(tb testing.TB, c *client.Client, paths []string, maxBatch int) *client.BatchSummary {
	tb.Helper()
	for _, p := range paths {
		os.Remove(p + ".sig")
		os.Remove(p + ".sig.receipt")
	}
	sum, err := c.SignBatch(context.Background(), paths, client.BatchOptions{Key: "release", MaxBatch: maxBatch})
	if err != nil {
		tb.Fatal(err)
	}
	if sum.Signed != len(paths) {
		tb.Fatalf("%d of %d files signed; first failure: %v", sum.Signed, len(paths), sum.Failed[0].Err)
	}
	return sum
}

// BenchmarkSignBatch10000 signs the 10,000 files of releaseMix in
// batches, then one request per file, and hashes them with sha256sum, all
// in the same run and from the page cache. It reports the throughput of
// each and ratio = batch throughput ÷ sha256sum throughput (the target is
// at least 0.7). Run it alone:
//
//	go test ./client -run '^$' -bench SignBatch10000 -benchtime 1x -count 3
func BenchmarkSignBatch10000(b *testing.B) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		b.Fatal("sha256sum is required (GNU coreutils)")
	}
	dir := b.TempDir()
	paths, total := writeMix(b, mkdir(b, dir, "files"), releaseMix)
	c := benchServer(b)
	sha256sum(b, paths) // warm-up: every file in the page cache
	b.ResetTimer()
	for range b.N {
		base := sha256sum(b, paths)
		batch := signAll(b, c, paths, 0)
		single := signAll(b, c, paths, 1)
		floor := writeOutputs(b, paths)
		mbs := func(d time.Duration) float64 { return float64(total) / d.Seconds() / (1 << 20) }
		b.ReportMetric(mbs(base), "sha256sum-MiB/s")
		b.ReportMetric(mbs(batch.Elapsed), "batch-MiB/s")
		b.ReportMetric(float64(len(paths))/batch.Elapsed.Seconds(), "batch-files/s")
		b.ReportMetric(mbs(single.Elapsed), "single-MiB/s")
		b.ReportMetric(float64(len(paths))/single.Elapsed.Seconds(), "single-files/s")
		b.ReportMetric(base.Seconds()/batch.Elapsed.Seconds(), "ratio")
		b.ReportMetric(floor.Seconds(), "write-s")
		b.Logf("%d files, %.2f GiB: sha256sum %v; batch %v in %d requests; one per file %v; writing the %d output files alone %v",
			len(paths), float64(total)/(1<<30), base.Round(time.Millisecond), batch.Elapsed.Round(time.Millisecond), batch.Requests,
			single.Elapsed.Round(time.Millisecond), 2*len(paths), floor.Round(time.Millisecond))
	}
}

// writeOutputs times writing, one after another, what a run writes next
// to each file — a signature and its receipt, of typical sizes — after
// removing those of the run before: the least a run costs on this file
// system, which sha256sum does not pay.
func writeOutputs(tb testing.TB, paths []string) time.Duration {
	tb.Helper()
	for _, p := range paths {
		os.Remove(p + ".sig")
		os.Remove(p + ".sig.receipt")
	}
	sig, receipt := make([]byte, 72), make([]byte, 1500)
	start := time.Now()
	for _, p := range paths {
		if err := os.WriteFile(p+".sig.receipt", receipt, 0o644); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p+".sig", sig, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return time.Since(start)
}

// TestSignBatchMix is the benchmark's small version: 300 files from 1 KiB
// to 1 MiB, in batches and one per file. It checks that both modes sign
// everything; timing is for the benchmark.
func TestSignBatchMix(t *testing.T) {
	dir := t.TempDir()
	paths, _ := writeMix(t, mkdir(t, dir, "files"), []fileMix{{250, 1 << 10, 64 << 10}, {50, 64 << 10, 1 << 20}})
	c := benchServer(t)
	batch := signAll(t, c, paths, 0)
	single := signAll(t, c, paths, 1)
	if single.Requests != 300 || batch.Requests >= single.Requests {
		t.Errorf("batch mode made %d requests and one-per-file mode %d for 300 files", batch.Requests, single.Requests)
	}
}

func mkdir(tb testing.TB, parent, name string) string {
	tb.Helper()
	p := filepath.Join(parent, name)
	if err := os.Mkdir(p, 0o755); err != nil {
		tb.Fatal(err)
	}
	return p
}
