package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestListenHint checks that the agent's hint fits what failed: a socket
// group the agent's user is not in (which root, running the tests, never
// meets), or a directory it cannot write.
func TestListenHint(t *testing.T) {
	chown := fmt.Errorf("socket /run/signet/agent.sock: %w", &os.PathError{Op: "lchown", Path: "/run/signet/.agent.sock.tmp", Err: syscall.EPERM})
	if h := listenHint(chown, 1234); !strings.Contains(h, "must be in group 1234") || strings.Contains(h, "install -d") {
		t.Errorf("hint for a group the agent is not in: %q", h)
	}
	dir := fmt.Errorf("creating the socket: %w", &os.PathError{Op: "listen", Path: "/run/signet/x", Err: syscall.ENOENT})
	if h := listenHint(dir, -1); !strings.Contains(h, "install -d") {
		t.Errorf("hint for a missing directory: %q", h)
	}
}
