// Package openpgp produces OpenPGP (RFC 4880) v4 keys and signatures from
// a [crypto.Signer], as GnuPG 2.2 (gpg, gpgv), apt and dnf verify them.
//
// It writes exactly three kinds of packets, all version 4:
//
//   - the public key packet of a key: RSA (algorithm 1) or legacy EdDSA
//     over Ed25519 (algorithm 22, OID 1.3.6.1.4.1.11591.15.1), the forms
//     GnuPG 2.2 and Debian 12's apt accept;
//   - a user id packet and its positive certification (signature type
//     0x13) by the key itself, which together make a certificate that
//     `gpg --import` accepts ([Signer.Certificate]);
//   - document signatures: binary (type 0x00, [Signer.Detached]) over a
//     SHA-256 state the caller has fed with the document, and canonical
//     text (type 0x01) inside a cleartext-signed message
//     ([Signer.Clearsign]).
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
// What this package does not do: v5 or v6 keys, subkeys, expiry,
// revocation, encryption, or reading other people's keys.
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
	SigTypeBinary        = 0x00
	SigTypeText          = 0x01
	sigTypePositiveCert  = 0x13
	algoRSA              = 1
	algoEdDSA            = 22
	hashSHA256           = 8
	tagSignature         = 2
	tagPublicKey         = 6
	tagUserID            = 13
	subCreationTime      = 2
	subIssuer            = 16
	subPrefSymmetric     = 11
	subPrefHash          = 21
	subPrefCompression   = 22
	subPrimaryUserID     = 25
	subKeyFlags          = 27
	subFeatures          = 30
	subIssuerFingerprint = 33
)

// ed25519OID is 1.3.6.1.4.1.11591.15.1 in DER without tag and length.
var ed25519OID = []byte{0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01}

// Key is the public half of an OpenPGP v4 key: the key material, its
// creation time (part of the fingerprint, so it must never change) and
// the user id its certificate names.
type Key struct {
	pub     crypto.PublicKey
	created time.Time
	uid     string
	body    []byte // public key packet body
	fp      [20]byte
}

// NewKey returns the OpenPGP key for pub, an ed25519.PublicKey or an RSA
// key of at least 2048 bits, created at created (whole seconds) with user
// id uid, which must be printable and non-empty: GnuPG refuses keys
// without one.
func NewKey(pub crypto.PublicKey, created time.Time, uid string) (*Key, error) {
	if uid == "" || !utf8.ValidString(uid) || strings.ContainsAny(uid, "\x00\r\n") {
		return nil, fmt.Errorf("openpgp: user id %.80q: need a printable name such as 'Release Team <release@example.org>'", uid)
	}
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
	k := &Key{pub: pub, created: created.UTC().Truncate(time.Second), uid: uid, body: b}
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
// behind a crypto.Signer.
type Signer struct {
	key    *Key
	signer crypto.Signer
}

// NewSigner returns a Signer for k whose private half is s. It checks that
// s holds k's key.
func NewSigner(k *Key, s crypto.Signer) (*Signer, error) {
	eq, ok := s.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(k.pub) {
		return nil, errors.New("openpgp: the signer does not hold this key")
	}
	return &Signer{key: k, signer: s}, nil
}

// Key returns the key s signs with.
func (s *Signer) Key() *Key { return s.key }

// Certificate returns the transferable public key: the public key packet,
// the user id packet and the key's self-certification of them. The
// certification is dated at the key's creation time, so for a given key
// the certificate is the same bytes every time (Ed25519 and RSA PKCS #1
// v1.5 are deterministic).
func (s *Signer) Certificate() ([]byte, error) {
	k := s.key
	hashed := subpackets(
		sub(subCreationTime, be32(k.created)),
		sub(subKeyFlags, []byte{0x03}), // certify, sign data
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
	return append(out, sig...), nil
}

// Detached finishes h, a SHA-256 hash the caller has fed with the
// document, with a binary-document signature trailer dated t, and returns
// the signature packet. h must be fresh from the document: Detached writes
// the trailer into it.
func (s *Signer) Detached(h hash.Hash, t time.Time) ([]byte, error) {
	if h.Size() != sha256.Size || h.BlockSize() != sha256.BlockSize {
		return nil, errors.New("openpgp: the document hash must be SHA-256")
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

func (s *Signer) docSubpackets(t time.Time) []byte {
	return subpackets(
		sub(subCreationTime, be32(t)),
		sub(subIssuerFingerprint, append([]byte{4}, s.key.fp[:]...)),
	)
}

// sign appends the v4 trailer for sigType and hashed to h, signs the
// digest and returns the whole signature packet.
func (s *Signer) sign(h hash.Hash, sigType byte, hashed []byte) ([]byte, error) {
	algo := byte(algoRSA)
	if _, ok := s.key.pub.(ed25519.PublicKey); ok {
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
		sig, err := s.signer.Sign(rand.Reader, digest, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("openpgp: signing: %w", err)
		}
		mpis = appendMPI(nil, sig)
	case algoEdDSA:
		// Legacy EdDSA signs the digest as the Ed25519 message.
		sig, err := s.signer.Sign(rand.Reader, digest, crypto.Hash(0))
		if err != nil {
			return nil, fmt.Errorf("openpgp: signing: %w", err)
		}
		if len(sig) != ed25519.SignatureSize || !ed25519.Verify(s.key.pub.(ed25519.PublicKey), digest, sig) {
			return nil, errors.New("openpgp: the signer returned an invalid Ed25519 signature")
		}
		mpis = appendMPI(appendMPI(nil, sig[:32]), sig[32:])
	}
	unhashed := subpackets(sub(subIssuer, s.key.fp[12:]))
	body := append(head, byte(len(unhashed)>>8), byte(len(unhashed)))
	body = append(body, unhashed...)
	body = append(body, digest[0], digest[1])
	body = append(body, mpis...)
	return appendPacket(nil, tagSignature, body), nil
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
	n := len(data) + 1 // all subpackets here are shorter than 192 bytes
	return append([]byte{byte(n), typ}, data...)
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
