package incident

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/audit"
)

const origin = "test/audit"

// testLog is a SQLite audit log with its verifier key.
type testLog struct {
	store audit.Store
	log   *audit.Log
	vkey  string
	t0    time.Time
}

func newTestLog(tb testing.TB, dir string) *testLog {
	tb.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	vkey, err := audit.VerifierKey(origin, priv.Public().(ed25519.PublicKey))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := audit.OpenSQLite(filepath.Join(dir, "log.db"))
	if err != nil {
		tb.Fatal(err)
	}
	l, err := audit.Open(context.Background(), audit.Options{Store: s, Origin: origin, Key: func() (crypto.Signer, error) { return priv, nil }})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close(); s.Close() })
	return &testLog{store: s, log: l, vkey: vkey, t0: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// randomEntry is entry i of a busy log: three keys, three versions,
// certificate and token principals, refusals, other acts.
func randomEntry(r *mrand.Rand, t0 time.Time, i int) audit.Entry {
	e := audit.Entry{Time: t0.Add(time.Duration(i) * time.Minute), Server: "s1", RequestID: fmt.Sprintf("r%d", i),
		Action: audit.ActionSign, Decision: audit.Allowed, Format: "raw"}
	switch n := r.IntN(10); {
	case n < 6:
		e.Principal = audit.Principal{Kind: "mtls", Name: fmt.Sprintf("builder-%d", r.IntN(4)), ID: "sha256:aa"}
	case n < 9:
		jti := fmt.Sprintf("tok%d", r.IntN(5))
		e.Principal = audit.Principal{Kind: "token", Name: "ci", ID: "token:" + jti, Subject: "job-" + jti}
	default:
		e.Principal = audit.Principal{Kind: "anonymous"}
	}
	switch n := r.IntN(20); {
	case n < 2:
		e.Decision = audit.Denied
		e.Reason = "permission denied"
	case n < 3:
		e.Decision = audit.Failed
	case n < 4:
		e.Action = []audit.Action{audit.ActionKeyCert, audit.ActionKeyRotate, audit.ActionRead}[r.IntN(3)]
		e.Format = ""
	}
	if r.IntN(50) > 0 { // a few entries are about no key
		e.Key = &audit.KeyRef{Name: []string{"release", "release", "nightly", "other"}[r.IntN(4)], Version: 1 + r.IntN(3), Fingerprint: "SHA256:x"}
	}
	if e.Action == audit.ActionSign {
		name := fmt.Sprintf("app-%d.tar.gz", r.IntN(400))
		e.Artifact = &audit.Artifact{Name: name, Size: int64(i), Digests: []string{fmt.Sprintf("sha256:%064x", r.IntN(400))}, Signature: fmt.Sprintf("sha256:%064x", 1_000_000+i)}
	}
	return e
}

// fill appends n random entries in commits of batch entries.
func (l *testLog) fill(tb testing.TB, n, batch int, seed uint64) {
	tb.Helper()
	r := mrand.New(mrand.NewPCG(seed, 9))
	for i := 0; i < n; {
		var es []audit.Entry
		for j := 0; j < batch && i < n; j++ {
			es = append(es, randomEntry(r, l.t0, i))
			i++
		}
		if _, err := l.log.Append(context.Background(), es...); err != nil {
			tb.Fatal(err)
		}
	}
}

// bruteForce reads every entry below size and reports q by hand.
func bruteForce(t *testing.T, s audit.Store, q Query, size int64) (items []int64, sig, ref, other Count, groups map[string]Count) {
	data, err := s.Entries(context.Background(), 0, size)
	if err != nil {
		t.Fatal(err)
	}
	groups = map[string]Count{}
	for i, d := range data {
		e, _ := audit.ParseEntry(d)
		if e.Key == nil || e.Key.Name != q.Key || q.Version != 0 && e.Key.Version != q.Version ||
			!q.Since.IsZero() && e.Time.Before(q.Since) || !q.Until.IsZero() && !e.Time.Before(q.Until) {
			continue
		}
		items = append(items, int64(i))
		g := fmt.Sprintf("%s/%s/%s/%s", e.Principal.Kind, e.Principal.Name, strings.TrimPrefix(e.Principal.ID, "token:"), e.Principal.Subject)
		if e.Principal.Kind != "token" {
			g = fmt.Sprintf("%s/%s//%s", e.Principal.Kind, e.Principal.Name, e.Principal.Subject)
		}
		switch {
		case e.Action != audit.ActionSign:
			other.add(e.Time)
		case e.Decision == audit.Allowed:
			sig.add(e.Time)
			c := groups[g+"/sig"]
			c.add(e.Time)
			groups[g+"/sig"] = c
		default:
			ref.add(e.Time)
			c := groups[g+"/ref"]
			c.add(e.Time)
			groups[g+"/ref"] = c
		}
	}
	return
}

// TestReportIsComplete compares reports with a brute-force scan of a log
// of 3000 random entries (several search pages) for keys, versions and
// windows, and checks that the JSON round trip verifies and recomputes
// the same report.
func TestReportIsComplete(t *testing.T) {
	l := newTestLog(t, t.TempDir())
	l.fill(t, 3000, 50, 1)
	ctx := context.Background()
	_, size, _ := l.store.Head(ctx)
	for _, q := range []Query{
		{Key: "release"},
		{Key: "release", Version: 2},
		{Key: "nightly", Since: l.t0.Add(500 * time.Minute), Until: l.t0.Add(2100 * time.Minute)},
		{Key: "release", Version: 3, Since: l.t0.Add(2999 * time.Minute)},
		{Key: "absent"},
	} {
		t.Run(fmt.Sprintf("%s/v%d", q.Key, q.Version), func(t *testing.T) {
			r, err := Build(ctx, &StoreSource{Store: l.store}, q, l.vkey)
			if err != nil {
				t.Fatal(err)
			}
			items, sig, ref, other, groups := bruteForce(t, l.store, q, size)
			var got []int64
			for _, it := range r.Entries {
				got = append(got, it.Index)
			}
			if !slices.Equal(got, items) {
				t.Fatalf("report has %d entries, brute force %d", len(got), len(items))
			}
			if r.Signatures != sig || r.Refused != ref || r.Other != other || r.Size != size {
				t.Fatalf("counts: %+v %+v %+v, brute force %+v %+v %+v", r.Signatures, r.Refused, r.Other, sig, ref, other)
			}
			n := 0
			for _, g := range r.Groups {
				key := fmt.Sprintf("%s/%s/%s/%s", g.Kind, g.Principal, g.Token, g.Subject)
				if g.Signatures != groups[key+"/sig"] || g.Refused != groups[key+"/ref"] {
					t.Errorf("group %s: %+v %+v, brute force %+v %+v", key, g.Signatures, g.Refused, groups[key+"/sig"], groups[key+"/ref"])
				}
				n += g.Signatures.N + g.Refused.N
			}
			if n != sig.N+ref.N {
				t.Errorf("groups hold %d entries, want %d", n, sig.N+ref.N)
			}
			b, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(b, l.vkey)
			if err != nil {
				t.Fatal(err)
			}
			b2, _ := back.Marshal()
			if !bytes.Equal(b, b2) {
				t.Fatal("a parsed report marshals differently")
			}
		})
	}
}

// TestReportRefusesTampering edits a report's JSON and feeds Build a
// source that lies; each is refused.
func TestReportRefusesTampering(t *testing.T) {
	l := newTestLog(t, t.TempDir())
	l.fill(t, 400, 40, 2)
	ctx := context.Background()
	r, err := Build(ctx, &StoreSource{Store: l.store}, Query{Key: "release"}, l.vkey)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := r.Marshal()
	var m map[string]any
	json.Unmarshal(good, &m)
	entries := m["entries"].([]any)
	edit := func(f func(m map[string]any)) []byte {
		var c map[string]any
		json.Unmarshal(good, &c)
		f(c)
		b, _ := json.Marshal(c)
		return b
	}
	for name, b := range map[string][]byte{
		"drop-entry-renumber": edit(func(c map[string]any) {
			es := c["entries"].([]any)
			es[1].(map[string]any)["index"] = es[0].(map[string]any)["index"]
		}),
		"swap-entry-bytes": edit(func(c map[string]any) {
			es := c["entries"].([]any)
			es[0].(map[string]any)["entry"] = es[1].(map[string]any)["entry"]
		}),
		"relabel-kind": edit(func(c map[string]any) {
			for _, e := range c["entries"].([]any) {
				if e.(map[string]any)["kind"] == KindRefused {
					e.(map[string]any)["kind"] = KindSignature
					return
				}
			}
		}),
		"other-key": edit(func(c map[string]any) { c["key"] = "nightly" }),
		"size":      edit(func(c map[string]any) { c["size"] = 1e6 }),
	} {
		if _, err := Parse(b, l.vkey); err == nil {
			t.Errorf("%s: Parse accepted the edited report", name)
		}
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherKey, _ := audit.VerifierKey(origin, other.Public().(ed25519.PublicKey))
	if _, err := Parse(good, otherKey); err == nil {
		t.Error("Parse accepted the report with another log's key")
	}
	if len(entries) < 3 {
		t.Fatal("too few entries to test")
	}

	// A source that answers another search, or forges a proof.
	for name, src := range map[string]Source{
		"wrong-key": lying{l.store, func(q audit.Query) audit.Query { q.Key = "nightly"; return q }, false},
		"bad-proof": lying{l.store, func(q audit.Query) audit.Query { return q }, true},
	} {
		if _, err := Build(ctx, src, Query{Key: "release"}, l.vkey); err == nil {
			t.Errorf("%s: Build accepted it", name)
		}
	}
}

type lying struct {
	s      audit.Store
	q      func(audit.Query) audit.Query
	forged bool
}

func (l lying) SearchProven(ctx context.Context, q audit.Query) (*Page, error) {
	p, err := (&StoreSource{Store: l.s}).SearchProven(ctx, l.q(q))
	if err == nil && l.forged && len(p.Matches) > 1 {
		p.Matches[1].Proof = p.Matches[0].Proof
	}
	return p, err
}

// TestReportStopsAtItsCheckpoint appends entries while a report is being
// built: the report covers the log up to its first checkpoint, exactly.
func TestReportStopsAtItsCheckpoint(t *testing.T) {
	l := newTestLog(t, t.TempDir())
	l.fill(t, 2500, 100, 3)
	ctx := context.Background()
	_, size, _ := l.store.Head(ctx)
	src := &growing{l: l, t: t}
	r, err := Build(ctx, src, Query{Key: "release"}, l.vkey)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size != size || len(r.Checkpoints) < 2 {
		t.Fatalf("report of %d entries, %d checkpoints; want %d entries, proofs against later checkpoints", r.Size, len(r.Checkpoints), size)
	}
	items, _, _, _, _ := bruteForce(t, l.store, Query{Key: "release"}, size)
	if len(r.Entries) != len(items) {
		t.Fatalf("report has %d entries, want %d", len(r.Entries), len(items))
	}
	if _, err := Parse(mustMarshal(t, r), l.vkey); err != nil {
		t.Fatal(err)
	}
}

// growing is a source over a log that grows between pages; each page is
// answered against the latest checkpoint, as the server's API does.
type growing struct {
	l *testLog
	t *testing.T
}

func (g *growing) SearchProven(ctx context.Context, q audit.Query) (*Page, error) {
	if q.After >= 0 {
		g.l.fill(g.t, 200, 50, uint64(q.After)+10)
	}
	return (&StoreSource{Store: g.l.store}).SearchProven(ctx, q)
}

func mustMarshal(t *testing.T, r *Report) []byte {
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestArtifacts checks that re-signing gets each signed artifact once,
// with its latest signature.
func TestArtifacts(t *testing.T) {
	l := newTestLog(t, t.TempDir())
	l.fill(t, 1000, 100, 4)
	r, err := Build(context.Background(), &StoreSource{Store: l.store}, Query{Key: "release"}, l.vkey)
	if err != nil {
		t.Fatal(err)
	}
	arts := r.Artifacts()
	seen := map[string]bool{}
	latest := map[string]int64{}
	for _, it := range r.Entries {
		if e := it.Parsed(); it.Kind == KindSignature {
			latest[e.Artifact.Name+e.Artifact.Digests[0]] = it.Index
		}
	}
	for _, a := range arts {
		k := a.Name + a.Digest
		if seen[k] {
			t.Fatalf("artifact %s listed twice", k)
		}
		seen[k] = true
		if latest[k] != a.Index {
			t.Errorf("artifact %s: entry %d, latest is %d", k, a.Index, latest[k])
		}
	}
	if len(arts) != len(latest) || r.ArtifactCount != len(arts) {
		t.Fatalf("%d artifacts, want %d", len(arts), len(latest))
	}
}

// FuzzParse checks that no report file makes Parse panic, and that what
// it accepts marshals to a report it accepts again, unchanged.
func FuzzParse(f *testing.F) {
	l := newTestLog(f, f.TempDir())
	l.fill(f, 60, 20, 7)
	r, err := Build(context.Background(), &StoreSource{Store: l.store}, Query{Key: "release"}, l.vkey)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := r.Marshal()
	f.Add(good)
	f.Add([]byte(`{"key":"release","checkpoints":[],"entries":[]}`))
	f.Add([]byte(`{"log":"test/audit","key":"release","size":3,"checkpoints":["x"],"entries":[{"index":0,"kind":"signature","checkpoint":0,"entry":"e30=","proof":[]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b, l.vkey)
		if err != nil {
			return
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(out, l.vkey)
		if err != nil {
			t.Fatalf("re-parsing: %v", err)
		}
		if out2, _ := again.Marshal(); !bytes.Equal(out, out2) {
			t.Fatal("a parsed report changes when parsed again")
		}
	})
}
