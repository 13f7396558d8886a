package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/format/authenticode/authenticodetest"
	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/internal/signettest"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
)

// The tests load the module, built as a shared library from this
// package, into the real consumers of PKCS #11 and check that what they
// sign verifies with plain openssl and osslsigncode, and that the audit
// log recorded every signature.

var (
	buildOnce sync.Once
	modPath   string
	buildErr  error
)

// buildModule builds the module once per test run.
func buildModule(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "signet-pkcs11-")
		if err != nil {
			buildErr = err
			return
		}
		modPath = filepath.Join(dir, "libsignet-pkcs11.so")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", modPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build -buildmode=c-shared: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return modPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if modPath != "" {
		os.RemoveAll(filepath.Dir(modPath))
	}
	os.Exit(code)
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: run ./scripts/test, which installs it", tool)
		}
	}
}

// env is a server, the module, and a configuration file pointing the
// module at the server as principal "signer".
type env struct {
	srv    *signettest.Server
	mod    string
	dir    string
	config string
	caFile string
	env    []string // more environment for every consumer
}

func newEnv(t *testing.T) *env { return newEnvWith(t, false) }

// newEnvWith is newEnv, with tokens on if asked; "admin" may issue them.
func newEnvWith(t *testing.T, tokens bool) *env {
	t.Helper()
	all := []string{"*"}
	srv := signettest.Start(t, signettest.Options{
		Tokens: tokens,
		Principals: map[string]policy.Rules{
			"admin":  {Admin: true, IssueTokens: true, Grants: []policy.Grant{{Keys: all, Formats: all, Artifacts: all}}},
			"signer": {Grants: []policy.Grant{{Keys: []string{"p256", "p384", "rsa", "ed"}, Formats: []string{"raw"}, Artifacts: []string{"pkcs11:*"}}}},
		},
		Keys: []keystore.Spec{
			{Name: "p256", Type: keystore.ECDSAP256, Usage: "raw"},
			{Name: "p384", Type: keystore.ECDSAP384, Usage: "raw"},
			{Name: "rsa", Type: keystore.RSA3072, Usage: "raw"},
			{Name: "ed", Type: keystore.Ed25519, Usage: "raw"},
			{Name: "hidden", Type: keystore.ECDSAP256, Usage: "raw"}, // no grant for signer
			{Name: "sshkey", Type: keystore.Ed25519, Usage: "ssh"},   // not a raw key
		},
		CertDir: t.TempDir(),
	})
	dir := t.TempDir()
	e := &env{srv: srv, mod: buildModule(t), dir: dir}
	cfg := srv.Credentials(t, dir, "signer")
	e.caFile = cfg.CACert
	e.config = filepath.Join(dir, "signet-pkcs11.env")
	conf := fmt.Sprintf("# written by the test\nexport SIGNET_SERVER=%s\nSIGNET_CACERT='%s'\nSIGNET_CLIENT_CERT=%s\nSIGNET_CLIENT_KEY=%s\n",
		cfg.Server, cfg.CACert, cfg.ClientCert, cfg.ClientKey)
	if err := os.WriteFile(e.config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// run runs a consumer with the module's configuration.
func (e *env) run(t *testing.T, extraEnv []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = e.dir
	cmd.Env = append(append(append(os.Environ(), "SIGNET_PKCS11_CONFIG="+e.config), e.env...), extraEnv...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *env) mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := e.run(t, nil, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// publicPEM writes key's public key to a file and returns its name.
func (e *env) publicPEM(t *testing.T, key string) string {
	t.Helper()
	k, err := e.srv.Client("admin").Key(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(e.dir, key+".pub.pem")
	if err := os.WriteFile(name, []byte(k.PublicKey), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// signatures returns the raw signatures the log recorded for key,
// allowed and made through the module.
func (e *env) signatures(t *testing.T, key string) []*audit.Entry {
	var out []*audit.Entry
	for _, en := range e.srv.Entries(t) {
		if en.Action == audit.ActionSign && en.Decision == audit.Allowed && en.Format == "raw" && en.Key != nil && en.Key.Name == key &&
			en.Artifact != nil && strings.HasPrefix(en.Artifact.Name, "pkcs11:") {
			out = append(out, en)
		}
	}
	return out
}

// idOf returns the hex CKA_ID pkcs11-tool -O lists for key's objects.
func idOf(t *testing.T, listing, key string) string {
	t.Helper()
	m := regexp.MustCompile(`label:\s+` + key + `\n\s+ID:\s+([0-9a-f]+)`).FindStringSubmatch(listing)
	if m == nil {
		t.Fatalf("no object labelled %s in:\n%s", key, listing)
	}
	return m[1]
}

// TestPKCS11Tool lists the token and its objects with opensc's
// pkcs11-tool, signs with every mechanism, verifies each signature with
// openssl, runs pkcs11-tool --test, and finds each signature in the log.
func TestPKCS11Tool(t *testing.T) {
	need(t, "pkcs11-tool", "openssl")
	e := newEnv(t)
	slots := e.mustRun(t, "pkcs11-tool", "--module", e.mod, "-L")
	if !strings.Contains(slots, "token label        : Signet") || !strings.Contains(slots, e.srv.URL.String()) {
		t.Errorf("pkcs11-tool -L:\n%s", slots)
	}
	objs := e.mustRun(t, "pkcs11-tool", "--module", e.mod, "-O")
	for _, key := range []string{"p256", "p384", "rsa", "ed"} {
		if !regexp.MustCompile(`Private Key Object; [A-Z_]+ *\n\s+label:\s+` + key + `\n(.*\n){2}\s+Access:\s+sensitive, always sensitive, never extractable, local`).MatchString(objs) {
			t.Errorf("private key %s is not listed as sensitive and never extractable:\n%s", key, objs)
		}
	}
	for _, key := range []string{"hidden", "sshkey"} {
		if strings.Contains(objs, "label:      "+key+"\n") {
			t.Errorf("key %s is listed, though signer may not use it or it is not raw:\n%s", key, objs)
		}
	}
	data := filepath.Join(e.dir, "data.txt")
	os.WriteFile(data, []byte("signed through PKCS #11\n"), 0o644)
	sum := sha256.Sum256([]byte("signed through PKCS #11\n"))
	digest := filepath.Join(e.dir, "data.sha256")
	os.WriteFile(digest, sum[:], 0o644)
	e.mustRun(t, "openssl", "dgst", "-sha384", "-binary", "-out", filepath.Join(e.dir, "data.sha384"), data)
	for _, tc := range []struct {
		key, mech string
		in        string   // the input: the data, or its digest
		extra     []string // more pkcs11-tool arguments
		verify    []string // openssl arguments checking sig against data
	}{
		{"p256", "ECDSA-SHA256", data, []string{"--signature-format", "openssl"}, []string{"dgst", "-sha256", "-verify", "PUB", "-signature", "SIG", data}},
		{"p256", "ECDSA", digest, []string{"--signature-format", "openssl"}, []string{"dgst", "-sha256", "-verify", "PUB", "-signature", "SIG", data}},
		{"p384", "ECDSA-SHA384", data, []string{"--signature-format", "openssl"}, []string{"dgst", "-sha384", "-verify", "PUB", "-signature", "SIG", data}},
		{"p384", "ECDSA", filepath.Join(e.dir, "data.sha384"), []string{"--signature-format", "openssl"}, []string{"dgst", "-sha384", "-verify", "PUB", "-signature", "SIG", data}},
		{"rsa", "SHA256-RSA-PKCS", data, nil, []string{"dgst", "-sha256", "-verify", "PUB", "-signature", "SIG", data}},
		{"rsa", "SHA256-RSA-PKCS-PSS", data, nil, []string{"dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-verify", "PUB", "-signature", "SIG", data}},
		{"rsa", "RSA-PKCS-PSS", digest, []string{"--hash-algorithm", "SHA256", "--mgf", "MGF1-SHA256", "--salt-len", "32"},
			[]string{"dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-verify", "PUB", "-signature", "SIG", data}},
		{"ed", "EDDSA", data, nil, []string{"pkeyutl", "-verify", "-pubin", "-inkey", "PUB", "-rawin", "-in", data, "-sigfile", "SIG"}},
	} {
		t.Run(tc.key+" "+tc.mech, func(t *testing.T) {
			before := len(e.signatures(t, tc.key))
			sig := filepath.Join(e.dir, "sig")
			args := append([]string{"--module", e.mod, "--sign", "--id", idOf(t, objs, tc.key), "-m", tc.mech, "-i", tc.in, "-o", sig}, tc.extra...)
			e.mustRun(t, "pkcs11-tool", args...)
			pub := e.publicPEM(t, tc.key)
			verify := make([]string, len(tc.verify))
			for i, a := range tc.verify {
				verify[i] = strings.NewReplacer("PUB", pub, "SIG", sig).Replace(a)
			}
			if out, err := exec.Command("openssl", verify...).CombinedOutput(); err != nil {
				t.Fatalf("openssl %s: %v\n%s", strings.Join(verify, " "), err, out)
			}
			got := e.signatures(t, tc.key)
			if len(got) != before+1 {
				t.Fatalf("%d signatures of %s in the log, want %d", len(got), tc.key, before+1)
			}
			if last := got[len(got)-1]; last.Artifact.Name != "pkcs11:pkcs11-tool" || last.Principal.Name != "signer" {
				t.Errorf("audit entry %+v %+v", last, last.Artifact)
			}
		})
	}
	// A mechanism the key does not sign with, and a digest of the wrong
	// length, are refused here, before any request.
	before := len(e.signatures(t, "p256"))
	if out, err := e.run(t, nil, "pkcs11-tool", "--module", e.mod, "--sign", "--id", idOf(t, objs, "p256"), "-m", "ECDSA-SHA384", "-i", data, "-o", filepath.Join(e.dir, "x")); err == nil || !strings.Contains(out, "CKR_KEY_TYPE_INCONSISTENT") {
		t.Errorf("ECDSA-SHA384 with a P-256 key: %v\n%s", err, out)
	}
	if out, err := e.run(t, nil, "pkcs11-tool", "--module", e.mod, "--sign", "--id", idOf(t, objs, "p256"), "-m", "ECDSA", "-i", data, "-o", filepath.Join(e.dir, "x")); err == nil || !strings.Contains(out, "CKR_DATA_LEN_RANGE") {
		t.Errorf("ECDSA over 24 bytes with a P-256 key: %v\n%s", err, out)
	}
	if n := len(e.signatures(t, "p256")); n != before {
		t.Errorf("refused mechanisms made %d signatures", n-before)
	}
	// The grants decide: under an artifact name signer may not sign, the
	// server refuses and records the refusal.
	out, err := e.run(t, []string{"SIGNET_PKCS11_ARTIFACT=other-name"}, "pkcs11-tool", "--module", e.mod, "--sign", "--id", idOf(t, objs, "p256"), "-m", "ECDSA-SHA256", "-i", data, "-o", filepath.Join(e.dir, "x"))
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("signing under a name without a grant: %v\n%s", err, out)
	}
	entries := e.srv.Entries(t)
	if last := entries[len(entries)-1]; last.Decision != audit.Denied || last.Artifact.Name != "other-name" {
		t.Errorf("refusal entry %+v", last)
	}

	test := e.mustRun(t, "pkcs11-tool", "--module", e.mod, "--test", "--login", "--pin", "any")
	if !strings.Contains(test, "No errors") {
		t.Errorf("pkcs11-tool --test:\n%s", test)
	}
}

// engineConfig writes an OpenSSL configuration that loads libp11's pkcs11
// engine with the module, and returns its name.
func (e *env) engineConfig(t *testing.T) (conf, engine string) {
	t.Helper()
	out, err := exec.Command("openssl", "version", "-e").Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`ENGINESDIR: "(.*)"`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("openssl version -e: %s", out)
	}
	engine = filepath.Join(string(m[1]), "pkcs11.so")
	if _, err := os.Stat(engine); err != nil {
		t.Fatalf("the OpenSSL pkcs11 engine is needed (apt-get install libengine-pkcs11-openssl; scripts/test installs it): %v", err)
	}
	conf = filepath.Join(e.dir, "openssl-pkcs11.cnf")
	c := fmt.Sprintf(`openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = %s
MODULE_PATH = %s
init = 0
`, engine, e.mod)
	if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf, engine
}

// TestOpenSSLEngine signs with openssl pkeyutl through the pkcs11 engine
// and a pkcs11: URI, and verifies with plain openssl.
func TestOpenSSLEngine(t *testing.T) {
	need(t, "openssl")
	e := newEnv(t)
	conf, _ := e.engineConfig(t)
	// libp11 0.4.12, the engine in Debian 12, gives up listing keys when
	// one is an Ed25519 key: expose only the keys it knows.
	e.env = []string{"SIGNET_PKCS11_KEYS=p256,rsa"}
	data := []byte("release artifact\n")
	sum := sha256.Sum256(data)
	dgst := filepath.Join(e.dir, "artifact.sha256")
	os.WriteFile(dgst, sum[:], 0o644)
	for _, key := range []string{"p256", "rsa"} {
		t.Run(key, func(t *testing.T) {
			sig := filepath.Join(e.dir, key+".sig")
			args := []string{"pkeyutl", "-engine", "pkcs11", "-keyform", "engine", "-inkey", "pkcs11:object=" + key + ";type=private", "-sign", "-in", dgst, "-out", sig}
			if key == "rsa" {
				args = append(args, "-pkeyopt", "digest:sha256")
			}
			if out, err := e.run(t, []string{"OPENSSL_CONF=" + conf}, "openssl", args...); err != nil {
				t.Fatalf("openssl pkeyutl -sign with the engine: %v\n%s", err, out)
			}
			verify := []string{"pkeyutl", "-verify", "-pubin", "-inkey", e.publicPEM(t, key), "-in", dgst, "-sigfile", sig}
			if key == "rsa" {
				verify = append(verify, "-pkeyopt", "digest:sha256")
			}
			if out, err := exec.Command("openssl", verify...).CombinedOutput(); err != nil {
				t.Fatalf("openssl pkeyutl -verify: %v\n%s", err, out)
			}
			got := e.signatures(t, key)
			if len(got) != 1 || got[0].Artifact.Digests[0] != api.Digest(crypto.SHA256, sum[:]) {
				t.Errorf("log has %d signatures of %s: %+v", len(got), key, got)
			}
		})
	}
}

// TestOsslsigncode signs a PE file with osslsigncode through the module
// and a code-signing certificate attached with 'signet key cert', and has
// osslsigncode verify it.
func TestOsslsigncode(t *testing.T) {
	need(t, "osslsigncode", "openssl")
	e := newEnv(t)
	_, engine := e.engineConfig(t)
	e.env = []string{"SIGNET_PKCS11_KEYS=rsa"} // see TestOpenSSLEngine
	ctx := context.Background()
	admin := e.srv.Client("admin")
	csr, err := admin.KeyCSR(ctx, "rsa", "CN=PKCS11 Release,O=Example")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(csr.CSR))
	leaf, err := e.srv.CA.IssueCodeSigning(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), devpki.CertPEM(e.srv.CA.TLSCertificate())...)
	if _, err := admin.AttachChain(ctx, "rsa", chain); err != nil {
		t.Fatal(err)
	}
	// The certificate is an object of the token, beside its key.
	id := idOf(t, e.mustRun(t, "pkcs11-tool", "--module", e.mod, "-O", "--type", "privkey"), "rsa")
	objs := e.mustRun(t, "pkcs11-tool", "--module", e.mod, "-O", "--type", "cert")
	if !strings.Contains(objs, "subject:    DN: O=Example, CN=PKCS11 Release") || !strings.Contains(objs, "ID:         "+id) {
		t.Errorf("certificate object:\n%s", objs)
	}
	certFile := filepath.Join(e.dir, "rsa-cert.der")
	e.mustRun(t, "pkcs11-tool", "--module", e.mod, "--read-object", "--type", "cert", "--label", "rsa", "-o", certFile)
	if b, _ := os.ReadFile(certFile); string(b) != string(leaf.Raw) {
		t.Error("the certificate read through the module is not the one attached")
	}
	chainFile := filepath.Join(e.dir, "chain.pem")
	os.WriteFile(chainFile, chain, 0o644)
	in, out := filepath.Join(e.dir, "app.exe"), filepath.Join(e.dir, "app-signed.exe")
	os.WriteFile(in, authenticodetest.MinimalPE(false, []byte{0xc3}, []byte("pkcs11")), 0o755)
	e.mustRun(t, "osslsigncode", "sign", "-pkcs11engine", engine, "-pkcs11module", e.mod, "-certs", chainFile,
		"-key", "pkcs11:object=rsa;type=private", "-h", "sha256", "-in", in, "-out", out)
	if res, err := authenticodetest.Verify(e.caFile, out); err != nil {
		t.Fatalf("osslsigncode verify: %v\n%s", err, res)
	}
	got := e.signatures(t, "rsa")
	if len(got) != 1 || got[0].Artifact.Name != "pkcs11:osslsigncode" {
		t.Errorf("log has %d signatures of rsa: %+v", len(got), got)
	}
}

// TestLoginUnlocksClientKey configures an encrypted client key: the
// token then needs a login, private keys appear only after it, a wrong
// PIN is refused, and the right one (the key's passphrase) signs.
func TestLoginUnlocksClientKey(t *testing.T) {
	need(t, "pkcs11-tool", "openssl")
	e := newEnv(t)
	cfg := e.srv.Credentials(t, e.dir, "signer")
	enc := filepath.Join(e.dir, "signer-key.enc.pem")
	if out, err := exec.Command("openssl", "ec", "-in", cfg.ClientKey, "-aes256", "-passout", "pass:s3cret", "-out", enc).CombinedOutput(); err != nil {
		t.Fatalf("openssl ec -aes256: %v\n%s", err, out)
	}
	conf := fmt.Sprintf("SIGNET_SERVER=%s\nSIGNET_CACERT=%s\nSIGNET_CLIENT_CERT=%s\nSIGNET_CLIENT_KEY=%s\n", cfg.Server, cfg.CACert, cfg.ClientCert, enc)
	if err := os.WriteFile(e.config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if slots := e.mustRun(t, "pkcs11-tool", "--module", e.mod, "-L"); !strings.Contains(slots, "login required") {
		t.Errorf("the token does not say it needs a login:\n%s", slots)
	}
	if objs := e.mustRun(t, "pkcs11-tool", "--module", e.mod, "-O"); strings.Contains(objs, "Private Key Object") {
		t.Errorf("private keys listed before login:\n%s", objs)
	}
	if out, err := e.run(t, nil, "pkcs11-tool", "--module", e.mod, "--login", "--pin", "wrong", "-O"); err == nil || !strings.Contains(out, "CKR_PIN_INCORRECT") {
		t.Errorf("a wrong PIN: %v\n%s", err, out)
	}
	objs := e.mustRun(t, "pkcs11-tool", "--module", e.mod, "--login", "--pin", "s3cret", "-O")
	data := filepath.Join(e.dir, "data.txt")
	os.WriteFile(data, []byte("after login\n"), 0o644)
	sig := filepath.Join(e.dir, "sig")
	e.mustRun(t, "pkcs11-tool", "--module", e.mod, "--login", "--pin", "s3cret", "--sign", "--id", idOf(t, objs, "p256"), "-m", "ECDSA-SHA256",
		"--signature-format", "openssl", "-i", data, "-o", sig)
	if out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", e.publicPEM(t, "p256"), "-signature", sig, data).CombinedOutput(); err != nil {
		t.Fatalf("openssl dgst -verify: %v\n%s", err, out)
	}
	if n := len(e.signatures(t, "p256")); n != 1 {
		t.Errorf("%d signatures in the log, want 1", n)
	}
}

// TestConcurrentSessions signs from many sessions at once through the
// module's Go side (the C functions only convert arguments), for the race
// detector, and checks every signature and its audit entry.
func TestConcurrentSessions(t *testing.T) {
	e := newEnv(t)
	t.Setenv("SIGNET_PKCS11_CONFIG", e.config)
	m, err := newModule()
	if err != nil {
		t.Fatal(err)
	}
	objs, rv := m.load()
	if rv != ckrOK {
		t.Fatalf("load: %#x", rv)
	}
	var key *object
	for _, o := range objs {
		if o.class == ckoPrivateKey && o.key.name == "p256" {
			key = o
		}
	}
	if key == nil {
		t.Fatal("no private key p256")
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, rv := m.openSession(ckfSerialSession)
			if rv != ckrOK {
				errs <- fmt.Errorf("open: %#x", rv)
				return
			}
			defer m.closeSession(h)
			s, _ := m.session(h)
			if rv := m.signInit(s, ckmECDSASHA256, nil, key.handle); rv != ckrOK {
				errs <- fmt.Errorf("sign init: %#x", rv)
				return
			}
			msg := []byte(fmt.Sprintf("message %d", i))
			sig, _, rv := m.finish(s, msg, true, 64, true)
			if rv != ckrOK {
				errs <- fmt.Errorf("sign: %#x", rv)
				return
			}
			pub := key.key.pub.(*ecdsa.PublicKey)
			sum := sha256.Sum256(msg)
			if !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
				errs <- fmt.Errorf("signature %d does not verify", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(e.signatures(t, "p256")); got != n {
		t.Errorf("%d signatures in the log, want %d", got, n)
	}
}

// TestTokens signs with a Signet token: configured as SIGNET_TOKEN (no
// login needed), or given as the PIN when the configuration has no
// credentials; the log names the token's subject.
func TestTokens(t *testing.T) {
	need(t, "pkcs11-tool", "openssl")
	e := newEnvWith(t, true)
	tok, err := e.srv.Client("admin").IssueToken(context.Background(), &api.TokenRequest{Subject: "build-4711", TTL: "1h",
		Keys: []string{"p256"}, Formats: []string{"raw"}, Artifacts: []string{"pkcs11:*"}})
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(e.dir, "data.txt")
	os.WriteFile(data, []byte("signed with a token\n"), 0o644)
	pub := e.publicPEM(t, "p256")
	base := fmt.Sprintf("SIGNET_SERVER=%s\nSIGNET_CACERT=%s\n", e.srv.URL, e.caFile)
	for _, tc := range []struct {
		name, conf string
		login      []string
	}{
		{"SIGNET_TOKEN", base + "SIGNET_TOKEN=" + tok.Token + "\n", nil},
		{"token as PIN", base, []string{"--login", "--pin", tok.Token}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(e.config, []byte(tc.conf), 0o600); err != nil {
				t.Fatal(err)
			}
			objs := e.mustRun(t, "pkcs11-tool", append([]string{"--module", e.mod, "-O"}, tc.login...)...)
			if strings.Contains(objs, "label:      rsa\n") {
				t.Errorf("a key outside the token's scope is listed:\n%s", objs)
			}
			before := len(e.signatures(t, "p256"))
			sig := filepath.Join(e.dir, "sig")
			e.mustRun(t, "pkcs11-tool", append([]string{"--module", e.mod, "--sign", "--id", idOf(t, objs, "p256"), "-m", "ECDSA-SHA256",
				"--signature-format", "openssl", "-i", data, "-o", sig}, tc.login...)...)
			if out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", pub, "-signature", sig, data).CombinedOutput(); err != nil {
				t.Fatalf("openssl dgst -verify: %v\n%s", err, out)
			}
			got := e.signatures(t, "p256")
			if len(got) != before+1 || got[len(got)-1].Principal.Subject != "build-4711" {
				t.Errorf("log: %d signatures (want %d), last %+v", len(got), before+1, got[len(got)-1].Principal)
			}
		})
	}
	// Without credentials, the PIN must be a valid token.
	if err := os.WriteFile(e.config, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := e.run(t, nil, "pkcs11-tool", "--module", e.mod, "--login", "--pin", "not-a-token", "-O"); err == nil || !strings.Contains(out, "CKR_PIN_INCORRECT") {
		t.Errorf("a PIN that is no token: %v\n%s", err, out)
	}
}
