package server_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/keystore"
)

// search answers GET /v1/audit/search for admin, failing the test on
// anything but 200.
func (f *fixture) search(t *testing.T, q url.Values) api.AuditSearch {
	t.Helper()
	var sr api.AuditSearch
	if status, body := f.get(t, "admin", "/v1/audit/search", q, &sr); status != 200 {
		t.Fatalf("search?%s: %d %s", q.Encode(), status, body)
	}
	return sr
}

// matched returns the actions and artifact names of matches, to name them
// in failures.
func matched(t *testing.T, ms []audit.Match) []string {
	t.Helper()
	var out []string
	for _, m := range ms {
		e, err := audit.ParseEntry(m.Entry)
		if err != nil {
			t.Fatalf("entry %d: %v", m.Index, err)
		}
		s := string(e.Action) + " " + string(e.Decision)
		if e.Artifact != nil {
			s += " " + e.Artifact.Name
		}
		out = append(out, s)
	}
	return out
}

// While the keystore is locked the log key cannot sign checkpoints: the
// lock and the refusals after it are durable, and a search finds them
// apart from the proven matches, as unproven (no proof) and why. Once
// unlocked, the next act's checkpoint covers them, and the same searches
// find them among the proven matches, with proofs that verify.
func TestSearchUnproven(t *testing.T) {
	for _, tiles := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "tiles"}[tiles], func(t *testing.T) {
			f := newFixtureWith(t, fixtureOptions{tiles: tiles})
			ctx := context.Background()
			admin := f.clients["admin"]
			if _, err := admin.SignFiles(ctx, "release", writeFiles(t, "before.tar.gz"), api.SignOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := admin.Lock(ctx); err != nil {
				t.Fatal(err)
			}
			if status, e, _ := post(t, f, "builder", "/v1/sign", []byte(signBodyFor("while.tar.gz"))); status != 503 || e.Code != "locked" {
				t.Fatalf("signing while the keystore was locked: %d %s, want 503 locked", status, e.Code)
			}
			signed, recorded, err := f.audit.Store().Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cp, err := audit.ParseUnverified(signed)
			if err != nil {
				t.Fatal(err)
			}
			if recorded < cp.Size+2 {
				t.Fatalf("the log has %d entries and a checkpoint of %d: want the lock and the refusal beyond it", recorded, cp.Size)
			}

			for _, tt := range []struct {
				q    url.Values
				want string
			}{
				{url.Values{"action": {string(audit.ActionLock)}}, "keystore.lock allowed"},
				{url.Values{"name": {"while.tar.gz"}}, "sign failed while.tar.gz"},
			} {
				sr := f.search(t, tt.q)
				if len(sr.Matches) != 0 || len(sr.Unproven) != 1 || !strings.HasPrefix(matched(t, sr.Unproven)[0], tt.want) {
					t.Fatalf("search?%s while locked: proven %q, unproven %q; want %q unproven only", tt.q.Encode(), matched(t, sr.Matches), matched(t, sr.Unproven), tt.want)
				}
				u := sr.Unproven[0]
				if u.Index < sr.Size || u.Proof != nil || sr.Size != cp.Size || sr.Recorded != recorded || sr.UnprovenMore {
					t.Errorf("search?%s: unproven entry %d with proof %v, size %d, recorded %d, more %v; want beyond the checkpoint's %d entries, no proof, recorded %d",
						tt.q.Encode(), u.Index, u.Proof, sr.Size, sr.Recorded, sr.UnprovenMore, cp.Size, recorded)
				}
				if sr.UnprovenReason != api.UnprovenLocked || !strings.Contains(sr.UnprovenNote, "signet unlock") || !strings.Contains(sr.UnprovenNote, `"audit-log"`) {
					t.Errorf("search?%s: reason %q, note %q; want %q and how to unlock", tt.q.Encode(), sr.UnprovenReason, sr.UnprovenNote, api.UnprovenLocked)
				}
			}

			// Paging the proven part still works, one match a page; the
			// unproven part comes once, on the last page, at most limit.
			q := url.Values{"limit": {"1"}}
			var proven []int64
			var last api.AuditSearch
			for range recorded + 1 {
				last = f.search(t, q)
				for _, m := range last.Matches {
					proven = append(proven, m.Index)
				}
				if last.Next == 0 {
					break
				}
				if len(last.Unproven) != 0 || last.UnprovenReason != "" {
					t.Fatalf("page after=%s: unproven %q before the last page", q.Get("after"), matched(t, last.Unproven))
				}
				q.Set("after", strconv.FormatInt(last.Next, 10))
			}
			if int64(len(proven)) != cp.Size || proven[len(proven)-1] != cp.Size-1 {
				t.Errorf("paged through proven matches %v; want the %d entries of the checkpoint", proven, cp.Size)
			}
			if len(last.Unproven) != 1 || last.Unproven[0].Index != cp.Size || !last.UnprovenMore || last.UnprovenReason != api.UnprovenLocked {
				t.Errorf("last page: unproven %v (more %v, reason %q); want entry %d alone, with more to come", matched(t, last.Unproven), last.UnprovenMore, last.UnprovenReason, cp.Size)
			}
			// A page of a search held against a checkpoint (size=), as an
			// incident report asks, carries no unproven entry.
			if sr := f.search(t, url.Values{"size": {strconv.FormatInt(cp.Size, 10)}, "proofs": {"1"}}); len(sr.Unproven) != 0 || sr.UnprovenReason != "" {
				t.Errorf("search with size=: unproven %q, reason %q", matched(t, sr.Unproven), sr.UnprovenReason)
			}

			if err := admin.Unlock(ctx, "test passphrase"); err != nil {
				t.Fatal(err)
			}
			if _, err := admin.SignFiles(ctx, "release", writeFiles(t, "after.tar.gz"), api.SignOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, q := range []url.Values{{"action": {string(audit.ActionLock)}}, {"name": {"while.tar.gz"}}} {
				q.Set("proofs", "1")
				sr := f.search(t, q)
				if len(sr.Matches) != 1 || len(sr.Unproven) != 0 || sr.UnprovenReason != "" || sr.Recorded != sr.Size {
					t.Fatalf("search?%s after the next act: proven %q, unproven %q, reason %q, size %d of %d recorded; want one proven match",
						q.Encode(), matched(t, sr.Matches), matched(t, sr.Unproven), sr.UnprovenReason, sr.Size, sr.Recorded)
				}
				m := sr.Matches[0]
				r := audit.Receipt{Index: m.Index, Entry: m.Entry, Proof: m.Proof, Checkpoint: sr.Checkpoint}
				if _, _, err := audit.VerifyReceipt(&r, f.logKey); err != nil {
					t.Errorf("search?%s: entry %d: its proof does not verify: %v", q.Encode(), m.Index, err)
				}
			}
		})
	}
}

// With no checkpoint at all (the log key was never created), a search
// still finds what is recorded, as unproven and why; a search for proofs
// says there is nothing to prove against.
func TestSearchNoCheckpoint(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{auditKey: "missing-log-key"})
	if status, _, _ := post(t, f, "builder", "/v1/sign", []byte(signBodyFor("a.tar.gz"))); status != 503 {
		t.Fatalf("signing without a log key: %d, want 503", status)
	}
	sr := f.search(t, url.Values{"name": {"a.tar.gz"}})
	if sr.Checkpoint != "" || sr.Size != 0 || sr.Recorded != 1 || len(sr.Matches) != 0 || len(sr.Unproven) != 1 {
		t.Fatalf("search without a checkpoint: checkpoint %q, size %d, recorded %d, proven %q, unproven %q; want the one entry unproven",
			sr.Checkpoint, sr.Size, sr.Recorded, matched(t, sr.Matches), matched(t, sr.Unproven))
	}
	if sr.UnprovenReason != api.UnprovenNoLogKey || !strings.Contains(sr.UnprovenNote, "missing-log-key") {
		t.Errorf("reason %q, note %q; want %q naming the key", sr.UnprovenReason, sr.UnprovenNote, api.UnprovenNoLogKey)
	}
	if status, body := f.get(t, "admin", "/v1/audit/search", url.Values{"proofs": {"1"}}, nil); status != 503 || !strings.Contains(body, "no_checkpoint") {
		t.Errorf("search?proofs=1 without a checkpoint: %d %s; want 503 no_checkpoint", status, body)
	}
	// Once the key exists, the next entry's checkpoint covers them: until
	// then they are pending.
	if _, err := f.keys.Create(keystore.Spec{Name: "missing-log-key", Type: keystore.Ed25519, Usage: "audit"}); err != nil {
		t.Fatal(err)
	}
	if sr := f.search(t, url.Values{"name": {"a.tar.gz"}}); len(sr.Unproven) != 1 || sr.UnprovenReason != api.UnprovenPending {
		t.Errorf("with the key created: unproven %q, reason %q; want the entry, %q", matched(t, sr.Unproven), sr.UnprovenReason, api.UnprovenPending)
	}
	if status, _, _ := post(t, f, "builder", "/v1/sign", []byte(signBodyFor("b.tar.gz"))); status != 200 {
		t.Fatalf("signing with the log key created: %d", status)
	}
	if sr := f.search(t, url.Values{"name": {"a.tar.gz"}}); len(sr.Matches) != 1 || len(sr.Unproven) != 0 || sr.Checkpoint == "" {
		t.Errorf("after the next entry: proven %q, unproven %q; want the entry proven", matched(t, sr.Matches), matched(t, sr.Unproven))
	}
}
