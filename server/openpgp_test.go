package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/authn"
	"github.com/signet-dev/signet/catalog"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/format/openpgp"
	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/server"
	"github.com/signet-dev/signet/token"
)

// pgpFixture is a server with two OpenPGP keys, "archive-ed25519"
// (pgp-ed25519) and "archive-rsa" (pgp-rsa4096), three catalogs over
// temporary roots ("debian": dists/{suite}/Release; "el":
// {repo}/repodata/repomd.xml; "sums": {version}/SHA256SUMS), all signed by
// archive-ed25519 except "el" (archive-rsa), and a client for principal
// "publisher", who may sign with both keys in the pgp formats and request
// every catalog.
type pgpFixture struct {
	keys             *keystore.Keyring
	publisher, other *client.Client
	audit            *audit.Log
	apt, rpm, sums   string // catalog roots
	certs            map[string][]byte
	ringFiles        map[string]string // gpgv/apt keyrings, by key
	url              *url.URL
	caFile           string
}

// tokenClient returns a client that presents a token issued by publisher
// for req, and no certificate.
func (f *pgpFixture) tokenClient(t *testing.T, req api.TokenRequest) *client.Client {
	t.Helper()
	resp, err := f.publisher.IssueToken(context.Background(), &req)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Server: f.url.String(), CACert: f.caFile, Token: resp.Token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestOpenPGPAndCatalogs runs every real-client test on one fixture:
// RSA-4096 key generation is slow.
func TestOpenPGPAndCatalogs(t *testing.T) {
	f := newPGPFixture(t)
	t.Run("openpgp", func(t *testing.T) { testOpenPGPThroughServer(t, f) })
	t.Run("apt", func(t *testing.T) { testAPTRepository(t, f) })
	t.Run("rpm", func(t *testing.T) { testRPMRepository(t, f) })
	t.Run("sha256sums", func(t *testing.T) { testSHA256Sums(t, f) })
}

func newPGPFixture(t *testing.T) *pgpFixture {
	dir := t.TempDir()
	ksDir := filepath.Join(dir, "keystore")
	pass := []byte("pgp test")
	if err := keystore.Init(ksDir, pass); err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Open(ksDir)
	if err != nil {
		t.Fatal(err)
	}
	keys := keystore.NewKeyring(ks, keystore.Timeouts{})
	if err := keys.Unlock("test", pass, nil); err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]keystore.Type{"archive-ed25519": keystore.PGPEd25519, "archive-rsa": keystore.PGPRSA4096} {
		if _, err := keys.Create(keystore.Spec{Name: name, Type: typ, Usage: "pgp", UID: "Signet Archive <archive@example.org>"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := keys.Create(keystore.Spec{Name: "raw-key", Type: keystore.Ed25519}); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Create(keystore.Spec{Name: "audit-log", Type: keystore.Ed25519, Usage: "audit"}); err != nil {
		t.Fatal(err)
	}
	tokKey, err := keys.Create(keystore.Spec{Name: "tokens", Type: keystore.Ed25519, Usage: "token"})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := token.NewVerifier("test", map[string]ed25519.PublicKey{"tokens": tokKey.Public.(ed25519.PublicKey)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := &pgpFixture{keys: keys, apt: filepath.Join(dir, "apt"), rpm: filepath.Join(dir, "rpm"), sums: filepath.Join(dir, "sums"),
		certs: map[string][]byte{}, ringFiles: map[string]string{}}
	for _, d := range []string{f.apt, f.rpm, f.sums} {
		os.MkdirAll(d, 0o755)
	}
	specs := []catalog.Spec{
		{Name: "debian", Type: catalog.APTRelease, Root: f.apt, Path: "dists/{suite}/Release", Params: map[string][]string{"suite": {"stable", "testing"}}, Key: "archive-ed25519", Principals: []string{"publisher"}},
		{Name: "el", Type: catalog.RPMRepomd, Root: f.rpm, Path: "{repo}/repodata/repomd.xml", Params: map[string][]string{"repo": {"el"}}, Key: "archive-rsa", Principals: []string{"publisher"}},
		{Name: "sums", Type: catalog.SHA256Sums, Root: f.sums, Path: "{version}/SHA256SUMS", Params: map[string][]string{"version": {"1.0"}}, Key: "archive-ed25519", Principals: []string{"publisher"}},
	}
	var cats []*catalog.Catalog
	for _, s := range specs {
		c, err := catalog.New(s)
		if err != nil {
			t.Fatal(err)
		}
		cats = append(cats, c)
	}
	ca, err := devpki.NewCA("pgp test CA")
	if err != nil {
		t.Fatal(err)
	}
	var rules []authn.CertRule
	certs := map[string]tls.Certificate{}
	for _, name := range []string{"publisher", "other"} {
		c, err := ca.IssueClient(name)
		if err != nil {
			t.Fatal(err)
		}
		certs[name] = c
		rules = append(rules, authn.CertRule{Principal: name, SubjectCN: name, CA: ca.Cert})
	}
	certRules, err := authn.NewCerts(rules)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.New(map[string]policy.Rules{
		"publisher": {IssueTokens: true, Grants: []policy.Grant{
			{Keys: []string{"archive-*", "raw-key"}, Formats: []string{"pgp", "pgp-clearsign", "raw"}, Artifacts: []string{"*"}},
			{Keys: []string{"archive-ed25519"}, Formats: []string{"catalog"}, Artifacts: []string{"catalog:*"}},
		}},
		"other": {Grants: []policy.Grant{{Keys: []string{"archive-*"}, Formats: []string{"pgp"}, Artifacts: []string{"*"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	store, err := audit.OpenSQLite(filepath.Join(dir, "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	var srv *server.Server
	f.audit, err = audit.Open(context.Background(), audit.Options{Store: store, Origin: "test/audit",
		Key: func() (crypto.Signer, error) { return srv.AuditKey() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.audit.Close(); store.Close() })
	srv = server.New(server.Options{Audit: f.audit, AuditKey: "audit-log", ServerID: "test-server", Keys: keys, Policy: pol,
		Authn: &authn.Authenticator{Certs: certRules, Tokens: verifier}, Catalogs: cats,
		Tokens: server.TokenOptions{Verifier: verifier, Audience: "test", SigningKey: "tokens", MaxTTL: time.Hour}})
	ts := httptest.NewUnstartedServer(srv.Handler())
	serverCert, err := ca.IssueServer("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	ts.TLS = server.TLSConfig(serverCert, pool, true)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	f.url = u
	f.caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(f.caFile, devpki.CertPEM(ca.TLSCertificate()), 0o600); err != nil {
		t.Fatal(err)
	}
	f.publisher = client.NewWithTLS(u, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{certs["publisher"]}})
	f.other = client.NewWithTLS(u, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{certs["other"]}})
	for _, k := range []string{"archive-ed25519", "archive-rsa"} {
		ok, err := f.publisher.OpenPGPKey(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		f.certs[k] = ok.Certificate
		p := filepath.Join(dir, k+".gpg")
		if err := os.WriteFile(p, ok.Certificate, 0o644); err != nil {
			t.Fatal(err)
		}
		f.ringFiles[k] = p
	}
	return f
}

// need fails the test unless every tool is installed: a real verifier
// that is missing is a defect, never a skip.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required for this test; run ./scripts/test, which installs it", tool)
		}
	}
}

// run runs a command in dir and returns its combined output.
func run(t *testing.T, dir string, env []string, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return out, err
}

func mustRun(t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	out, err := run(t, dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func gpgvOK(t *testing.T, ring string, args ...string) error {
	t.Helper()
	out, err := run(t, "", nil, "gpgv", append([]string{"--homedir", t.TempDir(), "--keyring", ring}, args...)...)
	if err != nil {
		return fmt.Errorf("gpgv: %v\n%s", err, out)
	}
	return nil
}

// TestOpenPGPThroughServer signs random files and texts through the API
// with both key types and has gpgv check every result, and a changed file
// fail.
func testOpenPGPThroughServer(t *testing.T, f *pgpFixture) {
	need(t, "gpg", "gpgv")
	ctx := context.Background()
	dir := t.TempDir()
	r := mrand.New(mrand.NewPCG(7, 7))
	for _, key := range []string{"archive-ed25519", "archive-rsa"} {
		t.Run(key, func(t *testing.T) {
			// gpg --import accepts the exported certificate.
			home := t.TempDir()
			certFile := filepath.Join(home, "k.asc")
			os.WriteFile(certFile, openpgp.Armor(f.certs[key], "PGP PUBLIC KEY BLOCK"), 0o600)
			mustRun(t, "", nil, "gpg", "--homedir", home, "--batch", "--import", certFile)

			var paths []string
			for i := 0; i < 20; i++ {
				p := filepath.Join(dir, fmt.Sprintf("%s-%d.bin", key, i))
				data := make([]byte, r.IntN(200000))
				for j := range data {
					data[j] = byte(r.Uint32())
				}
				os.WriteFile(p, data, 0o600)
				paths = append(paths, p)
			}
			for _, armor := range []bool{false, true} {
				sigs, err := f.publisher.SignFilesOpenPGP(ctx, key, paths, armor)
				if err != nil {
					t.Fatal(err)
				}
				for i, s := range sigs {
					sf := paths[i] + ".sig"
					os.WriteFile(sf, s.Signature, 0o600)
					if err := gpgvOK(t, f.ringFiles[key], sf, paths[i]); err != nil {
						t.Fatalf("%s (armor %v): %v", paths[i], armor, err)
					}
				}
			}
			// A changed file fails gpgv.
			os.WriteFile(paths[0], []byte("changed"), 0o600)
			if err := gpgvOK(t, f.ringFiles[key], paths[0]+".sig", paths[0]); err == nil {
				t.Fatal("gpgv accepts a signature of a changed file")
			}

			text := filepath.Join(dir, key+".txt")
			os.WriteFile(text, []byte("Origin: Signet\n-----BEGIN PGP SIGNATURE-----\n- dash\ntrailing  \n\nend"), 0o600)
			s, err := f.publisher.ClearsignFile(ctx, key, text)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(text+".asc", s.Signature, 0o600)
			if err := gpgvOK(t, f.ringFiles[key], text+".asc"); err != nil {
				t.Fatal(err)
			}
		})
	}

	// What a client may not do.
	st := &api.HashState{Chain: make([]byte, 32), Length: 0}
	for _, tc := range []struct {
		name string
		req  api.SignRequest
		want string
	}{
		{"raw key in pgp", api.SignRequest{Key: "raw-key", Format: "pgp", Items: []api.SignItem{{Name: "a", SHA256State: st}}}, "wrong_usage"},
		{"pgp key in raw", api.SignRequest{Key: "archive-ed25519", Format: "raw", Items: []api.SignItem{{Name: "a", Data: []byte("x")}}}, "wrong_usage"},
		{"digest to pgp", api.SignRequest{Key: "archive-ed25519", Format: "pgp", Items: []api.SignItem{{Name: "a", Digest: "sha256:" + strings.Repeat("00", 32)}}}, "bad_request"},
		{"bad state", api.SignRequest{Key: "archive-ed25519", Format: "pgp", Items: []api.SignItem{{Name: "a", SHA256State: &api.HashState{Chain: make([]byte, 32), Length: 3}}}}, "bad_request"},
		{"size differs", api.SignRequest{Key: "archive-ed25519", Format: "pgp", Items: []api.SignItem{{Name: "a", Size: 9, SHA256State: st}}}, "bad_request"},
		{"binary clearsign", api.SignRequest{Key: "archive-ed25519", Format: "pgp-clearsign", Items: []api.SignItem{{Name: "a", Data: []byte("a\x00b")}}}, "bad_request"},
		{"pss", api.SignRequest{Key: "archive-rsa", Format: "pgp", Options: api.SignOptions{RSAPSS: true}, Items: []api.SignItem{{Name: "a", SHA256State: st}}}, "bad_request"},
	} {
		_, err := f.publisher.Sign(ctx, &tc.req)
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Code != tc.want {
			t.Errorf("%s: %v, want code %s", tc.name, err, tc.want)
		}
	}
	if _, err := f.publisher.OpenPGPKey(ctx, "raw-key"); err == nil {
		t.Error("an OpenPGP certificate for a raw key")
	}
}

// aptTool runs apt-get hermetically: every directory apt writes to, its
// sources and its trusted keys are under dir; the system's apt
// configuration is read but never changed.
func aptTool(t *testing.T, dir string, args ...string) ([]byte, error) {
	t.Helper()
	conf := filepath.Join(dir, "apt.conf")
	if _, err := os.Stat(conf); err != nil {
		for _, d := range []string{"state/lists/partial", "cache/archives/partial", "etc/sources.list.d", "etc/apt.conf.d", "etc/preferences.d", "etc/trusted.gpg.d", "log", "work"} {
			os.MkdirAll(filepath.Join(dir, d), 0o755)
		}
		os.WriteFile(filepath.Join(dir, "status"), nil, 0o644)
		c := fmt.Sprintf(`Dir::State "%[1]s/state";
Dir::State::status "%[1]s/status";
Dir::Cache "%[1]s/cache";
Dir::Etc::SourceList "%[1]s/etc/sources.list";
Dir::Etc::SourceParts "%[1]s/etc/sources.list.d";
Dir::Etc::Preferences "%[1]s/etc/preferences";
Dir::Etc::PreferencesParts "%[1]s/etc/preferences.d";
Dir::Etc::Trusted "%[1]s/etc/trusted.gpg";
Dir::Etc::TrustedParts "%[1]s/etc/trusted.gpg.d";
Dir::Log "%[1]s/log";
APT::Sandbox::User "root";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
Debug::NoLocking "true";
Acquire::Languages "none";
`, dir)
		os.WriteFile(conf, []byte(c), 0o644)
	}
	return run(t, filepath.Join(dir, "work"), []string{"APT_CONFIG=" + conf, "LC_ALL=C"}, "apt-get", args...)
}

// buildAPTRepo builds a repository with dpkg-deb and apt-ftparchive under
// root: one package "signet-hello" in pool/, Packages(.gz) for amd64, and
// dists/stable/Release. It returns the Release bytes.
func buildAPTRepo(t *testing.T, root string) []byte {
	pkg := filepath.Join(t.TempDir(), "pkg")
	os.MkdirAll(filepath.Join(pkg, "DEBIAN"), 0o755)
	os.MkdirAll(filepath.Join(pkg, "usr/share/doc/signet-hello"), 0o755)
	os.WriteFile(filepath.Join(pkg, "usr/share/doc/signet-hello/README"), []byte("hello from signet\n"), 0o644)
	os.WriteFile(filepath.Join(pkg, "DEBIAN/control"), []byte("Package: signet-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: Signet <archive@example.org>\nDescription: test package\n"), 0o644)
	os.MkdirAll(filepath.Join(root, "pool/main/s/signet-hello"), 0o755)
	mustRun(t, "", nil, "dpkg-deb", "--root-owner-group", "--build", pkg, filepath.Join(root, "pool/main/s/signet-hello/signet-hello_1.0_all.deb"))
	bin := filepath.Join(root, "dists/stable/main/binary-amd64")
	os.MkdirAll(bin, 0o755)
	packages := mustRun(t, root, nil, "apt-ftparchive", "packages", "pool")
	os.WriteFile(filepath.Join(bin, "Packages"), packages, 0o644)
	mustRun(t, bin, nil, "gzip", "-9kf", "Packages")
	release := mustRun(t, root, nil, "apt-ftparchive",
		"-o", "APT::FTPArchive::Release::Origin=Signet", "-o", "APT::FTPArchive::Release::Suite=stable",
		"-o", "APT::FTPArchive::Release::Codename=stable", "-o", "APT::FTPArchive::Release::Architectures=amd64",
		"-o", "APT::FTPArchive::Release::Components=main", "release", "dists/stable")
	os.WriteFile(filepath.Join(root, "dists/stable/Release"), release, 0o644)
	return release
}

func signAPT(t *testing.T, f *pgpFixture, release []byte) (*client.CatalogSignature, error) {
	sum := sha256.Sum256(release)
	res, err := f.publisher.SignCatalog(context.Background(), "debian", map[string]string{"suite": "stable"}, sum[:], release)
	if err != nil {
		return nil, err
	}
	for _, file := range res.Files {
		if err := os.WriteFile(filepath.Join(f.apt, "dists/stable", file.Name), file.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return res, nil
}

func catalogCode(err error) string {
	var ce *client.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ""
}

// TestAPTRepository builds a real APT repository, signs it through Signet
// and has apt-get update and apt-get download use it with the key
// exported by Signet as its only trusted key; then checks that Signet
// refuses a tampered repository and that apt rejects an index changed
// after signing.
func testAPTRepository(t *testing.T, f *pgpFixture) {
	need(t, "dpkg-deb", "apt-ftparchive", "apt-get", "gpgv", "gzip")
	release := buildAPTRepo(t, f.apt)
	res, err := signAPT(t, f, release)
	if err != nil {
		t.Fatal(err)
	}
	if res.References != 3 || len(res.Files) != 2 {
		t.Fatalf("response %+v", res)
	}
	// The audit entry, returned in the receipt, records catalog,
	// parameters, hash and references.
	if res.Receipt == nil {
		t.Fatal("no receipt")
	}
	e, err := audit.ParseEntry(res.Receipt.Entry)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(release)
	if e.Decision != audit.Allowed || e.Format != "catalog" || e.Details["catalog"] != "debian" || e.Details["param.suite"] != "stable" ||
		e.Details["references"] != "3" || e.Details["references_digest"] != res.ReferencesDigest || e.Artifact.Digests[0] != res.Digest {
		t.Fatalf("audit entry %+v", e)
	}

	aptDir := t.TempDir()
	os.WriteFile(filepath.Join(aptDir, "etc/sources.list"), nil, 0o644)
	aptTool(t, aptDir, "--version") // creates the layout
	sources := fmt.Sprintf("deb [signed-by=%s] file:%s stable main\n", f.ringFiles["archive-ed25519"], f.apt)
	os.WriteFile(filepath.Join(aptDir, "etc/sources.list"), []byte(sources), 0o644)
	update := func() ([]byte, error) {
		os.RemoveAll(filepath.Join(aptDir, "state/lists"))
		os.MkdirAll(filepath.Join(aptDir, "state/lists/partial"), 0o755)
		return aptTool(t, aptDir, "-q", "-o", "APT::Update::Error-Mode=any", "update")
	}
	if out, err := update(); err != nil || bytes.Contains(out, []byte("W: ")) || bytes.Contains(out, []byte("E: ")) {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	if out, err := aptTool(t, aptDir, "-q", "download", "signet-hello"); err != nil {
		t.Fatalf("apt-get download: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(aptDir, "work/signet-hello_1.0_all.deb")); err != nil {
		t.Fatalf("apt-get download wrote no package: %v", err)
	}

	// With another key as the only trusted one, apt refuses the repository.
	wrong := strings.Replace(sources, f.ringFiles["archive-ed25519"], f.ringFiles["archive-rsa"], 1)
	os.WriteFile(filepath.Join(aptDir, "etc/sources.list"), []byte(wrong), 0o644)
	if out, err := update(); err == nil || !bytes.Contains(out, []byte("NO_PUBKEY")) {
		t.Fatalf("apt-get update with the wrong key: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(aptDir, "etc/sources.list"), []byte(sources), 0o644)

	// Signet refuses a tampered Packages or .deb, naming the file.
	deb := filepath.Join(f.apt, "pool/main/s/signet-hello/signet-hello_1.0_all.deb")
	pk := filepath.Join(f.apt, "dists/stable/main/binary-amd64/Packages")
	for _, file := range []string{pk, deb} {
		orig, _ := os.ReadFile(file)
		os.WriteFile(file, append(bytes.Clone(orig), '\n'), 0o644)
		_, err := signAPT(t, f, release)
		rel, _ := filepath.Rel(f.apt, file)
		if catalogCode(err) != "catalog_invalid" || !strings.Contains(err.Error(), rel) {
			t.Errorf("tampered %s: %v", rel, err)
		}
		os.WriteFile(file, orig, 0o644)
	}
	// … and a Release other than the one the client publishes (409).
	other := append(bytes.Clone(release), "Comment: x\n"...)
	sumOther := sha256.Sum256(other)
	_, err = f.publisher.SignCatalog(context.Background(), "debian", map[string]string{"suite": "stable"}, sumOther[:], nil)
	if catalogCode(err) != "mismatch" || !strings.Contains(err.Error(), fmt.Sprintf("%x", sum)) || !strings.Contains(err.Error(), fmt.Sprintf("%x", sumOther)) {
		t.Errorf("mismatched hash: %v", err)
	}
	// … a principal the catalog does not list, and a disallowed suite.
	if _, err := f.other.SignCatalog(context.Background(), "debian", map[string]string{"suite": "stable"}, sum[:], nil); catalogCode(err) != "forbidden" {
		t.Errorf("other principal: %v", err)
	}
	if _, err := f.publisher.SignCatalog(context.Background(), "debian", map[string]string{"suite": "../../etc"}, sum[:], nil); catalogCode(err) != "bad_request" {
		t.Errorf("bad suite: %v", err)
	}
	// A job's token signs the catalog only if its scope names it.
	good := f.tokenClient(t, api.TokenRequest{Subject: "publish-42", TTL: "10m", Keys: []string{"archive-ed25519"}, Formats: []string{"catalog"}, Artifacts: []string{"catalog:debian"}})
	if _, err := good.SignCatalog(context.Background(), "debian", map[string]string{"suite": "stable"}, sum[:], release); err != nil {
		t.Errorf("token for catalog:debian: %v", err)
	}
	narrow := f.tokenClient(t, api.TokenRequest{Subject: "publish-43", TTL: "10m", Keys: []string{"archive-ed25519"}, Formats: []string{"catalog"}, Artifacts: []string{"catalog:other"}})
	if _, err := narrow.SignCatalog(context.Background(), "debian", map[string]string{"suite": "stable"}, sum[:], nil); catalogCode(err) != "forbidden" {
		t.Errorf("token for another catalog: %v", err)
	}
	pgpOnly := f.tokenClient(t, api.TokenRequest{Subject: "publish-44", TTL: "10m", Keys: []string{"archive-ed25519"}, Formats: []string{"pgp"}})
	if _, err := pgpOnly.SignCatalog(context.Background(), "debian", map[string]string{"suite": "stable"}, sum[:], nil); catalogCode(err) != "forbidden" {
		t.Errorf("token for format pgp: %v", err)
	}

	// The repository still works, then a Release changed after signing is
	// rejected by apt, through InRelease and through Release.gpg.
	if out, err := update(); err != nil {
		t.Fatalf("apt-get update after refusals: %v\n%s", err, out)
	}
	inRelease := filepath.Join(f.apt, "dists/stable/InRelease")
	signedIn, _ := os.ReadFile(inRelease)
	os.WriteFile(inRelease, bytes.Replace(signedIn, []byte("Suite: stable"), []byte("Suite: stablx"), 1), 0o644)
	if out, err := update(); err == nil || !bytes.Contains(out, []byte("BADSIG")) {
		t.Fatalf("apt-get update with a changed InRelease: %v\n%s", err, out)
	}
	os.Remove(inRelease)
	os.WriteFile(filepath.Join(f.apt, "dists/stable/Release"), other, 0o644)
	if out, err := update(); err == nil || !bytes.Contains(out, []byte("BADSIG")) {
		t.Fatalf("apt-get update with a Release changed after signing: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(f.apt, "dists/stable/Release"), release, 0o644)
	os.WriteFile(inRelease, signedIn, 0o644)
	if out, err := update(); err != nil {
		t.Fatalf("apt-get update after restoring: %v\n%s", err, out)
	}
}

// buildRPMRepo builds one noarch package with rpmbuild and a repository
// with createrepo_c under root/el, and returns repomd.xml.
func buildRPMRepo(t *testing.T, root string) []byte {
	top := t.TempDir()
	spec := filepath.Join(top, "hello.spec")
	os.WriteFile(spec, []byte("Name: signet-hello\nVersion: 1.0\nRelease: 1\nSummary: test package\nLicense: MIT\nBuildArch: noarch\n\n%description\ntest package\n\n%files\n"), 0o644)
	mustRun(t, top, nil, "rpmbuild", "-bb", "--nodeps", "--quiet", "--define", "_topdir "+top, spec)
	rpm := filepath.Join(top, "RPMS/noarch/signet-hello-1.0-1.noarch.rpm")
	repo := filepath.Join(root, "el")
	os.MkdirAll(filepath.Join(repo, "Packages"), 0o755)
	data, err := os.ReadFile(rpm)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(repo, "Packages/signet-hello-1.0-1.noarch.rpm"), data, 0o644)
	mustRun(t, "", nil, "createrepo_c", "--quiet", repo)
	b, err := os.ReadFile(filepath.Join(repo, "repodata/repomd.xml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dnfMakecache runs dnf makecache hermetically on the repository at
// root/el with repo_gpgcheck=1, trusting only cert, and
// skip_if_unavailable=False so that a bad signature is an error, not a
// skipped repository.
func dnfMakecache(t *testing.T, root string, cert []byte) ([]byte, error) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.asc")
	os.WriteFile(key, openpgp.Armor(cert, "PGP PUBLIC KEY BLOCK"), 0o644)
	os.MkdirAll(filepath.Join(dir, "repos.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "repos.d/signet.repo"), []byte(fmt.Sprintf(`[signet]
name=signet
baseurl=file://%s/el
enabled=1
gpgcheck=0
repo_gpgcheck=1
gpgkey=file://%s
skip_if_unavailable=False
metadata_expire=0
`, root, key)), 0o644)
	conf := filepath.Join(dir, "dnf.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("[main]\nreposdir=%[1]s/repos.d\ncachedir=%[1]s/cache\nlogdir=%[1]s/log\npersistdir=%[1]s/persist\ngpgcheck=0\nskip_if_unavailable=False\n", dir)), 0o644)
	return run(t, dir, []string{"LC_ALL=C.UTF-8"}, "dnf", "-y", "--config", conf, "--setopt=reposdir="+filepath.Join(dir, "repos.d"),
		"--installroot", filepath.Join(dir, "root"), "--releasever", "1", "--disablerepo=*", "--enablerepo=signet", "makecache")
}

func signRPM(t *testing.T, f *pgpFixture, repomd []byte) error {
	sum := sha256.Sum256(repomd)
	res, err := f.publisher.SignCatalog(context.Background(), "el", map[string]string{"repo": "el"}, sum[:], repomd)
	if err != nil {
		return err
	}
	if len(res.Files) != 1 || res.Files[0].Name != "repomd.xml.asc" {
		t.Fatalf("files %+v", res.Files)
	}
	return os.WriteFile(filepath.Join(f.rpm, "el/repodata/repomd.xml.asc"), res.Files[0].Data, 0o644)
}

// testRPMRepository builds a real RPM repository, signs its repomd.xml
// through Signet with the RSA key, and has dnf makecache with
// repo_gpgcheck=1 accept it; then a tampered package is refused by Signet
// and a repomd.xml changed after signing is rejected by dnf.
func testRPMRepository(t *testing.T, f *pgpFixture) {
	need(t, "rpmbuild", "createrepo_c", "dnf", "gpgv")
	repomd := buildRPMRepo(t, f.rpm)
	if err := signRPM(t, f, repomd); err != nil {
		t.Fatal(err)
	}
	if out, err := dnfMakecache(t, f.rpm, f.certs["archive-rsa"]); err != nil {
		t.Fatalf("dnf makecache: %v\n%s", err, out)
	}
	if out, err := dnfMakecache(t, f.rpm, f.certs["archive-ed25519"]); err == nil || !bytes.Contains(out, []byte("GPG signature verification error")) {
		t.Fatalf("dnf makecache with the wrong key: %v\n%s", err, out)
	}

	rpm := filepath.Join(f.rpm, "el/Packages/signet-hello-1.0-1.noarch.rpm")
	orig, _ := os.ReadFile(rpm)
	tampered := bytes.Clone(orig)
	tampered[len(tampered)-1] ^= 1
	os.WriteFile(rpm, tampered, 0o644)
	if err := signRPM(t, f, repomd); catalogCode(err) != "catalog_invalid" || !strings.Contains(err.Error(), "el/Packages/signet-hello-1.0-1.noarch.rpm") {
		t.Errorf("tampered rpm: %v", err)
	}
	os.WriteFile(rpm, orig, 0o644)

	changed := bytes.Replace(repomd, []byte("<revision>"), []byte("<revision>1"), 1)
	if bytes.Equal(changed, repomd) {
		t.Fatal("repomd.xml has no <revision>")
	}
	os.WriteFile(filepath.Join(f.rpm, "el/repodata/repomd.xml"), changed, 0o644)
	if out, err := dnfMakecache(t, f.rpm, f.certs["archive-rsa"]); err == nil || !bytes.Contains(out, []byte("GPG signature verification error")) {
		t.Fatalf("dnf makecache with a repomd.xml changed after signing: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(f.rpm, "el/repodata/repomd.xml"), repomd, 0o644)
}

// testSHA256Sums signs a SHA256SUMS through Signet and has gpgv and
// sha256sum -c check the release.
func testSHA256Sums(t *testing.T, f *pgpFixture) {
	need(t, "gpgv", "sha256sum")
	dir := filepath.Join(f.sums, "1.0")
	os.MkdirAll(dir, 0o755)
	for _, n := range []string{"signet-1.0.tar.gz", "signet-1.0.zip"} {
		os.WriteFile(filepath.Join(dir, n), []byte("release "+n), 0o644)
	}
	sums := mustRun(t, dir, nil, "sha256sum", "signet-1.0.tar.gz", "signet-1.0.zip")
	os.WriteFile(filepath.Join(dir, "SHA256SUMS"), sums, 0o644)
	sum := sha256.Sum256(sums)
	res, err := f.publisher.SignCatalog(context.Background(), "sums", map[string]string{"version": "1.0"}, sum[:], sums)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 1 || res.Files[0].Name != "SHA256SUMS.asc" {
		t.Fatalf("files %+v", res.Files)
	}
	os.WriteFile(filepath.Join(dir, "SHA256SUMS.asc"), res.Files[0].Data, 0o644)
	if err := gpgvOK(t, f.ringFiles["archive-ed25519"], filepath.Join(dir, "SHA256SUMS.asc"), filepath.Join(dir, "SHA256SUMS")); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, nil, "sha256sum", "-c", "SHA256SUMS")
	os.WriteFile(filepath.Join(dir, "signet-1.0.zip"), []byte("evil"), 0o644)
	if _, err := f.publisher.SignCatalog(context.Background(), "sums", map[string]string{"version": "1.0"}, sum[:], sums); catalogCode(err) != "catalog_invalid" || !strings.Contains(err.Error(), "1.0/signet-1.0.zip") {
		t.Errorf("tampered file: %v", err)
	}
}
