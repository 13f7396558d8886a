package explorer

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/keystore"
)

// BenchmarkExplorer measures the explorer's pages over a log of 1,000,000
// entries (SQLite), built once per run: a month of signatures by 12
// principals with 6 keys, one every 2.6 s, 3% of them refused. The
// baseline is what the timeline would cost without the entry counts: the
// same aggregation as one GROUP BY over the entries table, on the same
// database. Building the log takes a few minutes.
//
//	go test -run '^$' -bench Explorer -benchtime 20x -timeout 60m ./explorer
func BenchmarkExplorer(b *testing.B) {
	const n = 1_000_000
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	// $SIGNET_EXPLORER_BENCH_DB keeps the log between runs, built once.
	db := os.Getenv("SIGNET_EXPLORER_BENCH_DB")
	if db == "" {
		db = filepath.Join(b.TempDir(), "log.db")
	}
	store, err := audit.OpenSQLite(db)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	vkey, _ := audit.VerifierKey(origin, pub)
	log, err := audit.Open(context.Background(), audit.Options{Store: store, Origin: origin, Key: func() (crypto.Signer, error) { return priv, nil }})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	_, size, err := store.Head(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	keyNames := []string{"release", "nightly", "debian-archive", "rpm-repo", "windows-codesign", "sbom"}
	reasons := []string{"unauthenticated: token signature does not verify", "unauthenticated: token expired",
		`permission denied: principal "ci-3" may not use key "release"`, "keystore locked: ask a custodian to run 'signet unlock'"}
	step := 30 * 24 * time.Hour / n
	first := now.Add(-30 * 24 * time.Hour)
	batch := make([]audit.Entry, 0, 10000)
	for i := range n {
		if size == n {
			break // built by an earlier run
		}
		e := audit.Entry{Time: first.Add(time.Duration(i) * step), Server: "signet-1", RequestID: fmt.Sprintf("%016x", i),
			Action: audit.ActionSign, Decision: audit.Allowed,
			Principal: audit.Principal{Kind: "mtls", Name: fmt.Sprintf("ci-%d", i%12), ID: "sha256:0123"},
			Key:       &audit.KeyRef{Name: keyNames[i%7%6], Version: 1, Fingerprint: "SHA256:abc"}, Format: "raw",
			Artifact: &audit.Artifact{Name: fmt.Sprintf("pkg-%d_1.%d_amd64.deb", i%5000, i%97), Size: int64(i),
				Digests: []string{fmt.Sprintf("sha256:%064x", i)}, Signature: fmt.Sprintf("sha256:%064x", n+i)}}
		if i%33 == 0 {
			r := reasons[i/33%len(reasons)]
			e.Decision, e.Reason, e.Artifact.Signature = audit.Denied, r, ""
			if r[0] == 'u' {
				e.Action, e.Key, e.Artifact, e.Principal = audit.ActionAuthentication, nil, nil, audit.Principal{Kind: "anonymous"}
			} else if r[0] == 'k' {
				e.Decision = audit.Failed
			}
		}
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			if _, err := log.Append(context.Background(), batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	appended := time.Since(start)
	for {
		done, err := store.Index(context.Background(), 50000)
		if err != nil {
			b.Fatal(err)
		}
		if done {
			break
		}
	}
	b.Logf("built a log of %d entries in %v (+ %v to index and count)", n, appended.Round(time.Second), (time.Since(start) - appended).Round(time.Second))

	if os.Getenv("SIGNET_EXPLORER_BENCH_VERIFY") != "" {
		// What the explorer's daily verification costs on this log (a
		// reused log fails it: its key was another run's).
		t := time.Now()
		r, err := audit.Verify(context.Background(), store, vkey)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("audit.Verify of %d entries: %v, OK %v", r.Size, time.Since(t).Round(time.Second), r.OK())
	}
	created := first.Add(-24 * time.Hour)
	var list []keystore.Key
	for _, k := range keyNames {
		list = append(list, keystore.Key{Name: k, Type: keystore.Ed25519, Usage: "raw", Created: created, Public: pub})
	}
	ex, err := New(Options{Log: testLog{Log: log}, Keys: &keys{list: list, status: keystore.Status{Mode: "passphrase", Lease: &keystore.Lease{By: "alice"}}},
		VerifierKey: func() (string, error) { return vkey, nil }, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(ex)
	defer srv.Close()
	get := func(b *testing.B, path string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d %.300s", path, resp.StatusCode, body)
		}
	}
	page := func(path string) func(b *testing.B) {
		return func(b *testing.B) {
			get(b, path) // the first load checks the checkpoints made while building
			b.ResetTimer()
			for b.Loop() {
				get(b, path)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/page")
		}
	}
	b.Run("overview-24h", page("/ui/?range=24h"))
	b.Run("overview-7d", page("/ui/?range=7d"))
	b.Run("overview-30d", page("/ui/?range=30d"))
	b.Run("overview-1y", page("/ui/?range=1y"))
	b.Run("search-key", page("/ui/search?key=release&principal=ci-5"))
	b.Run("search-digest", page(fmt.Sprintf("/ui/search?digest=sha256:%064x", 123457)))
	b.Run("search-refusals", page("/ui/search?refusal=locked"))
	b.Run("entry", page("/ui/entry?index=654321"))

	// The baseline: the 30-day timeline's aggregation straight from the
	// entries, as it would be without counts kept behind the log.
	raw, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	b.Run("baseline-group-by-30d", func(b *testing.B) {
		since := now.Add(-30 * 24 * time.Hour)
		for b.Loop() {
			rows, err := raw.Query(`SELECT (time - ?) / ?, action, decision, key, version, principal, COUNT(*) FROM entries
				WHERE time >= ? AND time < ? GROUP BY 1, action, decision, key, version, principal`,
				since.UnixNano(), int64(6*time.Hour), since.UnixNano(), now.UnixNano())
			if err != nil {
				b.Fatal(err)
			}
			k := 0
			for rows.Next() {
				k++
			}
			rows.Close()
			if k == 0 {
				b.Fatal("no groups")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/page")
	})
}
