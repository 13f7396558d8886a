package cot_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-dev/signet/cot/cottest"
	format "github.com/signet-dev/signet/format/cot"
)

func document(t *testing.T) []byte {
	t.Helper()
	g := cottest.New(cottest.Options{})
	return g.ServedData(g.ByRole["build-windows"].ID, "public/chain-of-trust.json")
}

// TestSignVerifiesWithOpenSSL signs a document and checks the signature
// with openssl, which knows nothing of chain of trust: proof that the
// signature is plain Ed25519 over the exact bytes.
func TestSignVerifiesWithOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is required; run ./scripts/test, which installs it")
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	doc := document(t)
	sig, info, err := format.Sign(priv, doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != 64 || info.TaskID == "" || info.Artifacts != 2 {
		t.Fatalf("sig %d bytes, info %+v", len(sig), info)
	}
	if err := format.Verify(pub, doc, sig); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	der, _ := x509.MarshalPKIXPublicKey(pub)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pubPEM := write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	docPath := write("chain-of-trust.json", doc)
	sigPath := write("chain-of-trust.json.sig", sig)
	run := func(in string) (string, error) {
		out, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pubPEM, "-rawin", "-in", in, "-sigfile", sigPath).CombinedOutput()
		return string(out), err
	}
	if out, err := run(docPath); err != nil || !strings.Contains(out, "Signature Verified Successfully") {
		t.Fatalf("openssl rejected a good signature: %v\n%s", err, out)
	}
	// One changed byte, or the same JSON re-serialized, does not verify.
	tampered := write("tampered.json", bytes.Replace(doc, []byte(`"runId": 0`), []byte(`"runId": 1`), 1))
	if out, err := run(tampered); err == nil {
		t.Fatalf("openssl accepted a tampered document:\n%s", out)
	}
	if err := format.Verify(pub, bytes.ReplaceAll(doc, []byte("\n  "), []byte("\n ")), sig); err == nil {
		t.Fatal("Verify accepted a re-indented document")
	}
}

func TestSignRefuses(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	doc := document(t)
	if _, _, err := format.Sign(ec, doc); err == nil || !strings.Contains(err.Error(), "Ed25519") {
		t.Errorf("ECDSA key: err = %v", err)
	}
	for _, bad := range [][]byte{[]byte("hello"), []byte(`{"chainOfTrustVersion":1}`), nil} {
		if _, _, err := format.Sign(priv, bad); err == nil {
			t.Errorf("signed %q, which is not a chain-of-trust document", bad)
		}
	}
}
