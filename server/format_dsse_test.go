package server_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/dsse"
)

func statementFor(t *testing.T, names ...string) []byte {
	t.Helper()
	var subjects []dsse.Subject
	for _, n := range names {
		sum := sha256.Sum256([]byte(n))
		subjects = append(subjects, dsse.Subject{Name: n, Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}})
	}
	b, err := dsse.NewStatement(subjects, "https://slsa.dev/provenance/v1", []byte(`{"builder":"ci"}`))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignDSSE(t *testing.T) {
	f := newFormatsFixture(t)
	ctx := context.Background()
	st := statementFor(t, "app.tar.gz", "app-docs.tar.gz")
	for _, key := range []string{"dsse-ed25519", "dsse-ecdsa-p256"} {
		t.Run(key, func(t *testing.T) {
			resp, err := f.clients["releaser"].Sign(ctx, &api.SignRequest{Key: key, Format: "dsse",
				Items: []api.SignItem{{Name: "app.tar.gz", Data: st}}})
			if err != nil {
				t.Fatal(err)
			}
			k, _ := f.keys.Key(key)
			got, payload, err := dsse.Verify(ctx, resp.Signatures[0].Signature, k.Public, dsse.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if string(payload) != string(st) || len(got.Subject) != 2 {
				t.Errorf("payload %s", payload)
			}
			e := f.lastEntry(t)
			sum := sha256.Sum256(st)
			wantSubjects := "app.tar.gz sha256:" + got.Subject[0].Digest["sha256"] + "\napp-docs.tar.gz sha256:" + got.Subject[1].Digest["sha256"]
			if e.Details["predicate_type"] != "https://slsa.dev/provenance/v1" || e.Details["subjects"] != wantSubjects ||
				e.Artifact.Digests[0] != api.Digest(crypto.SHA256, sum[:]) {
				t.Errorf("audit entry details %q, artifact %+v", e.Details, e.Artifact)
			}
		})
	}

	// releaser may attest *.tar.gz only: a statement that also names
	// another artifact is refused, whatever the item is called, and the
	// refusal is recorded.
	_, err := f.clients["releaser"].Sign(ctx, &api.SignRequest{Key: "dsse-ed25519", Format: "dsse",
		Items: []api.SignItem{{Name: "app.tar.gz", Data: statementFor(t, "app.tar.gz", "installer.exe")}}})
	wantAPIError(t, err, "forbidden", "installer.exe")
	if e := f.lastEntry(t); e.Decision != "denied" || !strings.Contains(e.Reason, "installer.exe") {
		t.Errorf("refusal recorded as %+v", e)
	}

	tests := []struct {
		name string
		item api.SignItem
		opts api.SignOptions
		want string
	}{
		{"digest", api.SignItem{Name: "a.tar.gz", Digest: digest256("x")}, api.SignOptions{}, "not a digest"},
		{"not a statement", api.SignItem{Name: "a.tar.gz", Data: []byte(`{"_type":"x"}`)}, api.SignOptions{}, "_type"},
		{"duplicate keys", api.SignItem{Name: "a.tar.gz", Data: []byte(`{"_type":"https://in-toto.io/Statement/v1","_type":"x"}`)}, api.SignOptions{}, "duplicate key"},
		{"pss with ed25519", api.SignItem{Name: "a.tar.gz", Data: statementFor(t, "a.tar.gz")}, api.SignOptions{RSAPSS: true}, "only to RSA"},
		{"namespace", api.SignItem{Name: "a.tar.gz", Data: statementFor(t, "a.tar.gz")}, api.SignOptions{Namespace: "git"}, "no namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.clients["admin"].Sign(ctx, &api.SignRequest{Key: "dsse-ed25519", Format: "dsse", Options: tt.opts, Items: []api.SignItem{tt.item}})
			wantAPIError(t, err, "bad_request", tt.want)
		})
	}
	_, err = f.clients["admin"].Sign(ctx, &api.SignRequest{Key: "dsse-ed25519", Format: "dsse", Items: []api.SignItem{{Name: "a", Data: make([]byte, dsse.MaxStatementSize+1)}}})
	wantAPIError(t, err, "too_large", "limit")
}
