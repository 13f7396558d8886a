// Package keystore keeps Signet's private signing keys encrypted on disk and
// hands them out only as [crypto.Signer] values.
//
// A keystore is a directory protected by one passphrase or, after
// [Dir.InitCustody], by N of M custodians' shares (package custody). [Init]
// creates it; [Open] opens it locked; [Dir.Unlock] unwraps the
// key-encryption key (KEK) with the passphrase and decrypts every private
// key into memory. While the store is locked the public half of every key
// is still available from [Dir.List] and [Dir.Key]; only [Dir.Signer] and
// [Dir.Create] need it unlocked. No function returns private key bytes and
// no error message contains them; a Signer prints only as the name of its
// key.
//
// A [Keyring] puts a Dir under human custody: unlocking (a passphrase, or a
// quorum of shares submitted one at a time and verified on entry) opens a
// [Lease] with an idle and a maximum lifetime, after which, or at
// [Keyring.Lock], every key is wiped. Keys can also live in a [Token] (a
// PKCS #11 HSM, package keystore/pkcs11) that generates them and never lets
// them out; the keystore then keeps their public part and usage, and logs
// into the token with a PIN derived from the KEK. docs/custody.md explains
// the ceremonies and what each mechanism protects against.
//
// # On-disk format
//
// A keystore directory (mode 0700) holds
//
//	keystore.json      the header: format version, how to unwrap the KEK
//	keys/<name>.json   one file per key
//
// Every file is a JSON object of at most 64 KiB with mode 0600; binary values
// are padded standard base64. Parsing is strict: unknown fields, an unknown
// version, bad base64 or a value of the wrong length make Open fail with an
// error naming the file. The header [Init] writes is
//
//	{"version": 2,
//	 "kdf": {"name": "argon2id", "salt": "...", "time": 3, "memory_kib": 65536, "threads": 2},
//	 "wrapped_kek": "..."}
//
// The KEK is 32 random bytes. "wrapped_kek" is a 24-byte nonce followed by
// the XChaCha20-Poly1305 sealing of the KEK under the Argon2id hash of the
// passphrase, with the unlock mode as additional data; if it does not open,
// Unlock reports [ErrBadPassphrase]. The KDF parameters are read from the
// file so that they can be raised later, but a header asking for less than
// 19456 KiB of memory or fewer than one pass is rejected, so editing it
// cannot weaken the KDF. In custody the header has "custody" (the public
// custody.Set: threshold, custodians, Feldman commitments) instead of
// "kdf", and the KEK is wrapped under HKDF-SHA256 of the custodians'
// secret, salted with the set's id; InitCustody and rekeys replace the
// header atomically (write, sync, rename), never the key files. A version 1
// header ({"version": 1, "kdf": …, "check": …}) derives the KEK from the
// passphrase directly; such keystores still open but cannot be put in
// custody. A key file is
//
//	{"version": 1, "name": "release", "type": "ed25519", "usage": "raw", "uid": "",
//	 "created": "2025-01-02T03:04:05Z", "public": "...", "nonce": "...", "sealed": "..."}
//
// where "usage" is the format family the key signs in, "uid" an optional
// identity embedded in signatures, "public" is the PKIX (SubjectPublicKeyInfo) DER of the public key and
// "sealed" is the PKCS #8 DER of the private key sealed with XChaCha20-Poly1305
// under the KEK and the random 24-byte "nonce". The additional data binds the
// name, type, usage, uid, creation time and SHA-256 of the public key DER, so a key file
// that is renamed, swapped with another or edited fails to decrypt; Unlock
// then also checks that the private key matches the stored public key. A
// key in a token has "backend": the token's name, which the additional data
// also binds, and "sealed" holds the token's object id instead.
//
// # Versions
//
// A key has versions (see [Version]): key pairs, each with a validity
// window and a state, active (signs), retired (signed in its window,
// never signs again) or revoked (repudiated). [Dir.Rotate] adds a version
// and retires the active one; [Dir.Revoke] revokes any version. Only the
// active version's private key (and an OpenPGP key's primary) is
// decrypted at Unlock and kept in memory; the seals of the others are
// checked and their plaintext dropped. A Signer is bound to the version
// that was active when it was handed out and fails with [ErrRetired]
// once that version no longer signs.
//
// The format 1 file above is a key with one version, active, whose window
// has no end: such keys are still written in format 1, exactly as before
// versions, so that a keystore stays readable by older builds until a key
// rotates. The first rotation or revocation rewrites the file in format 2:
//
//	{"version": 2, "name": "release", "type": "ed25519", "usage": "raw", "uid": "",
//	 "created": "…", "serial": 3,
//	 "versions": [
//	   {"version": 1, "state": "revoked", "created": "…", "not_before": "…",
//	    "not_after": "…", "updated": "…", "revoked": "…", "reason": "compromised",
//	    "public": "…", "nonce": "…", "sealed": "…"},
//	   {"version": 2, "state": "active", …}],
//	 "mac": "…"}
//
// Every version's key pair is sealed like a format 1 key (or lives in a
// token, "backend"), with additional data that binds the name, type,
// usage, uid, version number, the version's creation time, the SHA-256 of
// its public key and its backend: a key pair cannot be moved to another
// key or version. What changes over a key's life (states, windows,
// revocations, the list of versions) is authenticated by "mac",
// HMAC-SHA256 under a key derived from the KEK over the file's JSON
// encoding without "mac", and checked at Unlock; "serial" counts the
// changes. Rotations and revocations therefore need the keystore
// unlocked, and replace the file atomically (write, sync, rename). A key
// file is at most 4 MiB (some thousand versions).
//
// An OpenPGP key (pgp-*) has one primary key, which users trust and which
// only certifies, in "primary" (a key pair without window or state, whose
// creation time is the key's); each version is a signing subkey, and
// "back_sig" holds the primary key binding signature the subkey made over
// itself when it was created (package format/openpgp), which GnuPG
// requires and a retired subkey could not make again. An OpenPGP key
// whose primary signs documents itself has no separate primary: its
// version 1 is the primary, which keeps certifying after it retires and
// cannot be revoked, and its later versions are subkeys. Such are the
// OpenPGP keys written before versions (format 1 files, which become
// format 2 with "primary_signs": true at their first change) and keys
// created with Spec.PrimarySigns.
//
// Files are written atomically: the data goes to a temporary file named
// ".tmp-*" in the same directory, which is synced and closed, then hard-linked
// to its final name (which, unlike a rename, never replaces an existing file),
// and the directory is synced. A crash leaves the whole file or none of it,
// perhaps with a stray temporary file, which is never loaded.
//
// # Threat model
//
// The keystore protects private keys from someone who gets a copy of the
// directory, such as a stolen disk or backup. Without the passphrase they
// learn the key names, types, creation times and public keys, and each guess
// at the passphrase costs them an Argon2id hash. Someone who can write to the
// directory cannot plant a key or change one without the passphrase: any
// modification is detected at Open or Unlock, which fail with an error naming
// the file. A single damaged file therefore stops the whole store from
// unlocking, by design; restore the file from a backup or remove it.
//
// It does not protect against deleting keys or rolling the whole directory
// back to an older copy (or one key file back to an older copy of itself,
// which undoes the rotations and revocations made since: the audit log
// records each of them, and OpenPGP revocations once published stay
// with their users), against weak passphrases, or against anyone who can
// read the memory of an unlocked process. [Dir.Lock] drops the keys and zeros
// the KEK and the Ed25519 keys, and clears the big.Int values of ECDSA and RSA
// keys that it can reach, but Go cannot reliably wipe big.Int-backed keys:
// crypto/ecdsa and crypto/rsa keep derived copies internally, and the garbage
// collector may have left copies behind.
//
// # Record first, act second
//
// Every act of a [Keyring] that changes what can sign or who can unlock —
// Create, Rotate (by hand or on schedule), Revoke, Unlock, SubmitShare,
// InitCustody, ProposeRekey, ResetProgress, EnrollToken — takes a
// [Record], which the server makes append the act's audit entry. The
// keystore calls it once the act is prepared (key pairs made and sealed,
// the passphrase or share checked, the new header built) and before
// anything takes effect (a file written, a lease opened, a share kept),
// and abandons the act if it fails. Only Lock and expiries act without
// waiting for a record: they take keys away.
//
// # Concurrency
//
// A [Dir] is safe for concurrent use. It reads the keys directory once, in
// Open: keys that another process adds later are not seen until the keystore
// is opened again, while keys created through the Dir are visible at once.
// A Signer returned by [Dir.Signer] fails with [ErrLocked] after the Dir is
// locked, and works again once it is unlocked.
package keystore

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/chacha20poly1305"
)

// Type is a key algorithm.
type Type string

// The supported key algorithms.
const (
	Ed25519   Type = "ed25519"
	ECDSAP256 Type = "ecdsa-p256"
	ECDSAP384 Type = "ecdsa-p384"
	RSA3072   Type = "rsa-3072"
	RSA4096   Type = "rsa-4096"

	// OpenPGP v4 keys. Their key material is that of Ed25519 and RSA4096;
	// they are separate types because an OpenPGP key's identity (its
	// fingerprint) also covers its creation time, Key.Created, which must
	// therefore never change, and because they sign only OpenPGP formats.
	PGPEd25519 Type = "pgp-ed25519"
	PGPRSA4096 Type = "pgp-rsa4096"
)

// Types lists every supported Type in a stable order.
func Types() []Type {
	return []Type{Ed25519, ECDSAP256, ECDSAP384, RSA3072, RSA4096, PGPEd25519, PGPRSA4096}
}

// material is the key algorithm behind t: OpenPGP types use the key
// material of a plain type.
func (t Type) material() Type {
	switch t {
	case PGPEd25519:
		return Ed25519
	case PGPRSA4096:
		return RSA4096
	}
	return t
}

// ParseType returns the Type named s, or an error listing the valid names.
func ParseType(s string) (Type, error) {
	var names []string
	for _, t := range Types() {
		if string(t) == s {
			return t, nil
		}
		names = append(names, string(t))
	}
	return "", fmt.Errorf("unknown key type %q; valid types are %s", s, strings.Join(names, ", "))
}

// Key is the public description of a stored key. It holds no private material.
//
// A key has versions, each its own key pair with a validity window and a
// state (see [Version]); the active version signs. Public is what a
// verifier trusts: for an OpenPGP key its primary key, which certifies
// one signing subkey per version; for any other key the active version's
// public key (or, if none is active, the latest version's).
type Key struct {
	Name    string
	Type    Type
	Usage   string           // the one format family the key signs in, e.g. "raw" or "pgp"
	UID     string           // identity embedded in signatures (an OpenPGP user id); may be empty
	Created time.Time        // UTC, whole seconds: when the key (an OpenPGP key's primary) was made
	Public  crypto.PublicKey // *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey
	Backend string           // the token holding Public's private key; "" for the encrypted file

	Version  int       // the active version, which signs; 0 if none is
	Versions []Version // every version, oldest first
	// PrimarySigns is set for an OpenPGP key whose version 1 is its
	// primary key, which signs documents itself until the first rotation;
	// its later versions are subkeys. Such are the OpenPGP keys made
	// before key versions, and those created with Spec.PrimarySigns.
	// Other OpenPGP keys have a primary that only certifies, and every
	// version is a subkey.
	PrimarySigns bool

	fingerprint string // of Public, computed once for keys from a Dir
}

// Fingerprint returns "SHA256:" followed by the unpadded standard base64
// SHA-256 of the PKIX DER of k.Public, as ssh-keygen prints fingerprints.
// It returns "" if k.Public is not a supported public key.
func (k Key) Fingerprint() string {
	if k.fingerprint != "" {
		return k.fingerprint
	}
	return Fingerprint(k.Public)
}

// Fingerprint returns the fingerprint of any public key, as Key.Fingerprint
// does: how Signet names keys in the API, the audit log, key lists and
// transition statements. It returns "" for a key x509 cannot marshal.
func Fingerprint(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// ValidName reports an error unless name is a valid key name: 1 to 64
// characters from a-z, 0-9, '.', '_' and '-', starting with a letter or
// digit and not containing "..".
func ValidName(name string) error {
	ok := len(name) >= 1 && len(name) <= 64 && !strings.Contains(name, "..")
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || i > 0 && (c == '.' || c == '_' || c == '-')
	}
	if !ok {
		return fmt.Errorf("invalid key name %q: a name is 1 to 64 characters from a-z, 0-9, '.', '_' and '-', starts with a letter or digit, and does not contain \"..\"", name)
	}
	return nil
}

// validUsage accepts a format family name: 1 to 32 characters from a-z,
// 0-9 and '-'.
func validUsage(u string) error {
	ok := len(u) >= 1 && len(u) <= 32
	for i := 0; ok && i < len(u); i++ {
		c := u[i]
		ok = 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-'
	}
	if !ok {
		return fmt.Errorf("invalid key usage %q: a format family name such as raw or pgp", u)
	}
	return nil
}

// validUID accepts up to 256 printable characters.
func validUID(uid string) error {
	ok := len(uid) <= 256 && utf8.ValidString(uid)
	for _, r := range uid {
		ok = ok && unicode.IsPrint(r)
	}
	if !ok {
		return fmt.Errorf("invalid user id %.80q: at most 256 printable characters, such as 'Release Team <release@example.org>'", uid)
	}
	return nil
}

// Errors reported by this package, wrapped with the key name or directory
// they concern. Test for them with [errors.Is].
var (
	ErrLocked         = errors.New("keystore locked")
	ErrNotFound       = errors.New("no such key")
	ErrNoVersion      = errors.New("no such key version") // the key exists, the version named does not
	ErrExists         = errors.New("key already exists")
	ErrBadPassphrase  = errors.New("wrong passphrase")
	ErrNotInitialized = errors.New("keystore not initialized")
	ErrUnavailable    = errors.New("key backend unavailable") // a token cannot be reached or refused
	ErrMode           = errors.New("wrong unlock method")     // a passphrase for a keystore in custody, shares without custody, or custody for a keystore that cannot have it
	// ErrRetired is returned for a version that may not sign: retired by
	// a rotation, revoked, or past the end of its window.
	ErrRetired = errors.New("key version does not sign")
)

// Init creates a new, empty keystore in dir protected by passphrase, creating
// dir with mode 0700 if needed. It fails if dir already holds a keystore.
func Init(dir string, passphrase []byte) error {
	if len(passphrase) == 0 {
		return fmt.Errorf("init keystore %s: empty passphrase; choose a passphrase to protect the keys", dir)
	}
	hp := filepath.Join(dir, headerFile)
	exists := fmt.Errorf("init keystore %s: a keystore already exists there; use it, or choose another directory", dir)
	if _, err := os.Lstat(hp); err == nil {
		return exists
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("init keystore: %w", err)
	}
	kd := filepath.Join(dir, keysDir)
	if err := os.MkdirAll(kd, 0o700); err != nil {
		return fmt.Errorf("init keystore: %w", err)
	}
	if ents, err := os.ReadDir(kd); err != nil {
		return fmt.Errorf("init keystore: %w", err)
	} else if len(ents) > 0 {
		return fmt.Errorf("init keystore %s: %s is not empty; Init needs a new or empty directory", dir, kd)
	}
	kek := randBytes(chacha20poly1305.KeySize)
	defer clear(kek)
	h := header{Version: version2, KDF: newKDF()}
	wk := h.KDF.deriveKEK(passphrase)
	defer clear(wk)
	h.wrap(wk, kek)
	data, err := marshal(h)
	if err == nil {
		err = writeNew(hp, data)
	}
	if errors.Is(err, fs.ErrExist) {
		return exists
	} else if err != nil {
		return fmt.Errorf("init keystore: %w", err)
	}
	return nil
}

// Dir is an open keystore. Its methods are safe for concurrent use.
type Dir struct {
	path string

	mu     sync.RWMutex
	hdr    header           // replaced by InitCustody and rekeys
	kek    []byte           // nil while locked
	slots  map[string]*slot // every key seen at Open or created since
	tokens []*token         // in the order keys are routed to them
	clock  func() time.Time // replaced by SetClock, for tests
}

// slot is one key: its record and the signers of the key pairs kept in
// memory while unlocked, those of its active version and of its OpenPGP
// primary. Retired and revoked versions are never loaded.
type slot struct {
	d       *Dir
	rec     *record        // replaced, never changed, by Rotate and Revoke; guarded by d.mu
	active  *versionSigner // nil if no version is active; guarded by d.mu
	primary *versionSigner // an OpenPGP key's primary; nil for other keys
}

// loaded returns the signers of s. d.mu is held.
func (s *slot) loaded() []*versionSigner {
	var out []*versionSigner
	for _, vs := range []*versionSigner{s.active, s.primary} {
		if vs != nil {
			out = append(out, vs)
		}
	}
	return out
}

// newSlot returns the slot of rec, with its signers not loaded.
func (d *Dir) newSlot(rec *record) *slot {
	s := &slot{d: d, rec: rec}
	if a := rec.active(); a != nil {
		s.active = newVersionSigner(s, a, false)
	}
	if c := rec.certifier(); c != nil {
		s.primary = newVersionSigner(s, c, true)
	}
	return s
}

// SetClock replaces the clock that dates new versions and ends windows,
// for tests. Keyring.SetClock sets it too.
func (d *Dir) SetClock(now func() time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clock = now
}

// now reads the clock. d.mu need not be held: the clock is set before
// use.
func (d *Dir) now() time.Time {
	if d.clock == nil {
		return time.Now()
	}
	return d.clock()
}

// Open opens the keystore in dir. The keystore starts locked.
func Open(dir string) (*Dir, error) {
	hp := filepath.Join(dir, headerFile)
	data, err := readFile(hp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open keystore %s: %w; run 'signet keystore init'", dir, ErrNotInitialized)
	} else if err != nil {
		return nil, fmt.Errorf("open keystore: %w", err)
	}
	h, err := parseHeader(data)
	if err != nil {
		return nil, fmt.Errorf("open keystore: %s: %w", hp, err)
	}
	d := &Dir{path: dir, hdr: h, slots: make(map[string]*slot)}
	ents, err := os.ReadDir(filepath.Join(dir, keysDir))
	if err != nil {
		return nil, fmt.Errorf("open keystore: %w", err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue // temporary or unrelated file
		}
		p := filepath.Join(dir, keysDir, e.Name())
		data, err := readFileMax(p, maxKeyFileSize)
		if err != nil {
			return nil, fmt.Errorf("open keystore: %w", err)
		}
		rec, err := parseKeyFile(data)
		if err != nil {
			return nil, fmt.Errorf("open keystore: %s: %w", p, err)
		}
		if name := rec.key.Name; e.Name() != name+".json" {
			return nil, fmt.Errorf("open keystore: %s: holds key %q; the file was renamed or replaced: restore it from a backup", p, name)
		}
		d.slots[rec.key.Name] = d.newSlot(rec)
	}
	return d, nil
}

func (d *Dir) keyPath(name string) string { return filepath.Join(d.path, keysDir, name+".json") }

// Path returns the keystore's directory.
func (d *Dir) Path() string { return d.path }

// Unlock derives the KEK from passphrase, checks it against the header and
// decrypts every key into memory. It returns ErrBadPassphrase if the
// passphrase is wrong, and ErrMode if the keystore is held by custodians
// (see [Keyring]). Unlocking an unlocked Dir checks the passphrase and
// otherwise does nothing.
func (d *Dir) Unlock(passphrase []byte) error {
	d.mu.RLock()
	h := d.hdr
	d.mu.RUnlock()
	if h.set != nil {
		return fmt.Errorf("unlock keystore %s: %w: it is held by %d custodians; %d of them must submit their shares ('signet unlock --share')", d.path, ErrMode, len(h.set.Custodians), h.set.Threshold)
	}
	kek, ok := h.passphraseKEK(passphrase)
	if !ok {
		return fmt.Errorf("unlock keystore %s: %w", d.path, ErrBadPassphrase)
	}
	return d.open(kek)
}

// unlockSecret unlocks a keystore in custody with the custodians' secret.
func (d *Dir) unlockSecret(secret []byte) error {
	d.mu.RLock()
	h := d.hdr
	d.mu.RUnlock()
	kek, err := h.custodyKEK(secret)
	if err != nil {
		return fmt.Errorf("unlock keystore %s: %w", d.path, err)
	}
	return d.open(kek)
}

// open decrypts every key with kek, which it keeps (or zeros, if d is
// already unlocked), and logs into the tokens.
func (d *Dir) open(kek []byte) error {
	// Decrypting takes milliseconds per key, far less than deriving the
	// KEK, so it is done with the lock held.
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.kek != nil {
		clear(kek)
		return nil
	}
	privs := make(map[*versionSigner]crypto.Signer, len(d.slots))
	for _, s := range d.slots {
		err := s.rec.check(kek)
		for _, vs := range s.loaded() {
			if err != nil || vs.backend != "" {
				break
			}
			privs[vs], err = s.rec.open(vs.sealed(), kek)
		}
		if err != nil {
			for _, p := range privs {
				wipe(p)
			}
			clear(kek)
			return fmt.Errorf("unlock keystore: %s: %w", d.keyPath(s.rec.key.Name), err)
		}
	}
	for vs, p := range privs {
		vs.priv = p
	}
	d.kek = kek
	for _, t := range d.tokens {
		d.login(t)
	}
	return nil
}

// Lock drops every private key and the KEK from memory, zeroing them as far
// as Go allows (see the package documentation), and logs out of every
// token.
func (d *Dir) Lock() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.slots {
		for _, vs := range s.loaded() {
			wipe(vs.priv)
			vs.priv = nil
		}
	}
	for _, t := range d.tokens {
		d.logout(t)
	}
	clear(d.kek)
	d.kek = nil
}

// Locked reports whether d is locked.
func (d *Dir) Locked() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.kek == nil
}

// Spec describes a key to create.
type Spec struct {
	Name string
	Type Type
	// Usage is the format family the key will sign in, fixed for its
	// life ("raw" if empty). The keystore only stores it; the server
	// enforces it, so that a signature made for one ecosystem can never
	// be presented as another's.
	Usage string
	UID   string // optional identity embedded in signatures (OpenPGP user id)
	// Window is how long the first version signs before it must be
	// rotated; 0 for until the key is rotated.
	Window time.Duration
	// PrimarySigns makes an OpenPGP key whose primary key is version 1
	// and signs documents itself (see Key.PrimarySigns), for verifiers
	// that pin the key that signs rather than its primary.
	PrimarySigns bool
	// Record, if set, makes the creation durable before it takes effect
	// (see [Record]): it is called with the key once its key pairs are
	// made and sealed, before its file is written; an error abandons
	// the key.
	Record Record[Key]
}

// A Record makes an act durable before the act takes effect. Signet's
// rule is record first, act second: an admin or custody act (a key made,
// rotated or revoked, an unlock, a share accepted, custodians named, a
// token enrolled) is appended to the audit log before anything can use
// it. The keystore calls a Record once the act is prepared — its outcome
// known, nothing changed yet — and abandons the act, changing nothing, if
// the Record returns an error. A nil Record records nothing (tools that
// work on a keystore offline). If the act then fails after all (a full
// disk), the caller records that failure.
type Record[T any] func(T) error

// call calls r with v, if r is set.
func (r Record[T]) call(v T) error {
	if r == nil {
		return nil
	}
	return r(v)
}

// Create generates a new key as spec says, encrypts it and writes it to
// disk. The private key never leaves the Dir. Create needs d unlocked and
// fails with ErrExists if the name is taken.
func (d *Dir) Create(spec Spec) (Key, error) {
	name, t := spec.Name, spec.Type
	if spec.Usage == "" {
		spec.Usage = "raw"
	}
	if err := ValidName(name); err != nil {
		return Key{}, err
	}
	if _, err := ParseType(string(t)); err != nil {
		return Key{}, fmt.Errorf("create key %q: %w", name, err)
	}
	if err := validUsage(spec.Usage); err != nil {
		return Key{}, fmt.Errorf("create key %q: %w", name, err)
	}
	if err := validUID(spec.UID); err != nil {
		return Key{}, fmt.Errorf("create key %q: %w", name, err)
	}
	d.mu.RLock()
	kek := bytes.Clone(d.kek)
	_, taken := d.slots[name]
	tok := d.route(name)
	d.mu.RUnlock()
	defer clear(kek)
	if kek == nil {
		return Key{}, fmt.Errorf("create key %q: %w; run 'signet unlock'", name, ErrLocked)
	}
	if taken {
		return Key{}, fmt.Errorf("create key %q: %w; choose another name", name, ErrExists)
	}
	if tok != nil {
		if err := d.loggedIn(tok); err != nil {
			return Key{}, fmt.Errorf("create key %q: %w", name, err)
		}
	}
	now := d.now().UTC().Truncate(time.Second)
	rec := &record{key: Key{Name: name, Type: t, Usage: spec.Usage, UID: spec.UID, Created: now}, format: version}
	separatePrimary := t.isPGP() && !spec.PrimarySigns
	rec.primarySigns = t.isPGP() && spec.PrimarySigns
	if separatePrimary || spec.Window > 0 {
		rec.format, rec.serial = keyFormat2, 1
	}
	var made []*newVersion
	fail := func(err error) (Key, error) {
		for _, nv := range made {
			nv.discard()
		}
		if errors.Is(err, fs.ErrExist) {
			return Key{}, fmt.Errorf("create key %q: %w in %s; choose another name", name, ErrExists, d.path)
		}
		return Key{}, fmt.Errorf("create key %q: %w", name, err)
	}
	if separatePrimary {
		// The primary key, which only certifies; version 1 is its first
		// signing subkey.
		p, err := d.keyPair(t, tok, name)
		if err != nil {
			return fail(err)
		}
		made = append(made, p)
		v := Version{Created: now, NotBefore: now, Updated: now, Public: p.signer.Public()}
		if tok != nil {
			v.Backend = tok.name
		}
		if rec.primary, err = rec.newSealed(v, p.secret, kek); err != nil {
			return fail(err)
		}
		rec.primary.objectID = p.objectID
	}
	nv, err := d.generate(rec, tok, 1, now, kek)
	if err != nil {
		return fail(err)
	}
	made = append(made, nv)
	if spec.Window > 0 {
		nv.sk.v.NotAfter = now.Add(spec.Window).Truncate(time.Second)
	}
	sk, err := rec.newSealed(nv.sk.v, nv.secret, kek)
	if err != nil {
		return fail(err)
	}
	sk.objectID = nv.objectID
	rec.versions = []*sealedKey{sk}
	rec.build()
	if rec.format == keyFormat2 {
		rec.mac = rec.computeMAC(kek)
	}
	data, err := rec.marshal()
	if err != nil {
		return fail(err)
	}
	if err := spec.Record.call(rec.key.clone()); err != nil {
		return fail(err)
	}
	if err := writeNew(d.keyPath(name), data); err != nil {
		return fail(err)
	}
	for _, nv := range made {
		clear(nv.secret)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.newSlot(rec)
	if d.kek != nil {
		s.active.priv = nv.signer
		if s.primary != nil {
			s.primary.priv = made[0].signer
		}
	} else {
		for _, nv := range made {
			wipe(nv.signer) // locked while we were generating
		}
	}
	d.slots[name] = s
	return rec.key.clone(), nil
}

// List returns every key, sorted by name. It works while d is locked.
func (d *Dir) List() ([]Key, error) {
	d.mu.RLock()
	keys := make([]Key, 0, len(d.slots))
	for _, s := range d.slots {
		keys = append(keys, s.rec.key.clone())
	}
	d.mu.RUnlock()
	slices.SortFunc(keys, func(a, b Key) int { return strings.Compare(a.Name, b.Name) })
	return keys, nil
}

// Key returns the public description of the key named name. It works while
// d is locked.
func (d *Dir) Key(name string) (Key, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s := d.slots[name]
	if s == nil {
		return Key{}, fmt.Errorf("key %q: %w in %s", name, ErrNotFound, d.path)
	}
	return s.rec.key.clone(), nil
}

// Signer returns a crypto.Signer for the active version of the key named
// name. It fails with ErrNotFound, ErrLocked, ErrRetired if no version may
// sign now (all revoked, or the active one's window has ended), or
// ErrUnavailable if the key's token cannot be used. The Signer is bound to
// that version: it stops working while d is locked, works again once it
// is unlocked, and fails with ErrRetired once the version is rotated out
// or revoked; its Public key tells which version it is
// (Key.VersionNumber).
func (d *Dir) Signer(name string) (crypto.Signer, error) {
	d.mu.RLock()
	s := d.slots[name]
	locked := d.kek == nil
	var a *versionSigner
	var usable error
	var ready bool
	if s != nil && !locked {
		if a = s.active; a == nil {
			usable = s.noActive()
		} else {
			usable = a.usable(d.now())
			ready = a.priv != nil && !d.tokenBroken(a.backend)
		}
	}
	d.mu.RUnlock()
	switch {
	case s == nil:
		return nil, fmt.Errorf("key %q: %w in %s", name, ErrNotFound, d.path)
	case locked:
		return nil, fmt.Errorf("key %q: %w; run 'signet unlock'", name, ErrLocked)
	case usable != nil:
		return nil, usable
	}
	if !ready {
		if err := d.reconnect(a.backend); err != nil {
			return nil, fmt.Errorf("key %q: %w", name, err)
		}
	}
	return a, nil
}

// noActive explains why s has no active version. d.mu is held.
func (s *slot) noActive() error {
	name := s.rec.key.Name
	last := s.rec.versions[len(s.rec.versions)-1].v
	return fmt.Errorf("key %q: %w: it has no active version (version %d was %s at %s, %s); run 'signet key rotate %s' for a new one",
		name, ErrRetired, last.Number, last.State, formatTime(last.Updated), last.Reason, name)
}

// wipe zeros what it can of a private key. See the package documentation.
func wipe(k crypto.Signer) {
	switch k := k.(type) {
	case ed25519.PrivateKey:
		clear(k)
	case *ecdsa.PrivateKey:
		clearInts(k.D)
	case *rsa.PrivateKey:
		clearInts(k.D, k.Precomputed.Dp, k.Precomputed.Dq, k.Precomputed.Qinv)
		clearInts(k.Primes...)
	}
}

func clearInts(xs ...*big.Int) {
	for _, x := range xs {
		if x != nil {
			clear(x.Bits())
		}
	}
}
