package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/format/raw"
	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/server"
)

func writeFiles(t *testing.T, names ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, n := range names {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, []byte(fmt.Sprintf("artifact %d: %s\n", i, n)), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestSignEveryKeyType(t *testing.T) {
	f := newFixture(t, server.Limits{}, keystore.Types()...)
	ctx := context.Background()
	paths := writeFiles(t, "a.tar.gz", "b.tar.gz", "c.tar.gz")
	for _, typ := range keystore.Types() {
		for _, pss := range []bool{false, true} {
			if pss && !strings.HasPrefix(string(typ), "rsa") {
				continue
			}
			t.Run(fmt.Sprintf("%s/pss=%v", typ, pss), func(t *testing.T) {
				sigs, err := f.clients["admin"].SignFiles(ctx, string(typ), paths, api.SignOptions{RSAPSS: pss})
				if err != nil {
					t.Fatal(err)
				}
				k, err := f.keys.Key(string(typ))
				if err != nil {
					t.Fatal(err)
				}
				// The active version signs (for an OpenPGP key, a subkey
				// rather than the primary, Public).
				v, _ := k.VersionOf(k.Version)
				k.Public = v.Public
				// Check independently of the client's own verification.
				for i, s := range sigs {
					msg, _ := os.ReadFile(paths[i])
					if err := raw.Verify(k.Public, msg, s.Signature, raw.Options{PSS: pss}); err != nil {
						t.Errorf("%s: %v", paths[i], err)
					}
					if i > 0 {
						other, _ := os.ReadFile(paths[0])
						if raw.Verify(k.Public, other, s.Signature, raw.Options{PSS: pss}) == nil {
							t.Errorf("signature of %s also verifies for %s", paths[i], paths[0])
						}
					}
				}
			})
		}
	}
}

// post sends body to path as principal and returns the status and decoded
// error (if any).
func post(t *testing.T, f *fixture, principal, path string, body []byte) (int, api.Error, http.Header) {
	t.Helper()
	hc := f.httpClient(principal)
	defer hc.CloseIdleConnections()
	resp, err := hc.Post(f.url.JoinPath(path).String(), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("error response is not JSON: %q", b)
		}
		if e.RequestID == "" || e.RequestID != resp.Header.Get("X-Request-Id") {
			t.Errorf("error request_id %q does not match X-Request-Id %q", e.RequestID, resp.Header.Get("X-Request-Id"))
		}
	}
	return resp.StatusCode, e, resp.Header
}

func digest256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t, server.Limits{MaxBodyBytes: 64 << 10, MaxBatch: 5, MaxMessageBytes: 1024}, keystore.Ed25519, keystore.RSA3072)
	d := digest256("x")
	sum384 := sha512.Sum384([]byte("x"))
	d384 := "sha384:" + hex.EncodeToString(sum384[:])
	item := func(name, digest string) string { return fmt.Sprintf(`{"name":%q,"digest":%q}`, name, digest) }
	req := func(key string, items ...string) string {
		return fmt.Sprintf(`{"key":%q,"format":"raw","items":[%s]}`, key, strings.Join(items, ","))
	}
	data := func(n int) string {
		return fmt.Sprintf(`{"name":"a.tar.gz","data":%q}`, base64.StdEncoding.EncodeToString(make([]byte, n)))
	}
	tests := []struct {
		name   string
		body   string
		status int
		code   string
		msg    string
	}{
		{"empty body", ``, 400, "bad_request", "empty request body"},
		{"malformed JSON", `{"key":`, 400, "bad_request", "not a valid sign request"},
		{"not an object", `[1,2]`, 400, "bad_request", "not a valid sign request"},
		{"unknown field", `{"key":"release","format":"raw","items":[],"colour":"red"}`, 400, "bad_request", `unknown field "colour"`},
		{"trailing data", req("release", item("a", d)) + `{}`, 400, "bad_request", "data after the JSON object"},
		{"wrong type", `{"key":7,"format":"raw","items":[]}`, 400, "bad_request", "cannot unmarshal number"},
		{"bad key name", req("../etc/passwd", item("a", d)), 400, "bad_request", `"../etc/passwd"`},
		{"unknown key", req("nonexistent", item("a", d)), 404, "not_found", `no key named "nonexistent"`},
		{"unknown format", `{"key":"release","format":"pgp-v6","items":[` + item("a", d) + `]}`, 400, "bad_request", `format "pgp-v6" is not supported`},
		{"missing format", `{"key":"release","items":[` + item("a", d) + `]}`, 400, "bad_request", `format "" is not supported`},
		{"no items", req("release"), 400, "bad_request", "no items to sign"},
		{"too many items", req("release", item("a", d), item("b", d), item("c", d), item("d", d), item("e", d), item("f", d)), 413, "too_large", "6 items in one request; this server's limit is 5"},
		{"short digest", req("release", item("a", "sha256:abcd")), 400, "bad_request", "sha256 digest is 2 bytes, want 32"},
		{"digest not hex", req("release", item("a", "sha256:"+strings.Repeat("zz", 32))), 400, "bad_request", "not hex"},
		{"digest without algorithm", req("release", item("a", strings.Repeat("ab", 32))), 400, "bad_request", "not of the form ALG:HEX"},
		{"unsupported digest algorithm", req("release", item("a", "md5:d41d8cd98f00b204e9800998ecf8427e")), 400, "bad_request", `"md5" is not supported`},
		{"sha384 for P-256", req("release", item("a", d384)), 400, "bad_request", "signs sha256 digests, not sha384"},
		{"digest for Ed25519", req("ed25519", item("a", d)), 400, "bad_request", "send data, not a digest"},
		{"data for ECDSA", req("release", data(10)), 400, "bad_request", "send the sha256 digest of the artifact, not its data"},
		{"digest and data", req("release", `{"name":"a","digest":"`+d+`","data":"eA=="}`), 400, "bad_request", "not several"},
		{"nothing to sign", req("release", `{"name":"a"}`), 400, "bad_request", "nothing to sign"},
		{"empty name", req("release", item("", d)), 400, "bad_request", "artifact name is empty"},
		{"control character in name", req("release", item("a\nb", d)), 400, "bad_request", "control or invalid character"},
		{"negative size", req("release", `{"name":"a","size":-1,"digest":"`+d+`"}`), 400, "bad_request", "negative size"},
		{"PSS with ECDSA", `{"key":"release","format":"raw","options":{"rsa_pss":true},"items":[` + item("a", d) + `]}`, 400, "bad_request", "PSS applies only to RSA"},
		{"Ed25519 message over limit", req("ed25519", data(1025)), 413, "too_large", "this server's limit is 1024 bytes (limits.max_message_bytes)"},
		{"body over limit", req("ed25519", data(70<<10)), 413, "too_large", "request body exceeds this server's limit of 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, e, _ := post(t, f, "admin", "/v1/sign", []byte(tt.body))
			if status != tt.status || e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("got %d %s %q\nwant %d %s containing %q", status, e.Code, e.Message, tt.status, tt.code, tt.msg)
			}
		})
	}
	// The limits above refuse; the same server still signs what is within them.
	if status, e, _ := post(t, f, "admin", "/v1/sign", []byte(req("ed25519", data(1024)))); status != 200 {
		t.Errorf("Ed25519 message at the limit: %d %s", status, e.Message)
	}
}

func TestAuthorization(t *testing.T) {
	f := newFixture(t, server.Limits{}, keystore.Ed25519)
	ctx := context.Background()
	builder := f.clients["builder"]

	if _, err := builder.SignFiles(ctx, "release", writeFiles(t, "app.tar.gz"), api.SignOptions{}); err != nil {
		t.Fatalf("builder signing app.tar.gz with release: %v", err)
	}
	denied := []struct {
		name string
		do   func() error
		code string
		msg  string
	}{
		{"artifact outside grant", func() error {
			_, err := builder.SignFiles(ctx, "release", writeFiles(t, "app.tar.gz", "evil.exe"), api.SignOptions{})
			return err
		}, "forbidden", `may not sign artifact "evil.exe"`},
		{"key outside grant", func() error {
			_, err := builder.Sign(ctx, &api.SignRequest{Key: "ed25519", Format: "raw", Items: []api.SignItem{{Name: "a.tar.gz", Data: []byte("x")}}})
			return err
		}, "forbidden", `may not use key "ed25519"`},
		{"public key outside grant", func() error { _, err := builder.Key(ctx, "ed25519"); return err }, "forbidden", `no grant for key "ed25519"`},
		{"create key without admin", func() error {
			_, err := builder.CreateKey(ctx, &api.CreateKeyRequest{Name: "mine", Type: "ed25519"})
			return err
		}, "forbidden", "is not an administrator"},
		{"unlock without custody rights", func() error { return builder.Unlock(ctx, "x") }, "forbidden", "is neither a custodian nor an administrator"},
		{"certificate matching no principal", func() error { _, err := f.clients["stranger"].Keys(ctx); return err }, "unauthenticated", `client certificate "stranger"`},
	}
	for _, tt := range denied {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Code != tt.code || !strings.Contains(ce.Message, tt.msg) {
				t.Fatalf("got %v, want %s error containing %q", err, tt.code, tt.msg)
			}
		})
	}

	keys, err := builder.Keys(ctx)
	if err != nil || len(keys) != 1 || keys[0].Name != "release" {
		t.Errorf("builder sees keys %v (%v), want only release", keys, err)
	}
	keys, err = f.clients["admin"].Keys(ctx)
	if err != nil || len(keys) != 4 { // release, ed25519, tokens, audit-log
		t.Errorf("admin sees keys %v (%v), want 4", keys, err)
	}
}

func TestNoCredentials(t *testing.T) {
	f := newFixture(t, server.Limits{})
	resp, err := f.httpClient("").Get(f.url.JoinPath("/v1/keys").String())
	if err != nil {
		t.Fatal(err)
	}
	var e api.Error
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 401 || e.Code != "unauthenticated" || !strings.Contains(e.Message, "no verified client certificate") {
		t.Fatalf("no certificate, no token: %d %s %q; want 401 unauthenticated", resp.StatusCode, e.Code, e.Message)
	}
}

// Without tokens, the TLS handshake itself demands a client certificate.
func TestCertificateRequiredWithoutTokens(t *testing.T) {
	ca, _ := devpki.NewCA("ca")
	cert, _ := ca.IssueServer("127.0.0.1")
	if got := server.TLSConfig(cert, x509.NewCertPool(), false).ClientAuth; got != tls.RequireAndVerifyClientCert {
		t.Errorf("ClientAuth without tokens = %v, want RequireAndVerifyClientCert", got)
	}
	if got := server.TLSConfig(cert, x509.NewCertPool(), true).ClientAuth; got != tls.VerifyClientCertIfGiven {
		t.Errorf("ClientAuth with tokens = %v, want VerifyClientCertIfGiven", got)
	}
}

func TestLockedKeystore(t *testing.T) {
	f := newFixture(t, server.Limits{})
	ctx := context.Background()
	admin := f.clients["admin"]
	paths := writeFiles(t, "a.tar.gz")

	f.keys.Lock()
	_, err := admin.SignFiles(ctx, "release", paths, api.SignOptions{})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 503 || ce.Code != "locked" || !strings.Contains(ce.Message, "signet unlock") {
		t.Fatalf("signing while locked: %v, want 503 locked", err)
	}
	// A locked keystore waits for a person: no Retry-After invitation.
	status, e, h := post(t, f, "admin", "/v1/sign", []byte(`{"key":"release","format":"raw","items":[{"name":"a","digest":"`+digest256("a")+`"}]}`))
	if status != 503 || e.Code != "locked" || h.Get("Retry-After") != "" {
		t.Fatalf("raw sign while locked: %d %s, Retry-After %q", status, e.Code, h.Get("Retry-After"))
	}
	resp, err := f.httpClient("admin").Get(f.url.JoinPath("/readyz").String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/readyz while locked = %d, want 503", resp.StatusCode)
	}
	if err := admin.Unlock(ctx, "wrong"); !errors.As(err, &ce) || ce.Code != "bad_passphrase" {
		t.Fatalf("unlock with wrong passphrase: %v", err)
	}
	if !f.keys.Locked() {
		t.Fatal("keystore unlocked by a wrong passphrase")
	}
	if err := admin.Unlock(ctx, "test passphrase"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SignFiles(ctx, "release", paths, api.SignOptions{}); err != nil {
		t.Fatalf("signing after unlock: %v", err)
	}
}

func TestOverloaded(t *testing.T) {
	f := newFixture(t, server.Limits{MaxInflight: 1, QueueTimeout: 1})
	// Hold the only slot: a request whose body the server is reading.
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := f.httpClient("admin").Post(f.url.JoinPath("/v1/sign").String(), "application/json", pr)
		if err == nil {
			resp.Body.Close()
		}
	}()
	pw.Write([]byte(`{`))
	// The write returns once the client has the byte, not once the server
	// is inside its slot, so ask until the server is seen holding it. A
	// request that got in first is refused for its body, never signed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, e, h := post(t, f, "admin", "/v1/sign", []byte(`{}`))
		if status == 503 {
			if e.Code != "overloaded" || h.Get("Retry-After") == "" {
				t.Errorf("second request got 503 %q (Retry-After %q), want overloaded with Retry-After", e.Code, h.Get("Retry-After"))
			}
			break
		}
		if status != 400 || time.Now().After(deadline) {
			t.Fatalf("second request got %d %q, want 503 overloaded while the first holds the only slot", status, e.Code)
		}
	}
	pw.Close()
	<-done
}

func TestHealth(t *testing.T) {
	f := newFixture(t, server.Limits{})
	for _, tt := range []struct {
		method, path string
		want         int
		allow        string
	}{
		{"GET", "/healthz", 200, ""},
		{"GET", "/readyz", 200, ""},
		{"GET", "/v1/nothing", 404, ""},
		{"GET", "/v1/sign", 405, "POST"},
		{"DELETE", "/v1/keys/release", 405, "GET"},
	} {
		req, _ := http.NewRequest(tt.method, f.url.JoinPath(tt.path).String(), nil)
		resp, err := f.httpClient("admin").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want || resp.Header.Get("Allow") != tt.allow {
			t.Errorf("%s %s = %d (Allow %q), want %d (Allow %q)", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Allow"), tt.want, tt.allow)
		}
	}
}

func TestCreateKey(t *testing.T) {
	f := newFixture(t, server.Limits{})
	for _, tt := range []struct {
		body, code, msg string
		status          int
	}{
		{`{"name":"new","type":"ecdsa-p384"}`, "", "", 201},
		{`{"name":"new","type":"ecdsa-p384"}`, "exists", `"new" already exists`, 409},
		{`{"name":"x","type":"dsa"}`, "bad_request", "dsa", 400},
		{`{"name":"A/B","type":"ed25519"}`, "bad_request", `"A/B"`, 400},
	} {
		status, e, _ := post(t, f, "admin", "/v1/keys", []byte(tt.body))
		if status != tt.status || e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
			t.Errorf("POST /v1/keys %s = %d %s %q, want %d %s %q", tt.body, status, e.Code, e.Message, tt.status, tt.code, tt.msg)
		}
	}
	if k, err := f.keys.Key("new"); err != nil || k.Type != keystore.ECDSAP384 {
		t.Errorf("created key: %+v, %v", k, err)
	}
}
