package keystore

import (
	"crypto"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	keyFormat2 = 2 // of key files with versions
	keyAD2     = "signet-keystore-key-v2"
	macInfo    = "signet keystore key file mac v2"
	macLen     = sha256.Size

	// maxKeyFileSize bounds a key file: a key rotated weekly for years
	// keeps every version, about 4 KiB each for RSA-4096.
	maxKeyFileSize = 4 << 20
	// maxVersions bounds the versions of one key.
	maxVersions = 1000
	// maxBackSig bounds an OpenPGP back signature (RSA-4096: about 560
	// bytes).
	maxBackSig = 4096
)

// keyFile is the JSON form of a format 1 key file: one key pair, as
// written before keys had versions.
type keyFile struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
	Type    Type   `json:"type"`
	Usage   string `json:"usage"`
	UID     string `json:"uid,omitempty"`
	Created string `json:"created"` // RFC 3339, UTC, whole seconds
	Public  []byte `json:"public"`  // PKIX DER
	Nonce   []byte `json:"nonce"`
	Sealed  []byte `json:"sealed"`            // sealed PKCS #8 DER, or the object id in a token
	Backend string `json:"backend,omitempty"` // the token holding the private key; "" for this file
}

// keyFile2 is the JSON form of a format 2 key file: a key with versions.
type keyFile2 struct {
	Version      int           `json:"version"`
	Name         string        `json:"name"`
	Type         Type          `json:"type"`
	Usage        string        `json:"usage"`
	UID          string        `json:"uid,omitempty"`
	Created      string        `json:"created"`
	Serial       int           `json:"serial"`
	PrimarySigns bool          `json:"primary_signs,omitempty"`
	Primary      *sealedFile   `json:"primary,omitempty"`
	Versions     []versionFile `json:"versions"`
	MAC          []byte        `json:"mac,omitempty"`
}

// sealedFile is one key pair in a format 2 key file.
type sealedFile struct {
	Public  []byte `json:"public"` // PKIX DER
	Nonce   []byte `json:"nonce"`
	Sealed  []byte `json:"sealed"`            // sealed PKCS #8 DER, or the object id in a token
	Backend string `json:"backend,omitempty"` // the token holding the private key
}

type versionFile struct {
	Number    int    `json:"version"`
	State     State  `json:"state"`
	Created   string `json:"created"`
	NotBefore string `json:"not_before"`
	NotAfter  string `json:"not_after,omitempty"`
	Updated   string `json:"updated"`
	Revoked   string `json:"revoked,omitempty"`
	Reason    Reason `json:"reason,omitempty"`
	BackSig   []byte `json:"back_sig,omitempty"`
	sealedFile
}

// record is a parsed key file: the public Key and the still-sealed
// private keys. A record never changes once built, except the token
// object ids, which are filled in at the first unlock: Rotate and Revoke
// build a new record.
type record struct {
	key          Key
	format       int // 1 or 2
	serial       int
	primarySigns bool       // an OpenPGP key whose version 1 is its primary
	primary      *sealedKey // a separate OpenPGP primary key
	versions     []*sealedKey
	mac          []byte
}

// sealedKey is one key pair of a record: its public description and its
// sealed private key (or token object id).
type sealedKey struct {
	v      Version // for a separate primary: Number 0, the key's creation time
	pubDER []byte
	nonce  []byte
	sealed []byte

	objectID []byte // of a token key, unsealed at the first unlock; guarded by Dir.mu
}

// parseKeyFile parses and checks the contents of a key file of either
// format. It does not need the KEK; the seals and the MAC are checked at
// unlock.
func parseKeyFile(data []byte) (*record, error) {
	var probe struct {
		Version int `json:"version"`
	}
	if err := jsonUnmarshalLoose(data, &probe); err != nil {
		return nil, err
	}
	switch probe.Version {
	case version:
		return parseKeyFile1(data)
	case keyFormat2:
		return parseKeyFile2(data)
	}
	return nil, fmt.Errorf("unsupported version %d; this build reads versions %d and %d", probe.Version, version, keyFormat2)
}

func parseKeyFile1(data []byte) (*record, error) {
	var f keyFile
	if err := decodeStrict(data, &f); err != nil {
		return nil, err
	}
	if err := checkHead(f.Name, f.Type, f.Usage, f.UID); err != nil {
		return nil, err
	}
	created, err := parseTime("created", f.Created)
	if err != nil {
		return nil, err
	}
	sk, err := parseSealed(sealedFile{Public: f.Public, Nonce: f.Nonce, Sealed: f.Sealed, Backend: f.Backend}, f.Type)
	if err != nil {
		return nil, err
	}
	sk.v.Number, sk.v.State = 1, Active
	sk.v.Created, sk.v.NotBefore, sk.v.Updated = created, created, created
	r := &record{format: version, serial: 0, primarySigns: f.Type.isPGP(), versions: []*sealedKey{sk}}
	r.key = Key{Name: f.Name, Type: f.Type, Usage: f.Usage, UID: f.UID, Created: created}
	r.build()
	return r, nil
}

func parseKeyFile2(data []byte) (*record, error) {
	var f keyFile2
	if err := decodeStrict(data, &f); err != nil {
		return nil, err
	}
	if err := checkHead(f.Name, f.Type, f.Usage, f.UID); err != nil {
		return nil, err
	}
	created, err := parseTime("created", f.Created)
	if err != nil {
		return nil, err
	}
	if f.Serial < 1 {
		return nil, fmt.Errorf("serial %d; want at least 1", f.Serial)
	}
	if len(f.MAC) != macLen {
		return nil, fmt.Errorf("mac is %d bytes; want %d", len(f.MAC), macLen)
	}
	pgp := f.Type.isPGP()
	switch {
	case pgp && f.PrimarySigns == (f.Primary != nil):
		return nil, errors.New("an OpenPGP key needs exactly one of primary and primary_signs")
	case !pgp && (f.PrimarySigns || f.Primary != nil):
		return nil, fmt.Errorf("a %s key has no OpenPGP primary", f.Type)
	case len(f.Versions) == 0 || len(f.Versions) > maxVersions:
		return nil, fmt.Errorf("%d versions; want 1 to %d", len(f.Versions), maxVersions)
	}
	r := &record{format: keyFormat2, serial: f.Serial, primarySigns: f.PrimarySigns, mac: f.MAC}
	r.key = Key{Name: f.Name, Type: f.Type, Usage: f.Usage, UID: f.UID, Created: created}
	if f.Primary != nil {
		if r.primary, err = parseSealed(*f.Primary, f.Type); err != nil {
			return nil, fmt.Errorf("primary: %w", err)
		}
		r.primary.v.Created, r.primary.v.NotBefore, r.primary.v.Updated = created, created, created
	}
	active := 0
	for i, vf := range f.Versions {
		sk, err := parseVersion(vf, f.Type)
		if err != nil {
			return nil, fmt.Errorf("version %d: %w", vf.Number, err)
		}
		if i > 0 && vf.Number <= f.Versions[i-1].Number || vf.Number < 1 {
			return nil, fmt.Errorf("version numbers must increase from 1; %d follows %d", vf.Number, f.Versions[max(i-1, 0)].Number)
		}
		subkey := pgp && !(f.PrimarySigns && vf.Number == 1)
		if subkey != (len(vf.BackSig) > 0) {
			return nil, fmt.Errorf("version %d: back_sig is for the subkeys of OpenPGP keys, and they need one", vf.Number)
		}
		if f.PrimarySigns && vf.Number == 1 && vf.State == Revoked {
			return nil, errors.New("version 1 of this key is its OpenPGP primary key, which cannot be revoked")
		}
		if vf.State == Active {
			active++
		}
		r.versions = append(r.versions, sk)
	}
	if active > 1 {
		return nil, fmt.Errorf("%d active versions; at most one signs", active)
	}
	r.build()
	return r, nil
}

func checkHead(name string, t Type, usage, uid string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if _, err := ParseType(string(t)); err != nil {
		return err
	}
	if err := validUsage(usage); err != nil {
		return err
	}
	return validUID(uid)
}

func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || t.UTC().Format(time.RFC3339) != s {
		return time.Time{}, fmt.Errorf("%s %q is not a UTC RFC 3339 time like 2006-01-02T15:04:05Z", field, s)
	}
	return t.UTC(), nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func parseSealed(f sealedFile, t Type) (*sealedKey, error) {
	if f.Backend != "" {
		if err := ValidName(f.Backend); err != nil {
			return nil, fmt.Errorf("backend: %w", err)
		}
	}
	pub, err := x509.ParsePKIXPublicKey(f.Public)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	if pt, ok := typeOf(pub); !ok || pt != t.material() {
		return nil, fmt.Errorf("public key is not a %s key", t)
	}
	if len(f.Nonce) != chacha20poly1305.NonceSizeX {
		return nil, fmt.Errorf("nonce is %d bytes; want %d", len(f.Nonce), chacha20poly1305.NonceSizeX)
	}
	if len(f.Sealed) <= chacha20poly1305.Overhead {
		return nil, fmt.Errorf("sealed private key is only %d bytes", len(f.Sealed))
	}
	return &sealedKey{v: Version{Public: pub, Backend: f.Backend, fingerprint: Fingerprint(pub)}, pubDER: f.Public, nonce: f.Nonce, sealed: f.Sealed}, nil
}

func parseVersion(f versionFile, t Type) (*sealedKey, error) {
	sk, err := parseSealed(f.sealedFile, t)
	if err != nil {
		return nil, err
	}
	v := &sk.v
	v.Number, v.State, v.Reason = f.Number, f.State, f.Reason
	if len(f.BackSig) > maxBackSig {
		return nil, fmt.Errorf("back_sig is %d bytes; the limit is %d", len(f.BackSig), maxBackSig)
	}
	v.BackSig = f.BackSig
	for _, p := range []struct {
		name string
		s    string
		to   *time.Time
		opt  bool
	}{{"created", f.Created, &v.Created, false}, {"not_before", f.NotBefore, &v.NotBefore, false}, {"updated", f.Updated, &v.Updated, false},
		{"not_after", f.NotAfter, &v.NotAfter, true}, {"revoked", f.Revoked, &v.Revoked, true}} {
		if p.opt && p.s == "" {
			continue
		}
		if *p.to, err = parseTime(p.name, p.s); err != nil {
			return nil, err
		}
	}
	switch {
	case !slices.Contains([]State{Active, Retired, Revoked}, v.State):
		return nil, fmt.Errorf("state %q; want active, retired or revoked", v.State)
	case !v.NotAfter.IsZero() && v.NotAfter.Before(v.NotBefore):
		return nil, fmt.Errorf("not_after %s is before not_before %s", f.NotAfter, f.NotBefore)
	case (v.State == Revoked) != !v.Revoked.IsZero() || (v.State == Revoked) != (v.Reason != ""):
		return nil, errors.New("a revoked version, and only one, has a revocation time and reason")
	case v.State == Revoked && !slices.Contains(Reasons(), v.Reason):
		return nil, fmt.Errorf("reason %q; want compromised, superseded or retired", v.Reason)
	}
	return sk, nil
}

// build fills in r.key from the versions.
func (r *record) build() {
	k := &r.key
	k.Versions = make([]Version, len(r.versions))
	k.Version, k.PrimarySigns = 0, r.primarySigns
	for i, sk := range r.versions {
		k.Versions[i] = sk.v
		if sk.v.State == Active {
			k.Version = sk.v.Number
		}
	}
	// What verifiers trust: an OpenPGP key's primary, else the active
	// version, or the latest if none is active.
	trusted := r.versions[len(r.versions)-1]
	switch {
	case r.primary != nil:
		trusted = r.primary
	case r.primarySigns:
		trusted = r.versions[0]
	case k.Version != 0:
		trusted = r.version(k.Version)
	}
	k.Public, k.Backend, k.fingerprint = trusted.v.Public, trusted.v.Backend, trusted.v.fingerprint
}

// version returns version n of r, or nil.
func (r *record) version(n int) *sealedKey {
	for _, sk := range r.versions {
		if sk.v.Number == n {
			return sk
		}
	}
	return nil
}

// active returns the active version, or nil.
func (r *record) active() *sealedKey {
	if r.key.Version == 0 {
		return nil
	}
	return r.version(r.key.Version)
}

// certifier returns the key pair that certifies an OpenPGP key's
// subkeys: the separate primary, or version 1 of a key whose primary
// signs.
func (r *record) certifier() *sealedKey {
	if r.primary != nil {
		return r.primary
	}
	if r.primarySigns {
		return r.versions[0]
	}
	return nil
}

// all returns every key pair of r: the primary, if separate, then the
// versions.
func (r *record) all() []*sealedKey {
	if r.primary == nil {
		return r.versions
	}
	return append([]*sealedKey{r.primary}, r.versions...)
}

func (r *record) marshal() ([]byte, error) {
	if r.format == version {
		sk := r.versions[0]
		return marshal(keyFile{
			Version: version, Name: r.key.Name, Type: r.key.Type, Usage: r.key.Usage, UID: r.key.UID,
			Created: formatTime(r.key.Created),
			Public:  sk.pubDER, Nonce: sk.nonce, Sealed: sk.sealed, Backend: sk.v.Backend,
		})
	}
	f := r.file2()
	f.MAC = r.mac
	return marshal(f)
}

func (r *record) file2() keyFile2 {
	f := keyFile2{Version: keyFormat2, Name: r.key.Name, Type: r.key.Type, Usage: r.key.Usage, UID: r.key.UID,
		Created: formatTime(r.key.Created), Serial: r.serial, PrimarySigns: r.primarySigns}
	if p := r.primary; p != nil {
		f.Primary = &sealedFile{Public: p.pubDER, Nonce: p.nonce, Sealed: p.sealed, Backend: p.v.Backend}
	}
	for _, sk := range r.versions {
		v := sk.v
		f.Versions = append(f.Versions, versionFile{Number: v.Number, State: v.State, Created: formatTime(v.Created),
			NotBefore: formatTime(v.NotBefore), NotAfter: formatTime(v.NotAfter), Updated: formatTime(v.Updated),
			Revoked: formatTime(v.Revoked), Reason: v.Reason, BackSig: v.BackSig,
			sealedFile: sealedFile{Public: sk.pubDER, Nonce: sk.nonce, Sealed: sk.sealed, Backend: v.Backend}})
	}
	return f
}

// computeMAC returns the MAC of a format 2 record under kek: HMAC-SHA256
// of its JSON encoding without the mac, keyed from the KEK. It
// authenticates what changes after creation (states, windows,
// revocations), which the seals cannot cover.
func (r *record) computeMAC(kek []byte) []byte {
	f := r.file2()
	data, err := marshal(f)
	if err != nil {
		panic("keystore: encoding a key file: " + err.Error()) // unreachable: plain data
	}
	key, err := hkdf.Key(sha256.New, kek, nil, macInfo, 32)
	if err != nil {
		panic("keystore: hkdf: " + err.Error()) // unreachable: the length is fixed
	}
	defer clear(key)
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// ad is the additional data sealed with the private key of sk: in format
// 1 everything else in the file, in format 2 everything about the key
// pair that never changes, so that no key pair can be changed or moved to
// another key or version undetected. The MAC covers the rest.
func (r *record) ad(sk *sealedKey) []byte {
	sum := sha256.Sum256(sk.pubDER)
	var ad []byte
	var fields []string
	if r.format == version {
		ad = []byte(keyAD)
		fields = []string{r.key.Name, string(r.key.Type), r.key.Usage, r.key.UID, formatTime(r.key.Created), string(sum[:])}
	} else {
		ad = []byte(keyAD2)
		which := "primary" // the only key pair numbered 0
		if sk.v.Number != 0 {
			which = "version=" + strconv.Itoa(sk.v.Number)
		}
		fields = []string{r.key.Name, string(r.key.Type), r.key.Usage, r.key.UID, which, formatTime(sk.v.Created), string(sum[:])}
	}
	for _, f := range fields {
		ad = append(append(ad, 0), f...)
	}
	if sk.v.Backend != "" { // appended only for token keys: format 1 file keys keep their AD
		ad = append(append(append(ad, 0), "backend="...), sk.v.Backend...)
	}
	return ad
}

// newSealed seals secret (PKCS #8 DER, or a token object id) for a key
// pair of r whose public description is v.
func (r *record) newSealed(v Version, secret []byte, kek []byte) (*sealedKey, error) {
	pubDER, err := x509.MarshalPKIXPublicKey(v.Public)
	if err != nil {
		return nil, err
	}
	v.fingerprint = Fingerprint(v.Public)
	sk := &sealedKey{v: v, pubDER: pubDER}
	sk.nonce, sk.sealed = seal(kek, secret, r.ad(sk))
	return sk, nil
}

// unseal decrypts what sk seals.
func (r *record) unseal(sk *sealedKey, kek []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, sk.nonce, sk.sealed, r.ad(sk))
	if err != nil {
		return nil, errors.New("private key does not decrypt: the file was modified, renamed or copied from elsewhere; restore it from a backup")
	}
	return pt, nil
}

// open decrypts the private key of sk. Its errors never include key
// material.
func (r *record) open(sk *sealedKey, kek []byte) (crypto.Signer, error) {
	if sk.v.Backend != "" {
		return nil, fmt.Errorf("the private key is in token %q, not in this file", sk.v.Backend)
	}
	der, err := r.unseal(sk, kek)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("decrypted private key is not valid PKCS #8")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("decrypted private key cannot sign")
	}
	if pub, ok := s.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(sk.v.Public) {
		wipe(s)
		return nil, errors.New("private key does not match the stored public key")
	}
	return s, nil
}

// check verifies with kek what Open could not: the MAC of a format 2
// record, and that every sealed key opens, including those of retired and
// revoked versions, which are never loaded.
func (r *record) check(kek []byte) error {
	if r.format == keyFormat2 && !hmac.Equal(r.mac, r.computeMAC(kek)) {
		return errors.New("the key file's MAC does not match: its versions, windows or states were edited; restore it from a backup")
	}
	for _, sk := range r.all() {
		pt, err := r.unseal(sk, kek)
		if err != nil {
			return err
		}
		if sk.v.Backend != "" {
			sk.objectID = pt
		} else {
			clear(pt)
		}
	}
	return nil
}
