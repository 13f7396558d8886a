package harden

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestProcess hardens a child process (the test binary re-run), since
// mlockall and an undumpable test process would outlive the test.
func TestProcess(t *testing.T) {
	if os.Getenv("HARDEN_CHILD") == "1" {
		r := Process()
		if r.NotDumpable != nil || r.NoCore != nil {
			t.Fatalf("%+v", r)
		}
		if d, err := Dumpable(); err != nil || d {
			t.Fatalf("still dumpable: %v %v", d, err)
		}
		var lim unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_CORE, &lim); err != nil || lim.Cur != 0 || lim.Max != 0 {
			t.Fatalf("RLIMIT_CORE = %+v, %v", lim, err)
		}
		t.Logf("mlock: %v", r.Mlock)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "HARDEN_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestProcess") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
