package jsone

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/thirdparty"
)

// taskclusterFiles are the .taskcluster.yml templates rendered here: the
// two written for Signet's tests (in ../testdata/rebuild, shared with
// package cot's rebuild tests), and real files of public projects read
// from the third-party test-data directory (internal/thirdparty), whose
// tests skip, naming the file, when it is not there. testdata/README.md
// names the real files' sources.
var taskclusterFiles = []string{
	"../testdata/rebuild/github-project.taskcluster.yml",
	"../testdata/rebuild/hg-project.taskcluster.yml",
	thirdPartyTaskcluster + "taskgraph.taskcluster.yml",
	thirdPartyTaskcluster + "json-e.taskcluster.yml",
}

// thirdPartyTaskcluster marks a file of the third-party directory.
const thirdPartyTaskcluster = "thirdparty:taskcluster/"

// taskclusterKinds are the tasks_for values a file answers to (all of
// taskclusterContexts when absent).
var taskclusterKinds = map[string][]string{
	thirdPartyTaskcluster + "json-e.taskcluster.yml": {"github-push", "github-pull-request"},
	"../testdata/rebuild/hg-project.taskcluster.yml": {"hg-push", "hg-cron", "hg-action"},
}

// githubKinds are the contexts of a GitHub project's file.
var githubKinds = []string{"github-push", "github-pull-request", "github-release", "cron", "action"}

// taskclusterContexts are render contexts shaped as Taskcluster's GitHub
// service and Gecko's cron and action machinery make them.
func taskclusterContexts() map[string]map[string]any {
	hgRepo := map[string]any{"url": "https://hg.example.org/projects/alder", "project": "alder", "level": "3"}
	repo := map[string]any{
		"html_url": "https://github.com/taskcluster/taskgraph", "name": "taskgraph",
		"full_name": "taskcluster/taskgraph", "id": 1.0,
	}
	slugid := map[string]any{"$testFunction": "as_slugid"}
	contexts := map[string]map[string]any{
		"github-push": {
			"tasks_for": "github-push", "as_slugid": slugid,
			"event": map[string]any{
				"ref": "refs/heads/main", "before": "1111111111111111111111111111111111111111",
				"after": "2222222222222222222222222222222222222222", "base_ref": nil,
				"pusher": map[string]any{"email": "dev@example.org"}, "repository": repo,
			},
		},
		"github-pull-request": {
			"tasks_for": "github-pull-request", "as_slugid": slugid,
			"event": map[string]any{
				"action": "opened",
				"pull_request": map[string]any{
					"number": 42.0, "title": "Teach the parser a new trick", "user": map[string]any{"login": "contributor"},
					"base": map[string]any{"ref": "main", "sha": "3333333333333333333333333333333333333333", "repo": repo},
					"head": map[string]any{
						"ref": "feature", "sha": "4444444444444444444444444444444444444444",
						"repo": map[string]any{"html_url": "https://github.com/contributor/taskgraph", "name": "taskgraph", "id": 2.0},
					},
				},
				"repository": repo,
			},
		},
		"github-release": {
			"tasks_for": "github-release", "as_slugid": slugid,
			"event": map[string]any{
				"action": "published", "repository": repo,
				"release": map[string]any{"tag_name": "v1.2.3", "target_commitish": "main", "published_at": "2017-01-19T16:00:00Z"},
				"sender":  map[string]any{"login": "releaser"},
			},
		},
		"cron": {
			"tasks_for": "cron", "ownTaskId": "cronDecisionTaskId0000A",
			"repository": map[string]any{"url": "https://github.com/taskcluster/taskgraph", "project": "taskgraph", "level": "3"},
			"push":       map[string]any{"branch": "main", "revision": "5555555555555555555555555555555555555555", "owner": "cron@noreply.mozilla.org", "pushlog_id": "0", "pushdate": 0.0},
			"cron": map[string]any{
				"task_id": "cronTaskId000000000000A", "job_name": "nightly", "job_symbol": "N",
				"quoted_args": "--target-tasks-method nightly",
			},
		},
		"action": {
			"tasks_for": "action", "ownTaskId": "actionTaskId00000000000", "taskId": "targetTaskId00000000000",
			"clientId": "mozilla-auth0/ad|Mozilla-LDAP|dev", "input": map[string]any{"times": 2.0},
			"repository": map[string]any{"url": "https://github.com/taskcluster/taskgraph", "project": "taskgraph", "level": "3"},
			"push":       map[string]any{"branch": "main", "revision": "6666666666666666666666666666666666666666"},
			"action": map[string]any{
				"name": "retrigger", "title": "Retrigger", "description": "Create a clone of the task.",
				"taskGroupId": "targetTaskGroupId000000", "symbol": "rt", "cb_name": "retrigger_action",
				"action_perm": "generic", "repo_scope": "assume:repo:github.com/taskcluster/taskgraph:action:generic",
			},
		},
	}
	contexts["hg-push"] = map[string]any{
		"tasks_for": "hg-push", "as_slugid": slugid, "ownTaskId": "hgDecisionTaskId0000000", "repository": hgRepo,
		"push": map[string]any{"owner": "dev", "comment": "Bug 1 - a change r=reviewer", "pushlog_id": "4321", "pushdate": 1740830400.0,
			"revision": "7777777777777777777777777777777777777777"},
	}
	hgCron := map[string]any{"tasks_for": "cron", "as_slugid": slugid, "repository": hgRepo}
	for k, v := range contexts["cron"] {
		if k != "repository" {
			hgCron[k] = v
		}
	}
	contexts["hg-cron"] = hgCron
	hgAction := map[string]any{"repository": hgRepo, "parameters": map[string]any{"project": "alder", "level": "3"},
		"push": map[string]any{"owner": "dev@example.org", "pushlog_id": "4321", "revision": "7777777777777777777777777777777777777777"}}
	for k, v := range contexts["action"] {
		if k != "repository" && k != "push" {
			hgAction[k] = v
		}
	}
	hgAction["action"] = map[string]any{"name": "retrigger", "title": "Retrigger", "description": "Create a clone of the task.",
		"taskGroupId": "targetTaskGroupId000000", "symbol": "rt", "cb_name": "retrigger_action",
		"repo_scope": "assume:repo:hg.example.org/projects/alder:action:generic"}
	contexts["hg-action"] = hgAction
	for _, ctx := range contexts {
		// The reference's clock cannot be set; the context fixes now.
		ctx["now"] = "2017-01-19T16:27:20.974Z"
	}
	return contexts
}

// readTaskclusterFile reads one of taskclusterFiles.
func readTaskclusterFile(t testing.TB, path string) []byte {
	t.Helper()
	if rel, ok := strings.CutPrefix(path, "thirdparty:"); ok {
		return thirdparty.Read(t, rel)
	}
	data, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func loadTaskclusterFile(t testing.TB, path string) any {
	t.Helper()
	data := readTaskclusterFile(t, path)
	template, err := DecodeYAML(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return template
}

// TestTaskclusterFiles renders the .taskcluster.yml files of
// taskclusterFiles (Signet's own hg and GitHub templates, and real
// projects' when the third-party directory has them) for the contexts each
// answers to (push, pull request, release, cron, action), with this
// package and with the reference implementation, and demands identical,
// non-empty task definitions.
func TestTaskclusterFiles(t *testing.T) {
	pkg := installReference(t)
	contexts := taskclusterContexts()
	type run struct{ file, kind string }
	var runs []run
	var cases [][2]any
	for _, f := range taskclusterFiles {
		var template any
		// A subtest, so that a missing third-party file skips only itself.
		t.Run("load/"+f, func(t *testing.T) { template = loadTaskclusterFile(t, f) })
		if template == nil {
			continue
		}
		kinds, ok := taskclusterKinds[f]
		if !ok {
			kinds = githubKinds
		}
		for _, kind := range kinds {
			runs = append(runs, run{f, kind})
			cases = append(cases, [2]any{template, contexts[kind]})
		}
	}
	outcomes := runReference(t, pkg, cases)
	for i, r := range runs {
		t.Run(r.file+"/"+r.kind, func(t *testing.T) {
			got, err := RenderAt(cases[i][0], testFunctions(cases[i][1].(map[string]any)), specNow)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if diff := compareOutcome(outcomes[i], got, err); diff != "" {
				t.Fatal(diff)
			}
			tasks, _ := got.(map[string]any)["tasks"].([]any)
			if len(tasks) == 0 {
				t.Fatalf("rendered no tasks: %s", mustJSON(got))
			}
		})
	}
}

// decisionTask is the fields of a rendered decision task the
// chain-of-trust rebuild compares most visibly.
type decisionTask struct {
	TaskID, TaskGroupID, SchedulerID, ProvisionerID, Created, Deadline, Expires string
	Scopes, Routes                                                              []string
	Payload                                                                     struct {
		Env map[string]string
	}
}

// renderDecisionTask renders one of taskclusterFiles for a context of
// taskclusterContexts and returns its single task.
func renderDecisionTask(t *testing.T, path, kind string) decisionTask {
	t.Helper()
	template := loadTaskclusterFile(t, path)
	got, err := RenderAt(template, testFunctions(taskclusterContexts()[kind]), specNow)
	if err != nil {
		t.Fatal(err)
	}
	tasks := got.(map[string]any)["tasks"].([]any)
	if len(tasks) != 1 {
		t.Fatalf("got %d tasks, want 1", len(tasks))
	}
	var task decisionTask
	data, _ := json.Marshal(tasks[0])
	if err := json.Unmarshal(data, &task); err != nil {
		t.Fatal(err)
	}
	return task
}

// TestGitHubProjectDecisionTask checks, field by field, what a push to
// main makes of github-project.taskcluster.yml (written for these tests):
// the values the chain-of-trust rebuild compares. TestTaskclusterFiles
// checks the whole rendering against the reference implementation.
func TestGitHubProjectDecisionTask(t *testing.T) {
	task := renderDecisionTask(t, taskclusterFiles[0], "github-push")
	rev := "2222222222222222222222222222222222222222"
	checks := []struct{ name, got, want string }{
		{"taskId", task.TaskID, "slugid-decision_task"},
		{"taskGroupId", task.TaskGroupID, "slugid-decision_task"},
		{"schedulerId", task.SchedulerID, "gh-level-3"},
		{"provisionerId", task.ProvisionerID, "gh-3"},
		{"created", task.Created, "2017-01-19T16:27:20.974Z"},
		{"deadline", task.Deadline, "2017-01-20T16:27:20.974Z"},
		{"expires", task.Expires, "2018-01-19T16:27:20.974Z"},
		{"scope", task.Scopes[0], "assume:repo:github.com/taskcluster/taskgraph:branch:main"},
		{"PROJECTS", task.Payload.Env["PROJECTS"], `{"taskgraph":3}`},
		{"MOBILE_HEAD_REV", task.Payload.Env["MOBILE_HEAD_REV"], rev},
		{"MOBILE_HEAD_REF", task.Payload.Env["MOBILE_HEAD_REF"], "refs/heads/main"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	wantRoutes := []string{"checks", "index.gh.v2.taskgraph.main.latest.decision", "index.gh.v2.taskgraph.main.revision." + rev + ".decision"}
	if mustJSON(toAny(task.Routes)) != mustJSON(toAny(wantRoutes)) {
		t.Errorf("routes = %q, want %q", task.Routes, wantRoutes)
	}
}

// TestTaskgraphDecisionTask checks, field by field, what a push to main
// makes of taskgraph's real .taskcluster.yml (from the third-party
// test-data directory).
func TestTaskgraphDecisionTask(t *testing.T) {
	task := renderDecisionTask(t, thirdPartyTaskcluster+"taskgraph.taskcluster.yml", "github-push")
	checks := []struct{ name, got, want string }{
		{"taskId", task.TaskID, "slugid-decision_task"},
		{"taskGroupId", task.TaskGroupID, "slugid-decision_task"},
		{"schedulerId", task.SchedulerID, "taskgraph-level-3"},
		{"provisionerId", task.ProvisionerID, "taskgraph-3"},
		{"created", task.Created, "2017-01-19T16:27:20.974Z"},
		{"deadline", task.Deadline, "2017-01-20T16:27:20.974Z"},
		{"expires", task.Expires, "2018-01-19T16:27:21.974Z"},
		{"scope", task.Scopes[0], "assume:repo:github.com/taskcluster/taskgraph:branch:main"},
		{"REPOSITORIES", task.Payload.Env["REPOSITORIES"], `{"taskgraph":"Taskgraph"}`},
		{"TASKGRAPH_HEAD_REV", task.Payload.Env["TASKGRAPH_HEAD_REV"], "2222222222222222222222222222222222222222"},
		{"TASKGRAPH_BASE_REF", task.Payload.Env["TASKGRAPH_BASE_REF"], "refs/heads/main"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	wantRoutes := []string{
		"checks",
		"tc-treeherder.v2.taskgraph.2222222222222222222222222222222222222222",
		"index.taskgraph.v2.taskgraph.latest.taskgraph.decision",
		"index.taskgraph.v2.taskgraph.revision.2222222222222222222222222222222222222222.taskgraph.decision",
	}
	if mustJSON(toAny(task.Routes)) != mustJSON(toAny(wantRoutes)) {
		t.Errorf("routes = %q, want %q", task.Routes, wantRoutes)
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// benchFiles are the templates the benchmarks render for a GitHub push:
// github-project.taskcluster.yml (written for the tests) and taskgraph's
// real 334-line file when the third-party directory has it.
var benchFiles = map[string]string{
	"github-project": taskclusterFiles[0],
	"taskgraph":      thirdPartyTaskcluster + "taskgraph.taskcluster.yml",
}

// BenchmarkRenderTaskclusterYAML renders a .taskcluster.yml for a push;
// BenchmarkDecodeTaskclusterYAML, reading the same file, is the baseline
// the figure is stated against.
func BenchmarkRenderTaskclusterYAML(b *testing.B) {
	for _, name := range []string{"github-project", "taskgraph"} {
		b.Run(name, func(b *testing.B) {
			template := loadTaskclusterFile(b, benchFiles[name])
			ctx := testFunctions(taskclusterContexts()["github-push"])
			b.ReportAllocs()
			for b.Loop() {
				if _, err := RenderAt(template, ctx, specNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeTaskclusterYAML(b *testing.B) {
	for _, name := range []string{"github-project", "taskgraph"} {
		b.Run(name, func(b *testing.B) {
			data := readTaskclusterFile(b, benchFiles[name])
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeYAML(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
