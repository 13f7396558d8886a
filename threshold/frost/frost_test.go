package frost

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/edwards25519"
)

func deal(t testing.TB, minS, maxS int) ([]*KeyShare, *GroupInfo) {
	t.Helper()
	shares, g, err := TrustedDealerKeygen(rand.Reader, minS, maxS)
	if err != nil {
		t.Fatal(err)
	}
	return shares, g
}

// signWith runs both rounds with the given signers and aggregates.
func signWith(t testing.TB, g *GroupInfo, signers []*KeyShare, msg []byte) []byte {
	t.Helper()
	store := &MemoryNonceStore{}
	nonces := make([]*SigningNonces, len(signers))
	comms := make([]SigningCommitment, len(signers))
	for i, k := range signers {
		n, err := k.Commit(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		nonces[i], comms[i] = n, n.Commitment
	}
	shares := make([]SignatureShare, len(signers))
	for i, k := range signers {
		s, err := k.Sign(store, nonces[i], msg, comms)
		if err != nil {
			t.Fatal(err)
		}
		shares[i] = s
	}
	sig, err := g.Aggregate(comms, msg, shares)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// subsets returns every subset of size k of s, in order.
func subsets(s []*KeyShare, k int) [][]*KeyShare {
	if k == 0 {
		return [][]*KeyShare{nil}
	}
	var out [][]*KeyShare
	for i := range len(s) - k + 1 {
		for _, rest := range subsets(s[i+1:], k-1) {
			out = append(out, append([]*KeyShare{s[i]}, rest...))
		}
	}
	return out
}

// TestEverySignerSetSigns checks that every set of t (and of more than t)
// signers of a freshly dealt key makes a signature that crypto/ed25519
// accepts under the group key, and that the key's shares all pass vss_verify.
func TestEverySignerSetSigns(t *testing.T) {
	for _, tc := range []struct{ t, n int }{{2, 3}, {3, 5}, {2, 2}, {4, 4}} {
		shares, g := deal(t, tc.t, tc.n)
		for _, k := range shares {
			if err := k.VerifyShare(); err != nil {
				t.Fatal(err)
			}
		}
		for size := tc.t; size <= tc.n; size++ {
			for _, set := range subsets(shares, size) {
				msg := []byte("release v1.2.3 of " + strings.Repeat("x", size))
				sig := signWith(t, g, set, msg)
				if !ed25519.Verify(g.PublicKey(), msg, sig) {
					t.Fatalf("%d-of-%d: signature by %d signers does not verify", tc.t, tc.n, size)
				}
				if ed25519.Verify(g.PublicKey(), append(msg, '!'), sig) {
					t.Fatal("signature verifies for another message")
				}
			}
		}
	}
}

// TestOpenSSLVerifies checks an aggregate with the real openssl (Ed25519,
// pkeyutl -rawin), and that openssl refuses it for another message.
func TestOpenSSLVerifies(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is required by this test; run ./scripts/test, which installs it")
	}
	shares, g := deal(t, 2, 3)
	msg := []byte("SHA256SUMS of release 7\n")
	sig := signWith(t, g, []*KeyShare{shares[2], shares[0]}, msg)
	dir := t.TempDir()
	spki, err := x509.MarshalPKIXPublicKey(g.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pub := write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	sigPath := write("sig", sig)
	verify := func(msgPath string) (string, error) {
		out, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", msgPath, "-sigfile", sigPath).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(write("msg", msg)); err != nil || !strings.Contains(out, "Signature Verified Successfully") {
		t.Fatalf("openssl refused the threshold signature: %v\n%s", err, out)
	}
	if out, err := verify(write("other", append(msg, 'x'))); err == nil {
		t.Fatalf("openssl accepted the signature for another message:\n%s", out)
	}
}

type failingStore struct{ err error }

func (f failingStore) Consume(NonceID) error { return f.err }

// TestSignRefuses lists the round-two inputs a signer must refuse, and
// checks that each refusal releases nothing and still burns the nonce.
func TestSignRefuses(t *testing.T) {
	shares, _ := deal(t, 2, 3)
	msg := []byte("m")
	other, _ := deal(t, 2, 3)
	otherNonce, err := other[1].Commit(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		store NonceStore
		edit  func(own SigningCommitment, peer SigningCommitment) []SigningCommitment
		want  string
	}{
		{"too few signers", nil, func(o, p SigningCommitment) []SigningCommitment { return []SigningCommitment{o} }, "1 signers, need between 2 and 3"},
		{"duplicate identifier", nil, func(o, p SigningCommitment) []SigningCommitment { p.ID = o.ID; return []SigningCommitment{o, p} }, "appears twice"},
		{"identifier out of range", nil, func(o, p SigningCommitment) []SigningCommitment { p.ID = 4; return []SigningCommitment{o, p} }, "outside 1..3"},
		{"identifier zero", nil, func(o, p SigningCommitment) []SigningCommitment { p.ID = 0; return []SigningCommitment{o, p} }, "outside 1..3"},
		{"own commitment missing", nil, func(o, p SigningCommitment) []SigningCommitment {
			q := otherNonce.Commitment
			q.ID = 3
			return []SigningCommitment{q, p}
		}, "not in the commitment list"},
		{"own commitment replaced", nil, func(o, p SigningCommitment) []SigningCommitment {
			o.Hiding = otherNonce.Commitment.Hiding
			return []SigningCommitment{o, p}
		}, "different commitment"},
		{"identity commitment", nil, func(o, p SigningCommitment) []SigningCommitment {
			p.Binding = edwards25519.NewIdentityPoint()
			return []SigningCommitment{o, p}
		}, "identity"},
		{"store fails", failingStore{errors.New("disk full")}, func(o, p SigningCommitment) []SigningCommitment { return []SigningCommitment{o, p} }, "disk full"},
		{"store says used", failingStore{ErrNonceUsed}, func(o, p SigningCommitment) []SigningCommitment { return []SigningCommitment{o, p} }, "already used"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n1, err := shares[0].Commit(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			n2, err := shares[1].Commit(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			store := tc.store
			if store == nil {
				store = &MemoryNonceStore{}
			}
			s, err := shares[0].Sign(store, n1, msg, tc.edit(n1.Commitment, n2.Commitment))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Sign: got %v, want an error containing %q", err, tc.want)
			}
			if s.Z != nil {
				t.Fatal("a refused Sign returned a share")
			}
			zero := edwards25519.NewScalar()
			if n1.hiding.Equal(zero) != 1 || n1.binding.Equal(zero) != 1 {
				t.Fatal("a refused Sign left the nonces in memory")
			}
			// The burnt nonce cannot be used for a correct list either.
			if _, err := shares[0].Sign(&MemoryNonceStore{}, n1, msg, []SigningCommitment{n1.Commitment, n2.Commitment}); !errors.Is(err, ErrNonceUsed) {
				t.Fatalf("second Sign with burnt nonces: %v", err)
			}
		})
	}
}

// TestNonceReuseRefused checks that one nonce id yields at most one share,
// even when the caller re-creates the nonces (here from the same
// randomness) and asks for a share over another message.
func TestNonceReuseRefused(t *testing.T) {
	shares, _ := deal(t, 2, 3)
	randomness := make([]byte, 32+32+16)
	rand.Read(randomness)
	commit := func(k *KeyShare) *SigningNonces {
		n, err := k.Commit(bytes.NewReader(randomness))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	peer, err := shares[1].Commit(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	store := &MemoryNonceStore{}
	n := commit(shares[0])
	if _, err := shares[0].Sign(store, n, []byte("one"), []SigningCommitment{n.Commitment, peer.Commitment}); err != nil {
		t.Fatal(err)
	}
	again := commit(shares[0])
	if _, err := shares[0].Sign(store, again, []byte("two"), []SigningCommitment{again.Commitment, peer.Commitment}); !errors.Is(err, ErrNonceUsed) {
		t.Fatalf("second share from the same nonce: got %v, want ErrNonceUsed", err)
	}
}

// TestAggregateNamesBadShare checks that a corrupted share is refused and
// its sender named, and that good shares alone are not enough to hide it.
func TestAggregateNamesBadShare(t *testing.T) {
	shares, g := deal(t, 2, 3)
	msg := []byte("artifact")
	store := &MemoryNonceStore{}
	signers := []*KeyShare{shares[0], shares[2]}
	var nonces []*SigningNonces
	var comms []SigningCommitment
	for _, k := range signers {
		n, err := k.Commit(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		nonces = append(nonces, n)
		comms = append(comms, n.Commitment)
	}
	var sigShares []SignatureShare
	for i, k := range signers {
		s, err := k.Sign(store, nonces[i], msg, comms)
		if err != nil {
			t.Fatal(err)
		}
		sigShares = append(sigShares, s)
	}
	bad := sigShares[1]
	bad.Z = new(edwards25519.Scalar).Add(bad.Z, scalarFromUint(1))
	_, err := g.Aggregate(comms, msg, []SignatureShare{sigShares[0], bad})
	var se *ShareError
	if !errors.As(err, &se) || se.ID != 3 {
		t.Fatalf("Aggregate with a bad share from 3: got %v, want a ShareError naming 3", err)
	}
	if err := g.VerifySignatureShare(sigShares[1], comms, msg); err != nil {
		t.Fatalf("good share refused: %v", err)
	}
	if err := g.VerifySignatureShare(sigShares[0], comms, []byte("other")); err == nil {
		t.Fatal("share verified for another message")
	}
	// A share presented under another signer's identifier is refused.
	swapped := sigShares[0]
	swapped.ID = 3
	if _, err := g.Aggregate(comms, msg, []SignatureShare{swapped, sigShares[1]}); err == nil {
		t.Fatal("Aggregate accepted two shares from one signer")
	}
	if _, err := g.Aggregate(comms, msg, sigShares[:1]); err == nil {
		t.Fatal("Aggregate accepted fewer shares than commitments")
	}
}

// TestDealerLeavesNoSecret checks that the dealer overwrites the group
// secret and every coefficient, that a KeyShare can be zeroed, and that t-1
// shares (here the Lagrange combination over too few signers) do not give
// the group key.
func TestDealerLeavesNoSecret(t *testing.T) {
	var seen []*edwards25519.Scalar
	dealerDone = func(c []*edwards25519.Scalar) { seen = c }
	defer func() { dealerDone = nil }()
	shares, g := deal(t, 3, 5)
	if len(seen) != 3 {
		t.Fatalf("dealer hook saw %d coefficients, want 3", len(seen))
	}
	for i, c := range seen {
		if c.Equal(edwards25519.NewScalar()) != 1 {
			t.Fatalf("coefficient %d was not overwritten", i)
		}
	}
	// Interpolating t-1 = 2 shares at 0 does not give the group key.
	ids := []Identifier{1, 2}
	sum := edwards25519.NewScalar()
	for _, k := range shares[:2] {
		l, err := deriveInterpolatingValue(ids, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		sum.MultiplyAdd(l, &k.secret, sum)
	}
	if bytes.Equal(new(edwards25519.Point).ScalarBaseMult(sum).Bytes(), g.PublicKey()) {
		t.Fatal("two shares of a 3-of-5 key interpolate to the group secret")
	}
	shares[0].Zero()
	if shares[0].secret.Equal(edwards25519.NewScalar()) != 1 {
		t.Fatal("Zero left the secret share")
	}
	if err := shares[0].VerifyShare(); err == nil {
		t.Fatal("a zeroed share still passes vss_verify")
	}
	for _, tc := range []struct{ t, n int }{{1, 3}, {4, 3}, {2, 256}, {0, 0}} {
		if _, _, err := TrustedDealerKeygen(rand.Reader, tc.t, tc.n); err == nil {
			t.Errorf("TrustedDealerKeygen(%d, %d) succeeded", tc.t, tc.n)
		}
	}
}

// TestEncodingsRoundTrip checks every encoding against its decoder, and
// that ParseKeyShare runs vss_verify.
func TestEncodingsRoundTrip(t *testing.T) {
	shares, g := deal(t, 2, 3)
	n, err := shares[1].Commit(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseSigningCommitment(n.Commitment.Bytes())
	if err != nil || !bytes.Equal(c.Bytes(), n.Commitment.Bytes()) || c.ID != 2 {
		t.Fatalf("commitment round trip: %v", err)
	}
	gi, err := ParseGroupInfo(g.Bytes())
	if err != nil || !bytes.Equal(gi.Bytes(), g.Bytes()) {
		t.Fatalf("group info round trip: %v", err)
	}
	ks, err := ParseKeyShare(shares[2].Bytes())
	if err != nil || !bytes.Equal(ks.Bytes(), shares[2].Bytes()) {
		t.Fatalf("key share round trip: %v", err)
	}
	share := SignatureShare{ID: 3, Z: scalarFromUint(12345)}
	s, err := ParseSignatureShare(share.Bytes())
	if err != nil || !bytes.Equal(s.Bytes(), share.Bytes()) {
		t.Fatalf("share round trip: %v", err)
	}
	tampered := shares[2].Bytes()
	tampered[len(shareMagic)+2] ^= 1
	if _, err := ParseKeyShare(tampered); err == nil || !strings.Contains(err.Error(), "VSS commitment") {
		t.Fatalf("tampered key share: got %v, want a vss_verify failure", err)
	}
	wrongID := shares[2].Bytes()
	wrongID[len(shareMagic)+1] = 2
	if _, err := ParseKeyShare(wrongID); err == nil {
		t.Fatal("a share presented under another identifier was accepted")
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// TestDecodersRefuse lists malformed encodings every decoder must refuse.
func TestDecodersRefuse(t *testing.T) {
	base := edwards25519.NewGeneratorPoint().Bytes()
	id1 := Identifier(1).encode()
	// An order-8 point, the identity, a non-canonical encoding (y = p + 1,
	// which SetBytes would read as y = 1) and G plus the order-8 point.
	order8 := mustHex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
	identity := mustHex("0100000000000000000000000000000000000000000000000000000000000000")
	nonCanon := mustHex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
	t8, err := new(edwards25519.Point).SetBytes(order8)
	if err != nil {
		t.Fatal(err)
	}
	if new(edwards25519.Point).MultByCofactor(t8).Equal(edwards25519.NewIdentityPoint()) != 1 || t8.Equal(edwards25519.NewIdentityPoint()) == 1 {
		t.Fatal("test point is not a small-order point")
	}
	mixed := new(edwards25519.Point).Add(edwards25519.NewGeneratorPoint(), t8).Bytes()
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for name, b := range map[string][]byte{
		"short":         cat(id1, base),
		"identity":      cat(id1, base, identity),
		"order 8":       cat(id1, order8, base),
		"torsion mixed": cat(id1, mixed, base),
		"non-canonical": cat(id1, base, nonCanon),
		"id zero":       cat(make([]byte, 32), base, base),
		"id 256":        cat(Identifier(255).scalar().Add(Identifier(255).scalar(), scalarFromUint(1)).Bytes(), base, base),
		"id high byte":  cat(append([]byte{1}, append(make([]byte, 30), 1)...), base, base),
		"not a point":   cat(id1, base, mustHex("0200000000000000000000000000000000000000000000000000000000000000")),
	} {
		if _, err := ParseSigningCommitment(b); err == nil {
			t.Errorf("ParseSigningCommitment accepted %s", name)
		}
	}
	l := mustHex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010") // the group order
	if _, err := ParseSignatureShare(cat(id1, l)); err == nil {
		t.Error("ParseSignatureShare accepted z = L")
	}
	_, g := deal(t, 2, 3)
	gb := g.Bytes()
	for name, b := range map[string][]byte{
		"trailing":   append(slicesClone(gb), 0),
		"truncated":  gb[:len(gb)-1],
		"t above n":  cat([]byte(groupMagic), []byte{0, 4, 0, 3}, gb[len(groupMagic)+4:]),
		"t one":      cat([]byte(groupMagic), []byte{0, 1, 0, 3}, gb[len(groupMagic)+4:]),
		"n too big":  cat([]byte(groupMagic), []byte{0, 2, 1, 0}, gb[len(groupMagic)+4:]),
		"bad magic":  cat([]byte("signet-frost-ed25519-share-v1\n"), gb[len(groupMagic):]),
		"torsion C1": cat(gb[:len(gb)-32], mixed),
	} {
		if _, err := ParseGroupInfo(b); err == nil {
			t.Errorf("ParseGroupInfo accepted %s", name)
		}
	}
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

// TestZeroValuesRefused checks that hand-made, incomplete values give
// errors, not panics.
func TestZeroValuesRefused(t *testing.T) {
	empty := &GroupInfo{}
	holey := &GroupInfo{MinSigners: 2, MaxSigners: 3, Commitment: make([]*edwards25519.Point, 2)}
	for name, g := range map[string]*GroupInfo{"empty": empty, "nil points": holey} {
		k := &KeyShare{ID: 1, Group: g}
		if _, err := k.Commit(rand.Reader); err == nil {
			t.Errorf("%s: Commit succeeded", name)
		}
		if _, err := k.Sign(&MemoryNonceStore{}, &SigningNonces{}, nil, nil); err == nil {
			t.Errorf("%s: Sign succeeded", name)
		}
		if _, err := g.VerifyingShare(1); err == nil {
			t.Errorf("%s: VerifyingShare succeeded", name)
		}
		if err := g.VerifySignatureShare(SignatureShare{ID: 1}, nil, nil); err == nil {
			t.Errorf("%s: VerifySignatureShare succeeded", name)
		}
		if _, err := g.Aggregate(nil, nil, nil); err == nil {
			t.Errorf("%s: Aggregate succeeded", name)
		}
		if g.PublicKey() != nil && name == "empty" {
			t.Errorf("%s: PublicKey is not nil", name)
		}
		if err := k.VerifyShare(); err == nil {
			t.Errorf("%s: VerifyShare succeeded", name)
		}
	}
	shares, _ := deal(t, 2, 3)
	if _, err := shares[0].Sign(&MemoryNonceStore{}, &SigningNonces{}, nil, nil); err == nil {
		t.Error("Sign with zero-value nonces succeeded")
	}
	if _, err := (&KeyShare{ID: 1}).Commit(rand.Reader); err == nil {
		t.Error("Commit without group succeeded")
	}
}
