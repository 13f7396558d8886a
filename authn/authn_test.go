package authn

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/devpki"
)

func TestAuthenticate(t *testing.T) {
	ca, err := devpki.NewCA("fleet CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := devpki.NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *devpki.CA, cn string) *x509.Certificate {
		c, err := ca.IssueClient(cn)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf
	}
	pinned := issue(other, "ops-laptop")
	builder := issue(ca, "builder-7")
	impostor := issue(other, "builder-7") // same name, wrong CA
	withSAN := &x509.Certificate{Subject: pkix.Name{CommonName: "x"}, DNSNames: []string{"build1.example.org"},
		EmailAddresses: []string{"rel@example.org"}, URIs: []*url.URL{{Scheme: "spiffe", Host: "example.org", Path: "/ci"}},
		Raw: []byte("fake DER: SAN rules never look at it")}

	certs, err := NewCerts([]CertRule{
		{Principal: "ops", SHA256: strings.ToUpper(Fingerprint(pinned))},
		{Principal: "builders", CA: ca.Cert, SubjectCN: "builder-7"},
		{Principal: "host", DNSName: "build1.example.org"},
		{Principal: "mail", Email: "nobody@example.org"},
		{Principal: "workload", URI: "spiffe://example.org/ci"},
	})
	if err != nil {
		t.Fatal(err)
	}
	state := func(leaf, issuer *x509.Certificate) *tls.ConnectionState {
		return &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf, issuer}}}
	}
	tests := []struct {
		name string
		cs   *tls.ConnectionState
		want string // principal, or "" for refusal
	}{
		{"pinned fingerprint", state(pinned, other.Cert), "ops"},
		{"CA and subject", state(builder, ca.Cert), "builders"},
		{"subject from the wrong CA", state(impostor, other.Cert), ""},
		{"DNS SAN", state(withSAN, ca.Cert), "host"},
		{"URI SAN", state(&x509.Certificate{URIs: withSAN.URIs, Raw: []byte("u")}, ca.Cert), "workload"},
		{"email SAN", state(&x509.Certificate{EmailAddresses: []string{"nobody@example.org"}, Raw: []byte("e")}, ca.Cert), "mail"},
		{"unmatched email SAN", state(&x509.Certificate{EmailAddresses: withSAN.EmailAddresses, Raw: []byte("f")}, ca.Cert), ""},
		{"no verified chain", &tls.ConnectionState{}, ""},
		{"no TLS", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := certs.Authenticate(tt.cs)
			if tt.want == "" {
				if err == nil || !errors.Is(err, ErrUnauthenticated) {
					t.Fatalf("Authenticate = %+v, %v; want ErrUnauthenticated", p, err)
				}
				return
			}
			if err != nil || p.Name != tt.want || p.Method != "mtls" || !strings.HasPrefix(p.ID, "sha256:") {
				t.Fatalf("Authenticate = %+v, %v; want principal %q", p, err, tt.want)
			}
		})
	}
}

func TestNewCertsRejects(t *testing.T) {
	for _, tt := range []struct {
		rule CertRule
		want string
	}{
		{CertRule{SHA256: strings.Repeat("a", 64)}, "no principal name"},
		{CertRule{Principal: "p"}, "exactly one of"},
		{CertRule{Principal: "p", SubjectCN: "a", DNSName: "b"}, "exactly one of"},
		{CertRule{Principal: "p", SHA256: "abcd"}, "not a SHA-256 fingerprint"},
	} {
		if _, err := NewCerts([]CertRule{tt.rule}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewCerts(%+v) = %v, want %q", tt.rule, err, tt.want)
		}
	}
}

func TestNormalizeFingerprint(t *testing.T) {
	hex := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	colons := "9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08"
	for _, in := range []string{hex, "sha256:" + hex, colons, "sha256 Fingerprint=" + colons} {
		got, err := NormalizeFingerprint(in)
		if err != nil || got != hex {
			t.Errorf("NormalizeFingerprint(%q) = %q, %v; want %q", in, got, err, hex)
		}
	}
	for _, in := range []string{"", "zz", hex[:62], hex + "00"} {
		if _, err := NormalizeFingerprint(in); err == nil {
			t.Errorf("NormalizeFingerprint(%q) succeeded", in)
		}
	}
}
