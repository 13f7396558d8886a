package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/dir"
	notationplugin "github.com/notaryproject/notation-go/plugin"
	"github.com/notaryproject/notation-go/registry"
	notationsigner "github.com/notaryproject/notation-go/signer"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/internal/signettest"
	testregistry "github.com/signet-dev/signet/internal/testenv/registry"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
)

// pluginPath is the plugin built once for the package's tests.
var pluginPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "signet-notation-plugin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginPath = filepath.Join(dir, "notation-"+Name)
	if out, err := exec.Command("go", "build", "-o", pluginPath, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the plugin: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testCA is a root CA made for the test, which issues code-signing
// certificates for server keys.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Signet test root", Organization: []string{"Signet"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

// issue returns the PEM chain (leaf, root) of a code-signing certificate
// for pub, as notation requires it.
func (ca *testCA) issue(t *testing.T, pub crypto.PublicKey, cn string) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: []string{"Signet"}, Country: []string{"US"}, Province: []string{"WA"}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(12 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})...)
}

type env struct {
	srv   *signettest.Server
	reg   *testregistry.Registry
	image string // REG/app@sha256:…
	ca    *testCA
}

func newEnv(t *testing.T, principal string) *env {
	t.Helper()
	reg := testregistry.Start(t, testregistry.Options{})
	image := reg.PushRandom(t, "app:v1").String()
	srv := signettest.Start(t, signettest.Options{
		Principals: map[string]policy.Rules{
			"admin":    {Admin: true},
			"releaser": {Grants: []policy.Grant{{Keys: []string{"note-*"}, Formats: []string{"notation"}, Artifacts: []string{reg.Host + "/app@sha256:*"}}}},
			"other":    {Grants: []policy.Grant{{Keys: []string{"note-*"}, Formats: []string{"notation"}, Artifacts: []string{reg.Host + "/other@sha256:*"}}}},
		},
		Keys: []keystore.Spec{
			{Name: "note-p256", Type: keystore.ECDSAP256, Usage: "notation"},
			{Name: "note-p384", Type: keystore.ECDSAP384, Usage: "notation"},
			{Name: "note-rsa", Type: keystore.RSA3072, Usage: "notation"},
			{Name: "note-nochain", Type: keystore.ECDSAP256, Usage: "notation"},
		},
	})
	ca := newCA(t)
	ctx := context.Background()
	admin := srv.Client("admin")
	for _, key := range []string{"note-p256", "note-p384", "note-rsa"} {
		k, err := admin.Key(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := client.PublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.AttachChain(ctx, key, ca.issue(t, pub, key)); err != nil {
			t.Fatalf("attaching the chain of %s: %v", key, err)
		}
	}
	cfg := srv.Credentials(t, t.TempDir(), principal)
	t.Setenv("SIGNET_SERVER", cfg.Server)
	t.Setenv("SIGNET_CACERT", cfg.CACert)
	t.Setenv("SIGNET_CLIENT_CERT", cfg.ClientCert)
	t.Setenv("SIGNET_CLIENT_KEY", cfg.ClientKey)
	t.Setenv("SIGNET_TOKEN", "")
	return &env{srv: srv, reg: reg, image: image, ca: ca}
}

func (e *env) repo(t *testing.T) registry.Repository {
	t.Helper()
	r, err := remote.NewRepository(e.image)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	return registry.NewRepository(r)
}

// sign signs the image with notation-go's own plugin signer, which runs
// the plugin executable as notation does.
func (e *env) sign(t *testing.T, key string, config map[string]string) error {
	t.Helper()
	ctx := context.Background()
	p, err := notationplugin.NewCLIPlugin(ctx, Name, pluginPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := notationsigner.NewPluginSigner(p, key, config)
	if err != nil {
		t.Fatal(err)
	}
	_, err = notation.Sign(ctx, s, e.repo(t), notation.SignOptions{
		SignerSignOptions: notation.SignerSignOptions{SignatureMediaType: "application/jose+json"},
		ArtifactReference: e.image,
	})
	return err
}

// verify verifies the image with notation-go's verifier, trusting the
// test CA for the registry's repository.
func (e *env) verify(t *testing.T, ca *testCA) error {
	t.Helper()
	root := t.TempDir()
	store := filepath.Join(root, "truststore", "x509", "ca", "signet")
	if err := os.MkdirAll(store, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, "root.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	repoName := e.image[:strings.IndexByte(e.image, '@')]
	policyDoc := trustpolicy.Document{Version: "1.0", TrustPolicies: []trustpolicy.TrustPolicy{{
		Name: "signet", RegistryScopes: []string{repoName},
		SignatureVerification: trustpolicy.SignatureVerification{VerificationLevel: trustpolicy.LevelStrict.Name},
		TrustStores:           []string{"ca:signet"}, TrustedIdentities: []string{"*"},
	}}}
	v, err := verifier.New(&policyDoc, truststore.NewX509TrustStore(dir.NewSysFS(root)), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, outcomes, err := notation.Verify(context.Background(), v, e.repo(t), notation.VerifyOptions{ArtifactReference: e.image, MaxSignatureAttempts: 10})
	if err == nil && len(outcomes) == 0 {
		err = fmt.Errorf("no verification outcome")
	}
	return err
}

// TestNotationSignVerify signs an image through the plugin with ECDSA
// P-256, P-384 and RSA-PSS keys and verifies each with notation-go's
// verifier, against a trust store holding the CA that issued the keys'
// certificates; every signature is in the audit log with the image
// digest.
func TestNotationSignVerify(t *testing.T) {
	e := newEnv(t, "releaser")
	repoName := e.image[:strings.IndexByte(e.image, '@')]
	digest := e.image[strings.IndexByte(e.image, '@')+1:]
	for _, key := range []string{"note-p256", "note-p384", "note-rsa"} {
		if err := e.sign(t, key, map[string]string{"repository": repoName}); err != nil {
			t.Fatalf("signing with %s: %v", key, err)
		}
	}
	if err := e.verify(t, e.ca); err != nil {
		t.Fatalf("notation verification: %v", err)
	}
	// Another CA's trust store does not accept them.
	if err := e.verify(t, newCA(t)); err == nil {
		t.Error("verified against a trust store without the issuing CA")
	}
	var algs []string
	for _, en := range e.srv.Entries(t) {
		if en.Format == "notation" && en.Decision == audit.Allowed {
			if en.Artifact.Name != e.image || !slices.Contains(en.Artifact.Digests, digest) {
				t.Errorf("audit entry %+v", en.Artifact)
			}
			algs = append(algs, en.Details["algorithm"])
		}
	}
	slices.Sort(algs)
	if !slices.Equal(algs, []string{"ES256", "ES384", "PS384"}) {
		t.Errorf("algorithms signed: %q", algs)
	}
}

// TestNotationRefused: no grant for the repository, no repository named,
// or no certificate chain: the plugin fails with the reason, and refusals
// by policy are logged.
func TestNotationRefused(t *testing.T) {
	e := newEnv(t, "other")
	repoName := e.image[:strings.IndexByte(e.image, '@')]
	if err := e.sign(t, "note-p256", map[string]string{"repository": repoName}); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("signing without a grant: %v", err)
	}
	if err := e.sign(t, "note-p256", nil); err == nil || !strings.Contains(err.Error(), "plugin-config repository=") {
		t.Errorf("signing without a repository: %v", err)
	}
	var denied bool
	for _, en := range e.srv.Entries(t) {
		denied = denied || en.Decision == audit.Denied && en.Artifact != nil && en.Artifact.Name == e.image
	}
	if !denied {
		t.Error("the refusal is not in the audit log")
	}
	e2 := newEnv(t, "releaser")
	repoName = e2.image[:strings.IndexByte(e2.image, '@')]
	if err := e2.sign(t, "note-nochain", map[string]string{"repository": repoName}); err == nil || !strings.Contains(err.Error(), "signet key cert") {
		t.Errorf("signing with a key without a chain: %v", err)
	}
	if err := e2.verify(t, e2.ca); err == nil {
		t.Error("an image whose signing failed verifies")
	}
}
