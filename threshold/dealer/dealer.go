// Package dealer runs the trusted-dealer ceremony of a FROST(Ed25519,
// SHA-512) threshold key (RFC 9591 Appendix C, see threshold/frost) and
// seals each server's key share to that server's age recipient.
//
// The ceremony is meant to run offline. [Deal] generates the key, encodes
// each share, encrypts it at once to its server's recipient, and
// overwrites the plaintext share and the dealer's polynomial, so that what
// leaves the function is public (the group information, which holds the
// group public key and the VSS commitment) or sealed (one age file per
// server). [Open] is the server's side: it decrypts with the server's age
// identity, checks the share against the VSS commitment (vss_verify) and
// that it belongs to the expected group and identifier.
//
// Memory: the package overwrites the buffers it owns; age's encrypting
// writer copies the plaintext into its own chunk buffer, and the Go
// runtime may copy anything, so the dealer machine must still be trusted
// with the whole key while Deal runs (see docs/threshold.md).
package dealer

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/signet-dev/signet/threshold/frost"
)

// Server is one participant of the threshold key: a name for people and
// the age recipient its share is sealed to.
type Server struct {
	Name      string
	Recipient age.Recipient
}

// SealedShare is one server's key share, encrypted to its recipient
// (ASCII-armored age).
type SealedShare struct {
	Server string
	ID     frost.Identifier
	Sealed []byte
}

// Result is the public output of a ceremony.
type Result struct {
	Group     *frost.GroupInfo
	PublicKey ed25519.PublicKey
	Shares    []SealedShare // Shares[i] is for servers[i], identifier i+1
}

// Deal creates a threshold-of-len(servers) key and seals share i+1 to
// servers[i]. Nothing secret is returned or left in buffers it owns.
func Deal(rand io.Reader, threshold int, servers []Server) (*Result, error) {
	seen := map[string]bool{}
	for i, s := range servers {
		if s.Name == "" || s.Recipient == nil {
			return nil, fmt.Errorf("dealer: server %d needs a name and an age recipient", i+1)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("dealer: server %q is listed twice", s.Name)
		}
		seen[s.Name] = true
	}
	shares, g, err := frost.TrustedDealerKeygen(rand, threshold, len(servers))
	if err != nil {
		return nil, fmt.Errorf("dealer: %w", err)
	}
	defer func() {
		for _, k := range shares {
			k.Zero()
		}
	}()
	res := &Result{Group: g, PublicKey: g.PublicKey()}
	for i, k := range shares {
		sealed, err := seal(k, servers[i].Recipient)
		if err != nil {
			return nil, fmt.Errorf("dealer: sealing the share of %q: %w", servers[i].Name, err)
		}
		res.Shares = append(res.Shares, SealedShare{Server: servers[i].Name, ID: k.ID, Sealed: sealed})
	}
	return res, nil
}

func seal(k *frost.KeyShare, r age.Recipient) ([]byte, error) {
	plain := k.Bytes()
	defer clear(plain)
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// maxShare bounds what Open decrypts: a key share of the largest group.
const maxShare = 64 + 2 + 32 + 4 + 32*frost.MaxParticipants

// Open decrypts a sealed share with the server's identity and returns it
// after checking it against the VSS commitment, the expected group (the
// configured group information) and the expected identifier.
func Open(sealed []byte, identity age.Identity, group *frost.GroupInfo, id frost.Identifier) (*frost.KeyShare, error) {
	r, err := age.Decrypt(armor.NewReader(bytes.NewReader(sealed)), identity)
	if err != nil {
		return nil, fmt.Errorf("dealer: decrypting the share: %w", err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxShare+1))
	defer clear(plain)
	if err != nil {
		return nil, fmt.Errorf("dealer: decrypting the share: %w", err)
	}
	if len(plain) > maxShare {
		return nil, errors.New("dealer: sealed share is too large to be a key share")
	}
	k, err := frost.ParseKeyShare(plain)
	if err != nil {
		return nil, fmt.Errorf("dealer: %w", err)
	}
	if !bytes.Equal(k.Group.Bytes(), group.Bytes()) {
		k.Zero()
		return nil, errors.New("dealer: the share belongs to another threshold key (group information differs)")
	}
	if k.ID != id {
		k.Zero()
		return nil, fmt.Errorf("dealer: the share is for participant %d, not %d", k.ID, id)
	}
	return k, nil
}
