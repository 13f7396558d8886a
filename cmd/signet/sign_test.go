package main

import (
	"testing"
	"time"

	"github.com/signet-dev/signet/client"
)

func TestSummaryLine(t *testing.T) {
	s := &client.BatchSummary{Files: 10000, Signed: 9990, Skipped: 8, Failed: make([]client.FileResult, 2), Bytes: 12 << 30, Requests: 11, Retries: 3, Elapsed: 20 * time.Second}
	want := "signed 9990 of 10000 files (12.0 GiB) in 20s: 500 files/s, 614.4 MiB/s; 11 requests, 3 retried; 8 already signed; 2 failed"
	if got := summaryLine(s); got != want {
		t.Errorf("summaryLine =\n%q, want\n%q", got, want)
	}
}
