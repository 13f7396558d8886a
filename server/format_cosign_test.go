package server_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/cosign"
	"github.com/signet-dev/signet/format/dsse"
	"github.com/signet-dev/signet/format/raw"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
)

const imageDigest = "sha256:87ef60f558bad79beea6425a3b28989f01dd417164150ab3baab98dcbf04def8"

func newImageFixture(t *testing.T) *fixture {
	t.Helper()
	all := []string{"*"}
	f := newFixtureWith(t, fixtureOptions{principals: map[string]policy.Rules{
		// publisher may sign images of registry.example in any format.
		"publisher": {Grants: []policy.Grant{{Keys: all, Formats: all, Artifacts: []string{"registry.example/*", "*"}}}},
	}})
	for _, k := range []keystore.Spec{
		{Name: "img", Type: keystore.ECDSAP256, Usage: "cosign"},
		{Name: "img-rsa", Type: keystore.RSA3072, Usage: "cosign"},
		{Name: "note", Type: keystore.ECDSAP256, Usage: "notation"},
		{Name: "raw-p256", Type: keystore.ECDSAP256, Usage: "raw"},
	} {
		if _, err := f.keys.Create(k); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// TestSignCosign: a payload is signed as cosign checks it, the audit
// entry names the image and its manifest digest, and what is not an image
// signature is refused.
func TestSignCosign(t *testing.T) {
	f := newImageFixture(t)
	ctx := context.Background()
	admin := f.clients["publisher"]
	payload, err := cosign.NewPayload("registry.example/app", imageDigest, map[string]string{"run": "7"})
	if err != nil {
		t.Fatal(err)
	}
	image := "registry.example/app@" + imageDigest
	for _, key := range []string{"img", "img-rsa"} {
		resp, err := admin.Sign(ctx, &api.SignRequest{Key: key, Format: "cosign", Items: []api.SignItem{{Name: image, Data: payload}}})
		if err != nil {
			t.Fatal(err)
		}
		k, _ := f.keys.Key(key)
		if err := cosign.Verify(k.Public, payload, resp.Signatures[0].Signature); err != nil {
			t.Errorf("%s: %v", key, err)
		}
		e := f.lastEntry(t)
		if e.Artifact.Name != image || e.Artifact.Digests[0] != imageDigest || e.Details["image"] != image || e.Details["annotations"] != "run=7" {
			t.Errorf("audit entry %+v %q", e.Artifact, e.Details)
		}
	}
	st, err := dsse.NewStatement([]dsse.Subject{{Name: "registry.example/app", Digest: map[string]string{"sha256": strings.TrimPrefix(imageDigest, "sha256:")}}}, "https://slsa.dev/provenance/v1", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := admin.Sign(ctx, &api.SignRequest{Key: "img", Format: "cosign-attestation", Items: []api.SignItem{{Name: image, Data: st}}})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := f.keys.Key("img")
	if _, got, err := dsse.Verify(ctx, resp.Signatures[0].Signature, k.Public, dsse.Options{}); err != nil || string(got) != string(st) {
		t.Errorf("attestation: %v", err)
	}
	if e := f.lastEntry(t); e.Details["images"] != image || e.Artifact.Digests[1] != imageDigest {
		t.Errorf("attestation audit entry %+v %q", e.Artifact, e.Details)
	}
	sum := sha256.Sum256([]byte("blob"))
	resp, err = admin.Sign(ctx, &api.SignRequest{Key: "img", Format: "cosign-digest", Items: []api.SignItem{{Name: "blob.tar", Digest: api.Digest(crypto.SHA256, sum[:])}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.VerifyDigest(k.Public, sum[:], resp.Signatures[0].Signature, raw.Options{}); err != nil {
		t.Errorf("cosign-digest: %v", err)
	}

	otherDigest := "sha256:" + strings.Repeat("ab", 32)
	other, _ := cosign.NewPayload("registry.example/app", otherDigest, nil)
	stOther, _ := dsse.NewStatement([]dsse.Subject{{Name: "app.tar.gz", Digest: map[string]string{"sha256": strings.Repeat("ab", 32)}}}, "https://slsa.dev/provenance/v1", []byte(`{}`))
	tests := []struct {
		name, key, format string
		item              api.SignItem
		opts              api.SignOptions
		code, want        string
	}{
		{"name is not the payload's image", "img", "cosign", api.SignItem{Name: "registry.example/app@" + otherDigest, Data: payload}, api.SignOptions{}, "bad_request", "names image"},
		{"tag in the name", "img", "cosign", api.SignItem{Name: "registry.example/app:latest", Data: payload}, api.SignOptions{}, "bad_request", "names image"},
		{"digest instead of payload", "img", "cosign", api.SignItem{Name: image, Digest: api.Digest(crypto.SHA256, sum[:])}, api.SignOptions{}, "bad_request", "send it as data"},
		{"not a payload", "img", "cosign", api.SignItem{Name: image, Data: []byte(`{"critical":{}}`)}, api.SignOptions{}, "bad_request", "no \"identity\""},
		{"pss", "img-rsa", "cosign", api.SignItem{Name: "registry.example/app@" + otherDigest, Data: other}, api.SignOptions{RSAPSS: true}, "bad_request", "no options"},
		{"raw key", "raw-p256", "cosign", api.SignItem{Name: image, Data: payload}, api.SignOptions{}, "wrong_usage", "--usage cosign"},
		{"cosign key in raw", "img", "raw", api.SignItem{Name: "a.tar.gz", Digest: api.Digest(crypto.SHA256, sum[:])}, api.SignOptions{}, "wrong_usage", "--usage raw"},
		{"attestation about a file", "img", "cosign-attestation", api.SignItem{Name: "app.tar.gz", Data: stOther}, api.SignOptions{}, "bad_request", "not an image"},
		{"attestation named otherwise", "img", "cosign-attestation", api.SignItem{Name: "registry.example/app@" + otherDigest, Data: st}, api.SignOptions{}, "bad_request", "name the item"},
		{"sha512 digest", "img", "cosign-digest", api.SignItem{Name: "b", Digest: "sha512:" + strings.Repeat("00", 64)}, api.SignOptions{}, "bad_request", "sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := admin.Sign(ctx, &api.SignRequest{Key: tt.key, Format: tt.format, Options: tt.opts, Items: []api.SignItem{tt.item}})
			wantAPIError(t, err, tt.code, tt.want)
		})
	}
	// An ECDSA P-384 key cannot be a cosign key: cosign verify --key
	// checks SHA-256.
	_, err = f.clients["admin"].CreateKey(ctx, &api.CreateKeyRequest{Name: "img-384", Type: "ecdsa-p384", Usage: "cosign"})
	wantAPIError(t, err, "bad_request", "cannot be created for usage")
}

// TestSignNotation: the signing input is signed when the item names its
// digest and the key has a certificate chain; the chain is required.
func TestSignNotation(t *testing.T) {
	f := newImageFixture(t)
	ctx := context.Background()
	enc := base64.RawURLEncoding
	in := []byte(enc.EncodeToString([]byte(`{"alg":"ES256","cty":"application/vnd.cncf.notary.payload.v1+json"}`)) + "." +
		enc.EncodeToString([]byte(`{"targetArtifact":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+imageDigest+`","size":10}}`)))
	_, err := f.clients["publisher"].Sign(ctx, &api.SignRequest{Key: "note", Format: "notation", Items: []api.SignItem{{Name: "registry.example/app@" + imageDigest, Data: in}}})
	wantAPIError(t, err, "no_certificate", "signet key cert note")
	_, err = f.clients["publisher"].Sign(ctx, &api.SignRequest{Key: "note", Format: "notation", Items: []api.SignItem{{Name: "registry.example/app@sha256:" + strings.Repeat("ab", 32), Data: in}}})
	wantAPIError(t, err, "bad_request", "name the item")
	_, err = f.clients["publisher"].Sign(ctx, &api.SignRequest{Key: "note", Format: "notation", Items: []api.SignItem{{Name: "registry.example/app@" + imageDigest, Data: []byte("x.y")}}})
	wantAPIError(t, err, "bad_request", "notation")
}
