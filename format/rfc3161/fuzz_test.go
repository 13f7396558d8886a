package rfc3161_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/signet-dev/signet/format/rfc3161"
)

// FuzzParseQuery checks that any input is either refused with a Failure
// or parsed into a query that marshals into a request that parses to
// the same query.
func FuzzParseQuery(f *testing.F) {
	f.Fuzz(func(t *testing.T, der []byte) {
		q, err := rfc3161.ParseQuery(der)
		if err != nil {
			var fl *rfc3161.Failure
			if !errors.As(err, &fl) {
				t.Fatalf("error %v is not a *Failure", err)
			}
			if len(rfc3161.Rejection(fl)) == 0 {
				t.Fatal("empty rejection")
			}
			return
		}
		again, err := q.Marshal()
		if err != nil {
			t.Fatalf("parsed query does not marshal: %v", err)
		}
		q2, err := rfc3161.ParseQuery(again)
		if err != nil {
			t.Fatalf("marshalled query %x does not parse: %v", again, err)
		}
		if q2.Hash != q.Hash || !bytes.Equal(q2.Digest, q.Digest) || !q2.Policy.Equal(q.Policy) || q2.CertReq != q.CertReq ||
			(q.Nonce == nil) != (q2.Nonce == nil) || q.Nonce != nil && q.Nonce.Cmp(q2.Nonce) != 0 {
			t.Fatalf("query %+v came back as %+v", q, q2)
		}
	})
}
