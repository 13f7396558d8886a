package rfc3161_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"testing"
	"time"

	"github.com/signet-dev/signet/format/rfc3161"
)

// BenchmarkStamp measures issuing one token (parse the request, build the
// TSTInfo and the CMS SignedData, sign, read it back and check it) with a
// P-256 key, against the baseline of the bare ECDSA signature every token
// contains: the ratio is what the token format costs on top of the key.
func BenchmarkStamp(b *testing.B) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a := newTSA(b, key)
	auth := &rfc3161.Authority{Signer: key, Chain: []*x509.Certificate{a.cert, a.ca}, Policy: rfc3161.DefaultPolicy, Accuracy: time.Second}
	sum := sha256.Sum256([]byte("benchmark"))
	der, err := (&rfc3161.Query{Hash: crypto.SHA256, Digest: sum[:], Nonce: rfc3161.NewNonce(), CertReq: true}).Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline=ecdsa-p256-sign", func(b *testing.B) {
		for b.Loop() {
			if _, err := key.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("stamp", func(b *testing.B) {
		for b.Loop() {
			q, err := rfc3161.ParseQuery(der)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := auth.Stamp(q, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
