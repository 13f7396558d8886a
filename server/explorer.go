package server

import (
	"crypto/ed25519"
	"fmt"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/explorer"
	"github.com/signet-dev/signet/policy"
)

// The audit explorer (package explorer) is served under /ui/ on the API's
// listener, behind the same mutual TLS: a browser presents the operator's
// client certificate, and the principal needs the audit grant (audit:
// true, or admin), like the audit read API. Tokens may only sign, so they
// never open it. It only reads; refusals are recorded like any other.

func (s *Server) newExplorer() *explorer.Explorer {
	ui, err := explorer.New(explorer.Options{Log: s.audit, Keys: s.keys, VerifierKey: s.verifierKey, Logger: s.log})
	if err != nil {
		panic(err) // its templates are embedded and tested
	}
	return ui
}

func (s *Server) explore(c *call) error {
	if err := s.authorize(c, policy.Request{Action: policy.Audit}); err != nil {
		return err
	}
	s.ui.ServeHTTP(c.w, c.r)
	return nil
}

// verifierKey returns the log's verifier key, from the log key's public
// half (readable while the keystore is locked).
func (s *Server) verifierKey() (string, error) {
	k, err := s.keys.Key(s.auditKey)
	if err != nil {
		return "", fmt.Errorf("audit log key %q: %w", s.auditKey, err)
	}
	pub, ok := k.Public.(ed25519.PublicKey)
	if !ok {
		return "", fmt.Errorf("audit log key %q is not Ed25519", k.Name)
	}
	return audit.VerifierKey(s.audit.Origin(), pub)
}
