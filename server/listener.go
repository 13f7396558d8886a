package server

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A TLS handshake costs the server a signature and key agreement, and
// an idle connection costs it a goroutine and buffers: thousands of
// simultaneous connections would take every core, so that even clients
// whose connections are established starve. tlsListener therefore bounds
// both. At most Limits.MaxConns connections are open (established or
// handshaking): one more is closed at once. At most Limits.MaxHandshakes
// handshakes run at a time; a connection that finds them all busy waits
// handshakeQueueWait for one, then is closed — refused quickly, so its
// client can retry elsewhere — and a handshake that does not finish
// within Limits.HandshakeTimeout is abandoned. Connections come out of
// Accept with their handshake done, as *tls.Conn, so the HTTP server
// sees the client certificate as usual.

// handshakeQueueWait is how long a new connection waits for a handshake
// slot before it is closed.
const handshakeQueueWait = 100 * time.Millisecond

type tlsListener struct {
	raw     net.Listener
	cfg     *tls.Config
	timeout time.Duration

	conns      chan struct{} // a slot per open connection
	handshakes chan struct{} // a slot per running handshake
	ready      chan net.Conn // handshaken connections for Accept
	done       chan struct{} // closed by Close
	closeOnce  sync.Once
	err        atomic.Pointer[error] // the raw listener's Accept error

	refused *atomic.Int64 // connections closed unserved, for metrics
}

// errTooManyFiles is what Accept fails with when the process is out of
// file descriptors: a reason to wait, not to stop.
var errTooManyFiles = syscall.EMFILE

func newTLSListener(raw net.Listener, cfg *tls.Config, l Limits, refused *atomic.Int64) *tlsListener {
	t := &tlsListener{raw: raw, cfg: cfg, timeout: l.HandshakeTimeout, refused: refused,
		conns: make(chan struct{}, l.MaxConns), handshakes: make(chan struct{}, l.MaxHandshakes),
		ready: make(chan net.Conn), done: make(chan struct{})}
	go t.acceptLoop()
	return t
}

func (t *tlsListener) acceptLoop() {
	var delay time.Duration
	for {
		c, err := t.raw.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of file descriptors, say: back off as
				// http.Server does, rather than spin.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
					continue
				case <-t.done:
					return
				}
			}
			t.err.Store(&err)
			t.Close()
			return
		}
		delay = 0
		select {
		case t.conns <- struct{}{}:
		default:
			t.refused.Add(1)
			c.Close() // over MaxConns
			continue
		}
		go t.handshake(c)
	}
}

// handshake runs the TLS handshake of c within the bounds, and hands the
// connection to Accept.
func (t *tlsListener) handshake(c net.Conn) {
	release := &slotConn{Conn: c, slots: t.conns}
	timer := time.NewTimer(handshakeQueueWait)
	select {
	case t.handshakes <- struct{}{}:
		timer.Stop()
	case <-timer.C:
		t.refused.Add(1)
		release.Close() // every handshake slot busy
		return
	case <-t.done:
		timer.Stop()
		release.Close()
		return
	}
	tc := tls.Server(release, t.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), t.timeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	<-t.handshakes
	if err != nil {
		t.refused.Add(1)
		tc.Close()
		return
	}
	select {
	case t.ready <- tc:
	case <-t.done:
		tc.Close()
	}
}

// Accept returns the next connection whose handshake is done.
func (t *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-t.ready:
		return c, nil
	case <-t.done:
		if err := t.err.Load(); err != nil {
			return nil, *err
		}
		return nil, net.ErrClosed
	}
}

func (t *tlsListener) Close() error {
	var err error
	t.closeOnce.Do(func() {
		close(t.done)
		err = t.raw.Close()
	})
	return err
}

func (t *tlsListener) Addr() net.Addr { return t.raw.Addr() }

// slotConn gives its connection slot back when closed.
type slotConn struct {
	net.Conn
	slots chan struct{}
	once  sync.Once
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { <-c.slots })
	return err
}
