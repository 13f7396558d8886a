// Package sdlisten takes the listening sockets systemd passes to a service
// started by socket activation (sd_listen_fds(3)): when LISTEN_PID is this
// process, LISTEN_FDS sockets start at file descriptor 3. Passing the
// socket lets systemd keep it open across a restart, so that connections
// queue instead of being refused while the service starts again.
package sdlisten

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
)

// firstFD is SD_LISTEN_FDS_START.
const firstFD = 3

// Listeners returns the sockets passed by systemd, or none when the
// process was not socket-activated. It unsets the environment variables so
// that child processes do not take the sockets too.
func Listeners() ([]net.Listener, error) {
	pid, fds := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS")
	if pid == "" && fds == "" {
		return nil, nil
	}
	defer os.Unsetenv("LISTEN_PID")
	defer os.Unsetenv("LISTEN_FDS")
	defer os.Unsetenv("LISTEN_FDNAMES")
	if p, err := strconv.Atoi(pid); err != nil || p != os.Getpid() {
		return nil, nil // meant for another process
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 0 || n > 64 {
		return nil, fmt.Errorf("LISTEN_FDS=%q is not a socket count", fds)
	}
	var out []net.Listener
	for fd := firstFD; fd < firstFD+n; fd++ {
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "systemd-socket-"+strconv.Itoa(fd))
		ln, err := net.FileListener(f)
		f.Close() // FileListener dups it
		if err != nil {
			for _, l := range out {
				l.Close()
			}
			return nil, fmt.Errorf("socket %d passed by systemd: %w", fd, err)
		}
		out = append(out, ln)
	}
	if len(out) == 0 {
		return nil, errors.New("socket-activated with LISTEN_FDS=0: no socket to serve on")
	}
	return out, nil
}
