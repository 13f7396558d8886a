package server_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/server"
)

// entries returns every entry of the fixture's log.
func (f *fixture) entries(t *testing.T) []*audit.Entry {
	t.Helper()
	ctx := context.Background()
	_, size, err := f.audit.Store().Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, err := f.audit.Store().Entries(ctx, 0, size)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*audit.Entry, len(data))
	for i, d := range data {
		if out[i], err = audit.ParseEntry(d); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestSignaturesAreRecorded(t *testing.T) {
	f := newFixture(t, server.Limits{})
	ctx := context.Background()
	paths := writeFiles(t, "a.tar.gz", "b.tar.gz")
	sigs, err := f.clients["builder"].SignFiles(ctx, "release", paths, api.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := f.keys.Key("release")
	for i, s := range sigs {
		if s.Receipt == nil {
			t.Fatalf("%s: no receipt", paths[i])
		}
		e, cp, err := audit.VerifyReceipt(s.Receipt, f.logKey)
		if err != nil {
			t.Fatalf("%s: %v", paths[i], err)
		}
		data, _ := os.ReadFile(paths[i])
		sum := sha256.Sum256(data)
		sigSum := sha256.Sum256(s.Signature)
		want := fmt.Sprintf("sha256:%x", sum)
		if e.Action != audit.ActionSign || e.Decision != audit.Allowed || e.Principal.Name != "builder" || e.Principal.Kind != "mtls" ||
			e.Key.Name != "release" || e.Key.Fingerprint != k.Fingerprint() || e.Format != "raw" || e.Server != "test-server" ||
			e.Artifact.Name != fmt.Sprintf("%c.tar.gz", 'a'+i) || len(e.Artifact.Digests) != 1 || e.Artifact.Digests[0] != want ||
			e.Artifact.Signature != fmt.Sprintf("sha256:%x", sigSum) || e.RequestID == "" || cp.Size <= s.Receipt.Index {
			t.Errorf("entry %+v (artifact %+v) does not describe the signature of %s", e, e.Artifact, paths[i])
		}
	}
}

func TestRefusalsAreRecorded(t *testing.T) {
	// Failed authentications are recorded per interval (authfail.go).
	f := newFixture(t, server.Limits{AuthFailureInterval: 100 * time.Millisecond})
	ctx := context.Background()
	if _, err := f.clients["builder"].SignFiles(ctx, "release", writeFiles(t, "evil.exe"), api.SignOptions{}); err == nil {
		t.Fatal("builder signed evil.exe")
	}
	if _, err := f.clients["stranger"].Keys(ctx); err == nil {
		t.Fatal("stranger listed keys")
	}
	if _, err := f.clients["builder"].CreateKey(ctx, &api.CreateKeyRequest{Name: "mine", Type: "ed25519"}); err == nil {
		t.Fatal("builder created a key")
	}
	want := []struct {
		action    audit.Action
		principal string
		reason    string
	}{
		{audit.ActionSign, "builder", `may not sign artifact "evil.exe"`},
		{audit.ActionAuthentication, "", `client certificate "stranger"`},
		{audit.ActionKeyCreate, "builder", "is not an administrator"},
	}
	var got []*audit.Entry
	for deadline := time.Now().Add(30 * time.Second); len(got) != len(want) && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got = nil
		for _, e := range f.entries(t) {
			if e.Decision == audit.Denied {
				got = append(got, e)
			}
		}
	}
	// The aggregated authentication entry comes last, with the count.
	if len(got) == len(want) && got[2].Action == audit.ActionAuthentication {
		got[1], got[2] = got[2], got[1]
	}
	if len(got) != len(want) {
		t.Fatalf("%d refusals recorded, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		e := got[i]
		if e.Action != w.action || e.Principal.Name != w.principal || !strings.Contains(e.Reason+" "+e.Details["last_error"], w.reason) {
			t.Errorf("refusal %d: %s by %q: %q; want %s by %q containing %q", i, e.Action, e.Principal.Name, e.Reason, w.action, w.principal, w.reason)
		}
	}
	if got[0].Artifact == nil || got[0].Artifact.Name != "evil.exe" || got[0].Key.Name != "release" {
		t.Errorf("refused signature does not name what was asked: %+v", got[0])
	}
}

// get fetches path as principal and decodes JSON into out, returning the
// status.
func (f *fixture) get(t *testing.T, principal, path string, query url.Values, out any) (int, string) {
	t.Helper()
	u := f.url.JoinPath(path)
	u.RawQuery = query.Encode()
	resp, err := f.httpClient(principal).Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: %v: %s", path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

func TestAuditReadAPI(t *testing.T) {
	f := newFixture(t, server.Limits{})
	ctx := context.Background()
	for i := range 5 {
		if _, err := f.clients["builder"].SignFiles(ctx, "release", writeFiles(t, fmt.Sprintf("f%d.tar.gz", i)), api.SignOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var key api.AuditKey
	if status, _ := f.get(t, "builder", "/v1/audit/key", nil, &key); status != 200 || key.VerifierKey != f.logKey {
		t.Fatalf("audit key %d %+v, want %s", status, key, f.logKey)
	}
	status, signed := f.get(t, "builder", "/v1/audit/checkpoint", nil, nil)
	cp, err := audit.OpenCheckpoint(signed, f.logKey)
	if status != 200 || err != nil || cp.Size < 5 {
		t.Fatalf("checkpoint %d %v: %s", status, err, signed)
	}
	// A fresh receipt for an old entry.
	var r audit.Receipt
	if status, body := f.get(t, "builder", "/v1/audit/proof", url.Values{"index": {"1"}}, &r); status != 200 {
		t.Fatalf("proof: %d %s", status, body)
	}
	if _, _, err := audit.VerifyReceipt(&r, f.logKey); err != nil {
		t.Fatal(err)
	}
	// Consistency from an early size to now.
	var p api.AuditProof
	if status, body := f.get(t, "builder", "/v1/audit/consistency", url.Values{"old": {"2"}}, &p); status != 200 || p.New != cp.Size {
		t.Fatalf("consistency: %d %s", status, body)
	}
	// Sizes with no proof are the caller's mistake, with the rule.
	for _, q := range []url.Values{
		{"old": {"0"}}, {}, {"old": {"0"}, "new": {"1"}}, {"old": {"3"}, "new": {"2"}},
		{"old": {"1"}, "new": {"1000000000"}}, {"old": {"-1"}},
	} {
		status, body := f.get(t, "builder", "/v1/audit/consistency", q, nil)
		if status != 400 || !strings.Contains(body, "old") || strings.Contains(body, "tlog") {
			t.Errorf("consistency?%s: %d %s; want 400 stating the rule", q.Encode(), status, body)
		}
	}
	if status, body := f.get(t, "builder", "/v1/audit/consistency", url.Values{"old": {"0"}}, nil); !strings.Contains(body, "at least 1") {
		t.Errorf("consistency?old=0: %d %s; want the rule (old at least 1)", status, body)
	}
	// Entries and searches need an audit grant; admins have one.
	if status, body := f.get(t, "builder", "/v1/audit/entries", nil, nil); status != 403 || !strings.Contains(body, "may not read the audit log") {
		t.Errorf("entries as builder: %d %s", status, body)
	}
	var es api.AuditEntries
	if status, body := f.get(t, "admin", "/v1/audit/entries", url.Values{"start": {"0"}}, &es); status != 200 || int64(len(es.Entries)) != es.Size {
		t.Errorf("entries as admin: %d %s", status, body)
	}
	var sr api.AuditSearch
	if status, body := f.get(t, "admin", "/v1/audit/search", url.Values{"name": {"f[13].tar.gz"}, "decision": {"allowed"}}, &sr); status != 200 || len(sr.Matches) != 2 {
		t.Fatalf("search: %d %s", status, body)
	}
	for _, m := range sr.Matches {
		e, _ := audit.ParseEntry(m.Entry)
		if n := e.Artifact.Name; n != "f1.tar.gz" && n != "f3.tar.gz" {
			t.Errorf("search matched %s", n)
		}
	}
	for _, bad := range []url.Values{{"since": {"yesterday"}}, {"limit": {"-1"}}, {"name": {"[a-"}}} {
		if status, _ := f.get(t, "admin", "/v1/audit/search", bad, nil); status != 400 {
			t.Errorf("search %v: %d, want 400", bad, status)
		}
	}
	if status, _ := f.get(t, "builder", "/v1/audit/proof", url.Values{"index": {"100000"}}, nil); status != 404 {
		t.Errorf("proof beyond the log: %d", status)
	}
}

func TestInternalKeysNeverSign(t *testing.T) {
	f := newFixture(t, server.Limits{})
	// Internal keys never sign in a format, whatever the grants say.
	for _, k := range []string{"audit-log", "tokens"} {
		status, e, _ := post(t, f, "admin", "/v1/sign", []byte(`{"key":"`+k+`","format":"raw","items":[{"name":"x","data":"eA=="}]}`))
		if status != 400 || e.Code != "wrong_usage" {
			t.Errorf("raw signature with %s: %d %s %q", k, status, e.Code, e.Message)
		}
	}
	for _, tt := range []struct{ body, msg string }{
		{`{"name":"z","type":"ecdsa-p256","usage":"audit"}`, "needs an ed25519 key"},
		{`{"name":"z","type":"ed25519","usage":"bogus"}`, `unknown key usage "bogus"`},
	} {
		status, e, _ := post(t, f, "admin", "/v1/keys", []byte(tt.body))
		if status != 400 || !strings.Contains(e.Message, tt.msg) {
			t.Errorf("POST /v1/keys %s: %d %q, want 400 containing %q", tt.body, status, e.Message, tt.msg)
		}
	}
}

// Without its log key the server records refusals but signs nothing.
func TestLogKeyMissing(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{auditKey: "missing-log-key"})
	status, e, _ := post(t, f, "builder", "/v1/sign", []byte(signBodyFor("a.tar.gz")))
	if status != 503 || e.Code != "audit_unavailable" || !strings.Contains(e.Message, "signet key create missing-log-key --type ed25519 --usage audit") {
		t.Errorf("signing without a log key: %d %s %q", status, e.Code, e.Message)
	}
	if status, body := f.readyz(t); status != 503 || !strings.Contains(body, "missing-log-key") {
		t.Errorf("/readyz without a log key: %d %s", status, body)
	}
	es := f.entries(t)
	if len(es) != 1 || es[0].Decision != audit.Failed || es[0].Artifact.Name != "a.tar.gz" {
		t.Errorf("entries %+v, want the one failed signature", es)
	}
}

// TestAuditUnwritable makes the log's disk full under a running server:
// signing is refused with 503 and no signature, /readyz turns false, and
// both recover by themselves once space returns.
func TestAuditUnwritable(t *testing.T) {
	disk := smallDisk(t)
	f := newFixtureWith(t, fixtureOptions{auditDir: disk})
	ctx := context.Background()
	if _, err := f.clients["builder"].SignFiles(ctx, "release", writeFiles(t, "ok.tar.gz"), api.SignOptions{}); err != nil {
		t.Fatal(err)
	}
	release := fill(t, disk)
	var failed error
	for i := range 500 {
		name := fmt.Sprintf("%s-%d.tar.gz", strings.Repeat("x", 900), i)
		_, err := f.clients["builder"].Sign(ctx, &api.SignRequest{Key: "release", Format: "raw", Items: []api.SignItem{{Name: name, Digest: digest256(name)}}})
		if err != nil {
			failed = err
			break
		}
	}
	var ce *client.Error
	if !errors.As(failed, &ce) || ce.Status != 503 || ce.Code != "audit_unavailable" {
		t.Fatalf("signing with the log's disk full: %v, want 503 audit_unavailable", failed)
	}
	if status, body := f.readyz(t); status != 503 || !strings.Contains(body, "audit log unwritable") {
		t.Errorf("/readyz with the log's disk full: %d %s", status, body)
	}
	release()
	f.waitReady(t)
	if _, err := f.clients["builder"].SignFiles(ctx, "release", writeFiles(t, "again.tar.gz"), api.SignOptions{}); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	r, err := audit.Verify(ctx, f.audit.Store(), f.logKey)
	if err != nil || !r.OK() {
		t.Fatalf("verify after recovery: %+v %v", r, err)
	}
}

func TestReadyz(t *testing.T) {
	f := newFixture(t, server.Limits{})
	f.keys.Lock()
	if status, body := f.readyz(t); status != 503 || !strings.Contains(body, "keystore locked") {
		t.Errorf("/readyz locked: %d %s", status, body)
	}
	if err := f.keys.Unlock("test", []byte("test passphrase"), nil); err != nil {
		t.Fatal(err)
	}
	if status, body := f.readyz(t); status != 200 {
		t.Errorf("/readyz unlocked: %d %s", status, body)
	}
}

func TestManifest(t *testing.T) {
	f := newFixture(t, server.Limits{})
	ctx := context.Background()
	files := []api.ManifestFile{
		{Path: "usr/bin/app", Size: 1234, Digest: digest256("app")},
		{Path: "usr/share/doc/app/README", Size: 10, Digest: digest256("readme")},
	}
	resp, err := f.clients["builder"].Sign(ctx, &api.SignRequest{Key: "release", Format: "raw",
		Items: []api.SignItem{{Name: "app.tar.gz", Digest: digest256("app.tar.gz"), Manifest: files}}})
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := audit.VerifyReceipt(resp.Signatures[0].Receipt, f.logKey)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.Artifact.Manifest, "sha256:") {
		t.Fatalf("entry records no manifest: %+v", e.Artifact)
	}
	status, body := f.get(t, "admin", "/v1/audit/manifests/"+e.Artifact.Manifest, nil, nil)
	sum := sha256.Sum256([]byte(body))
	if status != 200 || fmt.Sprintf("sha256:%x", sum) != e.Artifact.Manifest {
		t.Fatalf("manifest %d %s does not hash to %s", status, body, e.Artifact.Manifest)
	}
	var back []api.ManifestFile
	if err := json.Unmarshal([]byte(body), &back); err != nil || len(back) != 2 || back[0] != files[0] {
		t.Errorf("stored manifest %s", body)
	}
	if status, _ := f.get(t, "builder", "/v1/audit/manifests/"+e.Artifact.Manifest, nil, nil); status != 403 {
		t.Errorf("manifest without audit grant: %d", status)
	}
	for _, bad := range []string{
		`[{"path":"a","size":1,"digest":"md5:00"}]`,
		`[{"path":"","size":1,"digest":"` + digest256("a") + `"}]`,
		`[{"path":"a","size":-1,"digest":"` + digest256("a") + `"}]`,
		`[]`,
	} {
		status, e, _ := post(t, f, "builder", "/v1/sign", []byte(`{"key":"release","format":"raw","items":[{"name":"a.tar.gz","digest":"`+digest256("a")+`","manifest":`+bad+`}]}`))
		if status != 400 || !strings.Contains(e.Message, "manifest") {
			t.Errorf("manifest %s: %d %q", bad, status, e.Message)
		}
	}
}

// TestManifestTampered edits a stored manifest behind the server's back:
// the server refuses to serve it, and a verification through the read
// API names the entry and the digest.
func TestManifestTampered(t *testing.T) {
	dir := t.TempDir()
	f := newFixtureWith(t, fixtureOptions{auditDir: dir})
	ctx := context.Background()
	files := []api.ManifestFile{{Path: "usr/bin/app", Size: 1234, Digest: digest256("app")}}
	resp, err := f.clients["builder"].Sign(ctx, &api.SignRequest{Key: "release", Format: "raw",
		Items: []api.SignItem{{Name: "app.tar.gz", Digest: digest256("app.tar.gz"), Manifest: files}}})
	if err != nil {
		t.Fatal(err)
	}
	index, d := resp.Signatures[0].Receipt.Index, ""
	e, _, err := audit.VerifyReceipt(resp.Signatures[0].Receipt, f.logKey)
	if err != nil {
		t.Fatal(err)
	}
	d = e.Artifact.Manifest
	if r, err := audit.Verify(ctx, f.clients["admin"], f.logKey); err != nil || !r.OK() {
		t.Fatalf("before tampering: %+v %v", r, err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("UPDATE manifests SET data = ? WHERE digest = ?", []byte(`[{"path":"usr/bin/evil","size":1,"digest":"`+digest256("evil")+`"}]`), d); err != nil {
		t.Fatal(err)
	}
	status, body := f.get(t, "admin", "/v1/audit/manifests/"+d, nil, nil)
	if status != 500 || !strings.Contains(body, "manifest_tampered") || strings.Contains(body, "evil") {
		t.Errorf("edited manifest served: %d %s", status, body)
	}
	r, err := audit.Verify(ctx, f.clients["admin"], f.logKey)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("entry %d: its content manifest %s", index, d)
	if r.OK() || r.FirstBad != index || !strings.Contains(strings.Join(r.Problems, "\n"), want) {
		t.Errorf("verify through the server: first bad %d, problems %q; want %q", r.FirstBad, r.Problems, want)
	}
	if _, err := db.Exec("DELETE FROM manifests"); err != nil {
		t.Fatal(err)
	}
	r, err = audit.Verify(ctx, f.clients["admin"], f.logKey)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || !strings.Contains(strings.Join(r.Problems, "\n"), want+" is not stored") {
		t.Errorf("verify through the server, manifest deleted: problems %q", r.Problems)
	}
}
