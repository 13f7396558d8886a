package cot

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxTrustBytes bounds a trust configuration file.
const MaxTrustBytes = 1 << 20

// Trust is what a verifier trusts for one product: the keys of each worker
// implementation and pool, and the rules that tie tasks to source trees
// (scriptworker's cot_product configuration). It is read from a YAML file
// meant to live in version control, so that changing what is trusted takes
// a reviewed commit rather than a scope (see docs/cot.md for the format).
type Trust struct {
	// Product is the product's name in a trust file of several products,
	// "" in a single-product file.
	Product string
	// VCS is how the product's trees are hosted: "hg" (pushlog, hg
	// raw-file) or "github" (GitHub events and API).
	VCS string
	// Keys are the Ed25519 keys each worker implementation signs with.
	// Several per implementation allow rotation: any one of them verifies.
	Keys map[string][]ed25519.PublicKey
	// PoolKeys are keys of one worker pool ("provisionerId/workerType").
	// A pool listed here is verified with its own keys only: the narrower
	// rule wins, so a key compromised in one pool signs for no other.
	PoolKeys map[string][]ed25519.PublicKey
	// ScriptworkerProvisioners are the provisioner ids whose tasks run on
	// scriptworker.
	ScriptworkerProvisioners []string
	// DecisionWorkerPools and DockerImageWorkerPools are the pools
	// ("provisioner/workerType") decision and action tasks, and docker-image
	// tasks, must run on.
	DecisionWorkerPools    []string
	DockerImageWorkerPools []string
	// PrebuiltDockerImageTaskTypes are the task types that may run on a
	// docker image not built in the chain; "any" allows all.
	PrebuiltDockerImageTaskTypes []string
	// SourceEnvPrefix names the payload.env variables that carry the
	// repository: PREFIX_HEAD_REPOSITORY, PREFIX_HEAD_REV.
	SourceEnvPrefix string
	// Repositories are the trusted repositories.
	Repositories []RepositoryRule
	// RestrictedScopes map a scope to a level, RestrictedTrees a level to
	// the repository paths allowed to use it.
	RestrictedScopes map[string]string
	RestrictedTrees  map[string][]string
	// TasksFor are the valid extra.tasks_for values of decision and action
	// tasks.
	TasksFor []string
	// TrySchedulerIDs are schedulerIds that mark a task as a try task
	// (gecko-level-1 always does, as in scriptworker).
	TrySchedulerIDs []string
	// GitHubOwner is the owner of the product's official GitHub
	// repositories: a GitHub task from another owner is a pull request.
	GitHubOwner string
	// ProjectLevels map a trusted repository path to its SCM level, the
	// repository.level of the json-e context of hg products.
	ProjectLevels map[string]string
	// PushlogURL is the pushlog of an hg tree, {repo} and {revision}
	// replaced (default: {repo}/json-pushes?changeset={revision}&version=2&full=1).
	PushlogURL string
	// MaxChainLength bounds the depth of the chain (20 by default).
	MaxChainLength int
	Limits         Limits
	// Source says where the trust file came from: a path, or a URL and
	// the revision it was read at.
	Source string
}

// ErrProduct is returned (wrapped) when the product asked for is not in
// the trust file, or none was named where one must be: a mistake of the
// caller rather than of the file.
var ErrProduct = errors.New("product not chosen")

// TrustSet is a parsed trust file: one product, or several by name.
type TrustSet struct {
	Products map[string]*Trust
	// Default is the product used when none is named: the only one of a
	// single-product file, or default_product.
	Default string
}

// Select returns the named product's trust, or the default one if name
// is "".
func (s *TrustSet) Select(name string) (*Trust, error) {
	if name == "" {
		if t, ok := s.Products[s.Default]; ok {
			return t, nil
		}
		return nil, fmt.Errorf("%w: the trust file has %d products (%s) and no default_product; name one with --product", ErrProduct, len(s.Products), strings.Join(sortedKeys(s.Products), ", "))
	}
	t, ok := s.Products[name]
	if _, single := s.Products[""]; single && !ok {
		return nil, fmt.Errorf("%w: the trust file describes one product without a name, not %.40q: drop --product, or list products under products:", ErrProduct, name)
	}
	if !ok {
		return nil, fmt.Errorf("%w: the trust file has no product %.40q; it has %s", ErrProduct, name, strings.Join(sortedKeys(s.Products), ", "))
	}
	return t, nil
}

// Limits bound what a verifier downloads.
type Limits struct {
	TaskBytes      int64 // a task definition
	DocumentBytes  int64 // a chain-of-trust.json
	TaskGraphBytes int64 // a public/task-graph.json
	ArtifactBytes  int64 // any other artifact, after decompression
}

// DefaultLimits are the limits when the trust file sets none.
var DefaultLimits = Limits{
	TaskBytes:      MaxTaskBytes,
	DocumentBytes:  MaxDocumentBytes,
	TaskGraphBytes: 256 << 20,
	ArtifactBytes:  64 << 30,
}

// A RepositoryRule matches trusted repository URLs: scheme, host, and a
// path regular expression whose group "path" is the repository's name in
// restricted_trees (scriptworker's trusted_vcs_rules).
type RepositoryRule struct {
	Schemes []string
	Hosts   []string
	Paths   []*regexp.Regexp
}

// productFile is one product as written in the trust file.
type productFile struct {
	VCS                          string              `yaml:"vcs"`
	Keys                         map[string][]string `yaml:"keys"`
	WorkerPoolKeys               map[string][]string `yaml:"worker_pool_keys"`
	ScriptworkerProvisioners     []string            `yaml:"scriptworker_provisioners"`
	DecisionWorkerPools          []string            `yaml:"decision_worker_pools"`
	DockerImageWorkerPools       []string            `yaml:"docker_image_worker_pools"`
	PrebuiltDockerImageTaskTypes []string            `yaml:"prebuilt_docker_image_task_types"`
	SourceEnvPrefix              string              `yaml:"source_env_prefix"`
	Repositories                 []struct {
		Schemes []string `yaml:"schemes"`
		Hosts   []string `yaml:"hosts"`
		Paths   []string `yaml:"paths"`
	} `yaml:"repositories"`
	RestrictedScopes map[string]string   `yaml:"restricted_scopes"`
	RestrictedTrees  map[string][]string `yaml:"restricted_trees"`
	TasksFor         []string            `yaml:"tasks_for"`
	TrySchedulerIDs  []string            `yaml:"try_scheduler_ids"`
	GitHubOwner      string              `yaml:"official_github_repos_owner"`
	ProjectLevels    map[string]string   `yaml:"project_levels"`
	PushlogURL       string              `yaml:"pushlog_url"`
	MaxChainLength   int                 `yaml:"max_chain_length"`
	Limits           struct {
		TaskBytes      int64 `yaml:"task_bytes"`
		DocumentBytes  int64 `yaml:"document_bytes"`
		TaskGraphBytes int64 `yaml:"task_graph_bytes"`
		ArtifactBytes  int64 `yaml:"artifact_bytes"`
	} `yaml:"limits"`
}

// setFile is a trust file of several products.
type setFile struct {
	Products       map[string]productFile `yaml:"products"`
	DefaultProduct string                 `yaml:"default_product"`
}

// LoadTrust reads and parses the trust file at path and selects product
// (the default one if "").
func LoadTrust(path, product string) (*Trust, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxTrustBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxTrustBytes {
		return nil, fmt.Errorf("trust file %s is larger than %d bytes", path, MaxTrustBytes)
	}
	set, err := ParseTrustSet(b)
	if err != nil {
		return nil, fmt.Errorf("trust file %s: %w", path, err)
	}
	t, err := set.Select(product)
	if err != nil {
		return nil, fmt.Errorf("trust file %s: %w", path, err)
	}
	t.Source = path
	return t, nil
}

// ParseTrust parses a trust configuration and returns its default
// product (see ParseTrustSet).
func ParseTrust(b []byte) (*Trust, error) {
	set, err := ParseTrustSet(b)
	if err != nil {
		return nil, err
	}
	return set.Select("")
}

// ParseTrustSet parses a trust configuration strictly: unknown fields are
// errors, since a misspelt rule in a security configuration must not pass
// silently. The file is either one product (its fields at the top level,
// the original form) or "products:", a map of product name to the same
// fields, with an optional "default_product:".
func ParseTrustSet(b []byte) (*TrustSet, error) {
	if len(b) > MaxTrustBytes {
		return nil, fmt.Errorf("trust configuration is %d bytes; the limit is %d", len(b), MaxTrustBytes)
	}
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("not a valid trust configuration: %w", err)
	}
	strict := func(v any) error {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(v); err != nil {
			return fmt.Errorf("not a valid trust configuration: %w", err)
		}
		return nil
	}
	if _, multi := top["products"]; !multi {
		var pf productFile
		if err := strict(&pf); err != nil {
			return nil, err
		}
		t, err := parseProduct(pf)
		if err != nil {
			return nil, err
		}
		return &TrustSet{Products: map[string]*Trust{"": t}, Default: ""}, nil
	}
	var sf setFile
	if err := strict(&sf); err != nil {
		return nil, fmt.Errorf("%w (a trust file with products: has only products and default_product at the top)", err)
	}
	if len(sf.Products) == 0 {
		return nil, errors.New("products is empty")
	}
	set := &TrustSet{Products: map[string]*Trust{}}
	var errs []string
	for name, pf := range sf.Products {
		if !validTypeName(name) {
			errs = append(errs, fmt.Sprintf("products: %.40q is not a product name (letters, digits, - and _)", name))
			continue
		}
		t, err := parseProduct(pf)
		if err != nil {
			errs = append(errs, fmt.Sprintf("products.%s: %v", name, err))
			continue
		}
		t.Product = name
		set.Products[name] = t
	}
	switch {
	case sf.DefaultProduct != "":
		if _, ok := sf.Products[sf.DefaultProduct]; !ok {
			errs = append(errs, fmt.Sprintf("default_product %.40q is not one of the products", sf.DefaultProduct))
		}
		set.Default = sf.DefaultProduct
	case len(sf.Products) == 1:
		for name := range sf.Products {
			set.Default = name
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return set, nil
}

func parseKeys(field string, in map[string][]string, valid func(string) bool, what string, bad func(string, ...any)) map[string][]ed25519.PublicKey {
	out := map[string][]ed25519.PublicKey{}
	for name, keys := range in {
		if !valid(name) {
			bad("%s: %.80q is not a %s", field, name, what)
			continue
		}
		if len(keys) == 0 {
			bad("%s.%s: no keys", field, name)
		}
		for i, k := range keys {
			pub, err := ParsePublicKey(k)
			if err != nil {
				bad("%s.%s[%d]: %v", field, name, i, err)
				continue
			}
			out[name] = append(out[name], pub)
		}
	}
	return out
}

func validPool(p string) bool {
	a, b, ok := strings.Cut(p, "/")
	return ok && a != "" && b != "" && !strings.Contains(b, "/")
}

func parseProduct(tf productFile) (*Trust, error) {
	t := &Trust{
		VCS:                          tf.VCS,
		ScriptworkerProvisioners:     tf.ScriptworkerProvisioners,
		DecisionWorkerPools:          tf.DecisionWorkerPools,
		DockerImageWorkerPools:       tf.DockerImageWorkerPools,
		PrebuiltDockerImageTaskTypes: tf.PrebuiltDockerImageTaskTypes,
		SourceEnvPrefix:              tf.SourceEnvPrefix,
		RestrictedScopes:             tf.RestrictedScopes,
		RestrictedTrees:              tf.RestrictedTrees,
		TasksFor:                     tf.TasksFor,
		TrySchedulerIDs:              tf.TrySchedulerIDs,
		GitHubOwner:                  tf.GitHubOwner,
		ProjectLevels:                tf.ProjectLevels,
		PushlogURL:                   tf.PushlogURL,
		MaxChainLength:               tf.MaxChainLength,
		Limits:                       DefaultLimits,
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	switch t.VCS {
	case "":
		t.VCS = "hg"
	case "hg", "github":
	default:
		bad("vcs %.20q is neither hg nor github", t.VCS)
	}
	if !slices.Contains(t.TrySchedulerIDs, "gecko-level-1") {
		t.TrySchedulerIDs = append(t.TrySchedulerIDs, "gecko-level-1")
	}
	if t.PushlogURL == "" {
		t.PushlogURL = "{repo}/json-pushes?changeset={revision}&version=2&full=1"
	}
	if len(tf.Keys) == 0 && len(tf.WorkerPoolKeys) == 0 {
		bad("keys: no worker implementation or pool has a key; nothing could verify")
	}
	t.Keys = parseKeys("keys", tf.Keys, validTypeName, "worker implementation name", bad)
	t.PoolKeys = parseKeys("worker_pool_keys", tf.WorkerPoolKeys, validPool, "worker pool of the form provisionerId/workerType", bad)
	if len(t.DecisionWorkerPools) == 0 {
		bad("decision_worker_pools is empty: no decision task could verify")
	}
	for _, p := range slices.Concat(t.DecisionWorkerPools, t.DockerImageWorkerPools) {
		if !validPool(p) {
			bad("worker pool %.80q is not of the form provisionerId/workerType", p)
		}
	}
	if len(t.PrebuiltDockerImageTaskTypes) == 0 {
		t.PrebuiltDockerImageTaskTypes = []string{"decision", "action", "docker-image"}
	}
	if t.SourceEnvPrefix == "" {
		bad("source_env_prefix is missing (e.g. GECKO, for GECKO_HEAD_REPOSITORY)")
	}
	if len(tf.Repositories) == 0 {
		bad("repositories is empty: no task could trace back to a trusted tree")
	}
	for i, r := range tf.Repositories {
		rule := RepositoryRule{Schemes: r.Schemes, Hosts: r.Hosts}
		if len(r.Schemes) == 0 || len(r.Hosts) == 0 || len(r.Paths) == 0 {
			bad("repositories[%d]: schemes, hosts and paths are all required", i)
		}
		for _, p := range r.Paths {
			re, err := regexp.Compile(p)
			if err != nil {
				bad("repositories[%d]: path %.80q: %v", i, p, err)
				continue
			}
			if re.SubexpIndex("path") < 0 {
				bad("repositories[%d]: path %.80q has no (?P<path>…) group naming the repository", i, p)
				continue
			}
			rule.Paths = append(rule.Paths, re)
		}
		t.Repositories = append(t.Repositories, rule)
	}
	for scope, level := range t.RestrictedScopes {
		if _, ok := t.RestrictedTrees[level]; !ok {
			bad("restricted_scopes: %.80q maps to level %.40q, which restricted_trees does not define", scope, level)
		}
	}
	if len(t.TasksFor) == 0 {
		bad("tasks_for is empty: list the valid extra.tasks_for values (e.g. hg-push, cron, action)")
	}
	switch {
	case t.MaxChainLength == 0:
		t.MaxChainLength = 20
	case t.MaxChainLength < 1 || t.MaxChainLength > 100:
		bad("max_chain_length %d is not between 1 and 100", t.MaxChainLength)
	}
	for _, l := range []struct {
		name string
		v    int64
		dst  *int64
	}{
		{"task_bytes", tf.Limits.TaskBytes, &t.Limits.TaskBytes},
		{"document_bytes", tf.Limits.DocumentBytes, &t.Limits.DocumentBytes},
		{"task_graph_bytes", tf.Limits.TaskGraphBytes, &t.Limits.TaskGraphBytes},
		{"artifact_bytes", tf.Limits.ArtifactBytes, &t.Limits.ArtifactBytes},
	} {
		switch {
		case l.v < 0:
			bad("limits.%s is negative", l.name)
		case l.v > 0:
			*l.dst = l.v
		}
	}
	t.Limits.TaskBytes = min(t.Limits.TaskBytes, MaxTaskBytes)
	t.Limits.DocumentBytes = min(t.Limits.DocumentBytes, MaxDocumentBytes)
	if len(errs) > 0 {
		slices.Sort(errs)
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return t, nil
}

// keysFor returns the keys that verify a document of a task on pool run by
// worker implementation impl, and what they are: a pool's own keys when
// the trust file lists the pool, else the implementation's.
func (t *Trust) keysFor(pool, impl string) ([]ed25519.PublicKey, string) {
	if keys, ok := t.PoolKeys[pool]; ok {
		return keys, "pool " + pool
	}
	return t.Keys[impl], impl
}

// ParsePublicKey parses a trusted key: standard base64 of either the raw
// 32-byte Ed25519 public key (scriptworker's format) or its DER
// SubjectPublicKeyInfo (the body of the PEM that 'signet key public'
// prints), or that PEM itself.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-----BEGIN PUBLIC KEY-----") {
		s = strings.TrimPrefix(s, "-----BEGIN PUBLIC KEY-----")
		body, _, ok := strings.Cut(s, "-----END PUBLIC KEY-----")
		if !ok {
			return nil, errors.New("PEM public key has no END line")
		}
		s = strings.Join(strings.Fields(body), "")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("key %.60q is not base64", s)
	}
	switch len(b) {
	case ed25519.PublicKeySize:
		return ed25519.PublicKey(b), nil
	case 44:
		pub, err := x509.ParsePKIXPublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("key %.60q: %v", s, err)
		}
		if k, ok := pub.(ed25519.PublicKey); ok {
			return k, nil
		}
	}
	return nil, fmt.Errorf("key %.60q is not an Ed25519 public key (32 raw bytes or a 44-byte SubjectPublicKeyInfo)", s)
}

// repositoryPath returns the name of the trusted repository url belongs to
// (the "path" group of the first matching rule), or "" if none.
func (t *Trust) repositoryPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	path, err := url.PathUnescape(u.EscapedPath())
	if err != nil {
		return ""
	}
	for _, r := range t.Repositories {
		if !slices.Contains(r.Schemes, u.Scheme) || !slices.Contains(r.Hosts, u.Host) {
			continue
		}
		for _, re := range r.Paths {
			m := re.FindStringSubmatch(path)
			if m == nil {
				continue
			}
			if p := m[re.SubexpIndex("path")]; p != "" {
				return p
			}
		}
	}
	return ""
}

// restrictedLevels returns the levels a task scope needs, none if the scope
// is not restricted. Scopes match exactly, or by Taskcluster's trailing-star
// rule in either direction, so a task holding "project:releng:*" counts as
// holding every restricted scope under it.
func (t *Trust) restrictedLevels(scope string) []string {
	var levels []string
	for r, level := range t.RestrictedScopes {
		if scopeCovers(scope, r) || scopeCovers(r, scope) {
			levels = append(levels, level)
		}
	}
	slices.Sort(levels)
	return slices.Compact(levels)
}

// scopeCovers reports whether holding scope a satisfies scope b.
func scopeCovers(a, b string) bool {
	if a == b {
		return true
	}
	prefix, star := strings.CutSuffix(a, "*")
	return star && strings.HasPrefix(b, prefix)
}
