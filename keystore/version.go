package keystore

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/signet-dev/signet/format/openpgp"
)

// State is where a key version is in its life.
type State string

// The states of a version. A key has at most one active version, the
// one that signs; rotation retires it, and revocation can end any
// version.
const (
	Active  State = "active"  // signs, until its window ends
	Retired State = "retired" // signed in its window; verifies, never signs again
	Revoked State = "revoked" // repudiated: neither signs nor verifies
)

// Reason is why a version was revoked.
type Reason string

// The revocation reasons.
const (
	Compromised Reason = "compromised" // its private key may be known to others
	Superseded  Reason = "superseded"  // replaced, and its signatures withdrawn
	RetiredKey  Reason = "retired"     // taken out of use, and its signatures withdrawn
)

// Reasons lists the revocation reasons.
func Reasons() []Reason { return []Reason{Compromised, Superseded, RetiredKey} }

// ParseReason returns the Reason named s.
func ParseReason(s string) (Reason, error) {
	for _, r := range Reasons() {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown revocation reason %q; use compromised, superseded or retired", s)
}

// Version is one key pair of a key and its validity window. It holds no
// private material.
type Version struct {
	Number    int
	State     State
	Created   time.Time // when its key pair was made (an OpenPGP subkey's creation time)
	NotBefore time.Time // the window: [NotBefore, NotAfter); it became active at NotBefore
	NotAfter  time.Time // zero: until the key is rotated
	Updated   time.Time // when its window or state last changed
	Revoked   time.Time // zero unless revoked
	Reason    Reason    // why it was revoked
	Public    crypto.PublicKey
	Backend   string // the token holding its private key; "" for the file
	// BackSig is, for an OpenPGP subkey, the primary key binding
	// signature the subkey made when it was created (see package
	// format/openpgp). It is public, and kept because a retired subkey
	// never signs again.
	BackSig []byte

	fingerprint string
}

// Fingerprint returns the fingerprint of v.Public, as Key.Fingerprint.
func (v Version) Fingerprint() string {
	if v.fingerprint != "" {
		return v.fingerprint
	}
	return Fingerprint(v.Public)
}

// Signs reports whether v may sign at t: it is active and its window has
// not ended. (A clock stepped back a little before NotBefore does not
// stop the active version.)
func (v Version) Signs(t time.Time) bool {
	return v.State == Active && (v.NotAfter.IsZero() || t.Before(v.NotAfter))
}

// Verifies reports whether signatures by v are to be believed: it was
// not revoked.
func (v Version) Verifies() bool { return v.State != Revoked }

// VersionNumber returns the version k has with the public key pub, or 0.
func (k Key) VersionNumber(pub crypto.PublicKey) int {
	eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return 0
	}
	for _, v := range k.Versions {
		if eq.Equal(v.Public) {
			return v.Number
		}
	}
	return 0
}

// VersionOf returns version n of k.
func (k Key) VersionOf(n int) (Version, bool) {
	for _, v := range k.Versions {
		if v.Number == n {
			return v, true
		}
	}
	return Version{}, false
}

func (t Type) isPGP() bool { return t == PGPEd25519 || t == PGPRSA4096 }

// versionSigner is the crypto.Signer of one key pair of a key: of a
// version, which signs only while it is the active version and inside its
// window, or of an OpenPGP primary, which certifies whatever the
// versions' states.
type versionSigner struct {
	s       *slot
	name    string // the key's
	number  int    // the version; for a separate primary, 0
	pub     crypto.PublicKey
	backend string
	certify bool          // the OpenPGP primary's signer for certifications
	priv    crypto.Signer // nil while locked or while its token is unavailable; guarded by d.mu
}

func newVersionSigner(s *slot, sk *sealedKey, certify bool) *versionSigner {
	return &versionSigner{s: s, name: s.rec.key.Name, number: sk.v.Number, pub: sk.v.Public, backend: sk.v.Backend, certify: certify}
}

// sealed returns the key pair of vs in s's current record. d.mu is held.
func (vs *versionSigner) sealed() *sealedKey {
	if vs.certify {
		return vs.s.rec.certifier()
	}
	return vs.s.rec.version(vs.number)
}

func (vs *versionSigner) Public() crypto.PublicKey { return vs.pub }

// Sign signs digest with the private key. It holds d's read lock while
// signing, so that Lock never wipes a key in use and a rotation never
// retires a version in the middle of a signature.
func (vs *versionSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	d := vs.s.d
	d.mu.RLock()
	defer d.mu.RUnlock()
	name := vs.s.rec.key.Name
	if d.kek == nil {
		return nil, fmt.Errorf("key %q: %w; run 'signet unlock'", name, ErrLocked)
	}
	if err := vs.usable(d.now()); err != nil {
		return nil, err
	}
	if vs.priv == nil {
		return nil, fmt.Errorf("key %q: token %q: %w: not logged in", name, vs.backend, ErrUnavailable)
	}
	sig, err := vs.priv.Sign(rand, digest, opts)
	if err != nil && vs.backend != "" {
		if t := d.tokenNamed(vs.backend); t != nil {
			t.broken.Store(true) // the next Signer logs in again
		}
		return nil, fmt.Errorf("key %q: token %q: %w: %v", name, vs.backend, ErrUnavailable, err)
	}
	return sig, err
}

// usable reports why vs may not sign at now. d.mu is held.
func (vs *versionSigner) usable(now time.Time) error {
	s := vs.s
	name := s.rec.key.Name
	if vs.certify {
		if s.primary != vs {
			return fmt.Errorf("key %q: %w: its primary changed", name, ErrRetired)
		}
		return nil
	}
	v, _ := s.rec.key.VersionOf(vs.number)
	if s.active != vs || v.State != Active {
		return fmt.Errorf("key %q version %d: %w: it is %s now; sign again to use the active version", name, vs.number, ErrRetired, v.State)
	}
	if !v.Signs(now) {
		return fmt.Errorf("key %q version %d: %w: its window ended at %s; run 'signet key rotate %s'", name, v.Number, ErrRetired, formatTime(v.NotAfter), name)
	}
	return nil
}

// Format prints only the key name, whatever the verb, so that a Signer
// handed to a logger or fmt.Printf("%+v") never prints private material.
func (vs *versionSigner) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "keystore.Signer(%q)", vs.name)
}

// PrimarySigner returns the signer of an OpenPGP key's primary key, which
// certifies its subkeys, revokes them and vouches for transitions, and
// signs nothing else: its callers build those certifications themselves
// (package format/openpgp). For a key made before versions, the primary
// is version 1, and this signer keeps certifying after version 1 retires.
// It fails for keys that are not OpenPGP keys.
func (d *Dir) PrimarySigner(name string) (crypto.Signer, error) {
	d.mu.RLock()
	s := d.slots[name]
	locked := d.kek == nil
	var t Type
	if s != nil {
		t = s.rec.key.Type
	}
	ready := s != nil && s.primary != nil && s.primary.priv != nil && !d.tokenBroken(s.primary.backend)
	d.mu.RUnlock()
	switch {
	case s == nil:
		return nil, fmt.Errorf("key %q: %w in %s", name, ErrNotFound, d.path)
	case !t.isPGP():
		return nil, fmt.Errorf("key %q is %s, not an OpenPGP key: it has no primary key", name, t)
	case locked:
		return nil, fmt.Errorf("key %q: %w; run 'signet unlock'", name, ErrLocked)
	}
	if !ready {
		if err := d.reconnect(s.primary.backend); err != nil {
			return nil, fmt.Errorf("key %q: %w", name, err)
		}
	}
	d.mu.RLock()
	p := s.primary
	d.mu.RUnlock()
	return p, nil
}

// Rotate makes a new version of key name, active from now until notAfter
// (zero: until the next rotation), and retires the active version, whose
// window ends now if it had not ended already. It needs d unlocked. The
// new key pair is made where a new key of that name would be (a token
// whose pattern matches, else the file); for an OpenPGP key it is a new
// signing subkey, with its back signature.
func (d *Dir) Rotate(name string, notAfter time.Time) (Key, error) {
	return d.rotate(name, notAfter, nil)
}

// rotate is Rotate, recording the key as it will be with record before
// the new version is stored or signs. Callers serialize the lifecycle
// changes of a Dir (Keyring.lifecycle), so the key cannot change between
// its record and its commit.
func (d *Dir) rotate(name string, notAfter time.Time, record Record[Key]) (Key, error) {
	d.mu.RLock()
	s := d.slots[name]
	kek := bytes.Clone(d.kek)
	tok := d.route(name)
	d.mu.RUnlock()
	defer clear(kek)
	if s == nil {
		return Key{}, fmt.Errorf("rotate key %q: %w in %s", name, ErrNotFound, d.path)
	}
	if kek == nil {
		return Key{}, fmt.Errorf("rotate key %q: %w; run 'signet unlock'", name, ErrLocked)
	}
	now := d.now().UTC().Truncate(time.Second)
	if !notAfter.IsZero() && !notAfter.After(now) {
		return Key{}, fmt.Errorf("rotate key %q: the new window would end at %s, not after now (%s)", name, formatTime(notAfter), formatTime(now))
	}
	d.mu.RLock()
	old := s.rec
	d.mu.RUnlock()
	nv, err := d.generate(old, tok, old.nextNumber(), now, kek)
	if err != nil {
		return Key{}, fmt.Errorf("rotate key %q: %w", name, err)
	}
	nv.sk.v.NotAfter = notAfter
	rec, err := old.successor(kek)
	if err != nil {
		nv.discard()
		return Key{}, fmt.Errorf("rotate key %q: %w", name, err)
	}
	if a := rec.active(); a != nil {
		end := now
		if !a.v.NotAfter.IsZero() && a.v.NotAfter.Before(now) {
			end = a.v.NotAfter // the window had ended: it stays as it was
		}
		c := *a
		c.v.State, c.v.NotAfter = Retired, end
		if end == now {
			c.v.Updated = now
		}
		rec.replace(a, &c)
	}
	if nv.sk, err = rec.newSealed(nv.sk.v, nv.secret, kek); err != nil {
		nv.discard()
		return Key{}, fmt.Errorf("rotate key %q: %w", name, err)
	}
	nv.sk.objectID = nv.objectID
	rec.versions = append(rec.versions, nv.sk)
	rec.build()
	// Recorded with no lock held: signing goes on with the old version
	// while the audit log writes.
	if err := record.call(rec.key.clone()); err != nil {
		nv.discard()
		return Key{}, fmt.Errorf("rotate key %q: %w", name, err)
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if s.rec != old {
		nv.discard()
		return Key{}, fmt.Errorf("rotate key %q: the key changed while rotating; look at 'signet key versions %s' and try again", name, name)
	}
	if err := d.commit(s, rec, kek); err != nil {
		nv.discard()
		return Key{}, fmt.Errorf("rotate key %q: %w", name, err)
	}
	d.swapActive(s, nv)
	return s.rec.key.clone(), nil
}

// Revoke revokes version n of key name for reason: it never signs again,
// and verifiers are told not to believe what it signed. Revoking the
// active version leaves the key without one until it is rotated. It needs
// d unlocked (the key file's MAC is made with the KEK). Version 1 of an
// OpenPGP key made before versions is its primary key and cannot be
// revoked: replace the whole key instead (signet key transition).
func (d *Dir) Revoke(name string, n int, reason Reason) (Key, error) {
	return d.revoke(name, n, reason, nil)
}

// revoke is Revoke, recording the key as it will be with record before
// the revocation is stored; see rotate.
func (d *Dir) revoke(name string, n int, reason Reason, record Record[Key]) (Key, error) {
	if _, err := ParseReason(string(reason)); err != nil {
		return Key{}, err
	}
	d.mu.RLock()
	s := d.slots[name]
	kek := bytes.Clone(d.kek)
	d.mu.RUnlock()
	defer clear(kek)
	switch {
	case s == nil:
		return Key{}, fmt.Errorf("revoke key %q: %w in %s", name, ErrNotFound, d.path)
	case kek == nil:
		return Key{}, fmt.Errorf("revoke key %q: %w; run 'signet unlock'", name, ErrLocked)
	}
	d.mu.RLock()
	old := s.rec
	d.mu.RUnlock()
	sk := old.version(n)
	switch {
	case sk == nil:
		return Key{}, fmt.Errorf("revoke key %q: %w: it has no version %d; 'signet key versions %s' lists them", name, ErrNoVersion, n, name)
	case sk.v.State == Revoked:
		return Key{}, fmt.Errorf("revoke key %q: version %d was revoked already, at %s (%s)", name, n, formatTime(sk.v.Revoked), sk.v.Reason)
	case old.primarySigns && n == 1:
		return Key{}, fmt.Errorf("revoke key %q: version 1 is the key's OpenPGP primary key, which every client trusts: revoking it would revoke the whole key; create a new key and run 'signet key transition %s NEW'", name, name)
	}
	rec, err := old.successor(kek)
	if err != nil {
		return Key{}, fmt.Errorf("revoke key %q: %w", name, err)
	}
	// A revocation must be dated after the version's last binding, which
	// verifiers replace by the newest.
	at := d.now().UTC().Truncate(time.Second)
	if !at.After(sk.v.Updated) {
		at = sk.v.Updated.Add(time.Second)
	}
	c := *rec.version(n)
	c.v.State, c.v.Revoked, c.v.Reason, c.v.Updated = Revoked, at, reason, at
	rec.replace(rec.version(n), &c)
	rec.build()
	if err := record.call(rec.key.clone()); err != nil {
		return Key{}, fmt.Errorf("revoke key %q: %w", name, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.rec != old {
		return Key{}, fmt.Errorf("revoke key %q: the key changed while revoking; look at 'signet key versions %s' and try again", name, name)
	}
	if d.kek == nil {
		return Key{}, fmt.Errorf("revoke key %q: %w; run 'signet unlock'", name, ErrLocked)
	}
	if err := d.commit(s, rec, d.kek); err != nil {
		return Key{}, fmt.Errorf("revoke key %q: %w", name, err)
	}
	if s.active != nil && s.active.number == n {
		wipe(s.active.priv)
		s.active.priv = nil
		s.active = nil
	}
	return s.rec.key.clone(), nil
}

// nextNumber is the number of the next version.
func (r *record) nextNumber() int { return r.versions[len(r.versions)-1].v.Number + 1 }

// successor returns a copy of r to change: format 2, the serial
// incremented. A format 1 record is converted, its key pair sealed again
// under the format 2 additional data.
func (r *record) successor(kek []byte) (*record, error) {
	n := &record{key: r.key, format: keyFormat2, serial: r.serial + 1, primarySigns: r.primarySigns, primary: r.primary, versions: append([]*sealedKey(nil), r.versions...)}
	if r.format == keyFormat2 {
		return n, nil
	}
	sk := r.versions[0]
	secret, err := r.unseal(sk, kek)
	if err != nil {
		return nil, err
	}
	defer clear(secret)
	resealed, err := n.newSealed(sk.v, secret, kek)
	if err != nil {
		return nil, err
	}
	resealed.objectID = sk.objectID
	n.versions[0] = resealed
	return n, nil
}

// replace puts c in place of sk in r.
func (r *record) replace(sk, c *sealedKey) {
	for i := range r.versions {
		if r.versions[i] == sk {
			r.versions[i] = c
		}
	}
}

// commit writes rec, MAC'd with kek, in place of s's key file and makes
// it s's record. d.mu is held for writing.
func (d *Dir) commit(s *slot, rec *record, kek []byte) error {
	rec.build()
	rec.mac = rec.computeMAC(kek)
	data, err := rec.marshal()
	if err != nil {
		return err
	}
	if len(data) > maxKeyFileSize {
		return fmt.Errorf("the key file would be %d bytes, over the limit of %d: the key has too many versions; replace it with a new key", len(data), maxKeyFileSize)
	}
	if err := writeReplace(d.keyPath(rec.key.Name), data); err != nil {
		return err
	}
	s.rec = rec
	// The signers keep pointing at their key pairs, whose public parts
	// did not change; only their states did, which they read from s.rec.
	return nil
}

// swapActive makes nv the active signer of s, wiping the old one's key.
// d.mu is held for writing.
func (d *Dir) swapActive(s *slot, nv *newVersion) {
	if s.active != nil {
		wipe(s.active.priv)
		s.active.priv = nil
	}
	vs := newVersionSigner(s, s.rec.active(), false)
	if d.kek != nil {
		vs.priv = nv.signer
	} else {
		wipe(nv.signer) // locked meanwhile
	}
	s.active = vs
}

// newVersion is a key pair just made, not yet stored.
type newVersion struct {
	sk       *sealedKey // its public description; sealed by the caller
	secret   []byte     // PKCS #8 DER, or the token object id
	objectID []byte     // for a token key
	signer   crypto.Signer
	tok      *token
}

// discard wipes what a newVersion holds. A key pair made in a token is
// left there, unused.
func (nv *newVersion) discard() {
	clear(nv.secret)
	wipe(nv.signer)
}

// generate makes a key pair for version number n of the key of r, in tok
// or in the file, created at now; for an OpenPGP key, a subkey with its
// back signature by the new key pair.
func (d *Dir) generate(r *record, tok *token, n int, now time.Time, kek []byte) (*newVersion, error) {
	k := r.key
	label := fmt.Sprintf("%s.v%d", k.Name, n)
	nv, err := d.keyPair(k.Type, tok, label)
	if err != nil {
		return nil, err
	}
	nv.sk = &sealedKey{v: Version{Number: n, State: Active, Created: now, NotBefore: now, Updated: now, Public: nv.signer.Public()}}
	if tok != nil {
		nv.sk.v.Backend = tok.name
	}
	if k.Type.isPGP() && !(r.primarySigns && n == 1) {
		c := r.certifier()
		if c == nil {
			nv.discard()
			return nil, errors.New("the OpenPGP key has no primary key") // unreachable: parse checks it
		}
		// The back signature covers the key packets only, not the user
		// id, which the keystore does not require.
		primary, err := openpgp.NewKey(c.v.Public, c.v.Created, cmp.Or(k.UID, k.Name))
		if err == nil {
			var sub *openpgp.Key
			if sub, err = openpgp.NewSubkey(nv.sk.v.Public, now); err == nil {
				nv.sk.v.BackSig, err = openpgp.BackSignature(primary, sub, nv.signer)
			}
		}
		if err != nil {
			nv.discard()
			return nil, fmt.Errorf("making the OpenPGP subkey: %w", err)
		}
	}
	return nv, nil
}

// keyPair generates a key pair of type t in tok, or in memory if tok is
// nil. For a token key, the returned signer is the token's and the secret
// the object id.
func (d *Dir) keyPair(t Type, tok *token, label string) (*newVersion, error) {
	if tok == nil {
		priv, err := generate(t)
		if err != nil {
			return nil, fmt.Errorf("generating %s key: %w", t, err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			wipe(priv)
			return nil, errors.New("cannot encode private key as PKCS #8")
		}
		return &newVersion{secret: der, signer: priv}, nil
	}
	if err := d.loggedIn(tok); err != nil {
		return nil, err
	}
	id, pub, err := tok.dev.Generate(t.material(), label)
	if err != nil {
		return nil, fmt.Errorf("in token %q: %w: %v", tok.name, ErrUnavailable, err)
	}
	sg, err := tok.dev.Signer(id, pub)
	if err != nil {
		return nil, fmt.Errorf("in token %q: %w: %v", tok.name, ErrUnavailable, err)
	}
	return &newVersion{secret: bytes.Clone(id), objectID: id, signer: sg, tok: tok}, nil
}

func (k Key) clone() Key {
	k.Versions = append([]Version(nil), k.Versions...)
	return k
}
