package harden

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Process hardens the running process; see the package documentation.
func Process() Report {
	var r Report
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		r.NotDumpable = fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	// A service manager may have set it already (LimitCORE=0) and forbid
	// setrlimit: then there is nothing to do.
	var core unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &core); err != nil || core.Cur != 0 || core.Max != 0 {
		if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
			r.NoCore = fmt.Errorf("setrlimit(RLIMIT_CORE, 0): %w", err)
		}
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		r.Mlock = fmt.Errorf("getrlimit(RLIMIT_MEMLOCK): %w", err)
	} else if lim.Cur != unix.RLIM_INFINITY && unix.Geteuid() != 0 {
		r.Mlock = fmt.Errorf("not attempted: RLIMIT_MEMLOCK is %d KiB; run with LimitMEMLOCK=infinity (systemd) or CAP_IPC_LOCK so that keys can never be swapped", lim.Cur>>10)
	} else if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE); err != nil {
		r.Mlock = fmt.Errorf("mlockall: %w", err)
	}
	return r
}

// Dumpable reports whether the process may dump core, for tests.
func Dumpable() (bool, error) {
	v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	return v != 0, err
}
