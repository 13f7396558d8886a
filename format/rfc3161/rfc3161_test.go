package rfc3161_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
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

	"github.com/signet-dev/signet/format/rfc3161"
)

// tsa is a test CA and a TSA certificate it issued.
type tsa struct {
	ca, cert *x509.Certificate
	key      crypto.Signer
}

func newTSA(t testing.TB, key crypto.Signer) *tsa {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test TSA CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Test TSA"}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &tsa{ca: ca, cert: cert, key: key}
}

func writePEM(t *testing.T, name string, certs ...*x509.Certificate) string {
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func openssl(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed (apt-get install openssl; scripts/test installs it)")
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestOpenSSLVerifies has openssl make requests, Stamp answer them, and
// openssl ts -verify accept the replies, for each key type, with and
// without certReq.
func TestOpenSSLVerifies(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	dir := t.TempDir()
	data := filepath.Join(dir, "artifact")
	os.WriteFile(data, []byte("what is dated\n"), 0o644)
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		hash string
		cert bool
	}{
		{"p256 sha256 certReq", p256, "-sha256", true},
		{"p384 sha384 certReq", p384, "-sha384", true},
		{"rsa sha512 certReq", rsaKey, "-sha512", true},
		{"p256 sha256 no certs", p256, "-sha256", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTSA(t, tc.key)
			auth := &rfc3161.Authority{Signer: a.key, Chain: []*x509.Certificate{a.cert, a.ca}, Policy: rfc3161.DefaultPolicy, Accuracy: 500 * time.Millisecond}
			query := filepath.Join(dir, "q.tsq")
			args := []string{"ts", "-query", "-data", data, tc.hash, "-out", query}
			if tc.cert {
				args = append(args, "-cert")
			}
			openssl(t, args...)
			der, _ := os.ReadFile(query)
			q, err := rfc3161.ParseQuery(der)
			if err != nil {
				t.Fatal(err)
			}
			if q.Nonce == nil || q.CertReq != tc.cert {
				t.Fatalf("query %+v: nonce missing or certReq not %v", q, tc.cert)
			}
			now := time.Now()
			tok, err := auth.Stamp(q, now)
			if err != nil {
				t.Fatal(err)
			}
			if !tok.Time.Equal(now.UTC().Truncate(time.Second)) || tok.Serial == nil {
				t.Errorf("token time %v serial %v, want %v", tok.Time, tok.Serial, now)
			}
			reply := filepath.Join(dir, "r.tsr")
			os.WriteFile(reply, tok.Reply, 0o644)
			text := openssl(t, "ts", "-reply", "-in", reply, "-text")
			for _, want := range []string{"Status: Granted", "Policy OID: 1.3.6.1.4.1.32473.3161.1", "0x01F4 millis"} {
				if !strings.Contains(text, want) {
					t.Errorf("openssl ts -reply -text lacks %q:\n%s", want, text)
				}
			}
			ca := writePEM(t, filepath.Join(dir, "ca.pem"), a.ca)
			verify := []string{"ts", "-verify", "-queryfile", query, "-in", reply, "-CAfile", ca}
			if !tc.cert {
				verify = append(verify, "-untrusted", writePEM(t, filepath.Join(dir, "tsa.pem"), a.cert))
			}
			if out := openssl(t, verify...); !strings.Contains(out, "Verification: OK") {
				t.Errorf("openssl ts -verify: %s", out)
			}
			// The same reply does not verify against another request's
			// nonce: openssl compares it.
			other := filepath.Join(dir, "other.tsq")
			openssl(t, "ts", "-query", "-data", data, tc.hash, "-out", other)
			cmd := exec.Command("openssl", append([]string{"ts", "-verify", "-queryfile", other, "-in", reply, "-CAfile", ca}, verify[7:]...)...)
			if out, err := cmd.CombinedOutput(); err == nil {
				t.Errorf("openssl ts -verify accepted a reply for another nonce:\n%s", out)
			}
			// And the client-side check agrees.
			if _, err := rfc3161.CheckReply(tok.Reply, q, []*x509.Certificate{a.cert}); err != nil {
				t.Errorf("CheckReply: %v", err)
			}
			q2 := *q
			q2.Nonce = big.NewInt(7)
			if _, err := rfc3161.CheckReply(tok.Reply, &q2, []*x509.Certificate{a.cert}); err == nil || !strings.Contains(err.Error(), "nonce") {
				t.Errorf("CheckReply with another nonce: %v", err)
			}
		})
	}
}

// TestParseQueryRejects checks the failure each bad request gets, and
// that openssl reads the rejection reply.
func TestParseQueryRejects(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "artifact")
	os.WriteFile(data, []byte("x"), 0o644)
	sha1q := filepath.Join(dir, "sha1.tsq")
	openssl(t, "ts", "-query", "-data", data, "-sha1", "-out", sha1q)
	sha1der, _ := os.ReadFile(sha1q)
	sum := sha256.Sum256([]byte("x"))
	good, err := (&rfc3161.Query{Hash: crypto.SHA256, Digest: sum[:]}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rfc3161.ParseQuery(good); err != nil {
		t.Fatalf("good query refused: %v", err)
	}
	withExt := bytes.Clone(good)
	// Append an empty [0] extensions element and fix the outer length.
	withExt = append(withExt, 0xa0, 0x00)
	withExt[1] += 2
	for _, tc := range []struct {
		name string
		der  []byte
		info rfc3161.FailureInfo
		text string
	}{
		{"sha1", sha1der, rfc3161.BadAlg, "SHA-1 is not accepted"},
		{"garbage", []byte("hello"), rfc3161.BadDataFormat, "not a DER TimeStampReq"},
		{"trailing", append(bytes.Clone(good), 0), rfc3161.BadDataFormat, "not a DER TimeStampReq"},
		{"short digest", must(t, func() ([]byte, error) { return asn1Query(2, sum[:20]) }), rfc3161.BadDataFormat, "hashedMessage is 20 bytes"},
		{"version 2", must(t, func() ([]byte, error) { return asn1QueryVersion(2, sum[:]) }), rfc3161.BadDataFormat, "version is not 1"},
		{"extensions", withExt, rfc3161.UnacceptedExtension, "no request extensions"},
		{"too large", make([]byte, rfc3161.MaxQuerySize+1), rfc3161.BadDataFormat, "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rfc3161.ParseQuery(tc.der)
			var f *rfc3161.Failure
			if !errors.As(err, &f) || f.Info != tc.info || !strings.Contains(f.Text, tc.text) {
				t.Fatalf("ParseQuery: %v, want %s containing %q", err, tc.info, tc.text)
			}
			reply := filepath.Join(dir, "rej.tsr")
			os.WriteFile(reply, rfc3161.Rejection(f), 0o644)
			out := openssl(t, "ts", "-reply", "-in", reply, "-text")
			if !strings.Contains(out, "Status: Rejected") || !strings.Contains(out, tc.text) {
				t.Errorf("openssl ts -reply -text of the rejection:\n%s", out)
			}
		})
	}
}

func TestUnacceptedPolicy(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a := newTSA(t, key)
	auth := &rfc3161.Authority{Signer: key, Chain: []*x509.Certificate{a.cert, a.ca}, Policy: rfc3161.DefaultPolicy}
	sum := sha256.Sum256([]byte("x"))
	_, err := auth.Stamp(&rfc3161.Query{Hash: crypto.SHA256, Digest: sum[:], Policy: asn1.ObjectIdentifier{1, 2, 3}}, time.Now())
	var f *rfc3161.Failure
	if !errors.As(err, &f) || f.Info != rfc3161.UnacceptedPolicy {
		t.Fatalf("Stamp under another policy: %v", err)
	}
	tok, err := auth.Stamp(&rfc3161.Query{Hash: crypto.SHA256, Digest: sum[:], Policy: rfc3161.DefaultPolicy}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Without certReq the token carries no certificate: the client must
	// know the TSA's.
	if _, err := rfc3161.CheckReply(tok.Reply, &rfc3161.Query{Hash: crypto.SHA256, Digest: sum[:]}, nil); err == nil {
		t.Error("CheckReply found a signer in a token without certificates")
	}
}

func TestParsePolicy(t *testing.T) {
	for in, ok := range map[string]bool{"1.2.3": true, "2.999.1": true, "1.3.6.1.4.1.32473.1": true, "": false, "1": false, "1.40": false,
		"3.1": false, "1..2": false, "1.2.": false, "1.02": false, "a.b": false, "1.+2": false, "1.2.99999999999": false} {
		_, err := rfc3161.ParsePolicy(in)
		if (err == nil) != ok {
			t.Errorf("ParsePolicy(%q): %v", in, err)
		}
	}
}

func must(t *testing.T, f func() ([]byte, error)) []byte {
	b, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type messageImprint struct {
	Alg    pkixAlg
	Digest []byte
}

type pkixAlg struct {
	OID  asn1.ObjectIdentifier
	Null asn1.RawValue
}

type request struct {
	Version int
	Imprint messageImprint
}

var sha256OID = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}

func asn1Query(_ int, digest []byte) ([]byte, error) {
	return asn1.Marshal(request{1, messageImprint{pkixAlg{sha256OID, asn1.NullRawValue}, digest}})
}

func asn1QueryVersion(v int, digest []byte) ([]byte, error) {
	return asn1.Marshal(request{v, messageImprint{pkixAlg{sha256OID, asn1.NullRawValue}, digest}})
}
