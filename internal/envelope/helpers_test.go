package envelope

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"testing"
)

func hexOf(k ed25519.PublicKey) string { return hex.EncodeToString(k) }

func pemOf(t *testing.T, k *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// rsaPKCS1Verifier checks RSA PKCS #1 v1.5 over SHA-256 of PAE with the
// standard library, as DSSE's RSA verifiers other than
// go-securesystemslib's (which expects PSS) do.
type rsaPKCS1Verifier struct {
	pub *rsa.PublicKey
	id  string
}

func (v rsaPKCS1Verifier) Verify(_ context.Context, data, sig []byte) error {
	sum := sha256.Sum256(data)
	return rsa.VerifyPKCS1v15(v.pub, crypto.SHA256, sum[:], sig)
}
func (v rsaPKCS1Verifier) KeyID() (string, error)   { return v.id, nil }
func (v rsaPKCS1Verifier) Public() crypto.PublicKey { return v.pub }
