package server

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
)

// The audit read API. Checkpoints and proofs reveal nothing but hashes, so
// any authenticated principal may fetch them (clients check receipts,
// monitors check consistency); entries and searches name artifacts and
// principals, so they need an audit grant.

// auditSigner returns the log key, checking that it was created for the
// log and nothing else.
func (s *Server) auditSigner() (crypto.Signer, error) {
	if s.auditKey == "" {
		return nil, errors.New("no audit log key configured (audit.key)")
	}
	k, err := s.keys.Key(s.auditKey)
	if err != nil {
		return nil, fmt.Errorf("audit log key %q: %w; create it with 'signet key create %s --type ed25519 --usage audit'", s.auditKey, err, s.auditKey)
	}
	if k.Usage != usageAudit {
		return nil, fmt.Errorf("key %q has usage %q, not %q: the log key must sign checkpoints and nothing else", k.Name, k.Usage, usageAudit)
	}
	return s.keys.BackgroundSigner(s.auditKey) // checkpoints do not extend the lease
}

// AuditKey returns the log key as the Log needs it: Options.Key.
func (s *Server) AuditKey() (crypto.Signer, error) { return s.auditSigner() }

var errNoCheckpoint = &apiError{http.StatusServiceUnavailable, "no_checkpoint", "the audit log has no signed checkpoint yet: its key is locked or not created"}

func (s *Server) auditHead(c *call) (string, audit.Checkpoint, error) {
	signed, _, err := s.audit.Store().Head(c.r.Context())
	if err != nil {
		return "", audit.Checkpoint{}, fmt.Errorf("reading the audit log head: %w", err)
	}
	if signed == "" {
		return "", audit.Checkpoint{}, errNoCheckpoint
	}
	cp, err := audit.ParseUnverified(signed)
	if err != nil {
		return "", audit.Checkpoint{}, err
	}
	return signed, cp, nil
}

func (s *Server) auditCheckpoint(c *call) error {
	signed, _, err := s.auditHead(c)
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.Write([]byte(signed))
	return nil
}

func (s *Server) auditKeyInfo(c *call) error {
	k, err := s.keys.Key(s.auditKey)
	if err != nil {
		return keyError(s.auditKey, err)
	}
	pub, ok := k.Public.(ed25519.PublicKey)
	if !ok {
		return fmt.Errorf("audit key %q is not Ed25519", k.Name)
	}
	vkey, err := audit.VerifierKey(s.audit.Origin(), pub)
	if err != nil {
		return err
	}
	s.writeJSON(c.w, http.StatusOK, api.AuditKey{Origin: s.audit.Origin(), VerifierKey: vkey})
	return nil
}

// queryInt parses an integer query parameter; def if absent.
func queryInt(q url.Values, name string, def int64) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("query parameter %s=%.40q is not a non-negative integer", name, v)
	}
	return n, nil
}

func (s *Server) auditProof(c *call) error {
	q := c.r.URL.Query()
	index, err := queryInt(q, "index", -1)
	if err != nil {
		return err
	}
	if index < 0 {
		return badRequest("give the entry with ?index=N")
	}
	signed, cp, err := s.auditHead(c)
	if err != nil {
		return err
	}
	if index >= cp.Size {
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("entry %d is not in the log of %d entries", index, cp.Size)}
	}
	ctx := c.r.Context()
	data, err := s.audit.Store().Entries(ctx, index, index+1)
	if err != nil {
		return err
	}
	proof, err := audit.InclusionProof(ctx, s.audit.Store(), index, cp.Size)
	if err != nil {
		return err
	}
	s.writeJSON(c.w, http.StatusOK, audit.Receipt{Index: index, Entry: data[0], Proof: proof, Checkpoint: signed})
	return nil
}

func (s *Server) auditConsistency(c *call) error {
	q := c.r.URL.Query()
	if q.Get("old") == "" {
		return badRequest("give the size of the tree to prove consistency from with ?old=M (1 ≤ M ≤ new ≤ the log's size)")
	}
	old, err := queryInt(q, "old", 0)
	if err != nil {
		return err
	}
	_, cp, err := s.auditHead(c)
	if err != nil {
		return err
	}
	n, err := queryInt(q, "new", cp.Size)
	if err != nil {
		return err
	}
	// An empty tree is a prefix of every tree; RFC 6962 has no proof
	// for it, and tlog refuses to make one.
	if old < 1 || old > n || n > cp.Size {
		return badRequest("no consistency proof from %d to %d entries: old must be at least 1 and at most new, and new at most the log's size, %d", old, n, cp.Size)
	}
	proof, err := audit.ConsistencyProof(c.r.Context(), s.audit.Store(), old, n)
	if err != nil {
		return err
	}
	s.writeJSON(c.w, http.StatusOK, api.AuditProof{Old: old, New: n, Proof: proof})
	return nil
}

func (s *Server) auditEntries(c *call) error {
	if err := s.authorize(c, policy.Request{Action: policy.Audit}); err != nil {
		return err
	}
	q := c.r.URL.Query()
	start, err := queryInt(q, "start", 0)
	if err != nil {
		return err
	}
	_, size, err := s.audit.Store().Head(c.r.Context())
	if err != nil {
		return err
	}
	end, err := queryInt(q, "end", min(start+1000, size))
	if err != nil {
		return err
	}
	if end > size || start > end || end-start > 1000 {
		return badRequest("entries %d to %d: ask for at most 1000 at a time, below the log's size %d", start, end, size)
	}
	data, err := s.audit.Store().Entries(c.r.Context(), start, end)
	if err != nil {
		return err
	}
	out := api.AuditEntries{Size: size, Entries: make([]audit.Match, len(data))}
	for i, d := range data {
		out.Entries[i] = audit.Match{Index: start + int64(i), Entry: d}
	}
	s.writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (s *Server) auditCheckpoints(c *call) error {
	if err := s.authorize(c, policy.Request{Action: policy.Audit}); err != nil {
		return err
	}
	q := c.r.URL.Query()
	after, err := queryInt(q, "after", 0)
	if err != nil {
		return err
	}
	if q.Get("after") == "" {
		after = -1
	}
	cps, err := s.audit.Store().Checkpoints(c.r.Context(), after, 1000)
	if err != nil {
		return err
	}
	out := api.AuditCheckpoints{Checkpoints: make([]api.AuditCheckpoint, len(cps))}
	for i, cp := range cps {
		out.Checkpoints[i] = api.AuditCheckpoint{Size: cp.Size, Checkpoint: cp.Signed, Time: cp.Time}
	}
	s.writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (s *Server) auditSearch(c *call) error {
	if err := s.authorize(c, policy.Request{Action: policy.Audit}); err != nil {
		return err
	}
	p := c.r.URL.Query()
	var q audit.Query
	q.Key, q.Principal, q.Digest, q.Name = p.Get("key"), p.Get("principal"), p.Get("digest"), p.Get("name")
	q.Action, q.Decision = p.Get("action"), p.Get("decision")
	v, err := queryInt(p, "version", 0)
	if err != nil {
		return err
	}
	q.Version = int(v)
	for _, t := range []struct {
		name string
		to   *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if x := p.Get(t.name); x != "" {
			if *t.to, err = time.Parse(time.RFC3339, x); err != nil {
				return badRequest("%s=%.40q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", t.name, x)
			}
		}
	}
	after, err := queryInt(p, "after", 0)
	if err != nil {
		return err
	}
	q.After = after - 1 // "after" is the first index to consider
	limit, err := queryInt(p, "limit", 1000)
	if err != nil {
		return err
	}
	q.Limit = int(limit)
	ctx := c.r.Context()
	signed, recorded, err := s.audit.Store().Head(ctx)
	if err != nil {
		return fmt.Errorf("reading the audit log head: %w", err)
	}
	var cp audit.Checkpoint
	if signed != "" {
		if cp, err = audit.ParseUnverified(signed); err != nil {
			return err
		}
	} else if recorded == 0 || p.Get("size") != "" || p.Get("proofs") == "1" {
		// Nothing to search, or nothing to prove against.
		return errNoCheckpoint
	}
	size := cp.Size
	if p.Get("size") != "" {
		// A page of a search begun against an earlier checkpoint, which
		// the client holds: answered against the same entries.
		if size, err = queryInt(p, "size", 0); err != nil {
			return err
		}
		if size < 1 || size > cp.Size {
			return badRequest("size=%d: the log has %d entries", size, cp.Size)
		}
		signed = ""
	}
	var matches []audit.Match
	next := int64(-1)
	if size > 0 {
		if matches, next, err = audit.Search(ctx, s.audit.Store(), q, size); err != nil {
			return badRequest("%v", err)
		}
	}
	if p.Get("proofs") == "1" && len(matches) > 0 {
		// Each match proven in the tree of that size, as an incident
		// report needs; the pages of one report share a Prover.
		idx := make([]int64, len(matches))
		for i, m := range matches {
			idx[i] = m.Index
		}
		pr := s.prover(size)
		if len(matches) == q.Limit {
			if err := pr.LoadAll(ctx); err != nil {
				return err
			}
		}
		proofs, err := pr.Prove(ctx, idx)
		if err != nil {
			return err
		}
		for i := range matches {
			matches[i].Proof = proofs[i]
		}
	}
	out := api.AuditSearch{Checkpoint: signed, Size: size, Recorded: recorded, Matches: matches}
	if out.Matches == nil {
		out.Matches = []audit.Match{}
	}
	if next >= 0 {
		out.Next = next + 1
	}
	if next < 0 && p.Get("size") == "" && recorded > size {
		// The entries recorded beyond the checkpoint are durable (the
		// lock itself, refusals while locked) but no signed checkpoint
		// covers them yet: searched too, on the last page, and kept
		// apart from the proven matches, for they have no proof.
		uq := q
		uq.After = max(q.After, size-1)
		um, unext, err := audit.Search(ctx, s.audit.Store(), uq, recorded)
		if err != nil {
			return badRequest("%v", err)
		}
		out.Unproven, out.UnprovenMore = um, unext >= 0
		out.UnprovenReason, out.UnprovenNote = s.whyUnproven()
	}
	s.writeJSON(c.w, http.StatusOK, out)
	return nil
}

// whyUnproven says why entries recorded beyond the latest checkpoint have
// none yet: a code for programs and a sentence for people.
func (s *Server) whyUnproven() (code, note string) {
	_, err := s.auditSigner()
	switch {
	case err == nil:
		return api.UnprovenPending, "the log key is available: the checkpoint of the next entry recorded covers them"
	case errors.Is(err, keystore.ErrLocked):
		return api.UnprovenLocked, fmt.Sprintf("the keystore is locked, so the log key %q cannot sign a checkpoint; unlocking it ('signet unlock') makes the next checkpoint cover them", s.auditKey)
	}
	return api.UnprovenNoLogKey, fmt.Sprintf("the log key cannot sign a checkpoint (%v); once it can, the next checkpoint covers them", err)
}

func (s *Server) auditManifest(c *call) error {
	if err := s.authorize(c, policy.Request{Action: policy.Audit}); err != nil {
		return err
	}
	d := c.r.PathValue("digest")
	m, err := audit.ReadManifest(c.r.Context(), s.audit.Store(), d)
	if errors.Is(err, audit.ErrNotFound) {
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("no manifest %.80q in the audit log", d)}
	}
	if errors.Is(err, audit.ErrManifestMismatch) {
		// Never serve what the log does not vouch for.
		return &apiError{http.StatusInternalServerError, "manifest_tampered", err.Error()}
	}
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "application/json")
	c.w.Write(m)
	return nil
}

// checkAuditReady reports why a signature could not be recorded now.
func (s *Server) checkAuditReady() error {
	if err := s.audit.Ready(); err != nil {
		return hideCause(&apiError{http.StatusServiceUnavailable, "audit_unavailable",
			"audit log unwritable; nothing is signed until it recovers (the server log has the cause)"}, err)
	}
	if _, err := s.auditSigner(); err != nil {
		if errors.Is(err, keystore.ErrLocked) {
			return keyError(s.auditKey, err)
		}
		msg := fmt.Sprintf("the audit log cannot sign checkpoints, so nothing is signed: its key %q ", s.auditKey)
		if k, kerr := s.keys.Key(s.auditKey); errors.Is(kerr, keystore.ErrNotFound) {
			msg += fmt.Sprintf("does not exist; create it with 'signet key create %s --type ed25519 --usage audit'", s.auditKey)
		} else if kerr == nil && k.Usage != usageAudit {
			msg += fmt.Sprintf("has usage %q, not %q: the log key must sign checkpoints and nothing else", k.Usage, usageAudit)
		} else {
			msg += "is unavailable (the server log has the cause)"
		}
		return hideCause(&apiError{http.StatusServiceUnavailable, "audit_unavailable", msg}, err)
	}
	return nil
}

// prover returns the Prover for the tree of size entries, from a cache of
// the two latest sizes: the pages of one incident report, answered
// against one size, read each stored hash once.
func (s *Server) prover(size int64) *audit.Prover {
	s.proversMu.Lock()
	defer s.proversMu.Unlock()
	for _, p := range s.provers {
		if p != nil && p.Size() == size {
			return p
		}
	}
	p := audit.NewProver(s.audit.Store(), size)
	s.provers[1], s.provers[0] = s.provers[0], p
	return p
}
