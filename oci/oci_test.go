package oci_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/format/cosign"
	"github.com/signet-dev/signet/internal/signettest"
	"github.com/signet-dev/signet/internal/testenv/registry"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/oci"
	"github.com/signet-dev/signet/policy"
)

// env is a Signet server, a registry with basic auth whose credentials
// are in a docker config ($DOCKER_CONFIG), and an image pushed to it.
type env struct {
	srv   *signettest.Server
	reg   *registry.Registry
	image name.Digest // REG/app@sha256:…, pushed as REG/app:v1
	// dockerConfig is the directory of config.json, for cosign.
	dockerConfig string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	reg := registry.Start(t, registry.Options{User: "ci", Password: "registry-secret"})
	image := reg.PushRandom(t, "app:v1")
	grant := func(repo string) policy.Rules {
		return policy.Rules{Grants: []policy.Grant{{Keys: []string{"img-*"}, Formats: []string{"cosign", "cosign-attestation"},
			Artifacts: []string{reg.Host + "/" + repo + "@sha256:*"}}}}
	}
	srv := signettest.Start(t, signettest.Options{
		Principals: map[string]policy.Rules{
			"releaser": grant("app"),
			"other":    grant("other"), // may sign images of another repository only
		},
		Keys: []keystore.Spec{
			{Name: "img-p256", Type: keystore.ECDSAP256, Usage: "cosign"},
			{Name: "img-rsa", Type: keystore.RSA3072, Usage: "cosign"},
		},
	})
	// Registry credentials come from the docker config, as in CI.
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("ci:registry-secret"))
	config := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.Host, auth)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	return &env{srv: srv, reg: reg, image: image, dockerConfig: dir}
}

// layers returns the layers of the cosign image at tag, with their
// annotations and contents.
func (e *env) layers(t *testing.T, tag name.Tag) ([][]byte, []map[string]string) {
	t.Helper()
	img, err := remote.Image(tag, remote.WithAuth(e.reg.Auth()))
	if err != nil {
		t.Fatalf("reading %s: %v", tag, err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var contents [][]byte
	var anns []map[string]string
	for i, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		contents = append(contents, b)
		anns = append(anns, m.Layers[i].Annotations)
	}
	return contents, anns
}

// TestSignImage signs an image by tag with ECDSA and RSA keys and checks
// the registry layout, the signatures, the receipts and the audit log.
// cosign itself checks the same image in TestCosignVerifies.
func TestSignImage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.srv.Client("releaser")
	var r oci.Registry // the default keychain: $DOCKER_CONFIG
	tagRef := e.reg.Host + "/app:v1"
	for i, key := range []string{"img-p256", "img-rsa"} {
		sig, err := r.Sign(ctx, c, key, tagRef, map[string]string{"run": "42"})
		if err != nil {
			t.Fatal(err)
		}
		if sig.Image.String() != e.image.String() {
			t.Fatalf("signed %s, want %s (the tag resolved to its digest)", sig.Image, e.image)
		}
		if want := strings.Replace(e.image.DigestStr(), ":", "-", 1) + ".sig"; sig.Tag.TagStr() != want {
			t.Errorf("attached to tag %s, want %s", sig.Tag.TagStr(), want)
		}
		if sig.Referrer != nil {
			t.Errorf("distribution 2.8 serves no referrers API, yet a referrer was pushed: %s", sig.Referrer)
		}
		payloads, anns := e.layers(t, sig.Tag)
		if len(payloads) != i+1 {
			t.Fatalf("%d layers after %d signatures: a new signature must be appended", len(payloads), i+1)
		}
		p, err := cosign.ParsePayload(payloads[i])
		if err != nil {
			t.Fatal(err)
		}
		if p.Image() != e.image.String() || p.Annotations["run"] != "42" {
			t.Errorf("payload names %s %v", p.Image(), p.Annotations)
		}
		k, err := c.Key(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := client.PublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(anns[i][cosign.SignatureAnnotation])
		if err != nil {
			t.Fatal(err)
		}
		if err := cosign.Verify(pub, payloads[i], raw); err != nil {
			t.Errorf("layer %d signature: %v", i, err)
		}
		// The receipt travels with the signature and checks offline.
		rb, err := base64.StdEncoding.DecodeString(anns[i][oci.ReceiptAnnotation])
		if err != nil {
			t.Fatal(err)
		}
		var receipt audit.Receipt
		if err := json.Unmarshal(rb, &receipt); err != nil {
			t.Fatal(err)
		}
		if en, _, err := audit.VerifyReceipt(&receipt, e.srv.LogKey); err != nil || en.Artifact.Name != e.image.String() {
			t.Errorf("receipt in the registry: %v", err)
		}
	}
	// Each signature is in the audit log, with the image digest.
	var found int
	for _, en := range e.srv.Entries(t) {
		if en.Format == "cosign" && en.Decision == audit.Allowed {
			found++
			if en.Artifact.Name != e.image.String() || !slices.Contains(en.Artifact.Digests, e.image.DigestStr()) || en.Details["image"] != e.image.String() {
				t.Errorf("audit entry %+v %+v", en.Artifact, en.Details)
			}
		}
	}
	if found != 2 {
		t.Errorf("%d cosign signatures in the audit log, want 2", found)
	}
}

// TestSignImageRefused: a principal granted another repository cannot
// sign this one, the refusal is logged, and nothing reaches the registry.
func TestSignImageRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var r oci.Registry
	_, err := r.Sign(ctx, e.srv.Client("other"), "img-p256", e.image.String(), nil)
	if err == nil || !strings.Contains(err.Error(), "forbidden") && !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("signing without a grant: %v", err)
	}
	_, err = r.Attest(ctx, e.srv.Client("other"), "img-p256", e.image.String(), "https://slsa.dev/provenance/v1", []byte(`{}`))
	if err == nil {
		t.Fatal("attesting without a grant succeeded")
	}
	if tags := e.reg.Tags(t, "app"); !slices.Equal(tags, []string{"v1"}) {
		t.Errorf("tags after refusals: %q", tags)
	}
	var denied int
	for _, en := range e.srv.Entries(t) {
		if en.Decision == audit.Denied && en.Principal.Name == "other" && strings.Contains(en.Artifact.Name, e.image.DigestStr()) {
			denied++
		}
	}
	if denied != 2 {
		t.Errorf("%d refusals logged, want 2", denied)
	}
	// Tags that do not exist are not signed: resolution fails first.
	if _, err := r.Sign(ctx, e.srv.Client("releaser"), "img-p256", e.reg.Host+"/app:nope", nil); err == nil || !strings.Contains(err.Error(), "resolving") {
		t.Errorf("signing a missing tag: %v", err)
	}
	// Without the docker config the registry refuses.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	if _, err := r.Sign(ctx, e.srv.Client("releaser"), "img-p256", e.image.String(), nil); err == nil {
		t.Error("signed without registry credentials")
	}
}
