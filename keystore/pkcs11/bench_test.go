package pkcs11

// BenchmarkSign measures signatures made inside a SoftHSM2 token through
// crypto11, on every core at once: the most a server gets from keys kept
// in the token. SoftHSM2 signs with OpenSSL's libcrypto, but decrypts the
// key object and crosses the PKCS #11 interface for every signature;
// docs/performance.md compares it with Go's own signatures (format/raw's
// BenchmarkSign) and `openssl speed`.
//
//	go test -run '^$' -bench Sign -benchtime 3s ./keystore/pkcs11

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/signet-dev/signet/keystore"
)

func BenchmarkSign(b *testing.B) {
	tok := newSoftHSM(b, "bench").token(b)
	if err := tok.Login(userPIN); err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("a.tar.gz"))
	for _, typ := range []keystore.Type{keystore.ECDSAP256, keystore.Ed25519, keystore.RSA3072} {
		b.Run(string(typ), func(b *testing.B) {
			id, pub, err := tok.Generate(typ, "bench-"+string(typ))
			if err != nil {
				b.Fatal(err)
			}
			s, err := tok.Signer(id, pub)
			if err != nil {
				b.Fatal(err)
			}
			tbs, opts := digest[:], crypto.SignerOpts(crypto.SHA256)
			if typ == keystore.Ed25519 {
				tbs, opts = make([]byte, 1024), crypto.Hash(0)
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Sign(rand.Reader, tbs, opts); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
		})
	}
}
