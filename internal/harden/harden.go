// Package harden makes the memory of a signing server harder to read from
// outside the process while it holds unlocked keys.
//
// [Process] asks the kernel for three things, each independently:
//
//   - PR_SET_DUMPABLE 0: no core dump, and no ptrace or /proc/PID/mem
//     access by other processes of the same user (root still can);
//   - RLIMIT_CORE 0: no core file even if something re-enables dumping;
//   - mlockall(MCL_CURRENT|MCL_FUTURE): no page of the process, keys
//     included, is written to swap. This needs CAP_IPC_LOCK in the
//     effective set (root has it, unless a container dropped it; a service
//     may be given it with AmbientCapabilities=CAP_IPC_LOCK) or an
//     unlimited RLIMIT_MEMLOCK (LimitMEMLOCK=infinity in a systemd unit);
//     without either it is skipped — being root is not enough — since
//     under a finite lock limit MCL_FUTURE would make later allocations
//     fail, and the report says how to enable it.
//
// None of this protects against root, a kernel exploit, or a debugger
// attached before the keys were unlocked; see docs/custody.md.
package harden

import "fmt"

// Report says what Process achieved: a nil error is success.
type Report struct {
	NotDumpable error // PR_SET_DUMPABLE 0
	NoCore      error // RLIMIT_CORE 0
	Mlock       error // mlockall
}

// capIPCLock is CAP_IPC_LOCK's bit in a capability set
// (linux/capability.h): it exempts a process from RLIMIT_MEMLOCK.
const capIPCLock = 14

// mayMlockAll decides whether to call mlockall, given whether
// RLIMIT_MEMLOCK is unlimited, its soft limit, and the effective
// capability set (a bit mask, bit n for capability n): nil means call it.
// Only then can locking every future page never fail an allocation.
func mayMlockAll(unlimited bool, limit uint64, effective uint64) error {
	if unlimited || effective&(1<<capIPCLock) != 0 {
		return nil
	}
	return fmt.Errorf("not attempted: RLIMIT_MEMLOCK is %d KiB and CAP_IPC_LOCK is not in the effective capabilities; "+
		"run with LimitMEMLOCK=infinity or AmbientCapabilities=CAP_IPC_LOCK (systemd) so that keys can never be swapped", limit>>10)
}
