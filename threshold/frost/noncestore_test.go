package frost

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func openStore(t *testing.T, path string) *FileNonceStore {
	t.Helper()
	s, err := OpenFileNonceStore(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFileNonceStoreConsume checks single use within one process and
// across a clean reopen.
func TestFileNonceStoreConsume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nonces")
	s := openStore(t, path)
	a, b := NonceID{1}, NonceID{2}
	if err := s.Consume(a); err != nil {
		t.Fatal(err)
	}
	if err := s.Consume(a); !errors.Is(err, ErrNonceUsed) {
		t.Fatalf("second Consume: got %v, want ErrNonceUsed", err)
	}
	if err := s.Consume(b); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileNonceStore(path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second open of a locked log: got %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Consume(NonceID{3}); err == nil {
		t.Fatal("Consume on a closed store succeeded")
	}
	s = openStore(t, path)
	defer s.Close()
	for _, id := range []NonceID{a, b} {
		if err := s.Consume(id); !errors.Is(err, ErrNonceUsed) {
			t.Fatalf("after reopen, Consume(%x): got %v, want ErrNonceUsed", id, err)
		}
	}
}

// TestFileNonceStoreTornWrite simulates a crash in the middle of an append
// (a final line without its newline, as a power cut can leave): the reopen
// keeps every completed record, drops the torn one, and appends after it.
func TestFileNonceStoreTornWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nonces")
	s := openStore(t, path)
	a := NonceID{0xaa}
	if err := s.Consume(a); err != nil {
		t.Fatal(err)
	}
	s.f.Close() // the process dies: no orderly Close
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(bytes.Clone(good), "consumed bbbb"...), 0o600); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, path)
	if err := s.Consume(a); !errors.Is(err, ErrNonceUsed) {
		t.Fatalf("after a crash, Consume of a recorded nonce: got %v", err)
	}
	b := NonceID{0xbb}
	if err := s.Consume(b); err != nil {
		t.Fatal(err)
	}
	s.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := string(good) + "consumed bb000000000000000000000000000000\n"; string(data) != want {
		t.Fatalf("log after recovery:\n%q\nwant\n%q", data, want)
	}
}

// TestFileNonceStoreRefusesDamage checks that a log damaged other than by a
// torn final line is refused rather than read as "nothing consumed".
func TestFileNonceStoreRefusesDamage(t *testing.T) {
	rec := "consumed 0102030405060708090a0b0c0d0e0f10\n"
	for name, content := range map[string]string{
		"bad header":     "signet frost nonce log v2\n" + rec,
		"garbage line":   nonceLogHeader + "hello\n" + rec,
		"bad hex":        nonceLogHeader + "consumed 0102030405060708090a0b0c0d0e0fzz\n",
		"upper-case hex": nonceLogHeader + "consumed 0102030405060708090A0B0C0D0E0F10\n",
		"another file":   "#!/bin/sh\n",
	} {
		path := filepath.Join(t.TempDir(), "nonces")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := OpenFileNonceStore(path); err == nil {
			s.Close()
			t.Errorf("%s: OpenFileNonceStore accepted a damaged log", name)
		}
	}
}

const crashEnv = "SIGNET_FROST_CRASH_CHILD"

// crashAfterConsume records the nonce, then kills the process before the
// share can be computed or answered: the worst moment for a crash.
type crashAfterConsume struct{ inner NonceStore }

func (c crashAfterConsume) Consume(id NonceID) error {
	if err := c.inner.Consume(id); err != nil {
		return err
	}
	os.Exit(3)
	return nil
}

// TestNonceSurvivesCrash runs a signer in a child process that dies right
// after the nonce was recorded, then re-creates the very same nonces in
// this process (the same randomness, as a restart that had persisted them
// would) and checks that the reopened store refuses to sign with them,
// while fresh nonces still sign.
func TestNonceSurvivesCrash(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(t, dir)
		return
	}
	dir := t.TempDir()
	shares, _ := deal(t, 2, 3)
	randomness := make([]byte, 32+32+16)
	rand.Read(randomness)
	peer, err := shares[1].Commit(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"share": shares[0].Bytes(), "rand": randomness, "peer": peer.Commitment.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNonceSurvivesCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("child did not crash after recording the nonce (err %v):\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "share-released")); err == nil {
		t.Fatal("child released a share")
	}

	store := openStore(t, filepath.Join(dir, "nonces"))
	defer store.Close()
	n, err := shares[0].Commit(bytes.NewReader(randomness))
	if err != nil {
		t.Fatal(err)
	}
	comms := []SigningCommitment{n.Commitment, peer.Commitment}
	if _, err := shares[0].Sign(store, n, []byte("after the crash"), comms); !errors.Is(err, ErrNonceUsed) {
		t.Fatalf("Sign with the crashed session's nonce: got %v, want ErrNonceUsed", err)
	}
	fresh, err := shares[0].Commit(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shares[0].Sign(store, fresh, []byte("after the crash"), []SigningCommitment{fresh.Commitment, peer.Commitment}); err != nil {
		t.Fatalf("fresh nonces after the crash: %v", err)
	}
}

func crashChild(t *testing.T, dir string) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	k, err := ParseKeyShare(read("share"))
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ParseSigningCommitment(read("peer"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := k.Commit(bytes.NewReader(read("rand")))
	if err != nil {
		t.Fatal(err)
	}
	store, err := OpenFileNonceStore(filepath.Join(dir, "nonces"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Sign(crashAfterConsume{store}, n, []byte("before the crash"), []SigningCommitment{n.Commitment, peer}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "share-released"), nil, 0o600)
}
