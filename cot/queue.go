package cot

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Queue reads tasks and artifacts from a Taskcluster-compatible Queue:
//
//	GET {root}/api/queue/v1/task/{taskId}                  task definition
//	GET {root}/api/queue/v1/task/{taskId}/artifacts/{name} latest run's artifact
//	GET {root}/api/queue/v1/task/{taskId}/artifacts        latest run's listing
//
// It follows redirects (the Queue answers artifact requests with 303 to
// storage), retries network errors, 5xx and 429 with exponential backoff and
// full jitter, resumes interrupted downloads with Range requests, decodes a
// gzip Content-Encoding itself and bounds every body after decoding, so a
// small compressed body cannot expand without limit.
type Queue struct {
	base *url.URL // ends in /api/queue/v1/
	http *http.Client
	// Retries is how many times a failed request is retried.
	Retries int
	// MinBackoff and MaxBackoff bound the wait before a retry: a random
	// duration up to min(MaxBackoff, MinBackoff·2^attempt).
	MinBackoff, MaxBackoff time.Duration
	header                 http.Header // sent with every request
}

// web returns a client for other HTTPS services (version control, the
// GitHub API) with the Queue's retry policy, the given client (the
// Queue's if nil) and headers.
func (q *Queue) web(hc *http.Client, header http.Header) *Queue {
	if hc == nil {
		hc = q.http
	}
	return &Queue{http: hc, Retries: q.Retries, MinBackoff: q.MinBackoff, MaxBackoff: q.MaxBackoff, header: header}
}

// getBytes fetches u, at most limit bytes after decoding.
func (q *Queue) getBytes(ctx context.Context, u string, limit int64) ([]byte, error) {
	var buf Buffer
	if err := q.get(ctx, u, &buf, limit); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// NewQueue returns a Queue for the Taskcluster deployment at root (for
// example https://tc.example.com) or for a Queue base URL ending in
// /api/queue/v1. hc may be nil.
func NewQueue(root string, hc *http.Client) (*Queue, error) {
	u, err := url.Parse(root)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("queue URL %q is not an http(s) URL", root)
	}
	if !strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/api/queue/v1") {
		u = u.JoinPath("api", "queue", "v1")
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/"
	u.RawQuery, u.Fragment = "", ""
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			DisableCompression:    true, // gzip is decoded here, with a bound
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
		}}
	}
	return &Queue{base: u, http: hc, Retries: 5, MinBackoff: 200 * time.Millisecond, MaxBackoff: 10 * time.Second}, nil
}

// URL returns the URL of a task (name == "") or of one of its artifacts.
func (q *Queue) URL(taskID, name string) string {
	u := *q.base
	p := "task/" + url.PathEscape(taskID)
	if name != "" {
		segs := strings.Split(name, "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		p += "/artifacts/" + strings.Join(segs, "/")
	}
	return u.JoinPath(p).String()
}

// Task fetches a task definition, at most limit bytes.
func (q *Queue) Task(ctx context.Context, taskID string, limit int64) (*Task, error) {
	var buf Buffer
	if err := q.get(ctx, q.URL(taskID, ""), &buf, limit); err != nil {
		return nil, fmt.Errorf("task %s: %w", taskID, err)
	}
	t, err := ParseTask(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", taskID, err)
	}
	return t, nil
}

// Artifact downloads the named artifact of the latest run of taskID into
// dst, at most limit bytes after decoding. If dst already holds a prefix
// (dst.Offset() > 0) it asks for the rest only.
func (q *Queue) Artifact(ctx context.Context, taskID, name string, dst Destination, limit int64) error {
	if err := q.get(ctx, q.URL(taskID, name), dst, limit); err != nil {
		return fmt.Errorf("%s of task %s: %w", name, taskID, err)
	}
	return nil
}

// ArtifactInfo is one entry of an artifact listing.
type ArtifactInfo struct {
	Name        string `json:"name"`
	StorageType string `json:"storageType"`
	ContentType string `json:"contentType"`
	Expires     string `json:"expires"`
}

// ListArtifacts lists the artifacts of the latest run of taskID, following
// continuation tokens, at most 100,000 entries.
func (q *Queue) ListArtifacts(ctx context.Context, taskID string) ([]ArtifactInfo, error) {
	var out []ArtifactInfo
	token := ""
	for {
		u := q.URL(taskID, "") + "/artifacts"
		if token != "" {
			u += "?continuationToken=" + url.QueryEscape(token)
		}
		var buf Buffer
		if err := q.get(ctx, u, &buf, 16<<20); err != nil {
			return nil, fmt.Errorf("artifacts of task %s: %w", taskID, err)
		}
		var page struct {
			Artifacts         []ArtifactInfo `json:"artifacts"`
			ContinuationToken string         `json:"continuationToken"`
		}
		if err := json.Unmarshal(buf.Bytes(), &page); err != nil {
			return nil, fmt.Errorf("artifacts of task %s: listing is not valid JSON: %w", taskID, err)
		}
		out = append(out, page.Artifacts...)
		if len(out) > 100000 {
			return nil, fmt.Errorf("artifacts of task %s: more than 100000", taskID)
		}
		if page.ContinuationToken == "" || page.ContinuationToken == token {
			return out, nil
		}
		token = page.ContinuationToken
	}
}

// A Destination receives a download. Offset is how many bytes it already
// holds, from an earlier attempt; Truncate drops them when the server
// cannot send the rest.
type Destination interface {
	io.Writer
	Offset() int64
	Truncate() error
}

// HTTPError is an answer other than success from the Queue or storage.
type HTTPError struct {
	URL     string
	Status  int
	Message string
}

func (e *HTTPError) Error() string {
	msg := ""
	if e.Message != "" {
		msg = ": " + e.Message
	}
	return fmt.Sprintf("GET %s: HTTP %d%s", e.URL, e.Status, msg)
}

// LimitError is a body larger than its bound.
type LimitError struct {
	Limit int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("larger than the limit of %d bytes (after decoding); raise limits in the trust file if it is genuine", e.Limit)
}

// NotFound reports whether err is a 404 from the Queue.
func NotFound(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Status == http.StatusNotFound
}

// Transient reports whether err is a failure that says nothing about the
// chain of trust: the network or the Queue failing after all retries.
func Transient(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status >= 500 || he.Status == http.StatusTooManyRequests
	}
	var le *LimitError
	var ce *contentError
	return !errors.As(err, &le) && !errors.As(err, &ce) && err != nil
}

// contentError is a body that cannot be what it claims: corrupt gzip, an
// unsupported encoding, a range answer for the wrong range.
type contentError struct{ msg string }

func (e *contentError) Error() string { return e.msg }

// copyBuffers are the buffers bodies are copied through: large, so that
// a big artifact takes few reads from the connection.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// errRestart asks for an immediate retry from offset zero.
var errRestart = errors.New("restart")

func (q *Queue) get(ctx context.Context, u string, dst Destination, limit int64) error {
	for attempt := 0; ; attempt++ {
		err := q.getOnce(ctx, u, dst, limit)
		if err == nil {
			return nil
		}
		if errors.Is(err, errRestart) {
			if attempt < q.Retries {
				continue
			}
			err = &contentError{"the server does not answer range requests consistently"}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !Transient(err) || attempt >= q.Retries {
			return err
		}
		d := q.MinBackoff << min(attempt, 20)
		if d > q.MaxBackoff || d <= 0 {
			d = q.MaxBackoff
		}
		t := time.NewTimer(rand.N(d + 1))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (q *Queue) getOnce(ctx context.Context, u string, dst Destination, limit int64) error {
	off := dst.Offset()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return &contentError{err.Error()}
	}
	for k, vs := range q.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if off > 0 {
		// Byte ranges of a gzip-encoded body are ranges of the encoding:
		// ask for the identity so that offsets are the artifact's.
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
		req.Header.Set("Accept-Encoding", "identity")
	} else {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := q.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		if off > 0 {
			if err := dst.Truncate(); err != nil {
				return err
			}
		}
	case http.StatusPartialContent:
		start, ok := rangeStart(resp.Header.Get("Content-Range"))
		if off == 0 || !ok || start != off || encoding(resp) != "" {
			if err := dst.Truncate(); err != nil {
				return err
			}
			return errRestart
		}
	case http.StatusRequestedRangeNotSatisfiable:
		if err := dst.Truncate(); err != nil {
			return err
		}
		return errRestart
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &HTTPError{URL: u, Status: resp.StatusCode, Message: errorMessage(msg)}
	}
	body := io.Reader(resp.Body)
	switch enc := encoding(resp); enc {
	case "":
		if resp.ContentLength > limit-dst.Offset() {
			return &LimitError{limit}
		}
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return err
			}
			return &contentError{fmt.Sprintf("GET %s: body is not valid gzip: %v", u, err)}
		}
		zr.Multistream(false)
		body = zr
	default:
		return &contentError{fmt.Sprintf("GET %s: unsupported Content-Encoding %.40q", u, enc)}
	}
	buf := copyBuffers.Get().(*[]byte)
	_, err = io.CopyBuffer(dst, io.LimitReader(body, limit-dst.Offset()+1), *buf)
	copyBuffers.Put(buf)
	if dst.Offset() > limit {
		return &LimitError{limit}
	}
	if err != nil {
		var ce *contentError
		if errors.As(err, &ce) {
			return err
		}
		if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
			return &contentError{fmt.Sprintf("GET %s: corrupt gzip body: %v", u, err)}
		}
		return fmt.Errorf("GET %s: reading body: %w", u, err)
	}
	return nil
}

func encoding(resp *http.Response) string {
	e := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	if e == "identity" {
		return ""
	}
	return e
}

// rangeStart parses the first byte position of "bytes START-END/SIZE".
func rangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	s, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// errorMessage extracts the message of a Taskcluster error body, or a
// printable prefix of any other.
func errorMessage(b []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &e) == nil && e.Message != "" {
		b = []byte(e.Message)
	}
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.TrimSpace(s)
}
