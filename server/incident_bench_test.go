package server_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/incident"
)

// prefillLog writes n entries to the audit log in dir, as a server under
// load would have (commits of 64): half of them signatures by key
// "release" (versions 1 to 3) for mTLS and token callers, some refused,
// the rest by other keys.
func prefillLog(b *testing.B, dir string, n int) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := audit.OpenSQLite(filepath.Join(dir, "audit.db"))
	if err != nil {
		b.Fatal(err)
	}
	l, err := audit.Open(context.Background(), audit.Options{Store: s, Origin: "test/audit", Key: func() (crypto.Signer, error) { return priv, nil }})
	if err != nil {
		b.Fatal(err)
	}
	r := mrand.New(mrand.NewPCG(5, 5))
	t0 := time.Now().Add(-30 * 24 * time.Hour)
	for i := 0; i < n; {
		var batch []audit.Entry
		for j := 0; j < 64 && i < n; j++ {
			e := audit.Entry{Time: t0.Add(time.Duration(i) * 20 * time.Second), Server: "s", RequestID: fmt.Sprint(i),
				Action: audit.ActionSign, Decision: audit.Allowed, Format: "raw",
				Principal: audit.Principal{Kind: "mtls", Name: fmt.Sprintf("builder-%d", r.IntN(5))},
				Key:       &audit.KeyRef{Name: []string{"release", "nightly"}[r.IntN(2)], Version: 1 + r.IntN(3), Fingerprint: "SHA256:x"},
				Artifact: &audit.Artifact{Name: fmt.Sprintf("app-%d.tar.gz", i), Size: 100, Digests: []string{fmt.Sprintf("sha256:%064x", i)},
					Signature: fmt.Sprintf("sha256:%064x", i+n)}}
			if r.IntN(10) == 0 {
				jti := fmt.Sprint(r.IntN(20))
				e.Principal = audit.Principal{Kind: "token", Name: "ci", ID: "token:" + jti, Subject: "job-" + jti}
			}
			if r.IntN(50) == 0 {
				e.Decision, e.Reason = audit.Denied, "permission denied"
			}
			batch = append(batch, e)
			i++
		}
		if _, err := l.Append(context.Background(), batch...); err != nil {
			b.Fatal(err)
		}
	}
	l.Close()
	s.Close()
}

// BenchmarkIncidentReportAPI measures an incident report built through a
// server's search API (GET /v1/audit/search?proofs=1, over mutual TLS)
// on a log of 100,000 entries, as 'signet incident report --server'
// does, against the same report built from the store directly and a
// baseline measured in the same run: reading every entry of the log
// through the API (GET /v1/audit/entries), what a report without search
// would need.
//
//	go test -run '^$' -bench IncidentReportAPI -benchtime 3x ./server
func BenchmarkIncidentReportAPI(b *testing.B) {
	dir := b.TempDir()
	prefillLog(b, dir, 100_000)
	f := newFixtureWith(b, fixtureOptions{auditDir: dir})
	ctx := context.Background()
	// One signature, so that the head is a checkpoint by this log key.
	if _, err := f.clients["admin"].SignFiles(ctx, "release", writeFilesB(b, "head.tar.gz"), api.SignOptions{}); err != nil {
		b.Fatal(err)
	}
	c := f.clients["admin"]
	var baseline float64
	b.Run("entries-baseline", func(b *testing.B) {
		for b.Loop() {
			_, size, err := c.Head(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Entries(ctx, 0, size); err != nil {
				b.Fatal(err)
			}
		}
		baseline = b.Elapsed().Seconds() / float64(b.N)
	})
	for _, tc := range []struct {
		name string
		src  func() incident.Source
		q    incident.Query
	}{
		{"api/version", func() incident.Source { return &client.AuditSource{C: c} }, incident.Query{Key: "release", Version: 2}},
		{"api/key", func() incident.Source { return &client.AuditSource{C: c} }, incident.Query{Key: "release"}},
		{"store/key", func() incident.Source { return &incident.StoreSource{Store: f.audit.Store()} }, incident.Query{Key: "release"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var r *incident.Report
			cpu0 := cpuTime()
			for b.Loop() {
				var err error
				if r, err = incident.Build(ctx, tc.src(), tc.q, f.logKey); err != nil {
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
				b.ReportMetric(per/baseline, "x-baseline")
			}
		})
	}
}

func writeFilesB(b *testing.B, names ...string) []string {
	dir := b.TempDir()
	var out []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, []byte("artifact "+n+"\n"), 0o600); err != nil {
			b.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
