package keycert_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/keycert"
)

// ca is a test CA or intermediate.
type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var serial int64

func issue(t *testing.T, tmpl *x509.Certificate, parent *ca, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(time.Hour)
	}
	p := tmpl
	if parent != nil {
		p, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newCA(t *testing.T, name string, parent *ca, eku ...x509.ExtKeyUsage) *ca {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, ExtKeyUsage: eku}
	return &ca{issue(t, tmpl, parent, key.Public(), key), key}
}

func codeSigning(name string) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: name}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
}

func TestCheckChain(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root := newCA(t, "root", nil)
	inter := newCA(t, "intermediate", root)
	serverOnly := newCA(t, "TLS intermediate", root, x509.ExtKeyUsageServerAuth)
	pub := key.Public()
	leaf := issue(t, codeSigning("release"), inter, pub, nil)
	now := time.Now()
	for _, tc := range []struct {
		name  string
		chain []*x509.Certificate
		want  string // "" for accepted
	}{
		{"leaf intermediate root", []*x509.Certificate{leaf, inter.cert, root.cert}, ""},
		{"leaf intermediate", []*x509.Certificate{leaf, inter.cert}, ""},
		{"leaf only", []*x509.Certificate{leaf}, ""},
		{"empty", nil, "1 to 8 certificates"},
		{"another key", []*x509.Certificate{issue(t, codeSigning("other"), inter, other.Public(), nil), inter.cert}, "for another public key"},
		{"no code signing", []*x509.Certificate{issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "tls"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, inter, pub, nil), inter.cert}, "lacks the codeSigning"},
		{"any usage only", []*x509.Certificate{issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "any"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}, inter, pub, nil)}, "lacks the codeSigning"},
		{"no digital signature", []*x509.Certificate{issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "enc"}, KeyUsage: x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}, inter, pub, nil)}, "does not allow digital signatures"},
		{"expired", []*x509.Certificate{issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "old"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}, inter, pub, nil)}, "not now"},
		{"leaf is a CA", []*x509.Certificate{issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}, inter, pub, nil)}, "is a CA certificate"},
		{"wrong order", []*x509.Certificate{leaf, root.cert, inter.cert}, "is not issued by certificate 2"},
		{"issuer not a CA", []*x509.Certificate{leaf, issue(t, codeSigning("not a CA"), root, inter.key.Public(), nil)}, "is not issued by"},
		{"intermediate for TLS only", []*x509.Certificate{issue(t, codeSigning("release"), serverOnly, pub, nil), serverOnly.cert, root.cert}, "chain of certificate"},
		{"too long", []*x509.Certificate{leaf, inter.cert, inter.cert, inter.cert, inter.cert, inter.cert, inter.cert, inter.cert, root.cert}, "1 to 8 certificates"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := keycert.CheckChain(tc.chain, pub, keycert.CodeSigning, now)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if err := keycert.CheckChain([]*x509.Certificate{leaf, inter.cert}, pub, keycert.CodeSigning, now.Add(2*time.Hour)); err == nil {
		t.Error("accepted a chain after its leaf expired")
	}
}

// TestCheckChainTimeStamping checks the stricter leaf of a TSA: the
// timeStamping usage alone, in a critical extension (RFC 3161 2.3).
func TestCheckChainTimeStamping(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root := newCA(t, "root", nil)
	pub := key.Public()
	ekuExt := func(critical bool, oids ...asn1.ObjectIdentifier) pkix.Extension {
		v, err := asn1.Marshal(oids)
		if err != nil {
			t.Fatal(err)
		}
		return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: critical, Value: v}
	}
	ts, cs := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 3}
	leaf := func(ext pkix.Extension) []*x509.Certificate {
		return []*x509.Certificate{issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "tsa"}, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtraExtensions: []pkix.Extension{ext}}, root, pub, nil), root.cert}
	}
	for _, tc := range []struct {
		name  string
		chain []*x509.Certificate
		want  string
	}{
		{"critical timeStamping", leaf(ekuExt(true, ts)), ""},
		{"not critical", leaf(ekuExt(false, ts)), "in a critical extension"},
		{"with codeSigning too", leaf(ekuExt(true, ts, cs)), "alone"},
		{"codeSigning only", leaf(ekuExt(true, cs)), "lacks the timeStamping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := keycert.CheckChain(tc.chain, pub, keycert.TimeStamping, time.Now())
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestDir(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root := newCA(t, "root", nil)
	chain := []*x509.Certificate{issue(t, codeSigning("release"), root, key.Public(), nil), root.cert}
	d := keycert.NewDir(filepath.Join(t.TempDir(), "certs"))
	if _, err := d.Chain("release"); !errors.Is(err, keycert.ErrNoChain) {
		t.Errorf("Chain before Attach: %v, want ErrNoChain", err)
	}
	for _, c := range [][]*x509.Certificate{chain[:1], chain} { // attach, then replace
		if err := d.Attach("release", c); err != nil {
			t.Fatal(err)
		}
		got, err := d.Chain("release")
		if err != nil || len(got) != len(c) || !got[0].Equal(c[0]) {
			t.Fatalf("Chain = %v, %v", got, err)
		}
	}
	for _, bad := range []string{"../x", "", ".hidden", "A"} {
		if err := d.Attach(bad, chain); err == nil {
			t.Errorf("attached a chain to key %q", bad)
		}
	}
}

func TestDirFiles(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root := newCA(t, "root", nil)
	chain := []*x509.Certificate{issue(t, codeSigning("release"), root, key.Public(), nil), root.cert}
	dir := filepath.Join(t.TempDir(), "certs")
	if err := keycert.NewDir(dir).Attach("release", chain); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 || ents[0].Name() != "release.pem" {
		t.Fatalf("directory holds %v (%v), want release.pem only", ents, err)
	}
	fi, _ := ents[0].Info()
	b, _ := os.ReadFile(filepath.Join(dir, "release.pem"))
	if fi.Mode().Perm() != 0o644 || !bytes.Equal(b, keycert.EncodeChain(chain)) {
		t.Errorf("release.pem: mode %v, contents\n%s", fi.Mode(), b)
	}
	// A damaged file is an error naming it, not an empty chain.
	os.WriteFile(filepath.Join(dir, "release.pem"), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644)
	if _, err := keycert.NewDir(dir).Chain("release"); err == nil || !strings.Contains(err.Error(), "release.pem") || errors.Is(err, keycert.ErrNoChain) {
		t.Errorf("damaged chain file: %v", err)
	}
}

func TestParseChain(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root := newCA(t, "root", nil)
	chain := []*x509.Certificate{issue(t, codeSigning("release"), root, key.Public(), nil), root.cert}
	good := keycert.EncodeChain(chain)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	nine := bytes.Repeat(keycert.EncodeChain(chain[:1]), 9)
	for _, tc := range []struct {
		name, want string
		in         []byte
	}{
		{"bundle text", "", append([]byte("subject=CN=release\nissuer=CN=root\n"), good...)},
		{"empty", "no PEM CERTIFICATE", nil},
		{"DER", "no PEM CERTIFICATE", chain[0].Raw},
		{"private key", "keys stay in Signet", append(bytes.Clone(good), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)},
		{"request", "not a CERTIFICATE", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1}})},
		{"garbage certificate", "certificate 1", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0}})},
		{"nine", "more than 8", nine},
		{"huge", "the limit is", make([]byte, keycert.MaxChainSize+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keycert.ParseChain(tc.in)
			switch {
			case tc.want == "" && (err != nil || len(got) != 2):
				t.Errorf("ParseChain = %d certificates, %v", len(got), err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseSubject(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "CN=Example Release,O=Example Corp,C=us", want: "CN=Example Release,O=Example Corp,C=US"},
		{in: " cn = Release , o = Example\\, Inc. ", want: "CN=Release,O=Example\\, Inc."},
		{in: "CN=a\\+b,OU=x,OU=y,L=Paris,ST=IDF,SERIALNUMBER=42", want: "CN=a\\+b,OU=x,OU=y,L=Paris,ST=IDF,SERIALNUMBER=42"},
		{in: "CN=trailing\\ ", want: "CN=trailing\\ "},
		{in: "", err: "empty subject"},
		{in: "Example", err: "not TYPE=VALUE"},
		{in: "CN=", err: "1 to 64"},
		{in: "CN=a,", err: "trailing comma"},
		{in: "CN=a+O=b", err: "multi-valued"},
		{in: "CN=\\41", err: "no hex escapes"},
		{in: "CN=a,CN=b", err: "appears twice"},
		{in: "E=a@example.org", err: "attribute type \"E\""},
		{in: "C=USA", err: "two-letter"},
		{in: "CN=a\tb", err: "control"},
		{in: "CN=" + strings.Repeat("x", 65), err: "1 to 64"},
	} {
		n, err := keycert.ParseSubject(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseSubject(%q) error %v, want one containing %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("ParseSubject(%q): %v", tc.in, err)
		case tc.err == "" && n.String() != tc.want:
			t.Errorf("ParseSubject(%q) = %s, want %s", tc.in, n, tc.want)
		}
	}
}

// TestNewCSR checks certificate requests with Go and with openssl.
func TestNewCSR(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is required; run ./scripts/test, which installs it")
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	subject, _ := keycert.ParseSubject("CN=Example Release,O=Example Corp")
	for _, key := range []crypto.Signer{rsaKey, p256, p384} {
		b, err := keycert.NewCSR(key, subject)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(b)
		csr, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil || csr.CheckSignature() != nil || csr.Subject.String() != subject.String() {
			t.Fatalf("CSR %v %v", csr, err)
		}
		file := filepath.Join(t.TempDir(), "req.pem")
		os.WriteFile(file, b, 0o600)
		out, err := exec.Command("openssl", "req", "-verify", "-noout", "-subject", "-in", file).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "self-signature verify OK") || !strings.Contains(string(out), "CN = Example Release") {
			t.Errorf("openssl req -verify: %v\n%s", err, out)
		}
		// Damage the signature (it ends the request): openssl says no
		// (OpenSSL 3.0 exits 0 all the same, so the message is what counts).
		block.Bytes[len(block.Bytes)-3] ^= 1
		os.WriteFile(file, pem.EncodeToMemory(block), 0o600)
		if out, _ := exec.Command("openssl", "req", "-verify", "-noout", "-in", file).CombinedOutput(); !strings.Contains(string(out), "verify failure") {
			t.Errorf("openssl req -verify accepted a damaged request:\n%s", out)
		}
	}
	if _, err := keycert.NewCSR(p256, pkix.Name{}); err == nil {
		t.Error("CSR with an empty subject")
	}
}
