package server

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/signet-dev/signet/audit"
)

// BenchmarkMetricsObserve measures what metrics add to one signing
// request: a histogram observation by route and status class and a
// counter by key, format and result, through the handles found again
// with one sync.Map lookup each. The baseline is time.Since alone, which
// every request pays for its log line anyway.
func BenchmarkMetricsObserve(b *testing.B) {
	m := NewMetrics()
	r := httptest.NewRequest("POST", "/v1/sign", nil)
	r.Pattern = "POST /v1/sign"
	c := &call{r: r, start: time.Now(), action: audit.ActionSign, key: &audit.KeyRef{Name: "release", Fingerprint: "SHA256:x"}, format: "raw", items: 1}
	b.Run("baseline", func(b *testing.B) {
		var d time.Duration
		for b.Loop() {
			d += time.Since(c.start)
		}
		_ = d
	})
	b.Run("observe", func(b *testing.B) {
		for b.Loop() {
			m.observe(c, 200)
		}
	})
}
