package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/server"
)

// TestConnectionFlood opens 300 connections at once that never finish
// their handshake, on a server allowing 8 handshakes and 100 connections:
// a client whose connection was established keeps being answered, a new
// connection is refused (closed, not left hanging) while the flood lasts,
// the refusals are counted, and new clients are served once it ends.
func TestConnectionFlood(t *testing.T) {
	f := newFixture(t, server.Limits{MaxConns: 100, MaxHandshakes: 8, HandshakeTimeout: 20 * time.Second})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := f.ca.IssueServer("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(f.ca.Cert)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(ctx, ln, server.TLSConfig(serverCert, pool, true), 5*time.Second) }()
	defer func() { stop(); <-served }()
	u, _ := url.Parse("https://" + ln.Addr().String())
	established := client.NewWithTLS(u, f.tls["builder"])
	if _, err := signOne(established, "before.tar.gz"); err != nil {
		t.Fatal(err)
	}

	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for range 300 {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatalf("flood connection %d: %v", len(flood)+1, err)
		}
		flood = append(flood, c)
	}
	for i := range 5 {
		if _, err := signOne(established, fmt.Sprintf("during-%d.tar.gz", i)); err != nil {
			t.Fatalf("established client during the flood: %v", err)
		}
	}
	// A new client finds no handshake slot: its connection is closed.
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), f.tls["admin"])
	if err == nil {
		conn.Close()
		t.Error("a new connection was served during the flood, over the handshake bound")
	}
	if n := metricValue(scrape(t, f.metrics), "signet_connections_refused_total"); n < 1 {
		t.Errorf("signet_connections_refused_total = %v during the flood", n)
	}
	for _, c := range flood {
		c.Close()
	}
	flood = nil
	deadline := time.Now().Add(30 * time.Second)
	for {
		fresh := client.NewWithTLS(u, f.tls["builder"])
		_, err := signOne(fresh, "after.tar.gz")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a new client 30 s after the flood ended: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
