package client

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ProtonMail/go-crypto/openpgp/eddsa"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/format/openpgp"
	"github.com/signet-dev/signet/internal/envelope"
	"github.com/signet-dev/signet/keylist"
	"github.com/signet-dev/signet/transition"
)

// RotateKey makes a new version of key name, which signs from now on;
// the active version retires (docs/rotation.md).
func (c *Client) RotateKey(ctx context.Context, name string) (*api.Key, error) {
	var out api.Key
	if err := c.do(ctx, http.MethodPost, "/v1/keys/"+url.PathEscape(name)+"/rotate", struct{}{}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeKey revokes version of key name for reason ("compromised",
// "superseded" or "retired").
func (c *Client) RevokeKey(ctx context.Context, name string, version int, reason string) (*api.Key, error) {
	var out api.Key
	req := api.RevokeRequest{Version: version, Reason: reason}
	if err := c.do(ctx, http.MethodPost, "/v1/keys/"+url.PathEscape(name)+"/revoke", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// KeyList fetches the signed key list of key name. Check it with
// VerifyKeyList against the root key you trust, not the server's word.
func (c *Client) KeyList(ctx context.Context, name string) (*api.SignedKeyList, error) {
	var out api.SignedKeyList
	if err := c.do(ctx, http.MethodGet, "/v1/keys/"+url.PathEscape(name)+"/key-list", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// VerifyKeyList checks that env is a key list of key name (any key if
// name is "") signed by root, and returns it.
func VerifyKeyList(env []byte, root crypto.PublicKey, name string) (*keylist.List, error) {
	l, err := keylist.Verify(env, root)
	if err != nil {
		return nil, err
	}
	if name != "" && l.Key != name {
		return nil, fmt.Errorf("the key list is of key %q, not %q", l.Key, name)
	}
	return l, nil
}

// Transition asks for a statement, signed by both keys, that key newKey
// replaces key old.
func (c *Client) Transition(ctx context.Context, old, newKey, reason string) (*api.TransitionResponse, error) {
	var out api.TransitionResponse
	req := api.TransitionRequest{Old: old, New: newKey, Reason: reason}
	if err := c.do(ctx, http.MethodPost, "/v1/transitions", req, &out); err != nil {
		return nil, err
	}
	if _, err := transition.Verify(out.Statement, mustOld(out.Statement)); err != nil {
		return nil, fmt.Errorf("the server's transition statement does not verify: refusing it: %w", err)
	}
	return &out, nil
}

// mustOld returns the old key a statement names, for checking that the
// server returned a well-formed statement (not that it is trusted).
func mustOld(env []byte) crypto.PublicKey {
	payload, _, err := envelope.Open(env, transition.PayloadType)
	if err != nil {
		return nil
	}
	st, err := transition.Parse(payload)
	if err != nil {
		return nil
	}
	return st.Old.Public()
}

// VerifyTransition checks a transition statement away from trustedOld
// (see package transition) and, when logKey is given, its audit receipt:
// the receipt must prove, against the log's verifier key, an allowed
// key.transition entry that records this statement. A transition away
// from a key of usage raw, which signs whatever digest its grantees
// send, is accepted only with its receipt.
func VerifyTransition(statement []byte, receipt *audit.Receipt, trustedOld crypto.PublicKey, logKey string) (*transition.Statement, error) {
	st, err := transition.Verify(statement, trustedOld)
	if err != nil {
		return nil, err
	}
	if logKey == "" || receipt == nil {
		if st.Old.Usage == "raw" {
			return nil, fmt.Errorf("%w: key %q signs raw digests for its grantees, so its signature alone does not prove an administrator made this transition; check the statement's receipt with the audit log's key (--log-key)", transition.ErrVerify, st.Old.Name)
		}
		return st, nil
	}
	e, _, err := audit.VerifyReceipt(receipt, logKey)
	if err != nil {
		return nil, fmt.Errorf("transition receipt: %w", err)
	}
	payload, _, err := envelope.Open(statement, transition.PayloadType)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(payload)
	if e.Action != audit.ActionKeyTransition || e.Decision != audit.Allowed || e.Details["statement"] != fmt.Sprintf("sha256:%x", sum) {
		return nil, fmt.Errorf("%w: the receipt's entry %d does not record this statement", transition.ErrVerify, receipt.Index)
	}
	return st, nil
}

// ParseTrustedKey reads the key a verifier trusts: a PEM public key, or
// an OpenPGP certificate (binary or armored), whose primary key it
// returns.
func ParseTrustedKey(b []byte) (crypto.PublicKey, error) {
	if pub, err := ParsePublicKey(b); err == nil {
		return pub, nil
	}
	if !bytes.Contains(b, []byte("-----BEGIN PGP")) && (len(b) == 0 || b[0]&0x80 == 0) {
		return nil, errors.New("neither a PEM public key nor an OpenPGP certificate")
	}
	ent, err := openpgp.ReadCertificate(b)
	if err != nil {
		return nil, err
	}
	switch k := ent.PrimaryKey.PublicKey.(type) {
	case *rsa.PublicKey:
		return k, nil
	case *eddsa.PublicKey:
		if len(k.X) == ed25519.PublicKeySize {
			return ed25519.PublicKey(k.X), nil
		}
	}
	return nil, fmt.Errorf("the OpenPGP certificate's primary key is %T, not Ed25519 or RSA", ent.PrimaryKey.PublicKey)
}
