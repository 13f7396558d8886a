package keycert_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/signet-dev/signet/keycert"
)

// FuzzParseSubject checks that what ParseSubject accepts is a name that
// encodes, and that Go's printing of it parses back to the same name.
func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{"CN=Example Release,O=Example Corp,C=US", `CN=a\,b\ ,OU=x,OU=y`, "cn=x+o=y", `CN=\41`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := keycert.ParseSubject(s)
		if err != nil {
			return
		}
		rdn := n.ToRDNSequence()
		if len(rdn) == 0 {
			t.Fatalf("accepted %q as an empty name", s)
		}
		der, err := asn1.Marshal(rdn)
		if err != nil {
			t.Fatalf("accepted %q, which does not encode: %v", s, err)
		}
		if again, err := keycert.ParseSubject(n.String()); err == nil {
			der2, _ := asn1.Marshal(again.ToRDNSequence())
			if string(der) != string(der2) {
				t.Fatalf("%q parsed as %s, which parses as %s", s, n, again)
			}
		}
	})
}

// FuzzParseChain checks that ParseChain never panics and that a chain it
// accepts encodes back to the same certificates.
func FuzzParseChain(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	c, _ := x509.ParseCertificate(der)
	f.Add(keycert.EncodeChain([]*x509.Certificate{c, c}))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	// A chain with a private key in it, made here: keys are never committed.
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	f.Fuzz(func(t *testing.T, b []byte) {
		chain, err := keycert.ParseChain(b)
		if err != nil {
			return
		}
		again, err := keycert.ParseChain(keycert.EncodeChain(chain))
		if err != nil || len(again) != len(chain) {
			t.Fatalf("re-parse: %v", err)
		}
		for i := range chain {
			if !chain[i].Equal(again[i]) {
				t.Fatalf("certificate %d changed", i)
			}
		}
	})
}
