package sdlisten

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets the test binary play the socket-activated service: with
// SDLISTEN_CHILD set it takes the passed sockets and answers one
// connection on each.
func TestMain(m *testing.M) {
	if os.Getenv("SDLISTEN_CHILD") == "" {
		os.Exit(m.Run())
	}
	os.Setenv("LISTEN_PID", fmt.Sprint(os.Getpid())) // systemd sets it for the exec'd process
	lns, err := Listeners()
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	if os.Getenv("LISTEN_FDS") != "" {
		fmt.Println("error: LISTEN_FDS still set")
		os.Exit(1)
	}
	for _, ln := range lns {
		c, err := ln.Accept()
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Fprintf(c, "hello from %s\n", ln.Addr())
		c.Close()
	}
	fmt.Println("served", len(lns))
	os.Exit(0)
}

func TestPassedSockets(t *testing.T) {
	var files []*os.File
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		files = append(files, f)
		addrs = append(addrs, ln.Addr().String())
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SDLISTEN_CHILD=1", "LISTEN_FDS=2", "LISTEN_PID=0")
	cmd.ExtraFiles = files // fds 3 and 4
	out := &strings.Builder{}
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		c, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		n, _ := c.Read(buf)
		c.Close()
		if !strings.HasPrefix(string(buf[:n]), "hello from ") {
			t.Errorf("%s answered %q", a, buf[:n])
		}
	}
	if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "served 2") {
		t.Fatalf("child: %v: %s", err, out)
	}
}

func TestNotActivated(t *testing.T) {
	t.Setenv("LISTEN_PID", "")
	t.Setenv("LISTEN_FDS", "")
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	if lns, err := Listeners(); lns != nil || err != nil {
		t.Fatalf("without LISTEN_* got %v, %v", lns, err)
	}
	t.Setenv("LISTEN_PID", "1")
	t.Setenv("LISTEN_FDS", "1")
	if lns, err := Listeners(); lns != nil || err != nil {
		t.Fatalf("for another process got %v, %v", lns, err)
	}
	t.Setenv("LISTEN_PID", fmt.Sprint(os.Getpid()))
	t.Setenv("LISTEN_FDS", "lots")
	if _, err := Listeners(); err == nil || !strings.Contains(err.Error(), "not a socket count") {
		t.Fatalf("bad LISTEN_FDS: %v", err)
	}
}
