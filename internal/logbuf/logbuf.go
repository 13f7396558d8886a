// Package logbuf is a buffered, concurrency-safe writer for the server's
// log: lines collect in memory and reach the file (usually stderr, read by
// journald or a container runtime) every interval, when the buffer fills,
// or on Close, instead of one write system call per request.
//
// The server's log is for operators; the durable record of every request
// is the audit log. A crash loses at most one interval of log lines, never
// an audit entry.
package logbuf

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// A Writer buffers writes to an underlying writer.
type Writer struct {
	mu   sync.Mutex
	w    *bufio.Writer
	quit chan struct{}
	done chan struct{}
}

// New returns a Writer that flushes to w every interval.
func New(w io.Writer, interval time.Duration) *Writer {
	b := &Writer{w: bufio.NewWriterSize(w, 64<<10), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-b.quit:
				return
			case <-t.C:
				b.Flush()
			}
		}
	}()
	return b
}

// Write buffers p; a whole log line is written in one call, so lines are
// never interleaved.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

// Flush writes what is buffered.
func (b *Writer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}

// Close stops the periodic flush and flushes.
func (b *Writer) Close() error {
	select {
	case <-b.quit:
	default:
		close(b.quit)
	}
	<-b.done
	return b.Flush()
}
