package custody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// newSet splits a fresh secret among n custodians with fresh age keys.
func newSet(t testing.TB, threshold, n int) ([]byte, *Set, []Share, []*age.X25519Identity) {
	t.Helper()
	var cs []Custodian
	var ids []*age.X25519Identity
	for i := range n {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		cs = append(cs, Custodian{Name: string(rune('a'+i)) + "-custodian", Recipient: id.Recipient().String()})
	}
	secret, set, shares, err := Split(threshold, cs, t0)
	if err != nil {
		t.Fatal(err)
	}
	return secret, set, shares, ids
}

func TestEveryQuorumRecoversTheSecret(t *testing.T) {
	secret, set, shares, _ := newSet(t, 3, 5)
	if len(secret) != SecretSize || len(shares) != 5 || len(set.Commitments) != 3 {
		t.Fatalf("secret %d bytes, %d shares, %d commitments", len(secret), len(shares), len(set.Commitments))
	}
	n := 0
	for a := range 5 {
		for b := a + 1; b < 5; b++ {
			for c := b + 1; c < 5; c++ {
				got, err := set.Combine([]Share{shares[c], shares[a], shares[b]})
				if err != nil || !bytes.Equal(got, secret) {
					t.Fatalf("shares %d,%d,%d: %x, %v", a+1, b+1, c+1, got, err)
				}
				n++
			}
		}
	}
	if n != 10 {
		t.Fatal(n)
	}
	if _, err := set.Combine(shares[:2]); !errors.Is(err, ErrNotEnough) {
		t.Fatalf("two shares: %v", err)
	}
	if _, err := set.Combine([]Share{shares[0], shares[0], shares[1]}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
}

func TestVerifyRejectsTamperedShares(t *testing.T) {
	_, set, shares, _ := newSet(t, 3, 5)
	_, other, otherShares, _ := newSet(t, 3, 5)
	for i, sh := range shares {
		if err := set.Verify(sh); err != nil {
			t.Fatalf("share %d: %v", i+1, err)
		}
	}
	flip := func(sh Share, i int) Share {
		v := bytes.Clone(sh.Value)
		v[i] ^= 1
		return Share{Set: sh.Set, Index: sh.Index, Value: v}
	}
	tests := []struct {
		name string
		sh   Share
		err  error
		msg  string
	}{
		{"flipped bit", flip(shares[1], 0), ErrBadShare, `share 2 (custodian "b-custodian")`},
		{"other index", Share{Set: set.ID, Index: 3, Value: shares[1].Value}, ErrBadShare, `share 3 (custodian "c-custodian")`},
		{"other set's value", Share{Set: set.ID, Index: 1, Value: otherShares[0].Value}, ErrBadShare, "corrupted or forged"},
		{"other set", otherShares[0], ErrWrongSet, other.ID},
		{"index out of range", Share{Set: set.ID, Index: 6, Value: shares[0].Value}, ErrMalformed, "shares 1 to 5"},
		{"short value", Share{Set: set.ID, Index: 1, Value: shares[0].Value[:31]}, ErrBadShare, "share 1"},
		{"non-canonical scalar", Share{Set: set.ID, Index: 1, Value: bytes.Repeat([]byte{0xff}, 32)}, ErrBadShare, "share 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := set.Verify(tt.sh)
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Verify = %v; want %v containing %q", err, tt.err, tt.msg)
			}
		})
	}
}

func TestCollector(t *testing.T) {
	secret, set, shares, _ := newSet(t, 3, 5)
	c := NewCollector(set, 10*time.Minute)
	now := t0
	add := func(by string, sh Share) ([]byte, error) {
		now = now.Add(time.Minute)
		return c.Add(now, by, sh)
	}
	if s, err := add("alice", shares[0]); s != nil || err != nil {
		t.Fatal(s, err)
	}
	// Refusals keep the progress: a tampered share names the submitter.
	bad := Share{Set: set.ID, Index: 2, Value: bytes.Clone(shares[1].Value)}
	bad.Value[5] ^= 0x40
	if _, err := add("mallory", bad); !errors.Is(err, ErrBadShare) || !strings.Contains(err.Error(), `submitted by "mallory"`) || !strings.Contains(err.Error(), `"b-custodian"`) {
		t.Fatalf("tampered: %v", err)
	}
	if _, err := add("bob", shares[0]); !errors.Is(err, ErrDuplicate) || !strings.Contains(err.Error(), `from "alice"`) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := add("alice", shares[1]); !errors.Is(err, ErrSubmitter) {
		t.Fatalf("same principal twice: %v", err)
	}
	if s, err := add("bob", shares[1]); s != nil || err != nil {
		t.Fatal(s, err)
	}
	p := c.Progress()
	if len(p.Received) != 2 || p.Received[1].By != "bob" || p.Received[1].Custodian != "b-custodian" || !p.Expires.Equal(t0.Add(11*time.Minute)) {
		t.Fatalf("progress %+v", p)
	}
	// Two shares are not enough, and expire after the window.
	if lost := c.Expire(t0.Add(11 * time.Minute)); len(lost) != 2 {
		t.Fatalf("Expire returned %v", lost)
	}
	if p := c.Progress(); len(p.Received) != 0 || !p.Expires.IsZero() {
		t.Fatalf("after expiry %+v", p)
	}
	for i, by := range []string{"carol", "dave", "erin"} {
		s, err := add(by, shares[i+2])
		if err != nil {
			t.Fatal(err)
		}
		if (s != nil) != (i == 2) {
			t.Fatalf("after %d shares: secret %x", i+1, s)
		}
		if s != nil && !bytes.Equal(s, secret) {
			t.Fatal("wrong secret")
		}
	}
	if p := c.Progress(); len(p.Received) != 0 {
		t.Fatalf("collector not reset after the quorum: %+v", p)
	}
	if c.Expire(now.Add(time.Hour)) != nil {
		t.Fatal("empty collector expired something")
	}
}

func TestShareFileRoundTrip(t *testing.T) {
	_, set, shares, ids := newSet(t, 2, 3)
	file, err := set.EncryptShare(shares[1])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(file, []byte(encode(shares[1].Value))) {
		t.Fatal("share file holds the share in clear")
	}
	f, err := ParseShareFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.Comments[0], "share 2 of 3 (threshold 2) for b-custodian") {
		t.Fatalf("comments %q", f.Comments)
	}
	got, err := f.Decrypt(ids[1])
	if err != nil || got.Index != 2 || !bytes.Equal(got.Value, shares[1].Value) || got.Set != set.ID {
		t.Fatalf("Decrypt = %v, %v", got, err)
	}
	if _, err := f.Decrypt(ids[0]); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("Decrypt with the wrong identity: %v", err)
	}
	if s := got.String() + fmtAll(got); strings.Contains(s, encode(got.Value)) {
		t.Fatalf("share prints its value: %s", s)
	}
	// A flipped byte in the ciphertext fails authentication.
	lines := strings.Split(string(file), "\n")
	for i, l := range lines {
		if i > 4 && len(l) > 10 && !strings.HasPrefix(l, "-----") {
			b := []byte(l)
			b[3] ^= 'A' ^ 'B'
			lines[i] = string(b)
			break
		}
	}
	if f, err := ParseShareFile([]byte(strings.Join(lines, "\n"))); err == nil {
		if _, err := f.Decrypt(ids[1]); err == nil {
			t.Fatal("tampered ciphertext decrypted")
		}
	}
}

func fmtAll(s Share) string {
	var b strings.Builder
	for _, v := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		b.WriteString(fmt.Sprintf(v, s))
	}
	return b.String()
}

// TestShareFileWithAge decrypts a share file with the age command, as a
// custodian checking their share by hand would.
func TestShareFileWithAge(t *testing.T) {
	if _, err := exec.LookPath("age"); err != nil {
		t.Fatal("age is required (Debian package age); run ./scripts/test, which installs it")
	}
	_, set, shares, ids := newSet(t, 2, 2)
	file, err := set.EncryptShare(shares[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var body []string
	for l := range strings.Lines(string(file)) {
		if !strings.HasPrefix(l, "#") {
			body = append(body, l)
		}
	}
	os.WriteFile(filepath.Join(dir, "a.age"), []byte(strings.Join(body, "")), 0o600)
	os.WriteFile(filepath.Join(dir, "a.key"), []byte(ids[0].String()+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "b.key"), []byte(ids[1].String()+"\n"), 0o600)
	out, err := exec.Command("age", "-d", "-i", filepath.Join(dir, "a.key"), filepath.Join(dir, "a.age")).Output()
	if err != nil {
		t.Fatalf("age -d: %v", err)
	}
	sh, err := ParseShare(out)
	if err != nil || set.Verify(sh) != nil || sh.Index != 1 {
		t.Fatalf("age decrypted %q: %v", out, err)
	}
	if err := exec.Command("age", "-d", "-i", filepath.Join(dir, "b.key"), filepath.Join(dir, "a.age")).Run(); err == nil {
		t.Fatal("age decrypted alice's share with bob's key")
	}
}

func TestSplitErrors(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	r := id.Recipient().String()
	c := func(names ...string) []Custodian {
		var cs []Custodian
		for _, n := range names {
			cs = append(cs, Custodian{Name: n, Recipient: r})
		}
		return cs
	}
	tests := []struct {
		t   int
		cs  []Custodian
		msg string
	}{
		{0, c("a", "b"), "threshold 0"},
		{3, c("a", "b"), "threshold 3 with 2"},
		{1, nil, "0 custodians"},
		{2, c("a", "a"), `"a" is listed twice`},
		{1, c(" a"), "invalid custodian name"},
		{1, []Custodian{{Name: "a", Recipient: "ssh-rsa AAAA"}}, "age recipient"},
		{1, []Custodian{{Name: "a", Recipient: ""}}, "no age recipient"},
	}
	for _, tt := range tests {
		if _, _, _, err := Split(tt.t, tt.cs, t0); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Split(%d, %v) = %v; want %q", tt.t, tt.cs, err, tt.msg)
		}
	}
}

func TestParseSet(t *testing.T) {
	_, set, _, _ := newSet(t, 2, 3)
	good, err := set.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSet(good)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != set.ID || len(got.commitments) != 2 {
		t.Fatalf("%+v", got)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		json.Unmarshal(good, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name string
		b    []byte
		msg  string
	}{
		{"unknown field", edit(func(m map[string]any) { m["x"] = 1 }), "unknown field"},
		{"short id", edit(func(m map[string]any) { m["id"] = "abc" }), "id"},
		{"threshold above n", edit(func(m map[string]any) { m["threshold"] = 4 }), "threshold 4"},
		{"one commitment missing", edit(func(m map[string]any) { m["commitments"] = m["commitments"].([]any)[:1] }), "1 commitments for threshold 2"},
		{"bad commitment", edit(func(m map[string]any) { m["commitments"].([]any)[0] = "AAAA" }), "commitment 0"},
		{"identity commitment", edit(func(m map[string]any) {
			m["commitments"].([]any)[1] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		}), "commitment 1"},
		{"bad created", edit(func(m map[string]any) { m["created"] = "yesterday" }), "created"},
		{"trailing data", append(bytes.Clone(good), "{}"...), "after the JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseSet(tt.b); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("ParseSet = %v; want %q", err, tt.msg)
			}
		})
	}
}

func TestParseShareFileErrors(t *testing.T) {
	for _, tt := range []struct{ name, file, msg string }{
		{"empty", "", "no complete"},
		{"text before", "hello\n-----BEGIN AGE ENCRYPTED FILE-----\n", "line 1"},
		{"unterminated", "# x\n-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n", "no complete"},
		{"text after", "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\nmore\n", "line 4"},
	} {
		if _, err := ParseShareFile([]byte(tt.file)); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func FuzzParseShareFile(f *testing.F) {
	_, set, shares, ids := newSet(f, 1, 1)
	file, _ := set.EncryptShare(shares[0])
	f.Add(file)
	f.Add([]byte("# only a comment\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sf, err := ParseShareFile(b)
		if err != nil {
			return
		}
		if sh, err := sf.Decrypt(ids[0]); err == nil {
			if err := set.Verify(sh); err != nil && !errors.Is(err, ErrBadShare) && !errors.Is(err, ErrWrongSet) && !errors.Is(err, ErrMalformed) {
				t.Fatal(err)
			}
		}
	})
}

func FuzzParseSet(f *testing.F) {
	_, set, _, _ := newSet(f, 2, 3)
	good, _ := set.Marshal()
	f.Add(good)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSet(b)
		if err != nil {
			return
		}
		again, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseSet(again); err != nil {
			t.Fatalf("re-encoded set does not parse: %v", err)
		}
	})
}

func FuzzParseShare(f *testing.F) {
	_, set, shares, _ := newSet(f, 2, 3)
	b, _ := shares[0].marshal()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		sh, err := ParseShare(b)
		if err != nil {
			return
		}
		set.Verify(sh) // must not panic
	})
}
