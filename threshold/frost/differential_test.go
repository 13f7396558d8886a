package frost

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// nobleVersion is the @noble/curves release whose ed25519_FROST (RFC 9591)
// the differential test runs against; v2 ships FROST in abstract/frost.
const nobleVersion = "2.4.0"

// installNoble installs @noble/curves into a cache directory outside the
// repository (once) and returns that directory. node and npm are required.
func installNoble(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required by this test; run ./scripts/test, which installs it", tool)
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(home, ".cache", "signet-test", "noble-curves-"+nobleVersion)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@noble", "curves", "abstract", "frost.js")); err == nil {
		return dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--no-save", "@noble/curves@"+nobleVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("installing @noble/curves@%s into %s: %v\n%s", nobleVersion, dir, err, out)
	}
	return dir
}

type nobleAnswer struct {
	NobleSignsGoKey string `json:"nobleSignsGoKey"`
	Mixed           struct {
		BHiding         string `json:"bHiding"`
		BBinding        string `json:"bBinding"`
		BShare          string `json:"bShare"`
		GoShareVerifies bool   `json:"goShareVerifies"`
		Signature       string `json:"signature"`
	} `json:"mixed"`
	NobleKey struct {
		Commitments []string          `json:"commitments"`
		Shares      map[string]string `json:"shares"`
		Signature   string            `json:"signature"`
	} `json:"nobleKey"`
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex from noble %q: %v", s, err)
	}
	return b
}

// TestNobleDifferential runs the same key shares through this package and
// @noble/curves' independent RFC 9591 implementation, under node:
//   - noble accepts our dealer's shares (its vss_verify) and signs with
//     them; crypto/ed25519 accepts the result;
//   - in one session we sign as participant 1 and noble as participant 3:
//     each side verifies the other's share, both aggregate, and both
//     signatures verify. From the same randomness noble derives the same
//     nonce commitments and the same share as we do, byte for byte;
//   - we parse noble's dealer output (our vss_verify), sign 2-of-3 with it,
//     and verify the signature noble made with that key.
func TestNobleDifferential(t *testing.T) {
	dir := installNoble(t)
	shares, g := deal(t, 2, 3)
	msg := []byte("signed by two implementations\n")

	// Our participant 3 computes, from the randomness noble will use, the
	// commitment noble should arrive at; participant 1 commits and signs.
	bRand := make([]byte, 64)
	rand.Read(bRand)
	n3, err := shares[2].Commit(bytes.NewReader(append(bytes.Clone(bRand), make([]byte, 16)...)))
	if err != nil {
		t.Fatal(err)
	}
	n1, err := shares[0].Commit(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	comms := []SigningCommitment{n1.Commitment, n3.Commitment}
	p1n3 := *n3 // our own copy of participant 3's nonces, to compare shares
	store := &MemoryNonceStore{}
	s1, err := shares[0].Sign(store, n1, msg, comms)
	if err != nil {
		t.Fatal(err)
	}
	ourS3, err := shares[2].Sign(store, &p1n3, msg, comms)
	if err != nil {
		t.Fatal(err)
	}

	req := map[string]any{
		"msg": hex.EncodeToString(msg),
		"go": map[string]any{
			"min": g.MinSigners, "max": g.MaxSigners,
			"commitments":     hexPoints(g),
			"verifyingShares": verifyingSharesHex(t, g),
			"shares":          sharesHex(shares),
		},
		"mixed": map[string]any{
			"a": map[string]string{
				"identifier": hex.EncodeToString(Identifier(1).encode()),
				"hiding":     hex.EncodeToString(n1.Commitment.Hiding.Bytes()),
				"binding":    hex.EncodeToString(n1.Commitment.Binding.Bytes()),
				"share":      hex.EncodeToString(s1.Z.Bytes()),
			},
			"b":           hex.EncodeToString(Identifier(3).encode()),
			"bRandomness": hex.EncodeToString(bRand),
		},
	}
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "testdata/noble/frost.mjs", dir)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("noble driver: %v\n%s", err, stderr.String())
	}
	var ans nobleAnswer
	if err := json.Unmarshal(out, &ans); err != nil {
		t.Fatalf("noble driver answer %q: %v", out, err)
	}

	// 1. noble signs with our dealer's shares.
	if !ed25519.Verify(g.PublicKey(), msg, unhex(t, ans.NobleSignsGoKey)) {
		t.Error("noble's signature with our shares does not verify")
	}

	// 2. The mixed session.
	if got := ans.Mixed.BHiding + ans.Mixed.BBinding; got != hex.EncodeToString(n3.Commitment.Hiding.Bytes())+hex.EncodeToString(n3.Commitment.Binding.Bytes()) {
		t.Errorf("noble derived other nonce commitments from the same randomness: %s", got)
	}
	if ans.Mixed.BShare != hex.EncodeToString(ourS3.Z.Bytes()) {
		t.Errorf("noble's share %s differs from ours %x for the same nonces", ans.Mixed.BShare, ourS3.Z.Bytes())
	}
	if !ans.Mixed.GoShareVerifies {
		t.Error("noble refused our signature share")
	}
	s3, err := ParseSignatureShare(append(Identifier(3).encode(), unhex(t, ans.Mixed.BShare)...))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.VerifySignatureShare(s3, comms, msg); err != nil {
		t.Errorf("we refuse noble's share: %v", err)
	}
	sig, err := g.Aggregate(comms, msg, []SignatureShare{s1, s3})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sig, unhex(t, ans.Mixed.Signature)) {
		t.Errorf("aggregates differ:\n ours  %x\n noble %s", sig, ans.Mixed.Signature)
	}
	if !ed25519.Verify(g.PublicKey(), msg, unhex(t, ans.Mixed.Signature)) {
		t.Error("noble's aggregate of the mixed session does not verify")
	}

	// 3. noble's dealer, our signers.
	var gb []byte
	gb = append(gb, groupMagic...)
	gb = binary.BigEndian.AppendUint16(gb, 2)
	gb = binary.BigEndian.AppendUint16(gb, 3)
	for _, c := range ans.NobleKey.Commitments {
		gb = append(gb, unhex(t, c)...)
	}
	ng, err := ParseGroupInfo(gb)
	if err != nil {
		t.Fatalf("noble's group commitment: %v", err)
	}
	var nshares []*KeyShare
	ids := make([]string, 0, len(ans.NobleKey.Shares))
	for id := range ans.NobleKey.Shares {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, idHex := range ids {
		id, err := decodeIdentifier(unhex(t, idHex))
		if err != nil {
			t.Fatalf("noble identifier %s: %v", idHex, err)
		}
		kb := append([]byte(shareMagic), byte(id>>8), byte(id))
		kb = append(kb, unhex(t, ans.NobleKey.Shares[idHex])...)
		k, err := ParseKeyShare(append(kb, gb...))
		if err != nil {
			t.Fatalf("noble's share for %d: %v", id, err)
		}
		nshares = append(nshares, k)
	}
	if len(nshares) != 3 {
		t.Fatalf("noble dealt %d shares", len(nshares))
	}
	if sig := signWith(t, ng, nshares[:2], msg); !ed25519.Verify(ng.PublicKey(), msg, sig) {
		t.Error("our signature with noble's shares does not verify")
	}
	if !ed25519.Verify(ng.PublicKey(), msg, unhex(t, ans.NobleKey.Signature)) {
		t.Error("noble's own signature does not verify under its group key")
	}
}

func hexPoints(g *GroupInfo) []string {
	var out []string
	for _, c := range g.Commitment {
		out = append(out, hex.EncodeToString(c.Bytes()))
	}
	return out
}

func verifyingSharesHex(t *testing.T, g *GroupInfo) map[string]string {
	out := map[string]string{}
	for id := Identifier(1); int(id) <= g.MaxSigners; id++ {
		p, err := g.VerifyingShare(id)
		if err != nil {
			t.Fatal(err)
		}
		out[hex.EncodeToString(id.encode())] = hex.EncodeToString(p.Bytes())
	}
	return out
}

func sharesHex(shares []*KeyShare) map[string]string {
	out := map[string]string{}
	for _, k := range shares {
		out[hex.EncodeToString(k.ID.encode())] = hex.EncodeToString(k.secret.Bytes())
	}
	return out
}
