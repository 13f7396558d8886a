package client

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/rfc3161"
)

// Timestamp asks a key of the server's time-stamp authority for an RFC
// 3161 token for req.Digest (POST /v1/timestamp).
func (c *Client) Timestamp(ctx context.Context, req *api.TimestampRequest) (*api.Timestamp, error) {
	var out api.Timestamp
	if err := c.do(ctx, http.MethodPost, "/v1/timestamp", req, &out); err != nil {
		return nil, err
	}
	if out.Receipt == nil {
		return nil, fmt.Errorf("the server returned a time-stamp token without an audit receipt: refusing it")
	}
	return &out, nil
}

// tsaTimeout bounds one request to a time-stamp authority.
const tsaTimeout = 30 * time.Second

// maxReply bounds a time-stamp reply: a token and a few certificates.
const maxReply = 64 << 10

// TimestampAt asks the RFC 3161 time-stamp authority at tsaURL to date
// digest, a SHA-256, SHA-384 or SHA-512 hash, and returns its token
// after checking it: granted, for this digest and a fresh nonce, signed by
// the certificate it carries (certReq is set). Whether that certificate
// is trusted is the verifier's business (osslsigncode verify
// -TSA-CAfile).
//
// A URL on one of c's servers (Signet's own TSA, POST
// /v1/timestamp/{key}) is reached with c's credentials, as its grants
// require; any other URL is an ordinary HTTP request, as public TSAs
// expect.
func (c *Client) TimestampAt(ctx context.Context, tsaURL string, h crypto.Hash, digest []byte) (*rfc3161.Stamped, error) {
	u, err := url.Parse(tsaURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("time-stamp authority %q is not an http:// or https:// URL", tsaURL)
	}
	q := &rfc3161.Query{Hash: h, Digest: digest, Nonce: rfc3161.NewNonce(), CertReq: true}
	der, err := q.Marshal()
	if err != nil {
		return nil, err
	}
	hc, own := &http.Client{Timeout: tsaTimeout}, false
	for _, s := range c.servers {
		if s.url.Scheme == u.Scheme && s.url.Host == u.Host {
			hc, own = c.http, true
		}
	}
	ctx, cancel := context.WithTimeout(ctx, tsaTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(der))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", rfc3161.QueryType)
	if own && c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("time-stamp authority %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return nil, fmt.Errorf("time-stamp authority %s: reading its reply: %w", u.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		if own {
			return nil, fmt.Errorf("time-stamp authority %s: %w", u.Host, errorFrom(resp.StatusCode, body))
		}
		return nil, fmt.Errorf("time-stamp authority %s answered %s", u.Host, resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != rfc3161.ReplyType {
		return nil, fmt.Errorf("time-stamp authority %s answered %q, not %s: is %s an RFC 3161 URL?", u.Host, mt, rfc3161.ReplyType, tsaURL)
	}
	if len(body) > maxReply {
		return nil, fmt.Errorf("time-stamp authority %s: reply larger than %d bytes", u.Host, maxReply)
	}
	st, err := rfc3161.CheckReply(body, q, nil)
	if err != nil {
		return nil, fmt.Errorf("time-stamp authority %s: %w", u.Host, err)
	}
	return st, nil
}
