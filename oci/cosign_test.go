package oci_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/testenv/cosign"
	"github.com/signet-dev/signet/oci"
)

// TestCosignVerifies has the real cosign command check what Signet
// attached: `cosign verify --key` on the image signatures and `cosign
// verify-attestation --key` on the attestation, offline (no transparency
// log: Signet's audit log is the record), with the registry credentials
// in $DOCKER_CONFIG. It is an opt-in stage (SIGNET_TEST_COSIGN=1): the
// first run builds cosign from source, which takes longer than the test
// budget on this machine (docs/formats.md#cosign-in-the-tests).
func TestCosignVerifies(t *testing.T) {
	bin := cosign.OptIn(t)
	e := newEnv(t)
	ctx := context.Background()
	c := e.srv.Client("releaser")
	var r oci.Registry
	if _, err := r.Sign(ctx, c, "img-p256", e.reg.Host+"/app:v1", map[string]string{"run": "42"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Attest(ctx, c, "img-p256", e.image.String(), "https://slsa.dev/provenance/v1", []byte(`{"builder":{"id":"ci"}}`)); err != nil {
		t.Fatal(err)
	}
	k, err := c.Key(ctx, "img-p256")
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(t.TempDir(), "img.pub")
	if err := os.WriteFile(pub, []byte(k.PublicKey), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"DOCKER_CONFIG=" + e.dockerConfig, "TUF_ROOT=" + t.TempDir()}
	out := cosign.Run(t, bin, env, "verify", "--key", pub, "--insecure-ignore-tlog", "-a", "run=42", e.image.String())
	if !strings.Contains(out, `"docker-manifest-digest":"`+e.image.DigestStr()+`"`) {
		t.Errorf("cosign verify output does not name the digest:\n%s", out)
	}
	out = cosign.Run(t, bin, env, "verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "https://slsa.dev/provenance/v1", e.image.String())
	if !strings.Contains(out, "payloadType") {
		t.Errorf("cosign verify-attestation output:\n%s", out)
	}
	// A key that did not sign, and an annotation that was not signed,
	// are refused by cosign: the checks above can fail.
	other, err := c.Key(ctx, "img-rsa")
	if err != nil {
		t.Fatal(err)
	}
	otherPub := filepath.Join(t.TempDir(), "other.pub")
	if err := os.WriteFile(otherPub, []byte(other.PublicKey), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := cosign.Try(bin, env, "verify", "--key", otherPub, "--insecure-ignore-tlog", e.image.String()); err == nil {
		t.Errorf("cosign verified with a key that did not sign:\n%s", out)
	}
	if out, err := cosign.Try(bin, env, "verify", "--key", pub, "--insecure-ignore-tlog", "-a", "run=43", e.image.String()); err == nil {
		t.Errorf("cosign verified an annotation that was not signed:\n%s", out)
	}
}
