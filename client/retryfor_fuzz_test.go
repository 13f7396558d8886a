package client

import (
	"testing"
	"time"
)

// FuzzParseRetryFor: any string gives an error or a budget in (0, 24h].
func FuzzParseRetryFor(f *testing.F) {
	for _, s := range []string{"60s", "0", "1h30m", "-5s", "25h", "9223372036854775807ns", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseRetryFor(s)
		if err == nil && (d <= 0 || d > 24*time.Hour) {
			t.Fatalf("ParseRetryFor(%q) = %v, accepted outside (0, 24h]", s, d)
		}
		if err != nil && d != 0 {
			t.Fatalf("ParseRetryFor(%q) = %v with error %v", s, d, err)
		}
	})
}
