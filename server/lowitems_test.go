package server_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/server"
)

// TestRevokeMissingVersion revokes a version the key does not have: 404
// naming the version, not the key.
func TestRevokeMissingVersion(t *testing.T) {
	f := newFixture(t, server.Limits{})
	status, e, _ := post(t, f, "admin", "/v1/keys/release/revoke", []byte(`{"version":999,"reason":"superseded"}`))
	if status != 404 || e.Code != "not_found" || !strings.Contains(e.Message, `key "release" has no version 999`) {
		t.Errorf("revoking version 999: %d %s %q", status, e.Code, e.Message)
	}
	status, e, _ = post(t, f, "admin", "/v1/keys/nope/revoke", []byte(`{"version":1,"reason":"superseded"}`))
	if status != 404 || !strings.Contains(e.Message, `no key named "nope"`) {
		t.Errorf("revoking a version of a missing key: %d %q", status, e.Message)
	}
}

// TestOpenPGPReadKeepsLease reads an OpenPGP key's certificate, which the
// primary key certifies, several times: the lease's last use does not
// move (reading public data is not using the key), and the certificate is
// the same each time.
func TestOpenPGPReadKeepsLease(t *testing.T) {
	f := newFixture(t, server.Limits{})
	if status, e, _ := post(t, f, "admin", "/v1/keys", []byte(`{"name":"pgp","type":"pgp-ed25519","uid":"Release <release@example.org>"}`)); status != 201 {
		t.Fatalf("create: %d %+v", status, e)
	}
	before := f.keys.Status().Lease
	if before == nil {
		t.Fatal("no lease")
	}
	var first string
	for i := range 3 {
		time.Sleep(10 * time.Millisecond) // so that a refresh would show
		var out struct {
			Certificate []byte `json:"certificate"`
		}
		if status, body := f.get(t, "admin", "/v1/keys/pgp/openpgp", nil, &out); status != 200 || len(out.Certificate) == 0 {
			t.Fatalf("GET openpgp: %d %s", status, body)
		}
		if i == 0 {
			first = string(out.Certificate)
		} else if string(out.Certificate) != first {
			t.Error("the certificate changed between reads of an unchanged key")
		}
	}
	if after := f.keys.Status().Lease; !after.LastUse.Equal(before.LastUse) {
		t.Errorf("reading the certificate moved the lease's last use from %v to %v", before.LastUse, after.LastUse)
	}
	// A rotation changes the certificate: it is made again.
	if status, e, _ := post(t, f, "admin", "/v1/keys/pgp/rotate", []byte(`{}`)); status != 200 {
		t.Fatalf("rotate: %d %+v", status, e)
	}
	var out struct {
		Certificate []byte `json:"certificate"`
	}
	if status, body := f.get(t, "admin", "/v1/keys/pgp/openpgp", nil, &out); status != 200 || string(out.Certificate) == first {
		t.Errorf("certificate after a rotation: %d, unchanged %v (%s)", status, string(out.Certificate) == first, body)
	}
}

// slowRefusals is an audit log whose queue is full for the refusals of
// artifact name: it holds them until released, or until their context
// ends, as the log does when its queue is full.
type slowRefusals struct {
	server.Recorder
	name     string
	entered  chan struct{}
	release  chan struct{}
	canceled chan struct{}
	once     sync.Once
}

func (l *slowRefusals) Append(ctx context.Context, entries ...audit.Entry) ([]audit.Receipt, error) {
	if len(entries) == 1 && entries[0].Artifact != nil && entries[0].Artifact.Name == l.name {
		l.once.Do(func() { close(l.entered) })
		select {
		case <-l.release:
		case <-ctx.Done():
			close(l.canceled)
			return nil, ctx.Err()
		}
	}
	return l.Recorder.Append(ctx, entries...)
}

// TestRefusalOfGoneClientRecorded refuses a request whose client goes
// away while the refusal waits for the log: the refusal is recorded all
// the same.
func TestRefusalOfGoneClientRecorded(t *testing.T) {
	sl := &slowRefusals{name: "gone.zip", entered: make(chan struct{}), release: make(chan struct{}), canceled: make(chan struct{})}
	f := newFixtureWith(t, fixtureOptions{wrapRecorder: func(r server.Recorder) server.Recorder { sl.Recorder = r; return sl }})
	ctx, cancel := context.WithCancel(context.Background())
	hc := f.httpClient("builder")
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, "POST", f.url.JoinPath("/v1/sign").String(), strings.NewReader(signBodyFor("gone.zip")))
	done := make(chan error, 1)
	go func() {
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-sl.entered
	cancel() // the client goes away
	if err := <-done; err == nil {
		t.Fatal("the request finished although its client went away")
	}
	select {
	case <-sl.canceled: // the server gave up the record with the request
	case <-time.After(2 * time.Second):
	}
	close(sl.release)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var found bool
		for _, e := range f.entries(t) {
			found = found || e.Artifact != nil && e.Artifact.Name == "gone.zip" && e.Decision == audit.Denied && e.Principal.Name == "builder"
		}
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the refusal of a request whose client went away is not in the log")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
