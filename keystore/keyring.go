package keystore

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/signet-dev/signet/custody"
)

// Timeouts bound how long keys stay usable after humans unlock them.
type Timeouts struct {
	// IdleTTL locks the keystore when no key has been used for this long.
	// Every signature (and key creation) refreshes it. 0: no idle limit.
	IdleTTL time.Duration
	// MaxTTL locks the keystore this long after it was unlocked, however
	// busy it is, so that humans must renew the lease. 0: no limit.
	MaxTTL time.Duration
	// PartialWindow is how long submitted shares wait for the rest of a
	// quorum before they are discarded. 0: DefaultPartialWindow.
	PartialWindow time.Duration
}

// DefaultPartialWindow is the default of Timeouts.PartialWindow.
const DefaultPartialWindow = 15 * time.Minute

// A Keyring is a Dir under human custody. It starts locked; Unlock (a
// passphrase) or a quorum of custodians' shares opens a Lease, and when the
// lease ends — idle for IdleTTL, MaxTTL after it opened, or Lock, the panic
// button — every private key is wiped and every token logged out, until
// humans unlock again.
//
// Expiry is checked on every use and by Expire, which a server calls
// periodically so that keys are wiped even when nobody signs. The clock is
// injectable (Now) for tests. A Keyring is safe for concurrent use.
type Keyring struct {
	dir *Dir
	ttl Timeouts
	now func() time.Time

	mu     sync.Mutex
	lease  *Lease
	unlock *custody.Collector // shares toward an unlock, in custody mode
	rekey  *Proposal          // the pending rekey, if any
	notify func(Event) error
	locks  int // Lock calls so far: an unlock that raced one is undone

	every      func(name string) time.Duration // rotation policy; nil: manual only
	lifecycle  sync.Mutex                      // serializes rotations and revocations, from record to commit
	unrecorded map[string]time.Time            // scheduled rotations not made because their record failed, by key: when to try again
	ceremony   sync.Mutex                      // serializes share submissions, rekeys and resets, from record to effect
}

// Lease is an open unlock.
type Lease struct {
	By         string             `json:"by"`     // the principal whose request completed the unlock
	Method     string             `json:"method"` // "passphrase" or "shares"
	Custodians []custody.Received `json:"custodians,omitempty"`
	Since      time.Time          `json:"since"`
	LastUse    time.Time          `json:"last_use"`
	// IdleExpires and Expires are when the lease ends if unused, and at
	// the latest; zero if unlimited.
	IdleExpires time.Time `json:"idle_expires,omitzero"`
	Expires     time.Time `json:"expires,omitzero"`
}

// Proposal is a rekey waiting for a quorum of current custodians.
type Proposal struct {
	ID         string              `json:"id"`
	By         string              `json:"by"`
	At         time.Time           `json:"at"`
	Threshold  int                 `json:"threshold"`
	Custodians []custody.Custodian `json:"custodians"`
	Progress   custody.Progress    `json:"progress"`

	shares *custody.Collector
}

// Event is something that happened without a request: a lease or partial
// progress expiring. A server records it in its audit log.
type Event struct {
	Time   time.Time
	Kind   string // "lock" (lease ended), "custody" (progress discarded) or "rotate" (scheduled rotation)
	Reason string
	Lost   []custody.Received // the shares discarded, for "custody"
	// Key is the key rotated, for "rotate"; if the rotation failed, Err
	// says why and Key holds only the key's name.
	Key *Key
	Err error
}

// Status is the state of a Keyring, for 'signet status'.
type Status struct {
	Locked bool              `json:"locked"`
	Mode   string            `json:"mode"` // ModePassphrase or ModeCustody
	Lease  *Lease            `json:"lease,omitempty"`
	Set    *SetStatus        `json:"custody,omitempty"`
	Unlock *custody.Progress `json:"unlock_progress,omitempty"`
	Rekey  *Proposal         `json:"rekey,omitempty"`
	Tokens []TokenStatus     `json:"tokens,omitempty"`
	Keys   []KeyStatus       `json:"keys"`
	// IdleTTL and MaxTTL are the configured limits; 0 is unlimited.
	IdleTTL time.Duration `json:"idle_ttl"`
	MaxTTL  time.Duration `json:"max_ttl"`
}

// SetStatus describes the current share set.
type SetStatus struct {
	ID         string   `json:"id"`
	Threshold  int      `json:"threshold"`
	Custodians []string `json:"custodians"` // share i+1 is Custodians[i]
	Created    string   `json:"created"`
}

// KeyStatus is one key in a Status.
type KeyStatus struct {
	Name    string `json:"name"`
	Type    Type   `json:"type"`
	Backend string `json:"backend"` // "file" or the token's name
}

// NewKeyring puts d, which must be locked, under custody with ttl.
func NewKeyring(d *Dir, ttl Timeouts) *Keyring {
	if ttl.PartialWindow <= 0 {
		ttl.PartialWindow = DefaultPartialWindow
	}
	return &Keyring{dir: d, ttl: ttl, now: time.Now}
}

// SetClock replaces the clock, for tests: of leases, and of the
// keystore's versions and windows.
func (k *Keyring) SetClock(now func() time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.now = now
	k.dir.SetClock(now)
}

// SetRotation sets the rotation policy: every(name) is how long a version
// of key name signs before a new one replaces it, or 0 for keys rotated
// only by hand. A key's first version gets such a window when it is
// created; when the active version's window ends, the next Signer for the
// key (or Expire, which a server calls every second) makes a new version
// first, and reports it as an Event of kind "rotate".
func (k *Keyring) SetRotation(every func(name string) time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.every = every
}

func (k *Keyring) rotateEvery(name string) time.Duration {
	k.mu.Lock()
	f := k.every
	k.mu.Unlock()
	if f == nil {
		return 0
	}
	return f(name)
}

func (k *Keyring) clock() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.now()
}

// Notify sets the function called, without locks held, for each Event.
// A scheduled rotation is reported before it takes effect and abandoned
// if f returns an error (record first, act second; see [Record]); the
// other events (a lease or partial progress expiring) have happened
// already, and f must keep their record until it can be written.
func (k *Keyring) Notify(f func(Event) error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.notify = f
}

// Dir returns the keystore under custody.
func (k *Keyring) Dir() *Dir { return k.dir }

// List returns every key; it works while locked.
func (k *Keyring) List() ([]Key, error) { return k.dir.List() }

// Key describes one key; it works while locked.
func (k *Keyring) Key(name string) (Key, error) { return k.dir.Key(name) }

// Locked reports whether no lease is open.
func (k *Keyring) Locked() bool {
	k.mu.Lock()
	events := k.expire()
	locked := k.lease == nil
	k.mu.Unlock()
	k.emit(events)
	return locked
}

// use checks the lease and refreshes its idle deadline.
func (k *Keyring) use() error { return k.check(true) }

// check checks the lease, refreshing its idle deadline if refresh.
func (k *Keyring) check(refresh bool) error {
	k.mu.Lock()
	events := k.expire()
	l := k.lease
	if l != nil && refresh {
		l.LastUse = k.now()
		l.IdleExpires = k.idleDeadline(l)
	}
	k.mu.Unlock()
	k.emit(events)
	if l == nil {
		return fmt.Errorf("%w: ask a custodian to run 'signet unlock'", ErrLocked)
	}
	return nil
}

// Signer returns a signer for the key named name. Each signature refreshes
// the lease; after the lease ends the signer fails with ErrLocked.
func (k *Keyring) Signer(name string) (crypto.Signer, error) {
	if err := k.use(); err != nil {
		return nil, fmt.Errorf("key %q: %w", name, err)
	}
	if ev, ok := k.rotateIfDue(name); ok {
		k.emit([]Event{ev})
	}
	s, err := k.dir.Signer(name)
	if err != nil {
		return nil, err
	}
	return &leasedSigner{k: k, s: s, refresh: true}, nil
}

// BackgroundSigner returns a signer for the server's own work, such as
// signing audit checkpoints. Like Signer it works only during a lease but,
// unlike Signer, it never refreshes the lease: background activity (which
// anyone can cause, by sending refused requests) must not keep keys
// unlocked.
func (k *Keyring) BackgroundSigner(name string) (crypto.Signer, error) {
	if err := k.check(false); err != nil {
		return nil, fmt.Errorf("key %q: %w", name, err)
	}
	s, err := k.dir.Signer(name)
	if err != nil {
		return nil, err
	}
	return &leasedSigner{k: k, s: s}, nil
}

type leasedSigner struct {
	k       *Keyring
	s       crypto.Signer
	refresh bool // signing counts as use of the lease
}

func (l *leasedSigner) Public() crypto.PublicKey { return l.s.Public() }

func (l *leasedSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := l.k.check(l.refresh); err != nil {
		return nil, err
	}
	return l.s.Sign(rand, digest, opts)
}

// Format prints what the underlying signer prints: only the key name.
func (l *leasedSigner) Format(f fmt.State, verb rune) {
	if ff, ok := l.s.(fmt.Formatter); ok {
		ff.Format(f, verb)
		return
	}
	io.WriteString(f, "keystore.Signer")
}

// Create generates a key; it needs an open lease, which it refreshes. A
// key with a rotation policy gets its first window from it. spec.Record
// records the key before it is stored.
func (k *Keyring) Create(spec Spec) (Key, error) {
	if err := k.use(); err != nil {
		return Key{}, fmt.Errorf("create key %q: %w", spec.Name, err)
	}
	if spec.Window == 0 {
		spec.Window = k.rotateEvery(spec.Name)
	}
	key, err := k.dir.Create(spec)
	return key, k.reloadIfStale(err)
}

// AwaitFleet waits for the other replicas of a fleet to load this
// replica's last change; see Dir.AwaitFleet.
func (k *Keyring) AwaitFleet(ctx context.Context, wait time.Duration) ([]Replica, error) {
	return k.dir.AwaitFleet(ctx, wait)
}

// reloadIfStale reloads the records another replica changed when err
// says a write was refused because of them, so that the next attempt
// starts from them. It returns err.
func (k *Keyring) reloadIfStale(err error) error {
	if errors.Is(err, ErrStale) || errors.Is(err, ErrExists) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if rerr := k.dir.Refresh(ctx); rerr != nil {
			return fmt.Errorf("%w (and reloading failed: %v)", err, rerr)
		}
	}
	return err
}

// Rotate makes a new version of key name now, retiring the active one.
// The new window lasts the key's rotation period, or until the next
// rotation if it has none. It needs an open lease, which it refreshes.
// record records the key as it will be, before the new version is stored
// or signs.
func (k *Keyring) Rotate(name string, record Record[Key]) (Key, error) {
	if err := k.use(); err != nil {
		return Key{}, fmt.Errorf("rotate key %q: %w", name, err)
	}
	k.lifecycle.Lock()
	defer k.lifecycle.Unlock()
	key, err := k.dir.rotate(name, k.windowEnd(name), record)
	return key, k.reloadIfStale(err)
}

// windowEnd is when a version of key name made now stops signing.
func (k *Keyring) windowEnd(name string) time.Time {
	if every := k.rotateEvery(name); every > 0 {
		return k.clock().Add(every).UTC().Truncate(time.Second)
	}
	return time.Time{}
}

// Revoke revokes version n of key name; see Dir.Revoke. It needs an open
// lease, which it refreshes. record records the key as it will be,
// before the revocation is stored.
func (k *Keyring) Revoke(name string, n int, reason Reason, record Record[Key]) (Key, error) {
	if err := k.use(); err != nil {
		return Key{}, fmt.Errorf("revoke key %q: %w", name, err)
	}
	k.lifecycle.Lock()
	defer k.lifecycle.Unlock()
	key, err := k.dir.revoke(name, n, reason, record)
	return key, k.reloadIfStale(err)
}

// PrimarySigner returns the certifying signer of an OpenPGP key's primary
// key; see Dir.PrimarySigner. Each certification refreshes the lease.
func (k *Keyring) PrimarySigner(name string) (crypto.Signer, error) {
	if err := k.use(); err != nil {
		return nil, fmt.Errorf("key %q: %w", name, err)
	}
	s, err := k.dir.PrimarySigner(name)
	if err != nil {
		return nil, err
	}
	return &leasedSigner{k: k, s: s, refresh: true}, nil
}

// BackgroundPrimarySigner is PrimarySigner for the server's own work
// (re-signing a public certificate that someone reads): it works only
// during a lease but never refreshes it, so that reads cannot keep keys
// unlocked.
func (k *Keyring) BackgroundPrimarySigner(name string) (crypto.Signer, error) {
	if err := k.check(false); err != nil {
		return nil, fmt.Errorf("key %q: %w", name, err)
	}
	s, err := k.dir.PrimarySigner(name)
	if err != nil {
		return nil, err
	}
	return &leasedSigner{k: k, s: s}, nil
}

// unrecordedRetry is how long a scheduled rotation whose record failed
// waits before it is tried again.
const unrecordedRetry = 10 * time.Second

// rotateIfDue rotates key name if its policy says the active version's
// window has ended, and returns the event to report if it failed. A
// rotation made is reported (Notify) before it takes effect, and not made
// if that report fails: the expired version then stops signing until the
// audit log is back.
func (k *Keyring) rotateIfDue(name string) (Event, bool) {
	every := k.rotateEvery(name)
	if every <= 0 {
		return Event{}, false
	}
	due := func() (Version, bool) {
		key, err := k.dir.Key(name)
		if err != nil {
			return Version{}, false
		}
		v, ok := key.VersionOf(key.Version)
		if !ok {
			return Version{}, false // none active: revoked, so a human decides
		}
		end := v.NotAfter
		if end.IsZero() {
			end = v.NotBefore.Add(every) // made before the policy
		}
		return v, !k.clock().Before(end)
	}
	if _, ok := due(); !ok {
		return Event{}, false
	}
	k.lifecycle.Lock()
	defer k.lifecycle.Unlock()
	old, ok := due() // another caller may have rotated meanwhile
	if !ok {
		return Event{}, false
	}
	now := k.clock()
	if now.Before(k.unrecorded[name]) {
		return Event{}, false // its record failed a moment ago: do not make key pairs in vain
	}
	reason := fmt.Sprintf("scheduled rotation of key %q: the window of version %d ended (rotate every %v)", name, old.Number, every)
	recorded := false
	_, err := k.dir.rotate(name, now.Add(every).UTC().Truncate(time.Second), func(key Key) error {
		k.mu.Lock()
		f := k.notify
		k.mu.Unlock()
		if f == nil {
			return nil
		}
		recorded = true
		return f(Event{Time: now, Kind: "rotate", Reason: reason, Key: &key})
	})
	if err == nil {
		delete(k.unrecorded, name)
		return Event{}, false // reported before it took effect
	}
	if recorded {
		// Its record failed: the rotation was not made, and the
		// failure to record it is the notifier's to report. Try again
		// in a while, not at every signature or every second.
		if k.unrecorded == nil {
			k.unrecorded = map[string]time.Time{}
		}
		k.unrecorded[name] = now.Add(unrecordedRetry)
		return Event{}, false
	}
	return Event{Time: now, Kind: "rotate", Err: err, Key: &Key{Name: name}, // only its name: nothing changed
		Reason: reason + ": failed: " + err.Error()}, true
}

// Unlock opens a lease with the passphrase of a keystore not in custody.
// Once the passphrase is found right, record records the unlock before
// the lease opens: if it fails, the keys are wiped again and nothing can
// have signed.
func (k *Keyring) Unlock(by string, passphrase []byte, record func() error) error {
	k.mu.Lock()
	locks := k.locks
	k.mu.Unlock()
	if err := k.dir.Unlock(passphrase); err != nil {
		return err
	}
	if record != nil {
		if err := record(); err != nil {
			k.abandonUnlock()
			return err
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.open(by, "passphrase", nil, locks)
}

// abandonUnlock wipes the keys an unlock decrypted, unless a lease is
// open (an unlock while unlocked changes nothing).
func (k *Keyring) abandonUnlock() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.lease == nil {
		k.dir.Lock()
	}
}

// errLockedMeanwhile is returned when Lock won a race with an unlock.
var errLockedMeanwhile = fmt.Errorf("%w: 'signet lock' was run while unlocking; unlock again if that was not meant", ErrLocked)

// open starts a lease, unless one is open, or undoes the unlock if Lock
// was called since the unlock began (when k.locks was locks): the panic
// button wins every race. k.mu is held.
func (k *Keyring) open(by, method string, custodians []custody.Received, locks int) error {
	if k.locks != locks {
		if k.lease == nil {
			k.dir.Lock()
		}
		return errLockedMeanwhile
	}
	if k.lease != nil {
		return nil // an unlock while unlocked leaves the lease as it was
	}
	now := k.now()
	l := &Lease{By: by, Method: method, Custodians: custodians, Since: now, LastUse: now}
	l.IdleExpires = k.idleDeadline(l)
	if k.ttl.MaxTTL > 0 {
		l.Expires = now.Add(k.ttl.MaxTTL)
	}
	k.lease = l
	return nil
}

func (k *Keyring) idleDeadline(l *Lease) time.Time {
	if k.ttl.IdleTTL <= 0 {
		return time.Time{}
	}
	d := l.LastUse.Add(k.ttl.IdleTTL)
	if !l.Expires.IsZero() && l.Expires.Before(d) {
		return l.Expires
	}
	return d
}

// Accepted says what became of one submitted share.
type Accepted struct {
	Index     int    `json:"index"`
	Custodian string `json:"custodian"`
	Received  int    `json:"received"` // shares received so far in this ceremony, this one included
	Threshold int    `json:"threshold"`
	Done      bool   `json:"done"` // the quorum was reached and the ceremony completed
}

// SubmitShare adds one custodian's share, submitted by principal by,
// toward unlocking. The share is verified on entry: a wrong or forged
// share is refused with an error naming its index, custodian and by, and
// the shares received so far are kept. When the threshold is reached the
// keystore unlocks and a lease opens. record records the share (and
// whether it completes the unlock) once it is verified, before it is kept.
func (k *Keyring) SubmitShare(by string, sh custody.Share, record Record[Accepted]) (Accepted, error) {
	set := k.dir.Custody()
	if set == nil {
		return Accepted{}, fmt.Errorf("%w: this keystore is unlocked with its passphrase, not with shares ('signet unlock --passphrase-file')", ErrMode)
	}
	k.ceremony.Lock()
	defer k.ceremony.Unlock()
	k.mu.Lock()
	locks := k.locks
	events := k.expire()
	if k.unlock == nil || k.unlock.Set() != set {
		k.unlock = custody.NewCollector(set, k.ttl.PartialWindow)
	}
	if k.lease != nil {
		k.mu.Unlock()
		k.emit(events)
		return Accepted{}, fmt.Errorf("the keystore is already unlocked (by %q); no share is needed", k.leaseBy())
	}
	c := k.unlock
	err := c.Check(by, sh)
	received := len(c.Progress().Received) + 1
	k.mu.Unlock()
	k.emit(events)
	if err != nil {
		return Accepted{}, err
	}
	if err := record.call(Accepted{Index: sh.Index, Custodian: set.Custodian(sh.Index), Received: received, Threshold: set.Threshold, Done: received >= set.Threshold}); err != nil {
		return Accepted{}, err
	}
	k.mu.Lock()
	if k.unlock != c || k.locks != locks {
		k.mu.Unlock()
		return Accepted{}, errLockedMeanwhile // reset by a Lock while recording
	}
	secret, a, err := add(c, k.now(), by, sh)
	k.mu.Unlock()
	if err != nil {
		return Accepted{}, err
	}
	if secret == nil {
		return a.Accepted, nil
	}
	defer clear(secret)
	if err := k.dir.unlockSecret(secret); err != nil {
		return Accepted{}, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return a.Accepted, k.open(by, "shares", a.received, locks)
}

func (k *Keyring) leaseBy() string {
	if k.lease == nil {
		return ""
	}
	return k.lease.By
}

type acceptedWith struct {
	Accepted
	received []custody.Received // every share of the ceremony so far
}

// add adds sh to c and describes the outcome. A collector resets itself
// when it completes, so the shares received are taken before.
func add(c *custody.Collector, now time.Time, by string, sh custody.Share) ([]byte, acceptedWith, error) {
	c.Expire(now) // its event, if any, was reported by Keyring.expire
	before := c.Progress().Received
	secret, err := c.Add(now, by, sh)
	if err != nil {
		return nil, acceptedWith{}, err
	}
	set := c.Set()
	a := acceptedWith{
		Accepted: Accepted{Index: sh.Index, Custodian: set.Custodian(sh.Index), Received: len(before) + 1, Threshold: set.Threshold, Done: secret != nil},
		received: append(before, custody.Received{Index: sh.Index, Custodian: set.Custodian(sh.Index), By: by, At: now.UTC()}),
	}
	return secret, a, nil
}

// Lock ends the lease now (the panic button), wipes the keys, logs out of
// every token and discards every share received. It reports whether a
// lease was open.
func (k *Keyring) Lock() bool {
	k.mu.Lock()
	was := k.lease != nil
	k.locks++
	k.lockLocked()
	if k.unlock != nil {
		k.unlock.Reset()
	}
	if k.rekey != nil {
		k.rekey.shares.Reset()
		k.rekey = nil
	}
	k.mu.Unlock()
	return was
}

// lockLocked ends the lease. k.mu is held.
func (k *Keyring) lockLocked() {
	k.dir.Lock()
	k.lease = nil
}

// Expire ends the lease and discards partial progress whose time is up,
// and, while unlocked, makes the scheduled rotations that are due. A
// server calls it every second or so.
func (k *Keyring) Expire() {
	k.mu.Lock()
	events := k.expire()
	open := k.lease != nil && k.every != nil
	k.mu.Unlock()
	k.emit(events)
	if !open {
		return
	}
	keys, _ := k.dir.List()
	for _, key := range keys {
		// Rotating is not using the lease: it must not keep keys
		// unlocked, so it is checked without refreshing it.
		if k.check(false) != nil {
			return
		}
		if ev, ok := k.rotateIfDue(key.Name); ok {
			k.emit([]Event{ev})
		}
	}
}

// expire does what Expire says and returns the events. k.mu is held.
func (k *Keyring) expire() []Event {
	now := k.now()
	var events []Event
	if l := k.lease; l != nil {
		reason := ""
		switch {
		case !l.Expires.IsZero() && !now.Before(l.Expires):
			reason = fmt.Sprintf("lease reached its maximum of %v (unlocked by %q at %s)", k.ttl.MaxTTL, l.By, l.Since.UTC().Format(time.RFC3339))
		case !l.IdleExpires.IsZero() && !now.Before(l.IdleExpires):
			reason = fmt.Sprintf("lease idle for %v (last use %s)", k.ttl.IdleTTL, l.LastUse.UTC().Format(time.RFC3339))
		}
		if reason != "" {
			k.lockLocked()
			events = append(events, Event{Time: now, Kind: "lock", Reason: reason})
		}
	}
	if k.unlock != nil {
		if lost := k.unlock.Expire(now); lost != nil {
			events = append(events, Event{Time: now, Kind: "custody", Lost: lost,
				Reason: fmt.Sprintf("partial unlock discarded: %d of %d shares did not reach the quorum within %v", len(lost), k.unlock.Set().Threshold, k.ttl.PartialWindow)})
		}
	}
	if p := k.rekey; p != nil {
		if lost := p.shares.Expire(now); lost != nil || now.Sub(p.At) >= k.ttl.PartialWindow {
			k.rekey = nil
			events = append(events, Event{Time: now, Kind: "custody", Lost: lost,
				Reason: fmt.Sprintf("rekey proposal %s by %q expired: it was not approved by a quorum within %v", p.ID, p.By, k.ttl.PartialWindow)})
		}
	}
	return events
}

func (k *Keyring) emit(events []Event) {
	if len(events) == 0 {
		return
	}
	k.mu.Lock()
	f := k.notify
	k.mu.Unlock()
	if f == nil {
		return
	}
	for _, e := range events {
		f(e)
	}
}

// ResetProgress discards the shares received toward an unlock and the
// pending rekey proposal, and returns what was discarded. record records
// what it will discard first; if it fails, nothing is discarded.
func (k *Keyring) ResetProgress(record Record[[]custody.Received]) ([]custody.Received, error) {
	k.ceremony.Lock()
	defer k.ceremony.Unlock()
	k.mu.Lock()
	var lost []custody.Received
	if k.unlock != nil {
		lost = append(lost, k.unlock.Progress().Received...)
	}
	if k.rekey != nil {
		lost = append(lost, k.rekey.shares.Progress().Received...)
	}
	k.mu.Unlock()
	if err := record.call(slices.Clone(lost)); err != nil {
		return nil, err
	}
	// Shares arrive under k.ceremony only, so none came meanwhile; an
	// expiry or a Lock may have discarded some, which they report.
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.unlock != nil {
		k.unlock.Reset()
	}
	if k.rekey != nil {
		k.rekey.shares.Reset()
		k.rekey = nil
	}
	return lost, nil
}

// Status describes the keyring now.
func (k *Keyring) Status() Status {
	k.mu.Lock()
	events := k.expire()
	st := Status{Locked: k.lease == nil, Mode: k.dir.Mode(), IdleTTL: k.ttl.IdleTTL, MaxTTL: k.ttl.MaxTTL}
	if l := k.lease; l != nil {
		c := *l
		c.Custodians = slices.Clone(l.Custodians)
		st.Lease = &c
	}
	if set := k.dir.Custody(); set != nil {
		ss := &SetStatus{ID: set.ID, Threshold: set.Threshold, Created: set.Created}
		for _, c := range set.Custodians {
			ss.Custodians = append(ss.Custodians, c.Name)
		}
		st.Set = ss
		if k.unlock != nil && k.unlock.Set() == set {
			if p := k.unlock.Progress(); len(p.Received) > 0 {
				st.Unlock = &p
			}
		}
	}
	if p := k.rekey; p != nil {
		c := *p
		c.Progress = p.shares.Progress()
		st.Rekey = &c
	}
	k.mu.Unlock()
	k.emit(events)
	st.Tokens = k.dir.Tokens()
	keys, _ := k.dir.List()
	st.Keys = []KeyStatus{}
	for _, key := range keys {
		b := key.Backend
		if b == "" {
			b = "file"
		}
		st.Keys = append(st.Keys, KeyStatus{Name: key.Name, Type: key.Type, Backend: b})
	}
	return st
}

// InitCustody hands a passphrase keystore over to custodians; see
// Dir.InitCustody. An open lease stays open. record records the new set
// before the header that needs it is written.
func (k *Keyring) InitCustody(passphrase []byte, threshold int, custodians []custody.Custodian, record Record[*custody.Set]) (*custody.Set, []ShareFile, error) {
	k.ceremony.Lock()
	defer k.ceremony.Unlock()
	k.mu.Lock()
	now := k.now()
	k.mu.Unlock()
	return k.dir.initCustody(passphrase, threshold, custodians, now, record)
}

// ProposeRekey records a rekey to threshold of custodians, proposed by by.
// It takes effect once a quorum of the current custodians approves it
// with their shares (ApproveRekey) within the partial window. One
// proposal may be pending at a time. record records the proposal before
// it is pending.
func (k *Keyring) ProposeRekey(by string, threshold int, custodians []custody.Custodian, record Record[Proposal]) (Proposal, error) {
	set := k.dir.Custody()
	if set == nil {
		return Proposal{}, fmt.Errorf("%w: the keystore is not in custody; run 'signet custody init' first", ErrMode)
	}
	// Check the new parameters now rather than after a quorum has gathered.
	if err := custody.Check(threshold, custodians); err != nil {
		return Proposal{}, err
	}
	k.ceremony.Lock()
	defer k.ceremony.Unlock()
	k.mu.Lock()
	events := k.expire()
	pending := k.rekey
	p := &Proposal{ID: newProposalID(), By: by, At: k.now(), Threshold: threshold, Custodians: slices.Clone(custodians),
		shares: custody.NewCollector(set, k.ttl.PartialWindow)}
	p.Progress = p.shares.Progress()
	k.mu.Unlock()
	k.emit(events)
	if pending != nil {
		return Proposal{}, fmt.Errorf("rekey proposal %s by %q is pending; approve it, or discard it with 'signet custody reset'", pending.ID, pending.By)
	}
	if err := record.call(*p); err != nil {
		return Proposal{}, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.rekey != nil || k.dir.Custody() != set {
		return Proposal{}, errors.New("the custody state changed while the proposal was recorded; look at 'signet status' and propose again")
	}
	k.rekey = p
	return *p, nil
}

// PendingRekey returns the pending rekey proposal, if any.
func (k *Keyring) PendingRekey() (Proposal, bool) {
	k.mu.Lock()
	events := k.expire()
	p := k.rekey
	k.mu.Unlock()
	k.emit(events)
	if p == nil {
		return Proposal{}, false
	}
	return *p, true
}

// ApproveRekey adds one current custodian's share, submitted by by, to
// the approval of proposal id. When the threshold is reached the keystore
// is rekeyed: the new share files are returned, and the old shares stop
// working.
func (k *Keyring) ApproveRekey(by, id string, sh custody.Share) (Accepted, *custody.Set, []ShareFile, error) {
	k.ceremony.Lock()
	defer k.ceremony.Unlock()
	k.mu.Lock()
	events := k.expire()
	p := k.rekey
	if p == nil || p.ID != id {
		k.mu.Unlock()
		k.emit(events)
		return Accepted{}, nil, nil, fmt.Errorf("no pending rekey proposal %q; 'signet status' shows the pending one", id)
	}
	set := p.shares.Set()
	if set != k.dir.Custody() {
		k.rekey = nil
		k.mu.Unlock()
		k.emit(events)
		return Accepted{}, nil, nil, errors.New("the share set changed since the proposal; propose again")
	}
	secret, a, err := add(p.shares, k.now(), by, sh)
	if secret != nil {
		k.rekey = nil
	}
	now := k.now()
	k.mu.Unlock()
	k.emit(events)
	if err != nil {
		return Accepted{}, nil, nil, err
	}
	if secret == nil {
		return a.Accepted, nil, nil, nil
	}
	defer clear(secret)
	newSet, files, err := k.dir.rekey(secret, p.Threshold, p.Custodians, now)
	if err != nil {
		return Accepted{}, nil, nil, err
	}
	k.mu.Lock()
	if k.unlock != nil {
		k.unlock.Reset() // shares of the old set toward an unlock are void
		k.unlock = nil
	}
	k.mu.Unlock()
	return a.Accepted, newSet, files, nil
}

// EnrollToken hands a token over to the keystore; see Dir.EnrollToken.
// record records the enrolment before the token's PIN is changed.
func (k *Keyring) EnrollToken(name, currentPIN string, record func() error) error {
	if err := k.use(); err != nil {
		return fmt.Errorf("enroll token %q: %w", name, err)
	}
	k.dir.mu.RLock()
	t := k.dir.tokenNamed(name)
	k.dir.mu.RUnlock()
	if t == nil {
		return fmt.Errorf("enroll token %q: %w: no such token in the configuration (keystore.pkcs11)", name, ErrNotFound)
	}
	if record != nil {
		if err := record(); err != nil {
			return err
		}
	}
	return k.dir.EnrollToken(name, currentPIN)
}

func newProposalID() string {
	b := randBytes(6)
	const hexdig = "0123456789abcdef"
	out := make([]byte, 0, 12)
	for _, c := range b {
		out = append(out, hexdig[c>>4], hexdig[c&15])
	}
	return string(out)
}
