package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signet-dev/signet/agent"
	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/internal/signettest"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
)

// helperEnv makes the test binary act as a local program that signs the
// files it is given through the agent, as the user it runs as.
const helperEnv = "SIGNET_AGENT_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helper(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// helper signs files with key release through $SIGNET_SERVER, printing
// each signature written and each failure, and exits 1 if any failed.
func helper(files []string) int {
	c, err := client.New(client.FromEnv())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	sum, err := c.SignBatch(context.Background(), files, client.BatchOptions{Key: "release",
		Done: func(r client.FileResult) {
			if r.Signature != "" {
				fmt.Println(r.Signature)
			}
		}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, f := range sum.Failed {
		fmt.Fprintf(os.Stderr, "%s: %v\n", f.Path, f.Err)
	}
	if len(sum.Failed) > 0 {
		return 1
	}
	return 0
}

// localUser is a user created for the test.
type localUser struct {
	name     string
	uid, gid uint32
	dir      string // a directory it owns, with its files
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the agent tests create local users and run programs as them, so they must run as root (as ./scripts/test does in CI)")
	}
	for _, tool := range []string{"useradd", "userdel", "groupadd", "groupdel", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required; run ./scripts/test, which installs it", tool)
		}
	}
}

func runCmd(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func suffix() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newGroup creates a local group and removes it when the test ends.
func newGroup(t *testing.T, name string) uint32 {
	t.Helper()
	runCmd(t, "groupadd", name)
	t.Cleanup(func() { exec.Command("groupdel", name).Run() })
	g, err := user.LookupGroup(name)
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := strconv.ParseUint(g.Gid, 10, 32)
	return uint32(gid)
}

// newUser creates a local user, with a directory of its own under base
// holding files, and removes it when the test ends.
func newUser(t *testing.T, name, base string, files ...string) *localUser {
	t.Helper()
	runCmd(t, "useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name)
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	lu := &localUser{name: name, uid: uint32(uid), gid: uint32(gid), dir: filepath.Join(base, name)}
	if err := os.Mkdir(lu.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(lu.dir, f), []byte(name+" built "+f+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	chownAll(t, lu.dir, int(uid), int(gid))
	return lu
}

func chownAll(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sandbox is a world-traversable directory for sockets, users' files and
// a copy of the test binary that they may run: the test's own temporary
// directories are private to root.
func sandbox(t *testing.T) (dir, bin string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "signet-agent-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "signet-helper")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}

// runAs runs the helper as u (with extra supplementary groups), signing
// files of u's directory through the agent at socket.
func runAs(t *testing.T, bin, socket string, u *localUser, groups []uint32, files ...string) (stdout, stderr string, err error) {
	t.Helper()
	var args []string
	for _, f := range files {
		args = append(args, filepath.Join(u.dir, f))
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = u.dir
	cmd.Env = []string{helperEnv + "=1", "SIGNET_SERVER=unix:" + socket, "HOME=" + u.dir, "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: groups}}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// world is a server, a build host's agent in front of it, and two local
// users.
type world struct {
	srv          *signettest.Server
	dir, bin     string
	socket       string
	alice, bob   *localUser
	relEng       string // a group with a grant of its own
	relEngGID    uint32
	agentLog     *signettest.Buffer
	plainSocket  string // an agent whose host may not delegate
	groupSocket  string // a socket only the release group may connect to
	serverCredsD string
}

func newWorld(t *testing.T) *world {
	return newWorldWith(t, agent.Limits{MaxBatch: 5, MaxBodyBytes: 64 << 10})
}

// newWorldWith is newWorld with the agents' limits.
func newWorldWith(t *testing.T, limits agent.Limits) *world {
	requireRoot(t)
	w := &world{}
	w.dir, w.bin = sandbox(t)
	id := suffix()
	w.relEng = "sgtrel" + id
	w.relEngGID = newGroup(t, w.relEng)
	w.alice = newUser(t, "sgta"+id, w.dir, "app.tar.gz", "lib.tar.gz", "app.zip")
	w.bob = newUser(t, "sgtb"+id, w.dir, "tool.tar.gz", "tool.zip")
	grants := []policy.Grant{{Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"*.tar.gz", "*.zip"}}}
	w.srv = signettest.Start(t, signettest.Options{
		Principals: map[string]policy.Rules{
			"build-host": {Delegate: true, Grants: grants},
			"plain-host": {Grants: grants},
		},
		Keys: []keystore.Spec{{Name: "release", Type: keystore.ECDSAP256}},
	})
	w.serverCredsD = t.TempDir()
	w.agentLog = new(signettest.Buffer)
	conf := func(host string) *agent.Config {
		creds := w.srv.Credentials(t, w.serverCredsD, host)
		yaml := fmt.Sprintf(`servers: [%s]
tls: {ca: %s, cert: %s, key: %s}
grants:
  - users: [%s, "0"]
    keys: [release]
    formats: [raw]
    artifacts: ["*.tar.gz"]
  - groups: [%s]
    keys: [release]
    formats: [raw]
    artifacts: ["*.zip"]
`, creds.Server, creds.CACert, creds.ClientCert, creds.ClientKey, w.alice.name, w.relEng)
		name := filepath.Join(t.TempDir(), "agent.yaml")
		os.WriteFile(name, []byte(yaml), 0o600)
		c, err := agent.LoadConfig(name)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	start := func(cfg *agent.Config, socket string, mode os.FileMode, gid int, logTo io.Writer) {
		cc, err := cfg.ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		up, err := client.New(cc)
		if err != nil {
			t.Fatal(err)
		}
		a, err := agent.New(agent.Options{Upstream: up, Grants: cfg.Grants, Limits: limits,
			Log: slog.New(slog.NewTextHandler(logTo, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := agent.Listen(socket, mode, gid)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Serve(ctx, ln, 5*time.Second) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	w.socket = filepath.Join(w.dir, "agent.sock")
	start(conf("build-host"), w.socket, 0o666, -1, w.agentLog)
	w.plainSocket = filepath.Join(w.dir, "plain.sock")
	start(conf("plain-host"), w.plainSocket, 0o666, -1, io.Discard)
	w.groupSocket = filepath.Join(w.dir, "group.sock")
	start(conf("build-host"), w.groupSocket, 0o660, int(w.relEngGID), io.Discard)
	return w
}

// signEntries returns the allowed sign entries of the log, by artifact.
func signEntries(t *testing.T, s *signettest.Server) map[string][]*audit.Entry {
	out := map[string][]*audit.Entry{}
	for _, e := range s.Entries(t) {
		if e.Action == audit.ActionSign && e.Decision == audit.Allowed {
			out[e.Artifact.Name] = append(out[e.Artifact.Name], e)
		}
	}
	return out
}

func TestAgentLocalUsers(t *testing.T) {
	w := newWorld(t)
	pub := filepath.Join(w.dir, "release.pem")
	k, err := w.srv.Client("build-host").Key(context.Background(), "release")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(pub, []byte(k.PublicKey), 0o644)

	// alice may sign *.tar.gz: her program has no credentials, the agent
	// vouches for her, and openssl accepts the signatures.
	out, errOut, err := runAs(t, w.bin, w.socket, w.alice, nil, "app.tar.gz", "lib.tar.gz")
	if err != nil {
		t.Fatalf("alice: %v\n%s%s", err, out, errOut)
	}
	for _, f := range []string{"app.tar.gz", "lib.tar.gz"} {
		p := filepath.Join(w.alice.dir, f)
		o, err := exec.Command("openssl", "dgst", "-sha256", "-verify", pub, "-signature", p+".sig", p).CombinedOutput()
		if err != nil || !strings.Contains(string(o), "Verified OK") {
			t.Errorf("openssl on %s: %v %s", f, err, o)
		}
		if fi, err := os.Stat(p + ".sig"); err != nil || fi.Sys().(*syscall.Stat_t).Uid != w.alice.uid {
			t.Errorf("%s.sig is not alice's own file: %v", f, err)
		}
	}
	// The audit log names the host principal and the local user.
	entries := signEntries(t, w.srv)
	for _, f := range []string{"app.tar.gz", "lib.tar.gz"} {
		es := entries[f]
		if len(es) != 1 {
			t.Fatalf("%s: %d entries", f, len(es))
		}
		want := audit.Principal{Kind: "agent", Name: "build-host", ID: es[0].Principal.ID, LocalUser: w.alice.name}
		if es[0].Principal != want || !strings.HasPrefix(es[0].Principal.ID, "sha256:") {
			t.Errorf("%s: entry principal %+v, want %+v", f, es[0].Principal, want)
		}
		if es[0].IdempotencyKey == "" || es[0].Attempt != 1 {
			t.Errorf("%s: the local client's idempotency key did not reach the log: %+v", f, es[0])
		}
	}
	// The agent's log says which process asked.
	if !strings.Contains(w.agentLog.String(), "user="+w.alice.name) || !strings.Contains(w.agentLog.String(), fmt.Sprintf("uid=%d", w.alice.uid)) ||
		!strings.Contains(w.agentLog.String(), "pid=") {
		t.Errorf("agent log does not name alice's process:\n%s", w.agentLog)
	}

	// alice's grant is for *.tar.gz only.
	_, errOut, err = runAs(t, w.bin, w.socket, w.alice, nil, "app.zip")
	if err == nil || !strings.Contains(errOut, fmt.Sprintf(`signet agent: permission denied: local user %s (uid %d) may not sign artifact "app.zip" with key "release" in format "raw" on this host`, w.alice.name, w.alice.uid)) {
		t.Errorf("alice signing app.zip: %v\n%s", err, errOut)
	}

	// bob has no grant: refused by the agent, with a clear message, and
	// nothing reaches the server.
	_, errOut, err = runAs(t, w.bin, w.socket, w.bob, nil, "tool.tar.gz")
	want := fmt.Sprintf("signet agent: permission denied: local user %s (uid %d) has no grants on this host", w.bob.name, w.bob.uid)
	if err == nil || !strings.Contains(errOut, want) {
		t.Errorf("bob: %v\n%s\nwant %q", err, errOut, want)
	}
	if _, err := os.Stat(filepath.Join(w.bob.dir, "tool.tar.gz.sig")); err == nil {
		t.Error("bob got a signature")
	}
	for _, e := range w.srv.Entries(t) {
		if e.Principal.LocalUser == w.bob.name {
			t.Errorf("the server saw bob's request: %+v", e)
		}
	}

	// In the release group (a supplementary group, as the kernel reports
	// it), bob may sign *.zip and still not *.tar.gz; one run signs what
	// it may and lists what it may not.
	out, errOut, err = runAs(t, w.bin, w.socket, w.bob, []uint32{w.relEngGID}, "tool.zip", "tool.tar.gz")
	if err == nil || !strings.Contains(out, "tool.zip.sig") || !strings.Contains(errOut, `tool.tar.gz: server: signet agent: permission denied: local user `+w.bob.name) {
		t.Errorf("bob in %s: %v\n%s%s", w.relEng, err, out, errOut)
	}
	if es := signEntries(t, w.srv)["tool.zip"]; len(es) != 1 || es[0].Principal.LocalUser != w.bob.name || es[0].Principal.Name != "build-host" {
		t.Errorf("tool.zip entries %+v", es)
	}
}

func TestAgentSocketPermissions(t *testing.T) {
	w := newWorld(t)
	fi, err := os.Stat(w.groupSocket)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o660 || fi.Mode().Type() != os.ModeSocket || st.Gid != w.relEngGID || st.Uid != 0 {
		t.Fatalf("socket %v owned by %d:%d, want srw-rw---- root:%s", fi.Mode(), st.Uid, st.Gid, w.relEng)
	}
	// alice's grant does not help her past the socket's permissions...
	_, errOut, err := runAs(t, w.bin, w.groupSocket, w.alice, nil, "app.tar.gz")
	if err == nil || !strings.Contains(errOut, "permission denied") || strings.Contains(errOut, "signet agent") {
		t.Errorf("alice on the group socket: %v\n%s", err, errOut)
	}
	// ...but in the group she may connect.
	if _, errOut, err := runAs(t, w.bin, w.groupSocket, w.alice, []uint32{w.relEngGID}, "app.tar.gz"); err != nil {
		t.Errorf("alice in the group: %v\n%s", err, errOut)
	}
	// The socket is not left behind a stopped agent, and a live one is
	// never replaced.
	if _, err := agent.Listen(w.socket, 0o666, -1); err == nil || !strings.Contains(err.Error(), "another agent is listening") {
		t.Errorf("Listen over a live agent: %v", err)
	}
	regular := filepath.Join(w.dir, "not-a-socket")
	os.WriteFile(regular, nil, 0o600)
	if _, err := agent.Listen(regular, 0o666, -1); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("Listen over a file: %v", err)
	}
}

func TestAgentHostWithoutDelegation(t *testing.T) {
	w := newWorld(t)
	_, errOut, err := runAs(t, w.bin, w.plainSocket, w.alice, nil, "app.tar.gz")
	want := fmt.Sprintf(`permission denied: principal "plain-host" may not act on behalf of local users (needs delegate: true); its request for local user %q is refused`, w.alice.name)
	if err == nil || !strings.Contains(errOut, want) {
		t.Fatalf("alice through plain-host: %v\n%s\nwant %q", err, errOut, want)
	}
	// The refusal is in the log, naming the host and the user.
	var found bool
	for _, e := range w.srv.Entries(t) {
		if e.Decision == audit.Denied && e.Principal.Name == "plain-host" && e.Principal.Kind == "agent" && e.Principal.LocalUser == w.alice.name &&
			strings.Contains(e.Reason, "needs delegate: true") {
			found = true
		}
	}
	if !found {
		t.Error("the refusal of plain-host is not in the audit log")
	}
}

// rawClient speaks HTTP to an agent socket as the test process (root,
// whom the grants allow *.tar.gz).
func rawClient(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}}
}

func TestAgentRequests(t *testing.T) {
	w := newWorld(t)
	hc := rawClient(w.socket)
	item := func(name string) string {
		return fmt.Sprintf(`{"name":%q,"digest":"sha256:%s"}`, name, strings.Repeat("ab", 32))
	}
	tests := []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		want                     string
	}{
		{"signs", "POST", "/v1/sign", `{"key":"release","format":"raw","items":[` + item("x.tar.gz") + `]}`, nil, 200, `"signatures"`},
		{"unknown field", "POST", "/v1/sign", `{"key":"release","format":"raw","items":[` + item("x.tar.gz") + `],"admin":true}`, nil, 400, `unknown field \"admin\"`},
		{"trailing data", "POST", "/v1/sign", `{"key":"release","format":"raw","items":[` + item("x.tar.gz") + `]} {}`, nil, 400, "data after the JSON object"},
		{"empty", "POST", "/v1/sign", ``, nil, 400, "empty request body"},
		{"bad digest", "POST", "/v1/sign", `{"key":"release","format":"raw","items":[{"name":"x.tar.gz","digest":"sha256:zz"}]}`, nil, 400, "item 1"},
		{"dot-dot segment", "POST", "/v1/sign", `{"key":"release","format":"raw","items":[` + item("nightly/../x.tar.gz") + `]}`, nil, 400, `has a \"..\" segment`},
		{"leading slash", "POST", "/v1/sign", `{"key":"release","format":"raw","items":[` + item("/x.tar.gz") + `]}`, nil, 400, `starts with '/'`},
		{"too many items", "POST", "/v1/sign", `{"key":"release","format":"raw","items":[` + strings.Repeat(item("x.tar.gz")+",", 5) + item("y.tar.gz") + `]}`, nil, 413, "the agent's limit is 5"},
		{"too large", "POST", "/v1/sign", `{"key":"release","format":"raw","items":[{"name":"x.tar.gz","data":"` + strings.Repeat("A", 70<<10) + `"}]}`, nil, 413, "exceeds the agent's limit of 65536 bytes"},
		{"other key", "POST", "/v1/sign", `{"key":"other","format":"raw","items":[` + item("x.tar.gz") + `]}`, nil, 403, `local user root (uid 0) may not use key \"other\"`},
		{"other format", "POST", "/v1/sign", `{"key":"release","format":"ssh","items":[` + item("x.tar.gz") + `]}`, nil, 403, `in format \"ssh\"`},
		{"items refused", "POST", "/v1/sign", `{"key":"release","format":"raw","items":[` + item("x.tar.gz") + "," + item("y.zip") + `]}`, nil, 403, `"items":[{"item":2,`},
		{"impersonation", "POST", "/v1/sign", `{"key":"release","format":"raw","items":[` + item("x.tar.gz") + `]}`, map[string]string{api.LocalUserHeader: "alice"}, 400, "do not send Signet-Local-User"},
		{"bad idempotency key", "POST", "/v1/sign", `{"key":"release","format":"raw","items":[` + item("x.tar.gz") + `]}`, map[string]string{api.IdempotencyKeyHeader: "a b"}, 400, "only letters"},
		{"keys are filtered", "GET", "/v1/keys", "", nil, 200, `"name":"release"`},
		{"key", "GET", "/v1/keys/release", "", nil, 200, `"public_key"`},
		{"key without grant", "GET", "/v1/keys/other", "", nil, 403, `has no grant for key \"other\"`},
		{"limits", "GET", "/v1/limits", "", nil, 200, `{"max_batch":5,"max_body_bytes":65536,"max_message_bytes":49152}`},
		{"audit key", "GET", "/v1/audit/key", "", nil, 200, `"verifier_key"`},
		{"checkpoint", "GET", "/v1/audit/checkpoint", "", nil, 200, "test/audit\n"},
		{"not forwarded", "POST", "/v1/keys", `{"name":"mine","type":"ed25519"}`, nil, 404, "signet agent: it forwards signing"},
		{"not forwarded either", "GET", "/v1/audit/entries", "", nil, 404, "forwards signing, key lookups"},
		{"health", "GET", "/healthz", "", nil, 200, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, "http://agent"+tt.path, strings.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.want) {
				t.Errorf("%s %s: %d %s; want %d containing %q", tt.method, tt.path, resp.StatusCode, b, tt.status, tt.want)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	good := "servers: [https://signet:8443]\ntls: {cert: h.pem, key: h-key.pem}\ngrants:\n  - {users: [root], keys: [release], formats: [raw], artifacts: ['*']}\n"
	if _, err := agent.ParseConfig([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"", "the file is empty"},
		{good + "sever: x\n", "field sever not found"},
		{"tls: {cert: a, key: b}\ngrants: [{users: [root], keys: ['*'], formats: ['*'], artifacts: ['*']}]\n", "servers is empty"},
		{strings.Replace(good, "https://signet:8443", "http://signet", 1), "not an https:// URL"},
		{strings.Replace(good, "https://signet:8443", "unix:/run/x.sock", 1), "not to another agent"},
		{strings.Replace(good, "{cert: h.pem, key: h-key.pem}", "{cert: h.pem}", 1), "tls.cert and tls.key go together"},
		{strings.Replace(good, "tls: {cert: h.pem, key: h-key.pem}\n", "", 1), "no credentials"},
		{good + "socket: {mode: '0999'}\n", `socket.mode "0999" is not octal`},
		{good + "socket: {mode: '1777'}\n", "is not octal permissions"},
		{strings.Replace(good, "users: [root]", "users: [no-such-user-sgt]", 1), `user "no-such-user-sgt"`},
		{strings.Replace(good, "users: [root]", "groups: [no-such-group-sgt]", 1), `group "no-such-group-sgt"`},
		{strings.Replace(good, "users: [root]", "users: []", 1), "names no users and no groups"},
		{strings.Replace(good, "formats: [raw]", "formats: []", 1), "keys, formats and artifacts are all required"},
		{strings.Replace(good, "artifacts: ['*']", "artifacts: ['[a-']", 1), `bad pattern "[a-"`},
		{strings.Replace(good, "grants:\n  - {users: [root], keys: [release], formats: [raw], artifacts: ['*']}\n", "", 1), "grants is empty"},
	} {
		if _, err := agent.ParseConfig([]byte(tt.yaml)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseConfig(%q) = %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

// trickle sends a sign request whose 100-byte body comes one byte every
// 200 ms, as the test process (root, granted), and reports how many body
// bytes it had sent when the agent answered, and the answer's status
// line ("" if none came before the whole body was sent).
func trickle(t *testing.T, socket string) (sent int, status string) {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/sign HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
	answered := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(conn).ReadString('\n')
		answered <- strings.TrimSpace(line)
	}()
	for sent < 100 {
		select {
		case status = <-answered:
			return sent, status
		case <-time.After(200 * time.Millisecond):
		}
		if _, err := conn.Write([]byte("{")); err != nil {
			break
		}
		sent++
	}
	select {
	case status = <-answered:
	case <-time.After(5 * time.Second):
	}
	return sent, status
}

// TestAgentSlowClient has one local user (root) trickle four request
// bodies at once into an agent with four slots, a per-user cap of one and
// a read timeout of 2 s: the extra requests are refused at once with 429,
// another user (alice) signs meanwhile, and the trickled request is cut
// by the read timeout long before its body ends.
func TestAgentSlowClient(t *testing.T) {
	w := newWorldWith(t, agent.Limits{MaxInflight: 4, MaxPerUser: 1, ReadTimeout: 2 * time.Second})
	type result struct {
		sent   int
		status string
	}
	results := make(chan result, 4)
	for range 4 {
		go func() { s, st := trickle(t, w.socket); results <- result{s, st} }()
	}
	time.Sleep(300 * time.Millisecond) // the trickles hold their slots
	if out, errOut, err := runAs(t, w.bin, w.socket, w.alice, nil, "app.tar.gz"); err != nil {
		t.Fatalf("alice while root trickles: %v\n%s%s", err, out, errOut)
	}
	refused, cut := 0, 0
	for range 4 {
		r := <-results
		switch {
		case strings.Contains(r.status, " 429 "):
			refused++
		case r.status != "" && r.sent < 100:
			cut++
		default:
			t.Errorf("a trickled request sent %d of 100 bytes and was answered %q", r.sent, r.status)
		}
	}
	if refused != 3 || cut != 1 {
		t.Errorf("%d trickles refused with 429 and %d cut by the read timeout; want 3 and 1", refused, cut)
	}
}
