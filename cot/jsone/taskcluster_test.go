package jsone

import (
	"encoding/json"
	"os"
	"testing"
)

// The .taskcluster.yml fixtures are real files of public Taskcluster
// projects; testdata/README.md names their sources.
var taskclusterFiles = []string{"testdata/taskgraph.taskcluster.yml", "testdata/json-e.taskcluster.yml"}

// taskclusterContexts are render contexts shaped as Taskcluster's GitHub
// service and Gecko's cron and action machinery make them.
func taskclusterContexts() map[string]map[string]any {
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
					"number": 42.0, "user": map[string]any{"login": "contributor"},
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
				"release": map[string]any{"tag_name": "v1.2.3", "target_commitish": "main"},
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
				"action_perm": "generic",
			},
		},
	}
	for _, ctx := range contexts {
		// The reference's clock cannot be set; the context fixes now.
		ctx["now"] = "2017-01-19T16:27:20.974Z"
	}
	return contexts
}

func loadTaskclusterFile(t testing.TB, path string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	template, err := DecodeYAML(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return template
}

// TestTaskclusterFiles renders real .taskcluster.yml files for a push, a
// pull request, a release, a cron run and an action, with this package and
// with the reference implementation, and demands identical task
// definitions.
func TestTaskclusterFiles(t *testing.T) {
	pkg := installReference(t)
	contexts := taskclusterContexts()
	type run struct{ file, kind string }
	var runs []run
	var cases [][2]any
	for _, f := range taskclusterFiles {
		template := loadTaskclusterFile(t, f)
		for kind, ctx := range contexts {
			if f == "testdata/json-e.taskcluster.yml" && kind != "github-push" && kind != "github-pull-request" {
				continue // json-e's file answers to GitHub events only
			}
			runs = append(runs, run{f, kind})
			cases = append(cases, [2]any{template, ctx})
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

// TestTaskgraphDecisionTask checks, field by field, what a push to main
// makes of taskgraph's .taskcluster.yml: the values the chain-of-trust
// rebuild compares.
func TestTaskgraphDecisionTask(t *testing.T) {
	template := loadTaskclusterFile(t, "testdata/taskgraph.taskcluster.yml")
	got, err := RenderAt(template, testFunctions(taskclusterContexts()["github-push"]), specNow)
	if err != nil {
		t.Fatal(err)
	}
	tasks := got.(map[string]any)["tasks"].([]any)
	if len(tasks) != 1 {
		t.Fatalf("got %d tasks, want 1", len(tasks))
	}
	var task struct {
		TaskID, TaskGroupID, SchedulerID, ProvisionerID, Created, Deadline, Expires string
		Scopes, Routes                                                              []string
		Payload                                                                     struct {
			Env map[string]string
		}
	}
	data, _ := json.Marshal(tasks[0])
	if err := json.Unmarshal(data, &task); err != nil {
		t.Fatal(err)
	}
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

// BenchmarkRenderTaskclusterYAML renders taskgraph's 334-line
// .taskcluster.yml for a push; BenchmarkDecodeTaskclusterYAML, reading the
// same file, is the baseline the figure is stated against.
func BenchmarkRenderTaskclusterYAML(b *testing.B) {
	template := loadTaskclusterFile(b, "testdata/taskgraph.taskcluster.yml")
	ctx := testFunctions(taskclusterContexts()["github-push"])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RenderAt(template, ctx, specNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTaskclusterYAML(b *testing.B) {
	data, err := os.ReadFile("testdata/taskgraph.taskcluster.yml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeYAML(data); err != nil {
			b.Fatal(err)
		}
	}
}
