package keystore

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/pgtest"
)

// propagation bounds how long the test waits for a change to reach a
// replica: the documented WatchInterval plus generous slack for a loaded
// machine. It is a liveness bound, not a performance assertion.
const propagation = 10*WatchInterval + 20*time.Second

// fleetReplica is one replica of a fleet: a Dir on the shared database
// and its Keyring, unlocked, watching.
type fleetReplica struct {
	name string
	dir  *Dir
	keys *Keyring
}

// newFleet migrates the keystore in dir to a fresh database and opens n
// replicas on it, unlocked with pass and watching each other.
func newFleet(t *testing.T, dir string, pass []byte, n int) ([]*fleetReplica, string) {
	t.Helper()
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var dirs []*Dir
	// Stop watching before closing the Dirs, and both before the
	// database stops.
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, d := range dirs {
			d.Close()
		}
	})
	if _, err := MigrateToPostgres(ctx, dir, dsn); err != nil {
		t.Fatal(err)
	}
	var fleet []*fleetReplica
	for i := range n {
		d, err := OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
		r := &fleetReplica{name: fmt.Sprintf("r%d", i+1), dir: d, keys: NewKeyring(d, Timeouts{})}
		if err := r.keys.Unlock("test", pass, nil); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); d.Watch(ctx, r.name, func(err error) { t.Logf("%s: %v", r.name, err) }) }()
		fleet = append(fleet, r)
	}
	// Every replica has recorded itself before the test writes, so that
	// writers wait for all three.
	waitFor(t, "every replica to record itself", func() error {
		reps, err := fleet[0].dir.Replicas(ctx)
		if err == nil && len(reps) != n {
			err = fmt.Errorf("%d of %d replicas recorded", len(reps), n)
		}
		return err
	})
	return fleet, dsn
}

func waitFor(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(propagation)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func signWith(t *testing.T, s crypto.Signer, msg []byte) []byte {
	t.Helper()
	sig, err := s.Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// TestFleetOneKeystore is issue 20's "done means" at the keystore level:
// three replicas on one real PostgreSQL, all unlocked.
func TestFleetOneKeystore(t *testing.T) {
	dir := t.TempDir()
	pass := []byte("fleet passphrase")
	if err := Init(dir, pass); err != nil {
		t.Fatal(err)
	}
	local, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := local.Unlock(pass); err != nil {
		t.Fatal(err)
	}
	old, err := local.Create(Spec{Name: "before", Type: Ed25519})
	if err != nil {
		t.Fatal(err)
	}
	s, err := local.Signer("before")
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("signed before the migration")
	oldSig := signWith(t, s, msg)
	local.Lock()

	fleet, dsn := newFleet(t, dir, pass, 3)
	ctx := context.Background()

	t.Run("created on one signs on all", func(t *testing.T) {
		k, err := fleet[0].keys.Create(Spec{Name: "rel2", Type: Ed25519})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range fleet {
			waitFor(t, r.name+" to sign with rel2", func() error {
				s, err := r.keys.Signer("rel2")
				if err != nil {
					return err
				}
				sig := signWith(t, s, msg)
				if !ed25519.Verify(k.Public.(ed25519.PublicKey), msg, sig) {
					t.Fatalf("%s: signature does not verify with the key made on r1", r.name)
				}
				return nil
			})
		}
	})

	t.Run("revoked on one is refused by all before the revoke returns", func(t *testing.T) {
		held := make([]crypto.Signer, len(fleet))
		for i, r := range fleet {
			if held[i], err = r.keys.Signer("rel2"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := fleet[1].keys.Revoke("rel2", 1, Compromised, nil); err != nil {
			t.Fatal(err)
		}
		behind, err := fleet[1].dir.AwaitFleet(ctx, propagation)
		if err != nil || len(behind) > 0 {
			t.Fatalf("replicas that did not confirm the revocation: %v (%v)", behind, err)
		}
		// No waiting from here on: every replica has it already.
		for i, r := range fleet {
			if _, err := held[i].Sign(rand.Reader, msg, crypto.Hash(0)); !errors.Is(err, ErrRetired) {
				t.Errorf("%s: a signer of revoked version 1 still signs: %v", r.name, err)
			}
			if _, err := r.keys.Signer("rel2"); !errors.Is(err, ErrRetired) {
				t.Errorf("%s: Signer(rel2) after revoking its only version: %v; want ErrRetired", r.name, err)
			}
			k, _ := r.keys.Key("rel2")
			if v, _ := k.VersionOf(1); v.State != Revoked {
				t.Errorf("%s: version 1 is %s; want revoked", r.name, v.State)
			}
		}
	})

	t.Run("concurrent rotations: one winner, no lost version", func(t *testing.T) {
		a, b := fleet[1], fleet[2]
		// Both replicas prepare their rotation from the same record: the
		// barrier holds each in its Record until both are there.
		var barrier sync.WaitGroup
		barrier.Add(2)
		record := func(Key) error { barrier.Done(); barrier.Wait(); return nil }
		type result struct {
			k   Key
			err error
		}
		res := make([]result, 2)
		var wg sync.WaitGroup
		for i, r := range []*fleetReplica{a, b} {
			wg.Go(func() { res[i].k, res[i].err = r.keys.Rotate("before", record) })
		}
		wg.Wait()
		var win Key
		wins := 0
		for i, r := range res {
			switch {
			case r.err == nil:
				wins++
				win = r.k
			case !errors.Is(r.err, ErrStale):
				t.Fatalf("rotation %d: %v; want success or ErrStale", i, r.err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d rotations won; want exactly one (%v, %v)", wins, res[0].err, res[1].err)
		}
		if win.Version != 2 {
			t.Fatalf("the winner made version %d; want 2", win.Version)
		}
		// The loser reloaded: rotating again there now succeeds and
		// keeps the winner's version.
		loser := b
		if res[0].err != nil {
			loser = a
		}
		again, err := loser.keys.Rotate("before", nil)
		if err != nil {
			t.Fatalf("rotating again on the replica that lost: %v", err)
		}
		if again.Version != 3 {
			t.Fatalf("rotating again made version %d; want 3", again.Version)
		}
		v2, _ := again.VersionOf(2)
		w2, _ := win.VersionOf(2)
		if !v2.Public.(ed25519.PublicKey).Equal(w2.Public) {
			t.Fatal("version 2 is not the winner's key pair: a version was lost")
		}
		if _, err := loser.dir.AwaitFleet(ctx, propagation); err != nil {
			t.Fatal(err)
		}
		for _, r := range fleet {
			k, _ := r.keys.Key("before")
			if len(k.Versions) != 3 || k.Version != 3 {
				t.Errorf("%s: key before has %d versions, active %d; want 3, 3", r.name, len(k.Versions), k.Version)
			}
		}
	})

	t.Run("a signature made before still verifies", func(t *testing.T) {
		for _, r := range fleet {
			k, _ := r.keys.Key("before")
			v1, _ := k.VersionOf(1)
			if !ed25519.Verify(v1.Public.(ed25519.PublicKey), msg, oldSig) || !v1.Public.(ed25519.PublicKey).Equal(old.Public) {
				t.Errorf("%s: the signature made before no longer verifies with version 1", r.name)
			}
		}
	})

	t.Run("a reopened replica sees everything", func(t *testing.T) {
		d, err := OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if err := d.Unlock(pass); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"before", "rel2"} {
			got, _ := d.Key(name)
			for _, r := range fleet {
				want, _ := r.keys.Key(name)
				if fmt.Sprint(want.Versions) != fmt.Sprint(got.Versions) {
					t.Errorf("key %s: %s and a reopened replica disagree:\n%v\n%v", name, r.name, want.Versions, got.Versions)
				}
			}
		}
	})
}

// TestFileStoreRefusesStaleWrite: two offline handles on one keystore
// directory; the second's rotation, from a stale copy, is refused rather
// than overwriting the first's.
func TestFileStoreRefusesStaleWrite(t *testing.T) {
	dir := t.TempDir()
	pass := []byte("pass")
	if err := Init(dir, pass); err != nil {
		t.Fatal(err)
	}
	a, _ := Open(dir)
	a.Unlock(pass)
	if _, err := a.Create(Spec{Name: "k", Type: Ed25519}); err != nil {
		t.Fatal(err)
	}
	b, _ := Open(dir)
	b.Unlock(pass)
	if _, err := a.Revoke("k", 1, Compromised); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Rotate("k", time.Time{}); !errors.Is(err, ErrStale) {
		t.Fatalf("rotating from a stale copy: %v; want ErrStale", err)
	}
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := c.Key("k")
	if v, _ := k.VersionOf(1); v.State != Revoked || len(k.Versions) != 1 {
		t.Fatalf("after the refused write: %v; want version 1 revoked, alone", k.Versions)
	}
}

// TestLockServing: a second server on one keystore directory is refused.
func TestLockServing(t *testing.T) {
	dir := t.TempDir()
	release, err := LockServing(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockServing(dir); !errors.Is(err, ErrInUse) {
		t.Fatalf("second LockServing: %v; want ErrInUse", err)
	}
	release()
	r2, err := LockServing(filepath.Clean(dir))
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	r2()
}
