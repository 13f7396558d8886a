package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/catalog"
	"github.com/signet-dev/signet/policy"
)

// Settings are the parts of a server's configuration that a reload
// (SIGHUP) replaces while it serves: who may do what, how callers are
// authenticated (certificate rules, token verifiers and their deny list),
// and the catalogs. Everything else — listeners, limits, the keystore and
// its tokens, the audit log — is fixed for the life of the process.
type Settings struct {
	Policy   *policy.Policy
	Authn    Authenticator
	Tokens   TokenOptions
	Catalogs []*catalog.Catalog
}

// settings are Settings as a request uses them. They are immutable: a
// reload builds new ones and swaps the pointer, so a request in flight
// finishes with the settings it started with.
type settings struct {
	policy   *policy.Policy
	authn    Authenticator
	tokens   TokenOptions
	catalogs map[string]*catalog.Catalog
}

// defaultTokenTTL is the longest token lifetime when TokenOptions.MaxTTL
// is not set.
const defaultTokenTTL = 24 * time.Hour

func newSettings(o Settings) *settings {
	if o.Tokens.MaxTTL <= 0 {
		o.Tokens.MaxTTL = defaultTokenTTL
	}
	set := &settings{policy: o.Policy, authn: o.Authn, tokens: o.Tokens, catalogs: map[string]*catalog.Catalog{}}
	for _, c := range o.Catalogs {
		set.catalogs[c.Spec().Name] = c
	}
	return set
}

// Reload records a configuration reload in the audit log and then
// replaces the server's settings with set, atomically: requests that
// started before keep the settings they started with, later ones get the
// new. details (the config file's digest, what a restart would still
// change) go into the audit entry. If the reload cannot be recorded it is
// not made, and the old settings stay.
func (s *Server) Reload(ctx context.Context, set Settings, details map[string]string) error {
	if set.Policy == nil || set.Authn == nil {
		return errors.New("reload: settings without a policy or an authenticator")
	}
	e := s.reloadEntry(audit.Allowed, "", details)
	if _, err := s.audit.Append(ctx, e); err != nil && !errors.Is(err, audit.ErrNoCheckpoint) {
		s.metrics.reloaded(false)
		return fmt.Errorf("reload not applied: the audit log cannot record it: %w", err)
	}
	s.settings.Store(newSettings(set))
	s.metrics.reloaded(true)
	return nil
}

// RecordFailedReload records a reload that was refused (the new
// configuration does not load) and counts it. The old settings stay.
func (s *Server) RecordFailedReload(ctx context.Context, why error, details map[string]string) {
	s.metrics.reloaded(false)
	e := s.reloadEntry(audit.Failed, why.Error(), details)
	if _, err := s.audit.Append(ctx, e); err != nil && !errors.Is(err, audit.ErrNoCheckpoint) {
		s.log.Error("audit log append failed for a refused config reload", "err", err)
	}
}

func (s *Server) reloadEntry(d audit.Decision, reason string, details map[string]string) audit.Entry {
	return audit.Entry{
		Time: time.Now(), Server: s.id, RequestID: newRequestID(), Action: audit.ActionConfigReload,
		Decision: d, Reason: reason, Principal: audit.Principal{Kind: "server", Name: s.id}, Details: details,
	}
}

// TLSSwitch serves each new connection with the TLS configuration current
// at its handshake, so that a reload replaces the server certificate and
// the client CAs without closing a connection: connections already open
// keep what they were accepted with.
type TLSSwitch struct {
	cur atomic.Pointer[tls.Config]
}

// NewTLSSwitch returns a switch serving c until Set.
func NewTLSSwitch(c *tls.Config) *TLSSwitch {
	t := &TLSSwitch{}
	t.Set(c)
	return t
}

// Set makes c the configuration of the next handshakes.
func (t *TLSSwitch) Set(c *tls.Config) {
	c = c.Clone()
	if len(c.NextProtos) == 0 {
		c.NextProtos = []string{"h2", "http/1.1"}
	}
	t.cur.Store(c)
}

// Config returns the configuration to serve with: it hands every
// handshake to the current one.
func (t *TLSSwitch) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.cur.Load(), nil
		},
	}
}
