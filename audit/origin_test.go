package audit

import (
	"context"
	"regexp"
	"sync"
	"testing"
)

// TestDefaultOrigin: a deployment that names no origin gets one of its
// own, kept across restarts and shared by replicas; a log begun under the
// old shared default keeps it.
func TestDefaultOrigin(t *testing.T) {
	ctx := context.Background()
	unique := regexp.MustCompile(`^signet/audit/[0-9a-f]{16}$`)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s, _ := b.open(t)
			o1, err := DefaultOrigin(ctx, s)
			if err != nil || !unique.MatchString(o1) {
				t.Fatalf("DefaultOrigin of a new log = %q, %v", o1, err)
			}
			// Kept: once more, after appending under it, and after a restart.
			k := newLogKey(t)
			l, err := Open(ctx, Options{Store: s, Origin: o1, Key: k.signer})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(ctx, testEntry(0)); err != nil {
				t.Fatal(err)
			}
			l.Close()
			s2 := b.reopen(t, s)
			for _, st := range []Store{s, s2} {
				if o, err := DefaultOrigin(ctx, st); err != nil || o != o1 {
					t.Errorf("DefaultOrigin again = %q, %v; want %q", o, err, o1)
				}
			}
			// Another deployment, another origin.
			other, _ := b.open(t)
			if o2, err := DefaultOrigin(ctx, other); err != nil || o2 == o1 || !unique.MatchString(o2) {
				t.Errorf("DefaultOrigin of another log = %q, %v; the first is %q", o2, err, o1)
			}

			// A log begun under the shared default, before origins were
			// kept, goes on under it.
			legacy, _ := b.open(t)
			l, err = Open(ctx, Options{Store: legacy, Origin: LegacyOrigin, Key: k.signer})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(ctx, testEntry(0)); err != nil {
				t.Fatal(err)
			}
			l.Close()
			for _, st := range []Store{legacy, b.reopen(t, legacy)} {
				if o, err := DefaultOrigin(ctx, st); err != nil || o != LegacyOrigin {
					t.Errorf("DefaultOrigin of a log begun as %q = %q, %v", LegacyOrigin, o, err)
				}
			}
			l, err = Open(ctx, Options{Store: legacy, Origin: LegacyOrigin, Key: k.signer})
			if err != nil {
				t.Fatalf("reopening the legacy log under its origin: %v", err)
			}
			l.Close()

			if b.name == "tiles" {
				return // one process writes a tile log (it holds a flock): there are no replicas
			}
			// Replicas opening one new log together agree.
			fresh, _ := b.open(t)
			stores := []Store{fresh, b.reopen(t, fresh), b.reopen(t, fresh), b.reopen(t, fresh)}
			got := make([]string, len(stores))
			var wg sync.WaitGroup
			for i, st := range stores {
				wg.Go(func() {
					var err error
					if got[i], err = DefaultOrigin(ctx, st); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			for _, o := range got {
				if o != got[0] || !unique.MatchString(o) {
					t.Errorf("replicas chose %q", got)
					break
				}
			}
		})
	}
}
