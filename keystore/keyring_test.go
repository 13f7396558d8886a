package keystore

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/signet-dev/signet/custody"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// events collects a Keyring's events.
type events struct {
	mu sync.Mutex
	ev []Event
}

func (e *events) add(ev Event) error { e.mu.Lock(); e.ev = append(e.ev, ev); e.mu.Unlock(); return nil }
func (e *events) take() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.ev
	e.ev = nil
	return out
}

// newKeyring returns a locked keyring over a store holding one Ed25519 key
// "a", with a fake clock.
func newKeyring(t *testing.T, ttl Timeouts) (*Keyring, *clock, *events) {
	t.Helper()
	d, _ := newStore(t)
	if _, err := d.Create(Spec{Name: "a", Type: Ed25519}); err != nil {
		t.Fatal(err)
	}
	d.Lock()
	k := NewKeyring(d, ttl)
	c := &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	k.SetClock(c.now)
	ev := &events{}
	k.Notify(ev.add)
	return k, c, ev
}

func sign(k *Keyring) error {
	s, err := k.Signer("a")
	if err != nil {
		return err
	}
	_, err = s.Sign(nil, []byte("m"), crypto.Hash(0))
	return err
}

// assertWiped checks on the internal state that no key material is held.
func assertWiped(t *testing.T, d *Dir) {
	t.Helper()
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.kek != nil {
		t.Error("locked Dir still holds its KEK")
	}
	for name, s := range d.slots {
		for _, vs := range s.loaded() {
			if vs.priv != nil {
				t.Errorf("locked Dir still holds private key %q (version %d)", name, vs.number)
			}
		}
	}
	for _, tk := range d.tokens {
		if tk.in {
			t.Errorf("locked Dir still logged into token %q", tk.name)
		}
	}
}

func TestLeaseIdleAndMax(t *testing.T) {
	k, c, ev := newKeyring(t, Timeouts{IdleTTL: 10 * time.Minute, MaxTTL: time.Hour})
	if !k.Locked() || !errors.Is(sign(k), ErrLocked) {
		t.Fatal("a new keyring is not locked")
	}
	if err := k.Unlock("alice", []byte("wrong"), nil); !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if err := k.Unlock("alice", pass, nil); err != nil {
		t.Fatal(err)
	}
	st := k.Status()
	if st.Locked || st.Lease.By != "alice" || st.Lease.Method != "passphrase" || !st.Lease.Expires.Equal(c.now().Add(time.Hour)) || !st.Lease.IdleExpires.Equal(c.now().Add(10*time.Minute)) {
		t.Fatalf("status after unlock: %+v", st.Lease)
	}
	// A signer obtained while unlocked; it must stop working at expiry.
	held, err := k.Signer("a")
	if err != nil {
		t.Fatal(err)
	}
	// Use refreshes the idle deadline: 6 × 9 minutes of activity is fine.
	for range 6 {
		c.advance(9 * time.Minute)
		if err := sign(k); err != nil {
			t.Fatalf("at %v: %v", c.now(), err)
		}
	}
	// The hard maximum is not refreshed: at 1h the lease ends though busy.
	c.advance(6*time.Minute - time.Second)
	if err := sign(k); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Second)
	if _, err := held.Sign(nil, []byte("m"), crypto.Hash(0)); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "signet unlock") {
		t.Fatalf("held signer after max TTL: %v", err)
	}
	assertWiped(t, k.dir)
	if e := ev.take(); len(e) != 1 || e[0].Kind != "lock" || !strings.Contains(e[0].Reason, "maximum of 1h0m0s") {
		t.Fatalf("events %+v", e)
	}

	// Idle expiry, detected by Expire without any use.
	if err := k.Unlock("bob", pass, nil); err != nil {
		t.Fatal(err)
	}
	c.advance(10*time.Minute - time.Second)
	k.Expire()
	if k.Locked() {
		t.Fatal("locked before the idle TTL")
	}
	c.advance(time.Second)
	k.Expire()
	if !k.Status().Locked {
		t.Fatal("not locked after the idle TTL")
	}
	assertWiped(t, k.dir)
	if e := ev.take(); len(e) != 1 || !strings.Contains(e[0].Reason, "idle for 10m0s") {
		t.Fatalf("events %+v", e)
	}
	if _, err := k.Create(Spec{Name: "b", Type: Ed25519}); !errors.Is(err, ErrLocked) {
		t.Fatalf("Create while locked: %v", err)
	}
}

func TestLockIsImmediate(t *testing.T) {
	k, _, _ := newKeyring(t, Timeouts{})
	if err := k.Unlock("alice", pass, nil); err != nil {
		t.Fatal(err)
	}
	held, _ := k.Signer("a")
	priv := k.dir.slots["a"].active.priv.(ed25519.PrivateKey)
	if !k.Lock() {
		t.Fatal("Lock reported no lease")
	}
	if k.Lock() {
		t.Fatal("second Lock reported a lease")
	}
	assertWiped(t, k.dir)
	if !allZero(priv) {
		t.Fatal("Lock did not zero the Ed25519 key")
	}
	if _, err := held.Sign(nil, []byte("m"), crypto.Hash(0)); !errors.Is(err, ErrLocked) {
		t.Fatalf("held signer after Lock: %v", err)
	}
	if s := fmt.Sprintf("%v %+v %#v", held, held, held); strings.Count(s, `keystore.Signer("a")`) != 3 {
		t.Fatalf("leased signer prints %s", s)
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// custodians returns n custodians with fresh age identities.
func custodians(t *testing.T, n int) ([]custody.Custodian, []*age.X25519Identity) {
	var cs []custody.Custodian
	var ids []*age.X25519Identity
	for i := range n {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		cs = append(cs, custody.Custodian{Name: fmt.Sprintf("custodian-%d", i+1), Recipient: id.Recipient().String()})
	}
	return cs, ids
}

// decryptAll decrypts every share file with its custodian's identity.
func decryptAll(t *testing.T, files []ShareFile, ids []*age.X25519Identity) []custody.Share {
	t.Helper()
	var out []custody.Share
	for i, f := range files {
		sf, err := custody.ParseShareFile(f.File)
		if err != nil {
			t.Fatal(err)
		}
		sh, err := sf.Decrypt(ids[i])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sh)
	}
	return out
}

// TestCustodyCeremony walks a keystore from passphrase to 3-of-5 custody,
// through unlocks, a refused tampered share, expiring partial progress and
// a rekey to 2-of-3 that voids the old shares.
func TestCustodyCeremony(t *testing.T) {
	k, c, ev := newKeyring(t, Timeouts{PartialWindow: 10 * time.Minute})
	cs, ids := custodians(t, 5)
	if _, _, err := k.InitCustody([]byte("wrong"), 3, cs, nil); !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("init with a wrong passphrase: %v", err)
	}
	set, files, err := k.InitCustody(pass, 3, cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 5 || files[1].Custodian != "custodian-2" || set.Threshold != 3 {
		t.Fatalf("files %+v", files)
	}
	shares := decryptAll(t, files, ids)
	if err := k.Unlock("admin", pass, nil); !errors.Is(err, ErrMode) {
		t.Fatalf("passphrase after custody init: %v", err)
	}
	if _, _, err := k.InitCustody(pass, 2, cs, nil); !errors.Is(err, ErrMode) {
		t.Fatalf("second init: %v", err)
	}

	// Reopened from disk, the keystore is still in custody.
	d2, err := Open(k.dir.path)
	if err != nil {
		t.Fatal(err)
	}
	if d2.Mode() != ModeCustody || d2.Custody().ID != set.ID {
		t.Fatalf("reopened: mode %s", d2.Mode())
	}

	// Two shares are not enough; a tampered share is refused and named.
	for i, by := range []string{"p1", "p2"} {
		a, err := k.SubmitShare(by, shares[i], nil)
		if err != nil || a.Done || a.Received != i+1 || a.Custodian != cs[i].Name {
			t.Fatalf("share %d: %+v, %v", i+1, a, err)
		}
	}
	if !k.Locked() || !errors.Is(sign(k), ErrLocked) {
		t.Fatal("unlocked with two of three shares")
	}
	assertWiped(t, k.dir)
	bad := shares[2]
	bad.Value = append([]byte(nil), bad.Value...)
	bad.Value[0] ^= 1
	if _, err := k.SubmitShare("mallory", bad, nil); !errors.Is(err, custody.ErrBadShare) || !strings.Contains(err.Error(), `"mallory"`) || !strings.Contains(err.Error(), `"custodian-3"`) {
		t.Fatalf("tampered share: %v", err)
	}
	st := k.Status()
	if st.Unlock == nil || len(st.Unlock.Received) != 2 || st.Unlock.Received[1].By != "p2" || st.Set.Threshold != 3 {
		t.Fatalf("progress after a refused share: %+v", st.Unlock)
	}
	// The window passes: progress is discarded, and that is an event.
	c.advance(10 * time.Minute)
	if st := k.Status(); st.Unlock != nil {
		t.Fatalf("progress survived its window: %+v", st.Unlock)
	}
	if e := ev.take(); len(e) != 1 || e[0].Kind != "custody" || len(e[0].Lost) != 2 {
		t.Fatalf("events %+v", e)
	}
	// A full quorum unlocks.
	for i, by := range []string{"p3", "p4", "p5"} {
		a, err := k.SubmitShare(by, shares[i+2], nil)
		if err != nil || a.Done != (i == 2) {
			t.Fatalf("share %d: %+v, %v", i+3, a, err)
		}
	}
	if err := sign(k); err != nil {
		t.Fatal(err)
	}
	st = k.Status()
	if st.Lease.Method != "shares" || st.Lease.By != "p5" || len(st.Lease.Custodians) != 3 || st.Lease.Custodians[0].Custodian != "custodian-3" {
		t.Fatalf("lease %+v", st.Lease)
	}
	k.Lock()

	// Rekey to 2 of 3 new custodians, approved by three old ones.
	ncs, nids := custodians(t, 3)
	p, err := k.ProposeRekey("admin", 2, ncs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.ProposeRekey("admin", 2, ncs, nil); err == nil {
		t.Fatal("a second proposal was accepted while one is pending")
	}
	var newFiles []ShareFile
	for i, by := range []string{"p1", "p2", "p4"} {
		idx := []int{0, 1, 3}[i]
		a, nset, f, err := k.ApproveRekey(by, p.ID, shares[idx])
		if err != nil || a.Done != (i == 2) || (nset != nil) != (i == 2) {
			t.Fatalf("approval %d: %+v, %v", i+1, a, err)
		}
		newFiles = f
	}
	if len(newFiles) != 3 || k.dir.Custody().Threshold != 2 {
		t.Fatalf("after rekey: %d files", len(newFiles))
	}
	if _, err := k.SubmitShare("p1", shares[0], nil); !errors.Is(err, custody.ErrWrongSet) {
		t.Fatalf("old share after rekey: %v", err)
	}
	// The old secret cannot unwrap the new header either.
	secret, _ := set.Combine(shares[:3])
	if err := k.dir.unlockSecret(secret); err == nil {
		t.Fatal("the old secret unlocked the rekeyed keystore")
	}
	nshares := decryptAll(t, newFiles, nids)
	for i, by := range []string{"q1", "q2"} {
		if _, err := k.SubmitShare(by, nshares[i+1], nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := sign(k); err != nil {
		t.Fatalf("after unlocking with new shares: %v", err)
	}
}

func TestRekeyProposalExpires(t *testing.T) {
	k, c, ev := newKeyring(t, Timeouts{PartialWindow: time.Minute})
	cs, ids := custodians(t, 2)
	_, files, err := k.InitCustody(pass, 2, cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	shares := decryptAll(t, files, ids)
	p, err := k.ProposeRekey("admin", 1, cs[:1], nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := k.ApproveRekey("p1", p.ID, shares[0]); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Minute)
	if _, _, _, err := k.ApproveRekey("p2", p.ID, shares[1]); err == nil || !strings.Contains(err.Error(), "no pending rekey") {
		t.Fatalf("approval after expiry: %v", err)
	}
	if e := ev.take(); len(e) != 1 || !strings.Contains(e[0].Reason, "expired") {
		t.Fatalf("events %+v", e)
	}
	if k.dir.Custody().Threshold != 2 {
		t.Fatal("an expired proposal took effect")
	}
	// Reset discards progress on demand.
	if _, err := k.SubmitShare("p1", shares[0], nil); err != nil {
		t.Fatal(err)
	}
	if lost, _ := k.ResetProgress(nil); len(lost) != 1 || lost[0].By != "p1" {
		t.Fatalf("reset: %+v", lost)
	}
	if _, err := k.SubmitShare("p1", shares[0], nil); err != nil {
		t.Fatalf("resubmitting after a reset: %v", err)
	}
}

// TestLockWinsRace checks that a Lock between the start and the end of an
// unlock undoes the unlock: the panic button is never lost.
func TestLockWinsRace(t *testing.T) {
	k, _, _ := newKeyring(t, Timeouts{})
	k.mu.Lock()
	locks := k.locks
	k.mu.Unlock()
	if err := k.dir.Unlock(pass); err != nil {
		t.Fatal(err)
	}
	k.Lock() // arrives while the unlock is in progress
	k.mu.Lock()
	err := k.open("alice", "passphrase", nil, locks)
	k.mu.Unlock()
	if !errors.Is(err, ErrLocked) || !k.Locked() {
		t.Fatalf("open after a racing Lock: %v, locked %v", err, k.Locked())
	}
	assertWiped(t, k.dir)
}

// TestActsRecordedFirst gives the keyring's acts records that fail: each
// act is abandoned and changes nothing — no key file, no new version, no
// revocation, no lease, no share kept, no custody header, no proposal, no
// reset — and a scheduled rotation whose report fails is not made, so the
// version whose window ended stops signing.
func TestActsRecordedFirst(t *testing.T) {
	down := errors.New("the audit log is down")
	k, c, _ := newKeyring(t, Timeouts{})
	fail := func() error { return down }
	if err := k.Unlock("alice", pass, fail); !errors.Is(err, down) || !k.Locked() || !k.dir.Locked() {
		t.Fatalf("unlock with its record failing: %v, locked %v, keys in memory %v", err, k.Locked(), !k.dir.Locked())
	}
	if err := k.Unlock("alice", pass, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Create(Spec{Name: "b", Type: Ed25519, Record: func(Key) error { return down }}); !errors.Is(err, down) {
		t.Fatalf("create with its record failing: %v", err)
	}
	if _, err := k.Key("b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("key created although its record failed: %v", err)
	}
	if _, err := os.Stat(k.dir.keyPath("b")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("key file written although its record failed: %v", err)
	}
	var recorded Key
	if _, err := k.Rotate("a", func(key Key) error { recorded = key; return down }); !errors.Is(err, down) {
		t.Fatalf("rotate with its record failing: %v", err)
	}
	if key, _ := k.Key("a"); key.Version != 1 || len(key.Versions) != 1 || recorded.Version != 2 {
		t.Fatalf("rotation: key at version %d of %d, record saw version %d; want 1 of 1, and 2", key.Version, len(key.Versions), recorded.Version)
	}
	if _, err := k.Revoke("a", 1, Compromised, func(Key) error { return down }); !errors.Is(err, down) {
		t.Fatalf("revoke with its record failing: %v", err)
	}
	if key, _ := k.Key("a"); key.Versions[0].State != Active {
		t.Fatalf("revoked although its record failed: %s", key.Versions[0].State)
	}
	if err := sign(k); err != nil {
		t.Fatalf("signing after the abandoned acts: %v", err)
	}

	// A scheduled rotation whose report fails is not made.
	k.SetRotation(func(string) time.Duration { return time.Hour })
	if _, err := k.Create(Spec{Name: "r", Type: Ed25519}); err != nil {
		t.Fatal(err)
	}
	c.advance(2 * time.Hour)
	k.Notify(func(e Event) error {
		if e.Kind == "rotate" {
			return down
		}
		return nil
	})
	if s, err := k.Signer("r"); err == nil {
		if _, err := s.Sign(nil, []byte("m"), crypto.Hash(0)); err == nil {
			t.Error("the version whose window ended signed while its successor could not be recorded")
		}
	}
	if key, _ := k.Key("r"); key.Version != 1 || len(key.Versions) != 1 {
		t.Fatalf("scheduled rotation made although its report failed: version %d of %d", key.Version, len(key.Versions))
	}
	var reported []Event
	k.Notify(func(e Event) error { reported = append(reported, e); return nil })
	if _, err := k.Signer("r"); !errors.Is(err, ErrRetired) {
		t.Fatalf("the expired version while its successor waits to be tried again: %v, want ErrRetired", err)
	}
	if key, _ := k.Key("r"); key.Version != 1 || len(reported) != 0 {
		t.Fatalf("a scheduled rotation whose record just failed was tried again at once: version %d, events %+v", key.Version, reported)
	}
	c.advance(time.Minute) // past the wait after a failed record
	s, err := k.Signer("r")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sign(nil, []byte("m"), crypto.Hash(0)); err != nil {
		t.Fatalf("signing once the log is back: %v", err)
	}
	if key, _ := k.Key("r"); key.Version != 2 || len(reported) != 1 || reported[0].Key.Version != 2 {
		t.Fatalf("after the log is back: version %d, events %+v", key.Version, reported)
	}
}

// TestCustodyActsRecordedFirst does the same for custody: init, a share,
// a rekey proposal and a reset whose records fail change nothing.
func TestCustodyActsRecordedFirst(t *testing.T) {
	down := errors.New("the audit log is down")
	k, _, _ := newKeyring(t, Timeouts{})
	cs, ids := custodians(t, 3)
	if _, _, err := k.InitCustody(pass, 2, cs, func(*custody.Set) error { return down }); !errors.Is(err, down) || k.dir.Custody() != nil {
		t.Fatalf("custody init with its record failing: %v, in custody %v", err, k.dir.Custody() != nil)
	}
	if err := k.Unlock("alice", pass, nil); err != nil {
		t.Fatalf("the passphrase no longer unlocks after an abandoned custody init: %v", err)
	}
	_, files, err := k.InitCustody(pass, 2, cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	k.Lock()
	shares := decryptAll(t, files, ids)
	if _, err := k.SubmitShare("c1", shares[0], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := k.SubmitShare("c2", shares[1], func(Accepted) error { return down }); !errors.Is(err, down) || !k.Locked() {
		t.Fatalf("completing share with its record failing: %v, locked %v", err, k.Locked())
	}
	if _, err := k.ProposeRekey("admin", 2, cs, func(Proposal) error { return down }); !errors.Is(err, down) {
		t.Fatalf("rekey proposal with its record failing: %v", err)
	}
	if _, err := k.ResetProgress(func([]custody.Received) error { return down }); !errors.Is(err, down) {
		t.Fatalf("reset with its record failing: %v", err)
	}
	if st := k.Status(); st.Rekey != nil || st.Unlock == nil || len(st.Unlock.Received) != 1 {
		t.Fatalf("after the abandoned acts: rekey %+v, unlock progress %+v; want none, and c1's share", st.Rekey, st.Unlock)
	}
	if a, err := k.SubmitShare("c2", shares[1], nil); err != nil || !a.Done || k.Locked() {
		t.Fatalf("completing share once the log is back: %+v %v", a, err)
	}
}
