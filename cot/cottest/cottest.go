// Package cottest builds task graphs with signed chain-of-trust documents
// and serves them as a Taskcluster-compatible Queue, for tests of package
// cot and of the signet CLI. Keys are generated when a graph is built.
//
// The standard graph is the shape of a release: a decision task creates a
// docker-image task, two builds (one docker-worker build in that image, one
// generic-worker build), a signing task (scriptworker) that signs both
// builds' artifacts, and a beetmover task (scriptworker) that consumes the
// signing task's output. Each worker implementation writes its document in
// its own way: generic-worker and docker-worker in definition order with Go
// or JavaScript escaping, scriptworker with sorted keys and non-ASCII
// escaped, as Python's json.dumps(indent=2, sort_keys=True) does. The
// Style option makes every document use one of those two writings.
package cottest

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// NewTaskID returns a random Taskcluster task id (a v4 slugid).
func NewTaskID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Styles of writing a chain-of-trust document.
const (
	StyleNative        = ""               // each implementation its own
	StyleGenericWorker = "generic-worker" // Go's json.MarshalIndent, fixed field order
	StyleScriptworker  = "scriptworker"   // sorted keys, non-ASCII escaped
)

// Served is one artifact as storage serves it.
type Served struct {
	Data []byte
	// R and Size serve generated content instead of Data.
	R    io.ReaderAt
	Size int64
	// Gzip serves Data gzip-compressed with Content-Encoding: gzip, as
	// workers upload their logs and documents.
	Gzip bool
}

// Task is one task of a graph.
type Task struct {
	ID        string
	Role      string         // "decision", "docker-image", "build-linux", …
	Impl      string         // worker implementation that runs it
	Def       map[string]any // the definition the Queue serves (live)
	Artifacts map[string][]byte
	// Big artifacts are generated, not held: name → content.
	Big map[string]*Served
	Env map[string]any // the document's environment
	// Doc edits the document before it is written and signed.
	Doc func(doc map[string]any)
	// Key signs the document instead of the implementation's first key.
	Key ed25519.PrivateKey
}

// Graph is a set of tasks served as a Queue.
type Graph struct {
	Style   string
	Tasks   map[string]*Task // by task id
	ByRole  map[string]*Task
	Keys    map[string][]ed25519.PrivateKey // by worker implementation; documents use the last
	served  map[string]map[string]*Served
	mu      sync.Mutex
	Hits    map[string]int // requests per URL path
	Handler http.Handler   // the Queue; wrap it to inject faults
	// OmitFromGraph leaves tasks out of the task graphs PublishTaskGraph
	// writes.
	OmitFromGraph map[string]bool
	// ListPageSize pages artifact listings (0: one page).
	ListPageSize int
	created      time.Time
}

// Repo is the trusted repository of generated graphs.
const Repo = "https://hg.example.org/releases/product"

// Options shape a generated graph.
type Options struct {
	Style string
	// Builds adds this many more generic-worker builds, each with
	// ArtifactsPerBuild artifacts of ArtifactSize bytes, consumed by the
	// signing task: the performance graph.
	Builds, ArtifactsPerBuild int
	ArtifactSize              int64
}

// New builds the standard graph, signs every document and returns it
// ready to serve.
func New(o Options) *Graph {
	g := &Graph{Style: o.Style, Tasks: map[string]*Task{}, ByRole: map[string]*Task{}, Keys: map[string][]ed25519.PrivateKey{},
		served: map[string]map[string]*Served{}, Hits: map[string]int{}, created: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	for _, impl := range []string{"docker-worker", "generic-worker", "scriptworker"} {
		g.Keys[impl] = append(g.Keys[impl], newKey())
	}
	// generic-worker is mid-rotation: documents use the second key.
	g.Keys["generic-worker"] = append(g.Keys["generic-worker"], newKey())

	dec := g.Add("decision", "docker-worker", "test-3/decision", nil)
	dec.Def["taskGroupId"] = dec.ID
	dec.Def["payload"] = map[string]any{"image": "example/decision:v1", "env": g.env(), "features": map[string]any{"chainOfTrust": true}}
	dec.Def["extra"] = map[string]any{"tasks_for": "hg-push"}
	dec.Def["scopes"] = []any{"assume:repo:hg.example.org/releases/product:branch:default"}
	dec.Artifacts["public/actions.json"] = []byte(`{"version": 1, "variables": {}, "actions": []}` + "\n")
	dec.Artifacts["public/parameters.yml"] = []byte("base_repository: " + Repo + "\nhead_rev: '" + strings.Repeat("0123456789", 4) + "'\nlevel: '3'\nproject: product\npushlog_id: '1234'\n")

	img := g.Add("docker-image", "docker-worker", "test-3/images", dec)
	img.Def["payload"] = map[string]any{"image": "example/image-builder:v1", "env": g.env(), "features": map[string]any{"chainOfTrust": true}}
	img.Artifacts["public/image.tar.zst"] = []byte("docker image layers\n")

	lin := g.Add("build-linux", "docker-worker", "test-3/b-linux", dec)
	lin.Def["payload"] = map[string]any{
		"image":    map[string]any{"type": "task-image", "taskId": img.ID, "path": "public/image.tar.zst"},
		"env":      g.env(),
		"features": map[string]any{"chainOfTrust": true},
		"artifacts": map[string]any{"public/build": map[string]any{
			"type": "directory", "path": "/builds/worker/artifacts", "expires": "2026-03-01T12:00:00.000Z"}},
	}
	lin.Def["extra"] = map[string]any{"chainOfTrust": map[string]any{"inputs": map[string]any{"docker-image": img.ID}}}
	lin.Def["dependencies"] = []any{img.ID}
	lin.Artifacts["public/build/target.tar.gz"] = []byte("linux build of product ✓\n")
	lin.Env = map[string]any{"imageHash": "sha256:" + strings.Repeat("ab", 32), "imageArtifactHash": "sha256:" + hexSum(img.Artifacts["public/image.tar.zst"])}

	win := g.Add("build-windows", "generic-worker", "test-3/b-win", dec)
	win.Def["payload"] = map[string]any{
		"command":   []any{"build.bat"},
		"env":       g.env(),
		"osGroups":  []any{},
		"mounts":    []any{},
		"features":  map[string]any{"chainOfTrust": true},
		"artifacts": []any{map[string]any{"type": "directory", "path": "public/build", "name": "public/build", "expires": "2026-03-01T12:00:00.000Z"}},
	}
	win.Artifacts["public/build/target.zip"] = []byte("windows build of product\n")
	win.Artifacts["public/build/target.zip.asc"] = []byte("detached\n")
	win.Env = map[string]any{"privateIpAddress": "10.0.0.7", "instanceId": "i-0123", "instanceType": "c5.4xlarge", "region": "us-east-1"}

	var builds []*Task
	for i := 0; i < o.Builds; i++ {
		b := g.Add(fmt.Sprintf("build-%d", i), "generic-worker", "test-3/b-win", dec)
		b.Def["payload"] = map[string]any{"command": []any{"build.bat"}, "env": g.env(), "osGroups": []any{}, "features": map[string]any{"chainOfTrust": true}}
		b.Env = win.Env
		b.Big = map[string]*Served{}
		for j := 0; j < o.ArtifactsPerBuild; j++ {
			b.Big[fmt.Sprintf("public/build/part-%d.bin", j)] = GeneratedArtifact(b.ID, j, o.ArtifactSize)
		}
		builds = append(builds, b)
	}

	sign := g.Add("signing", "scriptworker", "scriptworker-k8s/test-3-signing", dec)
	ups := []any{
		map[string]any{"taskId": lin.ID, "taskType": "build", "paths": []any{"public/build/target.tar.gz"}, "formats": []any{"gpg"}},
		map[string]any{"taskId": win.ID, "taskType": "build", "paths": []any{"public/build/target.zip"}, "formats": []any{"authenticode"}},
	}
	deps := []any{lin.ID, win.ID}
	for _, b := range builds {
		ups = append(ups, map[string]any{"taskId": b.ID, "taskType": "build", "paths": anySlice(sortedNames(b.Big)), "formats": []any{"gpg"}})
		deps = append(deps, b.ID)
	}
	sign.Def["payload"] = map[string]any{"upstreamArtifacts": ups, "maxRunTime": json.Number("600")}
	sign.Def["dependencies"] = deps
	sign.Def["scopes"] = []any{"project:test:signing:cert:release-signing", "project:test:signing:format:gpg"}
	sign.Artifacts["public/build/target.tar.gz"] = []byte("signed linux build\n")
	sign.Artifacts["public/build/target.tar.gz.asc"] = []byte("signature\n")

	bm := g.Add("beetmover", "scriptworker", "scriptworker-k8s/test-3-beetmover", dec)
	bm.Def["payload"] = map[string]any{"upstreamArtifacts": []any{
		map[string]any{"taskId": sign.ID, "taskType": "signing", "paths": []any{"public/build/target.tar.gz", "public/build/target.tar.gz.asc"}},
		map[string]any{"taskId": win.ID, "taskType": "build", "paths": []any{"public/build/target.zip", "public/build/target.zip.asc"}},
	}}
	bm.Def["dependencies"] = []any{sign.ID, win.ID}
	bm.Def["scopes"] = []any{"project:test:beetmover:bucket:release"}

	g.Handler = http.HandlerFunc(g.serve)
	g.Publish()
	return g
}

// NewKeyForTest returns a new Ed25519 private key.
func NewKeyForTest() ed25519.PrivateKey { return newKey() }

func newKey() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func (g *Graph) env() map[string]any {
	return map[string]any{"PRODUCT_HEAD_REPOSITORY": Repo, "PRODUCT_HEAD_REV": strings.Repeat("0123456789", 4)}
}

// Add adds a task to the graph, in dec's task group (its own if dec is
// nil), with a minimal definition that the caller completes.
func (g *Graph) Add(role, impl, pool string, dec *Task) *Task {
	t := &Task{ID: NewTaskID(), Role: role, Impl: impl, Artifacts: map[string][]byte{}, Env: map[string]any{}}
	prov, wt, _ := strings.Cut(pool, "/")
	group := t.ID
	if dec != nil {
		group = dec.ID
	}
	t.Def = map[string]any{
		"provisionerId": prov,
		"workerType":    wt,
		"taskQueueId":   pool,
		"schedulerId":   "test-level-3",
		"projectId":     "none",
		"taskGroupId":   group,
		"dependencies":  []any{},
		"requires":      "all-completed",
		"routes":        []any{},
		"priority":      "lowest",
		"retries":       json.Number("5"),
		"created":       g.created.Format("2006-01-02T15:04:05.000Z"),
		"deadline":      g.created.Add(24 * time.Hour).Format("2006-01-02T15:04:05.000Z"),
		"expires":       g.created.Add(365 * 24 * time.Hour).Format("2006-01-02T15:04:05.000Z"),
		"scopes":        []any{},
		"payload":       map[string]any{},
		"metadata": map[string]any{
			"name":        role + " — Ünïcödé ✓",
			"description": "generated <for> tests & fuzzing",
			"owner":       "release@example.org",
			"source":      Repo + "/file/" + strings.Repeat("0123456789", 4) + "/taskcluster/kinds/" + role,
		},
		"tags":  map[string]any{"kind": role},
		"extra": map[string]any{},
	}
	if impl == "scriptworker" {
		t.Def["provisionerId"] = "scriptworker-k8s"
	}
	g.Tasks[t.ID] = t
	g.ByRole[role] = t
	return t
}

// Publish writes the decision task's task graph and signs every task's
// document, in an order that lets each include the digests it needs.
func (g *Graph) Publish() {
	for _, t := range g.sorted() {
		if t.Role == "decision" || t.Role == "action" {
			g.PublishTaskGraph(t)
		}
	}
	for _, t := range g.sorted() {
		g.Sign(t)
	}
}

// PublishTaskGraph writes public/task-graph.json of decision task dec from
// the current definitions of the tasks of its group.
func (g *Graph) PublishTaskGraph(dec *Task) {
	graph := map[string]any{}
	for _, t := range g.Tasks {
		parent, _ := t.Def["extra"].(map[string]any)["parent"].(string)
		if parent == "" {
			parent, _ = t.Def["taskGroupId"].(string)
		}
		if t == dec || parent != dec.ID || g.OmitFromGraph[t.ID] {
			continue
		}
		def := deepCopy(t.Def).(map[string]any)
		for _, k := range []string{"taskGroupId", "schedulerId", "projectId", "taskQueueId"} {
			delete(def, k) // the Queue adds these at creation
		}
		def["created"] = map[string]any{"relative-datestamp": "0 seconds"}
		graph[t.ID] = map[string]any{"task": def, "label": t.Role, "dependencies": map[string]any{}, "optimization": nil}
	}
	b, _ := json.MarshalIndent(graph, "", "  ")
	dec.Artifacts["public/task-graph.json"] = b
}

// Sign writes and signs t's chain-of-trust document from its current
// definition and artifacts.
func (g *Graph) Sign(t *Task) {
	arts := map[string]any{}
	for name, b := range t.Artifacts {
		arts[name] = map[string]any{"sha256": hexSum(b)}
	}
	for name, s := range t.Big {
		if gn, ok := s.R.(*generated); ok {
			arts[name] = map[string]any{"sha256": generatedSum(gn)}
			continue
		}
		h := sha256.New()
		io.Copy(h, io.NewSectionReader(s.R, 0, s.Size))
		arts[name] = map[string]any{"sha256": hex.EncodeToString(h.Sum(nil))}
	}
	doc := map[string]any{
		"chainOfTrustVersion": json.Number("1"),
		"artifacts":           arts,
		"task":                deepCopy(t.Def),
		"taskId":              t.ID,
		"runId":               json.Number("0"),
		"workerGroup":         "us-east-1",
		"workerId":            "i-" + strings.ToLower(t.ID[:8]),
		"environment":         t.Env,
	}
	if t.Impl == "scriptworker" {
		doc["workerType"] = t.Def["workerType"]
	}
	if t.Doc != nil {
		t.Doc(doc)
	}
	style := g.Style
	if style == StyleNative {
		style = StyleGenericWorker
		if t.Impl == "scriptworker" {
			style = StyleScriptworker
		}
	}
	b := Write(doc, style)
	key := t.Key
	if key == nil {
		keys := g.Keys[t.Impl]
		key = keys[len(keys)-1]
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.servedOf(t.ID)
	s["public/chain-of-trust.json"] = &Served{Data: b, Gzip: true}
	s["public/chain-of-trust.json.sig"] = &Served{Data: ed25519.Sign(key, b), Gzip: true}
	for name, data := range t.Artifacts {
		s[name] = &Served{Data: data}
	}
	for name, big := range t.Big {
		s[name] = big
	}
}

// SetServed replaces what storage serves for an artifact, leaving the
// signed document as it is.
func (g *Graph) SetServed(taskID, name string, s *Served) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s == nil {
		delete(g.servedOf(taskID), name)
		return
	}
	g.servedOf(taskID)[name] = s
}

// ServedData returns the bytes served for an artifact.
func (g *Graph) ServedData(taskID, name string) []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s := g.served[taskID][name]; s != nil {
		return s.Data
	}
	return nil
}

func (g *Graph) servedOf(id string) map[string]*Served {
	m := g.served[id]
	if m == nil {
		m = map[string]*Served{}
		g.served[id] = m
	}
	return m
}

func (g *Graph) sorted() []*Task {
	ts := make([]*Task, 0, len(g.Tasks))
	for _, t := range g.Tasks {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b *Task) int { return strings.Compare(a.ID, b.ID) })
	return ts
}

// KeyBase64 returns the public key of priv as scriptworker writes it in
// its configuration: standard base64 of the 32 raw bytes.
func KeyBase64(priv ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
}

// KeyBase64Public is KeyBase64 for a public key.
func KeyBase64Public(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}

// TrustYAML returns a trust configuration that trusts the graph.
func (g *Graph) TrustYAML() string {
	var b strings.Builder
	b.WriteString("keys:\n")
	for _, impl := range []string{"docker-worker", "generic-worker", "scriptworker"} {
		fmt.Fprintf(&b, "  %s:\n", impl)
		for _, k := range g.Keys[impl] {
			fmt.Fprintf(&b, "    - %s\n", KeyBase64(k))
		}
	}
	b.WriteString(`scriptworker_provisioners: [scriptworker-k8s]
decision_worker_pools: [test-3/decision]
docker_image_worker_pools: [test-3/images]
prebuilt_docker_image_task_types: [decision, action, docker-image]
source_env_prefix: PRODUCT
repositories:
  - schemes: [https, ssh]
    hosts: [hg.example.org]
    paths: ['^(?P<path>/releases/product)(/|$)', '^(?P<path>/try)(/|$)']
restricted_scopes:
  project:test:signing:cert:release-signing: release
  project:test:beetmover:bucket:release: release
restricted_trees:
  release: [/releases/product]
tasks_for: [hg-push, cron, action]
`)
	return b.String()
}

func (g *Graph) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.Hits[r.URL.Path]++
	g.mu.Unlock()
	const api = "/api/queue/v1/task/"
	if p, ok := strings.CutPrefix(r.URL.Path, "/storage/"); ok {
		id, name, _ := strings.Cut(p, "/")
		g.mu.Lock()
		s := g.served[id][name]
		g.mu.Unlock()
		if s == nil {
			http.Error(w, `{"code":"ResourceNotFound","message":"no such object"}`, http.StatusNotFound)
			return
		}
		serveArtifact(w, r, s)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, api)
	if !ok {
		http.NotFound(w, r)
		return
	}
	id, sub, _ := strings.Cut(rest, "/")
	t := g.Tasks[id]
	if t == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"code":"ResourceNotFound","message":"task %s not found"}`, id)
		return
	}
	switch {
	case sub == "":
		w.Header().Set("Content-Type", "application/json")
		b, _ := json.Marshal(t.Def)
		w.Write(b)
	case sub == "artifacts":
		g.mu.Lock()
		names := sortedNames(g.served[id])
		g.mu.Unlock()
		// Pages of ListPageSize, the continuation token the index of the
		// next, as the Queue pages its listings.
		start, _ := strconv.Atoi(r.URL.Query().Get("continuationToken"))
		end := len(names)
		if g.ListPageSize > 0 {
			end = min(end, start+g.ListPageSize)
		}
		list := []map[string]any{}
		for _, name := range names[min(start, len(names)):end] {
			list = append(list, map[string]any{"name": name, "storageType": "s3", "contentType": "application/octet-stream", "expires": t.Def["expires"]})
		}
		page := map[string]any{"artifacts": list}
		if end < len(names) {
			page["continuationToken"] = strconv.Itoa(end)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(page)
	case strings.HasPrefix(sub, "artifacts/"):
		name := strings.TrimPrefix(sub, "artifacts/")
		g.mu.Lock()
		s := g.served[id][name]
		g.mu.Unlock()
		if s == nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"code":"ResourceNotFound","message":"artifact %s not found"}`, name)
			return
		}
		// The Queue redirects to storage, as it does for S3 artifacts.
		http.Redirect(w, r, "/storage/"+id+"/"+name, http.StatusSeeOther)
	default:
		http.NotFound(w, r)
	}
}

func serveArtifact(w http.ResponseWriter, r *http.Request, s *Served) {
	var body io.ReadSeeker
	switch {
	case s.Gzip:
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(s.Data)
		zw.Close()
		w.Header().Set("Content-Encoding", "gzip")
		body = bytes.NewReader(buf.Bytes())
	case s.R != nil:
		body = io.NewSectionReader(s.R, 0, s.Size)
	default:
		body = bytes.NewReader(s.Data)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", time.Time{}, body)
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(x))
		for k, e := range x {
			c[k] = deepCopy(e)
		}
		return c
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = deepCopy(e)
		}
		return c
	}
	return v
}

// generated is an artifact of Size bytes: a block shared by all generated
// artifacts, then a line naming the artifact, so that each is distinct
// while the graph holds one block.
type generated struct {
	tail []byte
	size int64
}

var (
	sharedOnce sync.Once
	shared     []byte
)

const sharedSize = 1 << 20

// GeneratedArtifact returns size bytes of content unique to (taskID, i)
// without holding them: at most 1 MiB shared by all, then a distinct tail.
func GeneratedArtifact(taskID string, i int, size int64) *Served {
	sharedOnce.Do(func() {
		shared = make([]byte, sharedSize)
		rand.Read(shared)
	})
	tail := []byte(fmt.Sprintf("\n%s part %d\n", taskID, i))
	if size < int64(len(tail)) || size-int64(len(tail)) > sharedSize {
		panic("cottest: generated artifacts are between the tail and 1 MiB plus the tail in size")
	}
	return &Served{R: &generated{tail: tail, size: size}, Size: size}
}

func (gn *generated) ReadAt(p []byte, off int64) (int, error) {
	head := gn.size - int64(len(gn.tail))
	n := 0
	for n < len(p) && off < gn.size {
		var m int
		if off < head {
			m = copy(p[n:], shared[off:head])
		} else {
			m = copy(p[n:], gn.tail[off-head:])
		}
		n += m
		off += int64(m)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// UseRepository moves every task of the graph to repository repo (a
// GitHub URL such as https://github.com/OWNER/NAME, or an hg one): its
// PRODUCT_HEAD_REPOSITORY and metadata.source, which for GitHub take the
// form REPO/blob/REV/PATH. It then publishes the graph again.
func (g *Graph) UseRepository(repo string) {
	sep := "/file/"
	if strings.HasPrefix(repo, "https://github.com/") {
		sep = "/blob/"
	}
	for _, t := range g.Tasks {
		if env, ok := t.Def["payload"].(map[string]any)["env"].(map[string]any); ok {
			if _, ok := env["PRODUCT_HEAD_REPOSITORY"]; ok {
				env["PRODUCT_HEAD_REPOSITORY"] = repo
			}
		}
		md := t.Def["metadata"].(map[string]any)
		if src, ok := md["source"].(string); ok {
			if _, rest, ok := strings.Cut(src, "/file/"); ok {
				md["source"] = repo + sep + rest
			} else if _, rest, ok := strings.Cut(src, "/blob/"); ok {
				md["source"] = repo + sep + rest
			}
		}
	}
	g.Publish()
}

// Rev is the revision every generated task names.
var Rev = strings.Repeat("0123456789", 4)
