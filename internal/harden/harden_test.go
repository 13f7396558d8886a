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

func TestMayMlockAll(t *testing.T) {
	const ipcLock, sysAdmin = 1 << 14, 1 << 21
	for _, tt := range []struct {
		name      string
		unlimited bool
		limit     uint64
		caps      uint64
		want      bool
	}{
		{"unlimited, no capabilities", true, ^uint64(0), 0, true},
		{"CAP_IPC_LOCK alone", false, 8 << 20, ipcLock, true},
		{"CAP_IPC_LOCK among others", false, 64 << 10, ipcLock | sysAdmin | 1, true},
		{"full root set", false, 8 << 20, 1<<41 - 1, true},
		{"limited, no capabilities", false, 8 << 20, 0, false},
		{"limited, other capabilities (root in a container without CAP_IPC_LOCK)", false, 8 << 20, (1<<41 - 1) &^ ipcLock, false},
		{"zero limit", false, 0, sysAdmin, false},
	} {
		err := mayMlockAll(tt.unlimited, tt.limit, tt.caps)
		if (err == nil) != tt.want {
			t.Errorf("%s: mayMlockAll = %v, want attempt %v", tt.name, err, tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), "CAP_IPC_LOCK") {
			t.Errorf("%s: %v does not say how to enable it", tt.name, err)
		}
	}
}
