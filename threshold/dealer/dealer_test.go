package dealer

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/signet-dev/signet/threshold/frost"
)

func servers(t *testing.T, names ...string) ([]Server, []*age.X25519Identity) {
	t.Helper()
	var ss []Server
	var ids []*age.X25519Identity
	for _, n := range names {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, Server{Name: n, Recipient: id.Recipient()})
		ids = append(ids, id)
	}
	return ss, ids
}

// TestDealOpenSign runs a 2-of-3 ceremony, opens every sealed share with its
// server's identity (and checks that no other identity opens it, and that
// the sealed files do not contain the shares in clear), then signs with two
// of them and verifies the result with crypto/ed25519.
func TestDealOpenSign(t *testing.T) {
	ss, ids := servers(t, "signet-a", "signet-b", "signet-c")
	res, err := Deal(rand.Reader, 2, ss)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Shares) != 3 || !bytes.Equal(res.PublicKey, res.Group.PublicKey()) {
		t.Fatalf("result: %d shares", len(res.Shares))
	}
	var keys []*frost.KeyShare
	for i, s := range res.Shares {
		if s.Server != ss[i].Name || s.ID != frost.Identifier(i+1) {
			t.Fatalf("share %d is labelled %q/%d", i, s.Server, s.ID)
		}
		if !bytes.HasPrefix(s.Sealed, []byte("-----BEGIN AGE ENCRYPTED FILE-----")) {
			t.Fatalf("share %d is not armored age", i)
		}
		k, err := Open(s.Sealed, ids[i], res.Group, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(s.Sealed, k.Bytes()[30:64]) {
			t.Fatal("the sealed file contains the share in clear")
		}
		other := ids[(i+1)%3]
		if _, err := Open(s.Sealed, other, res.Group, s.ID); err == nil {
			t.Fatalf("server %d's identity opened the share of server %d", (i+1)%3+1, i+1)
		}
		keys = append(keys, k)
	}
	if _, err := Open(res.Shares[0].Sealed, ids[0], res.Group, 2); err == nil || !strings.Contains(err.Error(), "participant 1, not 2") {
		t.Fatalf("Open for the wrong identifier: %v", err)
	}
	other, err := Deal(rand.Reader, 2, ss)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(res.Shares[0].Sealed, ids[0], other.Group, 1); err == nil || !strings.Contains(err.Error(), "another threshold key") {
		t.Fatalf("Open against another key's group: %v", err)
	}

	msg := []byte("dealt offline, signed by two\n")
	store := &frost.MemoryNonceStore{}
	n1, err := keys[1].Commit(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	n2, err := keys[2].Commit(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	comms := []frost.SigningCommitment{n1.Commitment, n2.Commitment}
	s1, err := keys[1].Sign(store, n1, msg, comms)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := keys[2].Sign(store, n2, msg, comms)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := res.Group.Aggregate(comms, msg, []frost.SignatureShare{s1, s2})
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(res.PublicKey, msg, sig) {
		t.Fatal("signature does not verify")
	}
}

// TestAgeCLIOpensShare checks that the real age tool decrypts a sealed share
// with the server's identity file, and that the result parses as the share.
func TestAgeCLIOpensShare(t *testing.T) {
	if _, err := exec.LookPath("age"); err != nil {
		t.Fatal("age is required by this test; run ./scripts/test, which installs it")
	}
	ss, ids := servers(t, "one", "two")
	res, err := Deal(rand.Reader, 2, ss)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	idFile := filepath.Join(dir, "identity")
	if err := os.WriteFile(idFile, []byte(ids[1].String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sealed := filepath.Join(dir, "share.age")
	if err := os.WriteFile(sealed, res.Shares[1].Sealed, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("age", "-d", "-i", idFile, sealed).Output()
	if err != nil {
		t.Fatalf("age -d: %v", err)
	}
	k, err := frost.ParseKeyShare(out)
	if err != nil {
		t.Fatalf("age's plaintext is not a key share: %v", err)
	}
	if k.ID != 2 || !bytes.Equal(k.Group.Bytes(), res.Group.Bytes()) {
		t.Fatalf("age's plaintext is share %d of another group", k.ID)
	}
}

func TestDealRefuses(t *testing.T) {
	ss, _ := servers(t, "a", "b", "c")
	for name, tc := range map[string]struct {
		t  int
		ss []Server
	}{
		"threshold above servers": {4, ss},
		"threshold one":           {1, ss},
		"duplicate name":          {2, []Server{ss[0], ss[1], {Name: "a", Recipient: ss[2].Recipient}}},
		"no recipient":            {2, []Server{ss[0], {Name: "x"}}},
	} {
		if _, err := Deal(rand.Reader, tc.t, tc.ss); err == nil {
			t.Errorf("%s: Deal succeeded", name)
		}
	}
}
