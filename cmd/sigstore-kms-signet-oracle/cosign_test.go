package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/internal/testenv/cosign"
)

// TestCosignWithPlugin runs the real cosign with the plugin on PATH:
// cosign sign, cosign attest and cosign sign-blob with --key
// signet-oracle://img-p256 sign through Signet, cosign verify --key,
// verify-attestation and verify-blob accept the results, each signature
// is in the audit log with the image digest, and a principal without a
// grant for the repository makes cosign fail. Opt-in stage
// (SIGNET_TEST_COSIGN=1); TestPluginProtocol covers the same with
// sigstore's plugin client in every run.
func TestCosignWithPlugin(t *testing.T) {
	bin := cosign.OptIn(t)
	e := newEnv(t, "releaser")
	ref := Scheme + "://img-p256"
	pub := filepath.Join(e.dir, "img.pub")
	env := []string{"TUF_ROOT=" + t.TempDir(), "COSIGN_YES=true"}
	img := e.image.String()

	cosign.Run(t, bin, env, "sign", "--key", ref, "--tlog-upload=false", img)
	out := cosign.Run(t, bin, env, "verify", "--key", pub, "--insecure-ignore-tlog", img)
	if !strings.Contains(out, e.image.DigestStr()) {
		t.Errorf("cosign verify:\n%s", out)
	}
	predicate := filepath.Join(e.dir, "provenance.json")
	if err := os.WriteFile(predicate, []byte(`{"builder":{"id":"ci"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cosign.Run(t, bin, env, "attest", "--key", ref, "--tlog-upload=false", "--type", "https://example.com/build/v1", "--predicate", predicate, img)
	cosign.Run(t, bin, env, "verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "https://example.com/build/v1", img)

	blob := filepath.Join(e.dir, "blob-1.tar")
	if err := os.WriteFile(blob, []byte("release contents\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sig := blob + ".sig"
	cosign.Run(t, bin, append(env, "SIGNET_ARTIFACT=blob-1.tar"), "sign-blob", "--key", ref, "--tlog-upload=false", "--output-signature", sig, blob)
	cosign.Run(t, bin, env, "verify-blob", "--key", pub, "--insecure-ignore-tlog", "--signature", sig, blob)
	if err := os.WriteFile(blob, []byte("other contents\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := cosign.Try(bin, env, "verify-blob", "--key", pub, "--insecure-ignore-tlog", "--signature", sig, blob); err == nil {
		t.Errorf("cosign verified a changed blob:\n%s", out)
	}

	for _, format := range []string{"cosign", "cosign-attestation"} {
		es := e.signed(t, format)
		if len(es) != 1 || es[0].Artifact.Name != img || !slices.Contains(es[0].Artifact.Digests, e.image.DigestStr()) {
			t.Errorf("audit entries of format %s: %+v", format, es)
		}
	}
	if es := e.signed(t, "cosign-digest"); len(es) != 1 || es[0].Artifact.Name != "blob-1.tar" {
		t.Errorf("audit entries of format cosign-digest: %+v", es)
	}
}

// TestCosignWithPluginRefused: cosign fails when the principal has no
// grant for the repository, and nothing is attached.
func TestCosignWithPluginRefused(t *testing.T) {
	bin := cosign.OptIn(t)
	e := newEnv(t, "other")
	env := []string{"TUF_ROOT=" + t.TempDir(), "COSIGN_YES=true"}
	out, err := cosign.Try(bin, env, "sign", "--key", Scheme+"://img-p256", "--tlog-upload=false", e.image.String())
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("cosign sign without a grant: %v\n%s", err, out)
	}
	if tags := e.reg.Tags(t, "app"); !slices.Equal(tags, []string{"v1"}) {
		t.Errorf("tags after a refused signing: %q", tags)
	}
	var denied bool
	for _, en := range e.srv.Entries(t) {
		denied = denied || en.Decision == audit.Denied && en.Artifact != nil && en.Artifact.Name == e.image.String()
	}
	if !denied {
		t.Error("the refusal is not in the audit log")
	}
}
