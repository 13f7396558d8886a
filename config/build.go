package config

import (
	"crypto/tls"
	"errors"
	"reflect"

	"github.com/signet-dev/signet/authn"
	"github.com/signet-dev/signet/catalog"
	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/server"
)

// Runtime is what a configuration builds for a server to run with, from
// the files it names: certificates, CAs, token keys and deny list,
// catalogs. `signet serve` builds one at start and again at each reload
// (SIGHUP); `signet config check` builds one to prove that the file would
// start a server, without starting it.
type Runtime struct {
	TLS        *tls.Config          // of the API listener
	MetricsTLS *tls.Config          // of the metrics listener with metrics.tls; else nil
	Authn      *authn.Authenticator // certificate rules; the token verifier with the deny list loaded
	Policy     *policy.Policy
	Catalogs   []*catalog.Catalog
}

// Build builds the Runtime of c, reporting every problem it finds as
// Errors located in the file.
func (c *Config) Build() (*Runtime, error) {
	var errs Errors
	fail := func(err error) {
		var es Errors
		var e *Error
		switch {
		case errors.As(err, &es):
			errs = append(errs, es...)
		case errors.As(err, &e):
			errs = append(errs, e)
		default:
			errs = append(errs, &Error{File: c.file, Err: err})
		}
	}
	r := &Runtime{}
	var err error
	if r.TLS, err = c.ServerTLS(); err != nil {
		fail(err)
	} else if c.Metrics.TLS {
		r.MetricsTLS = r.TLS.Clone()
		r.MetricsTLS.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if r.Authn, err = c.Authenticator(); err != nil {
		fail(err)
	} else if t := c.Tokens; t != nil && t.DenyList != "" {
		if err := r.Authn.Tokens.LoadDenyList(t.DenyList); err != nil {
			fail(c.errorAt("tokens.deny_list", err))
		}
	}
	if r.Policy, err = c.Policy(); err != nil {
		fail(err)
	}
	if r.Catalogs, err = c.CatalogSet(); err != nil {
		fail(err)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

// Settings are the parts of r a running server replaces on reload.
func (r *Runtime) Settings(c *Config) server.Settings {
	s := server.Settings{Policy: r.Policy, Authn: r.Authn, Catalogs: r.Catalogs}
	if t := c.Tokens; t != nil {
		s.Tokens = server.TokenOptions{Verifier: r.Authn.Tokens, Audience: c.Name, SigningKey: t.SigningKey, MaxTTL: t.MaxTTL}
	}
	return s
}

// FixedFields lists the fields whose values differ between c and next but
// that only a restart applies: a reload (Runtime.Settings, and the
// certificates of the listeners) leaves them as they were.
func (c *Config) FixedFields(next *Config) []string {
	var out []string
	for _, f := range []struct {
		name      string
		old, next any
	}{
		{"listen", c.Listen, next.Listen}, {"data", c.Data, next.Data}, {"limits", c.Limits, next.Limits},
		{"drain_timeout", c.DrainTimeout, next.DrainTimeout}, {"keystore", c.Keystore, next.Keystore},
		{"audit", c.Audit, next.Audit}, {"audit.origin", c.AuditOrigin(), next.AuditOrigin()},
		{"log", c.Log, next.Log}, {"server_id", c.ServerID, next.ServerID}, {"metrics", c.Metrics, next.Metrics},
	} {
		if !reflect.DeepEqual(f.old, f.next) {
			out = append(out, f.name)
		}
	}
	return out
}
