package config

import (
	"fmt"
	"net"
	"net/netip"
)

// Metrics configures the listener of operators' tools: GET /metrics
// (Prometheus), /healthz and /readyz, apart from the API. It is off unless
// listen is set. Plain HTTP is allowed on a loopback address only (a
// Prometheus agent or health checker on the same host); anywhere else it
// must be TLS, with the server's certificate, requiring a client
// certificate from tls.client_cas (any one: the scraper need not be a
// principal), since metrics tell who signs how much with which key.
type Metrics struct {
	Listen string `yaml:"listen"` // host:port, e.g. 127.0.0.1:9464
	TLS    bool   `yaml:"tls"`    // mutual TLS with tls.cert and tls.client_cas
}

func (m Metrics) check() problems {
	var errs problems
	if m.Listen == "" {
		if m.TLS {
			errs.add("metrics.tls", "metrics.tls without metrics.listen: set the address to serve metrics on")
		}
		return errs
	}
	host, _, err := net.SplitHostPort(m.Listen)
	if err != nil {
		errs.add("metrics.listen", "metrics.listen %q: %v; write host:port, e.g. 127.0.0.1:9464", m.Listen, err)
		return errs
	}
	if !m.TLS && !Loopback(host) {
		errs.add("metrics.listen", "metrics.listen %q is not a loopback address: serve metrics there with metrics.tls: true (scrapers then present a client certificate), or listen on 127.0.0.1", m.Listen)
	}
	return errs
}

// Loopback reports whether host (of a listen address) is a loopback
// address or "localhost"; "" (all addresses) is not.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// SetMetricsListen sets the metrics listener's address to a replica's
// override (--metrics-addr), checked as the file's would be.
func (c *Config) SetMetricsListen(addr string) error {
	m := c.Metrics
	m.Listen = addr
	if errs := m.check(); len(errs) > 0 {
		return fmt.Errorf("--metrics-addr: %w", errs[0].err)
	}
	c.Metrics = m
	return nil
}
