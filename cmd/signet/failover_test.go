package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/internal/pgtest"
	"github.com/signet-dev/signet/internal/signettest"
	"github.com/signet-dev/signet/keystore"
)

// replica is one `signet serve --config` process of a fleet.
type replica struct {
	cmd    *exec.Cmd
	addr   string
	stderr bytes.Buffer
}

// TestFailover signs 5,000 files against three replicas that share one
// config, one keystore and one audit log in PostgreSQL, and SIGKILLs the
// replica in use in the middle. The batch completes; every file's
// signature verifies; and the log holds each file's signature once, or
// several times with every repeat marked as a retry of the same request.
func TestFailover(t *testing.T) {
	// Most of its time is spent waiting on the servers it starts.
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is required; run ./scripts/test, which installs it")
	}
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// One PKI, one keystore, one config for the fleet.
	ca, err := devpki.NewCA("fleet CA")
	check(err)
	write("ca.pem", devpki.CertPEM(ca.TLSCertificate()))
	issue := func(name string, c tls.Certificate, err error) {
		check(err)
		key, err := devpki.KeyPEM(c)
		check(err)
		write(name+".pem", devpki.CertPEM(c))
		write(name+"-key.pem", key)
	}
	c, err := ca.IssueServer("127.0.0.1")
	issue("server", c, err)
	c, err = ca.IssueClient("admin")
	issue("admin", c, err)
	c, err = ca.IssueClient("builder")
	issue("builder", c, err)
	pass := []byte("fleet passphrase")
	ksDir := filepath.Join(dir, "data", "keystore")
	check(os.MkdirAll(filepath.Dir(ksDir), 0o700))
	check(keystore.Init(ksDir, pass))
	ks, err := keystore.Open(ksDir)
	check(err)
	check(ks.Unlock(pass))
	_, err = ks.Create(keystore.Spec{Name: "release", Type: keystore.ECDSAP256})
	check(err)
	logKey, err := ks.Create(keystore.Spec{Name: "audit-log", Type: keystore.Ed25519, Usage: "audit"})
	check(err)
	vkey, err := audit.VerifierKey("fleet/audit", logKey.Public.(ed25519.PublicKey))
	check(err)
	// A keystore directory serves one replica; a fleet shares the
	// keystore through PostgreSQL.
	ks.Lock()
	var migrateOut, migrateErr bytes.Buffer
	if code := run([]string{"keystore", "migrate", "--from", ksDir, "--to", dsn}, &migrateOut, &migrateErr); code != 0 {
		t.Fatalf("keystore migrate: %s", migrateErr.String())
	}
	cfg := write("signet.yaml", fmt.Appendf(nil, `name: fleet
listen: 127.0.0.1:0
data: data
tls: {cert: server.pem, key: server-key.pem, client_cas: [ca.pem]}
limits: {max_batch: 50}
drain_timeout: 1s
audit: {postgres: %q}
keystore: {postgres: %q}
principals:
  - {name: admin, certificate: {subject_cn: admin}, admin: true}
  - name: builder
    certificate: {subject_cn: builder}
    grants: [{keys: [release], formats: [raw], artifacts: ["*.tar.gz"]}]
`, dsn, dsn))

	// Three replicas, each unlocked by the admin.
	replicas := map[string]*replica{} // by server id, host:port
	var urls []string
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		check(err)
		addr := ln.Addr().String()
		ln.Close()
		r := &replica{addr: addr, cmd: exec.Command("signet", "serve", "--config", cfg, "--addr", addr)}
		r.cmd.Stderr = &r.stderr
		check(r.cmd.Start())
		t.Cleanup(func() { r.cmd.Process.Kill(); r.cmd.Wait() })
		host, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(addr)
		replicas[net.JoinHostPort(host, port)] = r
		urls = append(urls, "https://"+addr)
	}
	ctx := context.Background()
	for _, r := range replicas {
		waitTCP(t, r.addr)
		admin, err := client.New(client.Config{Server: "https://" + r.addr, CACert: filepath.Join(dir, "ca.pem"),
			ClientCert: filepath.Join(dir, "admin.pem"), ClientKey: filepath.Join(dir, "admin-key.pem")})
		check(err)
		if err := admin.Unlock(ctx, string(pass)); err != nil {
			t.Fatalf("unlocking %s: %v\n%s", r.addr, err, r.stderr.String())
		}
	}

	// 5,000 files, signed through all three.
	files := filepath.Join(dir, "files")
	check(os.Mkdir(files, 0o700))
	var paths []string
	for i := range 5000 {
		paths = append(paths, write(fmt.Sprintf("files/f%04d.tar.gz", i), fmt.Appendf(nil, "file %d\n%s", i, strings.Repeat("x", i%997))))
	}
	builder, err := client.New(client.Config{Server: strings.Join(urls, ","), CACert: filepath.Join(dir, "ca.pem"),
		ClientCert: filepath.Join(dir, "builder.pem"), ClientKey: filepath.Join(dir, "builder-key.pem")})
	check(err)
	var killed *replica
	done := 0
	sum, err := builder.SignBatch(ctx, paths, client.BatchOptions{Key: "release", Done: func(r client.FileResult) {
		done++
		if done != 1000 || r.Signature == "" {
			return
		}
		// Kill the replica that signed the file just done: the one in use.
		b, err := os.ReadFile(r.Signature + ".receipt")
		check(err)
		var rec audit.Receipt
		check(json.Unmarshal(b, &rec))
		e, err := audit.ParseEntry(rec.Entry)
		check(err)
		killed = replicas[e.Server]
		if killed == nil {
			t.Fatalf("entry names server %q, not a replica", e.Server)
		}
		check(killed.cmd.Process.Signal(syscall.SIGKILL))
	}})
	check(err)
	if killed == nil {
		t.Fatal("no replica was killed")
	}
	t.Logf("killed %s after 1,000 files; summary: %d signed in %d requests, %d retries, %v", killed.addr, sum.Signed, sum.Requests, sum.Retries, sum.Elapsed)
	if sum.Signed != 5000 || len(sum.Failed) != 0 {
		for _, f := range sum.Failed[:min(5, len(sum.Failed))] {
			t.Errorf("%s: %v", f.Path, f.Err)
		}
		t.Fatalf("%d signed, %d failed; want all 5,000 signed", sum.Signed, len(sum.Failed))
	}
	if sum.Retries == 0 {
		t.Error("no request was retried, so the kill was not in the middle of the batch")
	}

	// The signatures verify (openssl for a sample; the client checked
	// them all before writing).
	k, err := builder.Key(ctx, "release")
	check(err)
	pub := write("release.pem", []byte(k.PublicKey))
	for _, i := range []int{0, 999, 1000, 2500, 4999} {
		out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", pub, "-signature", paths[i]+".sig", paths[i]).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verified OK") {
			t.Errorf("openssl on %s: %v %s", paths[i], err, out)
		}
	}

	// The log: each file's signature once, or repeated only as retries of
	// the same request.
	store, err := audit.OpenPostgres(ctx, dsn)
	check(err)
	defer store.Close()
	rep, err := audit.Verify(ctx, store, vkey)
	check(err)
	if !rep.OK() {
		t.Fatalf("the shared log does not verify: %+v", rep)
	}
	byName := map[string][]*audit.Entry{}
	servers := map[string]int{}
	for _, e := range signettest.Entries(t, store) {
		if e.Action == audit.ActionSign && e.Decision == audit.Allowed {
			byName[e.Artifact.Name] = append(byName[e.Artifact.Name], e)
			servers[e.Server]++
		}
	}
	repeated := 0
	for _, p := range paths {
		name := filepath.Base(p)
		es := byName[name]
		if len(es) == 0 {
			t.Fatalf("%s: no entry in the log", name)
		}
		key := es[0].IdempotencyKey
		attempts := map[int]bool{}
		for _, e := range es {
			switch {
			case key == "" || e.IdempotencyKey != key:
				t.Fatalf("%s: entries of different requests (keys %q, %q): signed twice, not retried", name, key, e.IdempotencyKey)
			case attempts[e.Attempt]:
				t.Fatalf("%s: attempt %d recorded twice", name, e.Attempt)
			case e.Attempt > 1 && e.RetryOf != key, e.Attempt == 1 && e.RetryOf != "":
				t.Fatalf("%s: attempt %d has retry_of %q", name, e.Attempt, e.RetryOf)
			}
			attempts[e.Attempt] = true
		}
		if len(es) > 1 {
			repeated++
		}
		// The signature kept is one the log recorded.
		sig, err := os.ReadFile(p + ".sig")
		check(err)
		want := fmt.Sprintf("sha256:%x", sha256.Sum256(sig))
		found := false
		for _, e := range es {
			found = found || e.Artifact.Signature == want
		}
		if !found {
			t.Fatalf("%s: the signature written is not in the log", name)
		}
	}
	t.Logf("entries by server: %v; %d files recorded more than once, each marked as a retry", servers, repeated)
	var killedID string
	for id, r := range replicas {
		if r == killed {
			killedID = id
		}
	}
	if servers[killedID] == 0 || servers[killedID] == 5000 {
		t.Errorf("the killed replica recorded %d signatures; want some, not all", servers[killedID])
	}
}

func waitTCP(t *testing.T, addr string) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Since(start) > waitLimit {
			t.Fatalf("nothing listening on %s after %v", addr, waitLimit)
		}
	}
}
