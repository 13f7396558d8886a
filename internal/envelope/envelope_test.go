package envelope

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"
)

var keys = sync.OnceValue(func() []crypto.Signer {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return []crypto.Signer{ed, p256, p384, r}
})

const typ = "application/vnd.signet.test+json"

// TestSignVerify signs with each key type and checks the envelope with
// this package and with go-securesystemslib's DSSE verifier, an
// implementation that shares no code with it.
func TestSignVerify(t *testing.T) {
	payload := []byte(`{"hello":"world"}`)
	env, err := Sign(typ, payload, keys()...)
	if err != nil {
		t.Fatal(err)
	}
	got, sigs, err := Open(env, typ)
	if err != nil || !bytes.Equal(got, payload) || len(sigs) != len(keys()) {
		t.Fatalf("Open: %q, %d signatures, %v", got, len(sigs), err)
	}
	var e ssldsse.Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys() {
		if err := Verify(typ, payload, sigs, k.Public()); err != nil {
			t.Errorf("%T: %v", k, err)
		}
		v := sslVerifier(t, k.Public())
		ev, err := ssldsse.NewEnvelopeVerifier(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ev.Verify(context.Background(), &e); err != nil {
			t.Errorf("go-securesystemslib rejects the %T signature: %v", k, err)
		}
	}
	// Another payload, another type, another key: refused.
	if err := Verify(typ, []byte(`{"hello":"mallory"}`), sigs, keys()[0].Public()); !errors.Is(err, ErrVerify) {
		t.Errorf("changed payload: %v", err)
	}
	if err := Verify("application/other", payload, sigs, keys()[0].Public()); !errors.Is(err, ErrVerify) {
		t.Errorf("changed type: %v", err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	if err := Verify(typ, payload, sigs, other.Public()); !errors.Is(err, ErrVerify) {
		t.Errorf("other key: %v", err)
	}
	if _, _, err := Open(env, "application/other"); err == nil {
		t.Error("Open accepted the wrong payload type")
	}
}

// sslVerifier is go-securesystemslib's verifier for pub.
func sslVerifier(t *testing.T, pub crypto.PublicKey) ssldsse.Verifier {
	t.Helper()
	id, _ := KeyID(pub)
	var v ssldsse.Verifier
	var err error
	switch k := pub.(type) {
	case ed25519.PublicKey:
		v, err = signerverifier.NewED25519SignerVerifierFromSSLibKey(&signerverifier.SSLibKey{KeyID: id, KeyType: signerverifier.ED25519KeyType, Scheme: signerverifier.ED25519KeyType, KeyVal: signerverifier.KeyVal{Public: hexOf(k)}})
	case *ecdsa.PublicKey:
		v, err = signerverifier.NewECDSASignerVerifierFromSSLibKey(&signerverifier.SSLibKey{KeyID: id, KeyType: signerverifier.ECDSAKeyType, Scheme: scheme(k), KeyVal: signerverifier.KeyVal{Public: pemOf(t, k)}})
	case *rsa.PublicKey:
		return rsaPKCS1Verifier{pub: k, id: id}
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func scheme(k *ecdsa.PublicKey) string {
	if k.Curve == elliptic.P384() {
		return "ecdsa-sha2-nistp384"
	}
	return "ecdsa-sha2-nistp256"
}

// FuzzOpen checks that no input makes Open panic and that what it accepts
// has a type, a payload and signatures.
func FuzzOpen(f *testing.F) {
	env, _ := Sign(typ, []byte(`{}`), keys()[0])
	f.Add(env)
	f.Add([]byte(`{"payloadType":"x","payload":"","signatures":[]}`))
	f.Add([]byte(`{"payloadType":"` + typ + `","payloadType":"` + typ + `","payload":"e30=","signatures":[{"keyid":"","sig":"AA=="}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		payload, sigs, err := Open(b, typ)
		if err != nil {
			return
		}
		if payload == nil || len(sigs) == 0 {
			t.Fatalf("Open accepted %q", b)
		}
		if strings.Count(string(b), `"payloadType"`) > 1 && !strings.Contains(string(b), `\"payloadType\"`) {
			t.Fatalf("Open accepted a repeated field: %q", b)
		}
	})
}
