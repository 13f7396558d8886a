package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/config"
)

// devServer is a `signet serve --dev` process.
type devServer struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	cfg    client.Config
}

// startDev starts a development server on dir and waits for its client.env.
func startDev(t *testing.T, dir string) *devServer {
	t.Helper()
	os.Remove(filepath.Join(dir, "client.env"))
	d := &devServer{cmd: exec.Command("signet", "serve", "--dev", "--data", dir, "--addr", "127.0.0.1:0")}
	d.cmd.Stderr = &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.cmd.Process.Kill(); d.cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "client.env"))
		if err == nil {
			env := map[string]string{}
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				k, v, _ := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
				env[k] = strings.Trim(v, "'")
			}
			d.cfg = client.Config{Server: env["SIGNET_SERVER"], CACert: env["SIGNET_CACERT"], ClientCert: env["SIGNET_CLIENT_CERT"], ClientKey: env["SIGNET_CLIENT_KEY"]}
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("development server did not start: %s", d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCrashLosesNothing drives concurrent signing, SIGKILLs the server in
// the middle, and restarts it: every signature a client received has its
// entry, byte for byte, at the index its receipt names; the log verifies
// and has no gaps.
func TestCrashLosesNothing(t *testing.T) {
	// Most of its time is spent waiting on the servers it starts.
	t.Parallel()
	dir := t.TempDir()
	srv := startDev(t, dir)
	c, err := client.New(srv.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.CreateKey(ctx, &api.CreateKeyRequest{Name: "release", Type: "ecdsa-p256"}); err != nil {
		t.Fatal(err)
	}
	type got struct {
		digest  string
		sig     []byte
		receipt *audit.Receipt
	}
	var mu sync.Mutex
	var received []got
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("crash-%d-%d.tar.gz", g, i)
				sum := sha256.Sum256([]byte(name))
				digest := api.Digest(crypto.SHA256, sum[:])
				resp, err := c.Sign(ctx, &api.SignRequest{Key: "release", Format: "raw", Items: []api.SignItem{{Name: name, Digest: digest}}})
				if err != nil {
					continue // the server is gone; keep trying until stopped
				}
				mu.Lock()
				received = append(received, got{digest, resp.Signatures[0].Signature, resp.Signatures[0].Receipt})
				mu.Unlock()
			}
		})
	}
	// Kill it hard once signing is well under way.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(received)
		mu.Unlock()
		if n >= 400 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d signatures in 60 s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.cmd.Wait()
	close(stop)
	wg.Wait()
	t.Logf("%d signatures received before SIGKILL", len(received))

	// The server restarts on the same data; then the log holds every
	// received signature's entry.
	srv2 := startDev(t, dir)
	c2, err := client.New(srv2.cfg)
	if err != nil {
		t.Fatal(err)
	}
	k, err := c2.AuditKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	logKey := k.VerifierKey
	srv2.cmd.Process.Signal(syscall.SIGTERM)
	srv2.cmd.Wait()
	st, err := audit.OpenTilesReadOnly((&config.Config{Data: dir}).AuditTiles())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, size, err := st.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range received {
		if r.receipt.Index >= size {
			t.Fatalf("received entry %d, but the log has %d entries after the crash", r.receipt.Index, size)
		}
		data, err := st.Entries(ctx, r.receipt.Index, r.receipt.Index+1)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data[0], r.receipt.Entry) {
			t.Fatalf("entry %d changed after the crash:\n%s\n%s", r.receipt.Index, data[0], r.receipt.Entry)
		}
		e, _ := audit.ParseEntry(data[0])
		sigSum := sha256.Sum256(r.sig)
		if e.Artifact.Digests[0] != r.digest || e.Artifact.Signature != fmt.Sprintf("sha256:%x", sigSum) {
			t.Fatalf("entry %d does not record the signature received", r.receipt.Index)
		}
	}
	// Every index below the size is there, and the tree verifies against
	// every checkpoint signed before and after the crash.
	rep, err := audit.Verify(ctx, st, logKey)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Size != size {
		t.Fatalf("verify after crash: %+v", rep)
	}
	for _, r := range received {
		if _, _, err := audit.VerifyReceipt(r.receipt, logKey); err != nil {
			t.Fatalf("receipt %d: %v", r.receipt.Index, err)
		}
	}
}
