// Package client calls a Signet server. The CLI is built on it; other Go
// programs can use it directly.
//
// A Client speaks HTTP/JSON over mutual TLS 1.3 and keeps connections
// alive. It never uploads what it does not have to: for keys that sign a
// digest (ECDSA, RSA) [Client.SignFiles] hashes files locally, streaming, and
// sends only the digest; only pure Ed25519, which signs the message itself,
// sends the file, and only up to the size the server accepts.
//
// Errors from the server are *Error values carrying the HTTP status, the
// server's message and its request id, which is what an operator needs to
// find the request in the server log.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/custody"
	"github.com/signet-dev/signet/keystore"
)

// Config says where the server is and how to prove who we are.
type Config struct {
	Server     string // base URL, https://host:port
	CACert     string // PEM file of the CA that issued the server certificate
	ClientCert string // PEM client certificate
	ClientKey  string // PEM private key of ClientCert
	Token      string // bearer token; with it, a client certificate is optional
}

// FromEnv reads SIGNET_SERVER, SIGNET_CACERT, SIGNET_CLIENT_CERT,
// SIGNET_CLIENT_KEY and SIGNET_TOKEN.
func FromEnv() Config {
	return Config{
		Server:     os.Getenv("SIGNET_SERVER"),
		CACert:     os.Getenv("SIGNET_CACERT"),
		ClientCert: os.Getenv("SIGNET_CLIENT_CERT"),
		ClientKey:  os.Getenv("SIGNET_CLIENT_KEY"),
		Token:      os.Getenv("SIGNET_TOKEN"),
	}
}

// Client is a connection to one Signet server. It is safe for concurrent
// use.
type Client struct {
	base  *url.URL
	http  *http.Client
	token string
}

// New returns a Client for cfg after loading its certificates.
func New(cfg Config) (*Client, error) {
	if cfg.Server == "" {
		return nil, errors.New("no server given: set SIGNET_SERVER (or --server), e.g. '. DATA/client.env' after 'signet serve --dev'")
	}
	u, err := url.Parse(cfg.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server %q is not an https:// URL", cfg.Server)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS13}
	if cfg.CACert != "" {
		b, err := os.ReadFile(cfg.CACert)
		if err != nil {
			return nil, fmt.Errorf("CA certificate: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("CA certificate %s: no PEM certificate found", cfg.CACert)
		}
	}
	switch {
	case cfg.ClientCert != "" && cfg.ClientKey != "":
		cert, err := tls.LoadX509KeyPair(cfg.ClientCert, cfg.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case cfg.Token == "":
		return nil, errors.New("no credentials: set SIGNET_TOKEN, or SIGNET_CLIENT_CERT and SIGNET_CLIENT_KEY (or --token, --cert and --cert-key)")
	}
	c := NewWithTLS(u, tc)
	c.token = cfg.Token
	return c, nil
}

// NewWithTLS returns a Client for the server at base using tc as is.
func NewWithTLS(base *url.URL, tc *tls.Config) *Client {
	tr := &http.Transport{
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &Client{base: base, http: &http.Client{Transport: tr, Timeout: 5 * time.Minute}}
}

// Error is an error answered by the server.
type Error struct {
	Status    int    // HTTP status
	Code      string // stable word to branch on: "forbidden", "locked", …
	Message   string
	RequestID string
}

func (e *Error) Error() string {
	if e.RequestID != "" {
		return fmt.Sprintf("server: %s (HTTP %d, request %s)", e.Message, e.Status, e.RequestID)
	}
	return fmt.Sprintf("server: %s (HTTP %d)", e.Message, e.Status)
}

// errorFrom builds the Error of a response with the given status and body.
func errorFrom(status int, body []byte) *Error {
	var ae api.Error
	json.Unmarshal(body, &ae)
	e := &Error{Status: status, Code: ae.Code, Message: ae.Message, RequestID: ae.RequestID}
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
	}
	return e
}

// Keys lists the keys this client may use.
func (c *Client) Keys(ctx context.Context) ([]api.Key, error) {
	var out api.KeyList
	err := c.do(ctx, http.MethodGet, "/v1/keys", nil, &out)
	return out.Keys, err
}

// Key describes one key, including its public key.
func (c *Client) Key(ctx context.Context, name string) (*api.Key, error) {
	var out api.Key
	if err := c.do(ctx, http.MethodGet, "/v1/keys/"+url.PathEscape(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateKey asks the server to generate a key: name, type, and the usage
// (format family) it will sign in.
func (c *Client) CreateKey(ctx context.Context, req *api.CreateKeyRequest) (*api.Key, error) {
	var out api.Key
	if err := c.do(ctx, http.MethodPost, "/v1/keys", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Unlock supplies the keystore passphrase.
func (c *Client) Unlock(ctx context.Context, passphrase string) error {
	return c.do(ctx, http.MethodPost, "/v1/unlock", api.UnlockRequest{Passphrase: passphrase}, nil)
}

// UnlockShare submits one custodian's share toward unlocking.
func (c *Client) UnlockShare(ctx context.Context, share custody.Share) (*api.UnlockResponse, error) {
	var out api.UnlockResponse
	if err := c.do(ctx, http.MethodPost, "/v1/unlock", api.UnlockRequest{Share: &share}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Lock locks the keystore now.
func (c *Client) Lock(ctx context.Context) (*api.LockResponse, error) {
	var out api.LockResponse
	if err := c.do(ctx, http.MethodPost, "/v1/lock", struct{}{}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Status returns the keystore's lock state, lease and custody progress.
func (c *Client) Status(ctx context.Context) (*api.Status, error) {
	var out api.Status
	if err := c.do(ctx, http.MethodGet, "/v1/status", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CustodyInit hands the keystore over to custodians.
func (c *Client) CustodyInit(ctx context.Context, req *api.CustodyInitRequest) (*api.CustodyShares, error) {
	var out api.CustodyShares
	if err := c.do(ctx, http.MethodPost, "/v1/custody/init", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ProposeRekey proposes a new share set.
func (c *Client) ProposeRekey(ctx context.Context, req *api.RekeyRequest) (*keystore.Proposal, error) {
	var out keystore.Proposal
	if err := c.do(ctx, http.MethodPost, "/v1/custody/rekey", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ApproveRekey submits one current custodian's share for a proposal.
func (c *Client) ApproveRekey(ctx context.Context, req *api.RekeyApproval) (*api.RekeyApprovalResponse, error) {
	var out api.RekeyApprovalResponse
	if err := c.do(ctx, http.MethodPost, "/v1/custody/rekey/approve", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ResetCustody discards partial unlock progress and a pending rekey.
func (c *Client) ResetCustody(ctx context.Context) (*api.ResetResponse, error) {
	var out api.ResetResponse
	if err := c.do(ctx, http.MethodPost, "/v1/custody/reset", struct{}{}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// EnrollToken hands a PKCS #11 token over to the keystore.
func (c *Client) EnrollToken(ctx context.Context, token, pin string) error {
	return c.do(ctx, http.MethodPost, "/v1/hsm/enroll", api.EnrollRequest{Token: token, PIN: pin}, nil)
}

// IssueToken asks for a token for one job.
func (c *Client) IssueToken(ctx context.Context, req *api.TokenRequest) (*api.TokenResponse, error) {
	var out api.TokenResponse
	if err := c.do(ctx, http.MethodPost, "/v1/tokens", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// VerifyToken asks the server whether tok is valid there and now.
func (c *Client) VerifyToken(ctx context.Context, tok string) (*api.TokenVerifyResponse, error) {
	var out api.TokenVerifyResponse
	if err := c.do(ctx, http.MethodPost, "/v1/tokens/verify", api.TokenVerifyRequest{Token: tok}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DenyList asks the server to sign a deny list.
func (c *Client) DenyList(ctx context.Context, req *api.DenyListRequest) (string, error) {
	var out api.DenyListResponse
	if err := c.do(ctx, http.MethodPost, "/v1/tokens/deny-list", req, &out); err != nil {
		return "", err
	}
	return out.DenyList, nil
}

// Sign sends one sign request.
func (c *Client) Sign(ctx context.Context, req *api.SignRequest) (*api.SignResponse, error) {
	var out api.SignResponse
	if err := c.do(ctx, http.MethodPost, "/v1/sign", req, &out); err != nil {
		return nil, err
	}
	if len(out.Signatures) != len(req.Items) {
		return nil, fmt.Errorf("server returned %d signatures for %d items", len(out.Signatures), len(req.Items))
	}
	return &out, nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	path, query, _ := strings.Cut(path, "?")
	u := c.base.JoinPath(path)
	u.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("contacting %s: %w", c.base.Host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("reading response from %s: %w", c.base.Host, err)
	}
	if resp.StatusCode >= 300 {
		return errorFrom(resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("response from %s is not valid JSON: %w", c.base.Host, err)
	}
	return nil
}

// Endpoint describes how c reaches its server, for tools that drive the
// server with their own transport (signet bench): the base URL, a copy of
// the TLS configuration, and the bearer token if any.
func (c *Client) Endpoint() (base *url.URL, tc *tls.Config, token string) {
	tr, _ := c.http.Transport.(*http.Transport)
	if tr != nil {
		tc = tr.TLSClientConfig.Clone()
	}
	return c.base, tc, c.token
}
