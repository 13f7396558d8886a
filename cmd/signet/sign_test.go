package main

import (
	"testing"
	"time"

	"github.com/signet-dev/signet/client"
)

func TestProgressLine(t *testing.T) {
	tests := []struct {
		s    client.ProgressSnapshot
		want string
	}{
		{client.ProgressSnapshot{TotalFiles: 10, TotalBytes: 10 << 20}, "[                    ] 0/10 files  0 B/10.0 MiB  0 B/s  ETA --:--"},
		{client.ProgressSnapshot{Files: 5, TotalFiles: 10, Bytes: 5 << 20, TotalBytes: 10 << 20, Elapsed: 2 * time.Second},
			"[==========          ] 5/10 files  5.0 MiB/10.0 MiB  2.5 MiB/s  ETA 0:02"},
		{client.ProgressSnapshot{Files: 9000, TotalFiles: 10000, Bytes: 3 << 30, TotalBytes: 4 << 30, Elapsed: 90 * time.Second, Failed: 2},
			"[===============     ] 9000/10000 files  3.0 GiB/4.0 GiB  34.1 MiB/s  ETA 0:30  2 failed"},
		{client.ProgressSnapshot{Files: 3, TotalFiles: 4, Elapsed: time.Second}, "[===============     ] 3/4 files  0 B/0 B  0 B/s  ETA 0:00"},
	}
	for _, tt := range tests {
		if got := progressLine(tt.s, 200); got != tt.want {
			t.Errorf("progressLine(%+v) =\n%q, want\n%q", tt.s, got, tt.want)
		}
	}
	if got := progressLine(tests[2].s, 40); len(got) != 40 {
		t.Errorf("progressLine at width 40 is %d wide", len(got))
	}
}

func TestSummaryLine(t *testing.T) {
	s := &client.BatchSummary{Files: 10000, Signed: 9990, Skipped: 8, Failed: make([]client.FileResult, 2), Bytes: 12 << 30, Requests: 11, Retries: 3, Elapsed: 20 * time.Second}
	want := "signed 9990 of 10000 files (12.0 GiB) in 20s: 500 files/s, 614.4 MiB/s; 11 requests, 3 retried; 8 already signed; 2 failed"
	if got := summaryLine(s); got != want {
		t.Errorf("summaryLine =\n%q, want\n%q", got, want)
	}
}
