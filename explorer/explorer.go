// Package explorer is the audit explorer: a read-only web page, served by
// `signet serve` under /ui/, that shows the audit log the way an operator
// thinks about it.
//
//   - A timeline of signatures per key, stacked by principal, with the
//     key's versions (validity windows, revocations) drawn under it, over
//     a chosen range; each bar links to the entries it counts.
//   - Search by key, principal, artifact name, digest, time, action and
//     decision: the complete search of `signet audit search`, a page at a
//     time, against the current checkpoint.
//   - Each entry's fields, its inclusion proof checked by the server
//     against the current signed checkpoint, and its receipt to download
//     and check offline (`signet audit check-receipt`).
//   - Log health: the current checkpoint, whether every stored checkpoint
//     is consistent with it, and the last full verification, which the
//     explorer runs itself in the background (audit.Verify).
//   - Keystore state: locked or unlocked, by whom, lease remaining.
//   - Refusals by reason class (audit.RefusalOf) and the latest ones.
//
// # Security
//
// The explorer renders everything with html/template: artifact names,
// principals and reasons are attacker-controlled, and control, bidi and
// zero-width characters are shown as visible escapes. Pages carry no
// JavaScript at all and a Content-Security-Policy that forbids scripts,
// framing and foreign resources; styles and nothing else are embedded in
// the binary, so the page works offline. It only reads: every route is
// GET, nothing sets state, no cookie is issued. Authentication and the
// audit grant are the server's business (package server): the explorer is
// mounted behind the same mutual TLS as the API, and the browser presents
// the operator's client certificate.
//
// # What it does not do
//
// It proves inclusion and consistency with the server's own view of the
// log key; a compromised server could show anything. Receipts downloaded
// from it, checked elsewhere with a pinned key, and `signet audit watch`
// run from another machine are what do not trust the server.
package explorer

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/keystore"
)

// Prefix is the path the explorer is served under.
const Prefix = "/ui/"

// Log is what the explorer reads of the audit log. *audit.Log implements
// it.
type Log interface {
	Store() audit.Store
	Origin() string
	Ready() error // why the log cannot record now, or nil
}

// Keys is what the explorer reads of the keystore. *keystore.Keyring
// implements it.
type Keys interface {
	Status() keystore.Status
	List() ([]keystore.Key, error)
}

// Options configure an Explorer.
type Options struct {
	Log  Log
	Keys Keys
	// VerifierKey returns the log's verifier key ("origin+hash+key"),
	// with which checkpoints and inclusion proofs are checked.
	VerifierKey func() (string, error)
	// VerifyEvery is how often Run verifies the whole log (default 24h).
	VerifyEvery time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

// An Explorer serves the pages.
type Explorer struct {
	opts  Options
	pages map[string]*template.Template

	mu     sync.Mutex
	cps    checkpointCheck // incremental checks of new checkpoints
	verify *verifyRun      // the last full verification
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/style.css
var styleCSS []byte

// New returns an Explorer.
func New(o Options) (*Explorer, error) {
	if o.Log == nil || o.Keys == nil || o.VerifierKey == nil {
		return nil, fmt.Errorf("explorer: New needs a log, keys and the log's verifier key")
	}
	if o.VerifyEvery <= 0 {
		o.VerifyEvery = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Explorer{opts: o, pages: map[string]*template.Template{}}
	for _, p := range []string{"overview", "search", "entry", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("explorer: template %s: %w", p, err)
		}
		e.pages[p] = t
	}
	return e, nil
}

// Run verifies the whole log now and every VerifyEvery, and checks new
// checkpoints every few seconds, until ctx is done.
func (e *Explorer) Run(ctx context.Context) {
	verify := time.NewTimer(0)
	defer verify.Stop()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-verify.C:
			e.runVerify(ctx)
			verify.Reset(e.opts.VerifyEvery)
		case <-tick.C:
			e.checkCheckpoints(ctx, 0)
		}
	}
}

// ServeHTTP serves the explorer's pages under Prefix. It answers GET and
// HEAD only.
func (e *Explorer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No script runs, nothing is framed, nothing foreign loads; search
	// URLs name artifacts, so they are not sent as referrers.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		e.fail(w, r, http.StatusMethodNotAllowed, "the audit explorer only reads: use GET")
		return
	}
	switch strings.TrimPrefix(r.URL.Path, Prefix) {
	case "":
		e.overview(w, r)
	case "search":
		e.search(w, r)
	case "entry":
		e.entry(w, r)
	case "receipt":
		e.receipt(w, r)
	case "style.css":
		h.Set("Content-Type", "text/css; charset=utf-8")
		h.Set("Cache-Control", "max-age=3600")
		w.Write(styleCSS)
	default:
		e.fail(w, r, http.StatusNotFound, "no such page in the audit explorer")
	}
}

// render writes page p with data d.
func (e *Explorer) render(w http.ResponseWriter, status int, p string, d any) {
	var b strings.Builder
	if err := e.pages[p].Execute(&b, d); err != nil {
		e.opts.Logger.Error("explorer: rendering page", "page", p, "err", err)
		http.Error(w, "the audit explorer could not render this page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

type errorPage struct {
	page
	Status  int
	Message string
}

// fail renders an error page.
func (e *Explorer) fail(w http.ResponseWriter, r *http.Request, status int, format string, args ...any) {
	e.render(w, status, "error", errorPage{page: e.page(r, "Error"), Status: status, Message: fmt.Sprintf(format, args...)})
}

// page is what every page shows around its content.
type page struct {
	Title  string
	Origin string
	Prefix string
	Now    time.Time
}

func (e *Explorer) page(_ *http.Request, title string) page {
	return page{Title: title, Origin: e.opts.Log.Origin(), Prefix: Prefix, Now: e.opts.Now().UTC()}
}
