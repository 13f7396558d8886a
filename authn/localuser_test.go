package authn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/internal/devpki"
)

func TestLocalUserAssertion(t *testing.T) {
	ca, err := devpki.NewCA("host CA")
	if err != nil {
		t.Fatal(err)
	}
	host, err := ca.IssueClient("build1")
	if err != nil {
		t.Fatal(err)
	}
	certs, err := NewCerts([]CertRule{{Principal: "build-host", CA: ca.Cert, SubjectCN: "build1"}})
	if err != nil {
		t.Fatal(err)
	}
	a := &Authenticator{Certs: certs}
	tests := []struct {
		name    string
		values  []string
		cert    bool
		want    string // the local user, or the error
		wantErr bool
	}{
		{"none", nil, true, "", false},
		{"a user", []string{"alice"}, true, "alice", false},
		{"uid form", []string{"uid:4242"}, true, "uid:4242", false},
		{"domain user", []string{"alice@example.org"}, true, "alice@example.org", false},
		{"empty", []string{""}, true, "give 1 to 64 characters", true},
		{"space", []string{"alice bob"}, true, `character ' ' is not allowed`, true},
		{"slash", []string{"../root"}, true, `character '/' is not allowed`, true},
		{"newline", []string{"alice\nroot"}, true, `character '\n' is not allowed`, true},
		{"too long", []string{strings.Repeat("a", 65)}, true, "give 1 to 64 characters", true},
		{"two", []string{"alice", "bob"}, true, "2 Signet-Local-User headers", true},
		// The assertion never stands in for authentication.
		{"no certificate", []string{"alice"}, false, "no verified client certificate", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/keys", nil)
			if tt.cert {
				r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{host.Leaf, ca.Cert}}}
			}
			for _, v := range tt.values {
				r.Header.Add(api.LocalUserHeader, v)
			}
			p, err := a.Authenticate(r)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrUnauthenticated) {
					t.Fatalf("Authenticate = %+v, %v; want ErrUnauthenticated containing %q", p, err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != "build-host" || p.Method != "mtls" || p.LocalUser != tt.want {
				t.Fatalf("Authenticate = %+v, want build-host over mtls for local user %q", p, tt.want)
			}
		})
	}
}
