package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorLines checks that every problem of a file is reported at the
// line of the field at fault, with the field's name and why, file order.
func TestErrorLines(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		want       []string // each error, in order
	}{
		{"semantic", `listen: 127.0.0.1:8443
data: data
tls:
  cert: server.pem
  key: server-key.pem
  client_cas: [ca.pem]
log:
  format: xml
principals:
  - name: ci
    certificate: {subject_cn: ci}
  - name: ci
    certificate:
      sha256: 0000
      ca: ca.pem
drain_timeout: -1s
metrics:
  listen: 0.0.0.0:9464
`, []string{
			`f.yaml:8: log.format "xml": use json or text`,
			`f.yaml:12: principal "ci" is defined twice`,
			`f.yaml:15: principal "ci": certificate.ca has no effect`,
			`f.yaml:16: drain_timeout is negative`,
			`f.yaml:18: metrics.listen "0.0.0.0:9464" is not a loopback address`,
		}},
		{"missing", "data: d\nprincipals: []\n", []string{
			`f.yaml: listen is required`,
			`f.yaml: tls.cert is required`,
			`f.yaml: tls.key is required`,
			`f.yaml: tls.client_cas is required`,
			`f.yaml:2: principals is empty`,
		}},
		{"types", "listen: x\ndata: d\ntls:\n  cert: c\n  key: k\n  client_cas: [ca]\n  clientcas: [ca]\nlimits:\n  max_batch: many\nprincipals: [{name: a}]\n", []string{
			`f.yaml:7: tls.clientcas: unknown field`,
			`f.yaml:9: limits.max_batch: "many" is not a whole number`,
		}},
		{"flow", "listen: x\ndata: d\ntls: {cert: c, key: k, client_cas: ca, clientcas: [ca]}\nprincipals: [{name: a}]\n", []string{
			`f.yaml:3: tls.client_cas: "ca" is not a list`,
			`f.yaml:3: tls.clientcas: unknown field`,
		}},
		{"syntax", "listen: x\n  data: d\n", []string{`f.yaml:2: not valid YAML: mapping values are not allowed`}},
		{"empty", "", []string{"f.yaml: the file is empty"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "f.yaml")
			if err := os.WriteFile(file, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(file)
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Load: %v (%T), want Errors", err, err)
			}
			got := strings.Split(strings.ReplaceAll(err.Error(), dir+"/", ""), "\n")
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("error %d:\n got %s\nwant %s…", i+1, got[i], tt.want[i])
				}
			}
		})
	}
}

// FuzzParse checks that no input makes the parser panic, and that every
// error it reports is located within the input.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/minimal.yaml", "../docs/signet.example.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := Parse(b)
		if err == nil {
			return
		}
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error %v (%T) is not Errors", err, err)
		}
		// YAML breaks lines at LF, CRLF and a lone CR alike.
		lines := strings.Count(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(b)), "\n") + 1
		for _, e := range es {
			if e.Line < 0 || e.Line > lines+1 {
				t.Fatalf("error at line %d of a %d-line input: %v", e.Line, lines, e)
			}
		}
	})
}
