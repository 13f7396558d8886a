package minisign_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/signet-dev/signet/format/minisign"
)

// FuzzParseSignature checks that whatever parses re-encodes to a file that
// parses to the same signature.
func FuzzParseSignature(f *testing.F) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := minisign.NewPublicKey(k.Public())
	sig, err := minisign.Sign(k, pub.ID, make([]byte, 64), "timestamp:1\tfile:f\thashed", "signature from signet key k")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sig.Marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := minisign.ParseSignature(in)
		if err != nil {
			return
		}
		again, err := minisign.ParseSignature(s.Marshal())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !bytes.Equal(again.Marshal(), s.Marshal()) {
			t.Fatal("Marshal is not stable")
		}
		s.Verify(pub, make([]byte, 64)) // must not panic
	})
}

func FuzzParsePublicKey(f *testing.F) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := minisign.NewPublicKey(k.Public())
	f.Add(pub.Marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := minisign.ParsePublicKey(in)
		if err != nil {
			return
		}
		again, err := minisign.ParsePublicKey(p.Marshal())
		if err != nil || again.ID != p.ID || !bytes.Equal(again.Key, p.Key) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}
