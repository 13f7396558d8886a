// Package harden makes the memory of a signing server harder to read from
// outside the process while it holds unlocked keys.
//
// [Process] asks the kernel for three things, each independently:
//
//   - PR_SET_DUMPABLE 0: no core dump, and no ptrace or /proc/PID/mem
//     access by other processes of the same user (root still can);
//   - RLIMIT_CORE 0: no core file even if something re-enables dumping;
//   - mlockall(MCL_CURRENT|MCL_FUTURE): no page of the process, keys
//     included, is written to swap. This needs CAP_IPC_LOCK or an
//     unlimited RLIMIT_MEMLOCK (LimitMEMLOCK=infinity in a systemd unit);
//     without them it is skipped, since a partial lock limit would make
//     later allocations fail, and the report says how to enable it.
//
// None of this protects against root, a kernel exploit, or a debugger
// attached before the keys were unlocked; see docs/custody.md.
package harden

// Report says what Process achieved: a nil error is success.
type Report struct {
	NotDumpable error // PR_SET_DUMPABLE 0
	NoCore      error // RLIMIT_CORE 0
	Mlock       error // mlockall
}
