package server_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/server"
)

// TestAnonymousFailuresAggregated sends 30 requests with a garbage bearer
// token from one address: the first 10 (the budget) get 401, the rest 429
// with Retry-After; the log gets one entry per interval with the count
// instead of 30, the metrics count all 30; a principal's refusal is still
// recorded on its own.
func TestAnonymousFailuresAggregated(t *testing.T) {
	f := newFixture(t, server.Limits{AuthFailureInterval: 3 * time.Second, AuthFailureBudget: 10})
	hc := f.httpClient("")
	defer hc.CloseIdleConnections()
	statuses := map[int]int{}
	for range 30 {
		req, _ := http.NewRequest("GET", f.url.JoinPath("/v1/keys").String(), nil)
		req.Header.Set("Authorization", "Bearer garbage")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		statuses[resp.StatusCode]++
		if n, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode == 429 && n < 1 {
			t.Errorf("429 without Retry-After")
		}
	}
	if statuses[401] < 10 || statuses[429] == 0 || statuses[401]+statuses[429] != 30 {
		t.Errorf("answers %v, want 10 × 401 then 429 (past the budget)", statuses)
	}
	if _, err := f.clients["builder"].Sign(context.Background(), &api.SignRequest{Key: "release", Format: "raw",
		Items: []api.SignItem{{Name: "not-granted.deb", Digest: digest256("x")}}}); err == nil {
		t.Fatal("builder signed outside its grant")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		total, entries, principal := 0, 0, 0
		for _, e := range f.entries(t) {
			switch {
			case e.Action == audit.ActionAuthentication:
				entries++
				n, _ := strconv.Atoi(e.Details["count"])
				if e.Details["aggregated"] != "true" || n < 1 || e.Principal.Kind != "anonymous" || audit.RefusalOf(e) != audit.RefusalTokenInvalid {
					t.Fatalf("authentication entry not aggregated: %+v", e)
				}
				total += n
			case e.Principal.Name == "builder" && e.Decision == audit.Denied:
				principal++
			}
		}
		if principal != 1 {
			t.Fatalf("%d entries for the principal's refusal, want 1", principal)
		}
		if total == 30 {
			if entries > 3 {
				t.Errorf("%d entries for 30 failures from one address", entries)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("aggregated entries count %d failures after 30 s, want 30", total)
		}
		time.Sleep(100 * time.Millisecond)
	}
	m := scrape(t, f.metrics)
	if got := metricValue(m, `signet_authentication_failures_total{reason="token_invalid"}`); got != 30 {
		t.Errorf("signet_authentication_failures_total{reason=token_invalid} = %v, want 30", got)
	}
	if got := metricValue(m, `signet_authentication_throttled_total`); got != float64(statuses[429]) {
		t.Errorf("signet_authentication_throttled_total = %v, want %d", got, statuses[429])
	}
}
