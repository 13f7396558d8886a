package cot

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Options configure Verify.
type Options struct {
	Trust *Trust
	Queue *Queue
	// TaskType is the type of the task under test (signing, beetmover, …),
	// which decides the checks it gets. Empty guesses: decision or action
	// for a task that is its own parent, else its tags.kind if that is a
	// task type, else scriptworker for a task on a scriptworker
	// provisioner, else build.
	TaskType string
	// CheckTask also verifies the task under test's own chain-of-trust
	// document, as scriptworker's check_task does: for a task that has
	// finished, its signature, its agreement with the Queue's definition
	// and, for a docker-worker task, its image.
	CheckTask bool
	// Offline reads the inputs of the json-e rebuild (.taskcluster.yml,
	// pushlog, GitHub API answers) from this directory instead of the
	// network: see OfflinePath.
	Offline string
	// GitHubRaw serves GitHub files by commit (default DefaultGitHubRaw).
	GitHubRaw string
	// RequireRebuild makes a json-e rebuild that cannot run, for want of
	// an input, a failure rather than a skipped check. A rebuild that runs
	// and does not reproduce the definition fails either way.
	RequireRebuild bool
	// Parallel is how many downloads run at once (default 8).
	Parallel int
	// Store keeps the upstream artifacts the task consumes; nil only hashes
	// them.
	Store Store
	// GitHubAPI is the GitHub REST API asked whether a GitHub task's commit
	// landed on a protected branch (default DefaultGitHubAPI); GitHubToken,
	// if set, authenticates to it (public data only: it raises the rate
	// limit).
	GitHubAPI, GitHubToken string
	// HTTPClient fetches from version control and GitHub; nil uses the
	// Queue's.
	HTTPClient *http.Client
	// Progress, if set, is called with the size of each chunk of artifact
	// bytes downloaded, from several goroutines.
	Progress func(n int64)
}

// A Store keeps the upstream artifacts a verification downloads, such as
// the directory of 'signet cot fetch'.
type Store interface {
	// Open returns where artifact path of task taskID is written, or nil
	// to only hash it. If the store already holds it with the digests
	// want, it returns that artifact instead and nothing is downloaded.
	Open(taskID, path string, want Digests) (Destination, *Artifact, error)
	// Verified says that the artifact written there matches its signed
	// digests; Failed that it does not, or did not download.
	Verified(a Artifact) error
	Failed(taskID, path string)
}

// Artifact is an upstream artifact whose digests matched its producer's
// signed chain-of-trust document.
type Artifact struct {
	TaskID   string `json:"taskId"`
	TaskType string `json:"taskType"`
	Path     string `json:"path"`
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
}

// Status is the outcome of one check.
type Status string

const (
	OK      Status = "ok"
	Failed  Status = "failed"
	Skipped Status = "skipped"
)

// Check is one verification step of one link.
type Check struct {
	Name   string `json:"check"`
	Status Status `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// A Link is one task of the chain: the task under test (the root) or one
// it depends on.
type Link struct {
	Name       string    `json:"name"` // path from the root: "signing:build:decision"
	TaskID     string    `json:"taskId"`
	TaskType   string    `json:"taskType"`
	WorkerImpl string    `json:"workerImplementation,omitempty"`
	WorkerPool string    `json:"workerPool,omitempty"`
	Repository string    `json:"repository,omitempty"` // trusted repository path, if any
	Checks     []Check   `json:"checks"`
	Task       *Task     `json:"-"`
	Doc        *Document `json:"-"` // the verified signed document; nil for the root
	root       bool
	graph      map[string]json.RawMessage // public/task-graph.json of a decision or action link
	actions    map[string]any             // public/actions.json of a decision link
	parameters map[string]any             // public/parameters.yml of a decision link
}

// OK reports whether no check of the link failed.
func (l *Link) OK() bool {
	for _, c := range l.Checks {
		if c.Status == Failed {
			return false
		}
	}
	return true
}

// Result is the outcome of Verify.
type Result struct {
	TaskID    string     `json:"taskId"`
	Verified  bool       `json:"verified"`
	Links     []*Link    `json:"links"` // the root first, then by name
	Artifacts []Artifact `json:"artifacts"`
	// Trust names the trust configuration used: its file, or URL and
	// revision, and product.
	Trust string `json:"trust,omitempty"`
}

// Failures returns "name taskId: check: detail" for every failed check.
func (r *Result) Failures() []string {
	var out []string
	for _, l := range r.Links {
		for _, c := range l.Checks {
			if c.Status == Failed {
				out = append(out, fmt.Sprintf("%s %s: %s: %s", l.Name, l.TaskID, c.Name, c.Detail))
			}
		}
	}
	return out
}

// ErrChainOfTrust is returned (wrapped) by helpers that need a verified
// chain when it did not verify.
var ErrChainOfTrust = errors.New("chain of trust not verified")

// Task type classes: what a task type is checked as.
const (
	classParent      = "parent"
	classDockerImage = "docker-image"
	classBuild       = "build"
	classScript      = "scriptworker"
)

// taskTypes are the task types scriptworker knows, by class.
var taskTypes = map[string]string{
	"decision": classParent, "action": classParent,
	"docker-image": classDockerImage,
	"build":        classBuild, "l10n": classBuild, "repackage": classBuild, "partials": classBuild,
	"scriptworker": classScript, "balrog": classScript, "beetmover": classScript, "bouncer": classScript,
	"pushapk": classScript, "pushsnap": classScript, "shipit": classScript, "signing": classScript,
}

// ErrBadArgument is returned (wrapped) for a task id or task type that
// cannot be valid, whatever the Queue holds: a mistake of the caller.
var ErrBadArgument = errors.New("invalid argument")

// CheckTaskID returns an error wrapping ErrBadArgument unless id is a
// Taskcluster task id.
func CheckTaskID(id string) error {
	if !ValidTaskID(id) {
		return fmt.Errorf("%w: %.60q is not a Taskcluster task id: a v4 slugid is 22 characters of URL-safe base64 (A-Z, a-z, 0-9, - and _) encoding a random UUID, so its 9th character is one of Q-T, its 11th one of CGKOSWaeimquy26- and its last one of AQgw", ErrBadArgument, id)
	}
	return nil
}

// CheckTaskType returns an error wrapping ErrBadArgument unless typ is a
// task type Verify knows.
func CheckTaskType(typ string) error {
	if _, ok := taskTypes[typ]; !ok {
		return fmt.Errorf("%w: unknown task type %.40q; known types are %s", ErrBadArgument, typ, strings.Join(sortedKeys(taskTypes), ", "))
	}
	return nil
}

type verifier struct {
	o      Options
	t      *Trust
	tasks  *taskFetcher
	github *gitHub
	vcs    vcsGetter // rebuild inputs, fetched once each

	mu    sync.Mutex // guards Checks of every link during downloads
	links []*Link
	byID  map[string]*Link
	root  *Link
	arts  []Artifact
}

// Verify verifies the chain of trust of task taskID. A chain that does not
// verify is a Result with Verified false and the reasons in its checks;
// the error is for what prevented a verdict: the Queue unreachable after
// retries, a cancelled context, a failing Store.
func Verify(ctx context.Context, taskID string, o Options) (*Result, error) {
	if o.Trust == nil || o.Queue == nil {
		return nil, errors.New("cot: Verify needs Options.Trust and Options.Queue")
	}
	if err := CheckTaskID(taskID); err != nil {
		return nil, err
	}
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.TaskType != "" {
		if err := CheckTaskType(o.TaskType); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	v := &verifier{o: o, t: o.Trust, byID: map[string]*Link{}}
	v.tasks = newTaskFetcher(o.Queue, o.Trust.Limits.TaskBytes, o.Parallel)
	v.github = newGitHub(o)
	if err := v.build(ctx, taskID); err != nil {
		return nil, err
	}
	if err := v.downloadDocuments(ctx); err != nil {
		return nil, err
	}
	if err := v.downloadArtifacts(ctx); err != nil {
		return nil, err
	}
	v.checkTaskTypes()
	v.checkWorkers()
	if err := v.traceToTree(ctx); err != nil {
		return nil, err
	}
	if err := v.rebuildAll(ctx); err != nil {
		return nil, err
	}
	res := &Result{TaskID: taskID, Verified: true, Links: []*Link{v.root}, Artifacts: v.arts, Trust: o.Trust.Source}
	if o.Trust.Product != "" {
		res.Trust = strings.TrimSpace(res.Trust + " (product " + o.Trust.Product + ")")
	}
	var rest []*Link
	for _, l := range v.links {
		if l != v.root {
			rest = append(rest, l)
		}
	}
	slices.SortFunc(rest, func(a, b *Link) int { return strings.Compare(a.Name, b.Name) })
	res.Links = append(res.Links, rest...)
	for _, l := range res.Links {
		if l.Checks == nil {
			l.Checks = []Check{}
		}
		// Downloads finish in any order; reports should not.
		slices.SortStableFunc(l.Checks, func(a, b Check) int {
			if ra, rb := checkRank(a.Name), checkRank(b.Name); ra != rb {
				return ra - rb
			}
			return strings.Compare(a.Name, b.Name)
		})
		res.Verified = res.Verified && l.OK()
	}
	slices.SortFunc(res.Artifacts, func(a, b Artifact) int {
		return strings.Compare(a.TaskID+"\x00"+a.Path, b.TaskID+"\x00"+b.Path)
	})
	if res.Artifacts == nil {
		res.Artifacts = []Artifact{}
	}
	return res, nil
}

// checkOrder is the order checks are reported in: the order they run.
var checkOrder = []string{"task", "task type", "worker implementation", "dependencies", "signature", "document", "artifact", "task graph", "worker pool", "tasks_for", "worker", "docker image", "tree", "restricted scopes", "rebuild"}

func checkRank(name string) int {
	if strings.HasPrefix(name, "artifact ") {
		name = "artifact"
	}
	if i := slices.Index(checkOrder, name); i >= 0 {
		return i
	}
	return len(checkOrder)
}

func (v *verifier) record(l *Link, name string, s Status, format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	l.Checks = append(l.Checks, Check{Name: name, Status: s, Detail: fmt.Sprintf(format, args...)})
}

func (v *verifier) fail(l *Link, name, format string, args ...any) {
	v.record(l, name, Failed, format, args...)
}

// ---- 1. Building the chain ----

type dependency struct {
	name, taskID string
	parent       bool
}

// dependencies lists what l depends on, as scriptworker orders them: the
// parent first, then chainOfTrust inputs and upstream artifacts sorted by
// name and task id.
func dependencies(l *Link) ([]dependency, error) {
	var deps []dependency
	inputs, err := l.Task.Inputs()
	if err != nil {
		return nil, err
	}
	for typ, id := range inputs {
		deps = append(deps, dependency{name: l.Name + ":" + typ, taskID: id})
	}
	ups, err := l.Task.Upstreams()
	if err != nil {
		return nil, err
	}
	for _, u := range ups {
		deps = append(deps, dependency{name: l.Name + ":" + u.TaskType, taskID: u.TaskID})
	}
	slices.SortFunc(deps, func(a, b dependency) int {
		return strings.Compare(a.name+"_"+a.taskID, b.name+"_"+b.taskID)
	})
	deps = slices.Compact(deps)
	parent := l.Task.ParentID()
	if !ValidTaskID(parent) {
		return nil, fmt.Errorf("parent task id %.40q (extra.parent or taskGroupId) is not a task id", parent)
	}
	return append([]dependency{{name: l.Name + ":parent", taskID: parent, parent: true}}, deps...), nil
}

func (v *verifier) build(ctx context.Context, taskID string) error {
	t, err := v.tasks.get(ctx, taskID)
	root := &Link{TaskID: taskID, Task: t, root: true}
	v.root = root
	v.add(root)
	if err != nil {
		if Transient(err) {
			return err
		}
		root.Name, root.TaskType = "task", "unknown"
		v.fail(root, "task", "%v", err)
		return nil
	}
	root.TaskType = v.o.TaskType
	if root.TaskType == "" {
		switch {
		case t.ParentID() == taskID && t.IsAction():
			root.TaskType = "action"
		case t.ParentID() == taskID:
			root.TaskType = "decision"
		case taskTypes[kindTag(t)] != "" && taskTypes[kindTag(t)] != classParent:
			root.TaskType = kindTag(t)
		case slices.Contains(v.t.ScriptworkerProvisioners, t.ProvisionerID):
			root.TaskType = "scriptworker"
		default:
			root.TaskType = "build"
		}
	}
	root.Name = root.TaskType
	v.classify(root)
	return v.visit(ctx, root, nil)
}

func (v *verifier) add(l *Link) {
	v.links = append(v.links, l)
	v.byID[l.TaskID] = l
}

func (v *verifier) visit(ctx context.Context, l *Link, path []string) error {
	deps, err := dependencies(l)
	if err != nil {
		v.fail(l, "dependencies", "%v", err)
		return nil
	}
	for _, d := range deps {
		if d.taskID != l.TaskID {
			v.tasks.prefetch(ctx, d.taskID)
		}
	}
	path = append(path, l.TaskID)
	for _, d := range deps {
		switch {
		case d.parent && d.taskID == l.TaskID:
			// A decision task is the first task of its group, and its own parent.
			if c := taskTypes[l.TaskType]; c != classParent {
				v.fail(l, "dependencies", "a %s task cannot be its own parent (taskGroupId %s); only decision and action tasks are", l.TaskType, d.taskID)
			}
			continue
		case slices.Contains(path, d.taskID):
			v.fail(l, "dependencies", "cycle: %s depends on %s, which depends on it", d.name, d.taskID)
			continue
		case v.byID[d.taskID] != nil:
			continue
		case strings.Count(d.name, ":") > v.t.MaxChainLength:
			v.fail(l, "dependencies", "chain longer than %d links: %s (%s) not followed", v.t.MaxChainLength, d.name, d.taskID)
			continue
		}
		child := &Link{Name: d.name, TaskID: d.taskID, TaskType: lastSegment(d.name)}
		t, err := v.tasks.get(ctx, d.taskID)
		if d.parent {
			// Named by what it is, as in "signing:build:decision".
			child.TaskType = "decision"
			if err == nil && t.IsAction() {
				child.TaskType = "action"
			}
			child.Name = l.Name + ":" + child.TaskType
		}
		v.add(child)
		if err != nil {
			if Transient(err) {
				return err
			}
			v.fail(child, "task", "%v", err)
			continue
		}
		child.Task = t
		v.classify(child)
		if err := v.visit(ctx, child, path); err != nil {
			return err
		}
	}
	return nil
}

func kindTag(t *Task) string {
	k, _ := t.Tags["kind"].(string)
	return k
}

func lastSegment(name string) string { return name[strings.LastIndexByte(name, ':')+1:] }

// ---- 2. Classifying links ----

func (v *verifier) classify(l *Link) {
	l.WorkerPool = l.Task.WorkerPool()
	if _, ok := taskTypes[l.TaskType]; !ok {
		v.fail(l, "task type", "unknown task type %q; known types are %s", l.TaskType, strings.Join(sortedKeys(taskTypes), ", "))
	}
	impl, err := guessWorkerImpl(l.Task, v.t)
	if err != nil {
		v.fail(l, "worker implementation", "%v", err)
		return
	}
	l.WorkerImpl = impl
}

// guessWorkerImpl decides which worker implementation ran t, as
// scriptworker does: from payload.image (docker-worker), the provisioner
// (scriptworker), payload.mounts or payload.osGroups (generic-worker), the
// worker-implementation tag and docker-worker: scopes. Exactly one
// implementation must result.
func guessWorkerImpl(t *Task, tr *Trust) (string, error) {
	var impls []string
	if img, ok := t.Payload["image"]; ok && img != nil && img != "" {
		impls = append(impls, "docker-worker")
	}
	if slices.Contains(tr.ScriptworkerProvisioners, t.ProvisionerID) {
		impls = append(impls, "scriptworker")
	}
	if v, ok := t.Payload["mounts"]; ok && v != nil {
		impls = append(impls, "generic-worker")
	}
	if v, ok := t.Payload["osGroups"]; ok && v != nil {
		impls = append(impls, "generic-worker")
	}
	if tag, ok := t.Tags["worker-implementation"].(string); ok && tag != "" {
		impls = append(impls, tag)
	}
	for _, s := range t.Scopes {
		if strings.HasPrefix(s, "docker-worker:") {
			impls = append(impls, "docker-worker")
		}
	}
	slices.Sort(impls)
	impls = slices.Compact(impls)
	switch len(impls) {
	case 0:
		return "", errors.New("cannot tell which worker implementation ran it (no payload.image, mounts or osGroups, no scriptworker provisioner, no worker-implementation tag)")
	case 1:
		return impls[0], nil
	}
	return "", fmt.Errorf("the task looks like more than one worker implementation: %s", strings.Join(impls, ", "))
}

// ---- 3. Signed documents ----

func (v *verifier) downloadDocuments(ctx context.Context) error {
	var jobs []func(context.Context) error
	for _, l := range v.links {
		if (l.root && !v.o.CheckTask) || l.Task == nil || l.WorkerImpl == "" {
			continue
		}
		jobs = append(jobs, func(ctx context.Context) error { return v.verifyDocument(ctx, l) })
	}
	return parallel(ctx, v.o.Parallel, jobs)
}

func (v *verifier) verifyDocument(ctx context.Context, l *Link) error {
	var doc, sig Buffer
	if err := v.o.Queue.Artifact(ctx, l.TaskID, "public/chain-of-trust.json", &doc, v.t.Limits.DocumentBytes); err != nil {
		if Transient(err) {
			return err
		}
		v.fail(l, "signature", "downloading public/chain-of-trust.json: %v", err)
		return nil
	}
	if err := v.o.Queue.Artifact(ctx, l.TaskID, "public/chain-of-trust.json.sig", &sig, 4096); err != nil {
		if Transient(err) {
			return err
		}
		v.fail(l, "signature", "downloading public/chain-of-trust.json.sig: %v", err)
		return nil
	}
	keys, keyOwner := v.t.keysFor(l.WorkerPool, l.WorkerImpl)
	if len(keys) == 0 {
		v.fail(l, "signature", "the trust file has no keys for worker implementation %s or pool %s", l.WorkerImpl, l.WorkerPool)
		return nil
	}
	if len(sig.Bytes()) != ed25519.SignatureSize {
		v.fail(l, "signature", "public/chain-of-trust.json.sig is %d bytes; an Ed25519 signature is 64", len(sig.Bytes()))
		return nil
	}
	good := -1
	for i, k := range keys {
		if ed25519.Verify(k, doc.Bytes(), sig.Bytes()) {
			good = i
			break
		}
	}
	if good < 0 {
		v.fail(l, "signature", "public/chain-of-trust.json.sig does not verify with any of the %d %s keys", len(keys), keyOwner)
		return nil
	}
	v.record(l, "signature", OK, "%s key %d of %d", keyOwner, good+1, len(keys))
	d, err := ParseDocument(doc.Bytes())
	if err != nil {
		v.fail(l, "document", "%v", err)
		return nil
	}
	if d.TaskID != l.TaskID {
		v.fail(l, "document", "signed for task %s, not %s", d.TaskID, l.TaskID)
		return nil
	}
	if diff := signedTaskDiff(d.Task, l.Task); diff != "" {
		v.fail(l, "document", "the task definition from the Queue differs from the one the worker signed in %s", diff)
		return nil
	}
	v.record(l, "document", OK, "run %d on %s/%s, %d artifacts", d.RunID, d.WorkerGroup, d.WorkerID, len(d.Artifacts))
	v.mu.Lock()
	l.Doc = d
	v.mu.Unlock()
	return nil
}

// signedTaskDiff names the first field, among those that decide what a
// task may do, in which the Queue's definition differs from the signed one.
// Fields the worker did not sign are not compared: older workers do not
// know fields the Queue added later.
func signedTaskDiff(signed, queue *Task) string {
	for _, k := range []string{"taskGroupId", "provisionerId", "workerType", "taskQueueId", "schedulerId", "dependencies", "scopes", "payload", "metadata", "extra", "tags", "routes"} {
		sv, ok := signed.Def[k]
		if !ok {
			continue
		}
		if !jsonEqual(sv, queue.Def[k]) {
			return k
		}
	}
	return ""
}

// ---- 4. Artifacts ----

func (v *verifier) downloadArtifacts(ctx context.Context) error {
	var jobs []func(context.Context) error
	for _, l := range v.links {
		if l.Doc == nil || taskTypes[l.TaskType] != classParent {
			continue // the root has a Doc only with CheckTask
		}
		jobs = append(jobs, func(ctx context.Context) error { return v.downloadTaskGraph(ctx, l) })
		if l.TaskType == "decision" {
			// As scriptworker: the actions a decision task offered and the
			// parameters it ran with, which action tasks are rebuilt from.
			jobs = append(jobs, func(ctx context.Context) error { return v.downloadDecisionArtifact(ctx, l, "public/actions.json") })
			jobs = append(jobs, func(ctx context.Context) error { return v.downloadDecisionArtifact(ctx, l, "public/parameters.yml") })
		}
	}
	if v.root.Task != nil {
		ups, err := v.root.Task.Upstreams()
		if err != nil {
			// Already reported by dependencies.
			ups = nil
		}
		seen := map[string]bool{}
		listings := map[string][]ArtifactInfo{}
		for _, u := range ups {
			l := v.byID[u.TaskID]
			if l == nil {
				continue // not followed: its failure is on the root already
			}
			for _, pattern := range u.Paths {
				paths, err := v.expand(ctx, l, u, pattern, listings)
				if err != nil {
					return err
				}
				for _, p := range paths {
					if seen[u.TaskID+"\x00"+p] {
						continue
					}
					seen[u.TaskID+"\x00"+p] = true
					jobs = append(jobs, func(ctx context.Context) error { return v.downloadUpstream(ctx, l, u, p) })
				}
			}
		}
	}
	return parallel(ctx, v.o.Parallel, jobs)
}

// expand returns the artifacts an upstreamArtifacts path names: itself,
// or for a path with a '*', the artifacts of the task's latest run whose
// names match it as Python's fnmatch matches (what scriptworker does: '*'
// crosses '/'), from Queue.ListArtifacts. A pattern that matches nothing
// fails (scriptworker consumes nothing and passes), unless optional.
func (v *verifier) expand(ctx context.Context, l *Link, u Upstream, pattern string, listings map[string][]ArtifactInfo) ([]string, error) {
	if !strings.Contains(pattern, "*") {
		return []string{pattern}, nil
	}
	check := "artifact " + pattern
	re, err := fnmatchRegexp(pattern)
	if err != nil {
		v.fail(l, check, "%v", err)
		return nil, nil
	}
	list, ok := listings[u.TaskID]
	if !ok {
		list, err = v.o.Queue.ListArtifacts(ctx, u.TaskID)
		if err != nil {
			if Transient(err) {
				return nil, err
			}
			v.fail(l, check, "listing the artifacts to match: %v", err)
			return nil, nil
		}
		listings[u.TaskID] = list
	}
	var out []string
	for _, a := range list {
		if re.MatchString(a.Name) && checkArtifactName(a.Name) == nil {
			out = append(out, a.Name)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	switch {
	case len(out) > 0:
		v.record(l, check, OK, "matches %d of the %d artifacts of the latest run: %s", len(out), len(list), strings.Join(out, ", "))
	case u.Optional:
		v.record(l, check, Skipped, "optional: matches none of the %d artifacts of the latest run", len(list))
	default:
		v.fail(l, check, "matches none of the %d artifacts of the latest run", len(list))
	}
	return out, nil
}

// fnmatchRegexp translates a shell pattern as Python's fnmatch reads it:
// '*' any string (slashes included), '?' one character, '[...]' a set,
// '[!...]' its complement; anything else literal.
func fnmatchRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i + 1
			if j < len(rs) && rs[j] == '!' {
				j++
			}
			if j < len(rs) && rs[j] == ']' {
				j++
			}
			for j < len(rs) && rs[j] != ']' {
				j++
			}
			if j >= len(rs) {
				b.WriteString(`\[`) // no closing bracket: a literal '['
				continue
			}
			set := rs[i+1 : j]
			b.WriteString("[")
			if len(set) > 0 && set[0] == '!' {
				b.WriteString("^")
				set = set[1:]
			}
			for _, r := range set {
				if r == '\\' || r == '[' || r == ']' || r == '^' {
					b.WriteString(`\`)
				}
				b.WriteRune(r)
			}
			b.WriteString("]")
			i = j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`)$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("artifact pattern %.80q: %v", pattern, err)
	}
	return re, nil
}

func (v *verifier) downloadTaskGraph(ctx context.Context, l *Link) error {
	const name = "public/task-graph.json"
	want, ok := l.Doc.Artifacts[name]
	if !ok {
		v.fail(l, "task graph", "%s is not in the signed artifacts", name)
		return nil
	}
	var buf Buffer
	dg, err := newDigester(want, &buf, nil)
	if err != nil {
		v.fail(l, "task graph", "%s: %v", name, err)
		return nil
	}
	if err := v.o.Queue.Artifact(ctx, l.TaskID, name, dg, v.t.Limits.TaskGraphBytes); err != nil {
		if Transient(err) {
			return err
		}
		v.fail(l, "task graph", "%v", err)
		return nil
	}
	if _, err := dg.check(want); err != nil {
		v.fail(l, "task graph", "%s: %v", name, err)
		return nil
	}
	graph, err := parseTaskGraph(buf.Bytes())
	if err != nil {
		v.fail(l, "task graph", "%s: %v", name, err)
		return nil
	}
	v.mu.Lock()
	l.graph = graph
	v.mu.Unlock()
	return nil
}

// downloadDecisionArtifact downloads public/actions.json or
// public/parameters.yml of decision link l, checks it against l's signed
// document and parses it: actions.json a JSON object whose "actions" is
// a list, parameters.yml a YAML mapping.
func (v *verifier) downloadDecisionArtifact(ctx context.Context, l *Link, name string) error {
	check := "artifact " + name
	want, ok := l.Doc.Artifacts[name]
	if !ok {
		v.fail(l, check, "not in the signed artifacts")
		return nil
	}
	var buf Buffer
	dg, err := newDigester(want, &buf, nil)
	if err != nil {
		v.fail(l, check, "%v", err)
		return nil
	}
	if err := v.o.Queue.Artifact(ctx, l.TaskID, name, dg, v.t.Limits.TaskGraphBytes); err != nil {
		if Transient(err) {
			return err
		}
		v.fail(l, check, "%v", err)
		return nil
	}
	sha, err := dg.check(want)
	if err != nil {
		v.fail(l, check, "%v", err)
		return nil
	}
	var parsed map[string]any
	if name == "public/actions.json" {
		parsed, err = decodeObject(buf.Bytes(), name)
		if err == nil {
			if _, ok := parsed["actions"].([]any); !ok {
				err = fmt.Errorf("%s has no list of actions", name)
			}
		}
	} else {
		parsed, err = parseYAMLObject(buf.Bytes(), name)
	}
	if err != nil {
		v.fail(l, check, "%v", err)
		return nil
	}
	v.record(l, check, OK, "sha256 %s, %d bytes", sha, buf.Offset())
	v.mu.Lock()
	if name == "public/actions.json" {
		l.actions = parsed
	} else {
		l.parameters = parsed
	}
	v.mu.Unlock()
	return nil
}

func parseTaskGraph(b []byte) (map[string]json.RawMessage, error) {
	if err := checkJSONStructure(b); err != nil {
		return nil, err
	}
	var g map[string]json.RawMessage
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("not a JSON object of tasks: %w", err)
	}
	return g, nil
}

func (v *verifier) downloadUpstream(ctx context.Context, l *Link, u Upstream, path string) error {
	check := "artifact " + path
	skip := func(format string, args ...any) {
		if u.Optional {
			v.record(l, check, Skipped, "optional: "+format, args...)
		} else {
			v.fail(l, check, format, args...)
		}
	}
	v.mu.Lock()
	doc := l.Doc
	v.mu.Unlock()
	if doc == nil {
		skip("not downloaded: the chain-of-trust document of %s did not verify", l.Name)
		return nil
	}
	want, ok := doc.Artifacts[path]
	if !ok {
		skip("not in the signed artifacts of %s", l.Name)
		return nil
	}
	var dst Destination = &discard{}
	if v.o.Store != nil {
		d, have, err := v.o.Store.Open(l.TaskID, path, want)
		if err != nil {
			return err
		}
		if have != nil {
			have.TaskType = u.TaskType
			v.record(l, check, OK, "sha256 %s, %d bytes, already present", have.SHA256, have.Size)
			v.mu.Lock()
			v.arts = append(v.arts, *have)
			v.mu.Unlock()
			return nil
		}
		if d != nil {
			dst = d
		}
	}
	failed := func() {
		if v.o.Store != nil {
			v.o.Store.Failed(l.TaskID, path)
		}
	}
	dg, err := newDigester(want, dst, v.o.Progress)
	if err != nil {
		failed()
		v.fail(l, check, "%v", err)
		return nil
	}
	resumed := dg.Offset() > 0
	if !resumed || !dg.complete(want) {
		err = v.o.Queue.Artifact(ctx, l.TaskID, path, dg, v.t.Limits.ArtifactBytes)
	}
	if err != nil {
		if Transient(err) {
			return err
		}
		failed()
		if NotFound(err) {
			skip("%v", err)
		} else {
			v.fail(l, check, "%v", err)
		}
		return nil
	}
	sha, err := dg.check(want)
	if err != nil && resumed {
		// The prefix kept from an earlier run may be of other bytes (the
		// artifact replaced, the file damaged) and nothing validated it
		// before resuming: start again from zero once before failing.
		if err = dg.Truncate(); err != nil {
			return err
		}
		if err = v.o.Queue.Artifact(ctx, l.TaskID, path, dg, v.t.Limits.ArtifactBytes); err != nil {
			if Transient(err) {
				return err
			}
			failed()
			v.fail(l, check, "%v", err)
			return nil
		}
		sha, err = dg.check(want)
	}
	if err != nil {
		failed()
		v.fail(l, check, "%v", err)
		return nil
	}
	a := Artifact{TaskID: l.TaskID, TaskType: u.TaskType, Path: path, SHA256: sha, Size: dg.Offset()}
	if v.o.Store != nil {
		if err := v.o.Store.Verified(a); err != nil {
			return err
		}
	}
	v.record(l, check, OK, "sha256 %s, %d bytes", sha, a.Size)
	v.mu.Lock()
	v.arts = append(v.arts, a)
	v.mu.Unlock()
	return nil
}

// parallel runs jobs, n at a time, and returns the first error, after
// which the others are cancelled.
func parallel(ctx context.Context, n int, jobs []func(context.Context) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, job := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := job(ctx); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
