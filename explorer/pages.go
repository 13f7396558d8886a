package explorer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/keystore"
)

// A row is one entry in a table.
type row struct {
	Index     int64
	Time      time.Time
	Action    string
	Decision  string
	Principal string
	Subject   string
	Key       string
	Version   int
	Format    string
	Artifact  string
	Reason    string
	Refusal   string
	Href      string
}

func rowOf(i int64, e *audit.Entry) row {
	r := row{Index: i, Time: e.Time, Action: string(e.Action), Decision: string(e.Decision), Principal: e.Principal.Name,
		Subject: e.Principal.Subject, Format: e.Format, Reason: e.Reason, Refusal: audit.RefusalOf(e),
		Href: Prefix + "entry?index=" + strconv.FormatInt(i, 10)}
	if e.Key != nil {
		r.Key, r.Version = e.Key.Name, e.Key.Version
	}
	if e.Artifact != nil {
		r.Artifact = e.Artifact.Name
	}
	return r
}

// keystoreView is what the overview shows of the keystore.
type keystoreView struct {
	Status    keystore.Status
	Remaining time.Duration // of the lease: the earlier of its idle and absolute expiry; 0 if unlimited
	Limited   bool
	Received  int // shares received toward an unlock
	Keys      []keyInfo
	Err       string
}

func (e *Explorer) keystore() keystoreView {
	v := keystoreView{Status: e.opts.Keys.Status()}
	now := e.opts.Now()
	if l := v.Status.Lease; l != nil {
		for _, t := range []time.Time{l.IdleExpires, l.Expires} {
			if t.IsZero() {
				continue
			}
			if !v.Limited || t.Sub(now) < v.Remaining {
				v.Remaining = max(0, t.Sub(now))
			}
			v.Limited = true
		}
	}
	if p := v.Status.Unlock; p != nil {
		v.Received = len(p.Received)
	}
	keys, err := e.opts.Keys.List()
	if err != nil {
		v.Err = err.Error()
	}
	for _, k := range keys {
		v.Keys = append(v.Keys, keyInfoOf(k))
	}
	return v
}

type overviewPage struct {
	page
	Health   health
	Keystore keystoreView
	Timeline timeline
	Recent   []row // the latest refusals in the span
	Err      string
}

// recentRefusals is how many of the latest refusals the overview lists.
const recentRefusals = 20

func (e *Explorer) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := e.opts.Now().UTC()
	s, err := parseSpan(r.URL.Query(), now)
	if err != nil {
		e.fail(w, r, http.StatusBadRequest, "%v", err)
		return
	}
	p := overviewPage{page: e.page(r, "Audit log"), Health: e.health(ctx), Keystore: e.keystore()}
	counts, err := e.opts.Log.Store().Counts(ctx, audit.CountQuery{Since: s.Since, Until: s.Until, Bucket: s.Bucket})
	if err != nil {
		p.Err = err.Error()
	}
	p.Timeline = buildTimeline(s, counts, p.Keystore.Keys, now)
	if p.Recent, err = e.latestRefusals(ctx, s, p.Health.Size); err != nil && p.Err == "" {
		p.Err = err.Error()
	}
	e.render(w, http.StatusOK, "overview", p)
}

// latestRefusals returns the latest refused entries in s, newest first.
func (e *Explorer) latestRefusals(ctx context.Context, s span, size int64) ([]row, error) {
	idx, err := e.opts.Log.Store().LatestRefusals(ctx, s.Since, s.Until, size, recentRefusals)
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, i := range idx {
		e, err := readEntry(ctx, e.opts.Log.Store(), i)
		if err != nil {
			return rows, err
		}
		rows = append(rows, rowOf(i, e))
	}
	return rows, nil
}

func readEntry(ctx context.Context, s audit.Store, i int64) (*audit.Entry, error) {
	data, err := s.Entries(ctx, i, i+1)
	if err != nil {
		return nil, err
	}
	if len(data) != 1 {
		return nil, fmt.Errorf("entry %d: %w", i, audit.ErrNotFound)
	}
	return audit.ParseEntry(data[0])
}

// searchForm is the search page's form, as given.
type searchForm struct {
	Key, Principal, Name, Digest, Since, Until, Action, Decision, Refusal, Version string
}

type searchPage struct {
	page
	Form      searchForm
	Actions   []string
	Decisions []string
	Refusals  []string
	Searched  bool
	Rows      []row
	Size      int64 // the search is complete against the log of this size
	Signed    bool  // ... whose checkpoint is signed
	First     int64 // the first index this page considered
	Next      string
	Err       string
}

// pageSize is how many entries a search page lists.
const pageSize = 100

func (e *Explorer) search(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := r.URL.Query()
	p := searchPage{page: e.page(r, "Search"),
		Actions: []string{"sign", "token.issue", "token.deny-list", "key.create", "key.rotate", "key.revoke", "key.cert",
			"keystore.unlock", "keystore.lock", "keystore.custody", "config.reload", "authenticate", "read"},
		Decisions: []string{"allowed", "denied", "failed"},
		Refusals: []string{audit.RefusalTokenInvalid, audit.RefusalTokenExpired, audit.RefusalTokenRevoked, audit.RefusalUnauthenticated,
			audit.RefusalScope, audit.RefusalLocked, audit.RefusalBadRequest, audit.RefusalFailed},
		Form: searchForm{Key: v.Get("key"), Principal: v.Get("principal"), Name: v.Get("name"), Digest: v.Get("digest"), Since: v.Get("since"),
			Until: v.Get("until"), Action: v.Get("action"), Decision: v.Get("decision"), Refusal: v.Get("refusal"), Version: v.Get("version")},
	}
	f := p.Form
	p.Searched = len(v) > 0
	if !p.Searched {
		e.render(w, http.StatusOK, "search", p)
		return
	}
	q := audit.Query{Key: f.Key, Principal: f.Principal, Digest: f.Digest, Name: f.Name, Action: f.Action, Decision: f.Decision, After: -1}
	bad := func(format string, args ...any) {
		p.Err = fmt.Sprintf(format, args...)
		e.render(w, http.StatusBadRequest, "search", p)
	}
	var err error
	if f.Since != "" {
		if q.Since, err = parseTime("since", f.Since, time.Time{}); err != nil {
			bad("%v", err)
			return
		}
	}
	if f.Until != "" {
		if q.Until, err = parseTime("until", f.Until, time.Time{}); err != nil {
			bad("%v", err)
			return
		}
	}
	if f.Version != "" {
		if q.Version, err = strconv.Atoi(f.Version); err != nil || q.Version < 0 {
			bad("version=%.20q is not a version number", f.Version)
			return
		}
	}
	if q.Digest != "" && !containsColon(q.Digest) {
		q.Digest = "sha256:" + q.Digest // a bare hex digest, as the CLI takes it
	}
	if f.Name != "" {
		if _, err := path.Match(f.Name, ""); err != nil {
			bad("name pattern %q: %v", f.Name, err)
			return
		}
	}
	if a := v.Get("after"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			bad("after=%.20q is not an entry index", a)
			return
		}
		q.After = n - 1
	}
	p.First = q.After + 1
	signed, size, err := e.opts.Log.Store().Head(ctx)
	if err != nil {
		bad("reading the log head: %v", err)
		return
	}
	p.Signed = signed != ""
	if p.Signed {
		if cp, err := audit.ParseUnverified(signed); err == nil {
			size = cp.Size
		}
	}
	p.Size = size
	var next int64
	if f.Refusal != "" {
		p.Rows, next, err = e.searchRefusals(ctx, q, f.Refusal, size)
	} else {
		p.Rows, next, err = e.searchAll(ctx, q, size)
	}
	if err != nil {
		bad("%v", err)
		return
	}
	if next >= 0 {
		v.Set("after", strconv.FormatInt(next+1, 10))
		p.Next = Prefix + "search?" + v.Encode()
	}
	e.render(w, http.StatusOK, "search", p)
}

func containsColon(s string) bool { return bytes.IndexByte([]byte(s), ':') >= 0 }

// searchAll is audit.Search, a page at a time.
func (e *Explorer) searchAll(ctx context.Context, q audit.Query, size int64) ([]row, int64, error) {
	q.Limit = pageSize
	ms, next, err := audit.Search(ctx, e.opts.Log.Store(), q, size)
	if err != nil {
		return nil, -1, err
	}
	rows := make([]row, 0, len(ms))
	for _, m := range ms {
		en, err := audit.ParseEntry(m.Entry)
		if err != nil {
			return rows, -1, fmt.Errorf("entry %d: %w", m.Index, err)
		}
		rows = append(rows, rowOf(m.Index, en))
	}
	return rows, next, nil
}

// searchRefusals searches the refusals of one class (audit.RefusalOf):
// the denied and failed entries matching q, merged in index order,
// filtered by class and name.
func (e *Explorer) searchRefusals(ctx context.Context, q audit.Query, class string, size int64) ([]row, int64, error) {
	decisions := []string{string(audit.Denied), string(audit.Failed)}
	if q.Decision != "" {
		decisions = []string{q.Decision}
	}
	const chunk = 500
	var rows []row
	for {
		// Below bound, every candidate of every decision is known.
		var cands []int64
		bound := size
		for _, d := range decisions {
			qd := q
			qd.Decision, qd.Before, qd.Limit = d, size, chunk
			got, err := e.opts.Log.Store().Search(ctx, qd)
			if err != nil {
				return nil, -1, err
			}
			if len(got) == chunk {
				bound = min(bound, got[chunk-1]+1)
			}
			cands = append(cands, got...)
		}
		slices.Sort(cands)
		for _, i := range cands {
			if i >= bound {
				break
			}
			en, err := readEntry(ctx, e.opts.Log.Store(), i)
			if err != nil {
				return rows, -1, err
			}
			q.After = i
			if audit.RefusalOf(en) != class {
				continue
			}
			if q.Name != "" {
				if en.Artifact == nil {
					continue
				}
				if ok, _ := path.Match(q.Name, en.Artifact.Name); !ok {
					continue
				}
			}
			rows = append(rows, rowOf(i, en))
			if len(rows) == pageSize {
				return rows, i, nil
			}
		}
		if bound == size {
			return rows, -1, nil
		}
		q.After = bound - 1
	}
}

type entryPage struct {
	page
	Index     int64
	Entry     *audit.Entry
	Row       row
	Details   [][2]string
	JSON      string
	Proof     string // what the server checked, when it succeeded
	ProofErr  string
	Size      int64
	Receipt   string
	Manifest  string
	ByDigest  []string
	Signature string
}

func (e *Explorer) entryIndex(w http.ResponseWriter, r *http.Request) (int64, bool) {
	v := r.URL.Query().Get("index")
	i, err := strconv.ParseInt(v, 10, 64)
	if err != nil || i < 0 {
		e.fail(w, r, http.StatusBadRequest, "index=%.20q is not an entry index", v)
		return 0, false
	}
	return i, true
}

func (e *Explorer) entry(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	i, ok := e.entryIndex(w, r)
	if !ok {
		return
	}
	rc, en, err := e.proveEntry(ctx, i)
	if errors.Is(err, audit.ErrNotFound) {
		e.fail(w, r, http.StatusNotFound, "%v", err)
		return
	}
	if en == nil {
		e.fail(w, r, http.StatusInternalServerError, "entry %d: %v", i, err)
		return
	}
	p := entryPage{page: e.page(r, fmt.Sprintf("Entry %d", i)), Index: i, Entry: en, Row: rowOf(i, en)}
	if err != nil {
		p.ProofErr = err.Error()
	} else {
		cp, _ := audit.ParseUnverified(rc.Checkpoint)
		p.Size = cp.Size
		p.Proof = fmt.Sprintf("entry %d is in the log of %d entries: its inclusion proof (%d hashes) leads to the root of the checkpoint signed by the log key", i, cp.Size, len(rc.Proof))
		p.Receipt = Prefix + "receipt?index=" + strconv.FormatInt(i, 10)
	}
	for k, v := range en.Details {
		p.Details = append(p.Details, [2]string{k, v})
	}
	slices.SortFunc(p.Details, func(a, b [2]string) int { return cmpStrings(a[0], b[0]) })
	var raw []byte
	if rc != nil {
		raw = rc.Entry
	} else if data, err := e.opts.Log.Store().Entries(ctx, i, i+1); err == nil && len(data) == 1 {
		raw = data[0]
	}
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") == nil {
		p.JSON = b.String()
	}
	if a := en.Artifact; a != nil {
		if a.Manifest != "" {
			p.Manifest = "/v1/audit/manifests/" + url.PathEscape(a.Manifest)
		}
		p.ByDigest = append(p.ByDigest, a.Digests...)
		p.Signature = a.Signature
	}
	e.render(w, http.StatusOK, "entry", p)
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// proveEntry returns a receipt for entry i against the current head, after
// checking it as a client would (audit.VerifyReceipt with the log key),
// and the entry. When the proof fails, the entry is still returned if it
// could be read.
func (e *Explorer) proveEntry(ctx context.Context, i int64) (*audit.Receipt, *audit.Entry, error) {
	store := e.opts.Log.Store()
	signed, size, err := store.Head(ctx)
	if err != nil {
		return nil, nil, err
	}
	if i >= size {
		return nil, nil, fmt.Errorf("%w: entry %d is not in the log of %d entries", audit.ErrNotFound, i, size)
	}
	en, err := readEntry(ctx, store, i)
	if err != nil {
		return nil, nil, err
	}
	if signed == "" {
		return nil, en, errors.New("the log has no signed checkpoint yet (its key is locked or not created): nothing to prove inclusion against")
	}
	cp, err := audit.ParseUnverified(signed)
	if err != nil {
		return nil, en, err
	}
	if i >= cp.Size {
		return nil, en, fmt.Errorf("entry %d is newer than the latest checkpoint (%d entries); reload in a moment", i, cp.Size)
	}
	data, err := store.Entries(ctx, i, i+1)
	if err != nil {
		return nil, en, err
	}
	proof, err := audit.InclusionProof(ctx, store, i, cp.Size)
	if err != nil {
		return nil, en, fmt.Errorf("proving inclusion: %w", err)
	}
	rc := &audit.Receipt{Index: i, Entry: data[0], Proof: proof, Checkpoint: signed}
	vkey, err := e.opts.VerifierKey()
	if err != nil {
		return nil, en, fmt.Errorf("the log key: %w", err)
	}
	if _, _, err := audit.VerifyReceipt(rc, vkey); err != nil {
		return nil, en, fmt.Errorf("INCLUSION PROOF FAILS: %w", err)
	}
	return rc, en, nil
}

// receipt serves a fresh receipt for an entry, checked first, in the form
// `signet audit check-receipt` reads.
func (e *Explorer) receipt(w http.ResponseWriter, r *http.Request) {
	i, ok := e.entryIndex(w, r)
	if !ok {
		return
	}
	rc, _, err := e.proveEntry(r.Context(), i)
	switch {
	case errors.Is(err, audit.ErrNotFound):
		e.fail(w, r, http.StatusNotFound, "%v", err)
		return
	case err != nil:
		e.fail(w, r, http.StatusServiceUnavailable, "no receipt for entry %d: %v", i, err)
		return
	}
	b, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		e.fail(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="entry-%d.receipt"`, i))
	w.Write(append(b, '\n'))
}
