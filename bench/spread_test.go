package bench

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-dev/signet/client"
)

// TestTargetSpreadsOverServers: with several servers listed, a bench run
// drives all of them, round-robin, not the first alone.
func TestTargetSpreadsOverServers(t *testing.T) {
	var got [3]atomic.Int64
	var urls string
	var first *httptest.Server
	for i := range got {
		s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			got[i].Add(1)
			w.Write([]byte(`{}`))
		}))
		t.Cleanup(s.Close)
		if first == nil {
			first = s
		} else {
			urls += ","
		}
		urls += s.URL
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: first.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Server: urls, CACert: ca, Token: "bench-token"})
	if err != nil {
		t.Fatal(err)
	}
	r := &SignRun{body: []byte(`{}`)}
	tg := r.Target(c, 2)
	tg.check = nil // the servers answer {}, no signatures
	defer tg.Close()
	res, err := Run(context.Background(), Options{Concurrency: 2, Duration: time.Minute, Requests: 58}, tg.Do)
	if err != nil || res.Errors > 0 {
		t.Fatalf("run: %v, %d errors", err, res.Errors)
	}
	// 2 warm-up and 58 measured requests: 20 to each server.
	for i := range got {
		if n := got[i].Load(); n != 20 {
			t.Errorf("server %d got %d requests; want 20 of 60", i, n)
		}
	}
	if sp := tg.Spread(); len(sp) != 3 {
		t.Errorf("Spread lists %d servers; want 3", len(sp))
	}
}
