package server_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/ssh"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/format/sshsig"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/server"
)

// newFormatsFixture is the fixture plus keys of usages ssh, minisign and
// dsse, named "<usage>-<type>".
func newFormatsFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, server.Limits{})
	for _, k := range []keystore.Spec{
		{Name: "ssh-ed25519", Type: keystore.Ed25519, Usage: "ssh"},
		{Name: "ssh-ecdsa-p256", Type: keystore.ECDSAP256, Usage: "ssh"},
		{Name: "ssh-ecdsa-p384", Type: keystore.ECDSAP384, Usage: "ssh"},
		{Name: "minisign-ed25519", Type: keystore.Ed25519, Usage: "minisign"},
		{Name: "dsse-ed25519", Type: keystore.Ed25519, Usage: "dsse"},
		{Name: "dsse-ecdsa-p256", Type: keystore.ECDSAP256, Usage: "dsse"},
		{Name: "raw-ed25519", Type: keystore.Ed25519, Usage: "raw"},
	} {
		if _, err := f.keys.Create(k); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func sha512Digest(b []byte) (string, []byte) {
	s := sha512.Sum512(b)
	return api.Digest(crypto.SHA512, s[:]), s[:]
}

func blake2bDigest(b []byte) (string, []byte) {
	s := blake2b.Sum512(b)
	return "blake2b512:" + hex.EncodeToString(s[:]), s[:]
}

// lastEntry returns the last audit entry recorded.
func (f *fixture) lastEntry(t *testing.T) audit.Entry {
	t.Helper()
	es := f.entries(t)
	if len(es) == 0 {
		t.Fatal("no audit entries")
	}
	return *es[len(es)-1]
}

// wantAPIError checks that err is a server error with that code whose
// message contains msg.
func wantAPIError(t *testing.T, err error, code, msg string) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != code || !strings.Contains(ce.Message, msg) {
		t.Errorf("error %v, want code %s containing %q", err, code, msg)
	}
}

func TestSignSSH(t *testing.T) {
	f := newFormatsFixture(t)
	ctx := context.Background()
	msg := []byte("commit contents\n")
	d, sum := sha512Digest(msg)
	for _, key := range []string{"ssh-ed25519", "ssh-ecdsa-p256", "ssh-ecdsa-p384"} {
		t.Run(key, func(t *testing.T) {
			resp, err := f.clients["releaser"].Sign(ctx, &api.SignRequest{Key: key, Format: "ssh", Options: api.SignOptions{Namespace: "git"},
				Items: []api.SignItem{{Name: "commit", Digest: d}}})
			if err != nil {
				t.Fatal(err)
			}
			sig, err := sshsig.Parse(resp.Signatures[0].Signature)
			if err != nil {
				t.Fatal(err)
			}
			k, _ := f.keys.Key(key)
			pub, _ := ssh.NewPublicKey(k.Public)
			if err := sig.Verify(pub, "git", sum); err != nil {
				t.Errorf("Verify: %v", err)
			}
			if err := sig.Verify(pub, "file", sum); err == nil {
				t.Error("signature verifies in namespace file")
			}
			e := f.lastEntry(t)
			if e.Format != "ssh" || e.Details["namespace"] != "git" || e.Artifact.Digests[0] != d || e.Details["algorithm"] != sig.Signature.Format {
				t.Errorf("audit entry %+v %+v", e, e.Artifact)
			}
		})
	}
	sum256 := sha256.Sum256(msg)
	if _, err := f.clients["releaser"].Sign(ctx, &api.SignRequest{Key: "ssh-ed25519", Format: "ssh", Options: api.SignOptions{Namespace: "file"},
		Items: []api.SignItem{{Name: "f", Digest: api.Digest(crypto.SHA256, sum256[:])}}}); err != nil {
		t.Errorf("sha256 SSHSIG: %v", err)
	}
}

// TestUsageEnforced checks that a key signs only in the formats of its
// usage, whoever asks (admin may use every key and format), and that keys
// are created only for usages their type can sign in.
func TestUsageEnforced(t *testing.T) {
	f := newFormatsFixture(t)
	ctx := context.Background()
	d512, _ := sha512Digest([]byte("x"))
	b2, _ := blake2bDigest([]byte("x"))
	tests := []struct {
		key, format string
		opts        api.SignOptions
		item        api.SignItem
	}{
		{"release", "ssh", api.SignOptions{Namespace: "git"}, api.SignItem{Name: "c", Digest: d512}},
		{"raw-ed25519", "ssh", api.SignOptions{Namespace: "git"}, api.SignItem{Name: "c", Digest: d512}},
		{"raw-ed25519", "minisign", api.SignOptions{}, api.SignItem{Name: "c", Digest: b2}},
		{"raw-ed25519", "dsse", api.SignOptions{}, api.SignItem{Name: "c", Data: []byte("{}")}},
		{"ssh-ed25519", "raw", api.SignOptions{}, api.SignItem{Name: "c", Data: []byte("x")}},
		{"ssh-ed25519", "minisign", api.SignOptions{}, api.SignItem{Name: "c", Digest: b2}},
		{"minisign-ed25519", "raw", api.SignOptions{}, api.SignItem{Name: "c", Data: make([]byte, 64)}},
		{"minisign-ed25519", "ssh", api.SignOptions{Namespace: "git"}, api.SignItem{Name: "c", Digest: d512}},
		{"dsse-ed25519", "raw", api.SignOptions{}, api.SignItem{Name: "c", Data: []byte("x")}},
		{"dsse-ecdsa-p256", "ssh", api.SignOptions{Namespace: "git"}, api.SignItem{Name: "c", Digest: d512}},
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.format, func(t *testing.T) {
			_, err := f.clients["admin"].Sign(ctx, &api.SignRequest{Key: tt.key, Format: tt.format, Options: tt.opts, Items: []api.SignItem{tt.item}})
			wantAPIError(t, err, "wrong_usage", "never signs in format")
			if e := f.lastEntry(t); e.Decision != audit.Denied || e.Format != tt.format {
				t.Errorf("refusal recorded as %+v", e)
			}
		})
	}

	creates := []struct {
		typ, usage, want string
	}{
		{"ecdsa-p256", "minisign", "cannot be created for usage \"minisign\""},
		{"rsa-3072", "minisign", "cannot be created"},
		{"ed25519", "sshx", "unknown key usage"},
	}
	for _, c := range creates {
		_, err := f.clients["admin"].CreateKey(ctx, &api.CreateKeyRequest{Name: "k-" + c.usage, Type: c.typ, Usage: c.usage})
		wantAPIError(t, err, "bad_request", c.want)
	}
	k, err := f.clients["admin"].CreateKey(ctx, &api.CreateKeyRequest{Name: "new-ssh", Type: "ecdsa-p256", Usage: "ssh"})
	if err != nil || k.Usage != "ssh" {
		t.Errorf("creating an ssh key: %v %+v", err, k)
	}
}

// TestFormatGrants checks that grants are per format: releaser may sign
// ssh with any key, and nothing else, and attest only to *.tar.gz.
func TestFormatGrants(t *testing.T) {
	f := newFormatsFixture(t)
	ctx := context.Background()
	d512, _ := sha512Digest([]byte("x"))
	b2, _ := blake2bDigest([]byte("x"))
	c := f.clients["releaser"]
	if _, err := c.Sign(ctx, &api.SignRequest{Key: "ssh-ed25519", Format: "ssh", Options: api.SignOptions{Namespace: "git"}, Items: []api.SignItem{{Name: "any.zip", Digest: d512}}}); err != nil {
		t.Fatalf("granted ssh signature refused: %v", err)
	}
	_, err := c.Sign(ctx, &api.SignRequest{Key: "minisign-ed25519", Format: "minisign", Items: []api.SignItem{{Name: "a.tar.gz", Digest: b2}}})
	wantAPIError(t, err, "forbidden", "")
	_, err = c.Sign(ctx, &api.SignRequest{Key: "release", Format: "raw", Items: []api.SignItem{{Name: "a.tar.gz", Digest: digest256("x")}}})
	wantAPIError(t, err, "forbidden", "")
	// builder may sign raw with release, and not ssh with any key.
	_, err = f.clients["builder"].Sign(ctx, &api.SignRequest{Key: "ssh-ed25519", Format: "ssh", Options: api.SignOptions{Namespace: "git"}, Items: []api.SignItem{{Name: "a.tar.gz", Digest: d512}}})
	wantAPIError(t, err, "forbidden", "")

	// A token issued for format ssh does not sign minisign, even with a
	// key its issuer could use.
	tok, err := c.IssueToken(ctx, &api.TokenRequest{Subject: "job", TTL: "1h", Keys: []string{"ssh-ecdsa-p256", "dsse-ed25519"}, Formats: []string{"ssh"}})
	if err != nil {
		t.Fatal(err)
	}
	tc := f.tokenClient(t, tok.Token)
	if _, err := tc.Sign(ctx, &api.SignRequest{Key: "ssh-ecdsa-p256", Format: "ssh", Options: api.SignOptions{Namespace: "git"}, Items: []api.SignItem{{Name: "c", Digest: d512}}}); err != nil {
		t.Errorf("token for ssh refused ssh: %v", err)
	}
	_, err = tc.Sign(ctx, &api.SignRequest{Key: "dsse-ed25519", Format: "dsse", Items: []api.SignItem{{Name: "a.tar.gz", Data: []byte("{}")}}})
	wantAPIError(t, err, "forbidden", "format \"dsse\"")
}

func TestSSHBadRequests(t *testing.T) {
	f := newFormatsFixture(t)
	ctx := context.Background()
	d512, _ := sha512Digest([]byte("x"))
	b2, _ := blake2bDigest([]byte("x"))
	d384 := "sha384:" + strings.Repeat("00", 48)
	tests := []struct {
		name string
		req  api.SignRequest
		want string
	}{
		{"no namespace", api.SignRequest{Key: "ssh-ed25519", Format: "ssh", Items: []api.SignItem{{Name: "c", Digest: d512}}}, "needs a namespace"},
		{"bad namespace", api.SignRequest{Key: "ssh-ed25519", Format: "ssh", Options: api.SignOptions{Namespace: "a b"}, Items: []api.SignItem{{Name: "c", Digest: d512}}}, "namespace"},
		{"pss", api.SignRequest{Key: "ssh-ed25519", Format: "ssh", Options: api.SignOptions{Namespace: "git", RSAPSS: true}, Items: []api.SignItem{{Name: "c", Digest: d512}}}, "rsa_pss"},
		{"data", api.SignRequest{Key: "ssh-ed25519", Format: "ssh", Options: api.SignOptions{Namespace: "git"}, Items: []api.SignItem{{Name: "c", Data: []byte("x")}}}, "not its data"},
		{"sha384", api.SignRequest{Key: "ssh-ed25519", Format: "ssh", Options: api.SignOptions{Namespace: "git"}, Items: []api.SignItem{{Name: "c", Digest: d384}}}, "not sha384"},
		{"blake2b", api.SignRequest{Key: "ssh-ed25519", Format: "ssh", Options: api.SignOptions{Namespace: "git"}, Items: []api.SignItem{{Name: "c", Digest: b2}}}, "not blake2b512"},
		{"trusted comment", api.SignRequest{Key: "ssh-ed25519", Format: "ssh", Options: api.SignOptions{Namespace: "git"}, Items: []api.SignItem{{Name: "c", Digest: d512, TrustedComment: "x"}}}, "no trusted comment"},
		// raw keeps refusing digests it does not sign, now that sha512
		// and blake2b512 digests parse.
		{"raw sha512", api.SignRequest{Key: "release", Format: "raw", Items: []api.SignItem{{Name: "c", Digest: d512}}}, "not sha512"},
		{"raw blake2b", api.SignRequest{Key: "release", Format: "raw", Items: []api.SignItem{{Name: "c", Digest: b2}}}, "not blake2b512"},
		{"raw namespace", api.SignRequest{Key: "release", Format: "raw", Options: api.SignOptions{Namespace: "git"}, Items: []api.SignItem{{Name: "c", Digest: digest256("x")}}}, "no namespace"},
		{"raw trusted comment", api.SignRequest{Key: "release", Format: "raw", Items: []api.SignItem{{Name: "c", Digest: digest256("x"), TrustedComment: "x"}}}, "no trusted comment"},
		{"bad blake2b length", api.SignRequest{Key: "release", Format: "raw", Items: []api.SignItem{{Name: "c", Digest: "blake2b512:00"}}}, "blake2b512 digest is 1 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.clients["admin"].Sign(ctx, &tt.req)
			wantAPIError(t, err, "bad_request", tt.want)
		})
	}
}

// tokenClient returns a client that authenticates with tok alone.
func (f *fixture) tokenClient(t *testing.T, tok string) *client.Client {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.ca.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Server: f.url.String(), CACert: ca, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFindSSHKey checks how signet-ssh-sign finds the server key for the
// public key line git hands it: by the "signet:NAME" comment, or else by
// fingerprint among the keys the caller may use.
func TestFindSSHKey(t *testing.T) {
	f := newFormatsFixture(t)
	ctx := context.Background()
	k, _ := f.keys.Key("ssh-ecdsa-p256")
	line, err := sshsig.AuthorizedKey(k.Public, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.clients["admin"].FindSSHKey(ctx, line)
	if err != nil || got.Name != "ssh-ecdsa-p256" {
		t.Errorf("FindSSHKey by fingerprint = %+v, %v", got, err)
	}
	named, _ := sshsig.AuthorizedKey(k.Public, "signet:ssh-ecdsa-p256")
	if got, err := f.clients["admin"].FindSSHKey(ctx, named); err != nil || got.Name != "ssh-ecdsa-p256" {
		t.Errorf("FindSSHKey by name = %+v, %v", got, err)
	}
	// The comment names another key: refused, never signed with either.
	wrong, _ := sshsig.AuthorizedKey(k.Public, "signet:ssh-ed25519")
	if _, err := f.clients["admin"].FindSSHKey(ctx, wrong); err == nil || !strings.Contains(err.Error(), "export the line again") {
		t.Errorf("FindSSHKey with a mismatched name: %v", err)
	}
	// builder may not use the key, so it is not found for builder.
	if _, err := f.clients["builder"].FindSSHKey(ctx, line); err == nil || !strings.Contains(err.Error(), "no server key you may use") {
		t.Errorf("FindSSHKey for builder: %v", err)
	}
	if _, err := f.clients["admin"].FindSSHKey(ctx, []byte("not a key")); err == nil {
		t.Error("FindSSHKey accepted garbage")
	}
}
