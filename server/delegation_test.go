package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/server"
)

// send makes one request as principal with extra headers and returns the
// status and body.
func (f *fixture) send(t *testing.T, principal, method, path string, body any, header map[string]string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.url.JoinPath(path).String(), r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := f.httpClient(principal).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func signReq(names ...string) *api.SignRequest {
	req := &api.SignRequest{Key: "release", Format: "raw"}
	for _, n := range names {
		req.Items = append(req.Items, api.SignItem{Name: n, Digest: digest256(n)})
	}
	return req
}

// withHost is a fixture with "host": a build host running signet agent,
// which may delegate and signs release raw "*.tar.gz".
func withHost(t *testing.T) *fixture {
	return newFixtureWith(t, fixtureOptions{principals: map[string]policy.Rules{
		"host": {Delegate: true, Grants: []policy.Grant{{Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"*.tar.gz"}}}},
	}})
}

func TestDelegation(t *testing.T) {
	f := withHost(t)
	alice := map[string]string{api.LocalUserHeader: "alice"}

	// A delegating host signs for a local user; the entry names both.
	status, body := f.send(t, "host", "POST", "/v1/sign", signReq("app.tar.gz"), alice)
	if status != 200 {
		t.Fatalf("host for alice: %d %s", status, body)
	}
	var resp api.SignResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	e, _, err := audit.VerifyReceipt(resp.Signatures[0].Receipt, f.logKey)
	if err != nil {
		t.Fatal(err)
	}
	if e.Decision != audit.Allowed || e.Principal != (audit.Principal{Kind: "agent", Name: "host", ID: e.Principal.ID, LocalUser: "alice"}) || !strings.HasPrefix(e.Principal.ID, "sha256:") {
		t.Errorf("entry principal %+v, want agent host (its certificate) for local user alice", e.Principal)
	}

	// The host's grants bound what it signs for anyone.
	status, body = f.send(t, "host", "POST", "/v1/sign", signReq("app.zip"), alice)
	if status != 403 || !strings.Contains(string(body), `may not sign artifact \"app.zip\"`) {
		t.Errorf("host for alice, app.zip: %d %s; want 403", status, body)
	}
	if e := f.lastEntry(t); e.Decision != audit.Denied || e.Principal.LocalUser != "alice" || e.Principal.Name != "host" {
		t.Errorf("refusal entry %+v", e.Principal)
	}

	// Delegated requests only sign.
	status, body = f.send(t, "host", "GET", "/v1/audit/entries", nil, alice)
	if status != 403 || !strings.Contains(string(body), `may only sign on behalf of local user \"alice\"`) {
		t.Errorf("host for alice reads the log: %d %s; want 403", status, body)
	}

	// A principal without the right to delegate is refused whatever it
	// asks, and the refusal is recorded with the user it named.
	for _, tt := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/sign", signReq("app.tar.gz")},
		{"GET", "/v1/keys", nil},
	} {
		status, body := f.send(t, "builder", tt.method, tt.path, tt.body, map[string]string{api.LocalUserHeader: "mallory"})
		var ae api.Error
		json.Unmarshal(body, &ae)
		want := `permission denied: principal "builder" may not act on behalf of local users (needs delegate: true); its request for local user "mallory" is refused`
		if status != 403 || ae.Code != "forbidden" || ae.Message != want {
			t.Errorf("builder for mallory %s %s: %d %s; want 403 %q", tt.method, tt.path, status, body, want)
		}
		e := f.lastEntry(t)
		if e.Decision != audit.Denied || e.Principal.Name != "builder" || e.Principal.Kind != "agent" || e.Principal.LocalUser != "mallory" ||
			e.RequestID != ae.RequestID || !strings.Contains(e.Reason, "needs delegate: true") {
			t.Errorf("refusal entry %+v (%q), want builder for mallory denied", e.Principal, e.Reason)
		}
	}
	// Without the assertion, builder is itself.
	if status, body := f.send(t, "builder", "POST", "/v1/sign", signReq("app.tar.gz"), nil); status != 200 {
		t.Errorf("builder: %d %s", status, body)
	}
}

func TestIdempotencyKeyIsRecorded(t *testing.T) {
	f := newFixture(t, server.Limits{})
	for attempt, want := range []struct{ retryOf string }{{""}, {"req-7f3a"}, {"req-7f3a"}} {
		h := map[string]string{api.IdempotencyKeyHeader: "req-7f3a", api.AttemptHeader: fmt.Sprint(attempt + 1)}
		status, body := f.send(t, "builder", "POST", "/v1/sign", signReq("a.tar.gz", "b.tar.gz"), h)
		if status != 200 {
			t.Fatalf("attempt %d: %d %s", attempt+1, status, body)
		}
		es := f.entries(t)
		for _, e := range es[len(es)-2:] {
			if e.IdempotencyKey != "req-7f3a" || e.Attempt != attempt+1 || e.RetryOf != want.retryOf {
				t.Errorf("attempt %d: entry has key %q attempt %d retry_of %q", attempt+1, e.IdempotencyKey, e.Attempt, e.RetryOf)
			}
		}
	}
	// Without a key, nothing is recorded about attempts.
	f.send(t, "builder", "POST", "/v1/sign", signReq("c.tar.gz"), nil)
	if e := f.lastEntry(t); e.IdempotencyKey != "" || e.Attempt != 0 || e.RetryOf != "" {
		t.Errorf("entry without a key: %+v", e)
	}
	// Malformed headers are refused, and the refusal is recorded.
	for _, tt := range []struct {
		h    map[string]string
		want string
	}{
		{map[string]string{api.IdempotencyKeyHeader: "a b"}, "only letters, digits"},
		{map[string]string{api.IdempotencyKeyHeader: strings.Repeat("k", 65)}, "1 to 64 characters"},
		{map[string]string{api.IdempotencyKeyHeader: "k", api.AttemptHeader: "0"}, "from 1 to 100"},
		{map[string]string{api.IdempotencyKeyHeader: "k", api.AttemptHeader: "+2"}, "from 1 to 100"},
		{map[string]string{api.IdempotencyKeyHeader: "k", api.AttemptHeader: "101"}, "from 1 to 100"},
		{map[string]string{api.AttemptHeader: "2"}, "Signet-Attempt without Idempotency-Key"},
	} {
		status, body := f.send(t, "builder", "POST", "/v1/sign", signReq("d.tar.gz"), tt.h)
		if status != 400 || !strings.Contains(string(body), tt.want) {
			t.Errorf("%v: %d %s; want 400 containing %q", tt.h, status, body, tt.want)
		}
		if e := f.lastEntry(t); e.Decision != audit.Denied || !strings.Contains(e.Reason, tt.want) {
			t.Errorf("%v: refusal not recorded: %+v", tt.h, e)
		}
	}
}

func TestItemErrors(t *testing.T) {
	f := newFixture(t, server.Limits{})
	bad := signReq("a.tar.gz", "b.tar.gz", "c.tar.gz")
	bad.Items[2].Digest = "sha256:00"
	for _, tt := range []struct {
		req    *api.SignRequest
		status int
		items  []int // the items at fault, or none when the request is
		want   string
	}{
		{signReq("a.tar.gz", "notes.txt", "c.tar.gz", "readme"), 403, []int{2, 4}, `may not sign artifact "notes.txt"`},
		{bad, 400, []int{3}, "item 3"},
		{&api.SignRequest{Key: "release", Format: "nope", Items: signReq("a.tar.gz").Items}, 400, nil, "not supported"},
		// Refusals of the key or the format concern every item alike.
		{&api.SignRequest{Key: "missing", Format: "raw", Items: signReq("a.tar.gz", "b.tar.gz").Items}, 403, nil, `may not use key "missing"`},
		{&api.SignRequest{Key: "release", Format: "ssh", Items: signReq("a.tar.gz").Items}, 403, nil, `in format "ssh"`},
	} {
		status, body := f.send(t, "builder", "POST", "/v1/sign", tt.req, nil)
		var ae api.Error
		json.Unmarshal(body, &ae)
		var items []int
		for _, it := range ae.Items {
			items = append(items, it.Item)
			if name := tt.req.Items[it.Item-1].Name; tt.status == 403 && !strings.Contains(it.Error, fmt.Sprintf("%q", name)) {
				t.Errorf("item %d: %q does not name %q", it.Item, it.Error, name)
			}
		}
		if status != tt.status || fmt.Sprint(items) != fmt.Sprint(tt.items) || !strings.Contains(ae.Message, tt.want) {
			t.Errorf("%d %s; want %d items %v containing %q", status, body, tt.status, tt.items, tt.want)
		}
		if len(tt.items) == 2 {
			// One entry records the refusal, naming the first artifact.
			e := f.lastEntry(t)
			if e.Decision != audit.Denied || e.Artifact.Name != "notes.txt" || e.Details["refused_items"] != "2" || e.Details["items"] != "4" {
				t.Errorf("refusal entry %+v %+v", e, e.Artifact)
			}
		}
	}
}

func TestLimitsEndpoint(t *testing.T) {
	f := newFixture(t, server.Limits{MaxBatch: 7, MaxBodyBytes: 1 << 20})
	var l api.Limits
	if status, body := f.get(t, "builder", "/v1/limits", nil, &l); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	if l != (api.Limits{MaxBatch: 7, MaxBodyBytes: 1 << 20, MaxMessageBytes: server.DefaultLimits().MaxMessageBytes}) {
		t.Errorf("limits %+v", l)
	}
}
