package cot

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// ---- 5. Task types: decision and action tasks, docker-image, scriptworker ----

func (v *verifier) checkTaskTypes() {
	for _, l := range v.links {
		if l.Task == nil {
			continue
		}
		switch taskTypes[l.TaskType] {
		case classParent:
			v.checkParent(l)
		case classDockerImage:
			if !slices.Contains(v.t.DockerImageWorkerPools, l.WorkerPool) {
				v.fail(l, "worker pool", "%s is not a docker-image worker pool in the trust file", l.WorkerPool)
			}
		case classScript:
			if l.WorkerImpl != "" && l.WorkerImpl != "scriptworker" {
				v.fail(l, "worker implementation", "a %s task must run on scriptworker, not %s", l.TaskType, l.WorkerImpl)
			}
		}
	}
}

var ignoredGraphKeys = []string{"created", "deadline", "expires", "dependencies", "projectId", "schedulerId", "taskQueueId", "priority"}

func (v *verifier) checkParent(l *Link) {
	if !slices.Contains(v.t.DecisionWorkerPools, l.WorkerPool) {
		v.fail(l, "worker pool", "%s is not a decision worker pool in the trust file", l.WorkerPool)
	}
	if tf, ok := l.Task.TasksFor(); !ok {
		v.fail(l, "tasks_for", "extra.tasks_for is missing")
	} else if !slices.Contains(v.t.TasksFor, tf) {
		v.fail(l, "tasks_for", "extra.tasks_for %q is not one of %s", tf, strings.Join(v.t.TasksFor, ", "))
	}
	if !l.root || v.o.CheckTask {
		if l.graph == nil {
			if l.Doc != nil && l.OK() {
				v.fail(l, "task graph", "public/task-graph.json was not verified")
			}
		} else {
			n := 0
			for _, c := range v.links {
				if c.Task == nil || c == l || c.Task.ParentID() != l.TaskID || taskTypes[c.TaskType] == classParent {
					continue
				}
				n++
				raw, ok := l.graph[c.TaskID]
				if !ok {
					v.fail(c, "task graph", "not in the task graph of %s %s", l.Name, l.TaskID)
					continue
				}
				if diff := graphDiff(raw, c.Task); diff != "" {
					v.fail(c, "task graph", "differs from its definition in the task graph of %s %s: %s", l.Name, l.TaskID, diff)
				}
			}
			v.record(l, "task graph", OK, "%d tasks of the chain checked against %d in public/task-graph.json", n, len(l.graph))
		}
	}
}

// graphDiff compares a task's runtime definition with its task-graph entry
// as scriptworker does: every key of the graph definition but the ignored
// ones must be equal, artifact expiries aside; runtime dependencies must be
// in the graph or be the decision task.
func graphDiff(raw json.RawMessage, t *Task) string {
	var entry struct {
		Task map[string]any `json:"task"`
	}
	if err := decodeNumbers(raw, &entry); err != nil || entry.Task == nil {
		return "its task-graph entry has no task definition"
	}
	g := entry.Task
	var graphDeps []string
	if a, ok := g["dependencies"].([]any); ok {
		for _, d := range a {
			if s, ok := d.(string); ok {
				graphDeps = append(graphDeps, s)
			}
		}
	}
	var extra []string
	for _, d := range t.Dependencies {
		if !slices.Contains(graphDeps, d) && d != t.DecisionID() {
			extra = append(extra, d)
		}
	}
	if len(extra) > 0 {
		return "dependencies not in the graph: " + strings.Join(extra, ", ")
	}
	var diffs []string
	for _, k := range sortedKeys(g) {
		if slices.Contains(ignoredGraphKeys, k) {
			continue
		}
		gv, rv := g[k], t.Def[k]
		if k == "payload" {
			gv, rv = withoutArtifactExpiry(gv), withoutArtifactExpiry(rv)
		}
		if _, ok := t.Def[k]; !ok || !jsonEqual(gv, rv) {
			diffs = append(diffs, k)
		}
	}
	if len(diffs) > 0 {
		return strings.Join(diffs, ", ") + " changed"
	}
	return ""
}

// withoutArtifactExpiry copies a payload without the expires of its
// artifacts, which change between graph and runtime.
func withoutArtifactExpiry(p any) any {
	m, ok := p.(map[string]any)
	if !ok {
		return p
	}
	arts, ok := m["artifacts"]
	if !ok {
		return p
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	strip := func(a any) any {
		am, ok := a.(map[string]any)
		if !ok {
			return a
		}
		c := make(map[string]any, len(am))
		for k, v := range am {
			if k != "expires" {
				c[k] = v
			}
		}
		return c
	}
	switch a := arts.(type) {
	case map[string]any:
		c := make(map[string]any, len(a))
		for k, v := range a {
			c[k] = strip(v)
		}
		out["artifacts"] = c
	case []any:
		c := make([]any, len(a))
		for i, v := range a {
			c[i] = strip(v)
		}
		out["artifacts"] = c
	}
	return out
}

// ---- 6. Worker checks ----

func (v *verifier) checkWorkers() {
	restricted := v.hasRestrictedScopes()
	for _, l := range v.links {
		if l.Task == nil {
			continue
		}
		switch l.WorkerImpl {
		case "docker-worker":
			// scriptworker reads payload.features and payload.env without
			// a default: a docker-worker task lacking either is malformed.
			var missing []string
			for _, k := range []string{"features", "env"} {
				if _, ok := l.Task.Payload[k].(map[string]any); !ok {
					missing = append(missing, "payload."+k)
				}
			}
			if len(missing) > 0 {
				v.fail(l, "worker", "malformed docker-worker task: %s missing or not an object", strings.Join(missing, " and "))
			}
			if truthy(objAt(l.Task.Payload, "features")["interactive"]) {
				v.fail(l, "worker", "interactive: payload.features.interactive is set")
			}
			if truthy(objAt(l.Task.Payload, "env")["TASKCLUSTER_INTERACTIVE"]) {
				v.fail(l, "worker", "interactive: payload.env.TASKCLUSTER_INTERACTIVE is set")
			}
			v.checkDockerImage(l, restricted)
		case "generic-worker":
			if truthy(l.Task.Payload["rdpInfo"]) {
				v.fail(l, "worker", "interactive: payload.rdpInfo is set")
			}
			for _, s := range l.Task.Scopes {
				if strings.HasPrefix(s, "generic-worker:allow-rdp:") {
					v.fail(l, "worker", "interactive: scope %s", s)
				}
			}
		}
	}
}

func (v *verifier) checkDockerImage(l *Link, restricted bool) {
	prebuiltOK := slices.Contains(v.t.PrebuiltDockerImageTaskTypes, "any") || slices.Contains(v.t.PrebuiltDockerImageTaskTypes, l.TaskType)
	img, isMap := l.Task.Payload["image"].(map[string]any)
	if !isMap {
		if !prebuiltOK {
			v.fail(l, "docker image", "a %s task may not use a prebuilt docker image", l.TaskType)
		}
		return
	}
	switch typ, _ := img["type"].(string); typ {
	case "task-image":
		if l.root && l.Doc == nil {
			return // the task under test has no signed document yet
		}
		id, _ := img["taskId"].(string)
		inputs, _ := l.Task.Inputs()
		if inputs["docker-image"] != id {
			v.fail(l, "docker image", "payload.image.taskId %s is not extra.chainOfTrust.inputs.docker-image %s", id, inputs["docker-image"])
			return
		}
		if l.Doc == nil {
			return // its signature already failed
		}
		path, _ := img["path"].(string)
		hashStr, _ := l.Doc.Environment["imageArtifactHash"].(string)
		alg, sum, ok := strings.Cut(hashStr, ":")
		if !ok {
			v.fail(l, "docker image", "the signed environment has no imageArtifactHash of the form alg:hex")
			return
		}
		di := v.byID[id]
		if di == nil || di.Doc == nil {
			v.fail(l, "docker image", "docker-image task %s did not verify", id)
			return
		}
		up, ok := di.Doc.Artifacts[path][alg]
		switch {
		case !ok:
			v.fail(l, "docker image", "%s %s is not in the signed artifacts of docker-image task %s", alg, path, id)
		case up != strings.ToLower(sum):
			v.fail(l, "docker image", "image %s %s differs from %s signed by docker-image task %s", alg, sum, up, id)
		default:
			v.record(l, "docker image", OK, "%s from docker-image task %s, %s %s", path, id, alg, up)
		}
	case "indexed-image":
		if restricted {
			v.fail(l, "docker image", "indexed images are not allowed in a chain with restricted scopes")
		}
		if !prebuiltOK {
			v.fail(l, "docker image", "a %s task may not use an indexed docker image", l.TaskType)
		}
	default:
		v.fail(l, "docker image", "unknown docker image type %.40q", typ)
	}
}

func objAt(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}

// truthy is Python's truth for JSON values, which is what scriptworker
// tests.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, _ := new(big.Rat).SetString(string(x))
		return f == nil || f.Sign() != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// ---- 7. Back to the tree ----

func (v *verifier) hasRestrictedScopes() bool {
	if v.root.Task == nil {
		return false
	}
	for _, s := range v.root.Task.Scopes {
		if len(v.t.restrictedLevels(s)) > 0 {
			return true
		}
	}
	return false
}

func (v *verifier) traceToTree(ctx context.Context) error {
	prefix := v.t.SourceEnvPrefix
	for _, l := range v.links {
		if l.Task == nil {
			continue
		}
		source := l.Task.Source()
		if source == "" {
			v.fail(l, "tree", "metadata.source is missing")
			continue
		}
		if repo := strings.TrimRight(l.Task.Env(prefix+"_HEAD_REPOSITORY"), "/"); repo != "" && !repoMatchesURL(repo, source) {
			v.fail(l, "tree", "%s_HEAD_REPOSITORY %s does not match metadata.source %s", prefix, repo, source)
			continue
		}
		l.Repository = v.t.repositoryPath(source)
		if l.Repository == "" {
			v.fail(l, "tree", "metadata.source %s is not in a trusted repository", source)
		}
	}
	root := v.root
	if root.Task == nil {
		return nil
	}
	restricted := false
	for _, s := range root.Task.Scopes {
		for _, level := range v.t.restrictedLevels(s) {
			restricted = true
			if root.Repository == "" || !slices.Contains(v.t.RestrictedTrees[level], root.Repository) {
				v.fail(root, "restricted scopes", "scope %s needs a %s tree; repository %q is not one", s, level, root.Repository)
			}
		}
	}
	for _, l := range v.links {
		if l.Task == nil || l == root {
			continue
		}
		if l.Task.DecisionID() == root.Task.DecisionID() && l.Repository != root.Repository {
			v.fail(l, "tree", "repository %q differs from %q of the task under test, which has the same decision task", l.Repository, root.Repository)
		}
	}
	if restricted {
		for _, l := range v.links {
			if l.Task == nil {
				continue
			}
			why, err := v.tryOrPullRequest(ctx, l.Task)
			if err != nil {
				return err
			}
			if why != "" {
				v.fail(root, "restricted scopes", "the chain has restricted scopes and %s %s is a try or pull-request task: %s", l.Name, l.TaskID, why)
			}
		}
	}
	for _, l := range v.links {
		if l.Task != nil && l.Repository != "" && !slices.ContainsFunc(l.Checks, func(c Check) bool { return c.Name == "tree" }) {
			v.record(l, "tree", OK, "%s", l.Repository)
		}
	}
	return nil
}

// repoMatchesURL reports whether url is inside repository repo: same host,
// and repo's path a prefix of url's, segment by segment.
func repoMatchesURL(repo, raw string) bool {
	repo = strings.Replace(repo, "git@github.com:", "ssh://github.com/", 1)
	repo = strings.TrimSuffix(repo, ".git")
	r, err1 := url.Parse(repo)
	u, err2 := url.Parse(raw)
	if err1 != nil || err2 != nil || r.Hostname() != u.Hostname() {
		return false
	}
	rp, up := strings.Split(r.Path, "/"), strings.Split(u.Path, "/")
	return len(up) >= len(rp) && slices.Equal(up[:len(rp)], rp)
}

// ---- JSON comparison ----

// jsonEqual compares decoded JSON values; numbers compare by value.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !jsonEqual(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		rx, ok1 := new(big.Rat).SetString(string(x))
		ry, ok2 := new(big.Rat).SetString(string(y))
		return ok1 && ok2 && rx.Cmp(ry) == 0
	case string, bool, nil:
		return a == b
	}
	return false
}

func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	return dec.Decode(v)
}

// ---- Task definitions, fetched ahead of need ----

// taskFetcher fetches task definitions at most n at a time, each once,
// so that building the chain can ask for a task's dependencies all at once
// and then walk them in order.
type taskFetcher struct {
	q     *Queue
	limit int64
	sem   chan struct{}
	mu    sync.Mutex
	m     map[string]*taskFuture
}

type taskFuture struct {
	done chan struct{}
	t    *Task
	err  error
}

func newTaskFetcher(q *Queue, limit int64, n int) *taskFetcher {
	return &taskFetcher{q: q, limit: limit, sem: make(chan struct{}, n), m: map[string]*taskFuture{}}
}

func (f *taskFetcher) prefetch(ctx context.Context, id string) *taskFuture {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fu, ok := f.m[id]; ok {
		return fu
	}
	fu := &taskFuture{done: make(chan struct{})}
	f.m[id] = fu
	go func() {
		defer close(fu.done)
		select {
		case f.sem <- struct{}{}:
		case <-ctx.Done():
			fu.err = ctx.Err()
			return
		}
		defer func() { <-f.sem }()
		fu.t, fu.err = f.q.Task(ctx, id, f.limit)
	}()
	return fu
}

func (f *taskFetcher) get(ctx context.Context, id string) (*Task, error) {
	fu := f.prefetch(ctx, id)
	select {
	case <-fu.done:
		return fu.t, fu.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// String renders a check for logs.
func (c Check) String() string {
	return fmt.Sprintf("%s: %s: %s", c.Name, c.Status, c.Detail)
}
