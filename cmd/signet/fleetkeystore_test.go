package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/internal/pgtest"
	"github.com/signet-dev/signet/keystore"
)

// TestFleetKeystore is issue 20's "done means": three `signet serve`
// replicas on one real PostgreSQL (audit log and keystore), all unlocked
// by one `signet unlock` with the fleet list:
//
//   - a key created on one replica signs on all of them at once (the
//     create returns once every replica has loaded it);
//   - a version revoked on one is refused by all as soon as the revoke
//     returns;
//   - concurrent rotations on two replicas: each either wins or is
//     refused as stale (409), and no version is lost;
//   - a signature made before all this, before the migration, still
//     verifies with every replica's key;
//   - PostgreSQL stopped for 10 s under load fails no job that uses the
//     default retry budget.
func TestFleetKeystore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers and PostgreSQL; not with -short")
	}
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	write := func(name string, b []byte) string {
		check(os.WriteFile(path(name), b, 0o600))
		return path(name)
	}
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
	for _, p := range []string{"admin", "ci"} {
		c, err := ca.IssueClient(p)
		issue(p, c, err)
	}

	// A keystore directory with a key that has signed, moved into
	// PostgreSQL with one command.
	pass := []byte("fleet passphrase")
	passFile := write("pass", append(pass, '\n'))
	ks0 := path("keystore")
	check(keystore.Init(ks0, pass))
	ks, err := keystore.Open(ks0)
	check(err)
	check(ks.Unlock(pass))
	_, err = ks.Create(keystore.Spec{Name: "audit-log", Type: keystore.Ed25519, Usage: "audit"})
	check(err)
	before, err := ks.Create(keystore.Spec{Name: "before", Type: keystore.ECDSAP256})
	check(err)
	s, err := ks.Signer("before")
	check(err)
	oldSum := sha256.Sum256([]byte("signed before the fleet"))
	oldSig, err := s.Sign(nil, oldSum[:], crypto.SHA256)
	check(err)
	ks.Lock()
	var out, errb bytes.Buffer
	if code := run([]string{"keystore", "migrate", "--from", ks0, "--to", dsn}, &out, &errb); code != 0 {
		t.Fatalf("keystore migrate: %s", errb.String())
	}

	cfg := write("signet.yaml", fmt.Appendf(nil, `name: fleet
listen: 127.0.0.1:0
data: data0
tls: {cert: server.pem, key: server-key.pem, client_cas: [ca.pem]}
limits: {idle_timeout: 5s}
drain_timeout: 20s
audit: {postgres: %q}
keystore: {postgres: %q}
principals:
  - {name: admin, certificate: {subject_cn: admin}, admin: true}
  - name: ci
    certificate: {subject_cn: ci}
    grants: [{keys: [rel2, before], formats: [raw], artifacts: ["*"]}]
`, dsn, dsn))
	if out, err := exec.Command("signet", "config", "check", cfg).CombinedOutput(); err != nil {
		t.Fatalf("signet config check: %v\n%s", err, out)
	}
	members := make([]*member, 3)
	var urls []string
	for i := range members {
		m := &member{t: t, name: fmt.Sprintf("r%d", i+1), addr: freeAddr(t), metricsAddr: freeAddr(t)}
		m.args = []string{"serve", "--config", cfg, "--addr", m.addr, "--data", path(fmt.Sprintf("data%d", i)),
			"--metrics-addr", m.metricsAddr, "--server-id", m.name}
		members[i] = m
		urls = append(urls, "https://"+m.addr)
		m.start()
	}
	fleet := strings.Join(urls, ",")
	ctx := context.Background()
	clientFor := func(principal, url string, retry client.Retry) *client.Client {
		c, err := client.New(client.Config{Server: url, CACert: path("ca.pem"), ClientCert: path(principal + ".pem"),
			ClientKey: path(principal + "-key.pem"), Retry: retry})
		check(err)
		return c
	}
	once := client.Retry{Attempts: 1}
	cli := func(args ...string) (string, string, error) {
		var out, errb bytes.Buffer
		args = append(args, "--cacert", path("ca.pem"), "--cert", path("admin.pem"), "--cert-key", path("admin-key.pem"))
		if code := run(args, &out, &errb); code != 0 {
			return out.String(), errb.String(), fmt.Errorf("signet %s: exit %d: %s", strings.Join(args[:2], " "), code, errb.String())
		}
		return out.String(), errb.String(), nil
	}

	// One unlock with the fleet list unlocks all three, each named.
	for _, m := range members {
		if ready, why := m.readyz(); ready || !strings.Contains(why, "keystore locked") {
			t.Fatalf("%s before the unlock: ready=%v %q", m.name, ready, why)
		}
	}
	o, _, err := cli("unlock", "--server", fleet, "--passphrase-file", passFile)
	check(err)
	for _, m := range members {
		if !strings.Contains(o, m.addr+": keystore unlocked") {
			t.Fatalf("unlock did not report %s unlocked:\n%s", m.addr, o)
		}
		if ready, why := m.readyz(); !ready {
			t.Fatalf("%s after the fleet unlock: %s", m.name, why)
		}
	}
	o, _, err = cli("status", "--server", fleet)
	check(err)
	if n := strings.Count(o, "keystore: unlocked"); n != 3 {
		t.Fatalf("status reports %d unlocked replicas; want 3:\n%s", n, o)
	}

	sign := func(url, key, name string) (*api.SignResponse, error) {
		sum := sha256.Sum256([]byte(name))
		return clientFor("ci", url, once).Sign(ctx, &api.SignRequest{Key: key, Format: "raw",
			Items: []api.SignItem{{Name: name, Digest: api.Digest(crypto.SHA256, sum[:])}}})
	}
	verify := func(pub *ecdsa.PublicKey, name string, sig []byte) bool {
		sum := sha256.Sum256([]byte(name))
		return ecdsa.VerifyASN1(pub, sum[:], sig)
	}
	publicOf := func(k *api.Key, version int) *ecdsa.PublicKey {
		t.Helper()
		for _, v := range k.Versions {
			if v.Version == version {
				b, _ := pem.Decode([]byte(v.PublicKey))
				if b == nil {
					t.Fatalf("key %s version %d has no public key", k.Name, version)
				}
				p, err := x509.ParsePKIXPublicKey(b.Bytes)
				check(err)
				return p.(*ecdsa.PublicKey)
			}
		}
		t.Fatalf("key %s has no version %d", k.Name, version)
		return nil
	}

	// Created on r1: signs on every replica as soon as the create returns.
	_, e, err := cli("key", "create", "rel2", "--type", string(keystore.ECDSAP256), "--server", urls[0])
	check(err)
	if strings.Contains(e, "had not confirmed") {
		t.Fatalf("key create: %s", e)
	}
	rel2, err := clientFor("admin", urls[0], once).Key(ctx, "rel2")
	check(err)
	for i, u := range urls {
		r, err := sign(u, "rel2", "created-on-r1")
		if err != nil {
			t.Fatalf("%s right after the create: %v", members[i].name, err)
		}
		if !verify(publicOf(rel2, 1), "created-on-r1", r.Signatures[0].Signature) {
			t.Fatalf("%s: the signature does not verify with the key r1 made", members[i].name)
		}
	}

	// Revoked on r1: refused by every replica as soon as the revoke returns.
	_, e, err = cli("key", "revoke", "rel2", "--version", "1", "--reason", "compromised", "--server", urls[0])
	check(err)
	if strings.Contains(e, "had not confirmed") {
		t.Fatalf("key revoke: %s", e)
	}
	for i, u := range urls {
		if _, err := sign(u, "rel2", "after-revoke"); err == nil {
			t.Fatalf("%s still signs with the revoked version", members[i].name)
		}
	}

	// Concurrent rotations on r2 and r3.
	var wg sync.WaitGroup
	res := make([]*api.Key, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { res[i], errs[i] = clientFor("admin", urls[i+1], once).RotateKey(ctx, "before") })
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		var ce *client.Error
		switch {
		case err == nil:
			wins++
		case errors.As(err, &ce) && ce.Status == 409 && strings.Contains(ce.Message, "changed meanwhile"):
		default:
			t.Fatalf("rotation on r%d: %v; want success or 409 stale", i+2, err)
		}
	}
	if wins == 0 {
		t.Fatal("neither rotation won")
	}
	for i, u := range urls {
		k, err := clientFor("admin", u, once).Key(ctx, "before")
		check(err)
		if len(k.Versions) != 1+wins || k.Version != 1+wins {
			t.Fatalf("%s: key before has %d versions, active %d, after %d rotations", members[i].name, len(k.Versions), k.Version, wins)
		}
		for j, r := range res {
			if r != nil && !publicOf(k, r.Version).Equal(publicOf(r, r.Version)) {
				t.Fatalf("%s: version %d is not the one r%d made: a version was lost", members[i].name, r.Version, j+2)
			}
		}
		// A signature made before the migration still verifies.
		if !publicOf(k, 1).Equal(before.Public) || !ecdsa.VerifyASN1(publicOf(k, 1), oldSum[:], oldSig) {
			t.Fatalf("%s: the signature made before no longer verifies with version 1", members[i].name)
		}
	}

	// PostgreSQL stops for 10 s under load: no job fails with the
	// default retry budget.
	job := clientFor("ci", fleet, client.Retry{})
	var (
		stop     = make(chan struct{})
		workers  sync.WaitGroup
		mu       sync.Mutex
		failures []error
		signed   atomic.Int64
	)
	for w := range 3 {
		workers.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("load-w%d-%05d", w, n)
				sum := sha256.Sum256([]byte(name))
				_, err := job.Sign(ctx, &api.SignRequest{Key: "before", Format: "raw",
					Items: []api.SignItem{{Name: name, Digest: api.Digest(crypto.SHA256, sum[:])}}})
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Errorf("%s: %w", name, err))
					mu.Unlock()
				} else {
					signed.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	waitSigned := func(n int64) {
		t.Helper()
		for start := signed.Load(); signed.Load() < start+n; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			failed := len(failures) > 0
			mu.Unlock()
			if failed {
				break
			}
		}
	}
	waitSigned(20)
	check(pg.Stop())
	time.Sleep(10 * time.Second)
	check(pg.Start())
	waitSigned(20) // the jobs started during the outage have finished
	close(stop)
	workers.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d jobs failed across the 10 s database outage, the first: %v", len(failures), failures[0])
	}
	t.Logf("%d signatures under load across a 10 s PostgreSQL stop, none failed", signed.Load())
}
