package dsse_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"

	"github.com/signet-dev/signet/format/dsse"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func statement(t testing.TB, names ...string) []byte {
	t.Helper()
	var subjects []dsse.Subject
	for _, n := range names {
		sum := sha256.Sum256([]byte(n))
		subjects = append(subjects, dsse.Subject{Name: n, Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}})
	}
	b, err := dsse.NewStatement(subjects, "https://slsa.dev/provenance/v1", json.RawMessage(`{"buildDefinition":{"buildType":"https://example.org/build/v1"}}`))
	must(t, err)
	return b
}

// sslibVerifier returns go-securesystemslib's own verifier for pub, loaded
// from PEM as in-toto tools load keys. Its key id is cleared so that the
// envelope verifier derives one from the key (SHA256KeyID), as cosign's
// adapter does.
func sslibVerifier(t *testing.T, pub crypto.PublicKey) ssldsse.Verifier {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	must(t, err)
	key, err := signerverifier.LoadKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	must(t, err)
	key.KeyID = ""
	switch pub.(type) {
	case ed25519.PublicKey:
		v, err := signerverifier.NewED25519SignerVerifierFromSSLibKey(key)
		must(t, err)
		return v
	case *ecdsa.PublicKey:
		v, err := signerverifier.NewECDSASignerVerifierFromSSLibKey(key)
		must(t, err)
		return v
	case *rsa.PublicKey:
		v, err := signerverifier.NewRSAPSSSignerVerifierFromSSLibKey(key)
		must(t, err)
		return v
	}
	t.Fatalf("no verifier for %T", pub)
	return nil
}

// pkcs1Verifier checks RSA PKCS #1 v1.5 SHA-256 signatures over PAE, the
// scheme cosign uses for RSA keys, which go-securesystemslib has no
// verifier for; the envelope handling around it is still the library's.
type pkcs1Verifier struct{ pub *rsa.PublicKey }

func (v pkcs1Verifier) Verify(_ context.Context, data, sig []byte) error {
	sum := sha256.Sum256(data)
	return rsa.VerifyPKCS1v15(v.pub, crypto.SHA256, sum[:], sig)
}
func (v pkcs1Verifier) KeyID() (string, error)   { return "", nil }
func (v pkcs1Verifier) Public() crypto.PublicKey { return v.pub }

type signerCase struct {
	name   string
	signer crypto.Signer
	opts   dsse.Options
	verify func(t *testing.T, pub crypto.PublicKey) ssldsse.Verifier
}

func signers(t *testing.T) []signerCase {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	pkcs1 := func(t *testing.T, pub crypto.PublicKey) ssldsse.Verifier { return pkcs1Verifier{pub.(*rsa.PublicKey)} }
	return []signerCase{
		{"ed25519", ed, dsse.Options{}, sslibVerifier},
		{"ecdsa-p256", p256, dsse.Options{}, sslibVerifier},
		{"ecdsa-p384", p384, dsse.Options{}, sslibVerifier},
		{"rsa-pss", r, dsse.Options{PSS: true}, sslibVerifier},
		{"rsa-pkcs1v15", r, dsse.Options{}, pkcs1},
	}
}

// verifyEnvelope verifies env with go-securesystemslib and returns the
// payload.
func verifyEnvelope(t *testing.T, envJSON []byte, v ssldsse.Verifier) ([]byte, error) {
	t.Helper()
	var env ssldsse.Envelope
	must(t, json.Unmarshal(envJSON, &env))
	ev, err := ssldsse.NewEnvelopeVerifier(v)
	must(t, err)
	_, payload, err := ev.VerifyAndDecode(context.Background(), &env)
	return payload, err
}

func TestSecureSystemsLibVerifies(t *testing.T) {
	ctx := context.Background()
	st := statement(t, "app.tar.gz", "app.zip")
	others := signers(t)
	for i, sc := range signers(t) {
		t.Run(sc.name, func(t *testing.T) {
			env, err := dsse.Sign(ctx, sc.signer, st, sc.opts)
			must(t, err)
			pub := sc.signer.Public()
			payload, err := verifyEnvelope(t, env, sc.verify(t, pub))
			if err != nil {
				t.Fatalf("go-securesystemslib rejected the envelope: %v\n%s", err, env)
			}
			if !bytes.Equal(payload, st) {
				t.Errorf("payload differs from the statement signed")
			}
			var raw struct {
				PayloadType string
				Signatures  []struct{ KeyID string }
			}
			must(t, json.Unmarshal(env, &raw))
			wantID, _ := ssldsse.SHA256KeyID(pub)
			if raw.PayloadType != "application/vnd.in-toto+json" || len(raw.Signatures) != 1 || raw.Signatures[0].KeyID != wantID {
				t.Errorf("envelope = %s", env)
			}

			// Wrong key: another key of the same type, whose key id
			// differs, and the same key id forced onto it.
			if _, err := verifyEnvelope(t, env, sc.verify(t, others[i].signer.Public())); err == nil {
				t.Error("go-securesystemslib accepted the envelope with another key")
			}
			// Tampered payload: a subject digest changed.
			var e ssldsse.Envelope
			must(t, json.Unmarshal(env, &e))
			body, _ := base64.StdEncoding.DecodeString(e.Payload)
			body = bytes.Replace(body, []byte("app.tar.gz"), []byte("app.tar.gx"), 1)
			e.Payload = base64.StdEncoding.EncodeToString(body)
			tampered, _ := json.Marshal(e)
			if _, err := verifyEnvelope(t, tampered, sc.verify(t, pub)); err == nil {
				t.Error("go-securesystemslib accepted a tampered payload")
			}
			// Tampered payload type: PAE covers it.
			e.Payload = base64.StdEncoding.EncodeToString(st)
			e.PayloadType = "application/json"
			swapped, _ := json.Marshal(e)
			if _, err := verifyEnvelope(t, swapped, sc.verify(t, pub)); err == nil {
				t.Error("go-securesystemslib accepted a changed payloadType")
			}

			// Our own verifier agrees.
			got, payload, err := dsse.Verify(ctx, env, pub, sc.opts)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !bytes.Equal(payload, st) || len(got.Subject) != 2 || got.Subject[1].Name != "app.zip" {
				t.Errorf("Verify returned %+v", got)
			}
			if _, _, err := dsse.Verify(ctx, tampered, pub, sc.opts); err == nil {
				t.Error("Verify accepted a tampered payload")
			}
			if _, _, err := dsse.Verify(ctx, env, others[i].signer.Public(), sc.opts); !errors.Is(err, dsse.ErrVerify) {
				t.Errorf("Verify with another key: %v, want ErrVerify", err)
			}
		})
	}
}

// TestPSSIsNotPKCS1 checks that the RSA variants are not interchangeable.
func TestPSSIsNotPKCS1(t *testing.T) {
	ctx := context.Background()
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	env, err := dsse.Sign(ctx, r, statement(t, "a"), dsse.Options{})
	must(t, err)
	if _, err := verifyEnvelope(t, env, sslibVerifier(t, r.Public())); err == nil {
		t.Error("a PKCS #1 v1.5 envelope verified as PSS")
	}
	if _, _, err := dsse.Verify(ctx, env, r.Public(), dsse.Options{PSS: true}); err == nil {
		t.Error("Verify accepted PKCS #1 v1.5 as PSS")
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := dsse.Sign(ctx, ed, statement(t, "a"), dsse.Options{PSS: true}); err == nil {
		t.Error("PSS with an Ed25519 key was accepted")
	}
}

const sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

func TestParseStatement(t *testing.T) {
	good := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a.tar.gz","digest":{"sha256":"` + sha + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"x":[1,{"y":2}]}}`
	st, err := dsse.ParseStatement([]byte(good))
	must(t, err)
	if st.Subject[0].Name != "a.tar.gz" || st.PredicateType != "https://slsa.dev/provenance/v1" {
		t.Errorf("ParseStatement = %+v", st)
	}
	if _, err := dsse.ParseStatement([]byte(strings.Replace(good, `,"predicate":{"x":[1,{"y":2}]}`, "", 1))); err != nil {
		t.Errorf("statement without predicate: %v", err)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"v0.1 type", "Statement/v1", "Statement/v0.1", "_type"},
		{"uppercase key", `"_type"`, `"_TYPE"`, "field"},
		{"duplicate top key", `"predicateType":"https://slsa.dev/provenance/v1"`, `"predicateType":"https://slsa.dev/provenance/v1","predicateType":"https://evil.example/v1"`, "duplicate key"},
		{"duplicate nested key", `{"y":2}`, `{"y":2,"y":3}`, "duplicate key"},
		{"duplicate subject key", `"name":"a.tar.gz"`, `"name":"a.tar.gz","name":"b.tar.gz"`, "duplicate key"},
		{"unknown field", `"predicate":`, `"extra":1,"predicate":`, "field"},
		{"subject field", `"name":"a.tar.gz"`, `"uri":"x","name":"a.tar.gz"`, "field"},
		{"no subjects", `[{"name":"a.tar.gz","digest":{"sha256":"` + sha + `"}}]`, `[]`, "no subject"},
		{"subject not object", `[{"name":"a.tar.gz","digest":{"sha256":"` + sha + `"}}]`, `[1]`, "wrong type"},
		{"no name", `"name":"a.tar.gz",`, ``, "missing \"name\""},
		{"empty name", `"name":"a.tar.gz"`, `"name":""`, "empty name"},
		{"control in name", `"name":"a.tar.gz"`, `"name":"a\nb"`, "control"},
		{"no sha256", `"sha256":"` + sha + `"`, `"sha512":"` + sha + sha + `"`, "no sha256"},
		{"short digest", sha + `"`, sha[:10] + `"`, "not 64 lowercase hex"},
		{"uppercase digest", sha + `"`, strings.ToUpper(sha) + `"`, "lowercase"},
		{"unknown digest", `"sha256":"` + sha + `"`, `"sha256":"` + sha + `","md5":"00"`, "not sha256"},
		{"relative predicate type", `"https://slsa.dev/provenance/v1"`, `"provenance"`, "absolute URI"},
		{"predicate not object", `{"x":[1,{"y":2}]}`, `[1]`, "not a JSON object"},
		{"null predicate type", `"https://slsa.dev/provenance/v1"`, `null`, "missing"},
		{"trailing data", `"y":2}]}}`, `"y":2}]}} {}`, "data after"},
		{"not JSON", good, `nope`, "not valid JSON"},
		{"array", good, `[]`, "not a JSON object"},
		{"truncated", good, good[:40], "not valid JSON"},
		{"not UTF-8", `a.tar.gz`, "a\xff", "not UTF-8"},
		{"deep", `{"x":[1,{"y":2}]}`, strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70), "nested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Replace(good, tt.old, tt.new, 1)
			if in == good {
				t.Fatal("test case changes nothing")
			}
			_, err := dsse.ParseStatement([]byte(in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseStatement(%s): %v, want error containing %q", in, err, tt.want)
			}
		})
	}
	if _, err := dsse.ParseStatement(bytes.Repeat([]byte(" "), dsse.MaxStatementSize+1)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized statement: %v", err)
	}
}

func TestSignRefusesBadStatement(t *testing.T) {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	_, err := dsse.Sign(context.Background(), ed, []byte(`{"_type":"https://in-toto.io/Statement/v1"}`), dsse.Options{})
	if err == nil {
		t.Fatal("signed a statement without subjects")
	}
}

func TestParseEnvelope(t *testing.T) {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	env, err := dsse.Sign(context.Background(), ed, statement(t, "a"), dsse.Options{})
	must(t, err)
	good := string(bytes.TrimSpace(env))
	if _, err := dsse.ParseEnvelope([]byte(good)); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, old, new, want string }{
		{"payload type", `"application/vnd.in-toto+json"`, `"text/plain"`, "payloadType"},
		{"no signatures", `"signatures":[{`, `"signatures":[],"x":[{`, "field"},
		{"empty signatures", `"signatures":[{`, `"signatures":[],"z":[{`, "field"},
		{"unknown sig field", `"sig":`, `"extra":1,"sig":`, "field"},
		{"url base64 payload", `"payload":"`, `"payload":"-_`, "base64"},
		{"duplicate", `"payloadType":`, `"payloadType":"x","payloadType":`, "duplicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dsse.ParseEnvelope([]byte(strings.Replace(good, tt.old, tt.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseEnvelope: %v, want error containing %q", err, tt.want)
			}
		})
	}
}
