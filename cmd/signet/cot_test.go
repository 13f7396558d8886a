package main

import (
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/signet-dev/signet/cot"
	"github.com/signet-dev/signet/cot/cottest"
	"github.com/signet-dev/signet/cot/jsone"
)

// graphs are the task graphs of running scripts, by $WORK.
var graphs sync.Map

// cotgraph [-style S] [-break WHAT] serves a generated task graph (see
// package cottest) as a Queue on loopback until the script ends. It sets
// QUEUE, an id variable per role (DECISION, DOCKER_IMAGE, BUILD_LINUX,
// BUILD_WINDOWS, SIGNING, BEETMOVER), writes trust.yaml, and writes each
// role's document, as its worker would sign it, to cot/ROLE.json.
// -break hash serves other bytes for the Windows build's target.zip.
func cmdCoTGraph(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("cotgraph", flag.ContinueOnError)
	style := fs.String("style", "", "")
	brk := fs.String("break", "", "")
	if neg || fs.Parse(args) != nil || fs.NArg() != 0 {
		ts.Fatalf("usage: cotgraph [-style S] [-break hash]")
	}
	g := cottest.New(cottest.Options{Style: *style})
	switch *brk {
	case "":
	case "hash":
		g.SetServed(g.ByRole["build-windows"].ID, "public/build/target.zip", &cottest.Served{Data: []byte("trojan\n")})
	default:
		ts.Fatalf("cotgraph: unknown -break %q", *brk)
	}
	srv := httptest.NewServer(g.Handler)
	ts.Defer(srv.Close)
	graphs.Store(ts.Getenv("WORK"), g)
	ts.Setenv("QUEUE", srv.URL)
	ts.Check(os.MkdirAll(ts.MkAbs("cot"), 0o755))
	for role, t := range g.ByRole {
		ts.Setenv(strings.ToUpper(strings.ReplaceAll(role, "-", "_")), t.ID)
		ts.Check(os.WriteFile(ts.MkAbs(filepath.Join("cot", role+".json")), g.ServedData(t.ID, "public/chain-of-trust.json"), 0o644))
	}
	ts.Check(os.WriteFile(ts.MkAbs("trust.yaml"), []byte(g.TrustYAML()), 0o644))
}

// cotuse ROLE DOC SIG PEM makes the graph serve DOC and SIG as ROLE's
// chain-of-trust document and signature, and adds the PEM public key to
// the keys trust.yaml trusts for ROLE's worker implementation.
func cmdCoTUse(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: cotuse ROLE DOC SIG PEM")
	}
	v, ok := graphs.Load(ts.Getenv("WORK"))
	if !ok {
		ts.Fatalf("cotuse: run cotgraph first")
	}
	g := v.(*cottest.Graph)
	t := g.ByRole[args[0]]
	if t == nil {
		ts.Fatalf("cotuse: no role %q", args[0])
	}
	doc, sig := ts.ReadFile(args[1]), ts.ReadFile(args[2])
	g.SetServed(t.ID, "public/chain-of-trust.json", &cottest.Served{Data: []byte(doc), Gzip: true})
	g.SetServed(t.ID, "public/chain-of-trust.json.sig", &cottest.Served{Data: []byte(sig)})
	pub, err := cot.ParsePublicKey(ts.ReadFile(args[3]))
	ts.Check(err)
	trust := ts.ReadFile("trust.yaml")
	line := "  " + t.Impl + ":\n"
	i := strings.Index(trust, line)
	if i < 0 {
		ts.Fatalf("cotuse: trust.yaml has no keys for %s", t.Impl)
	}
	i += len(line)
	trust = trust[:i] + "    - " + cottest.KeyBase64Public(pub) + "\n" + trust[i:]
	ts.Check(os.WriteFile(ts.MkAbs("trust.yaml"), []byte(trust), 0o644))
}

// TestCoTUsageExit checks that a task id or task type that cannot be valid
// is a mistake on the command line (exit 2, as docs/cot.md says), found
// before the trust file or the Queue is read, and that the task-id message
// states the slugid rule.
func TestCoTUsageExit(t *testing.T) {
	good := cottest.NewTaskID()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"short task id", []string{"--task-id", "abc"}, "9th character is one of Q-T"},
		{"task id with a slash", []string{"--task-id", "../../AAAAAAAAQAOAAAAAAA"}, "22 characters of URL-safe base64"},
		{"not a v4 slugid", []string{"--task-id", "AAAAAAAAAAAAAAAAAAAAAA"}, "last one of AQgw"},
		{"unknown task type", []string{"--task-id", good, "--task-type", "compile"}, "unknown task type \"compile\""},
	}
	for _, tc := range tests {
		for _, sub := range []string{"verify", "fetch"} {
			t.Run(sub+"/"+tc.name, func(t *testing.T) {
				var out, errb strings.Builder
				args := append([]string{"cot", sub, "--queue", "http://127.0.0.1:1", "--trust", "missing.yaml", "--dest", t.TempDir()}, tc.args...)
				if code := run(args, &out, &errb); code != 2 {
					t.Fatalf("exit %d, want 2; stderr:\n%s", code, errb.String())
				}
				if !strings.Contains(errb.String(), tc.want) {
					t.Errorf("stderr lacks %q:\n%s", tc.want, errb.String())
				}
			})
		}
	}
}

// TestCoTTrustFromVCS runs 'cot verify' with the trust file taken from
// version control at a pinned revision (an hg raw-file URL on loopback),
// one product of several selected by --product, and checks that the
// report names the URL, the revision and the product.
func TestCoTTrustFromVCS(t *testing.T) {
	g := cottest.New(cottest.Options{})
	queue := httptest.NewServer(g.Handler)
	defer queue.Close()
	rev := strings.Repeat("c0ffee12", 5)
	indent := func(y string) string {
		return "    " + strings.ReplaceAll(strings.TrimRight(y, "\n"), "\n", "\n    ") + "\n"
	}
	file := "products:\n  firefox:\n" + indent(g.TrustYAML()) + "  other:\n" + indent(g.TrustYAML())
	vcs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ci/config/raw-file/"+rev+"/cot-trust.yml" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(file))
	}))
	defer vcs.Close()
	url := vcs.URL + "/ci/config/raw-file/" + rev + "/cot-trust.yml"
	base := []string{"cot", "verify", "--task-id", g.ByRole["signing"].ID, "--queue", queue.URL, "--offline", t.TempDir(), "--trust", url}
	var out, errb strings.Builder
	if code := run(append(base, "--product", "firefox"), &out, &errb); code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, out.String(), errb.String())
	}
	if want := "trust: " + url + " at revision " + rev + " (product firefox)\n"; !strings.Contains(out.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, out.String())
	}
	out.Reset()
	errb.Reset()
	if code := run(base, &out, &errb); code != 2 || !strings.Contains(errb.String(), "name one with --product") {
		t.Errorf("no --product with two products: exit %d, stderr:\n%s", code, errb.String())
	}
}

// TestCoTRequireRebuild runs 'cot verify --require-rebuild --offline DIR'
// on a graph whose decision task was rendered from an hg project's
// .taskcluster.yml (cot/testdata/rebuild/hg-project.taskcluster.yml,
// written for the tests), with the template and pushlog
// in the offline directory: it verifies, the rebuild passes, and a scope
// added to the decision task fails it (exit 3) naming the JSON path. The
// agreement of Signet's json-e with the reference implementation is
// tested in package cot; this test is about the command.
func TestCoTRequireRebuild(t *testing.T) {
	const repo = "https://hg.mozilla.org/releases/mozilla-beta"
	g := cottest.New(cottest.Options{})
	g.UseRepository(repo)
	dec := g.ByRole["decision"]
	body, err := os.ReadFile(filepath.Join("..", "..", "cot", "testdata", "rebuild", "hg-project.taskcluster.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := jsone.DecodeYAML(body)
	if err != nil {
		t.Fatal(err)
	}
	created := "2025-03-01T12:00:00.000Z"
	out, err := jsone.Render(tmpl, map[string]any{
		"tasks_for":  "hg-push",
		"push":       map[string]any{"owner": "releaser@example.org", "comment": " ", "pushlog_id": "1234", "pushdate": 1740830400, "revision": cottest.Rev},
		"repository": map[string]any{"url": repo, "project": "mozilla-beta", "level": "3"},
		"now":        created,
		"ownTaskId":  dec.ID,
		"as_slugid":  jsone.Func(func(args ...any) (any, error) { return dec.ID, nil }),
	})
	if err != nil {
		t.Fatal(err)
	}
	def := out.(map[string]any)["tasks"].([]any)[0].(map[string]any)
	delete(def, "taskId")
	def["taskQueueId"], def["projectId"] = "hg-3/decision", "none"
	dec.Def = jsonNumbers(def).(map[string]any)
	g.Publish()
	queue := httptest.NewServer(g.Handler)
	defer queue.Close()

	dir := t.TempDir()
	offline := filepath.Join(dir, "vcs")
	for u, b := range map[string]string{
		repo + "/raw-file/" + cottest.Rev + "/.taskcluster.yml": string(body),
		repo + "/json-pushes?changeset=" + cottest.Rev + "&version=2&full=1": `{"pushes": {"1234": {"changesets": [{"desc": "Bug 1", "parents": ["` +
			strings.Repeat("f", 40) + `"]}], "date": 1740830400, "user": "releaser@example.org"}}}`,
	} {
		p, err := cot.OfflinePath(offline, u)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(b), 0o644)
	}
	y := g.TrustYAML()
	for _, r := range [][2]string{
		{"hosts: [hg.example.org]", "hosts: [hg.mozilla.org]"},
		{`'^(?P<path>/releases/product)(/|$)', '^(?P<path>/try)(/|$)'`, `'^(?P<path>/releases/mozilla-beta)(/|$)'`},
		{"release: [/releases/product]", "release: [/releases/mozilla-beta]"},
		{"source_env_prefix: PRODUCT", "source_env_prefix: GECKO"},
		{"decision_worker_pools: [test-3/decision]", "decision_worker_pools: [hg-3/decision]"},
	} {
		y = strings.Replace(y, r[0], r[1], 1)
	}
	trust := filepath.Join(dir, "trust.yaml")
	os.WriteFile(trust, []byte(y+"project_levels: {/releases/mozilla-beta: '3'}\n"), 0o644)
	args := []string{"cot", "verify", "--task-id", g.ByRole["signing"].ID, "--queue", queue.URL, "--trust", trust, "--offline", offline, "--require-rebuild"}

	var stdout, stderr strings.Builder
	if code := run(append(args, "--json"), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout.String(), stderr.String())
	}
	var res cot.Result
	if err := json.Unmarshal([]byte(stdout.String()), &res); err != nil {
		t.Fatal(err)
	}
	ok := false
	for _, l := range res.Links {
		for _, c := range l.Checks {
			ok = ok || l.TaskID == dec.ID && c.Name == "rebuild" && c.Status == cot.OK
		}
	}
	if !ok {
		t.Fatalf("no passed rebuild check on the decision task:\n%s", stdout.String())
	}

	dec.Def["scopes"] = append(dec.Def["scopes"].([]any), "secrets:get:project/releng/gecko/*")
	g.Publish()
	stdout.Reset()
	stderr.Reset()
	if code := run(args, &stdout, &stderr); code != 3 || !strings.Contains(stdout.String(), `✗ rebuild: the definition differs from `+repo+`/raw-file/`+cottest.Rev+`/.taskcluster.yml rendered for hg-push at scopes[3]: rebuilt (absent), runtime "secrets:get:project/releng/gecko/*"`) {
		t.Fatalf("tampered decision task: exit %d\n%s", code, stdout.String())
	}
}

// jsonNumbers turns json-e's float64 numbers into json.Number, as the
// Queue's JSON decodes.
func jsonNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = jsonNumbers(e)
		}
	case float64:
		return json.Number(strconv.FormatFloat(x, 'f', -1, 64))
	}
	return v
}
