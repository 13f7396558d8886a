// Package frost implements FROST threshold signing for Ed25519 as specified
// by RFC 9591, ciphersuite FROST(Ed25519, SHA-512) (context string
// "FROST-ED25519-SHA512-v1"), together with the trusted-dealer key
// generation of RFC 9591 Appendix C.
//
// # What FROST is
//
// A group secret key s is split with Shamir's scheme into n shares s_i = f(i)
// of a random polynomial f of degree t-1 with f(0) = s. Any t holders of
// shares (t = MinSigners, n = MaxSigners) can produce together one Schnorr
// signature under the group public key s·G; fewer than t learn nothing about
// s and cannot sign. For this ciphersuite the result is an ordinary RFC 8032
// Ed25519 signature (R ‖ z): crypto/ed25519, openssl, OpenSSH and gpg verify
// it unchanged and cannot tell it was made by a group. Unlike Ed25519 the
// signature is not deterministic.
//
// # The two rounds
//
//  1. Commit (round one). Each chosen signer draws two fresh secret nonces
//     (hiding d_i, binding e_i) from 32 random bytes and its secret share
//     (nonce_generate, H3), keeps them, and publishes the commitments
//     D_i = d_i·G and E_i = e_i·G.
//  2. Sign (round two). The coordinator sends every signer the message and
//     the list of all t commitments. Each signer derives per-signer binding
//     factors ρ_j = H1(PK ‖ H4(msg) ‖ H5(commitment list) ‖ j), the group
//     commitment R = Σ D_j + ρ_j·E_j, the challenge c = H2(R ‖ PK ‖ msg)
//     (exactly the Ed25519 challenge), its Lagrange coefficient λ_i over the
//     signer set, and answers z_i = d_i + e_i·ρ_i + λ_i·s_i·c.
//
// The coordinator (who holds only public data) checks every share against
// the signer's verifying share s_i·G (VerifySignatureShare, so a bad share
// is attributed to its sender by identifier), sums z = Σ z_i and emits R ‖ z.
//
// # Who holds what
//
//   - Each signer (Signet server): one KeyShare (identifier i, secret s_i and
//     the public GroupInfo); per signing session its SigningNonces, in memory.
//   - The coordinator: the GroupInfo (t, n and the VSS commitment to f, from
//     which the group public key and every verifying share derive), the
//     commitments and shares of one session. Nothing secret.
//   - Nobody holds s. The trusted dealer (TrustedDealerKeygen) has it for the
//     length of one function call, overwrites it and its polynomial before
//     returning, and hands out shares that each receiver can check against
//     the VSS commitment (VerifyShare).
//
// # What this package guarantees
//
//   - Every intermediate value of RFC 9591 Appendix E.1 is reproduced (see
//     the tests), and every aggregate is checked with crypto/ed25519 before
//     it is returned.
//   - Decoders (ParseSigningCommitment, ParseSignatureShare, ParseGroupInfo,
//     ParseKeyShare) accept only canonical encodings: scalars below the group
//     order, points in canonical form, in the prime-order subgroup and not
//     the identity, identifiers in 1..MaxSigners. Signer lists must be
//     distinct and between MinSigners and MaxSigners long.
//   - Nonce single use, within what the caller wires up: KeyShare.Sign takes
//     a NonceStore and refuses to compute a share unless the store has first
//     recorded, durably, that this nonce pair is consumed. The SigningNonces
//     are overwritten by every Sign call, successful or not. FileNonceStore
//     fsyncs the record before Sign computes the share, so a crash between
//     the record and the answer loses the nonce but can never reuse it.
//
// # What it leaves to the caller
//
//   - Keeping SigningNonces secret between the rounds and never copying them
//     (a copy of the struct is a second nonce; the NonceStore catches a
//     second Sign with the same nonce id, not a copy re-labelled with a
//     fresh id). Reusing a nonce pair for two different messages or
//     commitment lists reveals the secret share.
//   - Authenticating the coordinator and the signers, authorizing the
//     message, transporting shares confidentially from the dealer (sealed to
//     each server's age recipient, for example), and recording the act.
//   - Memory hygiene beyond what Go allows: secret scalars this package owns
//     are overwritten when done (KeyShare.Zero, SigningNonces after Sign, the
//     dealer's polynomial), but the Go runtime may have copied them (stack
//     growth moves stacks, the garbage collector does not clear freed
//     memory, registers and swap are outside its control). Run signers with
//     swap off or encrypted and core dumps disabled.
//
// Identifiers are small integers (1..MaxSigners), as the trusted dealer of
// RFC 9591 Appendix C assigns them; MaxSigners is capped at MaxParticipants.
package frost
