package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/format/authenticode"
	"github.com/signet-dev/signet/format/authenticode/authenticodetest"
	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/server"
)

// newAuthenticodeFixture is the fixture plus keys of usage authenticode,
// "win-p256" and "win-p384", and a raw key "raw-p256". The fixture's CA
// acts as the code-signing CA; its certificate is caFile.
func newAuthenticodeFixture(t *testing.T) (f *fixture, caFile string) {
	t.Helper()
	f = newFixture(t, server.Limits{})
	for _, k := range []keystore.Spec{
		{Name: "win-p256", Type: keystore.ECDSAP256, Usage: "authenticode"},
		{Name: "win-p384", Type: keystore.ECDSAP384, Usage: "authenticode"},
		{Name: "raw-p256", Type: keystore.ECDSAP256, Usage: "raw"},
	} {
		if _, err := f.keys.Create(k); err != nil {
			t.Fatal(err)
		}
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, devpki.CertPEM(f.ca.TLSCertificate()), 0o644); err != nil {
		t.Fatal(err)
	}
	return f, caFile
}

// certify has key request a certificate, has ca issue it, and attaches
// the chain (leaf, CA); it returns the chain's PEM.
func (f *fixture) certify(t *testing.T, ca *devpki.CA, key, subject string) []byte {
	t.Helper()
	ctx := context.Background()
	csr, err := f.clients["admin"].KeyCSR(ctx, key, subject)
	if err != nil {
		t.Fatal(err)
	}
	chain := issueFromCSR(t, ca, csr.CSR)
	if _, err := f.clients["admin"].AttachChain(ctx, key, chain); err != nil {
		t.Fatal(err)
	}
	return chain
}

// issueFromCSR has ca issue a code-signing certificate for a PEM request
// and returns the chain, leaf first.
func issueFromCSR(t *testing.T, ca *devpki.CA, csrPEM string) []byte {
	t.Helper()
	block, _ := pem.Decode([]byte(csrPEM))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("not a PEM certificate request: %q", csrPEM)
	}
	leaf, err := ca.IssueCodeSigning(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), devpki.CertPEM(ca.TLSCertificate())...)
}

// writePE writes a generated PE file into dir.
func writePE(t *testing.T, dir, name string, pe32plus bool) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, authenticodetest.MinimalPE(pe32plus, []byte{0xc3}, []byte(name)), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKeyCertificates covers certificate requests and chain import: who
// may, which keys, what the server checks, and what the log records.
func TestKeyCertificates(t *testing.T) {
	f, _ := newAuthenticodeFixture(t)
	ctx := context.Background()
	admin := f.clients["admin"]

	csr, err := admin.KeyCSR(ctx, "win-p256", "")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(csr.CSR))
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil || req.CheckSignature() != nil || req.Subject.String() != "CN=win-p256" || csr.Subject != "CN=win-p256" {
		t.Fatalf("default CSR %+v: %v", req, err)
	}
	k, _ := f.keys.Key("win-p256")
	if !k.Public.(interface{ Equal(crypto.PublicKey) bool }).Equal(req.PublicKey) {
		t.Fatal("the CSR is not for the key")
	}
	if e := f.lastEntry(t); e.Action != audit.ActionKeyCert || e.Decision != audit.Allowed || e.Details["operation"] != "csr" || e.Details["subject"] != "CN=win-p256" || e.Key.Fingerprint != k.Fingerprint() {
		t.Errorf("CSR audit entry %+v", e)
	}
	csr, err = admin.KeyCSR(ctx, "win-p256", "CN=Example Release,O=Example Corp,C=FR")
	if err != nil || csr.Subject != "CN=Example Release,O=Example Corp,C=FR" {
		t.Fatalf("CSR with subject: %+v, %v", csr, err)
	}

	// Who and which keys.
	_, err = f.clients["releaser"].KeyCSR(ctx, "win-p256", "")
	wantAPIError(t, err, "forbidden", "")
	if e := f.lastEntry(t); e.Action != audit.ActionKeyCert || e.Decision != audit.Denied {
		t.Errorf("refused CSR entry %+v", e)
	}
	_, err = admin.KeyCSR(ctx, "tokens", "")
	wantAPIError(t, err, "bad_request", "--usage authenticode, notation or raw")
	_, err = admin.KeyCSR(ctx, "win-p256", "CN=a+O=b")
	wantAPIError(t, err, "bad_request", "multi-valued")
	_, err = admin.KeyCSR(ctx, "nokey", "")
	wantAPIError(t, err, "not_found", "")

	// Import: the chain must be for the key, for code signing, and
	// well formed.
	good := issueFromCSR(t, f.ca, csr.CSR)
	other, err := admin.KeyCSR(ctx, "win-p384", "")
	if err != nil {
		t.Fatal(err)
	}
	// A certificate for the key, but for TLS clients only.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "TLS"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	tlsDER, err := x509.CreateCertificate(rand.Reader, tmpl, f.ca.Cert, k.Public, f.ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	tlsOnly := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsDER})
	throwaway, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(throwaway)
	if err != nil {
		t.Fatal(err)
	}
	privatePEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	for _, tc := range []struct {
		name, chain, code, msg string
	}{
		{"another key's", string(issueFromCSR(t, f.ca, other.CSR)), "bad_request", "for another public key"},
		{"not code signing", string(tlsOnly), "bad_request", "lacks the codeSigning extended key usage"},
		{"CA first", string(devpki.CertPEM(f.ca.TLSCertificate())) + string(good), "bad_request", "for another public key"},
		{"private key", string(good) + string(privatePEM), "bad_request", "keys stay in Signet"},
		{"empty", "", "bad_request", "no PEM CERTIFICATE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := admin.AttachChain(ctx, "win-p256", []byte(tc.chain))
			wantAPIError(t, err, tc.code, tc.msg)
		})
	}
	_, err = f.clients["releaser"].AttachChain(ctx, "win-p256", good)
	wantAPIError(t, err, "forbidden", "")
	_, err = admin.KeyChain(ctx, "win-p256")
	wantAPIError(t, err, "no_certificate", "--import-chain")

	kc, err := admin.AttachChain(ctx, "win-p256", good)
	if err != nil {
		t.Fatal(err)
	}
	if kc.Subject != "CN=Example Release,O=Example Corp,C=FR" || kc.Issuer != "CN=test CA" || kc.Chain != string(good) {
		t.Errorf("attached %+v", kc)
	}
	e := f.lastEntry(t)
	if e.Action != audit.ActionKeyCert || e.Decision != audit.Allowed || e.Details["operation"] != "import-chain" ||
		e.Details["subject"] != kc.Subject || e.Details["serial"] != kc.Serial || e.Details["certificates"] != "2" {
		t.Errorf("import audit entry %+v", e)
	}
	if b, err := os.ReadFile(filepath.Join(f.certDir, "win-p256.pem")); err != nil || !bytes.Equal(b, good) {
		t.Errorf("stored chain: %v", err)
	}
	// Anyone who may use the key may read its chain.
	if got, err := f.clients["releaser"].KeyChain(ctx, "win-p256"); err != nil || got.Chain != string(good) {
		t.Errorf("releaser reads the chain: %v", err)
	}
	if _, err := f.clients["builder"].KeyChain(ctx, "win-p256"); err == nil {
		t.Error("builder, who has no grant for the key, read its chain")
	}
}

// TestSignAuthenticode signs PE files through the client and has
// osslsigncode verify them, and checks the audit entry.
func TestSignAuthenticode(t *testing.T) {
	f, caFile := newAuthenticodeFixture(t)
	ctx := context.Background()
	f.certify(t, f.ca, "win-p256", "CN=Example Release,O=Example Corp")
	f.certify(t, f.ca, "win-p384", "")
	dir := t.TempDir()
	for _, key := range []string{"win-p256", "win-p384"} {
		t.Run(key, func(t *testing.T) {
			in32, in64 := writePE(t, dir, key+"-32.exe", false), writePE(t, dir, key+"-64.dll", true)
			out64 := filepath.Join(dir, key+"-64-signed.dll")
			signed, err := f.clients["admin"].SignAuthenticode(ctx, key, []string{in32, in64}, []string{in32, out64})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range signed {
				if out, err := authenticodetest.Verify(caFile, s.Out); err != nil {
					t.Errorf("%s: osslsigncode verify: %v\n%s", s.Out, err, out)
				}
				if s.Replaced || s.Receipt == nil {
					t.Errorf("%+v", s)
				}
			}
			if fi, err := os.Stat(out64); err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("signed file mode: %v %v", fi.Mode(), err)
			}
			if out, err := authenticodetest.Verify(caFile, in64); err == nil {
				t.Errorf("the input of -o was signed:\n%s", out)
			}
			e := f.lastEntry(t)
			leaf := signed[1].Signer
			if e.Format != "authenticode" || e.Artifact.Name != key+"-64.dll" || e.Artifact.Digests[0] != signed[1].Digest ||
				e.Details["pe_file"] != key+"-64.dll" || e.Details["pe_hash"] != signed[1].Digest ||
				e.Details["signer_subject"] != leaf.Subject.String() || e.Details["signer_serial"] != leaf.SerialNumber.Text(16) {
				t.Errorf("audit entry %+v %+v", e, e.Artifact)
			}
		})
	}
	// Signing a signed file replaces its signature.
	in := writePE(t, dir, "twice.exe", false)
	for i, key := range []string{"win-p256", "win-p384"} {
		s, err := f.clients["admin"].SignAuthenticode(ctx, key, []string{in}, []string{in})
		if err != nil {
			t.Fatal(err)
		}
		if s[0].Replaced != (i == 1) {
			t.Errorf("signature %d: Replaced %v", i+1, s[0].Replaced)
		}
	}
	if out, err := authenticodetest.Verify(caFile, in); err != nil || !strings.Contains(out, "CN=win-p384") {
		t.Errorf("re-signed file: %v\n%s", err, out)
	}
}

// TestAuthenticodeRefusals covers what the server never signs.
func TestAuthenticodeRefusals(t *testing.T) {
	f, caFile := newAuthenticodeFixture(t)
	ctx := context.Background()
	admin := f.clients["admin"]
	dir := t.TempDir()
	exe := writePE(t, dir, "app.exe", false)
	indirect := authenticode.NewIndirectData(make([]byte, 32))
	sign := func(who, key string, it api.SignItem, opts api.SignOptions) error {
		_, err := f.clients[who].Sign(ctx, &api.SignRequest{Key: key, Format: "authenticode", Options: opts, Items: []api.SignItem{it}})
		return err
	}
	item := api.SignItem{Name: "app.exe", Data: indirect}

	_, err := admin.SignAuthenticode(ctx, "win-p256", []string{exe}, []string{exe})
	wantAPIError(t, err, "no_certificate", "signet key cert win-p256 --csr")
	f.certify(t, f.ca, "win-p256", "")

	// Only the canonical SpcIndirectDataContent of a SHA-256 digest.
	for _, data := range [][]byte{[]byte("arbitrary bytes to sign"), make([]byte, 32), indirect[:len(indirect)-1], append(bytes.Clone(indirect), 0)} {
		wantAPIError(t, sign("admin", "win-p256", api.SignItem{Name: "app.exe", Data: data}, api.SignOptions{}), "bad_request", "not a PE image SpcIndirectDataContent")
	}
	wantAPIError(t, sign("admin", "win-p256", api.SignItem{Name: "app.exe", Digest: "sha256:" + strings.Repeat("00", 32)}, api.SignOptions{}), "bad_request", "not a digest")
	wantAPIError(t, sign("admin", "win-p256", item, api.SignOptions{RSAPSS: true}), "bad_request", "PKCS #1 v1.5")

	// Grants are per format; usages are per key.
	wantAPIError(t, sign("builder", "release", item, api.SignOptions{}), "forbidden", "")
	wantAPIError(t, sign("releaser", "win-p256", item, api.SignOptions{}), "forbidden", "")
	wantAPIError(t, sign("admin", "raw-p256", item, api.SignOptions{}), "wrong_usage", "--usage authenticode")
	_, err = admin.Sign(ctx, &api.SignRequest{Key: "win-p256", Format: "raw", Items: []api.SignItem{{Name: "a.tar.gz", Digest: "sha256:" + strings.Repeat("00", 32)}}})
	wantAPIError(t, err, "wrong_usage", "")
	_, err = admin.CreateKey(ctx, &api.CreateKeyRequest{Name: "win-ed", Type: "ed25519", Usage: "authenticode"})
	wantAPIError(t, err, "bad_request", "cannot be created for usage \"authenticode\"")

	// A chain file replaced on disk by another key's is refused at
	// signing time, not embedded.
	other := f.certify(t, f.ca, "win-p384", "")
	if err := os.WriteFile(filepath.Join(f.certDir, "win-p256.pem"), other, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = admin.SignAuthenticode(ctx, "win-p256", []string{exe}, []string{exe})
	wantAPIError(t, err, "bad_certificate", "for another public key")
	if out, err := authenticodetest.Verify(caFile, exe); err == nil {
		t.Errorf("a refused signature left the file signed:\n%s", out)
	}
}
