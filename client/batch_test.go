package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/internal/signettest"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/server"
)

// verifiers are the real tools the batch tests check signatures with.
var verifiers = []string{"openssl", "ssh-keygen", "minisign"}

func requireTools(t *testing.T) {
	t.Helper()
	for _, tool := range verifiers {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required; run ./scripts/test, which installs it", tool)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// batchServer is a server whose "builder" signs "*.tar.gz" with keys
// release (ECDSA P-256), legacy (RSA), ed (pure Ed25519), gitkey (ssh) and
// mini (minisign), at most maxBatch items per request.
func batchServer(t *testing.T, limits server.Limits) *signettest.Server {
	all := []string{"*"}
	return signettest.Start(t, signettest.Options{
		Principals: map[string]policy.Rules{"builder": {Grants: []policy.Grant{{Keys: all, Formats: all, Artifacts: []string{"*.tar.gz"}}}}},
		Keys: []keystore.Spec{{Name: "release", Type: keystore.ECDSAP256}, {Name: "legacy", Type: keystore.RSA3072},
			{Name: "ed", Type: keystore.Ed25519}, {Name: "gitkey", Type: keystore.ECDSAP256, Usage: "ssh"},
			{Name: "mini", Type: keystore.Ed25519, Usage: "minisign"}},
		Limits: limits,
	})
}

// writeArtifacts writes n files named a-I.tar.gz of varied sizes.
func writeArtifacts(t *testing.T, dir string, n int) []string {
	t.Helper()
	var paths []string
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("a-%03d.tar.gz", i))
		if err := os.WriteFile(p, []byte(strings.Repeat(fmt.Sprintf("artifact %d\n", i), 1+i*37%500)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func publicPEM(t *testing.T, c *client.Client, key string) string {
	t.Helper()
	k, err := c.Key(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), key+".pem")
	if err := os.WriteFile(name, []byte(k.PublicKey), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestSignBatch(t *testing.T) {
	requireTools(t)
	s := batchServer(t, server.Limits{MaxBatch: 40})
	c := s.Client("builder")
	ctx := context.Background()
	dir := t.TempDir()
	paths := writeArtifacts(t, dir, 250)

	var done []string
	prog := new(client.Progress)
	sum, err := c.SignBatch(ctx, paths, client.BatchOptions{Key: "release", Jobs: 4, Progress: prog,
		Done: func(r client.FileResult) { done = append(done, r.Path) }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Signed != 250 || len(sum.Failed) != 0 || sum.Skipped != 0 || sum.Requests < 7 {
		t.Fatalf("summary %+v, want 250 signed in at least 7 requests of at most 40", sum)
	}
	if !slices.Equal(done, paths) {
		t.Errorf("results reported out of order")
	}
	if p := prog.Snapshot(); p.Files != 250 || p.TotalFiles != 250 || p.Bytes != sum.Bytes || p.TotalBytes != sum.Bytes || p.Bytes == 0 {
		t.Errorf("progress %+v, summary %+v", p, sum)
	}
	// openssl agrees with every signature, and not with a swapped one.
	pub := publicPEM(t, c, "release")
	for _, p := range []string{paths[0], paths[117], paths[249]} {
		if out := run(t, "openssl", "dgst", "-sha256", "-verify", pub, "-signature", p+".sig", p); !strings.Contains(out, "Verified OK") {
			t.Errorf("%s: %s", p, out)
		}
	}
	if err := exec.Command("openssl", "dgst", "-sha256", "-verify", pub, "-signature", paths[1]+".sig", paths[0]).Run(); err == nil {
		t.Error("openssl accepts the signature of another file")
	}
	// Every signature has its receipt, and the server's limit held.
	perRequest := map[string]int{}
	for _, e := range s.Entries(t) {
		if e.Action == "sign" && e.Decision == "allowed" {
			perRequest[e.RequestID]++
		}
	}
	for id, n := range perRequest {
		if n > 40 {
			t.Errorf("request %s signed %d items; the server's max_batch is 40", id, n)
		}
	}
	if len(perRequest) != sum.Requests {
		t.Errorf("%d requests recorded, summary says %d", len(perRequest), sum.Requests)
	}
	for _, p := range paths {
		if _, err := os.Stat(p + ".sig.receipt"); err != nil {
			t.Fatal(err)
		}
	}
	// The receipt proves, offline, that the log recorded this signature.
	b, _ := os.ReadFile(paths[42] + ".sig.receipt")
	var r audit.Receipt
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	e, _, err := audit.VerifyReceipt(&r, s.LogKey)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := os.ReadFile(paths[42] + ".sig")
	if e.Artifact.Name != "a-042.tar.gz" || e.Artifact.Signature != fmt.Sprintf("sha256:%x", sha256.Sum256(sig)) {
		t.Errorf("receipt of %s records %+v", paths[42], e.Artifact)
	}
}

func TestSignBatchFailuresAreListed(t *testing.T) {
	s := batchServer(t, server.Limits{MaxBatch: 10})
	c := s.Client("builder")
	dir := t.TempDir()
	paths := writeArtifacts(t, dir, 30)
	forbidden := filepath.Join(dir, "notes.txt") // the grant is for *.tar.gz
	os.WriteFile(forbidden, []byte("notes"), 0o644)
	forbidden2 := filepath.Join(dir, "more-notes.txt")
	os.WriteFile(forbidden2, []byte("more notes"), 0o644)
	missing := filepath.Join(dir, "missing.tar.gz")
	subdir := filepath.Join(dir, "dir.tar.gz")
	os.Mkdir(subdir, 0o755)
	all := slices.Concat(paths[:5], []string{forbidden, missing}, paths[5:20], []string{subdir, forbidden2}, paths[20:])
	sum, err := c.SignBatch(context.Background(), all, client.BatchOptions{Key: "release"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Signed != 30 || len(sum.Failed) != 4 {
		t.Fatalf("summary %+v, want 30 signed and 4 failed", sum)
	}
	want := []struct{ path, err string }{
		{forbidden, `principal "builder" may not sign artifact "notes.txt"`},
		{missing, "no such file or directory"},
		{subdir, "a directory"},
		{forbidden2, `may not sign artifact "more-notes.txt"`},
	}
	for i, w := range want {
		f := sum.Failed[i]
		if f.Path != w.path || f.Err == nil || !strings.Contains(f.Err.Error(), w.err) {
			t.Errorf("failure %d: %s: %v; want %s: %q", i, f.Path, f.Err, w.path, w.err)
		}
		if _, err := os.Stat(f.Path + ".sig"); err == nil {
			t.Errorf("%s.sig written for a failed file", f.Path)
		}
	}
	var se *client.Error
	if !errors.As(sum.Failed[0].Err, &se) || se.Status != 403 || se.RequestID == "" {
		t.Errorf("refusal %v is not the server's 403", sum.Failed[0].Err)
	}
}

func TestSignBatchSkipExisting(t *testing.T) {
	s := batchServer(t, server.Limits{})
	c := s.Client("builder")
	ctx := context.Background()
	paths := writeArtifacts(t, t.TempDir(), 20)
	if sum, err := c.SignBatch(ctx, paths, client.BatchOptions{Key: "release"}); err != nil || sum.Signed != 20 {
		t.Fatalf("%+v %v", sum, err)
	}
	// Signatures that no longer verify are made again: garbage, another
	// file's, the file changed, or another key's; missing ones too.
	os.WriteFile(paths[1]+".sig", []byte("garbage"), 0o644)
	b, _ := os.ReadFile(paths[3] + ".sig")
	os.WriteFile(paths[2]+".sig", b, 0o644)
	os.WriteFile(paths[4], []byte("changed"), 0o644)
	os.Remove(paths[5] + ".sig")
	var redone []string
	sum, err := c.SignBatch(ctx, paths, client.BatchOptions{Key: "release", SkipExisting: true,
		Done: func(r client.FileResult) {
			if !r.Skipped {
				redone = append(redone, filepath.Base(r.Path))
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Skipped != 16 || sum.Signed != 4 || sum.Requests != 1 || fmt.Sprint(redone) != "[a-001.tar.gz a-002.tar.gz a-004.tar.gz a-005.tar.gz]" {
		t.Fatalf("summary %+v, signed again %v", sum, redone)
	}
	pub := publicPEM(t, c, "release")
	run(t, "openssl", "dgst", "-sha256", "-verify", pub, "-signature", paths[4]+".sig", paths[4])
	// Nothing to do: no request at all.
	if sum, err := c.SignBatch(ctx, paths, client.BatchOptions{Key: "release", SkipExisting: true}); err != nil || sum.Skipped != 20 || sum.Requests != 0 {
		t.Fatalf("%+v %v", sum, err)
	}
	// Another key's signatures do not count, and are not replaced
	// without Force.
	sum, err = c.SignBatch(ctx, paths[:3], client.BatchOptions{Key: "legacy", SkipExisting: true})
	if err != nil || sum.Signed != 0 || len(sum.Failed) != 3 || !errors.Is(sum.Failed[0].Err, client.ErrOtherSignature) || sum.Requests != 0 {
		t.Fatalf("%+v %v", sum, err)
	}
	if sum, err := c.SignBatch(ctx, paths[:3], client.BatchOptions{Key: "legacy", SkipExisting: true, Force: true}); err != nil || sum.Signed != 3 {
		t.Fatalf("%+v %v", sum, err)
	}
}

func TestSignBatchFormats(t *testing.T) {
	requireTools(t)
	s := batchServer(t, server.Limits{MaxMessageBytes: 4 << 10})
	c := s.Client("builder")
	ctx := context.Background()
	dir := t.TempDir()
	paths := writeArtifacts(t, dir, 12)
	big := filepath.Join(dir, "big.tar.gz")
	os.WriteFile(big, make([]byte, 8<<10), 0o644)
	empty := filepath.Join(dir, "empty.tar.gz")
	os.WriteFile(empty, nil, 0o644)

	// Pure Ed25519 uploads files, up to the server's limit; an empty file
	// is signed too.
	edDir := t.TempDir()
	sum, err := c.SignBatch(ctx, append(paths[:3:3], big, empty), client.BatchOptions{Key: "ed",
		Output: func(p string) string { return filepath.Join(edDir, filepath.Base(p)+".sig") }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Signed != 4 || len(sum.Failed) != 1 || !strings.Contains(sum.Failed[0].Err.Error(), "the server accepts at most 4.0 KiB") {
		t.Fatalf("ed25519: %+v %v", sum, sum.Failed)
	}
	edPub := publicPEM(t, c, "ed")
	run(t, "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", edPub, "-rawin", "-in", paths[2], "-sigfile", filepath.Join(edDir, filepath.Base(paths[2])+".sig"))
	// openssl pkeyutl cannot read an empty message ("Could not allocate 0
	// bytes"), so the empty file's signature is checked here.
	ek, _ := c.Key(ctx, "ed")
	epub, err := client.PublicKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	esig, _ := os.ReadFile(filepath.Join(edDir, "empty.tar.gz.sig"))
	if !ed25519.Verify(epub.(ed25519.PublicKey), nil, esig) {
		t.Error("the signature of the empty file does not verify")
	}

	// RSA-PSS.
	pssDir := t.TempDir()
	if sum, err := c.SignBatch(ctx, paths, client.BatchOptions{Key: "legacy", Options: api.SignOptions{RSAPSS: true},
		Output: func(p string) string { return filepath.Join(pssDir, filepath.Base(p)+".sig") }}); err != nil || sum.Signed != 12 {
		t.Fatalf("rsa-pss: %+v %v", sum, err)
	}
	run(t, "openssl", "dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest", "-verify", publicPEM(t, c, "legacy"),
		"-signature", filepath.Join(pssDir, "a-007.tar.gz.sig"), paths[7])

	// SSH signatures, checked by ssh-keygen.
	if sum, err := c.SignBatch(ctx, paths, client.BatchOptions{Key: "gitkey", Format: "ssh", Options: api.SignOptions{Namespace: "file"}}); err != nil || sum.Signed != 12 {
		t.Fatalf("ssh: %+v %v", sum, err)
	}
	k, _ := c.Key(ctx, "gitkey")
	line, err := client.SSHPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	signers := filepath.Join(dir, "allowed_signers")
	os.WriteFile(signers, append([]byte("release@example.org "), line...), 0o644)
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", signers, "-I", "release@example.org", "-n", "file", "-s", paths[5]+".sig")
	cmd.Stdin, _ = os.Open(paths[5])
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y verify: %v\n%s", err, out)
	}
	cmd = exec.Command("ssh-keygen", "-Y", "verify", "-f", signers, "-I", "release@example.org", "-n", "file", "-s", paths[5]+".sig")
	cmd.Stdin, _ = os.Open(paths[6])
	if err := cmd.Run(); err == nil {
		t.Error("ssh-keygen accepts the signature of another file")
	}

	// minisign, checked by minisign, trusted comment and all.
	if sum, err := c.SignBatch(ctx, paths, client.BatchOptions{Key: "mini", Format: "minisign"}); err != nil || sum.Signed != 12 {
		t.Fatalf("minisign: %+v %v", sum, err)
	}
	mk, _ := c.Key(ctx, "mini")
	mpub, err := client.MinisignPublicKey(mk)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "mini.pub"), mpub, 0o644)
	out := run(t, "minisign", "-V", "-p", filepath.Join(dir, "mini.pub"), "-m", paths[9])
	if !strings.Contains(out, "file:a-009.tar.gz") {
		t.Errorf("minisign -V: %s", out)
	}
	if err := exec.Command("minisign", "-V", "-p", filepath.Join(dir, "mini.pub"), "-m", paths[8], "-x", paths[9]+".minisig").Run(); err == nil {
		t.Error("minisign accepts the signature of another file")
	}
}

func TestSignBatchRefusals(t *testing.T) {
	s := batchServer(t, server.Limits{})
	c := s.Client("builder")
	ctx := context.Background()
	dir := t.TempDir()
	paths := writeArtifacts(t, dir, 3)
	for _, tt := range []struct {
		paths []string
		opts  client.BatchOptions
		want  string
	}{
		{nil, client.BatchOptions{Key: "release"}, "no files to sign"},
		{[]string{paths[0], paths[1], dir + "/./" + filepath.Base(paths[0])}, client.BatchOptions{Key: "release"}, "is given twice (files 1 and 3)"},
		{paths, client.BatchOptions{Key: "nope"}, `no key named "nope"`},
		{paths, client.BatchOptions{Key: "release", Format: "dsse"}, "cannot sign files in batches"},
		{paths, client.BatchOptions{Key: "gitkey", Format: "ssh"}, "namespace"},
		{paths, client.BatchOptions{Key: "release", Format: "minisign"}, "minisign needs an ed25519 key"},
	} {
		if _, err := c.SignBatch(ctx, tt.paths, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("SignBatch(%v, %+v) = %v, want %q", tt.paths, tt.opts, err, tt.want)
		}
	}
	// A key the server refuses for every item fails every file, in one
	// request: the refusal is not of one item.
	sum, err := c.SignBatch(ctx, paths, client.BatchOptions{Key: "release", Format: "ssh", Options: api.SignOptions{Namespace: "file"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Failed) != 3 || sum.Requests != 1 || !strings.Contains(sum.Failed[2].Err.Error(), "usage") {
		t.Errorf("summary %+v %v", sum, sum.Failed)
	}
	// A canceled run fails before it signs anything.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if sum, err := c.SignBatch(cctx, paths, client.BatchOptions{Key: "release"}); err == nil {
		t.Fatalf("canceled: %+v", sum)
	}
}

// TestRetryAfterUnknownOutcome loses the response to the first attempt of
// each sign request after the server signed and recorded it: the client
// cannot know it was signed, tries again, and the log records both
// attempts under one idempotency key, the second marked as a retry.
func TestRetryAfterUnknownOutcome(t *testing.T) {
	var mu sync.Mutex
	lost := map[string]bool{} // idempotency keys whose first answer was lost
	s := signettest.Start(t, signettest.Options{
		Principals: map[string]policy.Rules{"builder": {Grants: []policy.Grant{{Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"*"}}}}},
		Keys:       []keystore.Spec{{Name: "release", Type: keystore.ECDSAP256}},
		Limits:     server.Limits{MaxBatch: 10},
		Wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				key := r.Header.Get(api.IdempotencyKeyHeader)
				mu.Lock()
				lose := r.URL.Path == "/v1/sign" && !lost[key]
				lost[key] = true
				mu.Unlock()
				if !lose {
					h.ServeHTTP(w, r)
					return
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r) // signed and recorded...
				if rec.Code != 200 {
					t.Errorf("first attempt: %d %s", rec.Code, rec.Body)
				}
				panic(http.ErrAbortHandler) // ...and the answer is lost
			})
		},
	})
	c := s.Client("builder")
	paths := writeArtifacts(t, t.TempDir(), 25)
	sum, err := c.SignBatch(context.Background(), paths, client.BatchOptions{Key: "release"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Signed != 25 || sum.Requests != 3 || sum.Retries != 3 {
		t.Fatalf("summary %+v, want 25 signed in 3 requests, each retried once", sum)
	}
	entries := signEntries(t, s)
	for _, p := range paths {
		name := filepath.Base(p)
		es := entries[name]
		if len(es) != 2 {
			t.Fatalf("%s: %d entries, want 2", name, len(es))
		}
		first, retry := es[0], es[1]
		if first.IdempotencyKey == "" || retry.IdempotencyKey != first.IdempotencyKey || first.Attempt != 1 || retry.Attempt != 2 ||
			first.RetryOf != "" || retry.RetryOf != first.IdempotencyKey {
			t.Errorf("%s: entries %+v and %+v are not a request and its retry", name, first, retry)
		}
		sig, _ := os.ReadFile(p + ".sig")
		if retry.Artifact.Signature != fmt.Sprintf("sha256:%x", sha256.Sum256(sig)) {
			t.Errorf("%s: the signature kept is not the retry's", name)
		}
	}
}

func signEntries(t *testing.T, s *signettest.Server) map[string][]*audit.Entry {
	out := map[string][]*audit.Entry{}
	for _, e := range s.Entries(t) {
		if e.Action == audit.ActionSign && e.Decision == audit.Allowed {
			out[e.Artifact.Name] = append(out[e.Artifact.Name], e)
		}
	}
	return out
}
