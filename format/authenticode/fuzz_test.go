package authenticode_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/signet-dev/signet/format/authenticode"
	"github.com/signet-dev/signet/format/authenticode/authenticodetest"
	"github.com/signet-dev/signet/internal/devpki"
)

// fuzzSignature returns a real signature, made with a fresh P-256 key.
func fuzzSignature(f *testing.F) []byte {
	ca, err := devpki.NewCA("fuzz CA")
	if err != nil {
		f.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "fuzz"}}, key)
	leaf, err := ca.IssueCodeSigning(csr)
	if err != nil {
		f.Fatal(err)
	}
	der, err := authenticode.Sign(key, []*x509.Certificate{leaf}, authenticode.NewIndirectData(make([]byte, 32)), authenticode.SignOptions{Time: time.Now()})
	if err != nil {
		f.Fatal(err)
	}
	return der
}

// FuzzParseImage feeds PE files to ParseImage. Whatever it accepts must
// hash, and sign: the signed file must parse, with the same digest and
// the signature embedded.
func FuzzParseImage(f *testing.F) {
	f.Add(authenticodetest.MinimalPE(false, nil, nil))
	f.Add(authenticodetest.MinimalPE(true, []byte{0xc3}, []byte{1, 2, 3}))
	der := fuzzSignature(f)
	f.Fuzz(func(t *testing.T, pe []byte) {
		im, err := authenticode.ParseImage(bytes.NewReader(pe), int64(len(pe)))
		if err != nil {
			return
		}
		digest, err := im.Digest(bytes.NewReader(pe))
		if err != nil {
			t.Fatalf("Digest of an accepted image: %v", err)
		}
		im.ExtractSignature(bytes.NewReader(pe))
		var out memFile
		if err := im.WriteSigned(&out, bytes.NewReader(pe), der); err != nil {
			t.Fatalf("WriteSigned: %v", err)
		}
		signed, err := authenticode.ParseImage(bytes.NewReader(out.b), int64(len(out.b)))
		if err != nil {
			t.Fatalf("the signed image does not parse: %v", err)
		}
		if again, err := signed.Digest(bytes.NewReader(out.b)); err != nil || !bytes.Equal(again, digest) {
			t.Fatalf("signing changed the digest: %v", err)
		}
		if got, err := signed.ExtractSignature(bytes.NewReader(out.b)); err != nil || !bytes.Equal(got, der) {
			t.Fatalf("ExtractSignature of the signed image: %v", err)
		}
		if sum, err := signed.ComputeChecksum(bytes.NewReader(out.b)); err != nil || sum != signed.Checksum {
			t.Fatalf("checksum %08x, computed %08x, %v", signed.Checksum, sum, err)
		}
	})
}

// FuzzParseIndirectData checks that the server's parser of what clients
// send accepts only the canonical encoding.
func FuzzParseIndirectData(f *testing.F) {
	f.Add(authenticode.NewIndirectData(make([]byte, 32)))
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		digest, err := authenticode.ParseIndirectData(der)
		if err != nil {
			return
		}
		if !bytes.Equal(authenticode.NewIndirectData(digest), der) {
			t.Fatalf("accepted a non-canonical SpcIndirectDataContent %x", der)
		}
	})
}

// FuzzParseSignature checks that the client's parser of the server's
// answer never panics, and that whatever it accepts can be verified.
func FuzzParseSignature(f *testing.F) {
	f.Add(fuzzSignature(f))
	f.Fuzz(func(t *testing.T, der []byte) {
		s, err := authenticode.ParseSignature(der)
		if err != nil {
			return
		}
		if s.Signer == nil || len(s.Digest) != 32 {
			t.Fatalf("accepted signature without signer or digest: %+v", s)
		}
		s.Verify()
	})
}
