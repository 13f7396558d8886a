package server_test

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-dev/signet/server"
)

// BenchmarkAuthFailures compares a request that fails authentication (a
// garbage bearer token; now counted, one audit entry per address and
// interval) with a principal's refusal (recorded durably one by one, as
// every failed authentication was before). entries/op is the audit log's
// growth per request.
func BenchmarkAuthFailures(b *testing.B) {
	f := newFixture(b, server.Limits{AuthFailureBudget: 1 << 30})
	ctx := context.Background()
	size := func() int64 {
		_, n, err := f.audit.Store().Head(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	run := func(b *testing.B, principal, auth, body string, want int) {
		hc := f.httpClient(principal)
		defer hc.CloseIdleConnections()
		start := size()
		b.ResetTimer()
		for range b.N {
			req, _ := http.NewRequest("POST", f.url.JoinPath("/v1/sign").String(), strings.NewReader(body))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				b.Fatalf("status %d, want %d", resp.StatusCode, want)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(size()-start)/float64(b.N), "entries/op")
	}
	b.Run("anonymous-aggregated", func(b *testing.B) { run(b, "", "Bearer garbage", signBodyFor("a.tar.gz"), 401) })
	b.Run("principal-recorded", func(b *testing.B) { run(b, "builder", "", signBodyFor("refused.zip"), 403) })
}

// procStatus returns a field of /proc/self/status in MiB.
func procStatus(tb testing.TB, field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// BenchmarkUnlockFlood sends 48 wrong passphrases at once, as the attack
// of issue 19 did, and reports the process's peak resident memory during
// the flood (VmHWM, reset before it) and its resident memory once the
// flood is over. Baseline: the 48 derivations run at once, as the server
// ran them before derivations were bounded (Keyring.Unlock called from 48
// goroutines); bounded: 48 POST /v1/unlock to the server.
func BenchmarkUnlockFlood(b *testing.B) {
	f := newFixture(b, server.Limits{QueueTimeout: time.Minute})
	f.keys.Lock()
	flood := func(b *testing.B, unlock func() error) {
		runtime.GC()
		debug.FreeOSMemory()
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			b.Fatalf("resetting the peak RSS: %v", err)
		}
		b.ResetTimer()
		for range b.N {
			var wg sync.WaitGroup
			for range 48 {
				wg.Go(func() {
					if err := unlock(); err == nil {
						b.Error("a wrong passphrase unlocked")
					}
				})
			}
			wg.Wait()
		}
		b.StopTimer()
		b.ReportMetric(procStatus(b, "VmHWM"), "peak-RSS-MiB")
		time.Sleep(2 * time.Second) // what the runtime gives back by itself
		b.ReportMetric(procStatus(b, "VmRSS"), "RSS-after-MiB")
	}
	b.Run("unbounded", func(b *testing.B) {
		flood(b, func() error { return f.keys.Unlock("flood", []byte("wrong"), nil) })
	})
	b.Run("bounded", func(b *testing.B) {
		hc := f.httpClient("admin")
		defer hc.CloseIdleConnections()
		flood(b, func() error {
			resp, err := hc.Post(f.url.JoinPath("/v1/unlock").String(), "application/json", strings.NewReader(`{"passphrase":"wrong"}`))
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			return os.ErrInvalid
		})
	})
}
