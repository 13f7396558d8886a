package keystore

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/signet-dev/signet/custody"
)

const (
	headerFile  = "keystore.json"
	keysDir     = "keys"
	version     = 1
	maxFileSize = 64 << 10

	// Argon2id bounds accepted from a header: the floor stops a tampered
	// header from weakening the KDF, the ceiling from exhausting memory.
	minTime, maxTime     = 1, 64
	minMemory, maxMemory = 19456, 4 << 20 // KiB
	minSalt, maxSalt     = 16, 64

	checkText = "signet keystore passphrase check v1"
	checkAD   = "signet-keystore-check-v1"
	keyAD     = "signet-keystore-key-v1"
	checkLen  = chacha20poly1305.NonceSizeX + len(checkText) + chacha20poly1305.Overhead

	version2   = 2 // of the header only; key files stay at version 1
	wrapAD     = "signet-keystore-kek-v2"
	wrappedLen = chacha20poly1305.NonceSizeX + chacha20poly1305.KeySize + chacha20poly1305.Overhead
)

// header is keystore.json. Version 1 derives the KEK from the passphrase
// itself; version 2 keeps a random KEK wrapped under a key derived from
// either a passphrase (KDF) or the custodians' secret (Custody).
type header struct {
	Version int             `json:"version"`
	KDF     *kdfParams      `json:"kdf,omitempty"`
	Check   []byte          `json:"check,omitempty"`       // v1: nonce || sealed checkText
	Custody json.RawMessage `json:"custody,omitempty"`     // v2: the custody.Set
	Wrapped []byte          `json:"wrapped_kek,omitempty"` // v2: nonce || sealed KEK

	set *custody.Set // parsed Custody
}

type kdfParams struct {
	Name      string `json:"name"`
	Salt      []byte `json:"salt"`
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
}

func newKDF() *kdfParams {
	return &kdfParams{Name: "argon2id", Salt: randBytes(16), Time: 3, MemoryKiB: 64 << 10, Threads: 2}
}

func (p kdfParams) deriveKEK(passphrase []byte) []byte {
	return argon2.IDKey(passphrase, p.Salt, p.Time, p.MemoryKiB, p.Threads, chacha20poly1305.KeySize)
}

func (p *kdfParams) check() error {
	switch {
	case p == nil:
		return errors.New("kdf is missing")
	case p.Name != "argon2id":
		return fmt.Errorf("unsupported kdf %q; only argon2id is supported", p.Name)
	case len(p.Salt) < minSalt || len(p.Salt) > maxSalt:
		return fmt.Errorf("kdf salt is %d bytes; want %d to %d", len(p.Salt), minSalt, maxSalt)
	case p.Time < minTime || p.Time > maxTime:
		return fmt.Errorf("kdf time %d is outside %d to %d; the header may have been tampered with", p.Time, minTime, maxTime)
	case p.MemoryKiB < minMemory || p.MemoryKiB > maxMemory:
		return fmt.Errorf("kdf memory_kib %d is outside %d to %d; the header may have been tampered with", p.MemoryKiB, minMemory, maxMemory)
	case p.Threads < 1:
		return fmt.Errorf("kdf threads %d; want at least 1", p.Threads)
	}
	return nil
}

func parseHeader(data []byte) (header, error) {
	var h header
	if err := decodeStrict(data, &h); err != nil {
		return h, err
	}
	switch h.Version {
	case 1:
		if err := h.KDF.check(); err != nil {
			return h, err
		}
		if len(h.Check) != checkLen {
			return h, fmt.Errorf("check is %d bytes; want %d", len(h.Check), checkLen)
		}
		if h.Custody != nil || h.Wrapped != nil {
			return h, errors.New("version 1 has no custody or wrapped_kek")
		}
	case version2:
		if h.Check != nil {
			return h, errors.New("version 2 has no check; wrapped_kek replaces it")
		}
		if (h.KDF == nil) == (h.Custody == nil) {
			return h, errors.New("version 2 needs exactly one of kdf (passphrase) and custody (custodians' shares)")
		}
		if h.KDF != nil {
			if err := h.KDF.check(); err != nil {
				return h, err
			}
		} else {
			set, err := custody.ParseSet(h.Custody)
			if err != nil {
				return h, err
			}
			h.set = set
		}
		if len(h.Wrapped) != wrappedLen {
			return h, fmt.Errorf("wrapped_kek is %d bytes; want %d", len(h.Wrapped), wrappedLen)
		}
	default:
		return h, fmt.Errorf("unsupported version %d; this build reads versions 1 and %d", h.Version, version2)
	}
	return h, nil
}

// mode is how h unlocks: "passphrase" or "custody".
func (h *header) mode() string {
	if h.set != nil {
		return ModeCustody
	}
	return ModePassphrase
}

// wrapAD binds the wrapped KEK to how it is unwrapped, so that a header
// cannot be edited to unwrap it another way.
func (h *header) wrapAD() []byte {
	ad := []byte(wrapAD + "\x00" + h.mode())
	if h.set != nil {
		ad = append(append(ad, 0), h.set.ID...)
	}
	return ad
}

// custodyWrapKey derives the key that wraps the KEK from the custodians'
// secret. The secret is a uniformly random scalar, so no slow KDF is needed.
func custodyWrapKey(secret []byte, set *custody.Set) []byte {
	k, err := hkdf.Key(sha256.New, secret, []byte(set.ID), "signet keystore custody wrap v1", chacha20poly1305.KeySize)
	if err != nil {
		panic("keystore: hkdf: " + err.Error()) // unreachable: the length is fixed
	}
	return k
}

// wrap seals kek in h under wrapKey.
func (h *header) wrap(wrapKey, kek []byte) {
	nonce, sealed := seal(wrapKey, kek, h.wrapAD())
	h.Wrapped = append(nonce, sealed...)
}

// unwrap opens the KEK in h with wrapKey; false if it is the wrong key.
func (h *header) unwrap(wrapKey []byte) ([]byte, bool) {
	aead, err := chacha20poly1305.NewX(wrapKey)
	if err != nil {
		return nil, false
	}
	n := aead.NonceSize()
	kek, err := aead.Open(nil, h.Wrapped[:n], h.Wrapped[n:], h.wrapAD())
	return kek, err == nil
}

// passphraseKEK returns the KEK of a passphrase-mode header, or false if
// the passphrase is wrong.
func (h *header) passphraseKEK(passphrase []byte) ([]byte, bool) {
	if h.KDF == nil {
		return nil, false
	}
	derived := h.KDF.deriveKEK(passphrase)
	if h.Version == 1 {
		if !openCheck(derived, h.Check) {
			clear(derived)
			return nil, false
		}
		return derived, true
	}
	defer clear(derived)
	return h.unwrap(derived)
}

func sealCheck(kek []byte) []byte {
	nonce, sealed := seal(kek, []byte(checkText), []byte(checkAD))
	return append(nonce, sealed...)
}

func openCheck(kek, check []byte) bool {
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return false
	}
	n := aead.NonceSize()
	pt, err := aead.Open(nil, check[:n], check[n:], []byte(checkAD))
	return err == nil && string(pt) == checkText
}

// keyFile is the JSON form of keys/<name>.json.
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

// record is a parsed key file: the public Key and the still-sealed private key.
type record struct {
	key    Key
	pubDER []byte
	nonce  []byte
	sealed []byte

	objectID []byte // of a token key, unsealed at the first unlock; guarded by Dir.mu
}

// parseKeyFile parses and checks the contents of a key file. It does not
// need the KEK; record.open decrypts.
func parseKeyFile(data []byte) (*record, error) {
	var f keyFile
	if err := decodeStrict(data, &f); err != nil {
		return nil, err
	}
	if f.Version != version {
		return nil, fmt.Errorf("unsupported version %d; this build reads version %d", f.Version, version)
	}
	if err := ValidName(f.Name); err != nil {
		return nil, err
	}
	if _, err := ParseType(string(f.Type)); err != nil {
		return nil, err
	}
	if err := validUsage(f.Usage); err != nil {
		return nil, err
	}
	if err := validUID(f.UID); err != nil {
		return nil, err
	}
	if f.Backend != "" {
		if err := ValidName(f.Backend); err != nil {
			return nil, fmt.Errorf("backend: %w", err)
		}
	}
	created, err := time.Parse(time.RFC3339, f.Created)
	if err != nil || created.UTC().Format(time.RFC3339) != f.Created {
		return nil, fmt.Errorf("created %q is not a UTC RFC 3339 time like 2006-01-02T15:04:05Z", f.Created)
	}
	pub, err := x509.ParsePKIXPublicKey(f.Public)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	if t, ok := typeOf(pub); !ok || t != f.Type.material() {
		return nil, fmt.Errorf("public key is not a %s key", f.Type)
	}
	if len(f.Nonce) != chacha20poly1305.NonceSizeX {
		return nil, fmt.Errorf("nonce is %d bytes; want %d", len(f.Nonce), chacha20poly1305.NonceSizeX)
	}
	if len(f.Sealed) <= chacha20poly1305.Overhead {
		return nil, fmt.Errorf("sealed private key is only %d bytes", len(f.Sealed))
	}
	return &record{
		key:    Key{Name: f.Name, Type: f.Type, Usage: f.Usage, UID: f.UID, Created: created.UTC(), Public: pub, Backend: f.Backend, fingerprint: fingerprint(pub)},
		pubDER: f.Public, nonce: f.Nonce, sealed: f.Sealed,
	}, nil
}

func newRecord(spec Spec, created time.Time, priv crypto.Signer, kek []byte) (*record, error) {
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, errors.New("cannot encode private key as PKCS #8")
	}
	defer clear(der)
	r := &record{
		key: Key{Name: spec.Name, Type: spec.Type, Usage: spec.Usage, UID: spec.UID, Created: created.UTC().Truncate(time.Second),
			Public: priv.Public(), fingerprint: fingerprint(priv.Public())},
		pubDER: pubDER,
	}
	r.nonce, r.sealed = seal(kek, der, r.ad())
	return r, nil
}

func (r *record) marshal() ([]byte, error) {
	return marshal(keyFile{
		Version: version, Name: r.key.Name, Type: r.key.Type, Usage: r.key.Usage, UID: r.key.UID,
		Created: r.key.Created.Format(time.RFC3339),
		Public:  r.pubDER, Nonce: r.nonce, Sealed: r.sealed, Backend: r.key.Backend,
	})
}

// ad is the additional data sealed with the private key: everything else in
// the file, so that no part of it can be changed or moved undetected.
func (r *record) ad() []byte {
	sum := sha256.Sum256(r.pubDER)
	ad := []byte(keyAD)
	for _, f := range []string{r.key.Name, string(r.key.Type), r.key.Usage, r.key.UID, r.key.Created.Format(time.RFC3339), string(sum[:])} {
		ad = append(append(ad, 0), f...)
	}
	if r.key.Backend != "" { // appended only for token keys: file keys keep their AD
		ad = append(append(append(ad, 0), "backend="...), r.key.Backend...)
	}
	return ad
}

// newTokenRecord describes a key generated inside a token: what is sealed
// is the token's object id, so that the record cannot be edited (its usage
// changed, say) without the KEK.
func newTokenRecord(spec Spec, created time.Time, backend string, id []byte, pub crypto.PublicKey, kek []byte) (*record, error) {
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	r := &record{
		key: Key{Name: spec.Name, Type: spec.Type, Usage: spec.Usage, UID: spec.UID, Created: created.UTC().Truncate(time.Second),
			Public: pub, Backend: backend, fingerprint: fingerprint(pub)},
		pubDER: pubDER,
	}
	r.nonce, r.sealed = seal(kek, id, r.ad())
	return r, nil
}

// unseal decrypts what the record seals.
func (r *record) unseal(kek []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, r.nonce, r.sealed, r.ad())
	if err != nil {
		return nil, errors.New("private key does not decrypt: the file was modified, renamed or copied from elsewhere; restore it from a backup")
	}
	return pt, nil
}

// open decrypts the private key. Its errors never include key material.
func (r *record) open(kek []byte) (crypto.Signer, error) {
	if r.key.Backend != "" {
		return nil, fmt.Errorf("the private key is in token %q, not in this file", r.key.Backend)
	}
	der, err := r.unseal(kek)
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
	if pub, ok := s.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(r.key.Public) {
		wipe(s)
		return nil, errors.New("private key does not match the stored public key")
	}
	return s, nil
}

func typeOf(pub crypto.PublicKey) (Type, bool) {
	switch pub := pub.(type) {
	case ed25519.PublicKey:
		return Ed25519, true
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return ECDSAP256, true
		case elliptic.P384():
			return ECDSAP384, true
		}
	case *rsa.PublicKey:
		switch pub.N.BitLen() {
		case 3072:
			return RSA3072, true
		case 4096:
			return RSA4096, true
		}
	}
	return "", false
}

func generate(t Type) (crypto.Signer, error) {
	switch t.material() {
	case Ed25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return nil, fmt.Errorf("unknown key type %q", t)
}

func seal(kek, plaintext, ad []byte) (nonce, sealed []byte) {
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		panic("keystore: KEK has the wrong length") // unreachable: KEKs are derived here
	}
	nonce = randBytes(aead.NonceSize())
	return nonce, aead.Seal(nil, nonce, plaintext, ad)
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails; see crypto/rand.Read
	return b
}

// decodeStrict decodes exactly one JSON object with no unknown fields.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed: data after the JSON object")
	}
	return nil
}

func marshal(v any) ([]byte, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	return append(data, '\n'), err
}

// readFile reads a regular file of at most maxFileSize bytes.
func readFile(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d KiB, so not a keystore file", path, maxFileSize>>10)
	}
	return data, nil
}

// writeNew atomically creates path holding data, with mode 0600. It fails
// with an error matching fs.ErrExist if path already exists.
func writeNew(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*") // mode 0600; never matches *.json
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(f.Name(), path) // unlike os.Rename, never replaces path
	}
	if err == nil {
		err = os.Remove(f.Name())
	}
	if err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
