package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/authn"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/internal/signettest"
	"github.com/signet-dev/signet/server"
	"github.com/signet-dev/signet/token"
)

// issue asks for a token as principal and returns it, or the API error.
func issue(t *testing.T, f *fixture, principal string, req api.TokenRequest) (string, *token.Claims, error) {
	t.Helper()
	resp, err := f.clients[principal].IssueToken(context.Background(), &req)
	if err != nil {
		return "", nil, err
	}
	return resp.Token, &resp.Claims, nil
}

// bearer sends a request carrying tok, over a connection presenting
// principal's certificate ("" for none), and returns the status and error.
func bearer(t *testing.T, f *fixture, principal, tok, method, path, body string) (int, api.Error) {
	t.Helper()
	req, _ := http.NewRequest(method, f.url.JoinPath(path).String(), strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := f.httpClient(principal).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e api.Error
	if resp.StatusCode >= 300 {
		json.Unmarshal(b, &e)
	}
	return resp.StatusCode, e
}

func signBodyFor(name string) string {
	return `{"key":"release","format":"raw","items":[{"name":"` + name + `","digest":"` + digest256(name) + `"}]}`
}

func TestIssueToken(t *testing.T) {
	f := newFixture(t, server.Limits{})
	std := api.TokenRequest{Subject: "build-42", TTL: "1h", Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"*.tar.gz"}}
	tok, c, err := issue(t, f, "ci", std)
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "ci" || c.Subject != "build-42" || c.Audience != "test" || c.Expiry-c.IssuedAt != 3600 || c.ID == "" {
		t.Errorf("claims %+v", c)
	}
	if got, err := f.tokens.Verify(tok, time.Now()); err != nil || got.ID != c.ID {
		t.Errorf("issued token does not verify: %v", err)
	}

	for _, tt := range []struct {
		name      string
		principal string
		edit      func(*api.TokenRequest)
		code, msg string
	}{
		{"not an issuer", "builder", nil, "forbidden", `"builder" may not issue tokens`},
		{"admin is not an issuer", "admin", nil, "forbidden", "may not issue tokens"},
		{"key beyond own grants", "ci", func(r *api.TokenRequest) { r.Keys = []string{"tokens"} }, "forbidden", "cannot grant more than its issuer holds"},
		{"key pattern", "ci", func(r *api.TokenRequest) { r.Keys = []string{"*"} }, "bad_request", "literal key names"},
		{"format beyond own grants", "ci", func(r *api.TokenRequest) { r.Formats = []string{"pgp"} }, "forbidden", `format "pgp"`},
		{"ttl too long", "ci", func(r *api.TokenRequest) { r.TTL = "3h" }, "bad_request", "longer than this server allows (2h0m0s"},
		{"ttl not a duration", "ci", func(r *api.TokenRequest) { r.TTL = "soon" }, "bad_request", `ttl "soon"`},
		{"negative ttl", "ci", func(r *api.TokenRequest) { r.TTL = "-1h" }, "bad_request", "must be positive"},
		{"no subject", "ci", func(r *api.TokenRequest) { r.Subject = "" }, "bad_request", "name the job"},
		{"no keys", "ci", func(r *api.TokenRequest) { r.Keys = nil }, "bad_request", "at least one key"},
		{"bad pattern", "ci", func(r *api.TokenRequest) { r.Artifacts = []string{"[a-"} }, "bad_request", "not a valid pattern"},
		{"negative max items", "ci", func(r *api.TokenRequest) { r.MaxItems = -1 }, "bad_request", "must not be negative"},
		{"bad certificate binding", "ci", func(r *api.TokenRequest) { r.BindCert = "abc" }, "bad_request", "not a SHA-256 fingerprint"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := std
			if tt.edit != nil {
				tt.edit(&req)
			}
			_, _, err := issue(t, f, tt.principal, req)
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Code != tt.code || !strings.Contains(ce.Message, tt.msg) {
				t.Fatalf("got %v, want %s containing %q", err, tt.code, tt.msg)
			}
		})
	}

	// A token cannot issue tokens, even for its own scope.
	status, e := bearer(t, f, "", tok, "POST", "/v1/tokens", `{"subject":"x","ttl":"1h","keys":["release"],"formats":["raw"]}`)
	if status != 403 || !strings.Contains(e.Message, "a token cannot issue tokens") {
		t.Errorf("token issuing a token: %d %q", status, e.Message)
	}
}

func TestTokenSigning(t *testing.T) {
	f := newFixture(t, server.Limits{})
	tok, c, err := issue(t, f, "ci", api.TokenRequest{Subject: "build-42", TTL: "1h", Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"*.tar.gz"}, MaxItems: 2})
	if err != nil {
		t.Fatal(err)
	}
	// A worker with no certificate signs within the scope; the nonce of
	// older clients is accepted and ignored.
	if status, e := bearer(t, f, "", tok, "POST", "/v1/sign", signBodyFor("app.tar.gz")); status != 200 {
		t.Fatalf("sign with token: %d %s", status, e.Message)
	}
	withNonce := strings.Replace(signBodyFor("app.tar.gz"), `{`, `{"nonce":"UNKNOWN",`, 1)
	for range 2 { // the same nonce twice: no replay state
		if status, e := bearer(t, f, "", tok, "POST", "/v1/sign", withNonce); status != 200 {
			t.Fatalf("sign with a nonce: %d %s", status, e.Message)
		}
	}
	// A certificate presented beside an unbound token changes nothing:
	// the request is the token's.
	if status, e := bearer(t, f, "admin", tok, "POST", "/v1/sign", signBodyFor("app.zip")); status != 403 || !strings.Contains(e.Message, "token "+c.ID) {
		t.Errorf("admin certificate with a token, outside the token's scope: %d %q", status, e.Message)
	}
	three := `{"key":"release","format":"raw","items":[` + strings.Repeat(`{"name":"a.tar.gz","digest":"`+digest256("a")+`"},`, 2) + `{"name":"a.tar.gz","digest":"` + digest256("a") + `"}]}`

	for _, tt := range []struct {
		name, method, path, body string
		status                   int
		code, msg                string
	}{
		{"artifact outside scope", "POST", "/v1/sign", signBodyFor("app.zip"), 403, "forbidden", `does not cover signing "app.zip"`},
		{"key outside scope", "POST", "/v1/sign", `{"key":"tokens","format":"raw","items":[{"name":"a.tar.gz","data":"eA=="}]}`, 403, "forbidden", `key "tokens"`},
		{"too many items", "POST", "/v1/sign", three, 403, "forbidden", "at most 2 items per request"},
		{"create key", "POST", "/v1/keys", `{"name":"x","type":"ed25519"}`, 403, "forbidden", "may only sign"},
		{"unlock", "POST", "/v1/unlock", `{"passphrase":"x"}`, 403, "forbidden", "may only sign"},
		{"public key outside scope", "GET", "/v1/keys/tokens", "", 403, "forbidden", `is scoped to keys ["release"], not "tokens"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, e := bearer(t, f, "", tok, tt.method, tt.path, tt.body)
			if status != tt.status || e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("got %d %s %q, want %d %s containing %q", status, e.Code, e.Message, tt.status, tt.code, tt.msg)
			}
		})
	}

	// A token sees only the keys in its scope.
	req, _ := http.NewRequest("GET", f.url.JoinPath("/v1/keys").String(), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := f.httpClient("").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var kl api.KeyList
	json.NewDecoder(resp.Body).Decode(&kl)
	resp.Body.Close()
	if len(kl.Keys) != 1 || kl.Keys[0].Name != "release" {
		t.Errorf("token sees keys %+v, want release only", kl.Keys)
	}
}

func TestTokenRejections(t *testing.T) {
	f := newFixture(t, server.Limits{})
	tok, _, err := issue(t, f, "ci", api.TokenRequest{Subject: "build-42", TTL: "1h", Keys: []string{"release"}, Formats: []string{"raw"}})
	if err != nil {
		t.Fatal(err)
	}
	other := tok[:len(tok)-4] + map[bool]string{true: "AAAA", false: "BBBA"}[!strings.HasSuffix(tok, "AAAA")]
	for _, tt := range []struct {
		name, auth string
		code, msg  string
	}{
		{"tampered", "Bearer " + other, "token_invalid", "signature does not verify"},
		{"truncated", "Bearer " + tok[:len(tok)/2], "token_invalid", ""},
		{"garbage", "Bearer x", "token_invalid", "three base64url segments"},
		{"wrong scheme", "Basic " + tok, "unauthenticated", `scheme "Basic" is not supported`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", f.url.JoinPath("/v1/sign").String(), strings.NewReader(signBodyFor("a.tar.gz")))
			req.Header.Set("Authorization", tt.auth)
			resp, err := f.httpClient("").Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var e api.Error
			json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			if resp.StatusCode != 401 || e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("got %d %s %q, want 401 %s containing %q", resp.StatusCode, e.Code, e.Message, tt.code, tt.msg)
			}
		})
	}
}

func TestTokenBoundToCertificate(t *testing.T) {
	f := newFixture(t, server.Limits{})
	fp := authn.Fingerprint(f.certs["builder"].Leaf)
	tok, c, err := issue(t, f, "ci", api.TokenRequest{Subject: "build-7", TTL: "1h", Keys: []string{"release"}, Formats: []string{"raw"}, BindCert: "SHA256:" + strings.ToUpper(fp)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Confirm == nil {
		t.Fatal("no cnf claim in a bound token")
	}
	if status, e := bearer(t, f, "builder", tok, "POST", "/v1/sign", signBodyFor("a.tar.gz")); status != 200 {
		t.Errorf("bound token with its certificate: %d %s", status, e.Message)
	}
	for _, p := range []string{"", "admin"} {
		status, e := bearer(t, f, p, tok, "POST", "/v1/sign", signBodyFor("a.tar.gz"))
		if status != 401 || !strings.Contains(e.Message, "bound to") {
			t.Errorf("bound token with certificate %q: %d %q", p, status, e.Message)
		}
	}
}

func TestVerifyAndDenyTokens(t *testing.T) {
	f := newFixture(t, server.Limits{})
	ctx := context.Background()
	tok, c, err := issue(t, f, "ci", api.TokenRequest{Subject: "build-42", TTL: "1h", Keys: []string{"release"}, Formats: []string{"raw"}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.clients["builder"].VerifyToken(ctx, tok)
	if err != nil || !v.Valid || v.Claims.ID != c.ID {
		t.Fatalf("verify: %+v %v", v, err)
	}
	v, err = f.clients["builder"].VerifyToken(ctx, tok+"x")
	if err != nil || v.Valid || v.Code != "token_invalid" || v.Claims != nil {
		t.Fatalf("verify tampered: %+v %v", v, err)
	}

	if _, err := f.clients["ci"].DenyList(ctx, &api.DenyListRequest{IDs: []string{c.ID}}); err == nil || !strings.Contains(err.Error(), "is not an administrator") {
		t.Errorf("deny list by a non-admin: %v", err)
	}
	if _, err := f.clients["admin"].DenyList(ctx, &api.DenyListRequest{}); err == nil || !strings.Contains(err.Error(), "revokes nothing") {
		t.Errorf("empty deny list: %v", err)
	}
	list, err := f.clients["admin"].DenyList(ctx, &api.DenyListRequest{IDs: []string{c.ID}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.tokens.ParseDenyList(list)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.tokens.SetDenyList(d); err != nil {
		t.Fatal(err)
	}
	status, e := bearer(t, f, "", tok, "POST", "/v1/sign", signBodyFor("a.tar.gz"))
	if status != 401 || e.Code != "token_revoked" {
		t.Errorf("revoked token: %d %s %q", status, e.Code, e.Message)
	}
}

// The request body is not read before the caller is authenticated.
func TestUnauthenticatedBodyUnread(t *testing.T) {
	f := newFixture(t, server.Limits{})
	req, _ := http.NewRequest("POST", f.url.JoinPath("/v1/sign").String(), bytes.NewReader([]byte("{not json")))
	resp, err := f.httpClient("").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("malformed body from nobody: %d, want 401 (authentication first)", resp.StatusCode)
	}
}

// TestLogsHoldNoSecrets drives the requests that carry secrets — token
// issuance and use, a tampered token, a wrong and a right passphrase — and
// checks that none of them reaches the server's log, even at debug level,
// while the log does say what happened.
func TestLogsHoldNoSecrets(t *testing.T) {
	var log signettest.Buffer
	f := newFixtureWith(t, fixtureOptions{log: &log})
	ctx := context.Background()
	tok, _, err := issue(t, f, "ci", api.TokenRequest{Subject: "build-7", TTL: "1h", Keys: []string{"release"}, Formats: []string{"raw"}})
	if err != nil {
		t.Fatal(err)
	}
	if status, e := bearer(t, f, "", tok, "POST", "/v1/sign", signBodyFor("a.tar.gz")); status != 200 {
		t.Fatalf("sign with the token: %d %+v", status, e)
	}
	tampered := tok[:len(tok)-6] + "AAAAAA"
	if status, _ := bearer(t, f, "", tampered, "POST", "/v1/sign", signBodyFor("b.tar.gz")); status != 401 {
		t.Fatalf("tampered token: status %d, want 401", status)
	}
	admin := f.clients["admin"]
	if _, err := admin.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	const wrong = "not the passphrase at all"
	if err := admin.Unlock(ctx, wrong); err == nil {
		t.Fatal("unlocked with a wrong passphrase")
	}
	if err := admin.Unlock(ctx, "test passphrase"); err != nil {
		t.Fatal(err)
	}

	out := log.String()
	for _, want := range []string{"build-7", "altered or forged", "wrong passphrase"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not mention %q:\n%s", want, out)
		}
	}
	_, sig, _ := strings.Cut(tok[strings.Index(tok, ".")+1:], ".")
	for name, secret := range map[string]string{
		"token": tok, "token signature": sig, "tampered token": tampered,
		"passphrase": "test passphrase", "wrong passphrase": wrong,
	} {
		if strings.Contains(out, secret) {
			t.Errorf("the server's log holds the %s", name)
		}
	}
}
