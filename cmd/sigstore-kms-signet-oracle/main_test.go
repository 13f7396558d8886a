package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/common"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/format/cosign"
	"github.com/signet-dev/signet/format/dsse"
	"github.com/signet-dev/signet/internal/signettest"
	"github.com/signet-dev/signet/internal/testenv/registry"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
)

// pluginDir holds the plugin built once for the package's tests.
var pluginDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "signet-kms-plugin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "sigstore-kms-"+Scheme), ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the plugin: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	pluginDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is a Signet server with cosign keys, a registry with an image, and
// the plugin on PATH with the credentials of principal in the
// environment, as cosign would run it.
type env struct {
	srv   *signettest.Server
	reg   *registry.Registry
	image name.Digest
	pub   crypto.PublicKey // of key img-p256
	dir   string           // credentials, public key
}

func newEnv(t *testing.T, principal string) *env {
	t.Helper()
	reg := registry.Start(t, registry.Options{})
	image := reg.PushRandom(t, "app:v1")
	grant := func(repo string, formats ...string) policy.Rules {
		return policy.Rules{Grants: []policy.Grant{{Keys: []string{"img-*", "plain", "missing"}, Formats: formats,
			Artifacts: []string{reg.Host + "/" + repo + "@sha256:*", "blob-*"}}}}
	}
	srv := signettest.Start(t, signettest.Options{
		Principals: map[string]policy.Rules{
			"releaser": grant("app", "cosign", "cosign-attestation", "cosign-digest"),
			"other":    grant("other", "cosign", "cosign-attestation"),
		},
		Keys: []keystore.Spec{
			{Name: "img-p256", Type: keystore.ECDSAP256, Usage: "cosign"},
			{Name: "img-rsa", Type: keystore.RSA3072, Usage: "cosign"},
			{Name: "plain", Type: keystore.ECDSAP256, Usage: "raw"},
		},
	})
	dir := t.TempDir()
	cfg := srv.Credentials(t, dir, principal)
	t.Setenv("SIGNET_SERVER", cfg.Server)
	t.Setenv("SIGNET_CACERT", cfg.CACert)
	t.Setenv("SIGNET_CLIENT_CERT", cfg.ClientCert)
	t.Setenv("SIGNET_CLIENT_KEY", cfg.ClientKey)
	t.Setenv("SIGNET_TOKEN", "")
	t.Setenv("SIGNET_ARTIFACT", "")
	t.Setenv("PATH", pluginDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	k, err := srv.Client("releaser").Key(context.Background(), "img-p256")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := client.PublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "img.pub"), []byte(k.PublicKey), 0o644); err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, reg: reg, image: image, pub: pub, dir: dir}
}

// pae is DSSE's pre-authentication encoding.
func pae(typ string, body []byte) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(typ), typ, len(body), body)
}

// signed returns the allowed audit entries of format.
func (e *env) signed(t *testing.T, format string) []*audit.Entry {
	var out []*audit.Entry
	for _, en := range e.srv.Entries(t) {
		if en.Format == format && en.Decision == audit.Allowed {
			out = append(out, en)
		}
	}
	return out
}

// TestPluginProtocol drives the plugin with sigstore's own plugin client,
// the code cosign runs it with: an image payload, an attestation's
// pre-auth encoding, a blob, and a bare digest are each signed through
// the format that fits, verified, and recorded.
func TestPluginProtocol(t *testing.T) {
	e := newEnv(t, "releaser")
	ctx := context.Background()
	sv, err := cliplugin.LoadSignerVerifier(ctx, Scheme+"://img-p256", crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sv.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if !e.pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
		t.Fatal("the plugin's public key is not the server key's")
	}

	// cosign sign: the simple signing payload, in format cosign.
	payload, err := cosign.NewPayload(e.image.Context().Name(), e.image.DigestStr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := sv.SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	if err := cosign.Verify(e.pub, payload, sig); err != nil {
		t.Fatalf("payload signature: %v", err)
	}
	if err := sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload)); err != nil {
		t.Errorf("the plugin's own verification: %v", err)
	}
	if es := e.signed(t, "cosign"); len(es) != 1 || es[0].Artifact.Name != e.image.String() || !slices.Contains(es[0].Artifact.Digests, e.image.DigestStr()) {
		t.Errorf("audit entries of format cosign: %+v", es)
	}

	// cosign attest: the PAE of an in-toto statement, in format
	// cosign-attestation; the signature covers the PAE.
	st, err := dsse.NewStatement([]dsse.Subject{{Name: e.image.Context().Name(), Digest: map[string]string{"sha256": strings.TrimPrefix(e.image.DigestStr(), "sha256:")}}},
		"https://slsa.dev/provenance/v1", []byte(`{"builder":{"id":"ci"}}`))
	if err != nil {
		t.Fatal(err)
	}
	msg := pae(dsse.PayloadType, st)
	sig, err = sv.SignMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if err := sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
		t.Errorf("attestation signature over the PAE: %v", err)
	}
	if es := e.signed(t, "cosign-attestation"); len(es) != 1 || es[0].Artifact.Name != e.image.String() || !slices.Contains(es[0].Artifact.Digests, e.image.DigestStr()) {
		t.Errorf("audit entries of format cosign-attestation: %+v", es)
	}

	// cosign sign-blob: hashed here, only the digest sent.
	blob := bytes.Repeat([]byte("blob "), 1<<18) // larger than any statement
	t.Setenv("SIGNET_ARTIFACT", "blob-1.tar")
	sig, err = sv.SignMessage(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	if err := sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(blob)); err != nil {
		t.Errorf("blob signature: %v", err)
	}
	sum := sha256.Sum256(blob)
	es := e.signed(t, "cosign-digest")
	if len(es) != 1 || es[0].Artifact.Name != "blob-1.tar" || es[0].Artifact.Digests[0] != fmt.Sprintf("sha256:%x", sum) {
		t.Errorf("audit entries of format cosign-digest: %+v", es)
	}

	// A digest cosign computed itself (the CryptoSigner path).
	cs, _, err := sv.CryptoSigner(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SIGNET_ARTIFACT", "")
	small := []byte("short message")
	d := sha256.Sum256(small)
	if _, err := cs.Sign(nil, d[:], crypto.SHA256); err == nil {
		t.Error("signed a digest named sha256:HEX, which the grant (blob-*) does not cover")
	}
	t.Setenv("SIGNET_ARTIFACT", "blob-2")
	sig, err = cs.Sign(nil, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(small), options.WithDigest(d[:])); err != nil {
		t.Errorf("digest signature: %v", err)
	}

	// Keys of another usage, and keys that do not exist, are refused
	// with the server's reason.
	for key, want := range map[string]string{"plain": "usage", "missing": "missing"} {
		sv, err := cliplugin.LoadSignerVerifier(ctx, Scheme+"://"+key, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sv.SignMessage(bytes.NewReader(payload)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("key %s: %v, want an error about %q", key, err, want)
		}
	}
	if _, err := sv.CreateKey(ctx, "ecdsa-p256-sha256"); err == nil || !strings.Contains(err.Error(), "signet key create") {
		t.Errorf("CreateKey: %v", err)
	}
}

// TestPluginRefused: a principal without a grant for the image's
// repository gets the server's refusal through the plugin, and it is
// logged.
func TestPluginRefused(t *testing.T) {
	e := newEnv(t, "other")
	sv, err := cliplugin.LoadSignerVerifier(context.Background(), Scheme+"://img-p256", crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := cosign.NewPayload(e.image.Context().Name(), e.image.DigestStr(), nil)
	if _, err := sv.SignMessage(bytes.NewReader(payload)); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("signing without a grant: %v", err)
	}
	var denied bool
	for _, en := range e.srv.Entries(t) {
		denied = denied || en.Decision == audit.Denied && en.Artifact != nil && en.Artifact.Name == e.image.String()
	}
	if !denied {
		t.Error("the refusal is not in the audit log")
	}
}

func TestCheckArgs(t *testing.T) {
	good := func() *common.PluginArgs {
		return &common.PluginArgs{InitOptions: &common.InitOptions{ProtocolVersion: "v1", KeyResourceID: "k", HashFunc: crypto.SHA256},
			MethodArgs: &common.MethodArgs{MethodName: common.PublicKeyMethodName}}
	}
	if err := checkArgs("v1", good()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		version string
		change  func(*common.PluginArgs)
		want    string
	}{
		{"old protocol", "v0", func(*common.PluginArgs) {}, "protocol"},
		{"no init", "v1", func(a *common.PluginArgs) { a.InitOptions = nil }, "protocol"},
		{"no method", "v1", func(a *common.PluginArgs) { a.MethodArgs = nil }, "no method"},
		{"path in key", "v1", func(a *common.PluginArgs) { a.InitOptions.KeyResourceID = "a/b" }, "KEY"},
		{"sha512", "v1", func(a *common.PluginArgs) { a.InitOptions.HashFunc = crypto.SHA512 }, "SHA-256"},
	}
	for _, tt := range tests {
		a := good()
		tt.change(a)
		if err := checkArgs(tt.version, a); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"x", "v1", "{not json"}, nil, &out, &bytes.Buffer{}); code == 0 || !strings.Contains(out.String(), "errorMessage") {
		t.Errorf("bad JSON: exit %d, %s", code, out.String())
	}
}

func TestParsePAE(t *testing.T) {
	typ, body, err := parsePAE(pae(dsse.PayloadType, []byte("hello world")))
	if err != nil || typ != dsse.PayloadType || string(body) != "hello world" {
		t.Fatalf("parsePAE = %q, %q, %v", typ, body, err)
	}
	if _, body, err := parsePAE([]byte("DSSEv1 1 t 0 ")); err != nil || len(body) != 0 {
		t.Errorf("empty body: %q, %v", body, err)
	}
	for _, bad := range []string{"", "DSSEv1", "DSSEv1 1 t", "DSSEv1 1 t 2 a", "DSSEv1 1 t 1 ab", "DSSEv1 01 t 1 a", "DSSEv1 -1 t 1 a",
		"DSSEv1 1 tx1 a", "DSSEv2 1 t 1 a", "DSSEv1 99999999999 t 1 a"} {
		if _, _, err := parsePAE([]byte(bad)); err == nil {
			t.Errorf("parsePAE(%q) succeeded", bad)
		}
	}
}

func FuzzParsePAE(f *testing.F) {
	f.Add(pae(dsse.PayloadType, []byte(`{"a":1}`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, body, err := parsePAE(b)
		if err != nil {
			return
		}
		// What parses is exactly the encoding of its parts.
		if again := pae(typ, body); !bytes.Equal(again, b) {
			t.Fatalf("parsePAE(%q) = %q, %q, which encode as %q", b, typ, body, again)
		}
	})
}
