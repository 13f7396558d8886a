package raw_test

// BenchmarkSign measures the signature alone, on every core at once: the
// ceiling a signing server on the same machine cannot pass, whatever it
// does around the signature. docs/performance.md divides the server's
// figures by these, and compares them with `openssl speed -multi N` run
// beside them.
//
//	go test -run '^$' -bench Sign -benchtime 3s ./format/raw

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"github.com/signet-dev/signet/format/raw"
)

func BenchmarkSign(b *testing.B) {
	for _, c := range []struct {
		name string
		gen  func() (crypto.Signer, error)
		tbs  []byte
	}{
		{"ecdsa-p256", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }, digest("a.tar.gz")},
		{"ed25519", func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err }, make([]byte, 1024)},
		{"rsa-3072", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 3072) }, digest("a.tar.gz")},
	} {
		b.Run(c.name, func(b *testing.B) {
			k, err := c.gen()
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := raw.Sign(k, c.tbs, raw.Options{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
		})
	}
}

func digest(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}
