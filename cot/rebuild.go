package cot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/signet-dev/signet/cot/jsone"
)

// ---- 8. The json-e rebuild ----
//
// A decision, cron or action task is trusted because the repository's
// .taskcluster.yml, rendered with json-e in the context Taskcluster gave
// it, produces exactly its definition. scriptworker's
// verify_parent_task_definition, step by step:
//
//  1. the context: now (the task's created), as_slugid, tasks_for,
//     ownTaskId, and per VCS and tasks_for the push (hg pushlog), cron job
//     (extra.cron), GitHub event (GitHub API) or action (extra.action.context,
//     the decision task's parameters.yml);
//  2. the template: .taskcluster.yml of the decision task's repository at
//     its revision; for an action, wrapped as the action's hook wraps it,
//     and rendered against the hook payload of the decision task's
//     actions.json;
//  3. the comparison: each rendered task (taskId dropped, empty values
//     dropped, projectId and taskQueueId filled in) against the runtime
//     definition; one equal task passes.

// MaxTemplateBytes bounds a .taskcluster.yml and every other input of the
// rebuild fetched from version control or GitHub.
const MaxTemplateBytes = 4 << 20

// unavailableError is a rebuild input that could not be fetched: the
// rebuild is then skipped, or failed with RequireRebuild.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

func unavailable(format string, args ...any) error {
	return &unavailableError{fmt.Errorf(format, args...)}
}

// vcsGetter fetches rebuild inputs by URL.
type vcsGetter interface {
	get(ctx context.Context, u string) ([]byte, error)
}

type webGetter struct{ q *Queue }

func (w webGetter) get(ctx context.Context, u string) ([]byte, error) {
	b, err := w.q.getBytes(ctx, u, MaxTemplateBytes)
	if err != nil && (NotFound(err) || !Transient(err)) {
		return nil, &unavailableError{err}
	}
	return b, err
}

// offlineGetter reads what would be fetched from a directory, for
// air-gapped verification: the body of https://HOST/PATH?QUERY is the file
// DIR/HOST/PATH?QUERY (the query, if any, kept as it is written).
type offlineGetter struct{ dir string }

// OfflinePath returns where, under dir, the offline mode reads the body of
// URL u.
func OfflinePath(dir, u string) (string, error) {
	p, err := url.Parse(u)
	if err != nil || !offlineHost.MatchString(p.Host) || strings.Trim(p.Host, ".") == "" {
		return "", fmt.Errorf("%.200q is not a URL with a host name", u)
	}
	rel := p.Host + "/" + strings.TrimPrefix(p.EscapedPath(), "/")
	if p.RawQuery != "" {
		rel += "?" + p.RawQuery
	}
	rel = filepath.FromSlash(rel)
	if !filepath.IsLocal(rel) || strings.Contains(p.EscapedPath(), "..") {
		return "", fmt.Errorf("URL %.200q cannot be a file under the offline directory", u)
	}
	return filepath.Join(dir, rel), nil
}

var offlineHost = regexp.MustCompile(`^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$`)

func (o offlineGetter) get(ctx context.Context, u string) ([]byte, error) {
	p, err := OfflinePath(o.dir, u)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, unavailable("offline copy of %s: %w", u, err)
	}
	defer f.Close()
	var buf Buffer
	if _, err := copyLimited(&buf, f, MaxTemplateBytes); err != nil {
		return nil, fmt.Errorf("offline copy of %s: %w", u, err)
	}
	return buf.Bytes(), nil
}

func copyLimited(dst *Buffer, f *os.File, limit int64) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if st.Size() > limit {
		return 0, &LimitError{limit}
	}
	b := make([]byte, st.Size())
	n, err := f.ReadAt(b, 0)
	if err != nil && n != len(b) {
		return 0, err
	}
	dst.Write(b[:n])
	return int64(n), nil
}

// cachedGetter fetches each URL once per verification: a decision task
// and its actions share a template, its tasks a pushlog.
type cachedGetter struct {
	next vcsGetter
	m    map[string][]byte
}

func (c *cachedGetter) get(ctx context.Context, u string) ([]byte, error) {
	if b, ok := c.m[u]; ok {
		return b, nil
	}
	b, err := c.next.get(ctx, u)
	if err == nil {
		c.m[u] = b
	}
	return b, err
}

// rebuildAll rebuilds every decision and action link of the chain.
func (v *verifier) rebuildAll(ctx context.Context) error {
	var getter vcsGetter = webGetter{v.o.Queue.web(v.o.HTTPClient, nil)}
	if v.o.Offline != "" {
		getter = offlineGetter{v.o.Offline}
	}
	v.vcs = &cachedGetter{next: getter, m: map[string][]byte{}}
	for _, l := range v.links {
		if l.Task == nil || taskTypes[l.TaskType] != classParent {
			continue
		}
		err := v.rebuild(ctx, l)
		var fe *rebuildFailure
		switch {
		case err == nil:
		case errors.As(err, &fe):
			v.fail(l, "rebuild", "%s", fe.msg)
		case errors.As(err, new(*unavailableError)):
			if v.o.RequireRebuild {
				v.fail(l, "rebuild", "an input of the json-e rebuild is unavailable, and --require-rebuild was given: %v", err)
			} else {
				v.record(l, "rebuild", Skipped, "an input of the json-e rebuild is unavailable: %v", err)
			}
		case Transient(err):
			return err
		default:
			v.fail(l, "rebuild", "%v", err)
		}
	}
	return nil
}

// rebuildFailure is a rebuild that ran and did not reproduce the task.
type rebuildFailure struct{ msg string }

func (e *rebuildFailure) Error() string { return e.msg }

func failuref(format string, args ...any) error {
	return &rebuildFailure{fmt.Sprintf(format, args...)}
}

func (v *verifier) rebuild(ctx context.Context, l *Link) error {
	tasksFor, _ := l.Task.TasksFor()
	if !slices.Contains(v.t.TasksFor, tasksFor) {
		return failuref("extra.tasks_for %q is not valid", tasksFor)
	}
	d := v.byID[l.Task.DecisionID()]
	if d == nil || d.Task == nil {
		return failuref("its decision task %s is not in the chain", l.Task.DecisionID())
	}
	rb := &rebuilder{v: v, l: l, d: d, tasksFor: tasksFor, get: v.vcs, prefix: v.t.SourceEnvPrefix}
	tmplURL, err := rb.templateURL()
	if err != nil {
		return err
	}
	raw, err := rb.get.get(ctx, tmplURL)
	if err != nil {
		return err
	}
	tmpl, err := parseYAMLValue(raw)
	if err != nil {
		return failuref("%s: %v", tmplURL, err)
	}
	var jctx map[string]any
	if tasksFor == "action" || tasksFor == "pr-action" {
		jctx, tmpl, err = rb.actionContext(ctx, tmpl)
	} else {
		jctx, err = rb.context(ctx)
	}
	if err != nil {
		return err
	}
	out, err := jsone.Render(tmpl, jctx)
	if err != nil {
		return failuref("json-e error rendering %s: %v", tmplURL, err)
	}
	rendered, _ := toJSONNumbers(out).(map[string]any)
	tasks, _ := rendered["tasks"].([]any)
	if len(tasks) == 0 {
		return failuref("%s rendered no tasks for tasks_for %s", tmplURL, tasksFor)
	}
	if tasksFor == "action" || tasksFor == "pr-action" {
		if err := rb.fixActionGroupID(tasks); err != nil {
			return err
		}
	}
	runtime := normalizeForRebuild(l.Task.Def)
	var diffs []string
	for i, t := range tasks {
		def, ok := t.(map[string]any)
		if !ok {
			diffs = append(diffs, fmt.Sprintf("task %d rendered is not an object", i))
			continue
		}
		def = copyMap(def)
		delete(def, "taskId")
		path, a, b, differ := firstDiff(normalizeForRebuild(def), runtime, "")
		if !differ {
			v.record(l, "rebuild", OK, "%s task %d of %d rendered from %s for %s equals its definition", l.TaskType, i+1, len(tasks), tmplURL, tasksFor)
			return nil
		}
		diffs = append(diffs, fmt.Sprintf("%s: rebuilt %s, runtime %s", path, short(a), short(b)))
	}
	return failuref("the definition differs from %s rendered for %s at %s", tmplURL, tasksFor, strings.Join(diffs, "; "))
}

type rebuilder struct {
	v        *verifier
	l, d     *Link
	tasksFor string
	get      vcsGetter
	prefix   string
}

func (rb *rebuilder) repo() string {
	return strings.TrimRight(rb.d.Task.Env(rb.prefix+"_HEAD_REPOSITORY"), "/")
}

func (rb *rebuilder) rev() string { return rb.d.Task.Env(rb.prefix + "_HEAD_REV") }

// templateURL is where the decision task's .taskcluster.yml is: hg
// raw-file at its revision, or GitHub raw at its commit.
func (rb *rebuilder) templateURL() (string, error) {
	repo, rev := rb.repo(), rb.rev()
	if repo == "" || rev == "" {
		return "", failuref("decision task %s names no %s_HEAD_REPOSITORY and %s_HEAD_REV to fetch .taskcluster.yml from", rb.d.TaskID, rb.prefix, rb.prefix)
	}
	if strings.ContainsAny(rev, "/?#%") || strings.Contains(rev, "..") {
		return "", failuref("%s_HEAD_REV %.80q is not a revision", rb.prefix, rev)
	}
	if rb.v.t.VCS == "github" {
		owner, name, _, ok := githubRepo(repo, false)
		if !ok {
			return "", failuref("%s_HEAD_REPOSITORY %s is not a GitHub repository", rb.prefix, repo)
		}
		base := rb.v.o.GitHubRaw
		if base == "" {
			base = DefaultGitHubRaw
		}
		return strings.TrimRight(base, "/") + "/" + owner + "/" + name + "/" + rev + "/.taskcluster.yml", nil
	}
	u, err := url.Parse(repo)
	if err != nil || u.Host == "" {
		return "", failuref("%s_HEAD_REPOSITORY %.200q is not a URL", rb.prefix, repo)
	}
	u.Scheme = "https"
	return u.String() + "/raw-file/" + rev + "/.taskcluster.yml", nil
}

// context is scriptworker's populate_jsone_context.
func (rb *rebuilder) context(ctx context.Context) (map[string]any, error) {
	l, d := rb.l, rb.d
	created, _ := l.Task.Def["created"].(string)
	ids := map[string]string{"default": l.TaskID, "decision": d.TaskID}
	c := map[string]any{
		"now": created,
		"as_slugid": jsone.Func(func(args ...any) (any, error) {
			if len(args) != 1 {
				return nil, errors.New("as_slugid takes one argument")
			}
			s, _ := args[0].(string)
			if id, ok := ids[s]; ok {
				return id, nil
			}
			return ids["default"], nil
		}),
		"tasks_for": rb.tasksFor,
		"ownTaskId": l.TaskID,
		"taskId":    nil,
	}
	var extra map[string]any
	var err error
	if rb.v.t.VCS == "github" {
		extra, err = rb.githubContext(ctx)
	} else {
		extra, err = rb.hgContext(ctx)
	}
	if err != nil {
		return nil, err
	}
	for k, v := range extra {
		c[k] = v
	}
	return c, nil
}

// project is the trusted repository of the decision task and its SCM
// level, from the trust file's project_levels.
func (rb *rebuilder) project() (name, path, level string, err error) {
	path = rb.v.t.repositoryPath(rb.d.Task.Source())
	if path == "" {
		return "", "", "", failuref("decision task %s is not from a trusted repository", rb.d.TaskID)
	}
	level, ok := rb.v.t.ProjectLevels[path]
	if !ok {
		return "", "", "", failuref("the trust file's project_levels has no level for %s, the repository.level of the json-e context", path)
	}
	return path[strings.LastIndexByte(path, '/')+1:], path, level, nil
}

func (rb *rebuilder) actionContextFromTask() (map[string]any, error) {
	a, _ := rb.l.Task.Extra["action"].(map[string]any)
	c, ok := a["context"].(map[string]any)
	if !ok {
		return nil, failuref("action task has no extra.action.context")
	}
	return deepCopyJSON(c).(map[string]any), nil
}

func (rb *rebuilder) hgContext(ctx context.Context) (map[string]any, error) {
	project, _, level, err := rb.project()
	if err != nil {
		return nil, err
	}
	c := map[string]any{"repository": map[string]any{"url": rb.repo(), "level": level, "project": project}}
	switch rb.tasksFor {
	case "action":
		ac, err := rb.actionContextFromTask()
		if err != nil {
			return nil, err
		}
		for k, v := range ac {
			c[k] = v
		}
		if rb.d.parameters == nil {
			return nil, failuref("decision task %s has no verified public/parameters.yml", rb.d.TaskID)
		}
		c["parameters"] = rb.d.parameters
		c["task"] = nil
	case "hg-push", "cron":
		push, err := rb.pushlog(ctx)
		if err != nil {
			return nil, err
		}
		c["repository"].(map[string]any)["type"] = "hg"
		if rb.tasksFor == "cron" {
			cron, err := rb.cron()
			if err != nil {
				return nil, err
			}
			c["cron"] = cron
			push["comment"], push["owner"] = "", "cron"
		} else {
			comment := " "
			if s, ok := rb.d.Task.Env(rb.prefix+"_COMMIT_MSG"), envHas(rb.d.Task, rb.prefix+"_COMMIT_MSG"); ok {
				comment = s
			}
			allowed := []string{" "}
			if pc, _ := push["comment"].(string); strings.Contains(pc, "try:") {
				line, _, _ := strings.Cut(pc[strings.Index(pc, "try:"):], "\n")
				allowed = append(allowed, line)
			}
			if !slices.Contains(allowed, comment) {
				return nil, failuref("decision task %s's commit message %q does not match the push's comment %q", rb.d.TaskID, comment, push["comment"])
			}
			push["comment"] = comment
		}
		c["push"] = push
	default:
		return nil, failuref("tasks_for %q cannot be rebuilt for an hg product", rb.tasksFor)
	}
	return c, nil
}

func envHas(t *Task, key string) bool {
	env, _ := t.Payload["env"].(map[string]any)
	_, ok := env[key]
	return ok
}

// pushlog reads the decision revision's push from the hg pushlog
// (json-pushes version 2): exactly one push, whose id, date, user, first
// changeset's parent and tip's description make the push context.
func (rb *rebuilder) pushlog(ctx context.Context) (map[string]any, error) {
	u := strings.NewReplacer("{repo}", rb.repo(), "{revision}", url.QueryEscape(rb.rev())).Replace(rb.v.t.PushlogURL)
	b, err := rb.get.get(ctx, u)
	if err != nil {
		return nil, err
	}
	m, err := decodeObject(b, "pushlog "+u)
	if err != nil {
		return nil, failuref("%v", err)
	}
	pushes, _ := m["pushes"].(map[string]any)
	if len(pushes) != 1 {
		return nil, failuref("pushlog %s lists %d pushes for revision %s; want exactly one", u, len(pushes), rb.rev())
	}
	var id string
	for k := range pushes {
		id = k
	}
	push, _ := pushes[id].(map[string]any)
	css, _ := push["changesets"].([]any)
	if len(css) == 0 {
		return nil, failuref("pushlog %s: push %s has no changesets (ask for full=1)", u, id)
	}
	first, _ := css[0].(map[string]any)
	tip, _ := css[len(css)-1].(map[string]any)
	parents, _ := first["parents"].([]any)
	if len(parents) == 0 {
		return nil, failuref("pushlog %s: the first changeset of push %s has no parents", u, id)
	}
	return map[string]any{
		"base_revision": parents[0],
		"revision":      rb.rev(),
		"comment":       tip["desc"],
		"owner":         push["user"],
		"pushlog_id":    id,
		"pushdate":      push["date"],
	}, nil
}

// cron parses extra.cron, the JSON (or YAML) text the cron task passed.
func (rb *rebuilder) cron() (any, error) {
	s, ok := rb.l.Task.Extra["cron"].(string)
	if !ok {
		return nil, failuref("cron task has no extra.cron string")
	}
	v, err := parseYAMLValue([]byte(s)) // JSON is YAML
	if err != nil {
		return nil, failuref("extra.cron: %v", err)
	}
	return v, nil
}

func (rb *rebuilder) githubContext(ctx context.Context) (map[string]any, error) {
	t := rb.d.Task
	repo := strings.Replace(rb.repo(), "git@github.com:", "ssh://github.com/", 1)
	owner, name, _, ok := githubRepo(repo, false)
	if !ok {
		return nil, failuref("%s_HEAD_REPOSITORY %s is not a GitHub repository", rb.prefix, repo)
	}
	env := func(k string) any {
		if envHas(t, rb.prefix+"_"+k) {
			return t.Env(rb.prefix + "_" + k)
		}
		return nil
	}
	branch := env("HEAD_BRANCH")
	if branch == nil {
		branch = env("HEAD_REF")
	}
	baseBranch := env("BASE_BRANCH")
	if baseBranch == nil {
		baseBranch = env("BASE_REF")
	}
	full := owner + "/" + name
	api := strings.TrimRight(rb.v.githubAPIBase(), "/") + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name)
	switch rb.tasksFor {
	case "action", "pr-action":
		return rb.actionContextFromTask()
	case "cron":
		cron, err := rb.cron()
		if err != nil {
			return nil, err
		}
		_, _, level, err := rb.project()
		if err != nil {
			return nil, err
		}
		user := env("TRIGGERED_BY")
		if user == nil {
			user = "TaskclusterHook"
		}
		return map[string]any{
			"cron": cron,
			"event": map[string]any{
				"repository": map[string]any{"clone_url": repo, "full_name": full, "html_url": repo, "name": name},
				"release":    map[string]any{"tag_name": rb.rev(), "target_commitish": branch, "published_at": env("PUSH_DATE_TIME")},
				"sender":     map[string]any{"login": user},
			},
			"repository": map[string]any{"url": repo, "project": name, "level": level, "type": "git"},
			"push":       map[string]any{"revision": rb.rev(), "branch": branch},
		}, nil
	case "github-push":
		commit, err := rb.githubJSON(ctx, api+"/commits/"+url.PathEscape(rb.rev()))
		if err != nil {
			return nil, err
		}
		login := lookupString(commit, "committer", "login")
		if login == "" || login == "web-flow" {
			login = lookupString(commit, "author", "login")
			if login == "" {
				login = lookupString(commit, "commit", "author", "login")
			}
			if login == "" {
				login = "@@@unknown@@@"
			}
		}
		owner, _ := t.Metadata["owner"].(string)
		return map[string]any{"event": map[string]any{
			"before":   env("BASE_REV"),
			"after":    rb.rev(),
			"pusher":   map[string]any{"email": owner},
			"base_ref": baseBranch,
			"ref":      branch,
			"repository": map[string]any{
				"full_name": full, "ssh_url": "git@github.com:" + full + ".git", "html_url": repo, "name": name,
				"pushed_at": env("PUSH_DATE_TIME"),
			},
			"sender": map[string]any{"login": login},
		}}, nil
	case "github-release":
		rel, err := rb.githubJSON(ctx, api+"/releases/tags/"+url.PathEscape(rb.rev()))
		if err != nil {
			return nil, err
		}
		return map[string]any{"event": map[string]any{
			"action":     "published",
			"repository": map[string]any{"clone_url": repo + ".git", "full_name": full, "html_url": repo, "name": name},
			"release":    map[string]any{"tag_name": rb.rev(), "target_commitish": rel["target_commitish"], "published_at": rel["published_at"]},
			"sender":     map[string]any{"login": lookupString(rel, "author", "login")},
		}}, nil
	case "github-pull-request", "github-pull-request-untrusted":
		num, err := strconv.Atoi(t.Env(rb.prefix + "_PULL_REQUEST_NUMBER"))
		if err != nil || num <= 0 {
			return nil, failuref("%s_PULL_REQUEST_NUMBER %q is not a pull request number", rb.prefix, t.Env(rb.prefix+"_PULL_REQUEST_NUMBER"))
		}
		prAPI := api
		baseRepo := strings.Replace(strings.TrimRight(t.Env(rb.prefix+"_BASE_REPOSITORY"), "/"), "git@github.com:", "ssh://github.com/", 1)
		def, err := rb.githubJSON(ctx, api)
		if err != nil {
			return nil, err
		}
		if fork, _ := def["fork"].(bool); fork && baseRepo != repo {
			po, pn := lookupString(def, "parent", "owner", "login"), lookupString(def, "parent", "name")
			prAPI = strings.TrimRight(rb.v.githubAPIBase(), "/") + "/repos/" + url.PathEscape(po) + "/" + url.PathEscape(pn)
		}
		pr, err := rb.githubJSON(ctx, prAPI+"/pulls/"+strconv.Itoa(num))
		if err != nil {
			return nil, err
		}
		head, _ := pr["head"].(map[string]any)
		base, _ := pr["base"].(map[string]any)
		if head == nil || base == nil {
			return nil, failuref("GitHub pull request %d has no head or base", num)
		}
		head["updated_at"] = env("PUSH_DATE_TIME")
		base["sha"] = env("BASE_REV")
		head["sha"] = env("HEAD_REV")
		return map[string]any{"event": map[string]any{
			"action":       "synchronize",
			"repository":   base["repo"],
			"pull_request": pr,
			"sender":       map[string]any{"login": lookupString(head, "user", "login")},
		}}, nil
	}
	return nil, failuref("tasks_for %q cannot be rebuilt for a GitHub product", rb.tasksFor)
}

func (v *verifier) githubAPIBase() string {
	if v.o.GitHubAPI != "" {
		return v.o.GitHubAPI
	}
	return DefaultGitHubAPI
}

func (rb *rebuilder) githubJSON(ctx context.Context, u string) (map[string]any, error) {
	// Online, the GitHub API is asked with the API's headers and token.
	getter := rb.get
	if c, ok := getter.(*cachedGetter); ok {
		if _, online := c.next.(webGetter); online {
			getter = &cachedGetter{next: webGetter{rb.v.github.web}, m: c.m}
		}
	}
	b, err := getter.get(ctx, u)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := decodeNumbers(b, &m); err != nil {
		return nil, failuref("GitHub API %s: not a JSON object: %v", u, err)
	}
	return m, nil
}

func lookupString(m map[string]any, keys ...string) string {
	var v any = m
	for _, k := range keys {
		o, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = o[k]
	}
	s, _ := v.(string)
	return s
}

// actionContext is scriptworker's get_action_context_and_template: the
// action's hook, found in the decision task's actions.json by its
// callback name, and the context its task template was rendered in.
func (rb *rebuilder) actionContext(ctx context.Context, inTree any) (map[string]any, any, error) {
	if rb.d.actions == nil {
		return nil, nil, failuref("decision task %s has no verified public/actions.json", rb.d.TaskID)
	}
	cb := rb.l.Task.Env("ACTION_CALLBACK")
	var defn map[string]any
	for _, a := range rb.d.actions["actions"].([]any) {
		m, _ := a.(map[string]any)
		if lookupString(m, "hookPayload", "decision", "action", "cb_name") == cb {
			defn = m
			break
		}
	}
	if defn == nil {
		return nil, nil, failuref("no action with callback %q in actions.json of decision task %s", cb, rb.d.TaskID)
	}
	if kind, _ := defn["kind"].(string); kind != "hook" {
		return nil, nil, failuref("action %q has kind %q; only hook actions can be rebuilt", lookupString(defn, "name"), kind)
	}
	base, err := rb.context(ctx)
	if err != nil {
		return nil, nil, err
	}
	perm := lookupString(defn, "extra", "actionPerm")
	if perm == "" {
		perm = lookupString(defn, "actionPerm")
	}
	if perm == "" {
		hookID, ok := defn["hookId"].(string)
		if !ok || strings.Contains(hookID, "generic/") {
			perm = "generic"
		} else {
			perm = cb
		}
	}
	tmpl := map[string]any{
		"$let": map[string]any{
			"tasks_for": rb.tasksFor,
			"action": map[string]any{
				"name":        "${payload.decision.action.name}",
				"title":       "${payload.decision.action.title}",
				"description": "${payload.decision.action.description}",
				"taskGroupId": "${payload.decision.action.taskGroupId}",
				"symbol":      "${payload.decision.action.symbol}",
				"repo_scope":  "assume:repo:${payload.decision.repository.url[8:]}:" + rb.tasksFor + ":" + perm,
				"action_perm": perm,
				"cb_name":     "${payload.decision.action.cb_name}",
			},
			"push":        map[string]any{"$eval": "payload.decision.push"},
			"repository":  map[string]any{"$eval": "payload.decision.repository"},
			"input":       map[string]any{"$eval": "payload.user.input"},
			"parameters":  map[string]any{"$eval": "payload.decision['parameters']"},
			"taskId":      map[string]any{"$eval": "payload.user.taskId"},
			"taskGroupId": map[string]any{"$eval": "payload.user.taskGroupId"},
			"ownTaskId":   map[string]any{"$eval": "taskId"},
		},
		"in": inTree,
	}
	payload, err := jsone.Render(defn["hookPayload"], map[string]any{
		"input":       base["input"],
		"parameters":  base["parameters"],
		"taskGroupId": rb.l.Task.DecisionID(),
		"taskId":      base["taskId"],
	})
	if err != nil {
		return nil, nil, failuref("json-e error rendering the hookPayload of action %q: %v", cb, err)
	}
	return map[string]any{
		"payload":   payload,
		"taskId":    rb.l.TaskID,
		"now":       base["now"],
		"as_slugid": base["as_slugid"],
		"clientId":  base["clientId"],
	}, tmpl, nil
}

// fixActionGroupID is scriptworker's check_and_update_action_task_group_id:
// the rendered ACTION_TASK_GROUP_ID must be the action's or its decision
// task's id, and the runtime one is then taken for the comparison.
func (rb *rebuilder) fixActionGroupID(tasks []any) error {
	first, _ := tasks[0].(map[string]any)
	payload, _ := first["payload"].(map[string]any)
	env, _ := payload["env"].(map[string]any)
	gid, _ := env["ACTION_TASK_GROUP_ID"].(string)
	if env == nil || (gid != rb.l.TaskID && gid != rb.d.TaskID) {
		return failuref("rendered ACTION_TASK_GROUP_ID %q is neither the action %s nor its decision task %s", gid, rb.l.TaskID, rb.d.TaskID)
	}
	if envHas(rb.l.Task, "ACTION_TASK_GROUP_ID") {
		env["ACTION_TASK_GROUP_ID"] = rb.l.Task.Env("ACTION_TASK_GROUP_ID")
	}
	return nil
}

// normalizeForRebuild prepares a definition for the comparison as
// scriptworker does: values {}, [], null and "null" removed at every level
// (json-e drops such keys), projectId "none" when absent, and taskQueueId
// in place of provisionerId and workerType.
func normalizeForRebuild(def map[string]any) map[string]any {
	m := removeEmpty(def).(map[string]any)
	if _, ok := m["projectId"]; !ok {
		m["projectId"] = "none"
	}
	if _, ok := m["taskQueueId"]; !ok {
		p, _ := m["provisionerId"].(string)
		w, _ := m["workerType"].(string)
		m["taskQueueId"] = p + "/" + w
	}
	delete(m, "provisionerId")
	delete(m, "workerType")
	return m
}

func isEmptyValue(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == "null"
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// removeEmpty is scriptworker's remove_empty_keys: a value is dropped if
// it is empty before its own contents are cleaned.
func removeEmpty(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if !isEmptyValue(e) {
				out[k] = removeEmpty(e)
			}
		}
		return out
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			if !isEmptyValue(e) {
				out = append(out, removeEmpty(e))
			}
		}
		return out
	}
	return v
}

// firstDiff returns the first place, in sorted key order, where a and b
// differ, as a JSON path (payload.env.X, routes[2]), and the two values
// there (absent is nil, with ok reporting presence through the path).
func firstDiff(a, b any, path string) (string, any, any, bool) {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := sortedKeys(x)
		for k := range y {
			if _, ok := x[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			xv, xok := x[k]
			yv, yok := y[k]
			if !xok || !yok {
				return join(k), orAbsent(xv, xok), orAbsent(yv, yok), true
			}
			if p, av, bv, d := firstDiff(xv, yv, join(k)); d {
				return p, av, bv, true
			}
		}
		return "", nil, nil, false
	case []any:
		y, ok := b.([]any)
		if !ok {
			break
		}
		for i := 0; i < min(len(x), len(y)); i++ {
			if p, av, bv, d := firstDiff(x[i], y[i], fmt.Sprintf("%s[%d]", path, i)); d {
				return p, av, bv, true
			}
		}
		if len(x) != len(y) {
			i := min(len(x), len(y))
			p := fmt.Sprintf("%s[%d]", path, i)
			var av, bv any = absent{}, absent{}
			if i < len(x) {
				av = x[i]
			}
			if i < len(y) {
				bv = y[i]
			}
			return p, av, bv, true
		}
		return "", nil, nil, false
	}
	if jsonEqual(a, b) {
		return "", nil, nil, false
	}
	return path, a, b, true
}

// absent stands for a key or element that is not there.
type absent struct{}

func orAbsent(v any, ok bool) any {
	if !ok {
		return absent{}
	}
	return v
}

func short(v any) string {
	if _, ok := v.(absent); ok {
		return "(absent)"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// toJSONNumbers turns the float64 numbers of a json-e result into
// json.Number, the form the task definitions compare in.
func toJSONNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = toJSONNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toJSONNumbers(e)
		}
		return out
	case float64:
		if r := new(big.Rat); r.SetFloat64(x) != nil {
			if r.IsInt() {
				return json.Number(r.Num().String())
			}
		}
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64))
	}
	return v
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func deepCopyJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopyJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopyJSON(e)
		}
		return out
	}
	return v
}

// parseYAMLValue parses YAML (or JSON) into JSON values, numbers as
// json.Number.
func parseYAMLValue(b []byte) (any, error) {
	v, err := jsone.DecodeYAML(b)
	if err != nil {
		return nil, err
	}
	return toJSONNumbers(v), nil
}
