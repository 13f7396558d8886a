package server

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/internal/envelope"
	"github.com/signet-dev/signet/keylist"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/transition"
)

// Key lifecycle (docs/rotation.md): versions, rotation, revocation, the
// signed key list and transition statements. Rotations, revocations and
// transitions are admin acts; each is recorded with the version it
// concerns.

// activeSigner returns the signer of key name's active version, the key
// as it is once the signer is in hand (a scheduled rotation may have just
// made a new version), and that version.
func (s *Server) activeSigner(name string) (keystore.Key, keystore.Version, crypto.Signer, error) {
	signer, err := s.keys.Signer(name)
	if err != nil {
		return keystore.Key{}, keystore.Version{}, nil, keyError(name, err)
	}
	k, err := s.keys.Key(name)
	if err != nil {
		return keystore.Key{}, keystore.Version{}, nil, keyError(name, err)
	}
	v, ok := k.VersionOf(k.VersionNumber(signer.Public()))
	if !ok {
		return keystore.Key{}, keystore.Version{}, nil, &apiError{http.StatusServiceUnavailable, "rotated", fmt.Sprintf("key %q was rotated while this request was signing; retry", name)}
	}
	return k, v, signer, nil
}

// versionRef names version v of key k in audit entries.
func versionRef(k keystore.Key, v keystore.Version) *audit.KeyRef {
	return &audit.KeyRef{Name: k.Name, Version: v.Number, Fingerprint: v.Fingerprint()}
}

// describeVersions returns the API view of k's versions.
func describeVersions(k keystore.Key, withPublic bool) []api.KeyVersion {
	out := make([]api.KeyVersion, len(k.Versions))
	for i, v := range k.Versions {
		av := api.KeyVersion{Version: v.Number, State: string(v.State), Created: v.Created, NotBefore: v.NotBefore, NotAfter: v.NotAfter,
			Revoked: v.Revoked, Reason: string(v.Reason), Fingerprint: v.Fingerprint()}
		if slices.Contains(pgpTypes, k.Type) {
			av.OpenPGPFingerprint = openpgpFingerprint(k, v)
		}
		if withPublic {
			if der, err := x509.MarshalPKIXPublicKey(v.Public); err == nil {
				av.PublicKey = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
			}
		}
		out[i] = av
	}
	return out
}

// keyName reads and checks the {name} of the path.
func keyName(c *call) (string, error) {
	name := c.r.PathValue("name")
	if err := keystore.ValidName(name); err != nil {
		return "", badRequest("%v", err)
	}
	return name, nil
}

// lifecycleError maps the errors of rotations and revocations.
func lifecycleError(name string, err error) error {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae // the act's record failed
	case errors.Is(err, keystore.ErrNoVersion):
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("%v", err)}
	case errors.Is(err, keystore.ErrNotFound), errors.Is(err, keystore.ErrLocked), errors.Is(err, keystore.ErrUnavailable),
		errors.Is(err, keystore.ErrStoreUnavailable):
		return keyError(name, err)
	}
	return &apiError{http.StatusConflict, "conflict", err.Error()}
}

// FleetKeyring is what a Keyring on a fleet keystore adds: waiting for
// every replica to load a change (keystore.Dir.AwaitFleet).
type FleetKeyring interface {
	AwaitFleet(ctx context.Context, wait time.Duration) ([]keystore.Replica, error)
}

// fleetWait bounds how long a key change waits for the other replicas.
const fleetWait = 3 * keystore.WatchInterval

// describeChanged describes k after a change made here, once every live
// replica of the fleet has loaded it, or naming those that have not, so
// that a revocation has taken effect fleet-wide when the command returns
// or the administrator knows where it has not.
func (s *Server) describeChanged(c *call, k keystore.Key) api.Key {
	out := s.describe(k, true)
	f, ok := s.keys.(FleetKeyring)
	if !ok {
		return out
	}
	behind, err := f.AwaitFleet(c.r.Context(), fleetWait)
	for _, r := range behind {
		out.UnconfirmedReplicas = append(out.UnconfirmedReplicas, r.ID)
	}
	if err != nil || len(behind) > 0 {
		s.log.Warn("key change not confirmed by every replica", "id", c.id, "key", k.Name, "replicas", out.UnconfirmedReplicas, "err", err)
		if err != nil {
			// Not err's text, which may name the database's host and user.
			out.UnconfirmedReplicas = append(out.UnconfirmedReplicas, "(unknown: the keystore database did not answer)")
		}
	}
	return out
}

// rotateKey answers POST /v1/keys/{name}/rotate: a new version now.
func (s *Server) rotateKey(c *call) error {
	c.action = audit.ActionKeyRotate
	name, err := keyName(c)
	if err != nil {
		return err
	}
	c.key = &audit.KeyRef{Name: name}
	if err := s.authorize(c, policy.Request{Action: policy.Admin}); err != nil {
		return err
	}
	old, err := s.keys.Key(name)
	if err != nil {
		return keyError(name, err)
	}
	rec := s.recordFirst(c)
	k, err := s.keys.Rotate(name, func(k keystore.Key) error {
		v, _ := k.VersionOf(k.Version)
		c.key = versionRef(k, v)
		e := c.entry(audit.Allowed, "")
		e.Details = map[string]string{"not_before": v.NotBefore.Format(timeFormat)}
		if !v.NotAfter.IsZero() {
			e.Details["not_after"] = v.NotAfter.Format(timeFormat)
		}
		if old.Version != 0 {
			e.Details["retired"] = strconv.Itoa(old.Version)
		}
		return rec.write(e)
	})
	if err != nil {
		return rec.failed(lifecycleError(name, err))
	}
	v, _ := k.VersionOf(k.Version)
	s.log.Info("key rotated", "id", c.id, "principal", c.principal.Name, "key", name, "version", v.Number, "fingerprint", v.Fingerprint())
	s.writeJSON(c.w, http.StatusOK, s.describeChanged(c, k))
	return nil
}

const timeFormat = "2006-01-02T15:04:05Z07:00"

// revokeKey answers POST /v1/keys/{name}/revoke.
func (s *Server) revokeKey(c *call) error {
	c.action = audit.ActionKeyRevoke
	name, err := keyName(c)
	if err != nil {
		return err
	}
	c.key = &audit.KeyRef{Name: name}
	if err := s.authorize(c, policy.Request{Action: policy.Admin}); err != nil {
		return err
	}
	req, err := decode[api.RevokeRequest](c)
	if err != nil {
		return err
	}
	c.key.Version = req.Version
	reason, err := keystore.ParseReason(req.Reason)
	if err != nil {
		return badRequest("%v", err)
	}
	c.details = map[string]string{"reason": string(reason)}
	if req.Version < 1 {
		return badRequest("give the version to revoke (\"version\": N); 'signet key versions %s' lists them", name)
	}
	rec := s.recordFirst(c)
	k, err := s.keys.Revoke(name, req.Version, reason, func(k keystore.Key) error {
		v, _ := k.VersionOf(req.Version)
		c.key = versionRef(k, v)
		e := c.entry(audit.Allowed, "")
		e.Details = map[string]string{"reason": string(reason), "revoked": v.Revoked.Format(timeFormat)}
		if k.Version == 0 {
			e.Details["active"] = "none"
		}
		return rec.write(e)
	})
	if errors.Is(err, keystore.ErrNoVersion) {
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("key %q has no version %d; 'signet key versions %s' lists them", name, req.Version, name)}
	}
	if err != nil {
		return rec.failed(lifecycleError(name, err))
	}
	v, _ := k.VersionOf(req.Version)
	s.log.Warn("key version revoked", "id", c.id, "principal", c.principal.Name, "key", name, "version", v.Number, "reason", reason)
	s.writeJSON(c.w, http.StatusOK, s.describeChanged(c, k))
	return nil
}

// keyListSigner returns the root key that signs key lists, checking that
// it was created for that and nothing else.
func (s *Server) keyListSigner() (crypto.Signer, error) {
	if s.keyListKey == "" {
		return nil, &apiError{http.StatusNotImplemented, "not_configured", "this server signs no key lists: set rotation.key_list_key in its config (docs/config.md)"}
	}
	k, err := s.keys.Key(s.keyListKey)
	if err != nil {
		if errors.Is(err, keystore.ErrNotFound) {
			return nil, &apiError{http.StatusServiceUnavailable, "not_configured", fmt.Sprintf("the key-list root key %q does not exist; create it with 'signet key create %s --type ed25519 --usage key-list'", s.keyListKey, s.keyListKey)}
		}
		return nil, keyError(s.keyListKey, err)
	}
	if k.Usage != usageKeyList {
		return nil, fmt.Errorf("key %q has usage %q, not %q: the key-list root must sign key lists and nothing else", k.Name, k.Usage, usageKeyList)
	}
	signer, err := s.keys.Signer(s.keyListKey)
	if err != nil {
		return nil, keyError(s.keyListKey, err)
	}
	return signer, nil
}

// getKeyList answers GET /v1/keys/{name}/key-list: the key's versions,
// signed by the key-list root key.
func (s *Server) getKeyList(c *call) error {
	c.action = audit.ActionKeyList
	name, err := keyName(c)
	if err != nil {
		return err
	}
	c.key = &audit.KeyRef{Name: name}
	if !s.mayUseKey(c, name) {
		return keyDenied(c, name)
	}
	k, err := s.keys.Key(name)
	if err != nil {
		return keyError(name, err)
	}
	c.key.Version = k.Version
	root, err := s.keyListSigner()
	if err != nil {
		return err
	}
	l := &keylist.List{Key: k.Name, KeyType: string(k.Type), Usage: k.Usage, Serial: serial(k), Issued: s.now().UTC().Truncate(1e9)}
	for _, v := range k.Versions {
		lv, err := keylist.NewVersion(v.Number, string(v.State), v.Public)
		if err != nil {
			return err
		}
		lv.NotBefore, lv.NotAfter, lv.Revoked, lv.Reason = v.NotBefore, v.NotAfter, v.Revoked, string(v.Reason)
		l.Versions = append(l.Versions, lv)
	}
	env, err := keylist.Sign(l, root)
	if err != nil {
		return keyError(s.keyListKey, err)
	}
	payload, _, err := envelope.Open(env, keylist.PayloadType)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(payload)
	e := c.entry(audit.Allowed, "")
	e.Details = map[string]string{"root": s.keyListKey, "serial": strconv.Itoa(l.Serial), "key_list": fmt.Sprintf("sha256:%x", sum)}
	if _, err := s.record(c, e); err != nil {
		return err
	}
	s.writeJSON(c.w, http.StatusOK, api.SignedKeyList{Key: k.Name, Root: s.keyListKey, KeyList: json.RawMessage(env)})
	return nil
}

// serial is the number of lifecycle changes a key has seen: versions
// made beyond the first, plus revocations. It only grows.
func serial(k keystore.Key) int {
	n := len(k.Versions) - 1
	for _, v := range k.Versions {
		if v.State == keystore.Revoked {
			n++
		}
	}
	return n
}

// transitionKeys answers POST /v1/transitions: a statement that key
// New replaces key Old, signed by both.
func (s *Server) transitionKeys(c *call) error {
	c.action = audit.ActionKeyTransition
	if err := s.authorize(c, policy.Request{Action: policy.Admin}); err != nil {
		return err
	}
	req, err := decode[api.TransitionRequest](c)
	if err != nil {
		return err
	}
	for _, n := range []string{req.Old, req.New} {
		if err := keystore.ValidName(n); err != nil {
			return badRequest("%v", err)
		}
	}
	c.key = &audit.KeyRef{Name: req.Old}
	c.details = map[string]string{"new": req.New}
	if req.Old == req.New {
		return badRequest("a transition replaces a key by another: old and new are both %q", req.Old)
	}
	if len(req.Reason) > 1024 {
		return badRequest("the reason is %d bytes; keep it under 1024", len(req.Reason))
	}
	sides := make([]transition.Key, 2)
	signers := make([]crypto.Signer, 2)
	for i, name := range []string{req.Old, req.New} {
		k, err := s.keys.Key(name)
		if err != nil {
			return keyError(name, err)
		}
		// Both keys sign the statement: the log key signs checkpoints
		// and the token key tokens, nothing else (usage separation).
		if k.Usage == usageAudit || k.Usage == usageToken {
			return badRequest("key %q has usage %q: it signs %s and nothing else, so it cannot sign a transition statement; replace it as docs/rotation.md says for that key", name, k.Usage, map[string]string{usageAudit: "audit checkpoints", usageToken: "tokens and deny lists"}[k.Usage])
		}
		var signer crypto.Signer
		if slices.Contains(pgpTypes, k.Type) {
			signer, err = s.keys.PrimarySigner(name) // what OpenPGP users trust
		} else {
			var v keystore.Version
			_, v, signer, err = s.activeSigner(name)
			if i == 0 && err == nil {
				c.key = versionRef(k, v)
			}
		}
		if err != nil {
			return keyError(name, err)
		}
		tk, err := transition.NewKey(k.Name, string(k.Type), k.Usage, signer.Public())
		if err != nil {
			return err
		}
		if slices.Contains(pgpTypes, k.Type) {
			if pk, err := openpgpPrimary(k); err == nil {
				tk.OpenPGPFingerprint = pk.FingerprintHex()
			}
		}
		sides[i], signers[i] = tk, signer
	}
	st := &transition.Statement{Old: sides[0], New: sides[1], Time: s.now().UTC().Truncate(1e9), Reason: req.Reason}
	env, err := transition.Sign(st, signers[0], signers[1])
	if err != nil {
		if errors.Is(err, keystore.ErrLocked) || errors.Is(err, keystore.ErrUnavailable) || errors.Is(err, keystore.ErrRetired) {
			return keyError(req.Old, err)
		}
		return err
	}
	// The entry names the statement by the digest of its payload, which
	// verify-transition recomputes from the envelope.
	payload, _, err := envelope.Open(env, transition.PayloadType)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(payload)
	digest := fmt.Sprintf("sha256:%x", sum)
	e := c.entry(audit.Allowed, "")
	e.Details = map[string]string{"new": req.New, "new_fingerprint": sides[1].Fingerprint, "old_fingerprint": sides[0].Fingerprint, "statement": digest}
	e.Artifact = &audit.Artifact{Name: "transition:" + req.Old + ":" + req.New, Digests: []string{digest}}
	receipts, err := s.record(c, e)
	if err != nil {
		return err
	}
	resp := api.TransitionResponse{Statement: json.RawMessage(env)}
	if len(receipts) == 1 {
		resp.Receipt = &receipts[0]
	}
	s.log.Info("key transition signed", "id", c.id, "principal", c.principal.Name, "old", req.Old, "new", req.New)
	s.writeJSON(c.w, http.StatusOK, resp)
	return nil
}
