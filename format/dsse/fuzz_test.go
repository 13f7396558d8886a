package dsse_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/signet-dev/signet/format/dsse"
)

// FuzzParseStatement checks that the statement parser never panics and that
// whatever it accepts, Sign signs and Verify reads back.
func FuzzParseStatement(f *testing.F) {
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + sha + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`))
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + sha + `","sha512":"00"}}],"predicateType":"x:y"}`))
	f.Add([]byte(`{"a":{"b":[{"c":1},{"c":1}]},"a":2}`))
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, in []byte) {
		st, err := dsse.ParseStatement(in)
		if err != nil {
			return
		}
		if len(st.Subject) == 0 {
			t.Fatal("accepted a statement without subjects")
		}
		env, err := dsse.Sign(ctx, k, in, dsse.Options{})
		if err != nil {
			t.Fatalf("Sign of an accepted statement: %v", err)
		}
		if _, _, err := dsse.Verify(ctx, env, k.Public(), dsse.Options{}); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	})
}

func FuzzParseEnvelope(f *testing.F) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	env, err := dsse.Sign(context.Background(), k, []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"`+sha+`"}}],"predicateType":"https://slsa.dev/provenance/v1"}`), dsse.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(env)
	f.Fuzz(func(t *testing.T, in []byte) {
		if _, err := dsse.ParseEnvelope(in); err != nil {
			return
		}
		dsse.Verify(context.Background(), in, k.Public(), dsse.Options{}) // must not panic
	})
}
