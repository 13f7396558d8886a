package server_test

import (
	"context"
	"testing"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/server"
)

// TestArtifactNameSegments: a grant's '*' matches "..", so a grant of
// nightly/*/*.tar.gz would admit nightly/../evil.tar.gz. Every way a name
// enters — a sign item, a subject of an attestation, a token's scope —
// refuses empty, "." and ".." segments, a leading '/' and backslashes,
// saying why.
func TestArtifactNameSegments(t *testing.T) {
	nightly := []string{"nightly/*/*.tar.gz"}
	f := newFixtureWith(t, fixtureOptions{limits: server.Limits{}, principals: map[string]policy.Rules{
		"nightly": {IssueTokens: true, Grants: []policy.Grant{
			{Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: nightly},
			{Keys: []string{"dsse-ed25519"}, Formats: []string{"dsse"}, Artifacts: nightly},
		}},
	}})
	if _, err := f.keys.Create(keystore.Spec{Name: "dsse-ed25519", Type: keystore.Ed25519, Usage: "dsse"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := f.clients["nightly"]
	sign := func(name string) error {
		_, err := c.Sign(ctx, &api.SignRequest{Key: "release", Format: "raw", Items: []api.SignItem{{Name: name, Digest: digest256(name)}}})
		return err
	}
	if err := sign("nightly/1.2/app.tar.gz"); err != nil {
		t.Fatalf("a clean name within the grant: %v", err)
	}
	for _, tt := range []struct{ name, want string }{
		{"nightly/../evil.tar.gz", `".." segment`},
		{"nightly/./evil.tar.gz", `"." segment`},
		{"nightly//evil.tar.gz", "empty"},
		{"nightly/x/../../evil.tar.gz", `".." segment`},
		{"/nightly/x/evil.tar.gz", "starts with '/'"},
		{`nightly/x\..\..\evil.tar.gz`, "backslash"},
	} {
		err := sign(tt.name)
		wantAPIError(t, err, "bad_request", tt.want)
		if e := f.lastEntry(t); e.Decision != "denied" {
			t.Errorf("%q: refusal recorded as %+v", tt.name, e)
		}
	}

	// The subjects of an attestation are artifact names too.
	_, err := c.Sign(ctx, &api.SignRequest{Key: "dsse-ed25519", Format: "dsse",
		Items: []api.SignItem{{Name: "nightly/1.2/app.tar.gz", Data: statementFor(t, "nightly/1.2/app.tar.gz", "nightly/../evil.tar.gz")}}})
	wantAPIError(t, err, "forbidden", `".." segment`)
	if _, err := c.Sign(ctx, &api.SignRequest{Key: "dsse-ed25519", Format: "dsse",
		Items: []api.SignItem{{Name: "nightly/1.2/app.tar.gz", Data: statementFor(t, "nightly/1.2/app.tar.gz", "nightly/1.2/app-docs.tar.gz")}}}); err != nil {
		t.Errorf("an attestation of clean names: %v", err)
	}

	// A token's scope is patterns of names: one with a segment no name
	// may have is refused at issuance.
	_, err = c.IssueToken(ctx, &api.TokenRequest{Subject: "job-1", TTL: "1h", Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"nightly/../*"}})
	wantAPIError(t, err, "bad_request", "can match no name")
}
