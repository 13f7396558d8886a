package frost

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"filippo.io/edwards25519"
)

// loadVectors reads testdata/rfc9591-ed25519-sha512.txt (RFC 9591
// Appendix E.1). participant_list appears twice (rounds one and two) with
// the same value.
func loadVectors(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("testdata/rfc9591-ed25519-sha512.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, val, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("bad vector line %q", line)
		}
		if old, dup := v[k]; dup && old != val {
			t.Fatalf("vector %s given twice with different values", k)
		}
		v[k] = val
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return v
}

func vhex(t *testing.T, v map[string]string, k string) []byte {
	t.Helper()
	s, ok := v[k]
	if !ok {
		t.Fatalf("vector %s missing", k)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("vector %s: %v", k, err)
	}
	return b
}

func vscalar(t *testing.T, v map[string]string, k string) *edwards25519.Scalar {
	t.Helper()
	s, err := decodeScalar(vhex(t, v, k))
	if err != nil {
		t.Fatalf("vector %s: %v", k, err)
	}
	return s
}

func checkHex(t *testing.T, v map[string]string, k string, got []byte) {
	t.Helper()
	if want := vhex(t, v, k); !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %x\nwant %x", k, got, want)
	}
}

// TestRFC9591Vectors reproduces every value of RFC 9591 Appendix E.1:
// the dealer's shares and group key from the fixed polynomial, the nonces
// and commitments from the given randomness, the binding factor inputs and
// factors, both signature shares and the final signature.
func TestRFC9591Vectors(t *testing.T) {
	v := loadVectors(t)
	if v["MAX_PARTICIPANTS"] != "3" || v["MIN_PARTICIPANTS"] != "2" || v["NUM_PARTICIPANTS"] != "2" || v["participant_list"] != "1,3" {
		t.Fatalf("unexpected configuration in vector file: %v", v)
	}
	msg := vhex(t, v, "message")

	// Key generation (Appendix C) with the RFC's polynomial.
	coeffs := []*edwards25519.Scalar{vscalar(t, v, "group_secret_key"), vscalar(t, v, "share_polynomial_coefficients[1]")}
	shares, g, err := dealWithCoefficients(coeffs, 3)
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, v, "group_public_key", g.PublicKey())
	for i, ks := range shares {
		p := "P" + string(rune('1'+i))
		checkHex(t, v, p+" participant_share", ks.secret.Bytes())
		if err := ks.VerifyShare(); err != nil {
			t.Errorf("%s: vss_verify: %v", p, err)
		}
	}

	// Round one: nonces from the RFC's randomness. Commit reads the hiding
	// then the binding randomness, then 16 bytes of nonce id.
	signers := map[string]*KeyShare{"P1": shares[0], "P3": shares[2]}
	nonces := map[string]*SigningNonces{}
	var commitments []SigningCommitment
	for _, p := range []string{"P1", "P3"} {
		r := append(vhex(t, v, p+" hiding_nonce_randomness"), vhex(t, v, p+" binding_nonce_randomness")...)
		r = append(r, bytes.Repeat([]byte(p[1:]), 16)...)
		n, err := signers[p].Commit(bytes.NewReader(r))
		if err != nil {
			t.Fatal(err)
		}
		checkHex(t, v, p+" hiding_nonce", n.hiding.Bytes())
		checkHex(t, v, p+" binding_nonce", n.binding.Bytes())
		checkHex(t, v, p+" hiding_nonce_commitment", n.Commitment.Hiding.Bytes())
		checkHex(t, v, p+" binding_nonce_commitment", n.Commitment.Binding.Bytes())
		nonces[p] = n
		commitments = append(commitments, n.Commitment)
	}

	// Binding factors.
	sorted, err := g.sortedCommitments(commitments)
	if err != nil {
		t.Fatal(err)
	}
	bfs := computeBindingFactors(g.PublicKey(), sorted, msg)
	for i, p := range []string{"P1", "P3"} {
		checkHex(t, v, p+" binding_factor_input", bfs[i].input)
		checkHex(t, v, p+" binding_factor", bfs[i].factor.Bytes())
	}

	// Round two, through the public Sign with a nonce store.
	store := &MemoryNonceStore{}
	var sigShares []SignatureShare
	for _, p := range []string{"P1", "P3"} {
		s, err := signers[p].Sign(store, nonces[p], msg, commitments)
		if err != nil {
			t.Fatal(err)
		}
		checkHex(t, v, p+" sig_share", s.Z.Bytes())
		if err := g.VerifySignatureShare(s, commitments, msg); err != nil {
			t.Errorf("%s: verify_signature_share: %v", p, err)
		}
		sigShares = append(sigShares, s)
	}

	sig, err := g.Aggregate(commitments, msg, sigShares)
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, v, "sig", sig)
	if !ed25519.Verify(vhex(t, v, "group_public_key"), msg, vhex(t, v, "sig")) {
		t.Error("the RFC's signature does not verify with crypto/ed25519")
	}
}
