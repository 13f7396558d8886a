package main

import (
	"bytes"
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

func TestFetchLine(t *testing.T) {
	for _, tt := range []struct {
		n       int64
		elapsed time.Duration
		want    string
	}{
		{0, 0, "fetching [=                       ] 0 B  0 B/s"},
		{3 << 20, 2 * time.Second, "fetching [        =               ] 3.0 MiB  1.5 MiB/s"},
		{5 << 30, 10 * time.Second, "fetching [       =                ] 5.0 GiB  512.0 MiB/s"}, // bouncing back
	} {
		if got := fetchLine(tt.n, tt.elapsed); got != tt.want {
			t.Errorf("fetchLine(%d, %v) =\n%q, want\n%q", tt.n, tt.elapsed, got, tt.want)
		}
	}
}

// TestLiveLineOnlyOnTerminals: a pipe or a log file gets no control
// characters, and stopping the line that was never started is harmless.
func TestLiveLineOnlyOnTerminals(t *testing.T) {
	var b bytes.Buffer
	l := startLine(&b, func() string { return "drawn" })
	if l != nil {
		t.Fatal("startLine drew on a buffer")
	}
	l.stop()
	if b.Len() != 0 {
		t.Errorf("wrote %q to a buffer", b.String())
	}
}
