package dealer

import (
	"crypto/rand"
	"testing"

	"filippo.io/age"
)

// FuzzOpen feeds arbitrary sealed bytes to Open: it must refuse them with
// an error (they are not encrypted to this test's fresh identity), never
// panic or hang. The seeds are an armor header, a truncated armored file
// and junk; the identity is generated per run, so no key is stored.
func FuzzOpen(f *testing.F) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		f.Fatal(err)
	}
	res, err := Deal(rand.Reader, 2, []Server{{"a", id.Recipient()}, {"b", id.Recipient()}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if k, err := Open(b, id, res.Group, 1); err == nil {
			t.Fatalf("Open accepted bytes not sealed to this run's identity: share %d", k.ID)
		}
	})
}
