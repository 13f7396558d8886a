package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/custody"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
)

// Custody endpoints: unlocking (a passphrase, or one share at a time),
// the panic-button lock, status, and custody administration. Custodians
// and admins may unlock, lock and read status; only admins may hand the
// keystore to custodians, propose a rekey, reset progress or enroll a
// token. Every act and every refusal is audited with the share index and
// custodian, never the share.
//
// Every act is recorded before it takes effect (record first, act
// second): the keystore calls the act's record once the act is prepared
// and abandons it if the record fails, so a 503 audit_unavailable means
// that nothing was done. Only the panic button, lock, acts without its
// record: it locks, answers 202 with record_pending, and the record is
// written as soon as the log is back.

func (s *Server) unlock(c *call) error {
	c.action = audit.ActionUnlock
	if err := s.authorize(c, policy.Request{Action: policy.Custody}); err != nil {
		return err
	}
	req, err := decode[api.UnlockRequest](c)
	if err != nil {
		return err
	}
	by := c.principal.Name
	var resp api.UnlockResponse
	switch {
	case req.Share != nil && req.Passphrase != "":
		return badRequest("send a passphrase or a share, not both")
	case req.Share != nil:
		c.details = map[string]string{"method": "share", "share_index": strconv.Itoa(req.Share.Index), "set": req.Share.Set}
		if st := s.keys.Status(); st.Set != nil {
			c.details["custodian"] = custodianName(st.Set, req.Share.Index)
		}
		if !s.keys.Locked() {
			return &apiError{http.StatusConflict, "unlocked", "the keystore is already unlocked; no share is needed ('signet status' shows the lease)"}
		}
		rec := s.recordFirst(c)
		a, err := s.keys.SubmitShare(by, *req.Share, func(a keystore.Accepted) error {
			c.details["received"] = strconv.Itoa(a.Received)
			c.details["threshold"] = strconv.Itoa(a.Threshold)
			c.details["unlocked"] = strconv.FormatBool(a.Done)
			return rec.write(c.entry(audit.Allowed, ""))
		})
		req.Share.Wipe()
		if err != nil {
			return rec.failed(custodyError(err))
		}
		resp = api.UnlockResponse{Unlocked: a.Done, Share: &a}
	case req.Passphrase != "":
		c.details = map[string]string{"method": "passphrase"}
		rec := s.recordFirst(c)
		err := s.unlockPassphrase(c, by, []byte(req.Passphrase), func() error { return rec.write(c.entry(audit.Allowed, "")) })
		if err != nil {
			return rec.failed(custodyError(err))
		}
		resp.Unlocked = true
	default:
		return badRequest("nothing to unlock with: send a passphrase or a share")
	}
	s.log.Info("unlock", "id", c.id, "principal", by, "details", c.details)
	s.writeJSON(c.w, http.StatusOK, resp)
	return nil
}

func custodianName(set *keystore.SetStatus, index int) string {
	if index < 1 || index > len(set.Custodians) {
		return ""
	}
	return set.Custodians[index-1]
}

// custodyError maps keystore and custody errors to API errors. Their
// messages name shares by index and custodian, never by value.
func custodyError(err error) error {
	switch {
	case errors.Is(err, keystore.ErrBadPassphrase):
		return &apiError{http.StatusForbidden, "bad_passphrase", "wrong passphrase; the keystore stays locked"}
	case errors.Is(err, keystore.ErrMode):
		return &apiError{http.StatusConflict, "wrong_method", err.Error()}
	case errors.Is(err, custody.ErrBadShare), errors.Is(err, custody.ErrWrongSet), errors.Is(err, custody.ErrMalformed):
		return &apiError{http.StatusForbidden, "bad_share", fmt.Sprintf("share refused: %v; shares received so far are kept", err)}
	case errors.Is(err, custody.ErrDuplicate), errors.Is(err, custody.ErrSubmitter):
		return &apiError{http.StatusConflict, "duplicate_share", err.Error()}
	case errors.Is(err, keystore.ErrLocked):
		return keyError("", err)
	case errors.Is(err, keystore.ErrUnavailable):
		return &apiError{http.StatusServiceUnavailable, "hsm_unavailable", err.Error()}
	case errors.Is(err, keystore.ErrNotFound):
		return &apiError{http.StatusNotFound, "not_found", err.Error()}
	}
	return err
}

func (s *Server) lock(c *call) error {
	c.action = audit.ActionLock
	if err := s.authorize(c, policy.Request{Action: policy.Custody}); err != nil {
		return err
	}
	// Lock first, record after: the panic button works even when the
	// audit log does not. Then the record waits for the log, and the
	// answer says so.
	was := s.keys.Lock()
	c.details = map[string]string{"was_unlocked": strconv.FormatBool(was)}
	s.log.Warn("keystore locked by request", "id", c.id, "principal", c.principal.Name, "was_unlocked", was)
	e := c.entry(audit.Allowed, "")
	if err := s.recordAct(c, e); err != nil {
		s.keepPending(e)
		s.writeJSON(c.w, http.StatusAccepted, api.LockResponse{WasUnlocked: was, RecordPending: true,
			Message: "keystore locked; the audit log cannot record it now, so its record is pending and will be written as soon as the log is back (the server log has details under this request id)"})
		return nil
	}
	s.writeJSON(c.w, http.StatusOK, api.LockResponse{WasUnlocked: was})
	return nil
}

func (s *Server) status(c *call) error {
	if err := s.authorize(c, policy.Request{Action: policy.Custody}); err != nil {
		return err
	}
	s.writeJSON(c.w, http.StatusOK, s.keys.Status())
	return nil
}

// custodian returns the keyring's custody administration, or a 501.
func (s *Server) custodian() (Custodian, error) {
	if k, ok := s.keys.(Custodian); ok {
		return k, nil
	}
	return nil, &apiError{http.StatusNotImplemented, "not_implemented", "this server's keystore has no custody administration"}
}

func (s *Server) custodyInit(c *call) error {
	c.action = audit.ActionCustody
	c.details = map[string]string{"event": "init"}
	if err := s.authorize(c, policy.Request{Action: policy.Admin}); err != nil {
		return err
	}
	k, err := s.custodian()
	if err != nil {
		return err
	}
	req, err := decode[api.CustodyInitRequest](c)
	if err != nil {
		return err
	}
	if err := custody.Check(req.Threshold, req.Custodians); err != nil {
		return badRequest("%v", err)
	}
	c.details["threshold"] = strconv.Itoa(req.Threshold)
	c.details["custodians"] = names(req.Custodians)
	rec := s.recordFirst(c)
	set, files, err := k.InitCustody([]byte(req.Passphrase), req.Threshold, req.Custodians, func(set *custody.Set) error {
		c.details["set"] = set.ID
		return rec.write(c.entry(audit.Allowed, ""))
	})
	if err != nil {
		return rec.failed(custodyError(err))
	}
	return s.deliverShares(c, set, files, func(ns *api.CustodyShares) any { return ns })
}

// deliverShares answers with the share files of a new share set, whose
// act was recorded before the keystore changed. The shares are delivered
// whatever happens now: withholding them would lose the keystore.
func (s *Server) deliverShares(c *call, set *custody.Set, files []keystore.ShareFile, wrap func(*api.CustodyShares) any) error {
	ss := keystore.SetStatus{ID: set.ID, Threshold: set.Threshold, Created: set.Created}
	for _, cu := range set.Custodians {
		ss.Custodians = append(ss.Custodians, cu.Name)
	}
	s.log.Info("new custody share set", "id", c.id, "principal", c.principal.Name, "set", set.ID, "threshold", set.Threshold, "custodians", len(set.Custodians))
	s.writeJSON(c.w, http.StatusOK, wrap(&api.CustodyShares{Set: ss, Shares: files}))
	return nil
}

func names(cs []custody.Custodian) string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Name)
	}
	return strings.Join(n, ",")
}

func (s *Server) custodyRekey(c *call) error {
	c.action = audit.ActionCustody
	c.details = map[string]string{"event": "rekey-proposed"}
	if err := s.authorize(c, policy.Request{Action: policy.Admin}); err != nil {
		return err
	}
	k, err := s.custodian()
	if err != nil {
		return err
	}
	req, err := decode[api.RekeyRequest](c)
	if err != nil {
		return err
	}
	if err := custody.Check(req.Threshold, req.Custodians); err != nil {
		return badRequest("%v", err)
	}
	c.details["threshold"] = strconv.Itoa(req.Threshold)
	c.details["custodians"] = names(req.Custodians)
	if p := s.keys.Status().Rekey; p != nil {
		return &apiError{http.StatusConflict, "pending", fmt.Sprintf("rekey proposal %s by %q is pending; have custodians approve it, or discard it with 'signet custody reset'", p.ID, p.By)}
	}
	rec := s.recordFirst(c)
	p, err := k.ProposeRekey(c.principal.Name, req.Threshold, req.Custodians, func(p keystore.Proposal) error {
		c.details["proposal"] = p.ID
		return rec.write(c.entry(audit.Allowed, ""))
	})
	if err != nil {
		return rec.failed(custodyError(err))
	}
	s.writeJSON(c.w, http.StatusOK, p)
	return nil
}

func (s *Server) custodyApprove(c *call) error {
	c.action = audit.ActionCustody
	c.details = map[string]string{"event": "rekey-approval"}
	if err := s.authorize(c, policy.Request{Action: policy.Custody}); err != nil {
		return err
	}
	k, err := s.custodian()
	if err != nil {
		return err
	}
	req, err := decode[api.RekeyApproval](c)
	if err != nil {
		return err
	}
	defer req.Share.Wipe()
	c.details["proposal"] = req.Proposal
	c.details["share_index"] = strconv.Itoa(req.Share.Index)
	st := s.keys.Status()
	if st.Set != nil {
		c.details["custodian"] = custodianName(st.Set, req.Share.Index)
	}
	if st.Rekey == nil || st.Rekey.ID != req.Proposal {
		return &apiError{http.StatusNotFound, "no_proposal", fmt.Sprintf("no pending rekey proposal %q; 'signet status' shows the pending one", req.Proposal)}
	}
	// Record the approval before it can complete the rekey: if the log
	// is down, nothing changes. The entry says whether it completes it.
	c.details["completes"] = strconv.FormatBool(len(st.Rekey.Progress.Received)+1 >= st.Rekey.Progress.Threshold)
	if err := s.recordAct(c, c.entry(audit.Allowed, "")); err != nil {
		return err
	}
	a, set, files, err := k.ApproveRekey(c.principal.Name, req.Proposal, req.Share)
	if err != nil {
		c.recorded = false
		c.details["outcome"] = "refused"
		return custodyError(err)
	}
	if set == nil {
		s.writeJSON(c.w, http.StatusOK, api.RekeyApprovalResponse{Share: a})
		return nil
	}
	// The approval's entry announced the rekey; this one names the new
	// set. The header has changed: if it cannot be recorded, the shares
	// are delivered all the same.
	c.details = map[string]string{"event": "rekey", "proposal": req.Proposal, "set": set.ID, "threshold": strconv.Itoa(set.Threshold), "custodians": names(set.Custodians)}
	if e := c.entry(audit.Allowed, ""); s.recordAct(c, e) != nil {
		s.keepPending(e)
	}
	return s.deliverShares(c, set, files, func(ns *api.CustodyShares) any { return api.RekeyApprovalResponse{Share: a, New: ns} })
}

func (s *Server) custodyReset(c *call) error {
	c.action = audit.ActionCustody
	c.details = map[string]string{"event": "reset"}
	if err := s.authorize(c, policy.Request{Action: policy.Admin}); err != nil {
		return err
	}
	k, err := s.custodian()
	if err != nil {
		return err
	}
	rec := s.recordFirst(c)
	lost, err := k.ResetProgress(func(lost []custody.Received) error {
		c.details["discarded"] = describeReceived(lost)
		return rec.write(c.entry(audit.Allowed, ""))
	})
	if err != nil {
		return rec.failed(err)
	}
	s.writeJSON(c.w, http.StatusOK, api.ResetResponse{Discarded: append([]custody.Received{}, lost...)})
	return nil
}

func describeReceived(rs []custody.Received) string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("share %d (%s) from %s", r.Index, r.Custodian, r.By))
	}
	return strings.Join(out, "; ")
}

func (s *Server) hsmEnroll(c *call) error {
	c.action = audit.ActionCustody
	c.details = map[string]string{"event": "hsm-enroll"}
	if err := s.authorize(c, policy.Request{Action: policy.Admin}); err != nil {
		return err
	}
	k, err := s.custodian()
	if err != nil {
		return err
	}
	req, err := decode[api.EnrollRequest](c)
	if err != nil {
		return err
	}
	c.details["token"] = req.Token
	if err := keystore.ValidName(req.Token); err != nil {
		return badRequest("token: %v", err)
	}
	rec := s.recordFirst(c)
	if err := k.EnrollToken(req.Token, req.PIN, func() error { return rec.write(c.entry(audit.Allowed, "")) }); err != nil {
		if errors.Is(err, keystore.ErrBadPassphrase) {
			return rec.failed(&apiError{http.StatusForbidden, "bad_pin", fmt.Sprintf("%v; give the user PIN the token was initialized with", err)})
		}
		return rec.failed(custodyError(err))
	}
	s.writeJSON(c.w, http.StatusOK, struct{}{})
	return nil
}

// recordEvent audits what the keyring does by itself. A scheduled
// rotation is reported before it takes effect, and is not made if its
// record fails. A lease ending or partial progress discarded has
// happened already (and must, log or not): its record is kept pending
// until the log takes it.
func (s *Server) recordEvent(ev keystore.Event) error {
	e := audit.Entry{
		Time: ev.Time, Server: s.id, RequestID: newRequestID(), Action: audit.ActionCustody,
		Decision: audit.Allowed, Reason: ev.Reason, Principal: audit.Principal{Kind: "server", Name: s.id},
	}
	switch ev.Kind {
	case "lock":
		e.Action = audit.ActionLock
	case "rotate":
		e.Action = audit.ActionKeyRotate
		if ev.Err != nil {
			e.Decision = audit.Failed
		}
		if k := ev.Key; k != nil {
			v, _ := k.VersionOf(k.Version)
			e.Key = versionRef(*k, v)
			e.Details = map[string]string{"scheduled": "true", "not_before": v.NotBefore.Format(timeFormat)}
			if !v.NotAfter.IsZero() {
				e.Details["not_after"] = v.NotAfter.Format(timeFormat)
			}
		}
	}
	if len(ev.Lost) > 0 {
		e.Details = map[string]string{"discarded": describeReceived(ev.Lost)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.audit.Append(ctx, e); err != nil && !errors.Is(err, audit.ErrNoCheckpoint) {
		if ev.Kind == "rotate" && ev.Err == nil {
			s.log.Error("scheduled rotation not made: the audit log cannot record it", "event", ev.Reason, "err", err)
			return auditError(err)
		}
		s.keepPending(e)
		return nil
	}
	s.log.Warn("keystore event", "action", e.Action, "reason", ev.Reason)
	return nil
}

// expireLeases makes leases end on time even when nobody signs.
func (s *Server) expireLeases(ctx context.Context) {
	k, ok := s.keys.(Custodian)
	if !ok {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			k.Expire()
		}
	}
}
