package oci_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/format/cosign"
	"github.com/signet-dev/signet/oci"
)

// TestSigstoreVerifies checks what Signet attached with the verification
// code cosign itself runs (github.com/sigstore/sigstore): the simple
// signing payload decoded by sigstore's payload package, its signature by
// signature.LoadVerifier over SHA-256, and the attestation envelope by
// sigstore's DSSE verifier. It runs in every test run; TestCosignVerifies
// runs the cosign command in the opt-in stage.
func TestSigstoreVerifies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.srv.Client("releaser")
	var r oci.Registry
	verifiers := map[string]signature.Verifier{}
	for _, key := range []string{"img-p256", "img-rsa"} {
		if _, err := r.Sign(ctx, c, key, e.image.String(), nil); err != nil {
			t.Fatal(err)
		}
		k, err := c.Key(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := client.PublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if verifiers[key], err = signature.LoadVerifier(pub, crypto.SHA256); err != nil {
			t.Fatal(err)
		}
	}
	sig, err := r.Attest(ctx, c, "img-p256", e.image.String(), "https://slsa.dev/provenance/v1", []byte(`{"builder":{"id":"ci"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := oci.CosignTag(e.image, ".att"); sig.Tag.String() != want.String() {
		t.Errorf("attestation attached to %s, want %s", sig.Tag, want)
	}

	payloads, anns := e.layers(t, oci.CosignTag(e.image, ".sig"))
	for i, key := range []string{"img-p256", "img-rsa"} {
		var p payload.Cosign
		if err := json.Unmarshal(payloads[i], &p); err != nil {
			t.Fatalf("sigstore's payload decoder: %v", err)
		}
		if p.Image.DigestStr() != e.image.DigestStr() || p.Image.Context().Name() != e.image.Context().Name() {
			t.Errorf("payload names %s, want %s", p.Image, e.image)
		}
		raw, err := base64.StdEncoding.DecodeString(anns[i][cosign.SignatureAnnotation])
		if err != nil {
			t.Fatal(err)
		}
		if err := verifiers[key].VerifySignature(bytes.NewReader(raw), bytes.NewReader(payloads[i])); err != nil {
			t.Errorf("layer %d (%s): sigstore does not verify it: %v", i, key, err)
		}
		other := verifiers[map[string]string{"img-p256": "img-rsa", "img-rsa": "img-p256"}[key]]
		if err := other.VerifySignature(bytes.NewReader(raw), bytes.NewReader(payloads[i])); err == nil {
			t.Errorf("layer %d verifies with the other key", i)
		}
	}

	envs, attAnns := e.layers(t, sig.Tag)
	if len(envs) != 1 || attAnns[0][oci.PredicateTypeAnnotation] != "https://slsa.dev/provenance/v1" {
		t.Fatalf("attestation layers: %d, annotations %v", len(envs), attAnns)
	}
	if err := sigdsse.WrapVerifier(verifiers["img-p256"]).VerifySignature(bytes.NewReader(envs[0]), nil); err != nil {
		t.Errorf("sigstore's DSSE verifier: %v", err)
	}
	if err := sigdsse.WrapVerifier(verifiers["img-rsa"]).VerifySignature(bytes.NewReader(envs[0]), nil); err == nil {
		t.Error("the attestation verifies with another key")
	}
	var env struct{ Payload []byte }
	if err := json.Unmarshal(envs[0], &env); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Subject []struct {
			Name   string
			Digest map[string]string
		}
	}
	if err := json.Unmarshal(env.Payload, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Subject) != 1 || st.Subject[0].Name != e.image.Context().Name() || "sha256:"+st.Subject[0].Digest["sha256"] != e.image.DigestStr() {
		t.Errorf("attestation subject %+v, want %s", st.Subject, e.image)
	}
}
