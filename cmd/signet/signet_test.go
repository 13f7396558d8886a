package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/custody"
	"github.com/signet-dev/signet/internal/devpki"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"signet": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
		"signet-ssh-sign": func() {
			os.Exit(runSSHSign(&cmdEnv{ctx: context.Background(), stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:], os.Stdin))
		},
	})
}

// TestScripts runs the transcripts in testdata/*.txt: real servers on
// loopback, the real CLI, and signatures checked by openssl, ssh-keygen,
// git, minisign, osslsigncode, go-securesystemslib, rpmkeys,
// debsig-verify and curl (the audit explorer's pages).
func TestScripts(t *testing.T) {
	// In parallel with the other tests that wait on servers (failover,
	// fleet, reload, crash), so that the package's time is the longest
	// of them, not their sum.
	t.Parallel()
	for _, tool := range []string{"openssl", "ssh-keygen", "minisign", "git", "gpgv", "age-keygen", "softhsm2-util", "pkcs11-tool", "osslsigncode", "rpmbuild", "rpmkeys", "dpkg-deb", "debsig-verify", "curl", "docker-registry"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required; run ./scripts/test, which installs it", tool)
		}
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitenv":    cmdWaitEnv,
			"waitport":   cmdWaitPort,
			"freeport":   cmdFreePort,
			"expand":     cmdExpand,
			"mkpki":      cmdMkPKI,
			"envfile":    cmdEnvFile,
			"genlogkey":  cmdGenLogKey,
			"forgeshare": cmdForgeShare,
			"softhsm":    cmdSoftHSM,
			"cotgraph":   cmdCoTGraph,
			"cotuse":     cmdCoTUse,
			"dsseverify": cmdDSSEVerify,
			"mkpe":       cmdMkPE,
			"winexe":     cmdWinExe,
			"issuecs":    cmdIssueCodeSigning,
			"issuets":    cmdIssueTimeStamping,
			"debsigdir":  cmdDebsigDir,
			"flipbyte":   cmdFlipByte,
			"waitsock":   cmdWaitSock,
			"localuser":  cmdLocalUser,
			"ocireg":     cmdOCIRegistry,
			"cosignchk":  cmdCosignVerify,
			"buildplugs": cmdBuildPlugins,
			"notarysign": cmdNotationSign,
			"notarychk":  cmdNotationVerify,
			"cosignrun":  cmdCosignRun,
		},
	})
}

const waitLimit = 30 * time.Second

// waitenv DIR waits for DIR/client.env, written by 'signet serve --dev',
// and sets the variables it exports.
func cmdWaitEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitenv DIR")
	}
	name := ts.MkAbs(filepath.Join(args[0], "client.env"))
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		f, err := os.Open(name)
		if err == nil {
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
				if ok {
					ts.Setenv(k, strings.Trim(v, "'"))
				}
			}
			return
		}
		if time.Since(start) > waitLimit {
			ts.Fatalf("no %s after %v: did the server start?", name, waitLimit)
		}
	}
}

// waitport HOST:PORT waits until something accepts connections there.
func cmdWaitPort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitport HOST:PORT")
	}
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", args[0], time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Since(start) > waitLimit {
			ts.Fatalf("nothing listening on %s after %v", args[0], waitLimit)
		}
	}
}

// waitsock PATH waits until something accepts connections on the Unix
// socket at PATH.
func cmdWaitSock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitsock PATH")
	}
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("unix", ts.MkAbs(args[0]), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Since(start) > waitLimit {
			ts.Fatalf("nothing listening on %s after %v", args[0], waitLimit)
		}
	}
}

// localuser NAME UID sets NAME and UID to the name and uid of the user
// running the script.
func cmdLocalUser(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: localuser NAMEVAR UIDVAR")
	}
	u, err := user.Current()
	ts.Check(err)
	ts.Setenv(args[0], u.Username)
	ts.Setenv(args[1], u.Uid)
}

// freeport VAR sets VAR to a loopback TCP port that was free a moment ago.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	ts.Setenv(args[0], port)
}

// expand IN OUT writes IN to OUT with $VARIABLES replaced.
func cmdExpand(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: expand IN OUT")
	}
	in := ts.ReadFile(args[0])
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(os.Expand(in, ts.Getenv)), 0o600))
}

// envfile [-pem] VAR FILE sets VAR to the trimmed contents of FILE, or
// with -pem to the base64 body of the PEM block in it.
func cmdEnvFile(ts *testscript.TestScript, neg bool, args []string) {
	pemBody := len(args) == 3 && args[0] == "-pem"
	if pemBody {
		args = args[1:]
	}
	if neg || len(args) != 2 {
		ts.Fatalf("usage: envfile [-pem] VAR FILE")
	}
	v := strings.TrimSpace(ts.ReadFile(args[1]))
	if pemBody {
		block, _ := pem.Decode([]byte(v))
		if block == nil {
			ts.Fatalf("%s: no PEM block", args[1])
		}
		v = base64.StdEncoding.EncodeToString(block.Bytes)
	}
	ts.Setenv(args[0], v)
}

// genlogkey VAR ORIGIN sets VAR to the verifier key of a new, random log
// key for ORIGIN: a key that signed nothing.
func cmdGenLogKey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: genlogkey VAR ORIGIN")
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	ts.Check(err)
	vkey, err := audit.VerifierKey(args[1], pub)
	ts.Check(err)
	ts.Setenv(args[0], vkey)
}

// mkpki DIR writes a CA (ca.pem), a server certificate for 127.0.0.1
// (server.pem, server-key.pem) and client certificates NAME.pem,
// NAME-key.pem for each further argument.
func cmdMkPKI(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: mkpki DIR [CLIENT...]")
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o700))
	ca, err := devpki.NewCA("script CA")
	ts.Check(err)
	ts.Check(os.WriteFile(filepath.Join(dir, "ca.pem"), devpki.CertPEM(ca.TLSCertificate()), 0o600))
	write := func(name string, issue func() (tls.Certificate, error)) {
		c, err := issue()
		ts.Check(err)
		key, err := devpki.KeyPEM(c)
		ts.Check(err)
		ts.Check(os.WriteFile(filepath.Join(dir, name+".pem"), devpki.CertPEM(c), 0o600))
		ts.Check(os.WriteFile(filepath.Join(dir, name+"-key.pem"), key, 0o600))
	}
	write("server", func() (tls.Certificate, error) { return ca.IssueServer("127.0.0.1") })
	for _, name := range args[1:] {
		write(name, func() (tls.Certificate, error) { return ca.IssueClient(name) })
	}
}

// forgeshare SHARE RECIPIENT OUT writes OUT: a share file that looks like
// SHARE (same set and index, encrypted to the age public key in RECIPIENT)
// but holds a random value, as a corrupted or forged share would.
func cmdForgeShare(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: forgeshare SHARE RECIPIENT OUT")
	}
	var set string
	var index int
	for l := range strings.Lines(ts.ReadFile(args[0])) {
		fmt.Sscanf(l, "# signet custody share %d of", &index)
		fmt.Sscanf(l, "# set %32s", &set)
	}
	if set == "" || index == 0 {
		ts.Fatalf("%s: no set or index in its comments", args[0])
	}
	r, err := custody.ParseRecipient(ts.ReadFile(args[1]))
	ts.Check(err)
	value := make([]byte, 32)
	rand.Read(value)
	value[31] &= 0x0f // a canonical scalar, just not the right one
	f, err := os.Create(ts.MkAbs(args[2]))
	ts.Check(err)
	defer f.Close()
	fmt.Fprintf(f, "# signet custody share %d (forged)\n", index)
	aw := armor.NewWriter(f)
	w, err := age.Encrypt(aw, r)
	ts.Check(err)
	fmt.Fprintf(w, `{"set":%q,"index":%d,"value":%q}`, set, index, base64.StdEncoding.EncodeToString(value))
	ts.Check(w.Close())
	ts.Check(aw.Close())
}

// softhsm DIR LABEL initializes a SoftHSM2 token labelled LABEL in DIR
// (SO PIN 1234, user PIN 5678) and sets SOFTHSM2_CONF, so that servers
// and pkcs11-tool started later see it, and SOFTHSM_MODULE.
func cmdSoftHSM(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: softhsm DIR LABEL")
	}
	module := ""
	for _, p := range []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"} {
		if _, err := os.Stat(p); err == nil {
			module = p
			break
		}
	}
	if module == "" {
		ts.Fatalf("SoftHSM2 is required (Debian package softhsm2); run ./scripts/test, which installs it")
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(filepath.Join(dir, "tokens"), 0o700))
	conf := filepath.Join(dir, "softhsm2.conf")
	ts.Check(os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600))
	ts.Setenv("SOFTHSM2_CONF", conf)
	ts.Setenv("SOFTHSM_MODULE", module)
	cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", args[1], "--so-pin", "1234", "--pin", "5678")
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		ts.Fatalf("softhsm2-util: %v\n%s", err, out)
	}
}
