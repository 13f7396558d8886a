package harden

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestMain runs the child of TestMlockAll when asked: it hardens itself
// and prints what mlockall achieved and how much memory is locked.
func TestMain(m *testing.M) {
	if os.Getenv("HARDEN_MLOCK_CHILD") == "1" {
		r := Process()
		fmt.Printf("mlock error: %v\nlocked kB: %d\n", r.Mlock, lockedKB())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// lockedKB returns VmLck from /proc/self/status, or -1.
func lockedKB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmLck:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// TestMlockAll hardens child processes with the capabilities and lock
// limit a service may run with, and reads from the kernel whether their
// memory ended up locked. Being root is neither needed nor enough:
// CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK is what counts.
func TestMlockAll(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test runs children under other users and capabilities with setpriv and must run as root (as ./scripts/test does in CI)")
	}
	for _, tool := range []string{"setpriv", "prlimit"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s (util-linux) is needed to run the children: %v", tool, err)
		}
	}
	// A copy of the test binary that user nobody may run.
	dir, err := os.MkdirTemp("", "harden-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "harden.test")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	nobody := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}
	for _, tt := range []struct {
		name   string
		cmd    []string // the prefix that runs the child
		locked bool
		err    string
	}{
		{"root", []string{"prlimit", "--memlock=65536:65536"}, true, ""},
		{"user with CAP_IPC_LOCK", append([]string{"prlimit", "--memlock=65536:65536"}, append(nobody, "--inh-caps=+ipc_lock", "--ambient-caps=+ipc_lock")...), true, ""},
		{"user without either", append([]string{"prlimit", "--memlock=65536:65536"}, nobody...), false, "not attempted: RLIMIT_MEMLOCK is 64 KiB and CAP_IPC_LOCK is not in the effective capabilities"},
		{"root without CAP_IPC_LOCK", []string{"prlimit", "--memlock=65536:65536", "setpriv", "--bounding-set=-ipc_lock", "--inh-caps=-ipc_lock", "--ambient-caps=-ipc_lock"}, false, "not attempted"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{}, tt.cmd[1:]...), "--", bin)
			cmd := exec.Command(tt.cmd[0], args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "HARDEN_MLOCK_CHILD=1")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", cmd, err, out)
			}
			var mlockErr string
			var kb int64 = -1
			for line := range strings.Lines(string(out)) {
				if v, ok := strings.CutPrefix(line, "mlock error: "); ok {
					mlockErr = strings.TrimSpace(v)
				}
				if v, ok := strings.CutPrefix(line, "locked kB: "); ok {
					kb, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				}
			}
			if tt.locked && (mlockErr != "<nil>" || kb <= 0) {
				t.Errorf("memory not locked: mlockall error %q, VmLck %d kB\n%s", mlockErr, kb, out)
			}
			if !tt.locked && (!strings.Contains(mlockErr, tt.err) || kb != 0) {
				t.Errorf("mlockall error %q, VmLck %d kB; want %q and nothing locked\n%s", mlockErr, kb, tt.err, out)
			}
		})
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
