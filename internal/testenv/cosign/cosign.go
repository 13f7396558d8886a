// Package cosign gives tests the real cosign command, built from source
// with `go install` at a pinned version into a cache directory outside the
// repository (never committed), once per machine: the first test run
// builds it (a few minutes on two cores), later runs find it there.
//
// The cache is $SIGNET_TEST_CACHE, or the user cache directory's
// signet-test, and the binary lives at cosign-VERSION/cosign in it. A
// build that fails fails the test, with the output of go install: it is
// never skipped. Concurrent test processes take a file lock, so only one
// builds.
package cosign

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Version is the cosign release the tests run: the newest v2 that builds
// with this repository's Go (1.26).
const Version = "v2.6.5"

// Module is the package go install builds.
const Module = "github.com/sigstore/cosign/v2/cmd/cosign"

// buildTimeout bounds the one build; go install of cosign downloads about
// 400 modules and compiles them.
const buildTimeout = 20 * time.Minute

// CacheDir returns the directory test tools are cached in.
func CacheDir() (string, error) {
	if d := os.Getenv("SIGNET_TEST_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for test tools (set SIGNET_TEST_CACHE): %w", err)
	}
	return filepath.Join(d, "signet-test"), nil
}

// Binary returns the path of the cosign command, building it first if it
// is not in the cache yet.
func Binary(tb testing.TB) string {
	tb.Helper()
	bin, err := Build()
	if err != nil {
		tb.Fatal(err)
	}
	return bin
}

// Build is Binary for callers without a testing.TB.
func Build() (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "cosign-"+Version)
	bin := filepath.Join(dir, "cosign")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", Module+"@"+Version)
	// Outside any module, so this repository's go.mod plays no part.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=-mod=mod")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building cosign (go install %s@%s) failed after %s; the cosign tests need it: %w\n%s",
			Module, Version, time.Since(start).Round(time.Second), err, tail(out))
	}
	return bin, nil
}

func tail(b []byte) string {
	lines := strings.Split(string(bytes.TrimSpace(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// Run runs cosign with args and env (added to the environment) and
// returns its combined output, failing the test if it fails.
func Run(tb testing.TB, bin string, env []string, args ...string) string {
	tb.Helper()
	out, err := Try(bin, env, args...)
	if err != nil {
		tb.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Try runs cosign like Run and returns its error instead of failing.
func Try(bin string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// OptInVar is the environment variable that turns the cosign tests on.
const OptInVar = "SIGNET_TEST_COSIGN"

// OptIn returns the cosign binary when the cosign stage is on
// (SIGNET_TEST_COSIGN=1), building it if needed, and skips the test,
// saying how to run it, when it is off. The stage is opt-in because the
// first build of cosign takes longer than the test budget; the same
// signatures are checked with sigstore's Go verification code in the
// default run.
func OptIn(tb testing.TB) string {
	tb.Helper()
	switch os.Getenv(OptInVar) {
	case "1":
		return Binary(tb)
	case "", "0":
		tb.Skipf("the real-cosign stage is opt-in: run with %s=1 (builds cosign %s once into the test cache)", OptInVar, Version)
	default:
		tb.Fatalf("%s=%q: want 1 (run the real-cosign tests) or 0", OptInVar, os.Getenv(OptInVar))
	}
	return ""
}
