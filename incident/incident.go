// Package incident answers, from the audit log, what a key (or one
// version of it, one window) signed: every signature with the proof that
// the log holds its entry, grouped by principal and token, with counts,
// first and last use, and the attempts that were refused. It is the first
// document of an incident response, and the input of re-signing
// (Report.Artifacts): what must be signed again with a new key.
//
// # Completeness
//
// A report is built against one signed checkpoint, the first its source
// answers with: it covers every entry below that checkpoint's size. The
// source searches by the columns the log stores for each entry (key,
// version, time; see package audit, whose Verify checks those columns
// against the entries), and Build checks each entry it is given: its
// inclusion proof against a checkpoint signed by the log key, and that it
// is about the key and window asked for. A source can therefore not add
// entries; it could leave some out only by serving a search index that
// disagrees with the log, which audit verification detects.
//
// # Format
//
// Report is JSON (Build, Parse). Each entry is kept as the exact bytes
// the log hashed, with its proof and the checkpoint it is proven in, so
// that anyone with the log's verifier key can check the report offline
// (Parse checks every entry, and computes the counts again from them) and
// nobody can edit it unnoticed.
package incident

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/internal/strictjson"
)

// A Query selects the entries of a report.
type Query struct {
	Key     string
	Version int       // 0: every version
	Since   time.Time // inclusive; zero: from the log's start
	Until   time.Time // exclusive; zero: up to the checkpoint
}

// A Page is one page of search results, each with its proof of
// inclusion in Checkpoint.
type Page struct {
	Checkpoint string
	Matches    []audit.Match
	Next       int64 // the index to continue after; -1 when complete
}

// A Source searches an audit log and proves what it finds: a store opened
// directly (StoreSource) or a server's search API (package client).
type Source interface {
	// SearchProven returns the entries matching q after q.After, in
	// index order, each with its inclusion proof (audit.Match.Proof).
	SearchProven(ctx context.Context, q audit.Query) (*Page, error)
}

// Kinds of report entries.
const (
	KindSignature = "signature" // a signature made (action sign, allowed)
	KindRefused   = "refused"   // a signature refused or failed
	KindOther     = "other"     // another act on the key: a certificate, a rotation, a revocation …
)

// Report is what a key signed, from the audit log.
type Report struct {
	Log     string    `json:"log"` // the log's origin
	Key     string    `json:"key"`
	Version int       `json:"version,omitempty"`
	Since   time.Time `json:"since,omitzero"`
	Until   time.Time `json:"until,omitzero"`
	// Size is the number of entries the report covers: those below the
	// size of Checkpoints[0].
	Size        int64    `json:"size"`
	Checkpoints []string `json:"checkpoints"` // signed notes the entries are proven in

	Signatures    Count          `json:"signatures"`
	Refused       Count          `json:"refused"`
	Other         Count          `json:"other"`
	Versions      []VersionCount `json:"versions"`
	Groups        []Group        `json:"groups"`
	ArtifactCount int            `json:"artifacts"` // distinct artifacts signed
	Entries       []Item         `json:"entries"`
	byGroup       map[groupKey]*Group
	byVersion     map[int]*VersionCount
}

// Count is how many entries, and when the first and the last were made.
type Count struct {
	N     int       `json:"count"`
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`
}

func (c *Count) add(t time.Time) {
	if c.N == 0 || t.Before(c.First) {
		c.First = t
	}
	if c.N == 0 || t.After(c.Last) {
		c.Last = t
	}
	c.N++
}

// VersionCount counts the signatures of one version.
type VersionCount struct {
	Version    int   `json:"version"`
	Signatures Count `json:"signatures"`
	Refused    Count `json:"refused"`
}

// Group is what one principal (through one token, if it used tokens)
// signed and was refused.
type Group struct {
	Principal  string `json:"principal"`
	Kind       string `json:"kind"`              // "mtls", "token", "agent" …
	Token      string `json:"token,omitempty"`   // the token id
	Subject    string `json:"subject,omitempty"` // the token's subject (the job)
	Signatures Count  `json:"signatures"`
	Refused    Count  `json:"refused"`
}

type groupKey struct{ kind, principal, token, subject string }

// Item is one entry of the report, as the log holds it, with its proof.
type Item struct {
	Index      int64    `json:"index"`
	Kind       string   `json:"kind"`
	Checkpoint int      `json:"checkpoint"` // into Report.Checkpoints
	Entry      []byte   `json:"entry"`      // the stored bytes, which the log hashed
	Proof      [][]byte `json:"proof"`

	entry *audit.Entry
}

// Parsed returns the parsed entry (after Build or Parse).
func (it *Item) Parsed() *audit.Entry { return it.entry }

// pageSize is how many entries a search page holds.
const pageSize = 1000

// Build reports what q's key signed, from src. logKey is the log's
// verifier key: every entry's proof is checked against a checkpoint
// signed by it.
func Build(ctx context.Context, src Source, q Query, logKey string) (*Report, error) {
	if q.Key == "" {
		return nil, errors.New("incident: a report is about one key; name it")
	}
	r := &Report{Key: q.Key, Version: q.Version, Since: q.Since, Until: q.Until, Size: -1}
	v := newVerifier(logKey)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := fetch(ctx, src, audit.Query{Key: q.Key, Version: q.Version, Since: q.Since, Until: q.Until, After: -1, Limit: pageSize})
	after := int64(-1)
	for f := range pages {
		if f.err != nil {
			return nil, f.err
		}
		page := f.page
		cp, n, err := v.checkpoint(r, page.Checkpoint)
		if err != nil {
			return nil, err
		}
		if r.Size < 0 {
			r.Log, r.Size = cp.Origin, cp.Size
		}
		done := page.Next < 0
		var items []Item
		for _, m := range page.Matches {
			if m.Index <= after {
				return nil, fmt.Errorf("incident: the source returned entry %d again, or out of order", m.Index)
			}
			after = m.Index
			if m.Index >= r.Size {
				done = true // appended after the report's checkpoint
				break
			}
			items = append(items, Item{Index: m.Index, Checkpoint: n, Entry: m.Entry, Proof: m.Proof})
		}
		if err := r.checkAll(items, cp); err != nil {
			return nil, err
		}
		for _, it := range items {
			r.add(it)
		}
		if done {
			break
		}
	}
	r.finish()
	return r, nil
}

type fetched struct {
	page *Page
	err  error
}

// fetch searches src page after page, one page ahead of the caller, who
// checks the previous one meanwhile. The channel closes after the last
// page or an error.
func fetch(ctx context.Context, src Source, q audit.Query) <-chan fetched {
	out := make(chan fetched, 1)
	go func() {
		defer close(out)
		for {
			page, err := src.SearchProven(ctx, q)
			select {
			case out <- fetched{page, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || page.Next < 0 || len(page.Matches) == 0 {
				return
			}
			q.After = page.Next
		}
	}()
	return out
}

// checkAll checks items against cp, on every CPU: proofs and entries
// are most of a report's work.
func (r *Report) checkAll(items []Item, cp audit.Checkpoint) error {
	workers := min(runtime.GOMAXPROCS(0), len(items))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(items); i += workers {
				if err := r.check(&items[i], cp); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// check verifies it against cp and parses its entry, which must match
// r's query. It only reads r.
func (r *Report) check(it *Item, cp audit.Checkpoint) error {
	if err := audit.VerifyInclusion(cp, it.Index, it.Entry, it.Proof); err != nil {
		return fmt.Errorf("incident: entry %d: %w", it.Index, err)
	}
	e, err := audit.ParseEntry(it.Entry)
	if err != nil {
		return fmt.Errorf("incident: entry %d: %w", it.Index, err)
	}
	switch {
	case e.Key == nil || e.Key.Name != r.Key:
		return fmt.Errorf("incident: entry %d is not about key %q: the source answered another search", it.Index, r.Key)
	case r.Version != 0 && e.Key.Version != r.Version:
		return fmt.Errorf("incident: entry %d is about version %d, not %d", it.Index, e.Key.Version, r.Version)
	case !r.Since.IsZero() && e.Time.Before(r.Since), !r.Until.IsZero() && !e.Time.Before(r.Until):
		return fmt.Errorf("incident: entry %d (%s) is outside the window asked for", it.Index, e.Time.Format(time.RFC3339))
	}
	it.entry = e
	it.Kind = kindOf(e)
	return nil
}

func kindOf(e *audit.Entry) string {
	switch {
	case e.Action != audit.ActionSign:
		return KindOther
	case e.Decision == audit.Allowed:
		return KindSignature
	}
	return KindRefused
}

// add counts it.
func (r *Report) add(it Item) {
	if r.byGroup == nil {
		r.byGroup, r.byVersion = map[groupKey]*Group{}, map[int]*VersionCount{}
	}
	e := it.entry
	r.Entries = append(r.Entries, it)
	if it.Kind == KindOther {
		r.Other.add(e.Time)
		return
	}
	gk := groupKey{kind: e.Principal.Kind, principal: e.Principal.Name, subject: e.Principal.Subject}
	if e.Principal.Kind == "token" {
		gk.token = strings.TrimPrefix(e.Principal.ID, "token:")
	}
	g := r.byGroup[gk]
	if g == nil {
		g = &Group{Principal: gk.principal, Kind: gk.kind, Token: gk.token, Subject: gk.subject}
		r.byGroup[gk] = g
	}
	vc := r.byVersion[e.Key.Version]
	if vc == nil {
		vc = &VersionCount{Version: e.Key.Version}
		r.byVersion[e.Key.Version] = vc
	}
	if it.Kind == KindSignature {
		r.Signatures.add(e.Time)
		g.Signatures.add(e.Time)
		vc.Signatures.add(e.Time)
	} else {
		r.Refused.add(e.Time)
		g.Refused.add(e.Time)
		vc.Refused.add(e.Time)
	}
}

// finish orders the groups and versions and counts distinct artifacts.
func (r *Report) finish() {
	r.Groups = r.Groups[:0]
	for _, g := range r.byGroup {
		r.Groups = append(r.Groups, *g)
	}
	slices.SortFunc(r.Groups, func(a, b Group) int {
		return cmp.Or(cmp.Compare(a.Principal, b.Principal), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Token, b.Token), cmp.Compare(a.Subject, b.Subject))
	})
	r.Versions = r.Versions[:0]
	for _, n := range slices.Sorted(maps.Keys(r.byVersion)) {
		r.Versions = append(r.Versions, *r.byVersion[n])
	}
	r.ArtifactCount = len(r.Artifacts())
	if r.Groups == nil {
		r.Groups = []Group{}
	}
	if r.Versions == nil {
		r.Versions = []VersionCount{}
	}
	if r.Entries == nil {
		r.Entries = []Item{}
	}
}

// verifier opens checkpoints once each.
type verifier struct {
	logKey string
	opened map[string]audit.Checkpoint
}

func newVerifier(logKey string) *verifier {
	return &verifier{logKey: logKey, opened: map[string]audit.Checkpoint{}}
}

// checkpoint opens signed, adds it to r's checkpoints if new, and returns
// it with its number in r.
func (v *verifier) checkpoint(r *Report, signed string) (audit.Checkpoint, int, error) {
	cp, ok := v.opened[signed]
	if !ok {
		var err error
		if cp, err = audit.OpenCheckpoint(signed, v.logKey); err != nil {
			return cp, 0, fmt.Errorf("incident: the log's checkpoint: %w", err)
		}
		if len(v.opened) > 0 && cp.Origin != r.Log {
			return cp, 0, fmt.Errorf("incident: checkpoints of two logs, %q and %q", r.Log, cp.Origin)
		}
		v.opened[signed] = cp
	}
	n := slices.Index(r.Checkpoints, signed)
	if n < 0 {
		n = len(r.Checkpoints)
		r.Checkpoints = append(r.Checkpoints, signed)
	}
	return cp, n, nil
}

// Marshal returns r as indented JSON.
func (r *Report) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	return append(b, '\n'), err
}

// Parse reads a report's JSON and checks every entry against logKey, as
// Verify does; the counts and groups are computed again from the
// entries, never taken from the file.
func Parse(b []byte, logKey string) (*Report, error) {
	var in Report
	if err := strictjson.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("incident: report: %w", err)
	}
	if in.Key == "" || len(in.Checkpoints) == 0 {
		return nil, errors.New("incident: report: no key or no checkpoint")
	}
	r := &Report{Key: in.Key, Version: in.Version, Since: in.Since, Until: in.Until, Size: -1}
	v := newVerifier(logKey)
	for i, signed := range in.Checkpoints {
		cp, _, err := v.checkpoint(r, signed)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			r.Log, r.Size = cp.Origin, cp.Size
		}
	}
	if in.Size != r.Size || in.Log != r.Log {
		return nil, fmt.Errorf("incident: report: it says it covers %d entries of %q, but its first checkpoint is of %d entries of %q", in.Size, in.Log, r.Size, r.Log)
	}
	prev := int64(-1)
	for _, it := range in.Entries {
		if it.Checkpoint < 0 || it.Checkpoint >= len(r.Checkpoints) {
			return nil, fmt.Errorf("incident: report: entry %d names checkpoint %d of %d", it.Index, it.Checkpoint, len(r.Checkpoints))
		}
		if it.Index <= prev || it.Index >= r.Size {
			return nil, fmt.Errorf("incident: report: entry %d is out of order or beyond the report's %d entries", it.Index, r.Size)
		}
		prev = it.Index
		kind := it.Kind
		if err := r.check(&it, v.opened[r.Checkpoints[it.Checkpoint]]); err != nil {
			return nil, err
		}
		if it.Kind != kind {
			return nil, fmt.Errorf("incident: report: entry %d is a %s, not a %s", it.Index, it.Kind, kind)
		}
		r.add(it)
	}
	r.finish()
	return r, nil
}

// Artifact is one artifact a report's signatures covered.
type Artifact struct {
	Index   int64             // the entry that records its (latest) signature
	Version int               // the key version that signed it
	Name    string            // as the client named it: the file's base name
	Format  string            // the signature format
	Digest  string            // "ALG:HEX" recorded: of the file, or for authenticode its Authenticode digest
	Size    int64             // as the client said; 0 if unknown
	Details map[string]string // the format's details (an SSH namespace, a pgp armor flag …)
}

// Artifacts returns the artifacts of r's signatures, one per name,
// format and digest, each with its latest signature's entry, in index
// order of that entry.
func (r *Report) Artifacts() []Artifact {
	type k struct{ name, format, digest string }
	latest := map[k]int{}
	var out []Artifact
	for _, it := range r.Entries {
		e := it.entry
		if it.Kind != KindSignature || e.Artifact == nil {
			continue
		}
		a := Artifact{Index: it.Index, Version: e.Key.Version, Name: e.Artifact.Name, Format: e.Format, Size: e.Artifact.Size, Details: e.Details}
		if len(e.Artifact.Digests) > 0 {
			a.Digest = e.Artifact.Digests[0]
		}
		key := k{a.Name, a.Format, a.Digest}
		if i, ok := latest[key]; ok {
			out[i] = a
			continue
		}
		latest[key] = len(out)
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Artifact) int { return cmp.Compare(a.Index, b.Index) })
	return out
}

// StoreSource is a Source over a store opened directly (the --data or
// --postgres of signet incident report). Every page is answered against
// the store's head checkpoint as first read, and its entries proven by
// one audit.Prover, which reads each stored hash once for the report.
type StoreSource struct {
	Store audit.Store

	head   string
	size   int64
	prover *audit.Prover
}

// SearchProven implements Source.
func (s *StoreSource) SearchProven(ctx context.Context, q audit.Query) (*Page, error) {
	if s.head == "" {
		signed, _, err := s.Store.Head(ctx)
		if err != nil {
			return nil, err
		}
		if signed == "" {
			return nil, errors.New("incident: the log has no signed checkpoint yet, so nothing in it can be proven")
		}
		cp, err := audit.ParseUnverified(signed)
		if err != nil {
			return nil, err
		}
		s.head, s.size = signed, cp.Size
		s.prover = audit.NewProver(s.Store, s.size)
	}
	matches, next, err := audit.Search(ctx, s.Store, q, s.size)
	if err != nil {
		return nil, err
	}
	idx := make([]int64, len(matches))
	for i, m := range matches {
		idx[i] = m.Index
	}
	if len(matches) == q.Limit && q.Limit > 0 {
		// A full page: the report is a big one, which needs most of
		// the tree's hashes.
		if err := s.prover.LoadAll(ctx); err != nil {
			return nil, err
		}
	}
	proofs, err := s.prover.Prove(ctx, idx)
	if err != nil {
		return nil, err
	}
	for i := range matches {
		matches[i].Proof = proofs[i]
	}
	return &Page{Checkpoint: s.head, Matches: matches, Next: next}, nil
}
