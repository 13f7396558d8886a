package server_test

// Benchmarks of sign-request handling over the real transport: mutual TLS
// 1.3 on loopback, HTTP/1.1 keep-alive, 16 concurrent clients. They report
// throughput (req/s, and sigs/s for batches) and assert nothing about time.
// docs/performance.md records the results and how to reproduce them.
//
//	go test -run '^$' -bench . -benchtime 3s -count 3 ./server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/server"
)

// benchClients is the number of concurrent client goroutines, each with its
// own keep-alive TLS connection.
const benchClients = 16

// benchParallelism is the b.SetParallelism argument giving at least
// benchClients goroutines: GOMAXPROCS*p >= benchClients.
func benchParallelism() int {
	procs := runtime.GOMAXPROCS(0)
	return (benchClients + procs - 1) / procs
}

// benchConcurrency is the number of client goroutines RunParallel starts.
func benchConcurrency() int { return benchParallelism() * runtime.GOMAXPROCS(0) }

// benchTarget is one endpoint to load: a client and a pre-marshalled
// request.
type benchTarget struct {
	client *http.Client
	url    string
	body   []byte
	log    *audit.Log    // the server's audit log, for commit sizes
	auth   string        // Authorization header, if any
	dials  *atomic.Int64 // TCP connections the client opened
}

// newBenchClient returns an HTTP/1.1-only client presenting tc's
// certificate that opens at most conns connections and keeps them all alive.
//
// MaxConnsPerHost matters: a connection goes back to the idle pool only
// after its response body has been read, asynchronously, so a client that
// sends its next request at once would often find no idle connection and
// dial (and handshake) a new one. With the cap it waits for its own.
func newBenchClient(tc *tls.Config, conns int) (*http.Client, *atomic.Int64) {
	dials := new(atomic.Int64)
	var d net.Dialer
	tr := &http.Transport{
		TLSClientConfig:     tc.Clone(),
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
	}
	return &http.Client{Transport: tr}, dials
}

// signBody marshals a raw-format sign request for key over items.
func signBody(tb testing.TB, key string, items []api.SignItem) []byte {
	tb.Helper()
	b, err := json.Marshal(api.SignRequest{Key: key, Format: "raw", Items: items})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func digestItem(name string) api.SignItem {
	sum := sha256.Sum256([]byte("artifact " + name))
	return api.SignItem{Name: name, Digest: "sha256:" + hex.EncodeToString(sum[:])}
}

// signTarget starts the real server (see newFixture) and returns a target
// posting body to /v1/sign as the admin.
func signTarget(b *testing.B, body []byte) *benchTarget {
	return signTargetWith(b, body, fixtureOptions{types: []keystore.Type{keystore.Ed25519}})
}

func signTargetWith(b *testing.B, body []byte, o fixtureOptions) *benchTarget {
	b.Helper()
	f := newFixtureWith(b, o)
	c, dials := newBenchClient(f.tls["admin"], benchConcurrency())
	b.Cleanup(c.CloseIdleConnections)
	return &benchTarget{client: c, url: f.url.JoinPath("/v1/sign").String(), body: body, dials: dials, log: f.audit}
}

// baselineTarget serves a plain handler that reads the body and answers a
// fixed small JSON object, behind the same TLS setup as newFixture: server
// and client certificates from one CA, TLS 1.3 with client certificates
// required and verified (what server.TLSConfig returns for mutual TLS),
// httptest on loopback.
//
// If work is not nil the handler calls it after reading the body, and
// fails the request if it fails.
func baselineTarget(b *testing.B, body []byte, work func() error) *benchTarget {
	b.Helper()
	f := newFixture(b, server.Limits{}) // for its CA and admin client certificate
	reply := []byte(`{"request_id":"0000000000000000","ok":true}` + "\n")
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/sign" || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if work != nil {
			if err := work(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(reply)
	}))
	cert, err := f.ca.IssueServer("127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(f.ca.Cert)
	// Spelled out rather than server.TLSConfig(…) so that the baseline
	// does not follow that function's signature; keep the two in step.
	ts.TLS = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	ts.StartTLS()
	b.Cleanup(ts.Close)
	c, dials := newBenchClient(f.tls["admin"], benchConcurrency())
	b.Cleanup(c.CloseIdleConnections)
	u, _ := url.Parse(ts.URL)
	return &benchTarget{client: c, url: u.JoinPath("/v1/sign").String(), body: body, dials: dials}
}

// do posts the request once and drains the response. It returns an error
// unless the status is 200 over HTTP/1.1.
func (t *benchTarget) do() error { return t.doThen(nil) }

// doThen is do, calling hold (if not nil) after the response headers
// arrive and before the body is read, while the connection is still in use.
func (t *benchTarget) doThen(hold func()) error {
	req, err := http.NewRequest(http.MethodPost, t.url, bytes.NewReader(t.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if t.auth != "" {
		req.Header.Set("Authorization", t.auth)
	}
	resp, err := t.client.Do(req)
	if hold != nil {
		hold()
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("POST %s: %s: %s", t.url, resp.Status, msg)
	}
	if resp.ProtoMajor != 1 {
		return fmt.Errorf("POST %s: got %s, want HTTP/1.1", t.url, resp.Proto)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("POST %s: reading response: %v", t.url, err)
	}
	return nil
}

// run loads t with benchClients (or slightly more) concurrent clients and
// reports req/s, and sigs/s when each request carries more than one item.
func (t *benchTarget) run(b *testing.B, itemsPerRequest int) {
	b.Helper()
	par := benchParallelism()
	clients := benchConcurrency()
	// Warm up: open one TLS connection per client (handshakes are not
	// what is measured) and check that requests succeed. Every warm-up
	// request keeps its connection busy until all have their answers, so
	// none is reused and exactly one connection per client is opened.
	var wg, answered sync.WaitGroup
	answered.Add(clients)
	hold := func() { answered.Done(); answered.Wait() }
	errs := make(chan error, clients)
	for range clients {
		wg.Go(func() {
			if err := t.doThen(hold); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	dialsBefore := t.dials.Load()
	var before audit.CommitStats
	if t.log != nil {
		before = t.log.Stats()
	}
	// Setup unlocked a keystore (argon2id allocates tens of MiB); collect
	// that garbage now rather than during the measurement.
	runtime.GC()

	b.SetParallelism(par)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := t.do(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	perSec := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(perSec, "req/s")
	if itemsPerRequest > 1 {
		b.ReportMetric(perSec*float64(itemsPerRequest), "sigs/s")
	}
	if t.log != nil {
		if st := t.log.Stats(); st.Commits > before.Commits {
			b.ReportMetric(float64(st.Entries-before.Entries)/float64(st.Commits-before.Commits), "entries/commit")
		}
	}
	if n := t.dials.Load() - dialsBefore; n > 0 || dialsBefore != int64(clients) {
		// Not a failure, but the numbers then include TLS handshakes or
		// come from fewer connections than clients.
		b.Logf("%d clients, %d connections opened to warm up and %d during the measurement; want one per client, all before", clients, dialsBefore, n)
	}
}

// BenchmarkBaseline is the ceiling: the same client, TLS, concurrency and
// request as BenchmarkSignECDSAP256, answered by a handler that does no
// work. Divide the others by it to see what Signet itself costs.
func BenchmarkBaseline(b *testing.B) {
	body := signBody(b, "release", []api.SignItem{digestItem("a.tar.gz")})
	baselineTarget(b, body, nil).run(b, 1)
}

// BenchmarkBaselineECDSAP256 is BenchmarkBaseline with one ECDSA P-256
// signature per request and nothing else: no decoding, authorization,
// audit entry or receipt. Divided by BenchmarkBaseline it is the highest
// ratio a signing server can reach on this machine with this client.
func BenchmarkBaselineECDSAP256(b *testing.B) {
	body := signBody(b, "release", []api.SignItem{digestItem("a.tar.gz")})
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256(body)
	baselineTarget(b, body, func() error {
		_, err := ecdsa.SignASN1(rand.Reader, k, d[:])
		return err
	}).run(b, 1)
}

// BenchmarkBaselineEd25519 is BenchmarkBaselineECDSAP256 for
// BenchmarkSignEd25519: its request, and one Ed25519 signature of 1 KiB.
func BenchmarkBaselineEd25519(b *testing.B) {
	data := ed25519Message()
	body := signBody(b, string(keystore.Ed25519), []api.SignItem{{Name: "a.tar.gz", Data: data}})
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	baselineTarget(b, body, func() error {
		ed25519.Sign(k, data)
		return nil
	}).run(b, 1)
}

// BenchmarkSignECDSAP256 signs one SHA-256 digest per request with an ECDSA
// P-256 key.
func BenchmarkSignECDSAP256(b *testing.B) {
	body := signBody(b, "release", []api.SignItem{digestItem("a.tar.gz")})
	signTarget(b, body).run(b, 1)
}

// BenchmarkSignECDSAP256AuditOff is BenchmarkSignECDSAP256 with an audit
// log that records nothing: the difference is what the durable log costs.
func BenchmarkSignECDSAP256AuditOff(b *testing.B) {
	body := signBody(b, "release", []api.SignItem{digestItem("a.tar.gz")})
	signTargetWith(b, body, fixtureOptions{auditOff: true}).run(b, 1)
}

// BenchmarkSignECDSAP256Token is BenchmarkSignECDSAP256 with a worker
// that proves itself with a token instead of a client certificate.
func BenchmarkSignECDSAP256Token(b *testing.B) {
	f := newFixture(b, server.Limits{})
	resp, err := f.clients["ci"].IssueToken(context.Background(), &api.TokenRequest{
		Subject: "bench", TTL: "1h", Keys: []string{"release"}, Formats: []string{"raw"}})
	if err != nil {
		b.Fatal(err)
	}
	tc := f.tls["ci"].Clone()
	tc.Certificates = nil
	c, dials := newBenchClient(tc, benchConcurrency())
	b.Cleanup(c.CloseIdleConnections)
	body := signBody(b, "release", []api.SignItem{digestItem("a.tar.gz")})
	t := &benchTarget{client: c, url: f.url.JoinPath("/v1/sign").String(), body: body, auth: "Bearer " + resp.Token, dials: dials}
	t.run(b, 1)
}

// BenchmarkSignEd25519 signs one 1 KiB message per request with an Ed25519
// key (pure Ed25519 signs the data itself, so the request carries it).
func BenchmarkSignEd25519(b *testing.B) {
	body := signBody(b, string(keystore.Ed25519), []api.SignItem{{Name: "a.tar.gz", Data: ed25519Message()}})
	signTarget(b, body).run(b, 1)
}

// ed25519Message is the 1 KiB message of the Ed25519 benchmarks.
func ed25519Message() []byte {
	data := make([]byte, 1024)
	for i := range data {
		data[i] = byte(i * 7)
	}
	return data
}

// BenchmarkSignECDSAP256Batch100 signs 100 digests per request with an
// ECDSA P-256 key.
func BenchmarkSignECDSAP256Batch100(b *testing.B) { benchBatch(b, 100) }

// BenchmarkSignECDSAP256Batch10 signs 10 digests per request, the batch
// size of the figure the issues quote for Mozilla Autograph.
func BenchmarkSignECDSAP256Batch10(b *testing.B) { benchBatch(b, 10) }

func benchBatch(b *testing.B, n int) {
	items := make([]api.SignItem, n)
	for i := range items {
		items[i] = digestItem(fmt.Sprintf("a%03d.tar.gz", i))
	}
	body := signBody(b, "release", items)
	signTarget(b, body).run(b, len(items))
}

// BenchmarkSignECDSAP256Tiles is BenchmarkSignECDSAP256 on a tile log
// (audit.TileStore, the embedded default) rather than SQLite.
func BenchmarkSignECDSAP256Tiles(b *testing.B) {
	body := signBody(b, "release", []api.SignItem{digestItem("a.tar.gz")})
	signTargetWith(b, body, fixtureOptions{tiles: true}).run(b, 1)
}
