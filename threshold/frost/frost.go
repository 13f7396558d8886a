package frost

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"slices"

	"filippo.io/edwards25519"
)

// GroupInfo is the public description of a threshold key: the threshold,
// the number of shares and the VSS commitment C_0..C_{t-1} to the sharing
// polynomial. The group public key is C_0 and participant i's verifying
// share is Σ C_j·i^j (derive_group_info, RFC 9591 Appendix C.2).
type GroupInfo struct {
	MinSigners int
	MaxSigners int
	// Commitment holds MinSigners points; Commitment[0] is the group key.
	Commitment []*edwards25519.Point
}

// PublicKey returns the group public key as an Ed25519 public key, or nil
// for a GroupInfo without a commitment.
func (g *GroupInfo) PublicKey() ed25519.PublicKey {
	if len(g.Commitment) == 0 || g.Commitment[0] == nil {
		return nil
	}
	return ed25519.PublicKey(g.Commitment[0].Bytes())
}

// VerifyingShare returns s_i·G for participant id, evaluated from the VSS
// commitment.
func (g *GroupInfo) VerifyingShare(id Identifier) (*edwards25519.Point, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	if err := g.checkID(id); err != nil {
		return nil, err
	}
	return vssEvaluate(g.Commitment, id), nil
}

func (g *GroupInfo) checkID(id Identifier) error {
	if id == 0 || int(id) > g.MaxSigners {
		return fmt.Errorf("frost: identifier %d outside 1..%d", id, g.MaxSigners)
	}
	return nil
}

func (g *GroupInfo) validate() error {
	if g.MinSigners < 2 || g.MinSigners > g.MaxSigners || g.MaxSigners > MaxParticipants {
		return fmt.Errorf("frost: threshold %d-of-%d is not allowed (need 2 <= t <= n <= %d)", g.MinSigners, g.MaxSigners, MaxParticipants)
	}
	if len(g.Commitment) != g.MinSigners {
		return fmt.Errorf("frost: VSS commitment has %d points, want %d", len(g.Commitment), g.MinSigners)
	}
	for i, c := range g.Commitment {
		if c == nil || c.Equal(edwards25519.NewIdentityPoint()) == 1 {
			return fmt.Errorf("frost: VSS commitment point %d is the identity", i)
		}
	}
	return nil
}

// KeyShare is what one signer holds: its identifier, its secret share and
// the public group description.
type KeyShare struct {
	ID     Identifier
	Group  *GroupInfo
	secret edwards25519.Scalar
}

// Zero overwrites the secret share. The KeyShare cannot sign afterwards.
func (k *KeyShare) Zero() { zeroScalar(&k.secret) }

// VerifyingShare returns this participant's public verifying share s_i·G.
func (k *KeyShare) VerifyingShare() *edwards25519.Point {
	return new(edwards25519.Point).ScalarBaseMult(&k.secret)
}

// NonceID names one pair of signing nonces for a NonceStore.
type NonceID [16]byte

// SigningNonces are a signer's secret round-one state. They are used by at
// most one call to Sign and overwritten by it. Do not copy them.
type SigningNonces struct {
	ID         NonceID
	Commitment SigningCommitment
	hiding     edwards25519.Scalar
	binding    edwards25519.Scalar
	spent      bool
}

func (n *SigningNonces) zero() {
	zeroScalar(&n.hiding)
	zeroScalar(&n.binding)
	n.spent = true
}

// SigningCommitment is a signer's public round-one output.
type SigningCommitment struct {
	ID      Identifier
	Hiding  *edwards25519.Point
	Binding *edwards25519.Point
}

// SignatureShare is a signer's round-two output.
type SignatureShare struct {
	ID Identifier
	Z  *edwards25519.Scalar
}

// nonceGenerate is nonce_generate: H3(random_bytes ‖ SerializeScalar(secret)).
func nonceGenerate(rand io.Reader, secret *edwards25519.Scalar) (*edwards25519.Scalar, error) {
	var rb [32]byte
	if _, err := io.ReadFull(rand, rb[:]); err != nil {
		return nil, fmt.Errorf("frost: reading nonce randomness: %w", err)
	}
	sb := secret.Bytes()
	n := h3(append(rb[:], sb...))
	clear(rb[:])
	clear(sb)
	return n, nil
}

// Commit is round one (commit): it draws a hiding and a binding nonce, in
// that order, from rand and the secret share, then a random NonceID.
func (k *KeyShare) Commit(rand io.Reader) (*SigningNonces, error) {
	if k.Group == nil {
		return nil, errors.New("frost: key share has no group information")
	}
	if err := k.Group.validate(); err != nil {
		return nil, err
	}
	if err := k.Group.checkID(k.ID); err != nil {
		return nil, err
	}
	hiding, err := nonceGenerate(rand, &k.secret)
	if err != nil {
		return nil, err
	}
	binding, err := nonceGenerate(rand, &k.secret)
	if err != nil {
		zeroScalar(hiding)
		return nil, err
	}
	n := &SigningNonces{}
	n.hiding.Set(hiding)
	n.binding.Set(binding)
	zeroScalar(hiding)
	zeroScalar(binding)
	if _, err := io.ReadFull(rand, n.ID[:]); err != nil {
		n.zero()
		return nil, fmt.Errorf("frost: reading nonce id: %w", err)
	}
	n.Commitment = SigningCommitment{
		ID:      k.ID,
		Hiding:  new(edwards25519.Point).ScalarBaseMult(&n.hiding),
		Binding: new(edwards25519.Point).ScalarBaseMult(&n.binding),
	}
	return n, nil
}

// sortedCommitments validates a commitment list against the group and
// returns it sorted by identifier: between MinSigners and MaxSigners
// entries, identifiers in range and distinct, points not the identity.
func (g *GroupInfo) sortedCommitments(list []SigningCommitment) ([]SigningCommitment, error) {
	if len(list) < g.MinSigners || len(list) > g.MaxSigners {
		return nil, fmt.Errorf("frost: %d signers, need between %d and %d", len(list), g.MinSigners, g.MaxSigners)
	}
	s := slices.Clone(list)
	slices.SortFunc(s, func(a, b SigningCommitment) int { return int(a.ID) - int(b.ID) })
	for i, c := range s {
		if err := g.checkID(c.ID); err != nil {
			return nil, err
		}
		if i > 0 && s[i-1].ID == c.ID {
			return nil, fmt.Errorf("frost: identifier %d appears twice in the commitment list", c.ID)
		}
		if c.Hiding == nil || c.Binding == nil ||
			c.Hiding.Equal(edwards25519.NewIdentityPoint()) == 1 ||
			c.Binding.Equal(edwards25519.NewIdentityPoint()) == 1 {
			return nil, fmt.Errorf("frost: commitment of participant %d is missing or the identity", c.ID)
		}
	}
	return s, nil
}

// encodeCommitmentList is encode_group_commitment_list for a sorted list.
func encodeCommitmentList(sorted []SigningCommitment) []byte {
	out := make([]byte, 0, len(sorted)*(scalarSize+2*elementSize))
	for _, c := range sorted {
		out = append(out, c.ID.encode()...)
		out = append(out, c.Hiding.Bytes()...)
		out = append(out, c.Binding.Bytes()...)
	}
	return out
}

type bindingFactor struct {
	id     Identifier
	input  []byte // kept for the RFC test vectors
	factor *edwards25519.Scalar
}

// computeBindingFactors is compute_binding_factors for a sorted list.
func computeBindingFactors(pk []byte, sorted []SigningCommitment, msg []byte) []bindingFactor {
	prefix := make([]byte, 0, elementSize+64+64)
	prefix = append(prefix, pk...)
	prefix = append(prefix, h4(msg)...)
	prefix = append(prefix, h5(encodeCommitmentList(sorted))...)
	out := make([]bindingFactor, len(sorted))
	for i, c := range sorted {
		in := append(slices.Clone(prefix), c.ID.encode()...)
		out[i] = bindingFactor{id: c.ID, input: in, factor: h1(in)}
	}
	return out
}

func factorFor(bfs []bindingFactor, id Identifier) (*edwards25519.Scalar, error) {
	for _, b := range bfs {
		if b.id == id {
			return b.factor, nil
		}
	}
	return nil, fmt.Errorf("frost: participant %d is not in the commitment list", id)
}

// computeGroupCommitment is compute_group_commitment. Everything in it is
// public (commitments and binding factors), so it runs in variable time.
func computeGroupCommitment(sorted []SigningCommitment, bfs []bindingFactor) *edwards25519.Point {
	scalars := make([]*edwards25519.Scalar, 0, 2*len(sorted))
	points := make([]*edwards25519.Point, 0, 2*len(sorted))
	one := scalarFromUint(1)
	for i, c := range sorted {
		scalars = append(scalars, one, bfs[i].factor)
		points = append(points, c.Hiding, c.Binding)
	}
	return new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points)
}

// computeChallenge is compute_challenge: H2(R ‖ PK ‖ msg).
func computeChallenge(r *edwards25519.Point, pk, msg []byte) (*edwards25519.Scalar, error) {
	rb, err := encodeElement(r)
	if err != nil {
		return nil, fmt.Errorf("frost: group commitment: %w", err)
	}
	in := make([]byte, 0, len(rb)+len(pk)+len(msg))
	in = append(in, rb...)
	in = append(in, pk...)
	in = append(in, msg...)
	return h2(in), nil
}

// deriveInterpolatingValue is derive_interpolating_value: the Lagrange
// coefficient of x_i at 0 over the signer set ids.
func deriveInterpolatingValue(ids []Identifier, xi Identifier) (*edwards25519.Scalar, error) {
	if !slices.Contains(ids, xi) {
		return nil, fmt.Errorf("frost: participant %d is not in the signer list", xi)
	}
	num := scalarFromUint(1)
	den := scalarFromUint(1)
	x := xi.scalar()
	for i, xj := range ids {
		if slices.Contains(ids[i+1:], xj) {
			return nil, fmt.Errorf("frost: identifier %d appears twice in the signer list", xj)
		}
		if xj == xi {
			continue
		}
		num.Multiply(num, xj.scalar())
		den.Multiply(den, new(edwards25519.Scalar).Subtract(xj.scalar(), x))
	}
	// den is non-zero: identifiers are distinct and below the group order.
	return num.Multiply(num, new(edwards25519.Scalar).Invert(den)), nil
}

func ids(sorted []SigningCommitment) []Identifier {
	out := make([]Identifier, len(sorted))
	for i, c := range sorted {
		out[i] = c.ID
	}
	return out
}

// ErrNonceUsed is returned by Sign and by NonceStores when a nonce pair has
// already been consumed.
var ErrNonceUsed = errors.New("frost: signing nonce already used; run round one again")

// Sign is round two (sign). It checks the commitment list (it must hold this
// signer's own commitment unchanged), asks store to record the nonce as
// consumed and computes the signature share only if that succeeded. The
// nonces are overwritten whatever the outcome: retry with a new round one.
func (k *KeyShare) Sign(store NonceStore, nonces *SigningNonces, msg []byte, commitments []SigningCommitment) (SignatureShare, error) {
	if nonces == nil || nonces.spent {
		return SignatureShare{}, ErrNonceUsed
	}
	defer nonces.zero()
	if store == nil {
		return SignatureShare{}, errors.New("frost: Sign needs a NonceStore")
	}
	if k.Group == nil {
		return SignatureShare{}, errors.New("frost: key share has no group information")
	}
	if err := k.Group.validate(); err != nil {
		return SignatureShare{}, err
	}
	if nonces.Commitment.Hiding == nil || nonces.Commitment.Binding == nil {
		return SignatureShare{}, errors.New("frost: signing nonces carry no commitment; make them with Commit")
	}
	sorted, err := k.Group.sortedCommitments(commitments)
	if err != nil {
		return SignatureShare{}, err
	}
	i := slices.IndexFunc(sorted, func(c SigningCommitment) bool { return c.ID == k.ID })
	if i < 0 {
		return SignatureShare{}, fmt.Errorf("frost: participant %d is not in the commitment list", k.ID)
	}
	own := sorted[i]
	if nonces.Commitment.ID != k.ID || own.Hiding.Equal(nonces.Commitment.Hiding) != 1 || own.Binding.Equal(nonces.Commitment.Binding) != 1 {
		return SignatureShare{}, fmt.Errorf("frost: the commitment list carries a different commitment for participant %d than its nonces", k.ID)
	}
	// Record first, compute second: once Consume returns, this nonce can
	// never produce a second share, even if the process dies right here.
	if err := store.Consume(nonces.ID); err != nil {
		return SignatureShare{}, fmt.Errorf("frost: nonce %x: %w", nonces.ID[:], err)
	}
	z, err := signShare(k.ID, &k.secret, k.Group.Commitment[0].Bytes(), &nonces.hiding, &nonces.binding, msg, sorted)
	if err != nil {
		return SignatureShare{}, err
	}
	return SignatureShare{ID: k.ID, Z: z}, nil
}

// signShare is the arithmetic of RFC 9591 sign() over a validated, sorted
// commitment list.
func signShare(id Identifier, secret *edwards25519.Scalar, pk []byte, hiding, binding *edwards25519.Scalar, msg []byte, sorted []SigningCommitment) (*edwards25519.Scalar, error) {
	bfs := computeBindingFactors(pk, sorted, msg)
	rho, err := factorFor(bfs, id)
	if err != nil {
		return nil, err
	}
	r := computeGroupCommitment(sorted, bfs)
	lambda, err := deriveInterpolatingValue(ids(sorted), id)
	if err != nil {
		return nil, err
	}
	c, err := computeChallenge(r, pk, msg)
	if err != nil {
		return nil, err
	}
	// z = hiding + binding·ρ + λ·s·c
	z := new(edwards25519.Scalar).MultiplyAdd(binding, rho, hiding)
	t := new(edwards25519.Scalar).Multiply(lambda, secret)
	z.MultiplyAdd(t, c, z)
	zeroScalar(t)
	return z, nil
}

// VerifySignatureShare is verify_signature_share: it checks one signer's
// share against its verifying share, so that a coordinator can name a
// signer that sent a bad share.
func (g *GroupInfo) VerifySignatureShare(share SignatureShare, commitments []SigningCommitment, msg []byte) error {
	if err := g.validate(); err != nil {
		return err
	}
	sorted, err := g.sortedCommitments(commitments)
	if err != nil {
		return err
	}
	sess, err := g.newSession(sorted, msg)
	if err != nil {
		return err
	}
	return sess.verifyShare(share)
}

// session holds what every share check of one signing session shares: the
// binding factors, the group commitment R and the challenge c.
type session struct {
	g      *GroupInfo
	sorted []SigningCommitment
	bfs    []bindingFactor
	r      *edwards25519.Point
	c      *edwards25519.Scalar
}

func (g *GroupInfo) newSession(sorted []SigningCommitment, msg []byte) (*session, error) {
	pk := g.Commitment[0].Bytes()
	bfs := computeBindingFactors(pk, sorted, msg)
	r := computeGroupCommitment(sorted, bfs)
	c, err := computeChallenge(r, pk, msg)
	if err != nil {
		return nil, err
	}
	return &session{g: g, sorted: sorted, bfs: bfs, r: r, c: c}, nil
}

// verifyShare checks z_i·G = D_i + ρ_i·E_i + (c·λ_i)·PK_i, in variable
// time: every input is public.
func (s *session) verifyShare(share SignatureShare) error {
	if share.Z == nil {
		return &ShareError{ID: share.ID, Err: errors.New("share is empty")}
	}
	i := slices.IndexFunc(s.sorted, func(c SigningCommitment) bool { return c.ID == share.ID })
	if i < 0 {
		return &ShareError{ID: share.ID, Err: errors.New("signer is not in the commitment list")}
	}
	pki, err := s.g.VerifyingShare(share.ID)
	if err != nil {
		return &ShareError{ID: share.ID, Err: err}
	}
	lambda, err := deriveInterpolatingValue(ids(s.sorted), share.ID)
	if err != nil {
		return err
	}
	cl := new(edwards25519.Scalar).Multiply(s.c, lambda)
	rhs := new(edwards25519.Point).VarTimeMultiScalarMult(
		[]*edwards25519.Scalar{scalarFromUint(1), s.bfs[i].factor, cl},
		[]*edwards25519.Point{s.sorted[i].Hiding, s.sorted[i].Binding, pki})
	lhs := new(edwards25519.Point).ScalarBaseMult(share.Z)
	if lhs.Equal(rhs) != 1 {
		return &ShareError{ID: share.ID, Err: errors.New("signature share does not verify against the participant's verifying share")}
	}
	return nil
}

// ShareError names the participant whose signature share was refused.
type ShareError struct {
	ID  Identifier
	Err error
}

func (e *ShareError) Error() string {
	return fmt.Sprintf("frost: signature share of participant %d: %v", e.ID, e.Err)
}

func (e *ShareError) Unwrap() error { return e.Err }

// Aggregate checks every share (naming bad senders with *ShareError, joined
// with errors.Join when several are bad), sums them into an Ed25519
// signature R ‖ z and verifies it with crypto/ed25519 before returning it.
// There must be exactly one share per commitment.
func (g *GroupInfo) Aggregate(commitments []SigningCommitment, msg []byte, shares []SignatureShare) ([]byte, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	sorted, err := g.sortedCommitments(commitments)
	if err != nil {
		return nil, err
	}
	if len(shares) != len(sorted) {
		return nil, fmt.Errorf("frost: %d signature shares for %d commitments", len(shares), len(sorted))
	}
	sess, err := g.newSession(sorted, msg)
	if err != nil {
		return nil, err
	}
	seen := map[Identifier]bool{}
	var errs []error
	z := edwards25519.NewScalar()
	for _, s := range shares {
		if seen[s.ID] {
			return nil, fmt.Errorf("frost: two signature shares from participant %d", s.ID)
		}
		seen[s.ID] = true
		if err := sess.verifyShare(s); err != nil {
			errs = append(errs, err)
			continue
		}
		z.Add(z, s.Z)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sig := append(sess.r.Bytes(), z.Bytes()...)
	if !ed25519.Verify(g.PublicKey(), msg, sig) {
		return nil, errors.New("frost: aggregate signature does not verify under the group key")
	}
	return sig, nil
}
