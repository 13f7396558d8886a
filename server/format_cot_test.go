package server_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/cot/cottest"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/server"
)

func TestSignChainOfTrust(t *testing.T) {
	f := newFixture(t, server.Limits{}, keystore.Ed25519)
	k, err := f.keys.Create(keystore.Spec{Name: "cot-gw", Type: keystore.Ed25519, Usage: "cot"})
	if err != nil {
		t.Fatal(err)
	}
	g := cottest.New(cottest.Options{})
	b := g.ByRole["build-windows"]
	doc := g.ServedData(b.ID, "public/chain-of-trust.json")
	c := f.clients["admin"]
	ctx := context.Background()
	resp, err := c.Sign(ctx, &api.SignRequest{Key: "cot-gw", Format: "cot", Items: []api.SignItem{{Name: "chain-of-trust.json", Data: doc}}})
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(k.Public.(ed25519.PublicKey), doc, resp.Signatures[0].Signature) {
		t.Fatal("signature does not verify over the exact document bytes")
	}
	all := f.entries(t)
	last := all[len(all)-1]
	if last.Format != "cot" || last.Details["task_id"] != b.ID || last.Details["run_id"] != "0" || last.Artifact == nil || len(last.Artifact.Digests) != 1 {
		t.Errorf("audit entry: %+v", last)
	}

	refusals := []struct {
		name string
		req  api.SignRequest
		code string
		msg  string
	}{
		{"not a document", api.SignRequest{Key: "cot-gw", Format: "cot", Items: []api.SignItem{{Name: "x.json", Data: []byte(`{"hello":1}`)}}}, "bad_request", "not a chain-of-trust document"},
		{"digest", api.SignRequest{Key: "cot-gw", Format: "cot", Items: []api.SignItem{{Name: "x.json", Digest: "sha256:" + strings.Repeat("00", 32)}}}, "bad_request", "send its bytes as data"},
		{"raw key", api.SignRequest{Key: "ed25519", Format: "cot", Items: []api.SignItem{{Name: "x.json", Data: doc}}}, "wrong_usage", "--usage cot"},
		{"cot key as raw", api.SignRequest{Key: "cot-gw", Format: "raw", Items: []api.SignItem{{Name: "x.json", Data: doc}}}, "wrong_usage", "--usage raw"},
		{"pss", api.SignRequest{Key: "cot-gw", Format: "cot", Options: api.SignOptions{RSAPSS: true}, Items: []api.SignItem{{Name: "x.json", Data: doc}}}, "bad_request", "rsa_pss"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Sign(ctx, &tc.req)
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Code != tc.code || !strings.Contains(ce.Message, tc.msg) {
				t.Errorf("err = %v, want %s containing %q", err, tc.code, tc.msg)
			}
		})
	}
	// Only Ed25519 keys are created for usage cot.
	_, err = c.CreateKey(ctx, &api.CreateKeyRequest{Name: "cot-ec", Type: "ecdsa-p256", Usage: "cot"})
	var ce *client.Error
	if !errors.As(err, &ce) || !strings.Contains(ce.Message, `cannot be created for usage "cot"`) {
		t.Errorf("ECDSA key for usage cot: err = %v", err)
	}
	if k, err := c.CreateKey(ctx, &api.CreateKeyRequest{Name: "cot-2", Type: "ed25519", Usage: "cot"}); err != nil || k.Usage != "cot" {
		t.Errorf("Ed25519 key for usage cot: %+v, %v", k, err)
	}
}
