package keystore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/signet-dev/signet/custody"
	"github.com/signet-dev/signet/internal/strictjson"
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

func openCheck(kek, check []byte) bool {
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return false
	}
	n := aead.NonceSize()
	pt, err := aead.Open(nil, check[:n], check[n:], []byte(checkAD))
	return err == nil && string(pt) == checkText
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
	if err := strictjson.Unmarshal(data, v); err != nil {
		return fmt.Errorf("malformed: %w", err)
	}
	return nil
}

func marshal(v any) ([]byte, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	return append(data, '\n'), err
}

// readFile reads a regular file of at most maxFileSize bytes.
func readFile(path string) ([]byte, error) { return readFileMax(path, maxFileSize) }

// readFileMax reads a regular file of at most limit bytes.
func readFileMax(path string, limit int64) ([]byte, error) {
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
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d KiB, so not a keystore file", path, limit>>10)
	}
	return data, nil
}

// jsonUnmarshalLoose decodes data into v, ignoring unknown fields: for
// reading a file's version before decoding it strictly.
func jsonUnmarshalLoose(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("malformed: %w", err)
	}
	return nil
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
