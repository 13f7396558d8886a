package authenticode_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/signet-dev/signet/format/authenticode"
	"github.com/signet-dev/signet/format/authenticode/authenticodetest"
	"github.com/signet-dev/signet/internal/devpki"
)

// signer is a key with a code-signing certificate.
type signer struct {
	name  string
	key   crypto.Signer
	chain []*x509.Certificate
}

// pki is what the tests share: a CA (ca.pem in dir), a signer per key
// type certified by it, one certified by another CA, and a Windows
// program built with the Go toolchain. Making it once keeps the tests
// fast: RSA keys and the Windows build are slow.
type pki struct {
	dir      string
	caFile   string
	signers  []signer
	stranger signer // certified by a CA the verifier does not trust
	goExe    []byte
}

var (
	shared     *pki
	sharedErr  error
	sharedOnce sync.Once
)

func setup(t *testing.T) *pki {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = newPKI() })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func newPKI() (*pki, error) {
	dir, err := os.MkdirTemp("", "authenticode-test-")
	if err != nil {
		return nil, err
	}
	p := &pki{dir: dir, caFile: filepath.Join(dir, "ca.pem")}
	ca, err := devpki.NewCA("Authenticode test CA")
	if err != nil {
		return nil, err
	}
	other, err := devpki.NewCA("Untrusted CA")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o644); err != nil {
		return nil, err
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		return nil, err
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	issue := func(ca *devpki.CA, name string, key crypto.Signer) (signer, error) {
		csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name, Organization: []string{"Signet tests"}}}, key)
		if err != nil {
			return signer{}, err
		}
		leaf, err := ca.IssueCodeSigning(csr)
		return signer{name, key, []*x509.Certificate{leaf, ca.Cert}}, err
	}
	for _, k := range []struct {
		name string
		key  crypto.Signer
	}{{"rsa-3072", rsaKey}, {"ecdsa-p256", p256}, {"ecdsa-p384", p384}} {
		s, err := issue(ca, k.name, k.key)
		if err != nil {
			return nil, err
		}
		p.signers = append(p.signers, s)
	}
	if p.stranger, err = issue(other, "stranger", p256); err != nil {
		return nil, err
	}
	exe, err := authenticodetest.WindowsExe(dir)
	if err != nil {
		return nil, err
	}
	p.goExe, err = os.ReadFile(exe)
	return p, err
}

// images are the PE files signed: hand-made PE32 and PE32+ (one of odd
// length, so that signing pads it) and a real Go program.
func (p *pki) images() []struct {
	name string
	pe   []byte
} {
	return []struct {
		name string
		pe   []byte
	}{
		{"pe32", authenticodetest.MinimalPE(false, []byte{0x31, 0xc0, 0xc3}, nil)},
		{"pe32plus-unaligned", authenticodetest.MinimalPE(true, []byte{0x48, 0x31, 0xc0, 0xc3}, []byte("overlay"))},
		{"go-windows-amd64", p.goExe},
	}
}

// memFile is an in-memory io.ReaderAt and io.WriterAt.
type memFile struct{ b []byte }

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

// sign signs pe with s as a client and server together do, checks the
// result in Go, and returns the signed file.
func sign(t *testing.T, s signer, pe []byte) []byte {
	t.Helper()
	im, err := authenticode.ParseImage(bytes.NewReader(pe), int64(len(pe)))
	if err != nil {
		t.Fatal(err)
	}
	digest, err := im.Digest(bytes.NewReader(pe))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	der, err := authenticode.Sign(s.key, s.chain, authenticode.NewIndirectData(digest), authenticode.SignOptions{Time: now})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := authenticode.ParseSignature(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := sig.Verify(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sig.Digest, digest) || sig.Signer != sig.Certificates[0] || !sig.SigningTime.Equal(now.Truncate(time.Second)) || len(sig.Certificates) != len(s.chain) {
		t.Fatalf("parsed signature %+v", sig)
	}
	var out memFile
	if err := im.WriteSigned(&out, bytes.NewReader(pe), der); err != nil {
		t.Fatal(err)
	}
	// The signed file has the same digest, the signature as its
	// certificate table, 8-byte alignment and a correct checksum.
	signed, err := authenticode.ParseImage(bytes.NewReader(out.b), int64(len(out.b)))
	if err != nil {
		t.Fatalf("parsing the signed file: %v", err)
	}
	again, err := signed.Digest(bytes.NewReader(out.b))
	if err != nil || !bytes.Equal(again, digest) {
		t.Errorf("digest of the signed file %x, %v; want %x", again, err, digest)
	}
	if got, err := signed.ExtractSignature(bytes.NewReader(out.b)); err != nil || !bytes.Equal(got, der) {
		t.Errorf("ExtractSignature: %v", err)
	}
	if sum, err := signed.ComputeChecksum(bytes.NewReader(out.b)); err != nil || sum != signed.Checksum || sum == 0 {
		t.Errorf("checksum field %08x, computed %08x (%v)", signed.Checksum, sum, err)
	}
	if !signed.Signed() || len(out.b)%8 != 0 {
		t.Errorf("signed file of %d bytes, Signed %v", len(out.b), signed.Signed())
	}
	return out.b
}

// osslsigncode runs the real verifier on pe, trusting the test CA.
func (p *pki) osslsigncode(t *testing.T, name string, pe []byte) (string, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, pe, 0o644); err != nil {
		t.Fatal(err)
	}
	return authenticodetest.Verify(p.caFile, file)
}

// TestOsslsigncode signs every kind of image with every key type and has
// osslsigncode verify it against the test CA; then checks that the
// verifier rejects a tampered file, an unsigned one and one signed by a
// key certified by another CA.
func TestOsslsigncode(t *testing.T) {
	p := setup(t)
	for _, img := range p.images() {
		t.Run(img.name, func(t *testing.T) {
			for _, s := range p.signers {
				t.Run(s.name, func(t *testing.T) {
					signed := sign(t, s, img.pe)
					out, err := p.osslsigncode(t, "signed.exe", signed)
					if err != nil {
						t.Fatalf("osslsigncode verify: %v\n%s", err, out)
					}
					if strings.Contains(out, "invalid PE checksum") || !strings.Contains(out, "CN="+s.name) {
						t.Errorf("osslsigncode verify:\n%s", out)
					}
				})
			}
			signed := sign(t, p.signers[1], img.pe)
			// Each is refused, and for the reason expected.
			for _, bad := range []struct {
				name, why string
				pe        []byte
			}{
				{"unsigned", "No signature found", img.pe},
				{"tampered-code", "MISMATCH", flip(signed, 0x201)},
				{"tampered-header", "MISMATCH", flip(signed, 0x40+8)},                                // COFF TimeDateStamp
				{"tampered-signature", "signature failure", flip(signed, signatureEnd(t, signed)-4)}, // in the signature value, which ends the SignedData
				{"other-ca", "certificate verify error", sign(t, p.stranger, img.pe)},
			} {
				t.Run(bad.name, func(t *testing.T) {
					out, err := p.osslsigncode(t, bad.name+".exe", bad.pe)
					if err == nil || !strings.Contains(out, bad.why) {
						t.Errorf("osslsigncode verify: %v, want a failure with %q:\n%s", err, bad.why, out)
					}
				})
			}
		})
	}
}

// signatureEnd returns the offset in pe where its SignedData ends.
func signatureEnd(t *testing.T, pe []byte) int {
	im, err := authenticode.ParseImage(bytes.NewReader(pe), int64(len(pe)))
	if err != nil {
		t.Fatal(err)
	}
	der, err := im.ExtractSignature(bytes.NewReader(pe))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.LastIndex(pe, der) + len(der)
}

// flip returns pe with the byte at off inverted.
func flip(pe []byte, off int) []byte {
	out := bytes.Clone(pe)
	out[off] ^= 0xff
	return out
}

// TestResign signs a signed file again with another key: the first
// signature is replaced, and the result verifies.
func TestResign(t *testing.T) {
	p := setup(t)
	pe := authenticodetest.MinimalPE(false, nil, []byte{1})
	first := sign(t, p.signers[0], pe)
	second := sign(t, p.signers[2], first)
	if out, err := p.osslsigncode(t, "resigned.exe", second); err != nil || !strings.Contains(out, "CN="+p.signers[2].name) {
		t.Fatalf("osslsigncode verify: %v\n%s", err, out)
	}
	if strings.Contains(string(second), p.signers[0].name) {
		t.Error("the first signature is still in the file")
	}
}

// TestSignWrongKey checks that Sign refuses a certificate that is not the
// signing key's, and keys it cannot sign with.
func TestSignWrongKey(t *testing.T) {
	p := setup(t)
	indirect := authenticode.NewIndirectData(make([]byte, 32))
	if _, err := authenticode.Sign(p.signers[0].key, p.signers[1].chain, indirect, authenticode.SignOptions{}); err == nil {
		t.Error("signed with another key's certificate")
	}
	if _, err := authenticode.Sign(p.signers[0].key, nil, indirect, authenticode.SignOptions{}); err == nil {
		t.Error("signed without a certificate")
	}
	if _, err := authenticode.Sign(p.signers[0].key, p.signers[0].chain, []byte("arbitrary bytes"), authenticode.SignOptions{}); !errors.Is(err, authenticode.ErrIndirectData) {
		t.Errorf("signed arbitrary bytes: %v", err)
	}
	// A signature whose certificate is another key's fails Verify.
	der, err := authenticode.Sign(p.signers[1].key, p.signers[1].chain, indirect, authenticode.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	swapped := bytes.Replace(der, p.signers[1].chain[0].Raw, p.stranger.chain[0].Raw, 1)
	if sig, err := authenticode.ParseSignature(swapped); err == nil {
		if err := sig.Verify(); err == nil {
			t.Error("a signature verified with a certificate for another key")
		}
	}
}

func TestParseIndirectData(t *testing.T) {
	digest := bytes.Repeat([]byte{0xab}, 32)
	good := authenticode.NewIndirectData(digest)
	if got, err := authenticode.ParseIndirectData(good); err != nil || !bytes.Equal(got, digest) {
		t.Fatalf("ParseIndirectData(NewIndirectData) = %x, %v", got, err)
	}
	sha1 := asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	sha256 := asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	peImage := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 15}
	for _, tc := range []struct {
		name, want string
		der        []byte
	}{
		{"empty", "not one DER SEQUENCE", nil},
		{"arbitrary", "not one DER SEQUENCE", []byte("sign these bytes for me")},
		{"trailing data", "not one DER SEQUENCE", append(bytes.Clone(good), 0)},
		{"other data type", "only PE images", indirectData(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 25}, []byte{}, sha256, digest)},
		{"sha1", "not SHA-256", indirectData(peImage, []byte{}, sha1, digest[:20])},
		{"short digest", "is 31 bytes", indirectData(peImage, []byte{}, sha256, digest[:31])},
		{"include resources flag", "canonical form", indirectData(peImage, []byte{0x80}, sha256, digest)},
		{"too long", "bytes; a PE image's is", make([]byte, 1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := authenticode.ParseIndirectData(tc.der)
			if !errors.Is(err, authenticode.ErrIndirectData) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// indirectData builds an SpcIndirectDataContent with the given data type,
// flags, digest algorithm and digest, and no file link.
func indirectData(typ asn1.ObjectIdentifier, flags []byte, alg asn1.ObjectIdentifier, digest []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(typ)
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1BitString(flags) })
		})
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(alg)
				b.AddASN1NULL()
			})
			b.AddASN1OctetString(digest)
		})
	})
	return b.BytesOrPanic()
}

func TestParseImage(t *testing.T) {
	good := authenticodetest.MinimalPE(false, nil, nil)
	le := binary.LittleEndian
	edit := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	const opt = 0x40 + 24
	for _, tc := range []struct {
		name, want string
		pe         []byte
	}{
		{"empty", "too short", nil},
		{"text", "no MZ signature", bytes.Repeat([]byte("hello world\n"), 100)},
		{"pe offset outside", "outside the file", edit(func(b []byte) { le.PutUint32(b[0x3c:], 0x7fff0000) })},
		{"no PE signature", "no PE signature", edit(func(b []byte) { b[0x41] = 'X' })},
		{"rom image", "magic 0x107", edit(func(b []byte) { le.PutUint16(b[opt:], 0x107) })},
		{"four directories", "the 5th", edit(func(b []byte) { le.PutUint32(b[opt+92:], 4) })},
		{"short optional header", "no certificate table entry", edit(func(b []byte) { le.PutUint16(b[0x40+4+16:], 96+32) })},
		{"table not at end", "does not end", edit(func(b []byte) { le.PutUint32(b[opt+96+32:], 0x200); le.PutUint32(b[opt+96+36:], 16) })},
		{"table offset without size", "damaged", edit(func(b []byte) { le.PutUint32(b[opt+96+32:], 0x200) })},
		{"table in headers", "overlaps the headers", edit(func(b []byte) {
			le.PutUint32(b[opt+96+32:], 0x100)
			le.PutUint32(b[opt+96+36:], uint32(len(good)-0x100))
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := authenticode.ParseImage(bytes.NewReader(tc.pe), int64(len(tc.pe)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := authenticode.ParseImage(bytes.NewReader(good), int64(len(good))); err != nil {
		t.Errorf("minimal PE: %v", err)
	}
}

// TestDigestShortFile checks that a file shorter than its size is an
// error, not the digest of a prefix.
func TestDigestShortFile(t *testing.T) {
	pe := authenticodetest.MinimalPE(true, nil, nil)
	im, err := authenticode.ParseImage(bytes.NewReader(pe), int64(len(pe)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := im.Digest(bytes.NewReader(pe[:len(pe)-10])); err == nil {
		t.Error("digest of a truncated file")
	}
	if _, err := im.Digest(bytes.NewReader(append(bytes.Clone(pe), 1))); err == nil {
		t.Error("digest of a file that grew")
	}
}
