// Package tssrsa makes threshold RSA signatures (PKCS #1 v1.5 and PSS) with
// github.com/cloudflare/circl/tss/rsa (Shoup's "Practical Threshold
// Signatures", protocol 1) and finds the server that sent a bad share.
//
// # Scheme
//
// A dealer splits an RSA key whose primes are safe primes (circl's
// GenerateKey makes such keys; they take far longer to generate than
// ordinary RSA keys) into n key shares so that any t of them can sign
// ([Deal]). To sign, the coordinator sends t or more servers the digest
// and, for PSS, one salt it draws ([NewSalt]); each server pads the digest
// itself ([Pad], deterministic given the salt, so all arrive at the same
// representative) and answers a signature share ([SignShare]); [Combine] turns t shares into an ordinary RSA
// signature that crypto/rsa, openssl, gpg or rpm verify unchanged.
//
// # Naming a bad share
//
// circl's scheme is not robust: one wrong share makes the combination a
// wrong signature, and the shares carry no proof of correctness. [Combine]
// therefore checks every combination it makes against the public key and,
// when one fails, tries subsets of t shares until one verifies. Given a
// good subset, each other share is tested by swapping it for one member
// of that subset: the result verifies exactly when the share is good. So
// with at least t good shares among those received, every bad share is
// named (*BadSharesError). With fewer than t good shares no signature can
// be made; the error then lists the shares that may be bad, and asking more
// servers settles it.
//
// # What it leaves to the caller
//
// A server must sign only a representative it padded itself from the
// digest it authorized, never one it is handed: that would make it a raw
// RSA oracle. Key shares are secrets; circl's
// signing is not constant time in the share (blinding is on: SignShare
// passes a random source).
package tssrsa

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"slices"

	tss "github.com/cloudflare/circl/tss/rsa"
)

// Padding names the signature scheme.
type Padding int

const (
	PKCS1v15 Padding = iota // RSASSA-PKCS1-v1_5
	PSS                     // RSASSA-PSS, salt length = hash length
)

// Deal splits key into n shares of which t sign. key must have safe primes
// (tss.GenerateKey).
func Deal(rand io.Reader, key *rsa.PrivateKey, t, n int) ([]tss.KeyShare, error) {
	if t < 2 || t > n || n > 255 {
		return nil, fmt.Errorf("tssrsa: threshold %d-of-%d is not allowed (need 2 <= t <= n <= 255)", t, n)
	}
	shares, err := tss.Deal(rand, uint(n), uint(t), key, false)
	if err != nil {
		return nil, fmt.Errorf("tssrsa: dealing: %w", err)
	}
	return shares, nil
}

// NewSalt draws the PSS salt (hash-length) the coordinator sends along
// with the digest; PKCS #1 v1.5 has none.
func NewSalt(rand io.Reader, p Padding, hash crypto.Hash) ([]byte, error) {
	if p != PSS {
		return nil, nil
	}
	salt := make([]byte, hash.Size())
	if _, err := io.ReadFull(rand, salt); err != nil {
		return nil, fmt.Errorf("tssrsa: drawing the PSS salt: %w", err)
	}
	return salt, nil
}

// Pad returns the padded representative of digest (made with hash) that
// the servers sign. It is deterministic given the salt, so each server
// computes it itself from the digest it authorized and the coordinator's
// salt, instead of signing whatever representative it is sent (which
// would make it a raw RSA oracle).
func Pad(pub *rsa.PublicKey, p Padding, hash crypto.Hash, digest, salt []byte) ([]byte, error) {
	if !hash.Available() || len(digest) != hash.Size() {
		return nil, fmt.Errorf("tssrsa: digest is %d bytes, %v needs %d", len(digest), hash, hash.Size())
	}
	var padder tss.Padder
	var r *bytes.Reader
	switch p {
	case PKCS1v15:
		if len(salt) != 0 {
			return nil, errors.New("tssrsa: PKCS #1 v1.5 takes no salt")
		}
		padder = &tss.PKCS1v15Padder{}
	case PSS:
		if len(salt) != hash.Size() {
			return nil, fmt.Errorf("tssrsa: PSS salt is %d bytes, want %d", len(salt), hash.Size())
		}
		r = bytes.NewReader(salt)
		padder = &tss.PSSPadder{Rand: r, Opts: &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: hash}}
	default:
		return nil, fmt.Errorf("tssrsa: unknown padding %d", p)
	}
	em, err := padder.Pad(pub, hash, digest)
	if err != nil {
		return nil, fmt.Errorf("tssrsa: padding: %w", err)
	}
	if r != nil && r.Len() != 0 {
		return nil, errors.New("tssrsa: PSS padding did not use the whole salt")
	}
	return em, nil
}

// SignShare is one server's contribution over the padded representative.
func SignShare(rand io.Reader, share *tss.KeyShare, pub *rsa.PublicKey, padded []byte) (tss.SignShare, error) {
	s, err := share.Sign(rand, pub, padded, false)
	if err != nil {
		return tss.SignShare{}, fmt.Errorf("tssrsa: share %d: %w", share.Index, err)
	}
	return s, nil
}

// BadSharesError names the shares (by their index, 1..n) that were found
// bad, or, when no t shares combined to a valid signature, those that may
// be (Certain is false).
type BadSharesError struct {
	Indices []uint
	Certain bool
}

func (e *BadSharesError) Error() string {
	if e.Certain {
		return fmt.Sprintf("tssrsa: bad signature shares from participants %v", e.Indices)
	}
	return fmt.Sprintf("tssrsa: no threshold-sized subset of the shares combines to a valid signature; one or more of participants %v sent a bad share: ask more servers", e.Indices)
}

// maxTries bounds the subsets Combine tries.
const maxTries = 1 << 14

// Combine makes the signature from shares (at least t, distinct indices)
// and checks it with verify (rsa.VerifyPKCS1v15 or rsa.VerifyPSS over the
// digest, typically). It returns the signature even when some extra shares
// were bad, together with a *BadSharesError naming them; with no valid
// subset it returns only the error.
func Combine(pub *rsa.PublicKey, t, n int, shares []tss.SignShare, padded []byte, verify func(sig []byte) error) ([]byte, error) {
	if len(shares) < t {
		return nil, fmt.Errorf("tssrsa: %d signature shares, %d needed", len(shares), t)
	}
	seen := map[uint]bool{}
	for _, s := range shares {
		if s.Index == 0 || int(s.Index) > n || seen[s.Index] {
			return nil, fmt.Errorf("tssrsa: share index %d is out of range or repeated", s.Index)
		}
		seen[s.Index] = true
	}
	try := func(idx []int) (sig []byte) {
		// circl dereferences share values without checking them; a share
		// that was never filled in must count as bad, not crash the
		// coordinator.
		defer func() {
			if recover() != nil {
				sig = nil
			}
		}()
		sub := make([]tss.SignShare, len(idx))
		for i, j := range idx {
			sub[i] = shares[j]
		}
		sig, err := tss.CombineSignShares(pub, uint(n), uint(t), sub, padded)
		if err != nil || verify(sig) != nil {
			return nil
		}
		return sig
	}
	var good []int
	var sig []byte
	tries := 0
	for idx := range combinations(len(shares), t) {
		if tries++; tries > maxTries {
			return nil, fmt.Errorf("tssrsa: no valid combination within %d tries of %d shares", maxTries, len(shares))
		}
		if sig = try(idx); sig != nil {
			good = slices.Clone(idx)
			break
		}
	}
	if sig == nil {
		all := make([]uint, len(shares))
		for i, s := range shares {
			all[i] = s.Index
		}
		slices.Sort(all)
		return nil, &BadSharesError{Indices: all}
	}
	// Test every share outside the good subset in place of its first member.
	var bad []uint
	for j := range shares {
		if slices.Contains(good, j) {
			continue
		}
		idx := append([]int{j}, good[1:]...)
		if try(idx) == nil {
			bad = append(bad, shares[j].Index)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return sig, &BadSharesError{Indices: bad, Certain: true}
	}
	return sig, nil
}

// combinations yields the k-subsets of 0..n-1 in lexicographic order.
func combinations(n, k int) func(func([]int) bool) {
	return func(yield func([]int) bool) {
		idx := make([]int, k)
		for i := range idx {
			idx[i] = i
		}
		for {
			if !yield(idx) {
				return
			}
			i := k - 1
			for i >= 0 && idx[i] == n-k+i {
				i--
			}
			if i < 0 {
				return
			}
			idx[i]++
			for j := i + 1; j < k; j++ {
				idx[j] = idx[j-1] + 1
			}
		}
	}
}
