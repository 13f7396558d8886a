package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/minisign"
)

func TestSignMinisign(t *testing.T) {
	f := newFormatsFixture(t)
	ctx := context.Background()
	d, sum := blake2bDigest([]byte("release contents\n"))
	tc := "timestamp:1700000000\tfile:app.tar.gz\thashed"
	resp, err := f.clients["admin"].Sign(ctx, &api.SignRequest{Key: "minisign-ed25519", Format: "minisign",
		Items: []api.SignItem{{Name: "app.tar.gz", Digest: d, TrustedComment: tc}}})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := minisign.ParseSignature(resp.Signatures[0].Signature)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := f.keys.Key("minisign-ed25519")
	pub, _ := minisign.NewPublicKey(k.Public)
	if err := sig.Verify(pub, sum); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if sig.TrustedComment != tc || sig.UntrustedComment != "signature from signet key minisign-ed25519" || sig.KeyID != pub.ID {
		t.Errorf("signature %+v", sig)
	}
	e := f.lastEntry(t)
	if e.Details["trusted_comment"] != tc || e.Details["key_id"] != pub.ID.String() || e.Artifact.Digests[0] != d {
		t.Errorf("audit entry details %v, artifact %+v", e.Details, e.Artifact)
	}

	d512, _ := sha512Digest([]byte("x"))
	tests := []struct {
		name string
		req  api.SignRequest
		want string
	}{
		{"sha512", api.SignRequest{Key: "minisign-ed25519", Format: "minisign", Items: []api.SignItem{{Name: "c", Digest: d512}}}, "not sha512"},
		{"data", api.SignRequest{Key: "minisign-ed25519", Format: "minisign", Items: []api.SignItem{{Name: "c", Data: make([]byte, 64)}}}, "not its data"},
		{"namespace", api.SignRequest{Key: "minisign-ed25519", Format: "minisign", Options: api.SignOptions{Namespace: "git"}, Items: []api.SignItem{{Name: "c", Digest: d}}}, "takes no options"},
		{"newline in comment", api.SignRequest{Key: "minisign-ed25519", Format: "minisign", Items: []api.SignItem{{Name: "c", Digest: d, TrustedComment: "a\nfake line"}}}, "line break"},
		{"long comment", api.SignRequest{Key: "minisign-ed25519", Format: "minisign", Items: []api.SignItem{{Name: "c", Digest: d, TrustedComment: strings.Repeat("x", 1001)}}}, "limit is 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.clients["admin"].Sign(ctx, &tt.req)
			wantAPIError(t, err, "bad_request", tt.want)
		})
	}
}
