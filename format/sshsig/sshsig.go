// Package sshsig produces and checks SSH signatures (SSHSIG), the detached
// signatures of `ssh-keygen -Y sign` that git uses for commits and tags
// with gpg.format=ssh, as OpenSSH's PROTOCOL.sshsig defines them.
//
// # Format
//
// A signature is an armored blob:
//
//	-----BEGIN SSH SIGNATURE-----
//	base64 of the blob, wrapped at 70 columns
//	-----END SSH SIGNATURE-----
//
// The blob is, in SSH wire encoding (RFC 4251: uint32 big-endian, string =
// uint32 length + bytes),
//
//	byte[6] "SSHSIG"
//	uint32  1                  version
//	string  public key         SSH wire encoding
//	string  namespace          e.g. "git" or "file"
//	string  reserved           empty
//	string  hash algorithm     "sha512" or "sha256"
//	string  signature          SSH signature encoding
//
// and the signature covers the [SignedData]:
//
//	byte[6] "SSHSIG"
//	string  namespace
//	string  reserved
//	string  hash algorithm
//	string  H(message)
//
// So a signer never needs the message, only its digest: [Sign] takes the
// digest the client computed. The namespace keeps a signature made for one
// purpose (a git commit) from being valid for another (a file, an
// allowed-signers check in another tool).
//
// The signature algorithm follows from the key: "ssh-ed25519",
// "ecdsa-sha2-nistp256" (SHA-256 of the signed data), "ecdsa-sha2-nistp384"
// (SHA-384), and for RSA "rsa-sha2-512", as ssh-keygen signs. SHA-1
// "ssh-rsa" signatures are never made and never accepted.
//
// # What it guarantees
//
// [Sign] takes a [crypto.Signer], so keys held in a keystore or an HSM work
// alike, and its output is accepted by `ssh-keygen -Y verify` and
// `git verify-commit`. [Parse] is strict: wrong armor, trailing data, an
// unknown version or hash algorithm, or a malformed key or signature are
// errors. [Signature.Verify] checks the signature, the key, the namespace
// and the digest. It does not decide whether a key is trusted for a
// principal: that is the allowed_signers file of ssh-keygen.
package sshsig

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

const (
	magic   = "SSHSIG"
	version = 1

	armorBegin = "-----BEGIN SSH SIGNATURE-----"
	armorEnd   = "-----END SSH SIGNATURE-----"
	armorWidth = 70 // columns of base64, as ssh-keygen writes them

	// MaxNamespace bounds the namespace, which ssh-keygen does not limit
	// but which is copied into audit records.
	MaxNamespace = 64

	// MaxSize bounds an armored signature: RSA-4096 needs about 1.5 KiB.
	MaxSize = 16 << 10
)

// ErrVerify is returned when a signature does not verify.
var ErrVerify = errors.New("sshsig: signature does not verify")

// HashName returns the SSHSIG name of h: "sha512" or "sha256".
func HashName(h crypto.Hash) (string, error) {
	switch h {
	case crypto.SHA512:
		return "sha512", nil
	case crypto.SHA256:
		return "sha256", nil
	}
	return "", fmt.Errorf("sshsig: hash %v is not allowed; use SHA-512 (as ssh-keygen does) or SHA-256", h)
}

func hashByName(name string) (crypto.Hash, error) {
	switch name {
	case "sha512":
		return crypto.SHA512, nil
	case "sha256":
		return crypto.SHA256, nil
	}
	return 0, fmt.Errorf("sshsig: hash algorithm %.20q is not sha512 or sha256", name)
}

// ValidNamespace reports an error unless ns is a usable namespace: 1 to
// MaxNamespace printable ASCII characters without spaces, such as "git" or
// "file" or "name@example.org".
func ValidNamespace(ns string) error {
	ok := len(ns) >= 1 && len(ns) <= MaxNamespace
	for i := 0; ok && i < len(ns); i++ {
		ok = ns[i] > ' ' && ns[i] < 0x7f
	}
	if !ok {
		return fmt.Errorf("sshsig: namespace %.80q: want 1 to %d printable ASCII characters without spaces, such as git or file", ns, MaxNamespace)
	}
	return nil
}

// SignedData returns the bytes an SSH signature covers for a message whose
// digest under h is digest, in namespace ns.
func SignedData(ns string, h crypto.Hash, digest []byte) ([]byte, error) {
	if err := ValidNamespace(ns); err != nil {
		return nil, err
	}
	name, err := HashName(h)
	if err != nil {
		return nil, err
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("sshsig: %s digest is %d bytes, want %d", name, len(digest), h.Size())
	}
	var b []byte
	b = append(b, magic...)
	b = appendString(b, []byte(ns))
	b = appendString(b, nil) // reserved
	b = appendString(b, []byte(name))
	b = appendString(b, digest)
	return b, nil
}

// Signature is a parsed SSH signature.
type Signature struct {
	PublicKey ssh.PublicKey
	Namespace string
	Hash      crypto.Hash // of the message: SHA-512 or SHA-256
	Signature *ssh.Signature
	reserved  []byte
}

// Sign signs the message whose digest under h is digest, in namespace ns,
// with s. RSA keys sign with rsa-sha2-512.
func Sign(s crypto.Signer, ns string, h crypto.Hash, digest []byte) (*Signature, error) {
	tbs, err := SignedData(ns, h, digest)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromSigner(s)
	if err != nil {
		return nil, fmt.Errorf("sshsig: %w", err)
	}
	algo := signer.PublicKey().Type()
	if _, isRSA := s.Public().(*rsa.PublicKey); isRSA {
		algo = ssh.KeyAlgoRSASHA512
	}
	as, ok := signer.(ssh.AlgorithmSigner)
	if !ok {
		return nil, errors.New("sshsig: signer cannot choose its algorithm") // never for NewSignerFromSigner
	}
	sig, err := as.SignWithAlgorithm(rand.Reader, tbs, algo)
	if err != nil {
		return nil, fmt.Errorf("sshsig: signing: %w", err)
	}
	return &Signature{PublicKey: signer.PublicKey(), Namespace: ns, Hash: h, Signature: sig}, nil
}

// Marshal returns the binary blob of s.
func (s *Signature) Marshal() []byte {
	name, _ := HashName(s.Hash)
	var b []byte
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint32(b, version)
	b = appendString(b, s.PublicKey.Marshal())
	b = appendString(b, []byte(s.Namespace))
	b = appendString(b, s.reserved)
	b = appendString(b, []byte(name))
	b = appendString(b, ssh.Marshal(s.Signature))
	return b
}

// Armor returns s in the armored form ssh-keygen writes, with a final
// newline.
func (s *Signature) Armor() []byte {
	enc := base64.StdEncoding.EncodeToString(s.Marshal())
	var b bytes.Buffer
	b.WriteString(armorBegin + "\n")
	for len(enc) > armorWidth {
		b.WriteString(enc[:armorWidth] + "\n")
		enc = enc[armorWidth:]
	}
	b.WriteString(enc + "\n" + armorEnd + "\n")
	return b.Bytes()
}

// Parse parses an armored SSH signature. Line ends may be LF or CRLF, and
// one final line end is allowed; nothing else may follow the end line.
func Parse(armored []byte) (*Signature, error) {
	if len(armored) > MaxSize {
		return nil, fmt.Errorf("sshsig: signature is %d bytes; the limit is %d", len(armored), MaxSize)
	}
	text := strings.ReplaceAll(string(armored), "\r\n", "\n")
	text = strings.TrimSuffix(text, "\n")
	lines := strings.Split(text, "\n")
	if len(lines) < 3 || lines[0] != armorBegin || lines[len(lines)-1] != armorEnd {
		return nil, fmt.Errorf("sshsig: not an armored SSH signature: want %q … %q lines", armorBegin, armorEnd)
	}
	body := strings.Join(lines[1:len(lines)-1], "")
	blob, err := base64.StdEncoding.Strict().DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("sshsig: armored body is not base64: %w", err)
	}
	return ParseBlob(blob)
}

// ParseBlob parses the binary blob of an SSH signature.
func ParseBlob(b []byte) (*Signature, error) {
	if !bytes.HasPrefix(b, []byte(magic)) {
		return nil, errors.New("sshsig: blob does not start with SSHSIG")
	}
	r := reader(b[len(magic):])
	v, ok := r.uint32()
	if !ok {
		return nil, errors.New("sshsig: blob truncated in version")
	}
	if v != version {
		return nil, fmt.Errorf("sshsig: version %d; only version %d is known", v, version)
	}
	var fields [5][]byte
	names := [5]string{"public key", "namespace", "reserved", "hash algorithm", "signature"}
	for i := range fields {
		if fields[i], ok = r.string(); !ok {
			return nil, fmt.Errorf("sshsig: blob truncated in %s", names[i])
		}
	}
	if len(r) != 0 {
		return nil, fmt.Errorf("sshsig: %d bytes after the signature", len(r))
	}
	pub, err := ssh.ParsePublicKey(fields[0])
	if err != nil {
		return nil, fmt.Errorf("sshsig: public key: %w", err)
	}
	ns := string(fields[1])
	if err := ValidNamespace(ns); err != nil {
		return nil, err
	}
	h, err := hashByName(string(fields[3]))
	if err != nil {
		return nil, err
	}
	sig := new(ssh.Signature)
	if err := ssh.Unmarshal(fields[4], sig); err != nil {
		return nil, fmt.Errorf("sshsig: signature encoding: %w", err)
	}
	if len(sig.Rest) != 0 {
		return nil, errors.New("sshsig: security-key signatures are not supported")
	}
	return &Signature{PublicKey: pub, Namespace: ns, Hash: h, Signature: sig, reserved: fields[2]}, nil
}

// Verify checks that s is a signature by pub, in namespace ns, of the
// message whose digest under s.Hash is digest.
func (s *Signature) Verify(pub ssh.PublicKey, ns string, digest []byte) error {
	if !bytes.Equal(s.PublicKey.Marshal(), pub.Marshal()) {
		return fmt.Errorf("%w: made by key %s, not %s", ErrVerify, ssh.FingerprintSHA256(s.PublicKey), ssh.FingerprintSHA256(pub))
	}
	if s.Namespace != ns {
		return fmt.Errorf("%w: namespace is %q, not %q", ErrVerify, s.Namespace, ns)
	}
	if s.Signature.Format == ssh.KeyAlgoRSA {
		return fmt.Errorf("%w: SHA-1 RSA signatures (ssh-rsa) are not accepted", ErrVerify)
	}
	name, _ := HashName(s.Hash)
	if len(digest) != s.Hash.Size() {
		return fmt.Errorf("sshsig: %s digest is %d bytes, want %d", name, len(digest), s.Hash.Size())
	}
	var tbs []byte
	tbs = append(tbs, magic...)
	tbs = appendString(tbs, []byte(s.Namespace))
	tbs = appendString(tbs, s.reserved)
	tbs = appendString(tbs, []byte(name))
	tbs = appendString(tbs, digest)
	if err := pub.Verify(tbs, s.Signature); err != nil {
		return ErrVerify
	}
	return nil
}

// AuthorizedKey returns pub as one authorized_keys line, "TYPE BASE64
// COMMENT\n", which is also the form allowed_signers files and git's
// user.signingkey ("key::" followed by the line) take.
func AuthorizedKey(pub crypto.PublicKey, comment string) ([]byte, error) {
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("sshsig: %w", err)
	}
	line := bytes.TrimSuffix(ssh.MarshalAuthorizedKey(k), []byte("\n"))
	if comment != "" {
		line = append(append(line, ' '), comment...)
	}
	return append(line, '\n'), nil
}

func appendString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// reader consumes SSH wire encoding.
type reader []byte

func (r *reader) uint32() (uint32, bool) {
	if len(*r) < 4 {
		return 0, false
	}
	v := binary.BigEndian.Uint32(*r)
	*r = (*r)[4:]
	return v, true
}

func (r *reader) string() ([]byte, bool) {
	n, ok := r.uint32()
	if !ok || uint64(n) > uint64(len(*r)) {
		return nil, false
	}
	s := (*r)[:n]
	*r = (*r)[n:]
	return s, true
}
