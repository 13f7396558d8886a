package logbuf

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the flusher and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLinesArriveWholeAndFlushed(t *testing.T) {
	var out lockedBuffer
	w := New(&out, time.Hour) // only Close flushes
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				fmt.Fprintf(w, "writer %d line %d %s\n", g, i, strings.Repeat("x", 100))
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 8*500)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "writer ") || !strings.HasSuffix(l, strings.Repeat("x", 100)) {
			t.Fatalf("interleaved or cut line %q", l)
		}
	}
}

func TestPeriodicFlush(t *testing.T) {
	var out lockedBuffer
	w := New(&out, time.Millisecond)
	defer w.Close()
	fmt.Fprintln(w, "hello")
	deadline := time.Now().Add(10 * time.Second)
	for out.String() != "hello\n" {
		if time.Now().After(deadline) {
			t.Fatal("the periodic flush never wrote the line")
		}
		time.Sleep(time.Millisecond)
	}
}
