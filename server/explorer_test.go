package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/server"
)

// explorerNames are artifact names the explorer tests sign: a normal one
// and hostile ones.
var explorerNames = []string{
	"app-1.2.3.tar.gz",
	`<script>document.title="pwned"<script>.tar.gz`, // grants are globs: no name with a slash can be signed, and names hold no backslash
	`"><img src=x onerror=document.title=1>.tar.gz`,
	"report \u2014 ünïcødé ½ 报告 .tar.gz",          // the server refuses control and bidi characters itself
	strings.Repeat("very-long-", 100) + ".tar.gz", // near the server's limit of 1024 bytes
}

// populate signs explorerNames as admin, two of them as builder too
// (whose grant, *.tar.gz, matches no name with a slash), and makes refusals:
// a tampered token, a key outside builder's grants.
func populate(t *testing.T, f *fixture) {
	t.Helper()
	for who, names := range map[string][]string{"builder": {explorerNames[0], explorerNames[3]}, "admin": explorerNames} {
		var items []api.SignItem
		for _, n := range names {
			items = append(items, digestItem(n))
		}
		if status, e, _ := post(t, f, who, "/v1/sign", signBody(t, "release", items)); status != http.StatusOK {
			t.Fatalf("signing as %s: %d %+v", who, status, e)
		}
	}
	if status, _, _ := post(t, f, "builder", "/v1/sign", signBody(t, "tokens", []api.SignItem{digestItem("x.tar.gz")})); status != http.StatusForbidden {
		t.Fatalf("builder signing with key tokens: %d", status)
	}
	req, _ := http.NewRequest(http.MethodPost, f.url.JoinPath("/v1/sign").String(), strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.AAAA")
	resp, err := f.httpClient("").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("tampered token: %d", resp.StatusCode)
	}
	// Failed authentications are recorded per interval: wait for it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		found := false
		for _, e := range f.entries(t) {
			found = found || e.Action == audit.ActionAuthentication
		}
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the tampered token's refusal was not recorded within 30 s")
		}
	}
}

func (f *fixture) ui(t *testing.T, principal, method, path string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.url.JoinPath(path).String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(path, "?") {
		u, _ := url.Parse(path)
		req.URL.Path, req.URL.RawQuery = u.Path, u.RawQuery
	}
	resp, err := f.httpClient(principal).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestExplorerAccess checks who may open the explorer: principals with the
// audit grant (admin here), over mutual TLS only; never a token; nothing
// but GET; and refusals are recorded.
func TestExplorerAccess(t *testing.T) {
	f := newFixture(t, server.Limits{AuthFailureInterval: 100 * time.Millisecond})
	populate(t, f)
	status, h, body := f.ui(t, "admin", http.MethodGet, "/ui/")
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(body, `<svg class="timeline"`) {
		t.Fatalf("admin: %d %q", status, h.Get("Content-Type"))
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("no CSP: %q", h.Get("Content-Security-Policy"))
	}
	if status, _, _ := f.ui(t, "admin", http.MethodGet, "/ui"); status != http.StatusOK { // redirected to /ui/
		t.Errorf("/ui: %d", status)
	}
	for _, tt := range []struct {
		principal, method, path string
		status                  int
		code                    string
	}{
		{"builder", http.MethodGet, "/ui/", http.StatusForbidden, "forbidden"},                     // no audit grant
		{"builder", http.MethodGet, "/ui/style.css", http.StatusForbidden, "forbidden"},            // not even the style sheet
		{"stranger", http.MethodGet, "/ui/", http.StatusUnauthorized, "unauthenticated"},           // a certificate that proves no principal
		{"", http.MethodGet, "/ui/search?key=release", http.StatusUnauthorized, "unauthenticated"}, // no certificate
		{"admin", http.MethodPost, "/ui/", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"admin", http.MethodDelete, "/ui/entry?index=1", http.StatusMethodNotAllowed, "method_not_allowed"},
	} {
		status, _, body := f.ui(t, tt.principal, tt.method, tt.path)
		if status != tt.status || !strings.Contains(body, `"code":"`+tt.code+`"`) {
			t.Errorf("%s %s %s: %d %s", tt.principal, tt.method, tt.path, status, body)
		}
	}
	// A token never opens the explorer, even one whose issuer could.
	tok := issueTokenFor(t, f)
	req, _ := http.NewRequest(http.MethodGet, f.url.JoinPath("/ui/").String(), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := f.httpClient("").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "may only sign") {
		t.Errorf("token: %d %s", resp.StatusCode, b)
	}
	// The refusals are in the log, as reads denied.
	var denied int
	for _, e := range f.entries(t) {
		if e.Action == audit.ActionRead && e.Decision == audit.Denied && e.Principal.Name == "builder" {
			denied++
		}
	}
	if denied != 2 {
		t.Errorf("%d refused explorer reads by builder recorded, want 2", denied)
	}
}

// issueTokenFor has ci issue a token for itself.
func issueTokenFor(t *testing.T, f *fixture) string {
	t.Helper()
	out, err := f.clients["ci"].IssueToken(context.Background(), &api.TokenRequest{Subject: "job-1", Keys: []string{"release"},
		Formats: []string{"raw"}, Artifacts: []string{"*.tar.gz"}, TTL: "10m"})
	if err != nil {
		t.Fatal(err)
	}
	return out.Token
}

// TestExplorerChromium loads the explorer in real headless Chromium over
// loopback mutual TLS: the browser holds the admin's client certificate in
// its NSS database (as an operator's browser does) and trusts the server's
// CA there. It checks that the timeline SVG and a search result render,
// that the hostile names stay text, and that a browser without an allowed
// certificate sees nothing of the log. The screenshots are saved in the
// test's temporary directory (the path is logged; -test.v shows it) and
// copied to $SIGNET_TEST_ARTIFACTS if set.
func TestExplorerChromium(t *testing.T) {
	for _, tool := range []string{"chromium", "certutil", "pk12util", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to run the explorer in a real browser: apt-get install chromium libnss3-tools openssl (./scripts/test installs them)", tool)
		}
	}
	f := newFixture(t, server.Limits{AuthFailureInterval: 100 * time.Millisecond})
	populate(t, f)
	dir := t.TempDir()
	browser := func(principal string) *chromium {
		return newChromium(t, f, filepath.Join(dir, "home-"+principal), principal)
	}

	admin := browser("admin")
	dom := admin.dump("/ui/?range=24h")
	for _, want := range []string{`<svg class="timeline"`, `data-key="release"`, `<rect class="bar"`, `>v1</text>`, "token invalid", "Log health"} {
		if !strings.Contains(dom, want) {
			t.Errorf("overview in Chromium lacks %q", want)
		}
	}
	bars := regexp.MustCompile(`<rect class="bar"`).FindAllString(dom, -1)
	if len(bars) < 2 { // builder and admin on key release, the refusals
		t.Errorf("%d bars drawn", len(bars))
	}
	dom = admin.dump("/ui/search?key=release&action=sign&decision=allowed")
	if !strings.Contains(dom, "every match, complete against the signed checkpoint") || strings.Count(dom, `<tr class="allowed">`) != 2+len(explorerNames) {
		t.Errorf("search in Chromium: %d rows", strings.Count(dom, `<tr class="allowed">`))
	}
	// The hostile names are text in the DOM: no script ran (it would have
	// changed the title), no element was injected.
	for _, want := range []string{`&lt;script&gt;document.title="pwned"&lt;script&gt;.tar.gz`, `"&gt;&lt;img src=x onerror=document.title=1&gt;.tar.gz`,
		"report \u2014 ünïcødé ½ 报告 .tar.gz"} {
		if !strings.Contains(dom, want) {
			t.Errorf("search in Chromium lacks %q", want)
		}
	}
	if !strings.Contains(dom, "<title>Search · ") || strings.Contains(dom, "<img") || strings.Count(dom, "<script") > 0 {
		t.Error("a hostile name became markup in Chromium")
	}
	m := regexp.MustCompile(`<a href="(/ui/entry\?index=[0-9]+)">`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatal("no entry link")
	}
	if dom := admin.dump(m[1]); !strings.Contains(dom, "Inclusion proof checked by the server") || !strings.Contains(dom, "Download the receipt") {
		t.Error("entry page in Chromium: no checked proof")
	}
	shot := admin.screenshot("/ui/?range=24h", filepath.Join(dir, "explorer-overview.png"))
	t.Logf("screenshot of the explorer: %s", shot)
	admin.screenshot("/ui/search?key=release", filepath.Join(dir, "explorer-search.png"))

	// Without the audit grant, or without a certificate the server
	// knows, the browser gets a refusal and nothing of the log.
	for principal, code := range map[string]string{"builder": "forbidden", "stranger": "unauthenticated", "": "unauthenticated"} {
		dom := browser(principal).dump("/ui/search?key=release")
		if !strings.Contains(dom, code) || strings.Contains(dom, "app-1.2.3") || strings.Contains(dom, "timeline") {
			t.Errorf("Chromium with %q's certificate: %.300s", principal, dom)
		}
	}
}

// chromium runs headless Chromium with its own profile and NSS database.
type chromium struct {
	t    *testing.T
	f    *fixture
	home string
}

// newChromium prepares a profile in home: an NSS database trusting the
// fixture's CA and holding principal's certificate and key (none for ""),
// and a preference that selects it for the server without asking, as the
// AutoSelectCertificateForUrls policy would.
func newChromium(t *testing.T, f *fixture, home, principal string) *chromium {
	t.Helper()
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run("certutil", "-N", "-d", "sql:"+db, "--empty-password")
	caFile := filepath.Join(home, "ca.pem")
	if err := os.WriteFile(caFile, devpki.CertPEM(f.ca.TLSCertificate()), 0o600); err != nil {
		t.Fatal(err)
	}
	run("certutil", "-A", "-d", "sql:"+db, "-n", "signet test CA", "-t", "C,,", "-i", caFile)
	if principal != "" {
		c := f.certs[principal]
		key, err := devpki.KeyPEM(c)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile, p12 := filepath.Join(home, "client.pem"), filepath.Join(home, "client.key"), filepath.Join(home, "client.p12")
		if err := os.WriteFile(certFile, devpki.CertPEM(c), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, key, 0o600); err != nil {
			t.Fatal(err)
		}
		run("openssl", "pkcs12", "-export", "-in", certFile, "-inkey", keyFile, "-out", p12, "-passout", "pass:", "-name", principal)
		run("pk12util", "-i", p12, "-d", "sql:"+db, "-W", "")
	}
	prefs := filepath.Join(home, "profile", "Default")
	if err := os.MkdirAll(prefs, 0o700); err != nil {
		t.Fatal(err)
	}
	origin := "https://" + f.url.Host
	pref := fmt.Sprintf(`{"profile":{"content_settings":{"exceptions":{"auto_select_certificate":{"%s,*":{"setting":{"filters":[{}]}}}}}}}`, origin)
	if err := os.WriteFile(filepath.Join(prefs, "Preferences"), []byte(pref), 0o600); err != nil {
		t.Fatal(err)
	}
	return &chromium{t: t, f: f, home: home}
}

func (c *chromium) run(path string, args ...string) []byte {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--user-data-dir=" + filepath.Join(c.home, "profile")}, args...)
	args = append(args, "https://"+c.f.url.Host+path)
	cmd := exec.CommandContext(ctx, "chromium", args...)
	cmd.Env = append(os.Environ(), "HOME="+c.home)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("chromium %s: %v\n%s", path, err, stderr.String())
	}
	return out
}

// dump returns the DOM Chromium built for path.
func (c *chromium) dump(path string) string {
	return string(c.run(path, "--dump-dom"))
}

// screenshot saves a PNG of path to file and returns file.
func (c *chromium) screenshot(path, file string) string {
	c.t.Helper()
	c.run(path, "--screenshot="+file, "--window-size=1300,1800", "--hide-scrollbars")
	b, err := os.ReadFile(file)
	if err != nil || len(b) < 10000 || string(b[1:4]) != "PNG" {
		c.t.Fatalf("screenshot %s: %d bytes, %v", file, len(b), err)
	}
	// Kept beyond the test where CI collects artifacts.
	if d := os.Getenv("SIGNET_TEST_ARTIFACTS"); d != "" {
		if err := os.WriteFile(filepath.Join(d, filepath.Base(file)), b, 0o644); err != nil {
			c.t.Error(err)
		}
	}
	return file
}
