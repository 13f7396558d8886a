package main

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/config"
)

// TestAuditMigrate migrates the SQLite log of an existing deployment with
// 'signet audit migrate': the tile log verifies under the same log key,
// receipts issued before verify against what it serves, the old database
// is moved aside, and a second run refuses.
func TestAuditMigrate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := &config.Config{Data: dir}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	vkey, err := audit.VerifierKey("signet/audit", priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	old, err := audit.OpenSQLite(cfg.AuditDB())
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(ctx, audit.Options{Store: old, Origin: "signet/audit", Key: func() (crypto.Signer, error) { return priv, nil },
		CheckpointEvery: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	var receipts []audit.Receipt
	for i := range 300 {
		rs, err := l.Append(ctx, audit.Entry{Time: time.Unix(1_800_000_000, int64(i)), Action: audit.ActionSign, Decision: audit.Allowed,
			Principal: audit.Principal{Kind: "mtls", Name: "builder"}, Artifact: &audit.Artifact{Name: fmt.Sprintf("a-%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		receipts = append(receipts, rs...)
	}
	l.Close()
	old.Close()

	out, err := exec.Command("signet", "audit", "migrate", "--data", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "migrated 300 entries") {
		t.Errorf("migrate said: %s", out)
	}
	if _, err := os.Stat(cfg.AuditDB()); err == nil {
		t.Error("the old database is still where the server would open it")
	}
	if m, _ := filepath.Glob(cfg.AuditDB() + ".migrated-*"); len(m) == 0 {
		t.Error("the old database was not kept aside")
	}
	out, err = exec.Command("signet", "audit", "verify", "--data", dir, "--log-key", vkey).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK: 300 entries") {
		t.Fatalf("verify after migrating: %v\n%s", err, out)
	}
	st, err := audit.OpenTilesReadOnly(cfg.AuditTiles())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, r := range []audit.Receipt{receipts[0], receipts[150], receipts[299]} {
		c, _ := audit.ParseUnverified(r.Checkpoint)
		proof, err := audit.InclusionProof(ctx, st, r.Index, c.Size)
		if err != nil {
			t.Fatal(err)
		}
		again := audit.Receipt{Index: r.Index, Entry: r.Entry, Proof: proof, Checkpoint: r.Checkpoint}
		if _, _, err := audit.VerifyReceipt(&again, vkey); err != nil {
			t.Errorf("receipt of entry %d against the tile log: %v", r.Index, err)
		}
	}
	if out, err := exec.Command("signet", "audit", "migrate", "--data", dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "tile log already") {
		t.Errorf("second migrate: %v %s", err, out)
	}
}
