package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/incident"
)

// AuditKey returns the audit log's name and verifier key. Pin the key:
// auditors must not learn it from the server they audit.
func (c *Client) AuditKey(ctx context.Context) (*api.AuditKey, error) {
	var out api.AuditKey
	if err := c.do(ctx, http.MethodGet, "/v1/audit/key", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Checkpoint returns the log's latest signed checkpoint.
func (c *Client) Checkpoint(ctx context.Context) (string, error) {
	var b []byte
	if err := c.doRaw(ctx, "/v1/audit/checkpoint", nil, &b); err != nil {
		return "", err
	}
	return string(b), nil
}

// Consistency returns a proof that the log of old entries is a prefix of
// the log of new entries.
func (c *Client) Consistency(ctx context.Context, old, new int64) ([][]byte, error) {
	var out api.AuditProof
	q := url.Values{"old": {strconv.FormatInt(old, 10)}, "new": {strconv.FormatInt(new, 10)}}
	if err := c.get(ctx, "/v1/audit/consistency", q, &out); err != nil {
		return nil, err
	}
	return out.Proof, nil
}

// Proof returns a fresh receipt for entry index, against the latest
// checkpoint.
func (c *Client) Proof(ctx context.Context, index int64) (*audit.Receipt, error) {
	var out audit.Receipt
	if err := c.get(ctx, "/v1/audit/proof", url.Values{"index": {strconv.FormatInt(index, 10)}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Search returns one page of entries matching the query parameters of
// GET /v1/audit/search.
func (c *Client) Search(ctx context.Context, q url.Values) (*api.AuditSearch, error) {
	var out api.AuditSearch
	if err := c.get(ctx, "/v1/audit/search", q, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Head implements audit.Source: the latest checkpoint and its size.
func (c *Client) Head(ctx context.Context) (string, int64, error) {
	signed, err := c.Checkpoint(ctx)
	if err != nil {
		return "", 0, err
	}
	cp, err := audit.ParseUnverified(signed)
	if err != nil {
		return "", 0, fmt.Errorf("checkpoint from %s: %w", c.base.Host, err)
	}
	return signed, cp.Size, nil
}

// Entries implements audit.Source.
func (c *Client) Entries(ctx context.Context, start, end int64) ([][]byte, error) {
	var out [][]byte
	for start < end {
		var page api.AuditEntries
		q := url.Values{"start": {strconv.FormatInt(start, 10)}, "end": {strconv.FormatInt(min(end, start+1000), 10)}}
		if err := c.get(ctx, "/v1/audit/entries", q, &page); err != nil {
			return out, err
		}
		if len(page.Entries) == 0 {
			return out, fmt.Errorf("entries from %d: the server returned none", start)
		}
		for _, m := range page.Entries {
			if m.Index != start {
				return out, fmt.Errorf("the server returned entry %d for %d", m.Index, start)
			}
			out = append(out, m.Entry)
			start++
		}
	}
	return out, nil
}

// Manifest returns the content manifest stored under digest ("sha256:HEX",
// as an entry names it), unchecked: audit.ReadManifest checks it.
// A manifest the server does not hold is audit.ErrNotFound.
func (c *Client) Manifest(ctx context.Context, digest string) ([]byte, error) {
	var b []byte
	err := c.doRaw(ctx, "/v1/audit/manifests/"+url.PathEscape(digest), nil, &b)
	var se *Error
	if errors.As(err, &se) && se.Code == "not_found" {
		return nil, fmt.Errorf("%w: %v", audit.ErrNotFound, err)
	}
	return b, err
}

// Checkpoints implements audit.Source.
func (c *Client) Checkpoints(ctx context.Context, after int64, limit int) ([]audit.StoredCheckpoint, error) {
	var out api.AuditCheckpoints
	q := url.Values{}
	if after >= 0 {
		q.Set("after", strconv.FormatInt(after, 10))
	}
	if err := c.get(ctx, "/v1/audit/checkpoints", q, &out); err != nil {
		return nil, err
	}
	cps := make([]audit.StoredCheckpoint, len(out.Checkpoints))
	for i, cp := range out.Checkpoints {
		cps[i] = audit.StoredCheckpoint{Size: cp.Size, Signed: cp.Checkpoint, Time: cp.Time}
	}
	if len(cps) > limit {
		cps = cps[:limit]
	}
	return cps, nil
}

func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return c.do(ctx, http.MethodGet, path, nil, out)
}

// doRaw GETs path and returns the body as is.
func (c *Client) doRaw(ctx context.Context, path string, q url.Values, out *[]byte) error {
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	b, _, err := c.roundTrip(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	*out = b
	return nil
}

// AuditSource is an incident.Source over a server's search API
// (GET /v1/audit/search?proofs=1): the first page is answered against the
// server's latest checkpoint, and the next ones, with size=, against the
// same entries and tree, so that the whole report is proven in one
// checkpoint. Reading it needs an audit grant. Use one AuditSource per
// report.
type AuditSource struct {
	C *Client

	checkpoint string
	size       int64
}

// SearchProven implements incident.Source.
func (s *AuditSource) SearchProven(ctx context.Context, q audit.Query) (*incident.Page, error) {
	v := url.Values{"proofs": {"1"}, "key": {q.Key}, "after": {strconv.FormatInt(q.After+1, 10)}}
	if q.Version != 0 {
		v.Set("version", strconv.Itoa(q.Version))
	}
	for name, t := range map[string]time.Time{"since": q.Since, "until": q.Until} {
		if !t.IsZero() {
			v.Set(name, t.UTC().Format(time.RFC3339Nano))
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if s.size > 0 {
		v.Set("size", strconv.FormatInt(s.size, 10))
	}
	page, err := s.C.Search(ctx, v)
	if err != nil {
		return nil, err
	}
	if s.size == 0 {
		cp, err := audit.ParseUnverified(page.Checkpoint)
		if err != nil {
			return nil, fmt.Errorf("checkpoint from %s: %w", s.C.base.Host, err)
		}
		s.checkpoint, s.size = page.Checkpoint, cp.Size
	} else if page.Size != s.size {
		return nil, fmt.Errorf("the server answered for %d entries, not the %d asked for", page.Size, s.size)
	}
	return &incident.Page{Checkpoint: s.checkpoint, Matches: page.Matches, Next: page.Next - 1}, nil
}
