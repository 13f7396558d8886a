package bench

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/signet-dev/signet/internal/devpki"
)

// A Baseline is a plain net/http server over TLS 1.3 that reads the request
// body and answers a fixed small JSON object: the ceiling any HTTP service
// reaches on this machine with this client. It asks for the client's
// certificate when the client has one, as Signet does, so that both
// handshakes carry the same work (they happen once per connection anyway).
type Baseline struct {
	srv   *http.Server
	ln    net.Listener
	roots *x509.CertPool
}

// baselineReply is as long as a small sign response's envelope.
var baselineReply = []byte(`{"request_id":"0000000000000000","ok":true}` + "\n")

// StartBaseline starts a baseline server on a loopback port.
func StartBaseline() (*Baseline, error) {
	ca, err := devpki.NewCA("signet bench baseline CA")
	if err != nil {
		return nil, err
	}
	cert, err := ca.IssueServer("127.0.0.1")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Baseline{ln: ln, roots: x509.NewCertPool()}
	b.roots.AddCert(ca.Cert)
	b.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(baselineReply)
		}),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequestClientCert,
		},
	}
	go b.srv.ServeTLS(ln, "", "")
	return b, nil
}

// Target returns a target posting body to the baseline with the TLS
// settings and credentials of tc and token, trusting the baseline's CA.
func (b *Baseline) Target(tc *tls.Config, token string, body []byte, conns int) *Target {
	tc = tc.Clone()
	tc.RootCAs = b.roots
	tc.ServerName = ""
	u := &url.URL{Scheme: "https", Host: b.ln.Addr().String(), Path: "/v1/sign"}
	return newTarget(u, tc, token, body, conns)
}

// Close stops the baseline server.
func (b *Baseline) Close() error {
	if err := b.srv.Close(); err != nil {
		return fmt.Errorf("stopping the baseline: %w", err)
	}
	return nil
}
