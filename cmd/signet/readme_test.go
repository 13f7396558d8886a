package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestREADME runs the README's walkthrough: every ```sh block of its
// "Five minutes with Signet" section, verbatim and in order, in one bash
// script with errexit and pipefail, against the development server the
// first block starts. Only where it runs changes: /tmp/sg becomes a
// directory of the test's and 127.0.0.1:8443 a free port, so that tests
// can run side by side. Blocks fenced as ```text are not run; they say
// what else they need.
func TestREADME(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "openssl", "ssh-keygen", "minisign", "gpgv", "sha256sum", "find"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required; run ./scripts/test, which installs it", tool)
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := walkthroughBlocks(t, string(readme))
	if len(blocks) < 9 {
		t.Fatalf("the walkthrough has %d sh blocks; want the whole story", len(blocks))
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var script strings.Builder
	script.WriteString("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n")
	for i, b := range blocks {
		b = strings.ReplaceAll(b, "/tmp/sg", filepath.Join(dir, "sg"))
		b = strings.ReplaceAll(b, "127.0.0.1:8443", addr)
		script.WriteString("echo '### block " + string(rune('A'+i)) + "' >&2\nset -x\n" + b + "set +x\n")
	}
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "HOME="+dir, "GNUPGHOME="+filepath.Join(dir, "gnupg"))
	os.Mkdir(filepath.Join(dir, "gnupg"), 0o700)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "sg.log"))
		t.Fatalf("the README walkthrough failed: %v\n%s\nserver log:\n%s", err, out.String(), log)
	}
	// What the walkthrough promises, checked on what it left behind.
	for _, f := range []string{"artifact.tar.gz.sig", "artifact.tar.gz.sig.receipt", "dist/app-3.tar.gz.sig", "dist/app-4.tar.gz.sig",
		"notes.txt.sig", "notes.txt.minisig", "artifact.tar.gz.intoto.json", "artifact.tar.gz.asc", "release-to-release-2027.transition.json"} {
		if _, err := os.Stat(filepath.Join(work, f)); err != nil {
			t.Errorf("the walkthrough did not make %s: %v", f, err)
		}
	}
	for _, f := range []string{"dist/app-1.tar.gz.sig.sig", "dist/app-1.tar.gz.sig.receipt.sig"} {
		if _, err := os.Stat(filepath.Join(work, f)); err == nil {
			t.Errorf("the batch signed its own output: %s", f)
		}
	}
}

// walkthroughBlocks returns the ```sh blocks of the README section
// "Five minutes with Signet".
func walkthroughBlocks(t *testing.T, readme string) []string {
	_, section, ok := strings.Cut(readme, "\n## Five minutes with Signet\n")
	if !ok {
		t.Fatal(`README.md has no section "## Five minutes with Signet"`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var blocks []string
	for {
		_, rest, ok := strings.Cut(section, "\n```")
		if !ok {
			return blocks
		}
		info, rest, _ := strings.Cut(rest, "\n")
		body, after, ok := strings.Cut(rest, "\n```\n")
		if !ok {
			t.Fatalf("unterminated ```%s block in the walkthrough", info)
		}
		switch info {
		case "sh":
			blocks = append(blocks, body+"\n")
		case "text":
		default:
			t.Fatalf("walkthrough block fenced as ```%s: use sh for what runs, text for what does not", info)
		}
		section = "\n" + after
	}
}
