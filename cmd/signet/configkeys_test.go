package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/keystore"
)

// TestConfigCheckTokenKeyUsage: 'signet config check' finds what the
// server would refuse at start, a token-signing key without usage token
// (docs/tokens.md once created it so), where the keystore is readable.
func TestConfigCheckTokenKeyUsage(t *testing.T) {
	for _, tt := range []struct {
		usage string
		ok    bool
	}{{"token", true}, {"raw", false}} {
		t.Run(tt.usage, func(t *testing.T) {
			dir := t.TempDir()
			path := func(n string) string { return filepath.Join(dir, n) }
			check := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			ca, err := devpki.NewCA("CA")
			check(err)
			check(os.WriteFile(path("ca.pem"), devpki.CertPEM(ca.TLSCertificate()), 0o600))
			var c tls.Certificate
			c, err = ca.IssueServer("127.0.0.1")
			check(err)
			key, err := devpki.KeyPEM(c)
			check(err)
			check(os.WriteFile(path("server.pem"), devpki.CertPEM(c), 0o600))
			check(os.WriteFile(path("server-key.pem"), key, 0o600))
			pass := []byte("p")
			check(os.MkdirAll(path("data"), 0o700))
			check(keystore.Init(path("data/keystore"), pass))
			ks, err := keystore.Open(path("data/keystore"))
			check(err)
			check(ks.Unlock(pass))
			k, err := ks.Create(keystore.Spec{Name: "tok", Type: keystore.Ed25519, Usage: tt.usage})
			check(err)
			der, err := x509.MarshalPKIXPublicKey(k.Public)
			check(err)
			pub := strings.ReplaceAll(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), "\n", "\n        ")
			check(os.WriteFile(path("signet.yaml"), fmt.Appendf(nil, `name: test
listen: 127.0.0.1:0
data: data
tls: {cert: server.pem, key: server-key.pem, client_cas: [ca.pem]}
tokens:
  signing_key: tok
  verifiers:
    - id: tok
      public_key: |
        %s
principals:
  - {name: admin, certificate: {subject_cn: admin}, admin: true}
`, pub), 0o600))
			var out, errb bytes.Buffer
			code := run([]string{"config", "check", path("signet.yaml")}, &out, &errb)
			if tt.ok != (code == 0) {
				t.Fatalf("config check with a token key of usage %s: exit %d\n%s%s", tt.usage, code, out.String(), errb.String())
			}
			if !tt.ok && !strings.Contains(errb.String(), `has usage "raw"`) {
				t.Fatalf("config check did not say why:\n%s", errb.String())
			}
		})
	}
}
