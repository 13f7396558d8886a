package cot_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/signet-dev/signet/cot"
	"github.com/signet-dev/signet/cot/cottest"
)

func TestQueueURLs(t *testing.T) {
	for _, root := range []string{"https://tc.example.com", "https://tc.example.com/", "https://tc.example.com/api/queue/v1", "https://tc.example.com/api/queue/v1/"} {
		q, err := cot.NewQueue(root, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := q.URL("AAAAAAAAQAOAAAAAAAAAAA", "public/a b/c.txt"), "https://tc.example.com/api/queue/v1/task/AAAAAAAAQAOAAAAAAAAAAA/artifacts/public/a%20b/c.txt"; got != want {
			t.Errorf("%s: %s, want %s", root, got, want)
		}
	}
	if _, err := cot.NewQueue("ftp://x", nil); err == nil {
		t.Error("ftp URL accepted")
	}
}

func TestQueueListArtifacts(t *testing.T) {
	g := cottest.New(cottest.Options{})
	o := serve(t, g)
	list, err := o.Queue.ListArtifacts(context.Background(), g.ByRole["build-windows"].ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range list {
		names = append(names, a.Name)
	}
	if !slices.Contains(names, "public/chain-of-trust.json") || !slices.Contains(names, "public/build/target.zip") {
		t.Errorf("listing: %v", names)
	}
}

// TestQueueBodies checks retries, encodings and limits on one URL.
func TestQueueBodies(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("hello, world\n"))
	zw.Close()
	tests := []struct {
		name    string
		handler func(n int32, w http.ResponseWriter)
		limit   int64
		want    string // body, or error substring
		wantErr bool
		hits    int32
	}{
		{"plain", func(n int32, w http.ResponseWriter) { w.Write([]byte("hello")) }, 100, "hello", false, 1},
		{"gzip decoded", func(n int32, w http.ResponseWriter) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gz.Bytes())
		}, 100, "hello, world\n", false, 1},
		{"limit after decoding", func(n int32, w http.ResponseWriter) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gz.Bytes())
		}, 5, "larger than the limit of 5 bytes", true, 1},
		{"content-length over limit", func(n int32, w http.ResponseWriter) { w.Write(make([]byte, 50)) }, 10, "larger than the limit of 10 bytes", true, 1},
		{"unsupported encoding", func(n int32, w http.ResponseWriter) {
			w.Header().Set("Content-Encoding", "br")
			w.Write([]byte("x"))
		}, 100, "unsupported Content-Encoding", true, 1},
		{"retried 5xx", func(n int32, w http.ResponseWriter) {
			if n < 3 {
				http.Error(w, `{"message":"busy"}`, http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte("finally"))
		}, 100, "finally", false, 3},
		{"retried 429", func(n int32, w http.ResponseWriter) {
			if n < 2 {
				http.Error(w, "slow down", http.StatusTooManyRequests)
				return
			}
			w.Write([]byte("ok"))
		}, 100, "ok", false, 2},
		{"404 not retried", func(n int32, w http.ResponseWriter) {
			http.Error(w, `{"code":"ResourceNotFound","message":"no such artifact"}`, http.StatusNotFound)
		}, 100, "HTTP 404: no such artifact", true, 1},
		{"5xx until retries run out", func(n int32, w http.ResponseWriter) {
			http.Error(w, "down", http.StatusBadGateway)
		}, 100, "HTTP 502", true, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tc.handler(hits.Add(1), w)
			}))
			defer srv.Close()
			q, _ := cot.NewQueue(srv.URL, nil)
			q.MinBackoff, q.MaxBackoff = 1, 1
			var buf cot.Buffer
			err := q.Artifact(context.Background(), "AAAAAAAAQAOAAAAAAAAAAA", "public/x", &buf, tc.limit)
			switch {
			case tc.wantErr && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want %q", err, tc.want)
			case !tc.wantErr && (err != nil || string(buf.Bytes()) != tc.want):
				t.Errorf("got %q, %v; want %q", buf.Bytes(), err, tc.want)
			}
			if hits.Load() != tc.hits {
				t.Errorf("%d requests, want %d", hits.Load(), tc.hits)
			}
			if tc.name == "404 not retried" && !cot.NotFound(err) {
				t.Errorf("NotFound(%v) = false", err)
			}
			var le *cot.LimitError
			if strings.Contains(tc.want, "limit") && !errors.As(err, &le) {
				t.Errorf("%v is not a LimitError", err)
			}
		})
	}
}
