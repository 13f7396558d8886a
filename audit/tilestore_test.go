package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

func TestTilePaths(t *testing.T) {
	for _, tt := range []struct {
		t    TileRef
		path string
	}{
		{TileRef{Level: 0, N: 0, Width: 256}, "tile/0/000"},
		{TileRef{Level: 1, N: 1234067, Width: 256}, "tile/1/x001/x234/067"},
		{TileRef{Level: 2, N: 1000, Width: 17}, "tile/2/x001/000.p/17"},
		{TileRef{N: 5, Width: 256, Entries: true}, "tile/entries/005"},
		{TileRef{N: 999, Width: 1, Entries: true}, "tile/entries/999.p/1"},
	} {
		if got := tt.t.Path(); got != tt.path {
			t.Errorf("%+v: path %q, want %q", tt.t, got, tt.path)
		}
		back, err := ParseTilePath(tt.path)
		if err != nil || back != tt.t {
			t.Errorf("ParseTilePath(%q) = %+v, %v", tt.path, back, err)
		}
	}
	for _, bad := range []string{
		"tile/0/1", "tile/0/0001", "tile/0/001/002", "tile/0/x000/002", "tile/0/x001", "tile/09/000", "tile/9/000",
		"tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/07", "tile/entries/000.p/", "tile/data/000", "tile/0/-01",
		"tile/0/x001/x002/x003/x004/x005/x006/007", "checkpoint", "tile/0/000/",
	} {
		if _, err := ParseTilePath(bad); err == nil {
			t.Errorf("ParseTilePath(%q) accepted", bad)
		}
	}
}

// tileLog opens a log over a fresh tile store in dir.
func tileLog(t *testing.T, dir string, k logKey) (*TileStore, *Log) {
	t.Helper()
	s, err := OpenTiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, openLog(t, s, k.signer)
}

// appendN appends entries [first, first+n) in batches of up to 7.
func appendN(t *testing.T, l *Log, first, n int) []Receipt {
	t.Helper()
	var out []Receipt
	for i := first; i < first+n; {
		var batch []Entry
		for j := 0; j < 1+i%7 && i < first+n; j++ {
			batch = append(batch, testEntry(i))
			i++
		}
		rs, err := l.Append(context.Background(), batch...)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rs...)
	}
	return out
}

func verifyTiles(t *testing.T, dir, vkey string) *Report {
	t.Helper()
	s, err := OpenTilesReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := Verify(context.Background(), s, vkey)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTileTamper edits, deletes and reorders the files of a tile log as
// someone with access to the disk could, and checks that Verify names
// the first bad entry and the file.
func TestTileTamper(t *testing.T) {
	other := newLogKey(t)
	const n = 600
	for _, tt := range []struct {
		name     string
		tamper   func(t *testing.T, dir string)
		firstBad int64 // -2: any
		msg      string
	}{
		{"entry edited in its bundle", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, "tile/entries/000"), func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"app-12.tar.gz"`), []byte(`"app-99.tar.gz"`), 1)
			})
		}, 12, "entry 12: its bytes do not match the leaf hash stored when it was appended (edited, swapped or replaced) (in tile/entries/000 or tile/0/000)"},
		{"bundle deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "tile/entries/001"))
		}, -2, "tile/entries/001"},
		{"bundles reordered", func(t *testing.T, dir string) {
			a, b := filepath.Join(dir, "tile/entries/000"), filepath.Join(dir, "tile/entries/001")
			os.Rename(a, a+".x")
			os.Rename(b, a)
			os.Rename(a+".x", b)
		}, 0, "entry 0: its bytes do not match"},
		{"leaf hash edited", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, "tile/0/000"), func(b []byte) []byte { b[30*32+5] ^= 1; return b })
		}, 30, "entry 30: its bytes do not match the leaf hash stored when it was appended (edited, swapped or replaced) (in tile/entries/000 or tile/0/000)"},
		{"hash tile deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "tile/0/001"))
		}, -2, "tile/0/001"},
		{"commit record edited", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, "commits"), func(b []byte) []byte { b[50] ^= 1; return b })
		}, -2, "the journal was edited"},
		{"commit records reordered", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, "commits"), func(b []byte) []byte {
				_, n1, _ := decodeCommitRecord(b)
				_, n2, _ := decodeCommitRecord(b[n1:])
				out := append([]byte{}, b[n1:n1+n2]...)
				out = append(out, b[:n1]...)
				return append(out, b[n1+n2:]...)
			})
		}, -2, "reordered or edited"},
		{"checkpoint forged", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "checkpoint"))
			c, _ := ParseUnverified(string(b))
			c.Root[0] ^= 1
			ns, _ := NewNoteSigner(origin, other.priv)
			forged, _ := SignCheckpoint(c, ns)
			os.WriteFile(filepath.Join(dir, "checkpoint"), []byte(forged), 0o600)
		}, -2, "not signed by log key"},
		{"newest commits cut", func(t *testing.T, dir string) {
			// The journal loses its last half: the log opens shorter, but
			// the checkpoint a static server served says more.
			editFile(t, filepath.Join(dir, "commits"), func(b []byte) []byte {
				off := 0
				for off < len(b)/2 {
					_, k, _ := decodeCommitRecord(b[off:])
					off += k
				}
				return b[:off]
			})
		}, -2, "log truncated"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := newLogKey(t)
			dir := filepath.Join(t.TempDir(), "log")
			s, l := tileLog(t, dir, k)
			appendN(t, l, 0, n)
			l.Close()
			s.Close()
			if r := verifyTiles(t, dir, k.vkey); !r.OK() || r.Size != n {
				t.Fatalf("before tampering: %+v", r)
			}
			tt.tamper(t, dir)
			r := verifyTiles(t, dir, k.vkey)
			all := strings.Join(r.Problems, "\n")
			if r.OK() || tt.firstBad != -2 && r.FirstBad != tt.firstBad || !strings.Contains(all, tt.msg) {
				t.Fatalf("got first bad %d, problems:\n%s\nwant first bad %d and %q", r.FirstBad, all, tt.firstBad, tt.msg)
			}
		})
	}
}

func editFile(t *testing.T, p string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, edit(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestTileDamagedJournalRefused checks that a writer does not open a log
// whose journal was edited in the middle (cutting there would destroy
// acknowledged entries), nor one whose journal lost records.
func TestTileDamagedJournalRefused(t *testing.T) {
	for _, tt := range []struct {
		name   string
		n      int
		tamper func(b []byte) []byte
		msg    string
	}{
		{"record edited", 100, func(b []byte) []byte { b[50] ^= 1; return b }, "the journal was edited"},
		{"records lost", 70000, func(b []byte) []byte {
			_, n1, _ := decodeCommitRecord(b)
			return b[:n1]
		}, "the commit journal was cut or edited"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := newLogKey(t)
			dir := filepath.Join(t.TempDir(), "log")
			s, l := tileLog(t, dir, k)
			if tt.n < 4096 {
				appendN(t, l, 0, tt.n) // many commits
			}
			for i := 0; i < tt.n && tt.n >= 4096; i += 4096 {
				batch := make([]Entry, min(4096, tt.n-i))
				for j := range batch {
					batch[j] = testEntry(i + j)
				}
				if _, err := l.Append(context.Background(), batch...); err != nil {
					t.Fatal(err)
				}
			}
			l.Close()
			s.Close()
			editFile(t, filepath.Join(dir, "commits"), tt.tamper)
			if s, err := OpenTiles(dir); err == nil || !strings.Contains(err.Error(), tt.msg) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("OpenTiles on a damaged log: %v, want %q", err, tt.msg)
			}
		})
	}
}

// TestTileTornTail leaves the files as a crash in the middle of a commit
// could, and checks that opening the log cuts back to the last commit and
// appends from there.
func TestTileTornTail(t *testing.T) {
	for _, tt := range []struct {
		name string
		tear func(t *testing.T, dir string, before map[string]int64)
	}{
		{"journal record cut short", func(t *testing.T, dir string, before map[string]int64) {
			p := filepath.Join(dir, "commits")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:before["commits"]+20], 0o600)
		}},
		{"record whole, entries not", func(t *testing.T, dir string, before map[string]int64) {
			p := filepath.Join(dir, "tile/entries/001")
			os.Truncate(p, before["tile/entries/001"]+3)
		}},
		{"record whole, hashes not", func(t *testing.T, dir string, before map[string]int64) {
			os.Truncate(filepath.Join(dir, "tile/0/001"), before["tile/0/001"])
		}},
		{"nothing but garbage appended", func(t *testing.T, dir string, before map[string]int64) {
			for _, f := range []string{"commits", "tile/entries/001", "tile/0/001"} {
				p := filepath.Join(dir, f)
				os.Truncate(p, before[f])
				g, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
				g.Write(bytes.Repeat([]byte{0}, 300))
				g.Close()
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := newLogKey(t)
			dir := filepath.Join(t.TempDir(), "log")
			s, l := tileLog(t, dir, k)
			appendN(t, l, 0, 300)
			l.Close()
			before := map[string]int64{}
			for _, f := range []string{"commits", "tile/entries/001", "tile/0/001"} {
				st, err := os.Stat(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				before[f] = st.Size()
			}
			l = openLog(t, s, k.signer)
			if _, err := l.Append(context.Background(), testEntry(300), testEntry(301)); err != nil {
				t.Fatal(err)
			}
			l.Close()
			s.Close()
			tt.tear(t, dir, before)
			s, l = tileLog(t, dir, k)
			if _, size, _ := s.Head(context.Background()); size != 300 {
				t.Fatalf("reopened at %d entries, want 300 (the commit cut short dropped)", size)
			}
			appendN(t, l, 400, 20)
			l.Close()
			s.Close()
			if r := verifyTiles(t, dir, k.vkey); !r.OK() || r.Size != 320 {
				t.Fatalf("after the torn tail: %+v", r)
			}
		})
	}
}

// TestTileMigrate migrates a SQLite log and checks that the tile log has
// the same tree: old receipts, checkpoints and proofs verify against it,
// searches find the same, and it goes on from there.
func TestTileMigrate(t *testing.T) {
	ctx := context.Background()
	k := newLogKey(t)
	dir := t.TempDir()
	old, err := OpenSQLite(filepath.Join(dir, "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	l, err := Open(ctx, Options{Store: old, Origin: origin, Key: k.signer, CheckpointEvery: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	receipts := appendN(t, l, 0, 700)
	l.Close()
	oldHead, oldSize, _ := old.Head(ctx)
	oldCps, _ := old.Checkpoints(ctx, -1, 1000)
	if len(oldCps) < 10 {
		t.Fatalf("only %d checkpoints kept", len(oldCps))
	}

	if o, err := DefaultOrigin(ctx, old); err != nil || o != origin { // kept in the old store
		t.Fatalf("origin of the old log: %q %v", o, err)
	}
	switched := false
	rep, err := Migrate(ctx, old, filepath.Join(dir, "tiles"), func(*MigrateReport) error { switched = true; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !switched || rep.Entries != 700 || rep.Checkpoints != len(oldCps) {
		t.Fatalf("report %+v (switched %v), %d checkpoints", rep, switched, len(oldCps))
	}
	s, err := OpenTiles(filepath.Join(dir, "tiles"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if o, err := DefaultOrigin(ctx, s); err != nil || o != origin {
		t.Errorf("origin after migrating: %q %v", o, err)
	}
	head, size, _ := s.Head(ctx)
	if head != oldHead || size != oldSize {
		t.Fatalf("head %d %q, want %d %q", size, head, oldSize, oldHead)
	}
	cps, _ := s.Checkpoints(ctx, -1, 1000)
	if fmt.Sprint(cps) != fmt.Sprint(oldCps) {
		t.Errorf("checkpoints differ after migration")
	}
	// A receipt issued by the old log is proven again, identically, by
	// the new one at its checkpoint's size.
	for _, i := range []int{0, 255, 256, 513, 699} {
		r := receipts[i]
		c, _ := ParseUnverified(r.Checkpoint)
		p, err := InclusionProof(ctx, s, r.Index, c.Size)
		if err != nil || fmt.Sprint(p) != fmt.Sprint(r.Proof) {
			t.Errorf("entry %d: proof from the tile log differs: %v", r.Index, err)
		}
	}
	if r, err := Verify(ctx, s, k.vkey); err != nil || !r.OK() || r.Size != 700 {
		t.Fatalf("verify the migrated log: %+v %v", r, err)
	}
	ms, _, err := Search(ctx, s, Query{Principal: "builder-1", After: -1}, size)
	if err != nil || len(ms) != 233 {
		t.Errorf("search after migration: %d matches, %v", len(ms), err)
	}
	l2 := openLog(t, s, k.signer)
	appendN(t, l2, 700, 10)
	l2.Close()
	if r, err := Verify(ctx, s, k.vkey); err != nil || !r.OK() || r.Size != 710 {
		t.Fatalf("verify after appending: %+v %v", r, err)
	}

	// A log whose tree does not match its checkpoints is not switched.
	if _, err := old.w.Exec("UPDATE entries SET data = ? WHERE idx = 3", []byte(`{"forged":true}`)); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "tiles2")
	if _, err := Migrate(ctx, old, bad, func(*MigrateReport) error { t.Error("switched a bad log"); return nil }); err == nil {
		t.Fatal("migrated a log that does not match its checkpoints")
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("a failed migration left its directory")
	}
}

// TestTileDiskFull fills the file system under a tile log: appends fail
// and the log reports unready, nothing acknowledged is lost, and it
// recovers by itself when space returns.
func TestTileDiskFull(t *testing.T) {
	dir := smallDisk(t)
	k := newLogKey(t)
	s, err := OpenTiles(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := openLog(t, s, k.signer)
	acked := map[int64][]byte{}
	for _, r := range appendN(t, l, 0, 20) {
		acked[r.Index] = r.Entry
	}
	filler := filepath.Join(dir, "filler")
	f, _ := os.Create(filler)
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	var failed error
	for i := 20; i < 2000 && failed == nil; i++ {
		big := testEntry(i)
		big.Reason = strings.Repeat("x", 4000)
		rs, err := l.Append(context.Background(), big)
		if err != nil {
			failed = err
			continue
		}
		acked[rs[0].Index] = rs[0].Entry
	}
	if failed == nil || !strings.Contains(failed.Error(), "audit log unwritable") {
		t.Fatalf("appending to a full disk: %v", failed)
	}
	if err := l.Ready(); err == nil {
		t.Fatal("Ready with a full disk")
	}
	os.Remove(filler)
	deadline := time.Now().Add(30 * time.Second)
	for l.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready 30 s after space returned: %v", l.Ready())
		}
		time.Sleep(10 * time.Millisecond)
	}
	rs, err := l.Append(context.Background(), testEntry(5000))
	if err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	acked[rs[0].Index] = rs[0].Entry
	l.Close()
	s.Close()
	r := verifyTiles(t, filepath.Join(dir, "log"), k.vkey)
	if !r.OK() || r.Size != int64(len(acked)) {
		t.Fatalf("after recovery: verify %+v; %d acknowledged", r, len(acked))
	}
	checkAcked(t, filepath.Join(dir, "log"), acked)
}

// checkAcked checks that every acknowledged entry is in the log, as it was.
func checkAcked(t *testing.T, dir string, acked map[int64][]byte) {
	t.Helper()
	s, err := OpenTilesReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, size, _ := s.Head(context.Background())
	data, err := s.Entries(context.Background(), 0, size)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range acked {
		if i >= size || !bytes.Equal(data[i], b) {
			t.Errorf("acknowledged entry %d lost or changed (log of %d)", i, size)
		}
	}
}

// crashEnv names the directory a crash child appends to (see TestMain).
const crashEnv = "SIGNET_AUDIT_CRASH_CHILD"

// crashChild appends to the tile log in dir from 16 goroutines and prints
// each entry acknowledged, until it is killed.
func crashChild(dir string) {
	seed, _ := strconv.ParseUint(os.Getenv(crashEnv+"_SEED"), 10, 64)
	k := logKey{priv: crashKey(seed)}
	s, err := OpenTiles(dir)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	l, err := Open(context.Background(), Options{Store: s, Origin: origin, Key: k.signer})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	out := bufio.NewWriter(os.Stdout)
	acks := make(chan Receipt, 1024)
	for g := range 16 {
		go func() {
			for i := g; ; i += 16 {
				e := testEntry(i)
				e.Reason = strings.Repeat("r", i%700) // bundles and commits of many sizes
				rs, err := l.Append(context.Background(), e)
				if err != nil {
					fmt.Println("ERR", err)
					os.Exit(1)
				}
				acks <- rs[0]
			}
		}()
	}
	for r := range acks {
		fmt.Fprintf(out, "ACK %d %x\n", r.Index, r.Entry)
		out.Flush()
	}
}

// crashKey derives the crash test's log key from a seed, so that parent
// and child share it without passing a private key around.
func crashKey(seed uint64) ed25519.PrivateKey {
	var b [32]byte
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return ed25519.NewKeyFromSeed(b[:])
}

// TestTileCrash kills a process appending to a tile log (SIGKILL) at
// random points of its commits, several times over, and checks that the
// log reopens, that every entry it acknowledged is there as it was, and
// that the log verifies.
func TestTileCrash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	seed := uint64(time.Now().UnixNano())
	priv := crashKey(seed)
	vkey, err := VerifierKey(origin, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	k := logKey{priv, vkey}
	acked := map[int64][]byte{}
	for round := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, crashEnv+"_SEED="+strconv.FormatUint(seed, 10))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		want := 100 + rand.IntN(400)
		got := 0
		deadline := time.Now().Add(60 * time.Second)
		for got < want && time.Now().Before(deadline) && sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "ACK" {
				i, _ := strconv.ParseInt(f[1], 10, 64)
				var b []byte
				fmt.Sscanf(f[2], "%x", &b)
				acked[i] = b
				got++
			} else {
				t.Fatalf("child: %s", sc.Text())
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		// Acknowledgements already printed when it died count too.
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "ACK" {
				i, _ := strconv.ParseInt(f[1], 10, 64)
				var b []byte
				fmt.Sscanf(f[2], "%x", &b)
				acked[i] = b
			}
		}
		cmd.Wait()
		if got < want {
			t.Fatalf("round %d: the child acknowledged %d entries, want %d", round, got, want)
		}
		checkAcked(t, dir, acked)
	}
	s, err := OpenTiles(dir) // a writer's open cuts the torn tail
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	r := verifyTiles(t, dir, k.vkey)
	if !r.OK() || r.Size < int64(len(acked)) {
		t.Fatalf("after the crashes: %+v; %d acknowledged", r, len(acked))
	}
	checkAcked(t, dir, acked)
}

// TestVerifyIncremental checks that a verification starts from the
// checkpoint the last one passed, finds what was tampered with since, and
// refuses a remembered checkpoint that was forged.
func TestVerifyIncremental(t *testing.T) {
	ctx := context.Background()
	k := newLogKey(t)
	dir := filepath.Join(t.TempDir(), "log")
	s, l := tileLog(t, dir, k)
	appendN(t, l, 0, 300)
	r, from, err := VerifyIncremental(ctx, s, k.vkey)
	if err != nil || !r.OK() || from != 0 || r.Size != 300 {
		t.Fatalf("first run: from %d, %+v %v", from, r, err)
	}
	appendN(t, l, 300, 200)
	r, from, err = VerifyIncremental(ctx, s, k.vkey)
	if err != nil || !r.OK() || from != 300 || r.Size != 500 {
		t.Fatalf("second run: from %d, %+v %v", from, r, err)
	}
	appendN(t, l, 500, 100)
	l.Close()
	// An entry appended since the last run, edited in its bundle.
	editFile(t, filepath.Join(dir, "tile/entries/002"), func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"app-550.tar.gz"`), []byte(`"app-999.tar.gz"`), 1)
	})
	s.cmu.Lock()
	clear(s.cache)
	s.cmu.Unlock()
	r, from, err = VerifyIncremental(ctx, s, k.vkey)
	if err != nil || r.OK() || from != 500 || r.FirstBad != 550 {
		t.Fatalf("after tampering: from %d, %+v %v", from, r, err)
	}
	// The remembered checkpoint is checked, not trusted.
	other := newLogKey(t)
	ns, _ := NewNoteSigner(origin, other.priv)
	forged, _ := SignCheckpoint(Checkpoint{Origin: origin, Size: 590}, ns)
	if err := s.SetVerified(forged); err != nil {
		t.Fatal(err)
	}
	r, from, err = VerifyIncremental(ctx, s, k.vkey)
	if err != nil || r.OK() || from != 0 || !strings.Contains(strings.Join(r.Problems, "\n"), "remembered as verified is not the log's") {
		t.Fatalf("a forged remembered checkpoint: from %d, %+v %v", from, r, err)
	}
}

// storeTiles is a tlog.TileReader over ReadTile, for TestReadTile.
type storeTiles struct {
	s    Store
	size int64
}

func (r storeTiles) Height() int { return TileHeight }
func (r storeTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := ReadTile(context.Background(), r.s, TileRef{Level: t.L, N: t.N, Width: t.W}, r.size)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
func (storeTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// TestReadTile checks that every store serves C2SP tiles (a fleet on
// PostgreSQL the same as a tile log): tlog.TileHashReader, which checks
// each tile against the signed root, proves entries read from the entry
// bundles; tiles beyond the tree are not found.
func TestReadTile(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			k := newLogKey(t)
			s, _ := b.open(t)
			l := openLog(t, s, k.signer)
			appendN(t, l, 0, 600)
			l.Close()
			signed, size, _ := s.Head(ctx)
			c, err := OpenCheckpoint(signed, k.vkey)
			if err != nil || c.Size != size {
				t.Fatalf("head: %v", err)
			}
			tree := tlog.Tree{N: c.Size, Hash: c.Root}
			hr := tlog.TileHashReader(tree, storeTiles{s, size})
			for _, i := range []int64{0, 255, 256, 599} {
				bundle, err := ReadTile(ctx, s, TileRef{N: i / 256, Width: int(min(256, size-i/256*256)), Entries: true}, size)
				if err != nil {
					t.Fatal(err)
				}
				es, err := ParseBundle(bundle)
				if err != nil {
					t.Fatal(err)
				}
				p, err := tlog.ProveRecord(size, i, hr)
				if err != nil {
					t.Fatal(err)
				}
				if err := tlog.CheckRecord(p, size, c.Root, i, tlog.RecordHash(es[i%256])); err != nil {
					t.Errorf("entry %d from its bundle: %v", i, err)
				}
			}
			for _, tr := range []TileRef{{Level: 0, N: 2, Width: 89}, {Level: 0, N: 3, Width: 1}, {Level: 1, N: 0, Width: 3}, {N: 2, Width: 100, Entries: true}} {
				if _, err := ReadTile(ctx, s, tr, size); !errors.Is(err, ErrNotFound) {
					t.Errorf("%s of a log of %d: %v, want not found", tr.Path(), size, err)
				}
			}
		})
	}
}
