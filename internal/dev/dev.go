// Package dev prepares the data directory of `signet serve --dev`: the
// one-command server for trying Signet and for tests.
//
// On first start it creates, under the data directory:
//
//	ca.pem, ca-key.pem        a private CA for server and client certificates
//	server.pem, server-key.pem  reissued at every start for the listen address
//	admin.pem, admin-key.pem  the client certificate of principal "admin"
//	passphrase                the keystore passphrase, in clear
//	keystore/                 the encrypted keystore, with the audit log's key
//	audit/tiles/              the audit log (C2SP tlog-tiles; audit.TileStore)
//	catalogs/debian/          root of catalog "debian" (APT, dists/{suite}/Release)
//	catalogs/sums/            root of catalog "sums" (SHA256SUMS)
//	client.env                export lines pointing the CLI at this server,
//	                          with the audit log's key pinned
//
// Every feature can be tried on it: principal "admin" may do everything,
// issue tokens included (signed by the token key "dev-token", made on
// first start), and the catalogs sign with the OpenPGP key "archive" once
// it is created. Later starts reuse all of it. Prepare refuses a
// directory that holds files but is not a Signet data directory, so that
// a mistyped --data never litters a source tree.
// Keeping the passphrase and CA key beside the
// keystore defeats the keystore's encryption: that is what makes a
// development server convenient, and why production servers run with
// --config, where none of this exists.
package dev

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/signet-dev/signet/authn"
	"github.com/signet-dev/signet/catalog"
	"github.com/signet-dev/signet/config"
	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
)

// Warning is printed whenever a development server starts.
const Warning = `WARNING: development mode. The keystore passphrase and the CA key are stored
in clear in the data directory; anyone who can read it can sign with every key.
Never use --dev for real release keys: run 'signet serve --config FILE'.`

// Prepare creates or reuses the data directory dir for a server listening
// on listen, and returns its configuration and keystore passphrase.
func Prepare(dir, listen string) (*config.Config, []byte, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, nil, fmt.Errorf("listen address %q: %w", listen, err)
	}
	if err := checkDataDir(dir); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	for _, c := range []string{"debian", "sums"} {
		if err := os.MkdirAll(p(filepath.Join("catalogs", c)), 0o755); err != nil {
			return nil, nil, err
		}
	}

	ca, err := loadOrCreateCA(p("ca.pem"), p("ca-key.pem"))
	if err != nil {
		return nil, nil, err
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if host != "" && host != "0.0.0.0" && host != "::" {
		hosts = append([]string{host}, hosts...)
	}
	srv, err := ca.IssueServer(hosts...)
	if err != nil {
		return nil, nil, err
	}
	if err := writeCert(srv, p("server.pem"), p("server-key.pem")); err != nil {
		return nil, nil, err
	}
	admin, err := loadOrIssueClient(ca, "admin", p("admin.pem"), p("admin-key.pem"))
	if err != nil {
		return nil, nil, err
	}
	pass, err := loadOrCreatePassphrase(p("passphrase"), p("keystore"))
	if err != nil {
		return nil, nil, err
	}

	// "*" alone matches every name: paths (dist/app.tar.gz) and container
	// images (REGISTRY/REPO@sha256:…) alike.
	everything := []string{"*"}
	cfg := &config.Config{
		Name:   Name,
		Listen: listen,
		Data:   dir,
		TLS:    config.TLS{Cert: p("server.pem"), Key: p("server-key.pem"), ClientCAs: []string{p("ca.pem")}},
		Principals: []config.Principal{{
			Name:        "admin",
			Certificate: config.Certificate{SHA256: authn.Fingerprint(admin.Leaf)},
			Rules: policy.Rules{Admin: true, IssueTokens: true, Grants: []policy.Grant{
				{Keys: everything, Formats: everything, Artifacts: everything},
			}},
		}},
		Tokens: &config.Tokens{SigningKey: TokenKey},
		Catalogs: []catalog.Spec{
			{Name: "debian", Type: catalog.APTRelease, Root: p("catalogs/debian"), Path: "dists/{suite}/Release",
				Params: map[string][]string{"suite": {"stable", "testing", "unstable"}}, Key: CatalogKey, Principals: []string{"admin"}},
			{Name: "sums", Type: catalog.SHA256Sums, Root: p("catalogs/sums"), Path: "SHA256SUMS",
				Key: CatalogKey, Principals: []string{"admin"}},
		},
	}
	return cfg, pass, nil
}

// Names of a development server: its deployment name (the audience of
// its tokens), the key that signs its tokens, and the key its catalogs
// sign with, which the user creates ('signet key create archive --type
// pgp-ed25519 --uid …').
const (
	Name       = "signet-dev"
	TokenKey   = "dev-token"
	CatalogKey = "archive"
)

// checkDataDir refuses a directory that holds files but none of a Signet
// data directory's.
func checkDataDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		return nil
	}
	for _, e := range ents {
		switch e.Name() {
		case "passphrase", "keystore", "ca.pem":
			return nil
		}
	}
	return fmt.Errorf("%s holds %d files but is not a Signet data directory (no passphrase, keystore or ca.pem); give --data a new or empty directory", dir, len(ents))
}

// EnsureTokenKey creates the key that signs tokens in an unlocked
// development keystore on first start, and makes cfg verify its tokens.
func EnsureTokenKey(keys *keystore.Dir, cfg *config.Config) error {
	k, err := keys.Key(TokenKey)
	if err != nil {
		if k, err = keys.Create(keystore.Spec{Name: TokenKey, Type: keystore.Ed25519, Usage: "token"}); err != nil {
			return err
		}
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		return err
	}
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	cfg.Tokens.Verifiers = []config.TokenKey{{ID: TokenKey, PublicKey: pub}}
	return nil
}

// EnsureAuditKey creates the audit log's key in an unlocked development
// keystore on first start.
func EnsureAuditKey(keys *keystore.Dir, name string) error {
	if _, err := keys.Key(name); err == nil {
		return nil
	}
	_, err := keys.Create(keystore.Spec{Name: name, Type: keystore.Ed25519, Usage: "audit"})
	return err
}

// EnsureKeyListKey creates the root key that signs key lists in an
// unlocked development keystore on first start.
func EnsureKeyListKey(keys *keystore.Dir, name string) error {
	if _, err := keys.Key(name); err == nil {
		return nil
	}
	_, err := keys.Create(keystore.Spec{Name: name, Type: keystore.Ed25519, Usage: "key-list"})
	return err
}

// WriteClientEnv writes dir/client.env for a server reachable at addr,
// whose audit log verifies with logKey, and returns its contents.
func WriteClientEnv(dir string, addr net.Addr, logKey string) (string, error) {
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	env := fmt.Sprintf("export SIGNET_SERVER=%s\nexport SIGNET_CACERT=%s\nexport SIGNET_CLIENT_CERT=%s\nexport SIGNET_CLIENT_KEY=%s\nexport SIGNET_LOG_KEY=%s\n",
		q("https://"+net.JoinHostPort(host, port)),
		q(filepath.Join(abs, "ca.pem")), q(filepath.Join(abs, "admin.pem")), q(filepath.Join(abs, "admin-key.pem")), q(logKey))
	return env, writeFile(filepath.Join(dir, "client.env"), []byte(env))
}

func loadOrCreateCA(certFile, keyFile string) (*devpki.CA, error) {
	certPEM, err1 := os.ReadFile(certFile)
	keyPEM, err2 := os.ReadFile(keyFile)
	if err1 == nil && err2 == nil {
		return devpki.ParseCA(certPEM, keyPEM)
	}
	if !errors.Is(err1, fs.ErrNotExist) || !errors.Is(err2, fs.ErrNotExist) {
		return nil, fmt.Errorf("development CA is incomplete (%v; %v): remove %s and %s to start afresh", err1, err2, certFile, keyFile)
	}
	ca, err := devpki.NewCA("Signet development CA")
	if err != nil {
		return nil, err
	}
	return ca, writeCert(ca.TLSCertificate(), certFile, keyFile)
}

func loadOrIssueClient(ca *devpki.CA, cn, certFile, keyFile string) (tls.Certificate, error) {
	if c, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		return c, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("client certificate %s: %w", certFile, err)
	}
	c, err := ca.IssueClient(cn)
	if err != nil {
		return tls.Certificate{}, err
	}
	return c, writeCert(c, certFile, keyFile)
}

// loadOrCreatePassphrase returns the stored passphrase, or creates one and
// a keystore protected by it.
func loadOrCreatePassphrase(file, keystoreDir string) ([]byte, error) {
	if b, err := os.ReadFile(file); err == nil {
		return []byte(strings.TrimSpace(string(b))), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var raw [24]byte
	rand.Read(raw[:])
	pass := []byte(base64.RawURLEncoding.EncodeToString(raw[:]))
	if err := keystore.Init(keystoreDir, pass); err != nil {
		return nil, fmt.Errorf("%w (the passphrase file %s is missing: restore it, or remove %s to start afresh)", err, file, keystoreDir)
	}
	return pass, writeFile(file, append(pass, '\n'))
}

func writeCert(c tls.Certificate, certFile, keyFile string) error {
	keyPEM, err := devpki.KeyPEM(c)
	if err != nil {
		return err
	}
	if err := writeFile(keyFile, keyPEM); err != nil {
		return err
	}
	return writeFile(certFile, devpki.CertPEM(c))
}

// writeFile writes atomically with mode 0600.
func writeFile(name string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
