package audit

import (
	"crypto/sha256"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// TestEntryEncoding pins the entry encoding and leaf hash that
// docs/audit.md documents for other implementations: member order,
// omitted empty members, the time's form, HTML-safe escaping, invalid
// UTF-8 replaced, and the leaf hash SHA-256(0x00 ‖ bytes).
func TestEntryEncoding(t *testing.T) {
	e := Entry{
		Time: time.Date(2026, 11, 23, 20, 18, 18, 123456700, time.FixedZone("CET", 3600)), Server: "s1", RequestID: "r1",
		Action: ActionSign, Decision: Denied, Reason: "a <b> & c\u2028",
		Principal: Principal{Kind: "token", Name: "ci", ID: "token:j1", Subject: "job\xff"},
		Key:       &KeyRef{Name: "release", Version: 2}, Format: "raw",
		Artifact: &Artifact{Name: "app.tar.gz", Digests: []string{"sha256:00"}},
		Details:  map[string]string{"z": "1", "a": "2"}, IdempotencyKey: "k", Attempt: 2, RetryOf: "k",
	}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2026-11-23T19:18:18.1234567Z","server":"s1","request_id":"r1","retry_of":"k","action":"sign","decision":"denied",` +
		`"reason":"a \u003cb\u003e \u0026 c\u2028","principal":{"kind":"token","name":"ci","id":"token:j1","subject":"job\ufffd"},` +
		`"key":{"name":"release","version":2},"format":"raw","artifact":{"name":"app.tar.gz","digests":["sha256:00"]},` +
		`"details":{"a":"2","z":"1"},"idempotency_key":"k","attempt":2}`
	if string(b) != want {
		t.Errorf("entry encodes as\n%s\nwant\n%s", b, want)
	}
	leaf := sha256.Sum256(append([]byte{0x00}, b...))
	if tlog.RecordHash(b) != tlog.Hash(leaf) {
		t.Errorf("the leaf hash is not SHA-256(0x00 ‖ entry)")
	}
}
