package frost

import (
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"testing"
)

// BenchmarkThresholdSign measures one complete 2-of-3 signature in one
// process (no network): round one for two signers, round two for both,
// and Aggregate (which verifies both shares and the final signature), with
// the in-memory and the fsyncing file nonce store. BenchmarkEd25519Sign is
// the single-key baseline of the same run.
func BenchmarkThresholdSign(b *testing.B) {
	shares, g := deal(b, 2, 3)
	signers := []*KeyShare{shares[0], shares[2]}
	msg := make([]byte, 64)
	fileStore, err := OpenFileNonceStore(filepath.Join(b.TempDir(), "nonces"))
	if err != nil {
		b.Fatal(err)
	}
	defer fileStore.Close()
	for _, bc := range []struct {
		name  string
		store NonceStore
	}{{"2of3-memory-nonces", &MemoryNonceStore{}}, {"2of3-file-nonces", fileStore}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				var comms [2]SigningCommitment
				var nonces [2]*SigningNonces
				for i, k := range signers {
					n, err := k.Commit(rand.Reader)
					if err != nil {
						b.Fatal(err)
					}
					nonces[i], comms[i] = n, n.Commitment
				}
				var ss [2]SignatureShare
				for i, k := range signers {
					s, err := k.Sign(bc.store, nonces[i], msg, comms[:])
					if err != nil {
						b.Fatal(err)
					}
					ss[i] = s
				}
				if _, err := g.Aggregate(comms[:], msg, ss[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEd25519Sign(b *testing.B) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 64)
	for b.Loop() {
		ed25519.Sign(priv, msg)
	}
}
