// Package config reads the server configuration file of `signet serve
// --config`.
//
// The file is YAML and is decoded strictly: an unknown or misspelt field is
// an error, not a silent default. Relative paths are resolved against the
// directory of the file. docs/config.md documents every field and
// docs/signet.example.yaml is a complete example.
//
// A Config is plain data. Its methods build what the server runs with — the
// TLS configuration, the certificate authenticator and the policy — and
// fail with an error naming the field at fault. Every error is located:
// [Errors] of [Error]s that read FILE:LINE: field: why, from the one
// parser that `signet serve`, its SIGHUP reloads and `signet config
// check` share.
package config

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/signet-dev/signet/authn"
	"github.com/signet-dev/signet/catalog"
	"github.com/signet-dev/signet/format/rfc3161"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/keystore/pkcs11"
	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/server"
	"github.com/signet-dev/signet/token"
)

// Config is the server configuration.
type Config struct {
	Name         string         `yaml:"name"`          // deployment name: the audience of its tokens
	Listen       string         `yaml:"listen"`        // host:port
	Data         string         `yaml:"data"`          // state directory; the keystore is Data/keystore
	TLS          TLS            `yaml:"tls"`           // server certificate and trusted client CAs
	Limits       server.Limits  `yaml:"limits"`        // zero fields take defaults
	DrainTimeout time.Duration  `yaml:"drain_timeout"` // on shutdown; default 30s
	Principals   []Principal    `yaml:"principals"`
	Tokens       *Tokens        `yaml:"tokens"` // nil: no tokens, client certificates only
	Keystore     Keystore       `yaml:"keystore"`
	Audit        Audit          `yaml:"audit"`
	Log          Log            `yaml:"log"`
	ServerID     string         `yaml:"server_id"` // names this replica in audit entries; default host name and port
	Catalogs     []catalog.Spec `yaml:"catalogs"`  // indexes signed in pull mode
	Rotation     Rotation       `yaml:"rotation"`  // key versions: rotation policies, the key-list root
	Metrics      Metrics        `yaml:"metrics"`   // the listener of /metrics, /healthz and /readyz for operators' tools
	Timestamp    Timestamp      `yaml:"timestamp"` // the RFC 3161 time-stamp authority (keys of usage tsa)

	file string     // where it was read from, for errors
	root *yaml.Node // the parsed file, to locate errors
}

// Keystore configures custody of the keys: how long an unlock lasts, how
// long submitted shares wait for a quorum, and which keys live in PKCS #11
// tokens rather than in the encrypted file keystore (docs/custody.md).
type Keystore struct {
	IdleTTL             time.Duration `yaml:"idle_ttl"`              // lock after this long without a signature; default 1h
	MaxTTL              time.Duration `yaml:"max_ttl"`               // lock this long after an unlock, however busy; default 12h
	PartialUnlockWindow time.Duration `yaml:"partial_unlock_window"` // shares wait this long for a quorum; default 15m
	PKCS11              []PKCS11      `yaml:"pkcs11"`                // tokens, tried in order for new keys
	// Postgres, if set, is the PostgreSQL URL of a fleet's keystore
	// (moved there with 'signet keystore migrate'); otherwise the keys
	// live in DATA/keystore, which serves one replica.
	Postgres string `yaml:"postgres"`
}

// PKCS11 is a PKCS #11 token and the keys created in it.
type PKCS11 struct {
	Name       string   `yaml:"name"`        // the backend's name in key files and status; never rename it
	Module     string   `yaml:"module"`      // the vendor's PKCS #11 library
	TokenLabel string   `yaml:"token_label"` // exactly one of token_label and slot
	Slot       *int     `yaml:"slot"`
	Keys       []string `yaml:"keys"` // key name patterns created in this token
}

// Timestamp configures the RFC 3161 time-stamp authority: the policy its
// tokens are issued under and the accuracy they state (docs/formats.md).
type Timestamp struct {
	Policy   string        `yaml:"policy"`   // TSA policy OID, dotted; default 1.3.6.1.4.1.32473.3161.1, a documentation OID
	Accuracy time.Duration `yaml:"accuracy"` // how far the server clock may be from UTC; default 1s
}

// TimestampOptions returns the server's time-stamp settings (checked by
// Parse).
func (c *Config) TimestampOptions() server.TimestampOptions {
	var o server.TimestampOptions
	if c.Timestamp.Policy != "" {
		o.Policy, _ = rfc3161.ParsePolicy(c.Timestamp.Policy)
	}
	o.Accuracy = c.Timestamp.Accuracy
	return o
}

// Default lease and ceremony durations.
const (
	DefaultIdleTTL             = time.Hour
	DefaultMaxTTL              = 12 * time.Hour
	DefaultPartialUnlockWindow = 15 * time.Minute
)

// Log configures the server's own log (not the audit log): one line per
// request and event, on standard error.
type Log struct {
	Format string `yaml:"format"` // "json" (default) or "text"
	Level  string `yaml:"level"`  // "debug", "info" (default), "warn" or "error"
}

// SlogLevel returns the configured level.
func (l Log) SlogLevel() slog.Level {
	var lv slog.Level
	lv.UnmarshalText([]byte(cmp.Or(l.Level, "info"))) // checked by Parse
	return lv
}

// Audit configures the audit log. Without postgres, the log is a C2SP
// tile log in DATA/audit/tiles (or a SQLite log in DATA/audit/log.db not
// migrated yet).
type Audit struct {
	Key             string        `yaml:"key"`              // keystore key (ed25519, usage audit) signing checkpoints; default "audit-log"
	Origin          string        `yaml:"origin"`           // the log's name, fixed for its life; default "NAME/audit", or without a name one chosen per deployment and kept in the log's store
	Postgres        string        `yaml:"postgres"`         // PostgreSQL URL of the log shared by a fleet
	CheckpointEvery time.Duration `yaml:"checkpoint_every"` // least time between stored checkpoints; default 1s
	CommitDelay     time.Duration `yaml:"commit_delay"`     // wait for requests in flight before a commit; default 200µs, negative: never
	PublicTiles     bool          `yaml:"public_tiles"`     // serve GET /log/checkpoint and hash tiles without authentication
}

// DefaultCommitDelay is audit.commit_delay when unset.
const DefaultCommitDelay = 200 * time.Microsecond

// AuditCommitDelay returns how long a commit may wait for requests in
// flight (0: never).
func (c *Config) AuditCommitDelay() time.Duration {
	switch d := c.Audit.CommitDelay; {
	case d < 0:
		return 0
	case d == 0:
		return DefaultCommitDelay
	default:
		return d
	}
}

// Rotation configures key versions (docs/rotation.md): which keys rotate
// by themselves, and the root key that signs key lists.
type Rotation struct {
	KeyListKey string               `yaml:"key_list_key"` // keystore key (ed25519, usage key-list) signing key lists; default "key-list"
	Keys       map[string]KeyPolicy `yaml:"keys"`         // by key name
}

// KeyPolicy is the lifecycle policy of one key.
type KeyPolicy struct {
	// RotateEvery is how long a version signs: when its window ends,
	// the next signature (or the server's once-a-second check) makes a
	// new version. 0: the key rotates only by hand.
	RotateEvery time.Duration `yaml:"rotate_every"`
}

// MinRotateEvery is the shortest rotation period accepted.
const MinRotateEvery = time.Minute

// KeyListKey returns the name of the key-list root key.
func (c *Config) KeyListKey() string {
	if c.Rotation.KeyListKey == "" {
		return "key-list"
	}
	return c.Rotation.KeyListKey
}

// RotateEvery returns the rotation period of key name; 0 if it has none.
func (c *Config) RotateEvery(name string) time.Duration {
	return c.Rotation.Keys[name].RotateEvery
}

// AuditKey returns the name of the log key.
func (c *Config) AuditKey() string {
	if c.Audit.Key == "" {
		return "audit-log"
	}
	return c.Audit.Key
}

// AuditOrigin returns the log's name as configured: audit.origin, or
// NAME/audit. "" when the config names neither: the log then keeps the
// origin chosen for it when it was first opened (audit.DefaultOrigin), so
// that deployments never share one.
func (c *Config) AuditOrigin() string {
	if c.Audit.Origin != "" {
		return c.Audit.Origin
	}
	if c.Name != "" {
		return c.Name + "/audit"
	}
	return ""
}

// AuditDB is where the embedded audit log lived before tile logs: a SQLite
// database, used until 'signet audit migrate' moves it to AuditTiles.
func (c *Config) AuditDB() string { return filepath.Join(c.Data, "audit", "log.db") }

// AuditTiles is where the embedded audit log lives: a C2SP tlog-tiles
// directory (audit.TileStore).
func (c *Config) AuditTiles() string { return filepath.Join(c.Data, "audit", "tiles") }

// Tokens configures self-contained tokens (docs/tokens.md). Every replica
// lists the same verifiers; a replica that issues tokens also names its
// signing key, which must be one of them.
type Tokens struct {
	SigningKey   string        `yaml:"signing_key"`    // Ed25519 keystore key this replica issues tokens with; also its key id
	Verifiers    []TokenKey    `yaml:"verifiers"`      // public keys accepted, by key id
	MaxTTL       time.Duration `yaml:"max_ttl"`        // longest token lifetime; default 24h
	ClockSkew    time.Duration `yaml:"clock_skew"`     // tolerance for exp and nbf; default 60s
	DenyList     string        `yaml:"deny_list"`      // signed deny-list file, reloaded on change
	DenyListPoll time.Duration `yaml:"deny_list_poll"` // how often to look for changes; default 10s
}

// TokenKey is a token verification key.
type TokenKey struct {
	ID        string `yaml:"id"`
	PublicKey string `yaml:"public_key"` // PEM SubjectPublicKeyInfo, or the base64 DER inside it
}

// TLS names the server's certificate files and the CAs that issue client
// certificates.
type TLS struct {
	Cert      string   `yaml:"cert"`
	Key       string   `yaml:"key"`
	ClientCAs []string `yaml:"client_cas"`
}

// Principal is a named caller: how it is recognised and what it may do.
type Principal struct {
	Name         string      `yaml:"name"`
	Certificate  Certificate `yaml:"certificate"`
	policy.Rules `yaml:",inline"`
}

// Certificate says which client certificates prove a principal: a pinned
// fingerprint, or an optional issuing CA plus one subject name.
type Certificate struct {
	SHA256    string `yaml:"sha256"`
	CA        string `yaml:"ca"` // PEM file; must chain to one of tls.client_cas
	SubjectCN string `yaml:"subject_cn"`
	DNSName   string `yaml:"dns_name"`
	Email     string `yaml:"email"`
	URI       string `yaml:"uri"`
}

// Load reads and checks the configuration file at path. Its errors are
// Errors, each naming the file, the line and the field.
func Load(path string) (*Config, error) {
	c, err := LoadAll(path)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// LoadAll is Load for 'signet config check': it also returns the
// configuration of a file that decoded but whose values are wrong, so
// that building it can report the problems of the files it names in the
// same run.
func LoadAll(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := parse(b, path)
	if c == nil {
		return nil, err
	}
	c.resolve(filepath.Dir(path))
	return c, err
}

// AuditOriginError is the problem of a configuration whose audit log
// origin (audit.origin, or name + "/audit") is not the origin of the log
// already stored: the server would refuse to start with it.
func (c *Config) AuditOriginError(stored string) error {
	if stored == "" || c.AuditOrigin() == "" || stored == c.AuditOrigin() {
		return nil // no log yet, or one that keeps the origin it began with
	}
	field, fix := "audit.origin", fmt.Sprintf("set audit.origin: %q back", stored)
	if c.Audit.Origin == "" {
		field = "name"
		fix = fmt.Sprintf("keep the log's name with audit.origin: %q (or set name back)", stored)
	}
	return c.errorAt(field, fmt.Errorf("the audit log in %s is named %q, but this configuration names it %q, and a log keeps its name for life: %s",
		c.Data, stored, c.AuditOrigin(), fix))
}

// Parse decodes and checks a configuration. Relative paths stay relative.
func Parse(b []byte) (*Config, error) {
	c, err := parse(b, "")
	if err != nil {
		return nil, err
	}
	return c, nil
}

// parse is the one parser of configurations, of `signet serve`, its
// reloads and `signet config check` alike.
func parse(b []byte, file string) (*Config, error) {
	var c Config
	var root yaml.Node
	// Two passes over the same bytes: the strict decode into Config (the
	// only way go.yaml.in/yaml/v3 refuses unknown fields), and the node
	// tree, which knows where each field is.
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, Errors{syntaxError(file, err)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); errors.Is(err, io.EOF) {
		return nil, Errors{{File: file, Err: errors.New("the file is empty; docs/signet.example.yaml is a complete example")}}
	} else if err != nil {
		return nil, decodeErrors(file, &root, err)
	}
	c.file, c.root = file, &root
	if errs := c.check(); len(errs) > 0 {
		// The configuration is returned with its problems, for config
		// check to build; callers that see an error use nothing else.
		return &c, c.locate(errs)
	}
	return &c, nil
}

func (c *Config) check() problems {
	var errs problems
	need := func(v, field string) {
		if v == "" {
			errs.add(field, "%s is required", field)
		}
	}
	need(c.Listen, "listen")
	need(c.Data, "data")
	need(c.TLS.Cert, "tls.cert")
	need(c.TLS.Key, "tls.key")
	if len(c.TLS.ClientCAs) == 0 {
		errs.add("tls.client_cas", "tls.client_cas is required: list the CA certificates that issue client certificates")
	}
	if len(c.Principals) == 0 {
		errs.add("principals", "principals is empty: nobody could use this server")
	}
	seen := map[string]bool{}
	for i, p := range c.Principals {
		if p.Name == "" {
			errs.add(fmt.Sprintf("principals[%d]", i), "principals[%d].name is required", i)
		}
		if seen[p.Name] {
			errs.add(fmt.Sprintf("principals[%d].name", i), "principal %q is defined twice", p.Name)
		}
		seen[p.Name] = true
		if p.Certificate.SHA256 != "" && p.Certificate.CA != "" {
			errs.add(fmt.Sprintf("principals[%d].certificate.ca", i), "principal %q: certificate.ca has no effect with certificate.sha256, which pins one certificate; remove one of them", p.Name)
		}
	}
	if f := c.Log.Format; f != "" && f != "json" && f != "text" {
		errs.add("log.format", "log.format %q: use json or text", f)
	}
	if lv := c.Log.Level; lv != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(lv)); err != nil {
			errs.add("log.level", "log.level %q: use debug, info, warn or error", lv)
		}
	}
	if o := c.AuditOrigin(); strings.ContainsAny(o, " \t\n+") {
		errs.add("audit.origin", "audit.origin %q: a log name has no spaces or '+'", o)
	}
	if t := c.Tokens; t != nil {
		if c.Name == "" {
			errs.add("tokens", "name is required with tokens: it is the audience every token is issued for")
		}
		if len(t.Verifiers) == 0 {
			errs.add("tokens.verifiers", "tokens.verifiers is empty: list the public key of every token-signing key in use")
		}
		ids := map[string]bool{}
		for i, v := range t.Verifiers {
			if v.ID == "" {
				errs.add(fmt.Sprintf("tokens.verifiers[%d]", i), "tokens.verifiers[%d].id is required", i)
			}
			if ids[v.ID] {
				errs.add(fmt.Sprintf("tokens.verifiers[%d].id", i), "tokens.verifiers: id %q is listed twice", v.ID)
			}
			ids[v.ID] = true
			if _, err := parseEd25519(v.PublicKey); err != nil {
				errs.add(fmt.Sprintf("tokens.verifiers[%d].public_key", i), "tokens.verifiers %q: %w", v.ID, err)
			}
		}
		if t.SigningKey != "" && !ids[t.SigningKey] {
			errs.add("tokens.signing_key", "tokens.signing_key %q is not among tokens.verifiers: add its public key ('signet key public %s') so that tokens it issues verify", t.SigningKey, t.SigningKey)
		}
	}
	names := map[string]bool{}
	for i := range c.Catalogs {
		cat := &c.Catalogs[i]
		if names[cat.Name] {
			errs.add(fmt.Sprintf("catalogs[%d].name", i), "catalog %q is defined twice", cat.Name)
		}
		names[cat.Name] = true
		if err := cat.Check(); err != nil {
			errs.add(fmt.Sprintf("catalogs[%d]", i), "catalogs[%d]: %w", i, err)
		}
		for _, p := range cat.Principals {
			if !seen[p] {
				errs.add(fmt.Sprintf("catalogs[%d].principals", i), "catalogs[%d] (%q): principal %q is not defined under principals", i, cat.Name, p)
			}
		}
	}
	for i, p := range c.Keystore.PKCS11 {
		at := fmt.Sprintf("keystore.pkcs11[%d]", i)
		if err := keystore.ValidName(p.Name); err != nil {
			errs.add(at+".name", "%s.name: %w", at, err)
		} else if names[p.Name] {
			errs.add(at+".name", "%s.name %q is used twice", at, p.Name)
		}
		names[p.Name] = true
		if p.Module == "" {
			errs.add(at, "%s.module is required: the path of the token's PKCS #11 library, e.g. /usr/lib/softhsm/libsofthsm2.so", at)
		}
		if (p.TokenLabel == "") == (p.Slot == nil) {
			errs.add(at, "%s: give exactly one of token_label and slot", at)
		}
		if len(p.Keys) == 0 {
			errs.add(at+".keys", "%s.keys is empty: list the key name patterns created in this token", at)
		}
		for _, k := range p.Keys {
			if _, err := path.Match(k, ""); err != nil {
				errs.add(at+".keys", "%s.keys: bad pattern %q: %w", at, k, err)
			}
		}
	}
	if err := keystore.ValidName(c.KeyListKey()); err != nil {
		errs.add("rotation.key_list_key", "rotation.key_list_key: %w", err)
	}
	if c.Timestamp.Policy != "" {
		if _, err := rfc3161.ParsePolicy(c.Timestamp.Policy); err != nil {
			errs.add("timestamp.policy", "timestamp.policy: %w", err)
		}
	}
	if a := c.Timestamp.Accuracy; a < 0 || a > time.Hour {
		errs.add("timestamp.accuracy", "timestamp.accuracy %v: give a duration from 1µs to 1h (0: the default, 1s)", a)
	}
	for name, p := range c.Rotation.Keys {
		at := "rotation.keys." + name
		if err := keystore.ValidName(name); err != nil {
			errs.add(at, "rotation.keys: %w", err)
		}
		switch {
		case p.RotateEvery < 0:
			errs.add(at+".rotate_every", "%s.rotate_every is negative; leave the key out to rotate it only by hand", at)
		case p.RotateEvery > 0 && p.RotateEvery < MinRotateEvery:
			errs.add(at+".rotate_every", "%s.rotate_every %v is shorter than %v: every window's public key must reach verifiers before it signs", at, p.RotateEvery, MinRotateEvery)
		}
		if name == c.AuditKey() || c.Tokens != nil && name == c.Tokens.SigningKey || name == c.KeyListKey() {
			errs.add(at, "%s: the audit, token and key-list keys are pinned by their verifiers (audit.key, tokens.verifiers, the key-list root) and do not rotate on a schedule", at)
		}
	}
	if k := c.Keystore; k.IdleTTL > 0 && k.MaxTTL > 0 && k.IdleTTL > k.MaxTTL {
		errs.add("keystore.idle_ttl", "keystore.idle_ttl %v is longer than keystore.max_ttl %v", k.IdleTTL, k.MaxTTL)
	}
	l := c.Limits
	for _, v := range []struct {
		name string
		n    int64
	}{
		{"limits.max_body_bytes", l.MaxBodyBytes}, {"limits.max_batch", int64(l.MaxBatch)}, {"limits.max_message_bytes", l.MaxMessageBytes},
		{"limits.max_inflight", int64(l.MaxInflight)}, {"limits.queue_timeout", int64(l.QueueTimeout)}, {"limits.read_timeout", int64(l.ReadTimeout)},
		{"limits.write_timeout", int64(l.WriteTimeout)}, {"limits.idle_timeout", int64(l.IdleTimeout)}, {"drain_timeout", int64(c.DrainTimeout)},
		{"keystore.idle_ttl", int64(c.Keystore.IdleTTL)}, {"keystore.max_ttl", int64(c.Keystore.MaxTTL)}, {"keystore.partial_unlock_window", int64(c.Keystore.PartialUnlockWindow)},
		{"audit.checkpoint_every", int64(c.Audit.CheckpointEvery)},
		{"tokens.max_ttl", int64(c.tokens().MaxTTL)}, {"tokens.clock_skew", int64(c.tokens().ClockSkew)}, {"tokens.deny_list_poll", int64(c.tokens().DenyListPoll)},
	} {
		if v.n < 0 {
			errs.add(v.name, "%s is negative; leave it out for the default", v.name)
		}
	}
	errs = append(errs, c.Metrics.check()...)
	return errs
}

func (c *Config) resolve(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.Data)
	abs(&c.TLS.Cert)
	abs(&c.TLS.Key)
	for i := range c.TLS.ClientCAs {
		abs(&c.TLS.ClientCAs[i])
	}
	for i := range c.Principals {
		abs(&c.Principals[i].Certificate.CA)
	}
	if c.Tokens != nil {
		abs(&c.Tokens.DenyList)
	}
	for i := range c.Catalogs {
		abs(&c.Catalogs[i].Root)
		for j := range c.Catalogs[i].PackageSigners {
			abs(&c.Catalogs[i].PackageSigners[j])
		}
	}
	for i := range c.Keystore.PKCS11 {
		abs(&c.Keystore.PKCS11[i].Module)
	}
}

// CatalogSet loads the configured catalogs (their package signers' certificates).
func (c *Config) CatalogSet() ([]*catalog.Catalog, error) {
	var out []*catalog.Catalog
	for i, spec := range c.Catalogs {
		cat, err := catalog.New(spec)
		if err != nil {
			return nil, c.errorAt(fmt.Sprintf("catalogs[%d]", i), err)
		}
		out = append(out, cat)
	}
	return out, nil
}

// Timeouts are the keystore's lease and ceremony durations, defaults
// applied.
func (c *Config) Timeouts() keystore.Timeouts {
	k := c.Keystore
	t := keystore.Timeouts{IdleTTL: k.IdleTTL, MaxTTL: k.MaxTTL, PartialWindow: k.PartialUnlockWindow}
	if t.IdleTTL <= 0 {
		t.IdleTTL = DefaultIdleTTL
	}
	if t.MaxTTL <= 0 {
		t.MaxTTL = DefaultMaxTTL
	}
	if t.PartialWindow <= 0 {
		t.PartialWindow = DefaultPartialUnlockWindow
	}
	return t
}

// AttachTokens attaches the configured PKCS #11 tokens to d.
func (c *Config) AttachTokens(d *keystore.Dir) error {
	for _, p := range c.Keystore.PKCS11 {
		tok, err := pkcs11.New(pkcs11.Config{Module: p.Module, TokenLabel: p.TokenLabel, Slot: p.Slot})
		if err != nil {
			return fmt.Errorf("keystore.pkcs11 %q: %w", p.Name, err)
		}
		if err := d.AddToken(p.Name, p.Keys, tok); err != nil {
			return fmt.Errorf("keystore.pkcs11: %w", err)
		}
	}
	return nil
}

func (c *Config) tokens() Tokens {
	if c.Tokens == nil {
		return Tokens{}
	}
	return *c.Tokens
}

// TokenVerifier returns the verifier for the configured token keys, or nil
// if tokens are off.
func (c *Config) TokenVerifier() (*token.Verifier, error) {
	if c.Tokens == nil {
		return nil, nil
	}
	keys, err := c.tokenKeys()
	if err != nil {
		return nil, err
	}
	return token.NewVerifier(c.Name, keys, c.Tokens.ClockSkew)
}

// CheckTokenSigningKey checks that pub, the public half of
// tokens.signing_key, is what tokens.verifiers lists under that id.
func (c *Config) CheckTokenSigningKey(pub crypto.PublicKey) error {
	keys, err := c.tokenKeys()
	if err != nil {
		return err
	}
	name := c.Tokens.SigningKey
	if listed, ok := keys[name]; !ok || !listed.Equal(pub) {
		return fmt.Errorf("tokens.signing_key %q: tokens.verifiers lists another public key under that id; put the output of 'signet key public %s' there", name, name)
	}
	return nil
}

func (c *Config) tokenKeys() (map[string]ed25519.PublicKey, error) {
	keys := map[string]ed25519.PublicKey{}
	for _, v := range c.Tokens.Verifiers {
		pub, err := parseEd25519(v.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("tokens.verifiers %q: %w", v.ID, err)
		}
		keys[v.ID] = pub
	}
	return keys, nil
}

// parseEd25519 parses a PEM public key, or the base64 DER inside one.
func parseEd25519(s string) (ed25519.PublicKey, error) {
	der := []byte(nil)
	if block, _ := pem.Decode([]byte(s)); block != nil && block.Type == "PUBLIC KEY" {
		der = block.Bytes
	} else if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s)); err == nil {
		der = b
	} else {
		return nil, errors.New("public_key is neither a PEM PUBLIC KEY nor base64 DER; paste the output of 'signet key public NAME'")
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("public_key: %w", err)
	}
	ed, ok := pub.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public_key is a %T; token keys are Ed25519", pub)
	}
	return ed, nil
}

// KeystoreDir is where the file keystore lives.
func (c *Config) KeystoreDir() string { return filepath.Join(c.Data, "keystore") }

// CertsDir is where the certificate chains attached to keys live: public
// data, beside the keystore.
func (c *Config) CertsDir() string { return filepath.Join(c.Data, "certs") }

// ServerTLS loads the server certificate and client CAs into a TLS 1.3
// configuration that requires client certificates unless tokens are on.
func (c *Config) ServerTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.TLS.Cert, c.TLS.Key)
	if err != nil {
		return nil, c.errorAt("tls.cert", fmt.Errorf("tls.cert/tls.key: %w", err))
	}
	if cert.Leaf != nil && time.Now().After(cert.Leaf.NotAfter) {
		return nil, c.errorAt("tls.cert", fmt.Errorf("tls.cert %s expired on %s; install a renewed certificate", c.TLS.Cert, cert.Leaf.NotAfter.UTC().Format(time.RFC3339)))
	}
	pool := x509.NewCertPool()
	for i, f := range c.TLS.ClientCAs {
		certs, err := readCerts(f)
		if err != nil {
			return nil, c.errorAt(fmt.Sprintf("tls.client_cas[%d]", i), fmt.Errorf("tls.client_cas: %w", err))
		}
		for _, ca := range certs {
			pool.AddCert(ca)
		}
	}
	return server.TLSConfig(cert, pool, c.Tokens != nil), nil
}

// Authenticator builds the certificate rules of all principals, in order,
// and the token verifier if tokens are on.
func (c *Config) Authenticator() (*authn.Authenticator, error) {
	rules := make([]authn.CertRule, len(c.Principals))
	for i, p := range c.Principals {
		m := p.Certificate
		rules[i] = authn.CertRule{Principal: p.Name, SHA256: m.SHA256, SubjectCN: m.SubjectCN, DNSName: m.DNSName, Email: m.Email, URI: m.URI}
		if m.CA != "" {
			certs, err := readCerts(m.CA)
			if err != nil {
				return nil, c.errorAt(fmt.Sprintf("principals[%d].certificate.ca", i), fmt.Errorf("principal %q: certificate.ca: %w", p.Name, err))
			}
			rules[i].CA = certs[0]
		}
	}
	certs, err := authn.NewCerts(rules)
	if err != nil {
		return nil, c.errorAt("principals", err)
	}
	verifier, err := c.TokenVerifier()
	if err != nil {
		return nil, c.errorAt("tokens.verifiers", err)
	}
	return &authn.Authenticator{Certs: certs, Tokens: verifier}, nil
}

// Policy builds the authorization policy.
func (c *Config) Policy() (*policy.Policy, error) {
	rules := make(map[string]policy.Rules, len(c.Principals))
	for i, p := range c.Principals {
		if _, err := policy.New(map[string]policy.Rules{p.Name: p.Rules}); err != nil {
			return nil, c.errorAt(fmt.Sprintf("principals[%d]", i), err)
		}
		rules[p.Name] = p.Rules
	}
	pol, err := policy.New(rules)
	if err != nil {
		return nil, c.errorAt("principals", err)
	}
	return pol, nil
}

func readCerts(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate found", path)
	}
	return certs, nil
}
