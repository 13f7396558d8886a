package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/signet-dev/signet/client"
)

// Config is agent.yaml, decoded strictly: an unknown field is an error.
// Relative paths are resolved against the file's directory.
type Config struct {
	Servers   []string `yaml:"servers"`    // https URLs of the deployment's replicas, tried in turn
	TLS       TLS      `yaml:"tls"`        // the server's CA and this host's client certificate
	TokenFile string   `yaml:"token_file"` // instead of a certificate: a host token, read at start
	Socket    Socket   `yaml:"socket"`
	Limits    Limits   `yaml:"limits"`
	Grants    []Grant  `yaml:"grants"`
}

// TLS names the files of the agent's connection to the server.
type TLS struct {
	CA   string `yaml:"ca"`   // PEM CA of the server certificate; default the system roots
	Cert string `yaml:"cert"` // PEM client certificate of this host
	Key  string `yaml:"key"`  // its private key, readable by the agent's user only
}

// Socket says where the agent listens and who may connect.
type Socket struct {
	Path  string `yaml:"path"`  // default /run/signet/agent.sock; --socket overrides it
	Mode  string `yaml:"mode"`  // octal permissions; default "0660"
	Group string `yaml:"group"` // group owning the socket (name or gid); default the agent's
}

// Limits bound what one local request and the whole agent may consume.
type Limits struct {
	MaxBodyBytes int64 `yaml:"max_body_bytes"` // one request body; default 32 MiB
	MaxBatch     int   `yaml:"max_batch"`      // items in one sign request; default 1000
	MaxInflight  int   `yaml:"max_inflight"`   // requests forwarded at once; default 64
	// MaxPerUser is how many of those one local user (uid) may hold;
	// default a quarter of MaxInflight (at least 1), so that one user
	// cannot take every slot.
	MaxPerUser int `yaml:"max_per_user"`
	// ReadTimeout bounds reading one whole request, body included, as
	// the server's limits.read_timeout does; default 60s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
}

func (l Limits) withDefaults() Limits {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 32 << 20
	}
	if l.MaxBatch <= 0 {
		l.MaxBatch = 1000
	}
	if l.MaxInflight <= 0 {
		l.MaxInflight = 64
	}
	if l.MaxPerUser <= 0 {
		l.MaxPerUser = max(1, l.MaxInflight/4)
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = 60 * time.Second
	}
	return l
}

// Grant lets the local users it names — by user, or by group — sign with
// the keys, in the formats, for the artifact names its patterns match
// (shell patterns, as in the server's grants). A caller matches a grant
// when its uid is one of Users or one of its groups (primary or
// supplementary, as the kernel reports them) is one of Groups.
type Grant struct {
	Users     []string `yaml:"users"`  // user names or numeric uids
	Groups    []string `yaml:"groups"` // group names or numeric gids
	Keys      []string `yaml:"keys"`
	Formats   []string `yaml:"formats"`
	Artifacts []string `yaml:"artifacts"`

	uids, gids []uint32 // resolved at load
}

// DefaultSocket is where the agent listens unless told otherwise.
const DefaultSocket = "/run/signet/agent.sock"

// LoadConfig reads and checks the agent configuration at name.
func LoadConfig(name string) (*Config, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading agent config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("agent config %s: %w", name, err)
	}
	dir := filepath.Dir(name)
	for _, p := range []*string{&c.TLS.CA, &c.TLS.Cert, &c.TLS.Key, &c.TokenFile, &c.Socket.Path} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	return c, nil
}

// ParseConfig decodes and checks a configuration, resolving the users
// and groups of its grants on this host.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty; docs/agent.md has an example")
	} else if err != nil {
		return nil, err
	}
	var errs []error
	if len(c.Servers) == 0 {
		errs = append(errs, errors.New("servers is empty: list the https:// URLs of the Signet servers"))
	} else if _, err := client.ParseServers(strings.Join(c.Servers, ",")); err != nil {
		errs = append(errs, fmt.Errorf("servers: %w", err))
	} else if strings.HasPrefix(c.Servers[0], "unix:") {
		errs = append(errs, errors.New("servers: an agent forwards to Signet servers, not to another agent"))
	}
	switch {
	case (c.TLS.Cert == "") != (c.TLS.Key == ""):
		errs = append(errs, errors.New("tls.cert and tls.key go together"))
	case c.TLS.Cert == "" && c.TokenFile == "":
		errs = append(errs, errors.New("no credentials: give this host's client certificate (tls.cert, tls.key) or a host token (token_file)"))
	}
	if _, err := c.SocketMode(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Grants) == 0 {
		errs = append(errs, errors.New("grants is empty: no local user could sign"))
	}
	for i := range c.Grants {
		if err := c.Grants[i].resolve(); err != nil {
			errs = append(errs, fmt.Errorf("grants[%d]: %w", i, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &c, nil
}

// SocketMode returns the socket's permissions.
func (c *Config) SocketMode() (os.FileMode, error) {
	if c.Socket.Mode == "" {
		return 0o660, nil
	}
	m, err := strconv.ParseUint(c.Socket.Mode, 8, 32)
	if err != nil || m&^0o777 != 0 {
		return 0, fmt.Errorf("socket.mode %q is not octal permissions such as \"0660\"", c.Socket.Mode)
	}
	return os.FileMode(m), nil
}

// SocketGroup returns the gid of socket.group, or -1 if none is set.
func (c *Config) SocketGroup() (int, error) {
	if c.Socket.Group == "" {
		return -1, nil
	}
	gid, err := lookupGroup(c.Socket.Group)
	if err != nil {
		return 0, fmt.Errorf("socket.group: %w", err)
	}
	return int(gid), nil
}

// ClientConfig is the configuration of the agent's connection to the
// servers.
func (c *Config) ClientConfig() (client.Config, error) {
	cfg := client.Config{Server: strings.Join(c.Servers, ","), CACert: c.TLS.CA, ClientCert: c.TLS.Cert, ClientKey: c.TLS.Key}
	if c.TokenFile != "" {
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return cfg, fmt.Errorf("token_file: %w", err)
		}
		cfg.Token = strings.TrimSpace(string(b))
	}
	return cfg, nil
}

func (g *Grant) resolve() error {
	if len(g.Users) == 0 && len(g.Groups) == 0 {
		return errors.New("names no users and no groups")
	}
	for _, list := range [][]string{g.Keys, g.Formats, g.Artifacts} {
		if len(list) == 0 {
			return errors.New("keys, formats and artifacts are all required (use [\"*\"] for any)")
		}
		for _, p := range list {
			if _, err := path.Match(p, ""); err != nil {
				return fmt.Errorf("bad pattern %q: %w", p, err)
			}
		}
	}
	g.uids, g.gids = nil, nil
	for _, u := range g.Users {
		uid, err := lookupUser(u)
		if err != nil {
			return err
		}
		g.uids = append(g.uids, uid)
	}
	for _, name := range g.Groups {
		gid, err := lookupGroup(name)
		if err != nil {
			return err
		}
		g.gids = append(g.gids, gid)
	}
	return nil
}

// lookupUser resolves a user name or numeric uid.
func lookupUser(s string) (uint32, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(n), nil
	}
	u, err := user.Lookup(s)
	if err != nil {
		return 0, fmt.Errorf("user %q: %w (create it first, or give its numeric uid)", s, err)
	}
	n, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("user %q has uid %q, which is not a number", s, u.Uid)
	}
	return uint32(n), nil
}

// lookupGroup resolves a group name or numeric gid.
func lookupGroup(s string) (uint32, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(n), nil
	}
	g, err := user.LookupGroup(s)
	if err != nil {
		return 0, fmt.Errorf("group %q: %w (create it first, or give its numeric gid)", s, err)
	}
	n, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %q has gid %q, which is not a number", s, g.Gid)
	}
	return uint32(n), nil
}
