package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/signet-dev/signet/client"
)

// A liveLine redraws one status line on a terminal every 200 ms until it
// is stopped, then clears it. Long commands (batch signing, fetching
// artifacts, re-signing) show their progress with one.
type liveLine struct {
	w       io.Writer
	line    func() string
	done    chan struct{}
	stopped chan struct{}
}

// startLine starts redrawing line() on w if w is a terminal, and returns
// nil (whose stop does nothing) elsewhere: logs and pipes get no control
// characters.
func startLine(w io.Writer, line func() string) *liveLine {
	if !isTerminal(w) {
		return nil
	}
	l := &liveLine{w: w, line: line, done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(l.stopped)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-l.done:
				fmt.Fprint(l.w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprint(l.w, "\r\033[K"+l.line())
			}
		}
	}()
	return l
}

func (l *liveLine) stop() {
	if l == nil {
		return
	}
	close(l.done)
	<-l.stopped
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressLine draws s in at most width columns: a bar, files, bytes,
// rate and the time left.
func progressLine(s client.ProgressSnapshot, width int) string {
	frac := 0.0
	switch {
	case s.TotalBytes > 0:
		frac = float64(s.Bytes) / float64(s.TotalBytes)
	case s.TotalFiles > 0:
		frac = float64(s.Files) / float64(s.TotalFiles)
	}
	frac = min(max(frac, 0), 1)
	rate, eta := 0.0, "--:--"
	if secs := s.Elapsed.Seconds(); secs > 0 {
		rate = float64(s.Bytes) / secs
		if frac > 0 {
			left := time.Duration(float64(s.Elapsed) * (1 - frac) / frac).Round(time.Second)
			eta = fmt.Sprintf("%d:%02d", int(left.Minutes()), int(left.Seconds())%60)
		}
	}
	line := fmt.Sprintf("%s %d/%d files  %s/%s  %s/s  ETA %s", bar(frac, 20), s.Files, s.TotalFiles, client.Size(s.Bytes), client.Size(s.TotalBytes), client.Size(int64(rate)), eta)
	if s.Failed > 0 {
		line += fmt.Sprintf("  %d failed", s.Failed)
	}
	if len(line) > width {
		line = line[:width]
	}
	return line
}

// fetchLine shows bytes fetched so far when the total is not known: a
// marker bouncing inside the bar, the amount and the rate.
func fetchLine(n int64, elapsed time.Duration) string {
	secs := max(elapsed.Seconds(), 0.001)
	const width = 24
	pos := int(secs*4) % (2 * width)
	if pos >= width {
		pos = 2*width - 1 - pos
	}
	marker := strings.Repeat(" ", pos) + "=" + strings.Repeat(" ", width-1-pos)
	return fmt.Sprintf("fetching [%s] %s  %s/s", marker, client.Size(n), client.Size(int64(float64(n)/secs)))
}

// bar draws frac of width columns filled, in brackets; frac is clamped to
// 0 to 1, so a count that overshoots its total draws a full bar.
func bar(frac float64, width int) string {
	filled := int(min(max(frac, 0), 1) * float64(width))
	return "[" + strings.Repeat("=", filled) + strings.Repeat(" ", width-filled) + "]"
}
