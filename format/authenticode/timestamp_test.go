package authenticode_test

import (
	"bytes"
	"encoding/asn1"
	"testing"

	"github.com/signet-dev/signet/format/authenticode"
)

// TestAddTimestamp adds a countersignature attribute and takes it off
// again: the signed part, and so the signature, is unchanged, and the
// bytes without it are the ones Sign returned. (The tests of server and
// cmd/signet have osslsigncode verify real time-stamp tokens.)
func TestAddTimestamp(t *testing.T) {
	p := setup(t)
	der, err := authenticode.Sign(p.signers[0].key, p.signers[0].chain, authenticode.NewIndirectData(make([]byte, 32)), authenticode.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := authenticode.ParseSignature(der)
	if err != nil {
		t.Fatal(err)
	}
	// A stand-in token: AddTimestamp checks only that it is one DER
	// SEQUENCE, as a TimeStampToken (ContentInfo) is.
	token, _ := asn1.Marshal(struct{ A, B int }{1, 2})
	stamped, err := authenticode.AddTimestamp(der, token)
	if err != nil {
		t.Fatal(err)
	}
	got, err := authenticode.ParseSignature(stamped)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Timestamp, token) || got.Verify() != nil || !bytes.Equal(got.TimestampDigest(), sig.TimestampDigest()) {
		t.Errorf("time-stamped signature: token %x, verify %v", got.Timestamp, got.Verify())
	}
	again, err := authenticode.AddTimestamp(stamped, token) // replaces, never adds a second
	if err != nil || !bytes.Equal(again, stamped) {
		t.Errorf("time-stamping twice: %v", err)
	}
	plain, err := authenticode.WithoutTimestamp(stamped)
	if err != nil || !bytes.Equal(plain, der) {
		t.Errorf("WithoutTimestamp does not give back the signature: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("not DER"), append(bytes.Clone(token), 0, 0)} {
		if _, err := authenticode.AddTimestamp(der, bad); err == nil {
			t.Errorf("AddTimestamp accepted token %x", bad)
		}
	}
	// Another unauthenticated attribute is refused by ParseSignature.
	other := bytes.Replace(stamped, []byte{0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x03, 0x03, 0x01}, []byte{0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x03, 0x03, 0x02}, 1)
	if bytes.Equal(other, stamped) {
		t.Fatal("the countersignature OID is not in the signature")
	}
	if _, err := authenticode.ParseSignature(other); err == nil {
		t.Error("ParseSignature accepted an unauthenticated attribute other than the RFC 3161 countersignature")
	}
}
