package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/internal/signettest"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
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

func TestBar(t *testing.T) {
	for _, tt := range []struct {
		frac float64
		want string
	}{
		{0, "[    ]"}, {0.5, "[==  ]"}, {1, "[====]"},
		{1.5, "[====]"}, {-1, "[    ]"}, // a count past its total, or before 0
	} {
		if got := bar(tt.frac, 4); got != tt.want {
			t.Errorf("bar(%v, 4) = %q, want %q", tt.frac, got, tt.want)
		}
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

// TestLiveLineOnTerminal runs a live line on a real pseudo-terminal: it
// draws the line over itself, and stop clears it.
func TestLiveLineOnTerminal(t *testing.T) {
	master, slave := openPTY(t)
	var n atomic.Int64
	l := startLine(slave, func() string { return fmt.Sprintf("step %d", n.Add(1)) })
	if l == nil {
		t.Fatal("startLine drew nothing on a terminal")
	}
	out := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 256)
		for {
			k, err := master.Read(buf)
			b.Write(buf[:k])
			if err != nil || strings.Contains(b.String(), "step 2") {
				select {
				case out <- b.String():
				default: // the test gave up waiting
				}
				return
			}
		}
	}()
	var got string
	select {
	case got = <-out:
	case <-time.After(10 * time.Second):
		t.Fatal("the line was not drawn twice within 10s")
	}
	l.stop()
	if !strings.Contains(got, "\r\033[Kstep 1") || !strings.Contains(got, "\r\033[Kstep 2") {
		t.Errorf("terminal got %q, want each line drawn over the last", got)
	}
}

// openPTY opens a pseudo-terminal pair through /dev/ptmx.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	num, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", num), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestBatchListAfterBar signs files with standard output and standard
// error on one terminal: the bar is drawn, and the list of signature
// files comes only once the bar is cleared, never inside it.
func TestBatchListAfterBar(t *testing.T) {
	all := []string{"*"}
	s := signettest.Start(t, signettest.Options{
		Principals: map[string]policy.Rules{"builder": {Grants: []policy.Grant{{Keys: all, Formats: all, Artifacts: all}}}},
		Keys:       []keystore.Spec{{Name: "release", Type: keystore.ECDSAP256}},
	})
	dir := t.TempDir()
	var files []string
	for i := range 40 {
		p := filepath.Join(dir, fmt.Sprintf("file%02d.dat", i))
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 64<<10), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	master, slave := openPTY(t)
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(master) // until the slave's last user closes
		got <- string(b)
	}()
	env := &cmdEnv{ctx: context.Background(), stdout: slave, stderr: slave}
	jobs, batch, no := 2, 0, false
	bo := &batchOptions{jobs: &jobs, batch: &batch, skipExisting: &no, force: &no, filesFrom: new(string)}
	if err := bo.sign(env, s.Client("builder"), "release", "raw", files, "", api.SignOptions{}, ""); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out string
	select {
	case out = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal's output did not end")
	}
	last := strings.LastIndex(out, "\r\033[K")
	if last < 0 {
		t.Fatalf("no bar was drawn: %q", out)
	}
	if i := strings.Index(out[:last], ".sig"); i >= 0 {
		t.Fatalf("a signature file was listed while the bar was drawn: %q", out[max(0, i-80):i+4])
	}
	if n := strings.Count(out[last:], ".dat.sig"); n != len(files) {
		t.Errorf("%d signature files listed after the bar, want %d:\n%q", n, len(files), out[last:])
	}
}
