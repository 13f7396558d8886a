package explorer

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/keystore"
)

const origin = "test/audit"

// hostile are artifact names an attacker would choose.
var hostile = []string{
	`<script>alert("pwned")</script>.tar.gz`,
	`"><img src=x onerror=alert(1)>.tar.gz`,
	`it's a 'quote' & "double".tar.gz`,
	"invoice\u202Efdp.exe",           // reads "invoiceexe.pdf"
	"zero\u200Bwidth\u2066iso\u2069", // invisible characters
	"tab\there\nnewline\x00nul",
	"bad utf8 \xff\xfe",
	"</title></svg><svg onload=alert(1)>",
	"javascript:alert(1)",
	strings.Repeat("long-", 2000) + "name.tar.gz",
}

// keys is a fake keystore: two signing keys, the log key, unlocked by
// "alice" with a lease.
type keys struct {
	list   []keystore.Key
	status keystore.Status
}

func (k *keys) Status() keystore.Status       { return k.status }
func (k *keys) List() ([]keystore.Key, error) { return k.list, nil }

type testLog struct {
	*audit.Log
	ready error
}

func (l testLog) Ready() error { return l.ready }

// world is a log with entries over the last days and an explorer on it.
type world struct {
	t      testing.TB
	now    time.Time
	log    *audit.Log
	store  *audit.SQLStore
	db     string
	vkey   string
	priv   ed25519.PrivateKey
	ex     *Explorer
	srv    *httptest.Server
	keys   *keys
	events []audit.Entry
}

// newWorld appends entries: signatures by builder and ci with keys release
// and nightly every 30 minutes over 3 days, refusals, and the hostile
// names signed by "<b>mallory</b>".
func newWorld(t testing.TB) *world {
	t.Helper()
	now := time.Date(2026, 5, 4, 12, 7, 0, 0, time.UTC)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	vkey, err := audit.VerifierKey(origin, pub)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, now: now, vkey: vkey, priv: priv, db: filepath.Join(t.TempDir(), "log.db")}
	w.store, err = audit.OpenSQLite(w.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.store.Close() })
	w.log, err = audit.Open(context.Background(), audit.Options{Store: w.store, Origin: origin, Key: func() (crypto.Signer, error) { return priv, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.log.Close() })
	created := now.Add(-10 * 24 * time.Hour).Truncate(time.Second)
	kpub, _, _ := ed25519.GenerateKey(rand.Reader)
	w.keys = &keys{
		list: []keystore.Key{
			{Name: "release", Type: keystore.Ed25519, Usage: "raw", Created: created, Public: kpub},
			{Name: "nightly", Type: keystore.Ed25519, Usage: "raw", Created: created, Public: kpub},
			{Name: "audit-log", Type: keystore.Ed25519, Usage: "audit", Created: created, Public: pub},
		},
		status: keystore.Status{Mode: "passphrase", Lease: &keystore.Lease{By: "alice", Method: "passphrase", Since: now.Add(-time.Hour),
			LastUse: now.Add(-time.Minute), IdleExpires: now.Add(50 * time.Minute), Expires: now.Add(3 * time.Hour)}},
	}
	var entries []audit.Entry
	for i := range 3 * 48 {
		at := now.Add(-72*time.Hour + time.Duration(i)*30*time.Minute)
		e := audit.Entry{Time: at, Server: "s1", RequestID: fmt.Sprintf("r%d", i), Action: audit.ActionSign, Decision: audit.Allowed,
			Principal: audit.Principal{Kind: "mtls", Name: []string{"builder", "ci"}[i%2]},
			Key:       &audit.KeyRef{Name: []string{"release", "nightly"}[i%3/2], Version: 1}, Format: "raw",
			Artifact: &audit.Artifact{Name: fmt.Sprintf("app-%d.tar.gz", i), Size: 10, Digests: []string{fmt.Sprintf("sha256:%064x", i)},
				Signature: fmt.Sprintf("sha256:%064x", 100000+i)}}
		entries = append(entries, e)
		switch i % 10 {
		case 3:
			entries = append(entries, audit.Entry{Time: at.Add(time.Minute), RequestID: fmt.Sprintf("d%d", i), Action: audit.ActionAuthentication,
				Decision: audit.Denied, Reason: "unauthenticated: token signature does not verify", Principal: audit.Principal{Kind: "anonymous"}})
		case 7:
			entries = append(entries, audit.Entry{Time: at.Add(time.Minute), RequestID: fmt.Sprintf("l%d", i), Action: audit.ActionSign,
				Decision: audit.Failed, Reason: "keystore locked: ask a custodian to run 'signet unlock'", Principal: audit.Principal{Kind: "mtls", Name: "ci"},
				Key: &audit.KeyRef{Name: "release"}, Artifact: &audit.Artifact{Name: "late.tar.gz"}})
		}
	}
	for i, name := range hostile {
		entries = append(entries, audit.Entry{Time: now.Add(-time.Duration(len(hostile)-i) * time.Minute), RequestID: fmt.Sprintf("h%d", i),
			Action: audit.ActionSign, Decision: audit.Allowed, Principal: audit.Principal{Kind: "token", Name: "<b>mallory</b>", Subject: "job\u202Egnp.exe"},
			Key: &audit.KeyRef{Name: "release", Version: 1}, Format: "raw", Reason: "",
			Artifact: &audit.Artifact{Name: name, Digests: []string{fmt.Sprintf("sha256:%064x", 5000+i)}},
			Details:  map[string]string{"<i>k</i>": name}})
	}
	for _, e := range entries {
		if _, err := w.log.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	w.events = entries
	w.ex, err = New(Options{Log: testLog{Log: w.log}, Keys: w.keys, VerifierKey: func() (string, error) { return w.vkey, nil },
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewServer(w.ex)
	t.Cleanup(w.srv.Close)
	return w
}

// get fetches path and returns the status and body.
func (w *world) get(path string) (int, http.Header, string) {
	w.t.Helper()
	resp, err := http.Get(w.srv.URL + path)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func (w *world) page(path string) string {
	w.t.Helper()
	status, _, body := w.get(path)
	if status != http.StatusOK {
		w.t.Fatalf("GET %s: %d\n%s", path, status, body)
	}
	checkMarkup(w.t, path, body)
	return body
}

// checkMarkup fails if body holds markup an attacker injected: every tag
// must be one the templates write, with their attributes, and no
// invisible or bidi character may be left raw. Every SVG must be
// well-formed XML.
func checkMarkup(t testing.TB, path, body string) {
	t.Helper()
	tags := map[string]bool{"!doctype": true, "html": true, "head": true, "meta": true, "title": true, "link": true, "body": true, "header": true,
		"nav": true, "a": true, "p": true, "main": true, "h1": true, "h2": true, "section": true, "div": true, "dl": true, "dt": true, "dd": true,
		"span": true, "code": true, "ul": true, "li": true, "table": true, "tr": true, "th": true, "td": true, "form": true, "label": true,
		"input": true, "button": true, "select": true, "option": true, "figure": true, "figcaption": true, "strong": true, "svg": true,
		"line": true, "text": true, "rect": true, "g": true, "pre": true, "br": true}
	attrs := map[string]bool{"lang": true, "charset": true, "name": true, "content": true, "rel": true, "href": true, "class": true, "id": true,
		"method": true, "action": true, "value": true, "size": true, "placeholder": true, "selected": true, "type": true,
		"data-key": true, "viewbox": true, "role": true, "aria-label": true, "xmlns": true, "x": true, "y": true, "x1": true, "x2": true,
		"y1": true, "y2": true, "width": true, "height": true, "fill": true, "rx": true, "aria-hidden": true, "text-anchor": true, "download": true, "title": true}
	attr := regexp.MustCompile(`([a-zA-Z-]+)(?:="([^"]*)")?`)
	for _, m := range regexp.MustCompile(`<(/?)([!a-zA-Z0-9]+)([^>]*)>`).FindAllStringSubmatch(body, -1) {
		if !tags[strings.ToLower(m[2])] {
			t.Errorf("GET %s: page has a <%s> tag: %.200s", path, m[2], m[0])
			continue
		}
		if m[2] == "!DOCTYPE" {
			continue
		}
		for _, a := range attr.FindAllStringSubmatch(m[3], -1) {
			if !attrs[strings.ToLower(a[1])] {
				t.Errorf("GET %s: tag <%s> has attribute %q: %.200s", path, m[2], a[1], m[0])
			}
			if v := strings.ToLower(a[2]); strings.Contains(v, "javascript:") {
				t.Errorf("GET %s: attribute %s=%q", path, a[1], a[2])
			}
		}
	}
	for _, bad := range []string{"\u202e", "\u200b", "\u2066", "\x00", "\t"} {
		if strings.Contains(body, bad) {
			t.Errorf("GET %s: page contains %+q raw", path, bad)
		}
	}
	for _, svg := range regexp.MustCompile(`(?s)<svg.*?</svg>`).FindAllString(body, -1) {
		d := xml.NewDecoder(strings.NewReader(svg))
		d.Strict = true
		d.Entity = xml.HTMLEntity
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Errorf("GET %s: an SVG is not well-formed: %v\n%.400s", path, err, svg)
				break
			}
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	w := newWorld(t)
	_, h, _ := w.get("/ui/")
	for k, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":         "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if h.Get("Set-Cookie") != "" {
		t.Errorf("the explorer sets a cookie: %q", h.Get("Set-Cookie"))
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, _ := http.NewRequest(m, w.srv.URL+"/ui/search?key=release", strings.NewReader("x"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	if status, _, _ := w.get("/ui/nope"); status != http.StatusNotFound {
		t.Errorf("unknown page: %d", status)
	}
	if status, h, body := w.get("/ui/style.css"); status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/css") || !strings.Contains(body, "svg") {
		t.Errorf("style sheet: %d %q", status, h.Get("Content-Type"))
	}
}

func TestHostileNamesEscaped(t *testing.T) {
	w := newWorld(t)
	body := w.page("/ui/search?key=release&since=" + url.QueryEscape(w.now.Add(-time.Hour).Format(time.RFC3339)))
	for _, want := range []string{
		"&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;.tar.gz",
		"&#34;&gt;&lt;img src=x onerror=alert(1)&gt;.tar.gz",
		"it&#39;s a &#39;quote&#39; &amp; &#34;double&#34;.tar.gz",
		`invoice<span class="esc">⟨U+202E⟩</span>fdp.exe`,
		`zero<span class="esc">⟨U+200B⟩</span>width<span class="esc">⟨U+2066⟩</span>iso<span class="esc">⟨U+2069⟩</span>`,
		`tab<span class="esc">⟨U+0009⟩</span>here<span class="esc">⟨U+000A⟩</span>newline<span class="esc">⟨U+0000⟩</span>nul`,
		`bad utf8 <span class="esc">⟨U+FFFD⟩</span><span class="esc">⟨U+FFFD⟩</span>`, // JSON stored invalid UTF-8 as U+FFFD
		"&lt;/title&gt;&lt;/svg&gt;&lt;svg onload=alert(1)&gt;",
		`&lt;b&gt;mallory&lt;/b&gt;`,
		`job<span class="esc">⟨U+202E⟩</span>gnp.exe`,
		`long-long-`,
		`<span class="cut">… 9931 more bytes</span>`, // tables cut names at 80 characters
	} {
		if !strings.Contains(body, want) {
			t.Errorf("search results lack %q", want)
		}
	}
	// Each entry's own page shows the whole name, escaped.
	for i := range hostile {
		idx := int64(len(w.events) - len(hostile) + i)
		body := w.page(fmt.Sprintf("/ui/entry?index=%d", idx))
		if i == len(hostile)-1 && !strings.Contains(body, strings.Repeat("long-", 2000)+"name.tar.gz") {
			t.Errorf("entry %d: the long name is not shown whole", idx)
		}
		if !strings.Contains(body, "Inclusion proof checked by the server") {
			t.Errorf("entry %d: no inclusion proof", idx)
		}
	}
	// The overview's legend and tooltips name the hostile principal too.
	body = w.page("/ui/?range=24h")
	if !strings.Contains(body, "&lt;b&gt;mallory&lt;/b&gt;") {
		t.Error("overview does not name the hostile principal, escaped")
	}
}

func TestTimeline(t *testing.T) {
	w := newWorld(t)
	body := w.page("/ui/?range=7d")
	// One chart per signing key; the log key has none.
	for _, want := range []string{`data-key="release"`, `data-key="nightly"`, `<text x="`, `>v1</text>`, `id="refusals"`} {
		if !strings.Contains(body, want) {
			t.Errorf("timeline lacks %q", want)
		}
	}
	if strings.Contains(body, `data-key="audit-log"`) {
		t.Error("the log key has a timeline")
	}
	// 144 signatures over 3 days, plus the hostile ones in the last hour;
	// 15 refusals.
	if !strings.Contains(body, "154 signatures, 29 refusals") {
		t.Errorf("totals wrong: %s", regexp.MustCompile(`[0-9,]+ signatures, [0-9,]+ refusals`).FindString(body))
	}
	// Each bar links to exactly the entries it counts: follow every link
	// of key release and add up what the searches find.
	links := regexp.MustCompile(`<a href="(/ui/search\?[^"]*key=release[^"]*)"><rect class="bar"[^>]*><title>([^<]*)</title>`).FindAllStringSubmatch(body, -1)
	if len(links) == 0 {
		t.Fatal("no bars for key release")
	}
	total := 0
	for _, l := range links {
		href := html.UnescapeString(l[1])
		page := w.page(href)
		n := strings.Count(page, `<tr class="allowed">`)
		want := regexp.MustCompile(`: ([0-9]+) signatures`).FindStringSubmatch(l[2])
		if want == nil || fmt.Sprint(n) != want[1] {
			t.Errorf("bar %q links to %d entries (%s)", l[2], n, href)
		}
		total += n
	}
	if total != 96+len(hostile) {
		t.Errorf("the bars of key release count %d signatures, want %d", total, 96+len(hostile))
	}
	// Refusals by reason, with links that find them.
	for reason, n := range map[string]int{audit.RefusalTokenInvalid: 15, audit.RefusalLocked: 14} {
		m := regexp.MustCompile(`</svg> <a href="([^"]*)">` + regexp.QuoteMeta(reason) + `</a></td><td class="num">([0-9]+)</td>`).FindStringSubmatch(body)
		if m == nil || m[2] != fmt.Sprint(n) {
			t.Errorf("refusals %q: %v, want %d", reason, m, n)
			continue
		}
		page := w.page(html.UnescapeString(m[1]))
		if got := strings.Count(page, `<tr class="denied">`) + strings.Count(page, `<tr class="failed">`); got != n {
			t.Errorf("the search for refusals %q finds %d", reason, got)
		}
	}
	// The latest refusals, newest first.
	recent := body[strings.Index(body, `id="recent"`):]
	if c := strings.Count(recent, "<tr class="); c != recentRefusals {
		t.Errorf("%d latest refusals listed, want %d", c, recentRefusals)
	}
	// Ranges: presets, custom, and bad ones.
	w.page("/ui/?range=1h")
	w.page("/ui/?range=1y")
	w.page("/ui/?since=2026-05-01&until=2026-05-02T06:00:00Z")
	for _, bad := range []string{"/ui/?range=2w", "/ui/?since=yesterday", "/ui/?since=2026-05-02&until=2026-05-01", "/ui/?since=1000-01-01"} {
		if status, _, _ := w.get(bad); status != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", bad, status)
		}
	}
}

func TestSearch(t *testing.T) {
	w := newWorld(t)
	for _, tt := range []struct {
		query string
		rows  int
	}{
		{"key=nightly", 48},
		{"principal=builder&action=sign", 72},
		{"name=app-1*.tar.gz", 55},
		{"digest=" + fmt.Sprintf("%064x", 7), 1},                      // a bare hex digest is sha256
		{"digest=" + fmt.Sprintf("sha256:%064x", 100007), 1},          // a signature's digest
		{"decision=failed", 14},                                       // locked
		{"refusal=" + url.QueryEscape(audit.RefusalScope), 0},         // none
		{"since=2026-05-04T11:00:00Z&until=2026-05-04T12:10:00Z", 13}, // two signatures, a refusal, the hostile ones
	} {
		body := w.page("/ui/search?" + tt.query)
		if n := strings.Count(body, "<tr class="); n != tt.rows {
			t.Errorf("search %s: %d rows, want %d", tt.query, n, tt.rows)
		}
		if !strings.Contains(body, "every match, complete against the signed checkpoint of") {
			t.Errorf("search %s: not said complete", tt.query)
		}
	}
	// Pages of 100, linked.
	body := w.page("/ui/search?action=sign")
	next := regexp.MustCompile(`<a href="([^"]*)" id="next">`).FindStringSubmatch(body)
	if strings.Count(body, "<tr class=") != 100 || next == nil {
		t.Fatalf("first page: %d rows, next %v", strings.Count(body, "<tr class="), next)
	}
	body = w.page(html.UnescapeString(next[1]))
	if n := strings.Count(body, "<tr class="); n != 144+len(hostile)+14-100 {
		t.Errorf("second page: %d rows", n)
	}
	for _, bad := range []string{"since=soon", "version=x", "name=[", "after=-1"} {
		status, _, body := w.get("/ui/search?" + bad)
		if status != http.StatusBadRequest || !strings.Contains(body, `id="error"`) {
			t.Errorf("search %s: %d", bad, status)
		}
	}
}

func TestEntryAndReceipt(t *testing.T) {
	w := newWorld(t)
	body := w.page("/ui/entry?index=3")
	for _, want := range []string{"Inclusion proof checked by the server", "app-3.tar.gz", `href="/ui/receipt?index=3"`, "&#34;request_id&#34;: &#34;r3&#34;"} {
		if !strings.Contains(body, want) {
			t.Errorf("entry page lacks %q", want)
		}
	}
	status, h, rb := w.get("/ui/receipt?index=3")
	if status != 200 || h.Get("Content-Disposition") != `attachment; filename="entry-3.receipt"` {
		t.Fatalf("receipt: %d %q", status, h.Get("Content-Disposition"))
	}
	var r audit.Receipt
	if err := json.Unmarshal([]byte(rb), &r); err != nil {
		t.Fatal(err)
	}
	e, _, err := audit.VerifyReceipt(&r, w.vkey)
	if err != nil || e.RequestID != "r3" {
		t.Fatalf("the receipt does not verify: %v", err)
	}
	for path, want := range map[string]int{"/ui/entry?index=100000": 404, "/ui/entry?index=-1": 400, "/ui/receipt?index=x": 400, "/ui/receipt?index=100000": 404} {
		if status, _, _ := w.get(path); status != want {
			t.Errorf("GET %s: %d, want %d", path, status, want)
		}
	}
	// An entry edited behind the log's back fails its proof.
	w.log.Close()
	tamper(t, w.db, "UPDATE entries SET data = CAST(replace(CAST(data AS TEXT), 'app-3.tar.gz', 'evil.tar.gz') AS BLOB) WHERE idx = 3")
	body = w.page("/ui/entry?index=3")
	if !strings.Contains(body, "INCLUSION PROOF FAILS") || !strings.Contains(body, "evil.tar.gz") {
		t.Error("a tampered entry's proof is not reported failing")
	}
	if status, _, _ := w.get("/ui/receipt?index=3"); status != http.StatusServiceUnavailable {
		t.Errorf("a receipt for a tampered entry: %d", status)
	}
}

func TestHealth(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { w.ex.Run(ctx); close(done) }()
	waitFor(t, func() bool { w.ex.mu.Lock(); defer w.ex.mu.Unlock(); return w.ex.verify != nil })
	body := w.page("/ui/")
	for _, want := range []string{`<span class="ok">writable</span>`, "signed by the log key, checked", `<span class="ok">consistent</span>`,
		`<span class="ok">OK</span>: 183 entries`, `<span class="ok">unlocked</span>`, "Unlocked by</dt><dd>alice (passphrase)", "50 min remaining"} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	// New entries: their checkpoints are checked as they come.
	if _, err := w.log.Append(ctx, w.events[0]); err != nil {
		t.Fatal(err)
	}
	body = w.page("/ui/")
	if !strings.Contains(body, "<dt>Entries</dt><dd>184</dd>") || strings.Contains(body, "INCONSISTENT") {
		t.Error("a new checkpoint is not followed")
	}
	// A forged checkpoint stored behind the log's back is found.
	cancel()
	<-done
	w.log.Close()
	forged := forgeCheckpoint(t, w)
	tamper(t, w.db, "INSERT INTO checkpoints (size, note, time) VALUES (?, ?, ?)", int64(500), forged, w.now.UnixNano())
	tamper(t, w.db, "UPDATE head SET size = 500, checkpoint = ?", forged)
	body = w.page("/ui/")
	if !strings.Contains(body, "INCONSISTENT") {
		t.Error("a forged checkpoint is not reported")
	}
	w.ex.runVerify(context.Background())
	body = w.page("/ui/")
	if !strings.Contains(body, `<span class="bad">FAILS</span>`) {
		t.Error("verification does not fail on a forged checkpoint")
	}
	// Locked keystore, unwritable log.
	w.keys.status = keystore.Status{Locked: true, Mode: "custody", Set: &keystore.SetStatus{Threshold: 2, Custodians: []string{"a", "b", "c"}}}
	w.ex.opts.Log = testLog{Log: w.log, ready: fmt.Errorf("audit log unwritable: disk full")}
	body = w.page("/ui/")
	for _, want := range []string{`<span class="warn">locked</span>`, "2 of 3 custodians", "no: audit log unwritable: disk full"} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
}

// tamper runs SQL on the log's database behind the log's back.
func tamper(t testing.TB, db, query string, args ...any) {
	t.Helper()
	d, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

// forgeCheckpoint signs, with the log key, a checkpoint of 500 entries
// the log never had.
func forgeCheckpoint(t testing.TB, w *world) string {
	t.Helper()
	ns, err := audit.NewNoteSigner(origin, w.priv)
	if err != nil {
		t.Fatal(err)
	}
	note, err := audit.SignCheckpoint(audit.Checkpoint{Origin: origin, Size: 500}, ns)
	if err != nil {
		t.Fatal(err)
	}
	return note
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out after 30 s")
		}
	}
}

// TestVersionWindows draws a rotated key's versions: v1 retired when v2
// took over, v2 revoked as compromised, v3 active since.
func TestVersionWindows(t *testing.T) {
	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	s := span{Since: day, Until: day.Add(10 * 24 * time.Hour), Bucket: 6 * time.Hour}
	vs := []version{
		{Number: 1, State: "retired", NotBefore: day.Add(-30 * 24 * time.Hour), NotAfter: day.Add(2 * 24 * time.Hour)},
		{Number: 2, State: "revoked", NotBefore: day.Add(2 * 24 * time.Hour), Revoked: day.Add(5 * 24 * time.Hour), Reason: "compromised"},
		{Number: 3, State: "active", NotBefore: day.Add(5 * 24 * time.Hour)},
		{Number: 4, State: "retired", NotBefore: day.Add(-60 * 24 * time.Hour), NotAfter: day.Add(-30 * 24 * time.Hour)}, // before the range
	}
	ws, ms := drawWindows(s, vs)
	if len(ws) != 3 || len(ms) != 1 {
		t.Fatalf("%d windows, %d marks: %+v %+v", len(ws), len(ms), ws, ms)
	}
	x := func(d float64) float64 { return plotX + d/10*plotW }
	for i, want := range []struct {
		class  string
		x0, x1 float64
	}{{"v-retired", x(0), x(2)}, {"v-revoked", x(2), x(5)}, {"v-active", x(5), x(10)}} {
		if ws[i].Class != want.class || fmt.Sprintf("%.1f %.1f", ws[i].X, ws[i].X+ws[i].W) != fmt.Sprintf("%.1f %.1f", want.x0, want.x1) {
			t.Errorf("window %d: %+v, want %+v", i, ws[i], want)
		}
	}
	if fmt.Sprintf("%.1f", ms[0].X) != fmt.Sprintf("%.1f", x(5)) || !strings.Contains(ms[0].Title, "version 2 revoked") || !strings.Contains(ms[0].Title, "compromised") {
		t.Errorf("revocation mark: %+v", ms[0])
	}
	svg := string(chart{Title: "k", Windows: ws, Marks: ms, Height: chartH, AxisY: axisY, Base: barsH}.SVG())
	checkMarkup(t, "chart", svg)
	if !strings.Contains(svg, `class="window v-revoked"`) || !strings.Contains(svg, `<g class="revoked">`) {
		t.Errorf("SVG lacks the windows: %s", svg)
	}
}
