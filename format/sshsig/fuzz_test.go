package sshsig_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/signet-dev/signet/format/sshsig"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// FuzzParse feeds armored signatures to Parse. Whatever parses must
// re-encode to a blob that parses to the same signature.
func FuzzParse(f *testing.F) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	sig, err := sshsig.Sign(k, "git", crypto.SHA512, make([]byte, 64))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sig.Armor())
	f.Add([]byte("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := sshsig.Parse(in)
		if err != nil {
			return
		}
		again, err := sshsig.ParseBlob(s.Marshal())
		if err != nil {
			t.Fatalf("re-parse of Marshal: %v", err)
		}
		if !bytes.Equal(again.Marshal(), s.Marshal()) {
			t.Fatal("Marshal is not stable")
		}
		if _, err := sshsig.Parse(s.Armor()); err != nil {
			t.Fatalf("re-parse of Armor: %v", err)
		}
	})
}
