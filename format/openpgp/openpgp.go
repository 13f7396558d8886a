// Package openpgp produces OpenPGP (RFC 4880) v4 keys and signatures from
// a [crypto.Signer], as GnuPG 2.2 (gpg, gpgv), apt and dnf verify them.
//
// It writes exactly these kinds of packets, all version 4:
//
//   - the public key packet of a key: RSA (algorithm 1) or legacy EdDSA
//     over Ed25519 (algorithm 22, OID 1.3.6.1.4.1.11591.15.1), the forms
//     GnuPG 2.2 and Debian 12's apt accept;
//   - a user id packet and its positive certification (signature type
//     0x13) by the key itself, which together make a certificate that
//     `gpg --import` accepts ([Signer.Certificate]);
//   - public subkey packets, each with a subkey binding signature (0x18)
//     by the primary key that grants signing only and may end at an
//     expiry, carrying the primary key binding signature (0x19) the
//     subkey made over itself ([BackSignature]) that GnuPG requires of
//     signing subkeys, and optionally a subkey revocation (0x28) with its
//     reason ([Subkey]);
//   - document signatures: binary (type 0x00, [Signer.Detached]) over a
//     SHA-256 state the caller has fed with the document, and canonical
//     text (type 0x01) inside a cleartext-signed message
//     ([Signer.Clearsign]), made by the primary key ([NewSigner]) or by a
//     signing subkey ([NewSubkeySigner]).
//
// # Keys with subkeys
//
// A key that rotates keeps one primary key, the identity its users
// trust, and signs with one subkey per validity window. The primary's
// self-certification then grants certification only ([NewCertifyingKey]):
// it signs nothing but the certificate. Each subkey's binding says when
// it expires (the end of its window), so signatures it made inside its
// window stay good after it expires (gpg says "Good signature" and notes
// that the key has expired). A revocation repudiates everything the
// subkey signed. GnuPG alone would not enforce that: gpg and gpgv accept
// signatures by revoked and expired keys with exit status 0, only
// warning. So a revoked subkey also gets a newer binding, dated at its
// revocation, that grants no usage; gpg and gpgv then refuse its
// signatures ("Wrong key usage"), and gpg lists the subkey as revoked,
// with the reason. Every certification is dated by the caller (the key's
// creation, the window's last change, the revocation), so for a given
// key state the certificate is the same bytes every time.
//
// Every signature hashes SHA-256 and carries a creation time and the
// issuer fingerprint in its hashed area and the issuer key id in the
// unhashed area. The signature trailer (version, type, algorithms, hashed
// subpackets) is always built here, never taken from a caller, so a caller
// who supplies the document hash can obtain a document signature and
// nothing else: not a key certification, not a revocation, not a
// signature of another type (the type byte is inside the hashed trailer,
// at a position fixed by the trailer's length).
//
// The private key stays behind the crypto.Signer: RSA signs PKCS #1 v1.5
// over the SHA-256 digest, and EdDSA signs the 32-byte digest as its
// message, as legacy OpenPGP EdDSA defines, so any crypto.Signer holding
// an Ed25519 key (the file keystore or an HSM) works. go-crypto's own
// signing code needs private key types it defines, which is why the
// packets are written here; its parser checks them in [CheckDetached] and
// in the tests, and gpgv checks them there too.
//
// Armor ([Armor]) always carries the CRC-24 checksum line: GnuPG 2.2
// rejects some armored blocks without it.
//
// What this package does not do: v5 or v6 keys, encryption subkeys,
// revoking the primary key, or reading other people's keys.
package openpgp

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// OpenPGP constants used here (RFC 4880 §5.2.1, §9).
const (
	SigTypeBinary           = 0x00
	SigTypeText             = 0x01
	sigTypePositiveCert     = 0x13
	sigTypeSubkeyBinding    = 0x18
	sigTypePrimaryBinding   = 0x19
	sigTypeSubkeyRevocation = 0x28
	algoRSA                 = 1
	algoEdDSA               = 22
	hashSHA256              = 8
	tagSignature            = 2
	tagPublicKey            = 6
	tagUserID               = 13
	tagPublicSubkey         = 14
	subCreationTime         = 2
	subKeyExpiry            = 9
	subIssuer               = 16
	subPrefSymmetric        = 11
	subPrefHash             = 21
	subPrefCompression      = 22
	subPrimaryUserID        = 25
	subKeyFlags             = 27
	subRevocationReason     = 29
	subFeatures             = 30
	subEmbedded             = 32
	subIssuerFingerprint    = 33

	flagCertify = 0x01
	flagSign    = 0x02
)

// ed25519OID is 1.3.6.1.4.1.11591.15.1 in DER without tag and length.
var ed25519OID = []byte{0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01}

// Key is the public half of an OpenPGP v4 key or subkey: the key
// material, its creation time (part of the fingerprint, so it must never
// change), and for a primary key the user id its certificate names.
type Key struct {
	pub     crypto.PublicKey
	created time.Time
	uid     string // "" for a subkey
	flags   byte   // granted by the self-certification or the subkey binding
	body    []byte // public key packet body
	fp      [20]byte
}

// NewKey returns the OpenPGP key for pub, an ed25519.PublicKey or an RSA
// key of at least 2048 bits, created at created (whole seconds) with user
// id uid, which must be printable and non-empty: GnuPG refuses keys
// without one. The key certifies and signs documents itself.
func NewKey(pub crypto.PublicKey, created time.Time, uid string) (*Key, error) {
	if uid == "" || !utf8.ValidString(uid) || strings.ContainsAny(uid, "\x00\r\n") {
		return nil, fmt.Errorf("openpgp: user id %.80q: need a printable name such as 'Release Team <release@example.org>'", uid)
	}
	k, err := newKey(pub, created)
	if err != nil {
		return nil, err
	}
	k.uid, k.flags = uid, flagCertify|flagSign
	return k, nil
}

// NewCertifyingKey is NewKey for the primary key of a key that signs with
// subkeys: its self-certification grants certification only, so it signs
// nothing but its certificate's bindings and revocations.
func NewCertifyingKey(pub crypto.PublicKey, created time.Time, uid string) (*Key, error) {
	k, err := NewKey(pub, created, uid)
	if err != nil {
		return nil, err
	}
	k.flags = flagCertify
	return k, nil
}

// NewSubkey returns the OpenPGP signing subkey for pub, created at
// created. Its packet is a public subkey packet; its fingerprint is
// computed as a primary key's.
func NewSubkey(pub crypto.PublicKey, created time.Time) (*Key, error) {
	k, err := newKey(pub, created)
	if err != nil {
		return nil, err
	}
	k.flags = flagSign
	return k, nil
}

// IsSubkey reports whether k is a subkey.
func (k *Key) IsSubkey() bool { return k.uid == "" }

// Created returns the key's creation time.
func (k *Key) Created() time.Time { return k.created }

func newKey(pub crypto.PublicKey, created time.Time) (*Key, error) {
	if created.Unix() < 0 || created.Unix() > 1<<32-1 {
		return nil, fmt.Errorf("openpgp: creation time %v is outside what OpenPGP v4 can encode", created)
	}
	b := []byte{4}
	b = binary.BigEndian.AppendUint32(b, uint32(created.Unix()))
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, errors.New("openpgp: malformed Ed25519 public key")
		}
		b = append(b, algoEdDSA, byte(len(ed25519OID)))
		b = append(b, ed25519OID...)
		b = appendMPI(b, append([]byte{0x40}, k...)) // 0x40: native point encoding
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("openpgp: RSA key of %d bits is too small", k.N.BitLen())
		}
		b = append(b, algoRSA)
		b = appendMPI(b, k.N.Bytes())
		b = appendMPI(b, big.NewInt(int64(k.E)).Bytes())
	default:
		return nil, fmt.Errorf("openpgp: unsupported public key type %T; use pgp-ed25519 or pgp-rsa4096", pub)
	}
	k := &Key{pub: pub, created: created.UTC().Truncate(time.Second), body: b}
	h := sha1.New()
	k.writeKeyHash(h)
	h.Sum(k.fp[:0])
	return k, nil
}

// Fingerprint returns the v4 fingerprint: SHA-1 of the public key packet.
func (k *Key) Fingerprint() [20]byte { return k.fp }

// FingerprintHex returns the fingerprint as 40 uppercase hex digits, as
// gpg prints it.
func (k *Key) FingerprintHex() string { return strings.ToUpper(hex.EncodeToString(k.fp[:])) }

// KeyID returns the low 64 bits of the fingerprint.
func (k *Key) KeyID() uint64 { return binary.BigEndian.Uint64(k.fp[12:]) }

// UID returns the user id.
func (k *Key) UID() string { return k.uid }

// writeKeyHash writes the key as signatures over it hash it.
func (k *Key) writeKeyHash(h hash.Hash) {
	h.Write([]byte{0x99, byte(len(k.body) >> 8), byte(len(k.body))})
	h.Write(k.body)
}

// A Signer makes OpenPGP signatures with a key whose private half is
// behind a crypto.Signer: a primary key, which certifies (and, made with
// NewKey, signs documents), or a signing subkey.
type Signer struct {
	key     *Key
	primary *Key // the primary key of a subkey signer; key itself otherwise
	signer  crypto.Signer
}

// NewSigner returns a Signer for the primary key k whose private half is
// s. It checks that s holds k's key.
func NewSigner(k *Key, s crypto.Signer) (*Signer, error) {
	if k.IsSubkey() {
		return nil, errors.New("openpgp: NewSigner needs a primary key; sign with a subkey through NewSubkeySigner")
	}
	if !holds(s, k) {
		return nil, errors.New("openpgp: the signer does not hold this key")
	}
	return &Signer{key: k, primary: k, signer: s}, nil
}

// NewSubkeySigner returns a Signer that makes document signatures with
// sub, a signing subkey of primary, whose private half is s.
func NewSubkeySigner(primary, sub *Key, s crypto.Signer) (*Signer, error) {
	if primary.IsSubkey() || !sub.IsSubkey() {
		return nil, errors.New("openpgp: NewSubkeySigner needs a primary key and one of its subkeys")
	}
	if !holds(s, sub) {
		return nil, errors.New("openpgp: the signer does not hold this subkey")
	}
	return &Signer{key: sub, primary: primary, signer: s}, nil
}

func holds(s crypto.Signer, k *Key) bool {
	eq, ok := s.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(k.pub)
}

// Key returns the key s signs documents with: the primary key, or the
// subkey of a subkey signer.
func (s *Signer) Key() *Key { return s.key }

// Primary returns the primary key, whose certificate verifiers import.
func (s *Signer) Primary() *Key { return s.primary }

// Certificate returns the transferable public key: the public key packet,
// the user id packet and the key's self-certification of them, then each
// of subkeys with its binding and revocation. The self-certification is
// dated at the key's creation time, so for a given key and subkeys the
// certificate is the same bytes every time (Ed25519 and RSA PKCS #1 v1.5
// are deterministic). s must be the primary key's Signer.
func (s *Signer) Certificate(subkeys ...Subkey) ([]byte, error) {
	k := s.key
	if k.IsSubkey() {
		return nil, errors.New("openpgp: only the primary key certifies; Certificate needs its Signer")
	}
	hashed := subpackets(
		sub(subCreationTime, be32(k.created)),
		sub(subKeyFlags, []byte{k.flags}),
		sub(subPrefSymmetric, []byte{9, 8, 7}),
		sub(subPrefHash, []byte{10, 9, 8}),
		sub(subPrefCompression, []byte{2, 1, 0}),
		sub(subFeatures, []byte{0x01}),
		sub(subPrimaryUserID, []byte{1}),
		sub(subIssuerFingerprint, append([]byte{4}, k.fp[:]...)),
	)
	h := sha256.New()
	k.writeKeyHash(h)
	h.Write([]byte{0xB4})
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(k.uid))))
	h.Write([]byte(k.uid))
	sig, err := s.sign(h, sigTypePositiveCert, hashed)
	if err != nil {
		return nil, err
	}
	out := appendPacket(nil, tagPublicKey, k.body)
	out = appendPacket(out, tagUserID, []byte(k.uid))
	out = append(out, sig...)
	for i := range subkeys {
		b, err := s.appendSubkey(out, &subkeys[i])
		if err != nil {
			return nil, fmt.Errorf("openpgp: subkey %d: %w", i+1, err)
		}
		out = b
	}
	return out, nil
}

// Detached finishes h, a SHA-256 hash the caller has fed with the
// document, with a binary-document signature trailer dated t, and returns
// the signature packet. h must be fresh from the document: Detached writes
// the trailer into it.
func (s *Signer) Detached(h hash.Hash, t time.Time) ([]byte, error) {
	if h.Size() != sha256.Size || h.BlockSize() != sha256.BlockSize {
		return nil, errors.New("openpgp: the document hash must be SHA-256")
	}
	if err := s.signsDocuments(); err != nil {
		return nil, err
	}
	return s.sign(h, SigTypeBinary, s.docSubpackets(t))
}

// Clearsign returns the cleartext-signed form of text (RFC 4880 §7): the
// text, dash-escaped, followed by an armored canonical-text signature
// dated t. text must be valid UTF-8 without NUL bytes, lines end in LF or
// CRLF (a CR elsewhere is refused) and no line may exceed MaxLineBytes.
// Lines are written with LF endings; a final line ending is not signed, as
// the cleartext framework cannot represent it.
func (s *Signer) Clearsign(text []byte, t time.Time) ([]byte, error) {
	lines, err := textLines(text)
	if err != nil {
		return nil, err
	}
	if err := s.signsDocuments(); err != nil {
		return nil, err
	}
	h := sha256.New()
	for i, l := range lines {
		if i > 0 {
			h.Write([]byte("\r\n"))
		}
		h.Write(bytes.TrimRight(l, " \t"))
	}
	sig, err := s.sign(h, SigTypeText, s.docSubpackets(t))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(text) + 1024)
	out.WriteString("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n")
	for _, l := range lines {
		if len(l) > 0 && l[0] == '-' {
			out.WriteString("- ")
		}
		out.Write(l)
		out.WriteByte('\n')
	}
	out.Write(Armor(sig, "PGP SIGNATURE"))
	return out.Bytes(), nil
}

// Cleartext returns the text a cleartext signature of text carries, as a
// verifier decodes it (RFC 9580 §7, RFC 4880 §7): the lines without their
// endings (LF or CRLF), dash-escaping undone, trailing spaces and tabs
// removed, joined by LF, and the final line ending dropped — the line
// ending before the signature is not part of the signed text. So "a\n\n"
// carries "a\n" and "a \n" carries "a". A client compares it with what
// CheckClearsigned returns to know that the server signed its file. The
// errors are Clearsign's.
func Cleartext(text []byte) ([]byte, error) {
	lines, err := textLines(text)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(text))
	for i, l := range lines {
		if i > 0 {
			out = append(out, '\n')
		}
		out = append(out, bytes.TrimRight(l, " \t")...)
	}
	return out, nil
}

// MaxLineBytes bounds a line of clearsigned text: GnuPG refuses longer
// lines in a cleartext signature.
const MaxLineBytes = 19000

// textLines splits text into the lines of a cleartext message, without
// their line endings, after checking that it is text.
func textLines(text []byte) ([][]byte, error) {
	if !utf8.Valid(text) {
		return nil, errors.New("openpgp: clearsigned text must be valid UTF-8")
	}
	if i := bytes.IndexByte(text, 0); i >= 0 {
		return nil, fmt.Errorf("openpgp: clearsigned text contains a NUL byte at offset %d; sign binary files with a detached signature", i)
	}
	text = bytes.TrimSuffix(text, []byte("\n"))
	lines := bytes.Split(text, []byte("\n"))
	for i, l := range lines {
		l = bytes.TrimSuffix(l, []byte("\r"))
		if bytes.IndexByte(l, '\r') >= 0 {
			return nil, fmt.Errorf("openpgp: line %d of the text has a carriage return that does not end the line", i+1)
		}
		if len(l) > MaxLineBytes {
			return nil, fmt.Errorf("openpgp: line %d of the text is %d bytes; the limit is %d", i+1, len(l), MaxLineBytes)
		}
		lines[i] = l
	}
	return lines, nil
}

// signsDocuments refuses document signatures by a primary key that only
// certifies: verifiers would refuse them for its key flags.
func (s *Signer) signsDocuments() error {
	if s.key.flags&flagSign == 0 {
		return errors.New("openpgp: this primary key only certifies; documents are signed by its subkeys")
	}
	return nil
}

func (s *Signer) docSubpackets(t time.Time) []byte {
	return subpackets(
		sub(subCreationTime, be32(t)),
		sub(subIssuerFingerprint, append([]byte{4}, s.key.fp[:]...)),
	)
}

// sign appends the v4 trailer for sigType and hashed to h, signs the
// digest with s's key and returns the whole signature packet.
func (s *Signer) sign(h hash.Hash, sigType byte, hashed []byte) ([]byte, error) {
	body, err := signBody(s.signer, s.key, h, sigType, hashed)
	if err != nil {
		return nil, err
	}
	return appendPacket(nil, tagSignature, body), nil
}

// signBody appends the v4 trailer for sigType and hashed to h, signs the
// digest with signer, which holds key, and returns the signature packet's
// body.
func signBody(signer crypto.Signer, key *Key, h hash.Hash, sigType byte, hashed []byte) ([]byte, error) {
	algo := byte(algoRSA)
	if _, ok := key.pub.(ed25519.PublicKey); ok {
		algo = algoEdDSA
	}
	if len(hashed) > 0xFFFF {
		return nil, errors.New("openpgp: hashed subpackets too long")
	}
	head := []byte{4, sigType, algo, hashSHA256, byte(len(hashed) >> 8), byte(len(hashed))}
	head = append(head, hashed...)
	h.Write(head)
	h.Write([]byte{4, 0xFF})
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(head))))
	digest := h.Sum(nil)

	var mpis []byte
	switch algo {
	case algoRSA:
		sig, err := signer.Sign(rand.Reader, digest, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("openpgp: signing: %w", err)
		}
		mpis = appendMPI(nil, sig)
	case algoEdDSA:
		// Legacy EdDSA signs the digest as the Ed25519 message.
		sig, err := signer.Sign(rand.Reader, digest, crypto.Hash(0))
		if err != nil {
			return nil, fmt.Errorf("openpgp: signing: %w", err)
		}
		if len(sig) != ed25519.SignatureSize || !ed25519.Verify(key.pub.(ed25519.PublicKey), digest, sig) {
			return nil, errors.New("openpgp: the signer returned an invalid Ed25519 signature")
		}
		mpis = appendMPI(appendMPI(nil, sig[:32]), sig[32:])
	}
	unhashed := subpackets(sub(subIssuer, key.fp[12:]))
	body := append(head, byte(len(unhashed)>>8), byte(len(unhashed)))
	body = append(body, unhashed...)
	body = append(body, digest[0], digest[1])
	body = append(body, mpis...)
	return body, nil
}

// Armor returns data in ASCII armor of the given block type ("PGP
// SIGNATURE", "PGP PUBLIC KEY BLOCK"), with the CRC-24 checksum line and
// a final newline.
func Armor(data []byte, blockType string) []byte {
	var b bytes.Buffer
	w, err := armor.EncodeWithChecksumOption(&b, blockType, nil, true)
	if err == nil {
		_, err = w.Write(data)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		panic("openpgp: armoring into memory failed: " + err.Error()) // bytes.Buffer writes never fail
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func be32(t time.Time) []byte { return binary.BigEndian.AppendUint32(nil, uint32(t.Unix())) }

// sub encodes one signature subpacket (RFC 4880 §5.2.3.1).
func sub(typ byte, data []byte) []byte {
	var b []byte
	switch n := len(data) + 1; {
	case n < 192:
		b = []byte{byte(n)}
	case n < 16320:
		n -= 192
		b = []byte{byte(n>>8) + 192, byte(n)}
	default:
		b = binary.BigEndian.AppendUint32([]byte{0xFF}, uint32(n))
	}
	return append(append(b, typ), data...)
}

func subpackets(subs ...[]byte) []byte { return bytes.Join(subs, nil) }

// appendMPI appends the multiprecision integer whose big-endian magnitude
// is b: a 16-bit bit count, then the bytes without leading zeros.
func appendMPI(dst, b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	bits := 0
	if len(b) > 0 {
		bits = (len(b)-1)*8 + bitLen(b[0])
	}
	dst = append(dst, byte(bits>>8), byte(bits))
	return append(dst, b...)
}

func bitLen(x byte) int {
	n := 0
	for ; x != 0; x >>= 1 {
		n++
	}
	return n
}

// appendPacket appends a packet with a new-format header (RFC 4880 §4.2.2).
func appendPacket(dst []byte, tag byte, body []byte) []byte {
	dst = append(dst, 0xC0|tag)
	switch n := len(body); {
	case n < 192:
		dst = append(dst, byte(n))
	case n < 8384:
		n -= 192
		dst = append(dst, byte(n>>8)+192, byte(n))
	default:
		dst = append(dst, 0xFF)
		dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	}
	return append(dst, body...)
}
