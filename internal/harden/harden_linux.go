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
	} else if caps, err := effectiveCaps(); err != nil {
		r.Mlock = err
	} else if err := mayMlockAll(lim.Cur == unix.RLIM_INFINITY, lim.Cur, caps); err != nil {
		r.Mlock = err
	} else if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE); err != nil {
		r.Mlock = fmt.Errorf("mlockall: %w", err)
	}
	return r
}

// effectiveCaps returns the effective capability set of the calling
// thread (the same for every thread of a Go process: nothing here changes
// it per thread).
func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("capget: %w", err)
	}
	return uint64(data[1].Effective)<<32 | uint64(data[0].Effective), nil
}

// Dumpable reports whether the process may dump core, for tests.
func Dumpable() (bool, error) {
	v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	return v != 0, err
}
