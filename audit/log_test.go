package audit

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/signet-dev/signet/internal/pgtest"
)

const origin = "test.example/audit"

type logKey struct {
	priv ed25519.PrivateKey
	vkey string
}

func newLogKey(t testing.TB) logKey {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	vkey, err := VerifierKey(origin, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return logKey{priv, vkey}
}

func (k logKey) signer() (crypto.Signer, error) { return k.priv, nil }

// A backend opens fresh stores of one kind, and raw SQL access to them for
// tampering.
type backend struct {
	name string
	open func(t testing.TB) (Store, *sql.DB)
	// reopen opens the same store again, as a restarted server would.
	reopen func(t testing.TB, s Store) Store
	ph     string
}

// The package's tests share one PostgreSQL server, started on first use
// and stopped by TestMain; each test gets its own database.
var pgOnce struct {
	sync.Once
	srv *pgtest.Server
	err error
}

func backends(_ testing.TB) []backend {
	sqlite := backend{name: "sqlite", ph: "?"}
	paths := map[Store]string{}
	sqlite.open = func(t testing.TB) (Store, *sql.DB) {
		p := filepath.Join(t.TempDir(), "audit.db")
		s, err := OpenSQLite(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		paths[s] = p
		return s, s.w
	}
	sqlite.reopen = func(t testing.TB, s Store) Store {
		s2, err := OpenSQLite(paths[s])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s2.Close() })
		return s2
	}
	pg := backend{name: "postgres", ph: "$"}
	dsns := map[Store]string{}
	pg.open = func(t testing.TB) (Store, *sql.DB) {
		dsn := postgres(t).NewDatabase(t)
		s, err := OpenPostgres(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		dsns[s] = dsn
		return s, s.w
	}
	pg.reopen = func(t testing.TB, s Store) Store {
		s2, err := OpenPostgres(context.Background(), dsns[s])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s2.Close() })
		return s2
	}
	tiles := backend{name: "tiles", ph: "?"}
	dirs := map[Store]string{}
	tiles.open = func(t testing.TB) (Store, *sql.DB) {
		d := filepath.Join(t.TempDir(), "log")
		s, err := OpenTiles(d)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		dirs[s] = d
		return s, s.ix.w
	}
	tiles.reopen = func(t testing.TB, s Store) Store {
		s.Close() // one writer at a time holds a tile log
		s2, err := OpenTiles(dirs[s])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s2.Close() })
		return s2
	}
	return []backend{sqlite, pg, tiles}
}

// sqlOf returns the SQL database behind s that searches read: s itself,
// or the index of a tile log brought up to date.
func sqlOf(t testing.TB, s Store) *SQLStore {
	switch s := s.(type) {
	case *SQLStore:
		return s
	case *TileStore:
		if err := s.upToDate(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s.ix
	}
	t.Fatalf("no SQL behind %T", s)
	return nil
}

func postgres(t testing.TB) *pgtest.Server {
	pgOnce.Do(func() { pgOnce.srv, pgOnce.err = pgtest.New() })
	if pgOnce.err != nil {
		t.Fatal(pgOnce.err)
	}
	return pgOnce.srv
}

func openLog(t testing.TB, s Store, key func() (crypto.Signer, error)) *Log {
	l, err := Open(context.Background(), Options{Store: s, Origin: origin, Key: key, Retry: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func testEntry(i int) Entry {
	return Entry{
		Time: time.Unix(1_800_000_000, int64(i)), Server: "test", RequestID: fmt.Sprintf("req-%d", i),
		Action: ActionSign, Decision: Allowed,
		Principal: Principal{Kind: "mtls", Name: fmt.Sprintf("builder-%d", i%3), ID: "sha256:ab"},
		Key:       &KeyRef{Name: "release", Version: 1 + i%2, Fingerprint: "SHA256:x"},
		Format:    "raw",
		Artifact:  &Artifact{Name: fmt.Sprintf("app-%d.tar.gz", i), Size: int64(i), Digests: []string{fmt.Sprintf("sha256:%064x", i)}, Signature: fmt.Sprintf("sha256:%064x", i+1_000_000)},
	}
}

// appendConcurrently appends n entries from many goroutines, checking each
// receipt, and returns the indexes acknowledged.
func appendConcurrently(t *testing.T, l *Log, k logKey, first, n int) map[int64]bool {
	t.Helper()
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := first + g; i < first+n; i += 16 {
				rs, err := l.Append(context.Background(), testEntry(i))
				if err != nil {
					t.Error(err)
					return
				}
				e, _, err := VerifyReceipt(&rs[0], k.vkey)
				if err != nil {
					t.Error(err)
					return
				}
				if e.RequestID != fmt.Sprintf("req-%d", i) {
					t.Errorf("receipt for req-%d holds %s", i, e.RequestID)
				}
				mu.Lock()
				if seen[rs[0].Index] {
					t.Errorf("index %d acknowledged twice", rs[0].Index)
				}
				seen[rs[0].Index] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return seen
}

func TestAppendVerifyReopen(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			k := newLogKey(t)
			s, _ := b.open(t)
			l := openLog(t, s, k.signer)
			seen := appendConcurrently(t, l, k, 0, 300)
			// A batch of several entries gets consecutive indexes.
			rs, err := l.Append(context.Background(), testEntry(1000), testEntry(1001), testEntry(1002))
			if err != nil {
				t.Fatal(err)
			}
			if rs[1].Index != rs[0].Index+1 || rs[2].Index != rs[0].Index+2 {
				t.Errorf("batch indexes %d %d %d", rs[0].Index, rs[1].Index, rs[2].Index)
			}
			l.Close()
			if st := l.Stats(); st.Commits >= 303 || st.Entries != 303 {
				t.Logf("%d commits for %d entries", st.Commits, st.Entries) // group commit is load-dependent
			}

			// A restarted server continues the same tree.
			s2 := b.reopen(t, s)
			l2 := openLog(t, s2, k.signer)
			for i := range appendConcurrently(t, l2, k, 2000, 100) {
				seen[i] = true
			}
			if len(seen) != 400 {
				t.Errorf("%d distinct indexes acknowledged, want 400", len(seen))
			}
			r, err := Verify(context.Background(), s2, k.vkey)
			if err != nil {
				t.Fatal(err)
			}
			if !r.OK() || r.Size != 403 || r.Checkpoints < 1 {
				t.Fatalf("verify: %+v", r)
			}
			// Proofs served later, from storage, verify too.
			signed, size, _ := s2.Head(context.Background())
			c, err := OpenCheckpoint(signed, k.vkey)
			if err != nil || c.Size != size {
				t.Fatalf("head %d: %v (size %d)", c.Size, err, size)
			}
			data, _ := s2.Entries(context.Background(), 7, 8)
			proof, err := InclusionProof(context.Background(), s2, 7, size)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := VerifyReceipt(&Receipt{Index: 7, Entry: data[0], Proof: proof, Checkpoint: signed}, k.vkey); err != nil {
				t.Errorf("stored proof: %v", err)
			}
			if _, _, err := VerifyReceipt(&Receipt{Index: 8, Entry: data[0], Proof: proof, Checkpoint: signed}, k.vkey); err == nil {
				t.Error("a proof for entry 7 verified as entry 8")
			}
		})
	}
}

func TestSearch(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			k := newLogKey(t)
			s, _ := b.open(t)
			l := openLog(t, s, k.signer)
			for i := range 60 {
				if _, err := l.Append(context.Background(), testEntry(i)); err != nil {
					t.Fatal(err)
				}
			}
			_, size, _ := s.Head(context.Background())
			// Brute force: every entry checked against the query by hand.
			brute := func(match func(*Entry) bool) []int64 {
				data, _ := s.Entries(context.Background(), 0, size)
				var out []int64
				for i, d := range data {
					if e, _ := ParseEntry(d); match(e) {
						out = append(out, int64(i))
					}
				}
				return out
			}
			for _, tt := range []struct {
				name  string
				q     Query
				match func(*Entry) bool
			}{
				{"principal", Query{Principal: "builder-1"}, func(e *Entry) bool { return e.Principal.Name == "builder-1" }},
				{"key and version", Query{Key: "release", Version: 2}, func(e *Entry) bool { return e.Key.Version == 2 }},
				{"digest", Query{Digest: fmt.Sprintf("sha256:%064x", 17)}, func(e *Entry) bool { return e.Artifact.Size == 17 }},
				{"signature digest", Query{Digest: fmt.Sprintf("sha256:%064x", 1_000_020)}, func(e *Entry) bool { return e.Artifact.Size == 20 }},
				{"name glob", Query{Name: "app-1*.tar.gz"}, func(e *Entry) bool { return strings.HasPrefix(e.Artifact.Name, "app-1") }},
				{"time range", Query{Since: time.Unix(1_800_000_000, 10), Until: time.Unix(1_800_000_000, 20)}, func(e *Entry) bool {
					return e.Artifact.Size >= 10 && e.Artifact.Size < 20
				}},
				{"nothing", Query{Key: "other"}, func(*Entry) bool { return false }},
			} {
				t.Run(tt.name, func(t *testing.T) {
					want := brute(tt.match)
					// Small pages: the pages together are the complete answer.
					q := tt.q
					q.Limit, q.After = 7, -1
					var got []int64
					for {
						ms, next, err := Search(context.Background(), s, q, size)
						if err != nil {
							t.Fatal(err)
						}
						for _, m := range ms {
							got = append(got, m.Index)
						}
						if next < 0 {
							break
						}
						q.After = next
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("search %+v = %v, want %v", tt.q, got, want)
					}
				})
			}
		})
	}
}

// TestTamper edits the stored log behind the server's back, as an operator
// with sqlite3 or psql could, and checks that Verify names the first bad
// entry.
func TestTamper(t *testing.T) {
	for _, b := range backends(t) {
		if b.name == "tiles" {
			continue // its log is files, not rows: TestTileTamper
		}
		t.Run(b.name, func(t *testing.T) {
			p := func(s string) string {
				if b.ph == "$" {
					n := 0
					return replaceQ(s, &n)
				}
				return s
			}
			other := newLogKey(t)
			for _, tt := range []struct {
				name     string
				tamper   func(t *testing.T, db *sql.DB, s Store)
				firstBad int64
				msg      string
			}{
				{"row edit", func(t *testing.T, db *sql.DB, s Store) {
					d, _ := s.Entries(context.Background(), 12, 13)
					execSQL(t, db, p("UPDATE entries SET data = ? WHERE idx = 12"), []byte(strings.Replace(string(d[0]), "app-12", "app-99", 1)))
				}, 12, "entry 12: its bytes do not match"},
				{"row delete", func(t *testing.T, db *sql.DB, s Store) {
					execSQL(t, db, "DELETE FROM entries WHERE idx = 20")
				}, 20, "entry 20 is missing"},
				{"leaf swap", func(t *testing.T, db *sql.DB, s Store) {
					d, _ := s.Entries(context.Background(), 5, 9)
					execSQL(t, db, p("UPDATE entries SET data = ? WHERE idx = 5"), d[3])
					execSQL(t, db, p("UPDATE entries SET data = ? WHERE idx = 8"), d[0])
				}, 5, "entry 5"},
				{"rewritten with matching leaf hashes", func(t *testing.T, db *sql.DB, s Store) {
					d, _ := s.Entries(context.Background(), 30, 31)
					forged := []byte(strings.Replace(string(d[0]), "builder-0", "builder-2", 1))
					h := tlog.RecordHash(forged)
					execSQL(t, db, p("UPDATE entries SET data = ? WHERE idx = 30"), forged)
					// Patch the leaf hash inside the run of hashes that holds it.
					i := tlog.StoredHashIndex(0, 30)
					var first int64
					var run []byte
					if err := db.QueryRow(p("SELECT first, hashes FROM hash_runs WHERE first <= ? ORDER BY first DESC LIMIT 1"), i).Scan(&first, &run); err != nil {
						t.Fatal(err)
					}
					copy(run[(i-first)*tlog.HashSize:], h[:])
					execSQL(t, db, p("UPDATE hash_runs SET hashes = ? WHERE first = ?"), run, first)
				}, 30, "entries 30 to 32: the stored tree hash"},
				{"truncated tail", func(t *testing.T, db *sql.DB, s Store) {
					execSQL(t, db, "DELETE FROM entries WHERE idx >= 35")
					execSQL(t, db, "UPDATE head SET size = 35")
				}, 35, "log truncated"},
				{"forged checkpoint", func(t *testing.T, db *sql.DB, s Store) {
					signed, _, _ := s.Head(context.Background())
					c, _ := ParseCheckpoint(noteText(signed))
					c.Root[0] ^= 1
					ns, _ := NewNoteSigner(origin, other.priv)
					forged, _ := SignCheckpoint(c, ns)
					execSQL(t, db, p("UPDATE head SET checkpoint = ?"), forged)
				}, -1, "not signed by log key"},
				{"hidden from search", func(t *testing.T, db *sql.DB, s Store) {
					execSQL(t, db, "UPDATE entries SET principal = 'nobody' WHERE idx = 3")
				}, 3, "search index tampered"},
				{"digest index removed", func(t *testing.T, db *sql.DB, s Store) {
					for {
						if done, err := s.Index(context.Background(), 7); err != nil {
							t.Fatal(err)
						} else if done {
							break
						}
					}
					execSQL(t, s.(*SQLStore).ix.w, "DELETE FROM terms WHERE idx = 4 AND term LIKE 'digest:%'")
				}, 4, "search index tampered"},
				{"digest column edited", func(t *testing.T, db *sql.DB, s Store) {
					execSQL(t, db, "UPDATE entries SET digests = 'sha256:00' WHERE idx = 9")
				}, 9, "search index tampered"},
				{"rows past the head", func(t *testing.T, db *sql.DB, s Store) {
					d, _ := s.Entries(context.Background(), 39, 40)
					for _, i := range []int{40, 41, 42} {
						execSQL(t, db, p("INSERT INTO entries (idx, data, time, action, decision, principal, subject, key, version, artifact, digests) VALUES (?, ?, 0, 'sign', 'allowed', '', '', '', 0, '', '')"), i, d[0])
					}
					execSQL(t, db, p("INSERT INTO hash_runs (first, hashes) VALUES (?, ?)"), tlog.StoredHashIndex(0, 40), make([]byte, 32))
				}, 40, "entries 40 to 42 (3 rows) are stored past the log's head of 40 entries"},
				{"manifest edited", func(t *testing.T, db *sql.DB, s Store) {
					execSQL(t, db, p("UPDATE manifests SET data = ? WHERE digest = ?"), []byte(`["edited"]`), ManifestDigest(testManifest))
				}, 15, "entry 15: its content manifest " + ManifestDigest(testManifest) + " was edited"},
				{"manifest deleted", func(t *testing.T, db *sql.DB, s Store) {
					execSQL(t, db, "DELETE FROM manifests")
				}, 15, "entry 15: its content manifest " + ManifestDigest(testManifest) + " is not stored"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					k := newLogKey(t)
					s, db := b.open(t)
					l := openLog(t, s, k.signer)
					for i := range 40 {
						e := testEntry(i)
						if i == 15 || i == 17 {
							e.AttachManifest(testManifest)
						}
						if _, err := l.Append(context.Background(), e); err != nil {
							t.Fatal(err)
						}
					}
					l.Close()
					if r, err := Verify(context.Background(), s, k.vkey); err != nil || !r.OK() {
						t.Fatalf("before tampering: %+v %v", r, err)
					}
					tt.tamper(t, db, s)
					r, err := Verify(context.Background(), s, k.vkey)
					if err != nil {
						t.Fatal(err)
					}
					if r.OK() || r.FirstBad != tt.firstBad || !strings.Contains(strings.Join(r.Problems, "\n"), tt.msg) {
						t.Fatalf("got first bad %d, problems:\n%s\nwant first bad %d and %q", r.FirstBad, strings.Join(r.Problems, "\n"), tt.firstBad, tt.msg)
					}
				})
			}
		})
	}
}

// testManifest is the content manifest two entries of TestTamper name.
var testManifest = []byte(`[{"path":"usr/bin/app","size":3,"digest":"sha256:00"}]`)

// replaceQ turns ? placeholders into $1, $2, …
func replaceQ(s string, n *int) string {
	var b strings.Builder
	for _, r := range s {
		if r == '?' {
			*n++
			fmt.Fprintf(&b, "$%d", *n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func execSQL(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestNoKey(t *testing.T) {
	k := newLogKey(t)
	s, _ := backends(t)[0].open(t)
	var locked sync.Mutex
	available := false
	key := func() (crypto.Signer, error) {
		locked.Lock()
		defer locked.Unlock()
		if !available {
			return nil, errors.New("keystore locked")
		}
		return k.priv, nil
	}
	l := openLog(t, s, key)
	rs, err := l.Append(context.Background(), testEntry(0), testEntry(1))
	if !errors.Is(err, ErrNoCheckpoint) || !strings.Contains(err.Error(), "keystore locked") || rs != nil {
		t.Fatalf("append without key: %v, %v", rs, err)
	}
	if _, size, _ := s.Head(context.Background()); size != 2 {
		t.Fatalf("entries not recorded without key: size %d", size)
	}
	locked.Lock()
	available = true
	locked.Unlock()
	rs, err = l.Append(context.Background(), testEntry(2))
	if err != nil {
		t.Fatal(err)
	}
	e, c, err := VerifyReceipt(&rs[0], k.vkey)
	if err != nil || c.Size != 3 || rs[0].Index != 2 || e.RequestID != "req-2" {
		t.Fatalf("first receipt after the key came back: %v size %d index %d", err, c.Size, rs[0].Index)
	}
	if r, _ := Verify(context.Background(), s, k.vkey); !r.OK() || r.Size != 3 {
		t.Fatalf("verify: %+v", r)
	}
}

type storeMonitor struct{ s Store }

func (m storeMonitor) Checkpoint(ctx context.Context) (string, error) {
	signed, _, err := m.s.Head(ctx)
	return signed, err
}

func (m storeMonitor) Consistency(ctx context.Context, old, new int64) ([][]byte, error) {
	return ConsistencyProof(ctx, m.s, old, new)
}

func TestWatch(t *testing.T) {
	b := backends(t)[0]
	k := newLogKey(t)
	s, db := b.open(t)
	l := openLog(t, s, k.signer)
	add := func(l *Log, from, to int) {
		for i := from; i < to; i++ {
			if _, err := l.Append(context.Background(), testEntry(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(l, 0, 10)
	st, c, err := Watch(context.Background(), storeMonitor{s}, k.vkey, nil)
	if err != nil || c.Size != 10 {
		t.Fatalf("first watch: %v (size %d)", err, c.Size)
	}
	add(l, 10, 25)
	st2, c, err := Watch(context.Background(), storeMonitor{s}, k.vkey, st)
	if err != nil || c.Size != 25 {
		t.Fatalf("watch after growth: %v (size %d)", err, c.Size)
	}

	// A second log under the same key with other history: a fork.
	s2, _ := b.open(t)
	l2 := openLog(t, s2, k.signer)
	add(l2, 100, 130)
	if _, _, err := Watch(context.Background(), storeMonitor{s2}, k.vkey, st2); !errors.Is(err, ErrInconsistent) {
		t.Errorf("forked log: %v", err)
	}
	s3, _ := b.open(t)
	l3 := openLog(t, s3, k.signer)
	add(l3, 100, 125)
	if _, _, err := Watch(context.Background(), storeMonitor{s3}, k.vkey, st2); !errors.Is(err, ErrInconsistent) || !strings.Contains(err.Error(), "forked") {
		t.Errorf("same size, other root: %v", err)
	}
	// The original log rolled back to an older head: it shrank.
	l.Close()
	old, _ := s.Checkpoints(context.Background(), -1, 1)
	if len(old) == 1 {
		execSQL(t, db, "UPDATE head SET checkpoint = ?", old[0].Signed)
		if _, _, err := Watch(context.Background(), storeMonitor{s}, k.vkey, st2); !errors.Is(err, ErrInconsistent) || !strings.Contains(err.Error(), "shrank") {
			t.Errorf("rolled back log: %v", err)
		}
	}
	// A checkpoint signed by another key is refused outright.
	if _, _, err := Watch(context.Background(), storeMonitor{s2}, newLogKey(t).vkey, nil); err == nil {
		t.Error("checkpoint under another key accepted")
	}
}

// smallDisk mounts a 2 MiB tmpfs for a test that fills it, and unmounts
// it when the test ends.
func smallDisk(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("%s mounts a small tmpfs and must run as root (as ./scripts/test does in CI)", t.Name())
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// TestDiskFull fills the file system under a SQLite log: appends fail and
// the log reports unready, nothing acknowledged is lost, and it recovers by
// itself when space returns.
func TestDiskFull(t *testing.T) {
	dir := smallDisk(t)
	k := newLogKey(t)
	s, err := OpenSQLite(filepath.Join(dir, "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := openLog(t, s, k.signer)
	acked := 0
	for i := range 20 {
		if _, err := l.Append(context.Background(), testEntry(i)); err != nil {
			t.Fatal(err)
		}
		acked++
	}
	// Fill the disk.
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
		if _, err := l.Append(context.Background(), big); err != nil {
			failed = err
		} else {
			acked++
		}
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
	if _, err := l.Append(context.Background(), testEntry(5000)); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	acked++
	r, err := Verify(context.Background(), s, k.vkey)
	if err != nil || !r.OK() || r.Size != int64(acked) {
		t.Fatalf("after recovery: verify %+v %v; %d acknowledged", r, err, acked)
	}
}

// TestPostgresOutage stops the database under a running log and starts it
// again.
func TestPostgresOutage(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.NewDatabase(t)
	s, err := OpenPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k := newLogKey(t)
	l := openLog(t, s, k.signer)
	if _, err := l.Append(context.Background(), testEntry(0)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), testEntry(1)); err == nil || !strings.Contains(err.Error(), "audit log unwritable") {
		t.Fatalf("append with the database down: %v", err)
	}
	if l.Ready() == nil {
		t.Fatal("ready with the database down")
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for l.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready after the database came back: %v", l.Ready())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := l.Append(context.Background(), testEntry(2)); err != nil {
		t.Fatal(err)
	}
	if r, err := Verify(context.Background(), s, k.vkey); err != nil || !r.OK() || r.Size != 2 {
		t.Fatalf("verify: %+v %v", r, err)
	}
}

// TestConcurrentWriters runs two logs, as two replicas would, on one
// PostgreSQL database.
func TestConcurrentWriters(t *testing.T) {
	dsn := postgres(t).NewDatabase(t)
	k := newLogKey(t)
	var logs []*Log
	var stores []Store
	for range 3 {
		s, err := OpenPostgres(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
		logs = append(logs, openLog(t, s, k.signer))
	}
	seen := map[int64]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for r, l := range logs {
		wg.Go(func() {
			for i := range appendConcurrently(t, l, k, r*1000, 200) {
				mu.Lock()
				if seen[i] {
					t.Errorf("index %d given to two replicas", i)
				}
				seen[i] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r, err := Verify(context.Background(), stores[0], k.vkey)
	if err != nil || !r.OK() || r.Size != 600 || len(seen) != 600 {
		t.Fatalf("verify: %+v %v; %d indexes", r, err, len(seen))
	}
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir) // TestTileCrash's child: appends until killed
		return
	}
	code := m.Run()
	if pgOnce.srv != nil {
		pgOnce.srv.Close()
	}
	os.Exit(code)
}

// TestDigestIndexLag checks that a search by digest is complete whether
// the digest index is empty, partly built or caught up.
func TestDigestIndexLag(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			k := newLogKey(t)
			s, _ := b.open(t)
			l := openLog(t, s, k.signer)
			for i := range 50 {
				e := testEntry(i)
				e.Artifact.Digests = []string{fmt.Sprintf("sha256:%064x", i%10)} // each digest signed 5 times
				if _, err := l.Append(context.Background(), e); err != nil {
					t.Fatal(err)
				}
			}
			l.Close()
			ix := sqlOf(t, s).ix
			execSQL(t, ix.w, "DELETE FROM terms")
			execSQL(t, ix.w, "UPDATE terms_head SET indexed = 0")
			want := "[3 13 23 33 43]"
			search := func(stage string) {
				t.Helper()
				var got []int64
				q := Query{Digest: fmt.Sprintf("sha256:%064x", 3), After: -1, Limit: 2}
				for {
					ms, next, err := Search(context.Background(), s, q, 50)
					if err != nil {
						t.Fatal(err)
					}
					for _, m := range ms {
						got = append(got, m.Index)
					}
					if next < 0 {
						break
					}
					q.After = next
				}
				if fmt.Sprint(got) != want {
					t.Errorf("%s: digest search found %v, want %s", stage, got, want)
				}
			}
			search("index empty")
			if done, err := s.Index(context.Background(), 25); err != nil || done {
				t.Fatalf("first chunk: done %v, %v", done, err)
			}
			search("index half built")
			for {
				done, err := s.Index(context.Background(), 10)
				if err != nil {
					t.Fatal(err)
				}
				if done {
					break
				}
			}
			search("index caught up")
			// A signature digest is found like an artifact digest.
			ms, _, err := Search(context.Background(), s, Query{Digest: fmt.Sprintf("sha256:%064x", 1_000_007), After: -1}, 50)
			if err != nil || len(ms) != 1 || ms[0].Index != 7 {
				t.Errorf("signature digest: %v %v", ms, err)
			}
			if r, err := Verify(context.Background(), s, k.vkey); err != nil || !r.OK() {
				t.Errorf("verify with the index rebuilt: %+v %v", r, err)
			}
		})
	}
}

// TestCommitDelay checks that a commit waits for requests in flight and
// only for them: with the delay far longer than the test, the first
// append is committed together with the second, which arrives later, and a
// lone append is committed at once.
func TestCommitDelay(t *testing.T) {
	k := newLogKey(t)
	s, _ := backends(t)[0].open(t)
	var inFlight atomic.Int64
	l, err := Open(context.Background(), Options{Store: s, Origin: origin, Key: k.signer,
		CommitDelay: time.Hour, InFlight: func() int { return int(inFlight.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	inFlight.Store(2)
	first := make(chan error, 1)
	go func() {
		_, err := l.Append(context.Background(), testEntry(0))
		first <- err
	}()
	if _, err := l.Append(context.Background(), testEntry(1)); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Commits != 1 || st.Entries != 2 {
		t.Fatalf("two requests in flight: %d commits of %d entries, want 1 of 2", st.Commits, st.Entries)
	}

	inFlight.Store(1)
	if _, err := l.Append(context.Background(), testEntry(2)); err != nil { // would hang an hour if it waited
		t.Fatal(err)
	}
	if st := l.Stats(); st.Commits != 2 {
		t.Fatalf("a lone request: %d commits, want 2", st.Commits)
	}
}

// TestTimesNeverDecrease appends entries out of time order, some of them
// older than what the log holds: the log orders a commit by time and dates
// a late entry at its predecessor's time, so searches by time can bisect;
// receipts hold what was stored, and the caller's entries are unchanged.
func TestTimesNeverDecrease(t *testing.T) {
	k := newLogKey(t)
	s, _ := backends(t)[0].open(t)
	l := openLog(t, s, k.signer)
	base := time.Unix(1_900_000_000, 0).UTC()
	at := func(sec int) Entry {
		e := testEntry(sec)
		e.Time = base.Add(time.Duration(sec) * time.Second)
		return e
	}
	if _, err := l.Append(context.Background(), at(10)); err != nil {
		t.Fatal(err)
	}
	batch := []Entry{at(30), at(20), at(5)} // 5 is older than the log's latest (10)
	rs, err := l.Append(context.Background(), batch...)
	if err != nil {
		t.Fatal(err)
	}
	if batch[2].Time != base.Add(5*time.Second) {
		t.Errorf("the caller's entry was changed: %v", batch[2].Time)
	}
	want := map[int64]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 3: 30 * time.Second}
	for i, r := range rs {
		e, _, err := VerifyReceipt(&r, k.vkey)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := want[r.Index]; !ok || !e.Time.Equal(base.Add(d)) {
			t.Errorf("entry %d (asked at %v) stored at index %d dated %v", i, batch[i].Time, r.Index, e.Time)
		}
	}
	if r, err := Verify(context.Background(), s, k.vkey); err != nil || !r.OK() {
		t.Fatalf("verify: %+v %v", r, err)
	}
	ms, _, err := Search(context.Background(), s, Query{Since: base.Add(15 * time.Second), Until: base.Add(25 * time.Second), After: -1}, 4)
	if err != nil || len(ms) != 1 || ms[0].Index != 2 {
		t.Errorf("search by time: %v %v, want entry 2", ms, err)
	}
}

// TestVerifyRejectsDecreasingTimes writes entries through the store alone,
// out of time order, as no Log would: verify names the first misdated one.
func TestVerifyRejectsDecreasingTimes(t *testing.T) {
	k := newLogKey(t)
	s, _ := backends(t)[0].open(t)
	ns, _ := NewNoteSigner(origin, k.priv)
	err := s.Append(context.Background(), func(size int64, last time.Time, r tlog.HashReader) (*Batch, error) {
		o := newOverlay(&edge{hashes: map[int64]tlog.Hash{}})
		b := &Batch{}
		for i, sec := range []int{3, 1, 2} {
			e := testEntry(i)
			e.Time = time.Unix(int64(1_900_000_000+sec), 0)
			data, _ := e.Marshal()
			o.append(tlog.RecordHash(data))
			b.Entries = append(b.Entries, storedEntry(int64(i), &e, data))
			b.LastTime = e.Time
		}
		b.Hashes, b.Size = o.order, o.size
		root, _ := o.root()
		note, err := SignCheckpoint(Checkpoint{Origin: origin, Size: 3, Root: root}, ns)
		b.Checkpoint = &StoredCheckpoint{Size: 3, Signed: note, Time: time.Now()}
		return b, err
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Verify(context.Background(), s, k.vkey)
	if err != nil || r.OK() || r.FirstBad != 1 || !strings.Contains(strings.Join(r.Problems, "\n"), "entry 1 is dated") {
		t.Fatalf("verify: %+v %v", r, err)
	}
}

// TestRowsPastHead stores rows past the log's head, as a head restored
// from an older backup leaves them: appends then fail on them, verify
// names them and what to do, and doing it lets the log append again.
func TestRowsPastHead(t *testing.T) {
	for _, b := range backends(t) {
		if b.name == "tiles" {
			continue // files, not rows: a tile log cuts what lies past its last commit (TestTileTornTail, TestTileDamagedJournalRefused)
		}
		t.Run(b.name, func(t *testing.T) {
			p := func(s string) string {
				if b.ph == "$" {
					n := 0
					return replaceQ(s, &n)
				}
				return s
			}
			ctx := context.Background()
			k := newLogKey(t)
			s, db := b.open(t)
			l := openLog(t, s, k.signer)
			var size, last int64
			var head string
			for i := range 10 {
				if i == 8 {
					if err := db.QueryRow("SELECT size, checkpoint, last_time FROM head").Scan(&size, &head, &last); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := l.Append(ctx, testEntry(i)); err != nil {
					t.Fatal(err)
				}
			}
			l.Close()
			// The head of 8 entries restored from a backup.
			execSQL(t, db, "DELETE FROM checkpoints WHERE size > 8")
			execSQL(t, db, p("UPDATE head SET size = ?, checkpoint = ?, last_time = ?"), size, head, last)

			l = openLog(t, s, k.signer)
			if _, err := l.Append(ctx, testEntry(10)); err == nil {
				t.Fatal("appended over rows past the head")
			}
			l.Close()
			r, err := Verify(ctx, s, k.vkey)
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(r.Problems, "\n")
			if r.OK() || r.FirstBad != 8 || !strings.Contains(all, "entries 8 to 9 (2 rows) are stored past the log's head of 8 entries") {
				t.Fatalf("first bad %d, problems:\n%s", r.FirstBad, all)
			}
			// Do what the report says.
			var first int64
			if _, err := fmt.Sscanf(all[strings.Index(all, "DELETE FROM hash_runs WHERE first >= "):], "DELETE FROM hash_runs WHERE first >= %d", &first); err != nil {
				t.Fatal(err)
			}
			execSQL(t, db, p("DELETE FROM entries WHERE idx >= ?"), 8)
			execSQL(t, db, p("DELETE FROM hash_runs WHERE first >= ?"), first)
			if r, err := Verify(ctx, s, k.vkey); err != nil || !r.OK() {
				t.Fatalf("after deleting them: %+v %v", r, err)
			}
			l = openLog(t, s, k.signer)
			if _, err := l.Append(ctx, testEntry(10)); err != nil {
				t.Fatalf("append after deleting them: %v", err)
			}
		})
	}
}
