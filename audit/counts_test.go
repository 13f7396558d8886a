package audit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRefusalOf(t *testing.T) {
	for _, tt := range []struct {
		action   Action
		decision Decision
		reason   string
		want     string
	}{
		{ActionSign, Allowed, "", ""},
		{ActionAuthentication, Denied, "unauthenticated: token signature does not verify", RefusalTokenInvalid},
		{ActionAuthentication, Denied, "unauthenticated: token signed by an unknown key", RefusalTokenInvalid},
		{ActionAuthentication, Denied, "unauthenticated: token expired", RefusalTokenExpired},
		{ActionAuthentication, Denied, "unauthenticated: token revoked", RefusalTokenRevoked},
		{ActionAuthentication, Denied, "unauthenticated: no client certificate", RefusalUnauthenticated},
		{ActionSign, Failed, "keystore locked: ask a custodian to run 'signet unlock'", RefusalLocked},
		{ActionSign, Denied, `permission denied: principal "builder" may not use key "release"`, RefusalScope},
		{ActionSign, Denied, `permission denied: token abc (subject "job") does not cover signing "x" with key "k" in format "raw"`, RefusalScope},
		{ActionRead, Denied, "token abc may only sign; audit needs a client certificate", RefusalScope},
		{ActionSign, Denied, `no key named "nope"; 'signet key list' shows the keys`, RefusalBadRequest},
		{ActionSign, Failed, "the audit log cannot record this request", RefusalFailed},
	} {
		e := &Entry{Action: tt.action, Decision: tt.decision, Reason: tt.reason}
		if got := RefusalOf(e); got != tt.want {
			t.Errorf("RefusalOf(%s %s %q) = %q, want %q", tt.action, tt.decision, tt.reason, got, tt.want)
		}
	}
}

// countEntry is entry i of the counts tests: spread over three days, two
// keys, three principals, some refusals.
func countEntry(i int) Entry {
	e := testEntry(i)
	e.Time = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 37 * time.Minute)
	e.Key.Name = []string{"release", "nightly"}[i%2]
	e.Principal.Name = []string{"builder", "ci", "<script>"}[i%3]
	switch i % 7 {
	case 3:
		e.Decision, e.Reason = Denied, `permission denied: principal "ci" may not`
	case 5:
		e.Action, e.Decision, e.Reason, e.Key, e.Artifact = ActionAuthentication, Denied, "unauthenticated: token signature does not verify", nil, nil
		e.Principal = Principal{Kind: "anonymous"}
	}
	return e
}

// naiveCounts counts entries [0, n) as Counts should.
func naiveCounts(n int, q CountQuery) map[string]int64 {
	m := map[string]int64{}
	for i := range n {
		e := countEntry(i)
		if e.Time.Before(q.Since) || !e.Time.Before(q.Until) {
			continue
		}
		start := q.Since.Add(e.Time.Sub(q.Since) / q.Bucket * q.Bucket)
		c := Count{Start: start, Action: string(e.Action), Decision: string(e.Decision), Principal: e.Principal.Name, Refusal: RefusalOf(&e)}
		if e.Key != nil {
			c.Key, c.Version = e.Key.Name, e.Key.Version
		}
		c.N = 0
		m[fmt.Sprint(c)]++
	}
	return m
}

func TestCounts(t *testing.T) {
	const n = 200 // about five days
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			k := newLogKey(t)
			s, _ := b.open(t)
			l := openLog(t, s, k.signer)
			for i := range n {
				if _, err := l.Append(ctx, countEntry(i)); err != nil {
					t.Fatal(err)
				}
			}
			l.Close()
			ix := sqlOf(t, s).ix
			execSQL(t, ix.w, "DELETE FROM entry_counts")
			execSQL(t, ix.w, "UPDATE entry_counts_head SET counted = 0")
			day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			queries := []CountQuery{
				{Since: day, Until: day.Add(6 * 24 * time.Hour), Bucket: 24 * time.Hour},
				{Since: day.Add(3 * time.Hour), Until: day.Add(27 * time.Hour), Bucket: 3 * time.Hour},
				{Since: day.Add(90 * time.Minute), Until: day.Add(10 * time.Hour), Bucket: 15 * time.Minute},
				{Since: day.Add(25 * time.Hour), Until: day.Add(50 * time.Hour), Bucket: 24 * time.Hour}, // not day-aligned: hour counts
			}
			check := func(stage string) {
				t.Helper()
				for _, q := range queries {
					got, err := s.Counts(ctx, q)
					if err != nil {
						t.Fatalf("%s: %v", stage, err)
					}
					want := naiveCounts(n, q)
					gotm := map[string]int64{}
					for _, c := range got {
						if c.N <= 0 {
							t.Errorf("%s: count %+v", stage, c)
						}
						nn := c.N
						c.N = 0
						gotm[fmt.Sprint(c)] += nn
					}
					if fmt.Sprint(gotm) != fmt.Sprint(want) {
						t.Errorf("%s: counts from %v by %v:\n got %v\nwant %v", stage, q.Since, q.Bucket, gotm, want)
					}
				}
			}
			check("nothing counted")
			if done, err := s.Index(ctx, 70); err != nil || done {
				t.Fatalf("first chunk: done %v, %v", done, err)
			}
			check("some counted")
			for {
				done, err := s.Index(ctx, 50)
				if err != nil {
					t.Fatal(err)
				}
				if done {
					break
				}
			}
			check("all counted")
			// The latest refusals, by time, as a naive walk finds them.
			var want []int64
			for i := n - 1; i >= 0 && len(want) < 5; i-- {
				if e := countEntry(i); e.Decision != Allowed && e.Time.Before(day.Add(4*24*time.Hour)) {
					want = append(want, int64(i))
				}
			}
			got, err := s.LatestRefusals(ctx, day, day.Add(4*24*time.Hour), n, 5)
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("latest refusals: %v %v, want %v", got, err, want)
			}
			if r, err := Verify(ctx, s, k.vkey); err != nil || !r.OK() {
				t.Fatalf("verify: %+v %v", r, err)
			}

			// A count lowered to hide a signature from timelines fails
			// verification.
			execSQL(t, ix.w, "UPDATE entry_counts SET n = n - 1 WHERE span = 3600 AND n > 0 AND principal = 'ci' AND action = 'sign'")
			r, err := Verify(ctx, s, k.vkey)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() || !strings.Contains(strings.Join(r.Problems, "\n"), "timeline tampered") {
				t.Errorf("verify with a count lowered: %+v", r)
			}
		})
	}
}

func TestCountQueryErrors(t *testing.T) {
	s, _ := backends(t)[0].open(t)
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, q := range []CountQuery{
		{Since: day, Until: day.Add(time.Hour), Bucket: 30 * time.Second},
		{Since: day, Until: day, Bucket: time.Minute},
		{Since: day.Add(time.Second), Until: day.Add(time.Hour), Bucket: time.Minute},
	} {
		if _, err := s.Counts(context.Background(), q); err == nil {
			t.Errorf("Counts(%+v) succeeded", q)
		}
	}
}

// An entry naming an artifact in invalid UTF-8 is stored as JSON stores
// it (U+FFFD), and searched, counted and verified as stored.
func TestInvalidUTF8(t *testing.T) {
	ctx := context.Background()
	k := newLogKey(t)
	s, _ := backends(t)[0].open(t)
	l := openLog(t, s, k.signer)
	e := testEntry(1)
	e.Artifact.Name = "bad \xff\xfe.tar.gz"
	e.Principal.Name = "\xffbuilder"
	in := []Entry{e}
	if _, err := l.Append(ctx, in...); err != nil {
		t.Fatal(err)
	}
	if in[0].Artifact.Name != "bad \xff\xfe.tar.gz" {
		t.Error("Append changed the caller's entry")
	}
	if r, err := Verify(ctx, s, k.vkey); err != nil || !r.OK() {
		t.Fatalf("verify: %+v %v", r, err)
	}
	ms, _, err := Search(ctx, s, Query{Principal: "\uFFFDbuilder", Name: "bad \uFFFD\uFFFD.tar.gz", After: -1}, 1)
	if err != nil || len(ms) != 1 {
		t.Errorf("search: %v %v", ms, err)
	}
}
