package frost

import (
	"errors"
	"fmt"
	"io"

	"filippo.io/edwards25519"
)

// randomScalar draws a uniformly random non-zero scalar from 64 bytes.
func randomScalar(rand io.Reader) (*edwards25519.Scalar, error) {
	var b [64]byte
	defer clear(b[:])
	for range 8 {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return nil, fmt.Errorf("frost: reading randomness: %w", err)
		}
		s, err := edwards25519.NewScalar().SetUniformBytes(b[:])
		if err != nil {
			return nil, err
		}
		if s.Equal(edwards25519.NewScalar()) == 0 {
			return s, nil
		}
	}
	return nil, errors.New("frost: random source keeps returning zero scalars")
}

// dealerDone, when set by a test, sees the dealer's coefficients after
// they were overwritten.
var dealerDone func([]*edwards25519.Scalar)

// TrustedDealerKeygen is the trusted-dealer ceremony of RFC 9591 Appendix C:
// it draws a group secret and a random polynomial of degree minSigners-1,
// hands participant i (1..maxSigners) the share f(i), publishes the VSS
// commitment to the polynomial, and overwrites the secret and the
// coefficients before returning. Run it offline; each returned KeyShare
// must go to its server only (and be Zeroed by the dealer once sealed).
func TrustedDealerKeygen(rand io.Reader, minSigners, maxSigners int) ([]*KeyShare, *GroupInfo, error) {
	if err := checkThreshold(minSigners, maxSigners); err != nil {
		return nil, nil, err
	}
	coeffs := make([]*edwards25519.Scalar, minSigners)
	defer func() {
		for _, c := range coeffs {
			zeroScalar(c)
		}
		if dealerDone != nil {
			dealerDone(coeffs)
		}
	}()
	for i := range coeffs {
		c, err := randomScalar(rand)
		if err != nil {
			return nil, nil, err
		}
		coeffs[i] = c
	}
	return dealWithCoefficients(coeffs, maxSigners)
}

func checkThreshold(minSigners, maxSigners int) error {
	if minSigners < 2 || minSigners > maxSigners || maxSigners > MaxParticipants {
		return fmt.Errorf("frost: threshold %d-of-%d is not allowed (need 2 <= t <= n <= %d)", minSigners, maxSigners, MaxParticipants)
	}
	return nil
}

// dealWithCoefficients is secret_share_shard plus vss_commit for given
// coefficients (coeffs[0] is the group secret); split out so the RFC's test
// vector, which fixes the polynomial, can be checked. The caller owns and
// zeroes coeffs.
func dealWithCoefficients(coeffs []*edwards25519.Scalar, maxSigners int) ([]*KeyShare, *GroupInfo, error) {
	if err := checkThreshold(len(coeffs), maxSigners); err != nil {
		return nil, nil, err
	}
	if coeffs[0].Equal(edwards25519.NewScalar()) == 1 {
		return nil, nil, errors.New("frost: group secret is zero")
	}
	g := &GroupInfo{MinSigners: len(coeffs), MaxSigners: maxSigners, Commitment: vssCommit(coeffs)}
	shares := make([]*KeyShare, maxSigners)
	for i := range shares {
		id := Identifier(i + 1)
		y := polynomialEvaluate(id.scalar(), coeffs)
		shares[i] = &KeyShare{ID: id, Group: g}
		shares[i].secret.Set(y)
		zeroScalar(y)
	}
	return shares, g, nil
}

// polynomialEvaluate is polynomial_evaluate (Horner's rule).
func polynomialEvaluate(x *edwards25519.Scalar, coeffs []*edwards25519.Scalar) *edwards25519.Scalar {
	v := edwards25519.NewScalar()
	for i := len(coeffs) - 1; i >= 0; i-- {
		v.MultiplyAdd(v, x, coeffs[i])
	}
	return v
}

// vssCommit is vss_commit: C_j = a_j·G.
func vssCommit(coeffs []*edwards25519.Scalar) []*edwards25519.Point {
	out := make([]*edwards25519.Point, len(coeffs))
	for i, c := range coeffs {
		out[i] = new(edwards25519.Point).ScalarBaseMult(c)
	}
	return out
}

// vssEvaluate returns Σ C_j·id^j (public data: variable time).
func vssEvaluate(commitment []*edwards25519.Point, id Identifier) *edwards25519.Point {
	x := id.scalar()
	pows := make([]*edwards25519.Scalar, len(commitment))
	pow := scalarFromUint(1)
	for j := range commitment {
		pows[j] = new(edwards25519.Scalar).Set(pow)
		pow.Multiply(pow, x)
	}
	return new(edwards25519.Point).VarTimeMultiScalarMult(pows, commitment)
}

// VerifyShare is vss_verify: a receiver's check that its share lies on the
// polynomial the dealer committed to. ParseKeyShare runs it on every share
// it decodes.
func (k *KeyShare) VerifyShare() error {
	if k.Group == nil {
		return errors.New("frost: key share has no group information")
	}
	if err := k.Group.validate(); err != nil {
		return err
	}
	if err := k.Group.checkID(k.ID); err != nil {
		return err
	}
	if k.VerifyingShare().Equal(vssEvaluate(k.Group.Commitment, k.ID)) != 1 {
		return fmt.Errorf("frost: share of participant %d does not match the dealer's VSS commitment", k.ID)
	}
	return nil
}
