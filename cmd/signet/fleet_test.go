package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/internal/pgtest"
	"github.com/signet-dev/signet/internal/signettest"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/token"
)

// member is one replica of the fleet across its restarts: same
// addresses, same data directory (its own copy of the keystore).
type member struct {
	t           *testing.T
	name        string
	addr        string // API
	metricsAddr string // /readyz, /metrics: plain HTTP on loopback
	args        []string
	cmd         *exec.Cmd
	stderr      *signettest.Buffer
	logs        []string // stderr of earlier incarnations

	// state serializes what changes whether the replica can sign
	// (SIGTERM, lock) with the readiness checks: a check holds it from
	// its /readyz answer to the end of its signing attempt, so that no
	// such change falls between the two. Unlocking needs no lock: it
	// only makes a replica able to sign.
	state sync.Mutex
}

func (m *member) start() {
	m.t.Helper()
	if m.stderr != nil {
		m.logs = append(m.logs, m.stderr.String())
	}
	m.stderr = &signettest.Buffer{}
	m.cmd = exec.Command("signet", m.args...)
	m.cmd.Stderr = m.stderr
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	cmd := m.cmd
	m.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	waitTCP(m.t, m.addr)
	waitTCP(m.t, m.metricsAddr)
}

// readyz asks the replica's metrics listener; a replica that does not
// answer is not ready.
func (m *member) readyz() (bool, string) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + m.metricsAddr + "/readyz")
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == 200, strings.TrimSpace(string(b))
}

// stop sends SIGTERM and holds the state lock until the replica says it
// is not ready (or no longer answers): the signal is asynchronous, and a
// replica that has not received it yet is not lying when it says ready.
// It then waits for the process and requires exit status 0.
func (m *member) stop() {
	m.t.Helper()
	m.state.Lock()
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		m.state.Unlock()
		m.t.Fatal(err)
	}
	for {
		if ready, _ := m.readyz(); !ready {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	m.state.Unlock()
	err := m.cmd.Wait()
	if err != nil || m.cmd.ProcessState.ExitCode() != 0 {
		m.t.Fatalf("%s after SIGTERM: %v (exit status %d)\n%s", m.name, err, m.cmd.ProcessState.ExitCode(), m.stderr)
	}
	if !strings.Contains(m.stderr.String(), "requests in flight finished, audit log flushed") {
		m.t.Fatalf("%s stopped without saying it drained and flushed:\n%s", m.name, m.stderr)
	}
}

// TestFleetRollingRestart is the proof of docs/operations.md's rolling
// restart: three `signet serve --config` replicas share one PostgreSQL
// audit log and one token-verification config (each with its own copy of
// the keystore), a build job signs continuously through all three with a
// token and the client's failover, and each replica in turn is stopped
// with SIGTERM, started again and unlocked; one is locked and unlocked;
// then all three reload their config with SIGHUP. Required:
//
//   - the job sees no failed signature;
//   - `signet audit verify` accepts the shared log;
//   - every signature the job received has exactly one entry in the log
//     (found by the signature's digest), and every artifact it asked for
//     was signed exactly once: graceful restarts lose no answer, so no
//     retry ever signs twice. Entries of attempts that a stopping or
//     locked replica refused share the request's idempotency key, and
//     the attempt that signed is marked as a retry of it;
//   - no replica ever said ready while unable to sign: every "ready" of
//     /readyz, polled throughout, is checked by signing on that replica
//     right away, with no stop or lock in between.
func TestFleetRollingRestart(t *testing.T) {
	// Most of its time is spent waiting on the servers it starts.
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is required; run ./scripts/test, which installs it")
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

	// One PKI.
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
	for _, p := range []string{"admin", "ci", "prober"} {
		c, err := ca.IssueClient(p)
		issue(p, c, err)
	}

	// One keystore, copied to each replica's data directory.
	pass := []byte("fleet passphrase")
	ks0 := path("data0/keystore")
	check(os.MkdirAll(filepath.Dir(ks0), 0o700))
	check(keystore.Init(ks0, pass))
	ks, err := keystore.Open(ks0)
	check(err)
	check(ks.Unlock(pass))
	release, err := ks.Create(keystore.Spec{Name: "release", Type: keystore.ECDSAP256})
	check(err)
	logKey, err := ks.Create(keystore.Spec{Name: "audit-log", Type: keystore.Ed25519, Usage: "audit"})
	check(err)
	tokKey, err := ks.Create(keystore.Spec{Name: "tokens", Type: keystore.Ed25519, Usage: "token"})
	check(err)
	vkey, err := audit.VerifierKey("fleet/audit", logKey.Public.(ed25519.PublicKey))
	check(err)
	tokSigner, err := ks.Signer("tokens")
	check(err)
	deny, err := token.SignDenyList(tokSigner, "tokens", token.DenyList{Issuer: "admin", IssuedAt: time.Now().Unix(), Subjects: []string{"revoked-job"}})
	check(err)
	write("deny.jwt", []byte(deny))
	ks.Lock()
	for i := 1; i < 3; i++ {
		check(os.CopyFS(path(fmt.Sprintf("data%d/keystore", i)), os.DirFS(ks0)))
	}
	der, err := x509.MarshalPKIXPublicKey(tokKey.Public)
	check(err)
	tokPEM := strings.ReplaceAll(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), "\n", "\n        ")
	der, err = x509.MarshalPKIXPublicKey(release.Public)
	check(err)
	pubFile := write("release.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))

	// One config for the fleet; each replica overrides its addresses and
	// data directory on the command line.
	config := func(extra string) []byte {
		return fmt.Appendf(nil, `name: fleet
listen: 127.0.0.1:0
data: data0
tls: {cert: server.pem, key: server-key.pem, client_cas: [ca.pem]}
limits: {idle_timeout: 5s}
drain_timeout: 20s
audit: {postgres: %q}
tokens:
  signing_key: tokens
  deny_list: deny.jwt
  deny_list_poll: 1s
  verifiers:
    - id: tokens
      public_key: |
        %s
principals:
  - {name: admin, certificate: {subject_cn: admin}, admin: true}
  - name: ci
    certificate: {subject_cn: ci}
    issue_tokens: true
    grants: [{keys: [release], formats: [raw], artifacts: ["fleet-*"]}]
  - name: prober
    certificate: {subject_cn: prober}
    grants: [{keys: [release], formats: [raw], artifacts: ["probe-*"]}]
%s`, dsn, tokPEM, extra)
	}
	cfg := write("signet.yaml", config(""))
	out, err := exec.Command("signet", "config", "check", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("signet config check: %v\n%s", err, out)
	}

	ctx := context.Background()
	clientFor := func(principal, url string, attempts int) *client.Client {
		c, err := client.New(client.Config{Server: url, CACert: path("ca.pem"), ClientCert: path(principal + ".pem"),
			ClientKey: path(principal + "-key.pem"), Retry: client.Retry{Attempts: attempts, Timeout: time.Minute}})
		check(err)
		return c
	}
	members := make([]*member, 3)
	var urls []string
	for i := range members {
		m := &member{t: t, name: fmt.Sprintf("replica %d", i), addr: freeAddr(t), metricsAddr: freeAddr(t)}
		m.args = []string{"serve", "--config", cfg, "--addr", m.addr, "--data", path(fmt.Sprintf("data%d", i)), "--metrics-addr", m.metricsAddr}
		members[i] = m
		urls = append(urls, "https://"+m.addr)
	}
	unlock := func(m *member) {
		t.Helper()
		// A fresh replica is locked, and says so.
		if ready, why := m.readyz(); ready || !strings.Contains(why, "keystore locked") {
			t.Fatalf("%s before its unlock: ready=%v %q", m.name, ready, why)
		}
		if err := clientFor("admin", "https://"+m.addr, 1).Unlock(ctx, string(pass)); err != nil {
			t.Fatalf("unlocking %s: %v\n%s", m.name, err, m.stderr)
		}
		for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
			if ready, why := m.readyz(); ready {
				break
			} else if time.Since(start) > waitLimit {
				t.Fatalf("%s not ready %v after its unlock: %s", m.name, waitLimit, why)
			}
		}
	}
	for _, m := range members {
		m.start()
	}
	for _, m := range members {
		unlock(m)
	}

	// The build job: a token from the orchestrator, three workers
	// signing two artifacts per request through all three replicas.
	tok, err := clientFor("ci", urls[0], 1).IssueToken(ctx, &api.TokenRequest{Subject: "fleet-job", TTL: "1h",
		Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"fleet-*"}})
	check(err)
	job, err := client.New(client.Config{Server: strings.Join(urls, ","), CACert: path("ca.pem"), Token: tok.Token})
	check(err)
	type signed struct {
		name string
		sig  []byte
	}
	var (
		mu       sync.Mutex
		received []signed
		failures []error
		asked    []string
		stop     = make(chan struct{})
		workers  sync.WaitGroup
		count    atomic.Int64
	)
	for w := range 3 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for n := 0; ; n += 2 {
				select {
				case <-stop:
					return
				default:
				}
				var items []api.SignItem
				for k := range 2 {
					name := fmt.Sprintf("fleet-w%d-%06d.tar.gz", w, n+k)
					sum := sha256.Sum256([]byte(name))
					items = append(items, api.SignItem{Name: name, Digest: api.Digest(crypto.SHA256, sum[:])})
				}
				resp, err := job.Sign(ctx, &api.SignRequest{Key: "release", Format: "raw", Items: items})
				mu.Lock()
				for _, it := range items {
					asked = append(asked, it.Name)
				}
				if err != nil {
					failures = append(failures, fmt.Errorf("%s: %w", items[0].Name, err))
				} else {
					for _, s := range resp.Signatures {
						received = append(received, signed{s.Name, s.Signature})
					}
				}
				mu.Unlock()
				count.Add(1)
				time.Sleep(15 * time.Millisecond)
			}
		}()
	}
	waitSigned := func(more int64) {
		t.Helper()
		target := count.Load() + more
		for start := time.Now(); count.Load() < target; time.Sleep(10 * time.Millisecond) {
			if time.Since(start) > waitLimit {
				t.Fatalf("the job made no progress for %v", waitLimit)
			}
		}
	}

	// The readiness checkers: every "ready" is tested by a signature on
	// that replica alone, with one attempt.
	type verdict struct {
		ready, notReady int
		lies            []string
	}
	verdicts := make([]verdict, len(members))
	var checkers sync.WaitGroup
	for i, m := range members {
		checkers.Add(1)
		go func() {
			defer checkers.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				m.state.Lock()
				ready, why := m.readyz()
				if ready {
					name := fmt.Sprintf("probe-%d-%06d", i, n)
					sum := sha256.Sum256([]byte(name))
					_, err := clientFor("prober", "https://"+m.addr, 1).Sign(ctx, &api.SignRequest{Key: "release", Format: "raw",
						Items: []api.SignItem{{Name: name, Digest: api.Digest(crypto.SHA256, sum[:])}}})
					if err != nil {
						verdicts[i].lies = append(verdicts[i].lies, fmt.Sprintf("ready, then signing failed: %v", err))
					}
					verdicts[i].ready++
				} else {
					verdicts[i].notReady++
					_ = why
				}
				m.state.Unlock()
				time.Sleep(40 * time.Millisecond)
			}
		}()
	}

	// The rolling restart.
	waitSigned(30)
	for _, m := range members {
		m.stop()
		waitSigned(10) // the job goes on with two replicas
		m.start()
		unlock(m)
		waitSigned(30)
	}
	// The panic button on one replica, then a new unlock.
	m := members[1]
	m.state.Lock()
	_, err = clientFor("admin", "https://"+m.addr, 1).Lock(ctx)
	m.state.Unlock()
	check(err)
	waitSigned(10)
	unlock(m)
	waitSigned(10)
	// A rolling reload: a new principal, applied by SIGHUP.
	write("signet.yaml", config("  - {name: auditor, certificate: {subject_cn: auditor}, audit: true}\n"))
	for _, m := range members {
		check(m.cmd.Process.Signal(syscall.SIGHUP))
		for start := time.Now(); !strings.Contains(m.stderr.String(), "config reloaded"); time.Sleep(10 * time.Millisecond) {
			if time.Since(start) > waitLimit {
				t.Fatalf("%s did not reload:\n%s", m.name, m.stderr)
			}
		}
		waitSigned(10)
	}
	close(stop)
	workers.Wait()
	checkers.Wait()
	for _, m := range members {
		m.stop()
	}

	// The job saw no failure.
	t.Logf("%d requests, %d signatures, %d client retries", count.Load(), len(received), job.Retries())
	for _, err := range failures[:min(5, len(failures))] {
		t.Errorf("failed signature: %v", err)
	}
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed; want none", len(failures), count.Load())
	}
	// No replica lied.
	for i, v := range verdicts {
		t.Logf("replica %d: %d ready answers, each checked by a signature; %d not ready", i, v.ready, v.notReady)
		for _, l := range v.lies[:min(5, len(v.lies))] {
			t.Errorf("replica %d: %s", i, l)
		}
		if v.ready < 5 || v.notReady < 1 {
			t.Errorf("replica %d: %d ready and %d not-ready answers; the checker did not observe enough", i, v.ready, v.notReady)
		}
	}

	// The shared log verifies, by the command operators run.
	if out, err := exec.Command("signet", "audit", "verify", "--postgres", dsn, "--log-key", vkey).CombinedOutput(); err != nil {
		t.Fatalf("signet audit verify: %v\n%s", err, out)
	}
	store, err := audit.OpenPostgres(ctx, dsn)
	check(err)
	defer store.Close()
	bySig := map[string][]*audit.Entry{}
	byName := map[string][]*audit.Entry{}
	reloads := map[string]int{}
	for _, e := range signettest.Entries(t, store) {
		if e.Artifact != nil && strings.HasPrefix(e.Artifact.Name, "fleet-") {
			byName[e.Artifact.Name] = append(byName[e.Artifact.Name], e)
			if e.Artifact.Signature != "" {
				bySig[e.Artifact.Signature] = append(bySig[e.Artifact.Signature], e)
			}
		}
		if e.Action == audit.ActionConfigReload && e.Decision == audit.Allowed {
			reloads[e.Server]++
		}
	}
	// Every signature received: valid, and exactly one entry.
	pub := release.Public.(*ecdsa.PublicKey)
	for i, s := range received {
		sum := sha256.Sum256([]byte(s.name))
		if !ecdsa.VerifyASN1(pub, sum[:], s.sig) {
			t.Fatalf("%s: the signature received does not verify", s.name)
		}
		if i%500 == 0 { // and a sample by openssl
			data := write("artifact", []byte(s.name))
			sig := write("artifact.sig", s.sig)
			if out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", pubFile, "-signature", sig, data).CombinedOutput(); err != nil {
				t.Fatalf("openssl on %s: %v %s", s.name, err, out)
			}
		}
		d := sha256.Sum256(s.sig)
		es := bySig[api.Digest(crypto.SHA256, d[:])]
		if len(es) != 1 {
			t.Fatalf("%s: the signature received has %d entries in the log; want 1", s.name, len(es))
		}
		e := es[0]
		if e.Action != audit.ActionSign || e.Decision != audit.Allowed || e.Artifact.Name != s.name || e.Principal.Subject != "fleet-job" {
			t.Fatalf("%s: its entry is %+v", s.name, e)
		}
	}
	// Every artifact asked for: signed exactly once; other entries are
	// refused attempts of the same request.
	retried := 0
	for _, name := range asked {
		es := byName[name]
		var allowed []*audit.Entry
		for _, e := range es {
			if e.IdempotencyKey == "" || e.IdempotencyKey != es[0].IdempotencyKey {
				t.Fatalf("%s: entries of different requests (%q, %q)", name, es[0].IdempotencyKey, e.IdempotencyKey)
			}
			if e.Decision == audit.Allowed {
				allowed = append(allowed, e)
			}
		}
		if len(allowed) != 1 {
			t.Fatalf("%s: signed %d times; want exactly once", name, len(allowed))
		}
		a := allowed[0]
		for _, e := range es {
			if e != a && e.Attempt >= a.Attempt {
				t.Fatalf("%s: a refused attempt %d after the signing attempt %d", name, e.Attempt, a.Attempt)
			}
		}
		if a.Attempt > 1 {
			retried++
			if a.RetryOf != a.IdempotencyKey {
				t.Fatalf("%s: attempt %d not marked as a retry: %+v", name, a.Attempt, a)
			}
		}
	}
	if len(asked) != len(received) {
		t.Fatalf("%d artifacts asked for, %d signatures received", len(asked), len(received))
	}
	t.Logf("%d artifacts signed once each; %d of them by a retried request", len(asked), retried)
	if retried == 0 {
		t.Error("no artifact was signed by a retry: the restarts never interrupted the job, so failover went untested")
	}
	if len(reloads) != 3 {
		t.Errorf("config reloads recorded by %v; want one by each of the 3 replicas", reloads)
	}
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
