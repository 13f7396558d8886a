//go:build linux

package agent

import (
	"errors"
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PeerCredentials returns what the kernel says about the process at the
// other end of c: the uid, gid and pid it had when it connected
// (SO_PEERCRED) and its supplementary groups at that moment
// (SO_PEERGROUPS, Linux 4.13 and later).
func PeerCredentials(c net.Conn) (*Caller, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("peer credentials: %T is not a Unix socket", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var groups []uint32
	var credErr, groupsErr error
	err = raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		groups, groupsErr = peerGroups(int(fd))
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("peer credentials: %w", err)
	case credErr != nil:
		return nil, fmt.Errorf("peer credentials (SO_PEERCRED): %w", credErr)
	case groupsErr != nil:
		return nil, fmt.Errorf("peer groups (SO_PEERGROUPS, Linux 4.13 or later): %w", groupsErr)
	}
	if cred.Pid == 0 {
		// Peer credentials of a socket whose peer is in another PID
		// namespace or gone: nothing the kernel vouches for.
		return nil, errors.New("peer credentials: the kernel reports no peer process")
	}
	caller := &Caller{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid, Groups: groups}
	return caller, nil
}

// peerGroups reads SO_PEERGROUPS: the peer's supplementary group ids.
// x/sys/unix has no wrapper for it, and GetsockoptString would cut the
// binary answer at the first zero byte.
func peerGroups(fd int) ([]uint32, error) {
	n := 64
	for {
		buf := make([]uint32, n)
		size := uint32(n * 4)
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		switch {
		case errno == unix.ERANGE && int(size/4) > n && n < 1<<16:
			n = int(size / 4) // the kernel said how many there are
		case errno != 0:
			return nil, errno
		default:
			return buf[:size/4], nil
		}
	}
}
