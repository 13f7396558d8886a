package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/format/raw"
)

// A Target is one HTTP endpoint driven with one prepared request body,
// over its own keep-alive HTTP/1.1 connections (one per worker), as many
// build workers would.
type Target struct {
	url    string
	urls   []string       // several servers: requests go round-robin over them
	sent   []atomic.Int64 // requests sent to each of urls
	next   atomic.Uint64
	body   []byte
	auth   string
	client *http.Client
	check  func(status int, body []byte) error
}

// newTarget returns a Target posting body to u over conns connections.
func newTarget(u *url.URL, tc *tls.Config, token string, body []byte, conns int) *Target {
	tc = tc.Clone()
	tc.NextProtos = []string{"http/1.1"} // one request per connection at a time, like workers
	tr := &http.Transport{
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     time.Minute,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}
	t := &Target{url: u.String(), body: body, client: &http.Client{Transport: tr, Timeout: time.Minute}}
	if token != "" {
		t.auth = "Bearer " + token
	}
	return t
}

// Do sends the request once and checks the answer.
func (t *Target) Do(ctx context.Context) error {
	u := t.url
	if len(t.urls) > 1 {
		i := int((t.next.Add(1) - 1) % uint64(len(t.urls)))
		u = t.urls[i]
		t.sent[i].Add(1)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(t.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if t.auth != "" {
		req.Header.Set("Authorization", t.auth)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		json.Unmarshal(b, &e)
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, e.Message)
	}
	if t.check != nil {
		return t.check(resp.StatusCode, b)
	}
	return nil
}

// Close drops the target's connections.
func (t *Target) Close() { t.client.CloseIdleConnections() }

// SignLoad describes the sign requests of a run.
type SignLoad struct {
	Key     *api.Key // as the server describes it, with its public key
	Format  string   // only raw signatures are checked
	Batch   int      // items per request (default 1)
	Size    int      // bytes of each (random) artifact (default 1 KiB)
	Options api.SignOptions
	// CheckEvery checks the signatures of one response in CheckEvery
	// (default 100): the client side of a check costs as much as signing.
	CheckEvery int
}

// SignRun is a prepared sign load: the request and what its signatures
// must verify against.
type SignRun struct {
	load    SignLoad
	body    []byte
	tbs     [][]byte // what each item's signature covers
	checked atomic.Int64
	n       atomic.Int64
}

// Checked returns how many responses had their signatures verified.
func (r *SignRun) Checked() int64 { return r.checked.Load() }

// Prepare builds the request body of l: Batch items, each the digest of
// Size random bytes (or the bytes themselves for keys that sign messages).
func Prepare(l SignLoad) (*SignRun, error) {
	if l.Batch <= 0 {
		l.Batch = 1
	}
	if l.Size <= 0 {
		l.Size = 1024
	}
	if l.CheckEvery <= 0 {
		l.CheckEvery = 100
	}
	if l.Format == "" {
		l.Format = "raw"
	}
	pub, err := client.PublicKey(l.Key)
	if err != nil {
		return nil, err
	}
	h, err := raw.Hash(pub)
	if err != nil {
		return nil, err
	}
	r := &SignRun{load: l}
	req := api.SignRequest{Key: l.Key.Name, Format: l.Format, Options: l.Options, Items: make([]api.SignItem, l.Batch)}
	for i := range req.Items {
		data := make([]byte, l.Size)
		rand.Read(data)
		it := api.SignItem{Name: fmt.Sprintf("bench-%04d.tar.gz", i), Size: int64(l.Size)}
		if h == 0 {
			it.Data = data
			r.tbs = append(r.tbs, data)
		} else {
			d := h.New()
			d.Write(data)
			sum := d.Sum(nil)
			it.Digest = api.Digest(h, sum)
			r.tbs = append(r.tbs, sum)
		}
		req.Items[i] = it
	}
	if r.body, err = json.Marshal(req); err != nil {
		return nil, err
	}
	return r, nil
}

// check verifies the signatures of one response in CheckEvery.
func (r *SignRun) check(_ int, body []byte) error {
	if r.n.Add(1)%int64(r.load.CheckEvery) != 1 && r.load.CheckEvery > 1 {
		return nil
	}
	var resp api.SignResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return fmt.Errorf("response is not a sign response: %w", err)
	}
	if len(resp.Signatures) != len(r.tbs) {
		return fmt.Errorf("%d signatures for %d items", len(resp.Signatures), len(r.tbs))
	}
	if r.load.Format != "raw" {
		return nil
	}
	pub, err := client.PublicKey(r.load.Key)
	if err != nil {
		return err
	}
	h, _ := raw.Hash(pub)
	opts := raw.Options{PSS: r.load.Options.RSAPSS}
	for i, s := range resp.Signatures {
		var err error
		if h == 0 {
			err = raw.Verify(pub, r.tbs[i], s.Signature, opts)
		} else {
			err = raw.VerifyDigest(pub, r.tbs[i], s.Signature, opts)
		}
		if err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
		if s.Receipt == nil {
			return errors.New("a signature came without its audit receipt")
		}
	}
	r.checked.Add(1)
	return nil
}

// Target returns the target signing r's request on the server c talks
// to, over conns connections with c's credentials.
//
// With several servers (replicas of a fleet), requests go round-robin
// over all of them, over conns connections to each, so that the whole
// fleet is measured; Spread tells how many each got.
func (r *SignRun) Target(c *client.Client, conns int) *Target {
	base, tc, token := c.Endpoint()
	t := newTarget(base.JoinPath("/v1/sign"), tc, token, r.body, conns)
	t.check = r.check
	if reps := c.Replicas(); len(reps) > 1 {
		for _, rep := range reps {
			b, _, _ := rep.Client.Endpoint()
			t.urls = append(t.urls, b.JoinPath("/v1/sign").String())
		}
		t.sent = make([]atomic.Int64, len(t.urls))
	}
	return t
}

// Spread returns how many requests went to each server, by URL, when the
// target has several; nil otherwise.
func (t *Target) Spread() map[string]int64 {
	if len(t.urls) < 2 {
		return nil
	}
	out := make(map[string]int64, len(t.urls))
	for i, u := range t.urls {
		out[u] = t.sent[i].Load()
	}
	return out
}

// Body returns the prepared request body.
func (r *SignRun) Body() []byte { return r.body }
