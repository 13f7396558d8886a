package cot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// DefaultGitHubAPI is the GitHub REST API that Options.GitHubAPI defaults to.
const DefaultGitHubAPI = "https://api.github.com"

// gitHub answers the questions scriptworker asks GitHub about a task's
// commit, through the REST API (never scraped pages):
//
//	GET {api}/repos/{owner}/{repo}/branches?protected=true&per_page=100&page=N
//	GET {api}/repos/{owner}/{repo}/compare/{branch}...{revision}
//
// A revision has landed when, for some protected branch, the comparison
// says "identical" or "behind" (the revision is an ancestor of the branch
// head). scriptworker accepts any branch; a protected one is stricter, as
// only reviewed pushes reach it.
type gitHub struct {
	api  string
	web  *Queue
	mu   sync.Mutex
	seen map[string]*landing
}

type landing struct {
	done   chan struct{}
	landed bool
	where  string
	err    error
}

// maxProtectedBranches bounds how many protected branches are compared.
const maxProtectedBranches = 200

func newGitHub(o Options) *gitHub {
	api := o.GitHubAPI
	if api == "" {
		api = DefaultGitHubAPI
	}
	h := http.Header{"Accept": {"application/vnd.github+json"}, "X-Github-Api-Version": {"2022-11-28"}}
	if o.GitHubToken != "" {
		h.Set("Authorization", "Bearer "+o.GitHubToken)
	}
	return &gitHub{api: strings.TrimRight(api, "/"), web: o.Queue.web(o.HTTPClient, h), seen: map[string]*landing{}}
}

var githubName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)

// landed reports whether revision (a commit hash or tag) is on a
// protected branch of owner/repo, and which. Each question is asked once
// per verification.
func (g *gitHub) landed(ctx context.Context, owner, repo, revision string) (bool, string, error) {
	key := owner + "/" + repo + "@" + revision
	g.mu.Lock()
	l, ok := g.seen[key]
	if !ok {
		l = &landing{done: make(chan struct{})}
		g.seen[key] = l
	}
	g.mu.Unlock()
	if ok {
		select {
		case <-l.done:
			return l.landed, l.where, l.err
		case <-ctx.Done():
			return false, "", ctx.Err()
		}
	}
	l.landed, l.where, l.err = g.ask(ctx, owner, repo, revision)
	close(l.done)
	return l.landed, l.where, l.err
}

func (g *gitHub) ask(ctx context.Context, owner, repo, revision string) (bool, string, error) {
	if !githubName.MatchString(owner) || !githubName.MatchString(repo) || strings.Trim(owner+repo, ".") != owner+repo {
		return false, "", fmt.Errorf("%.80q/%.80q is not a GitHub repository name", owner, repo)
	}
	if revision == "" || len(revision) > 255 || strings.ContainsAny(revision, " ~^:?*[\\") || strings.Contains(revision, "..") {
		return false, "", fmt.Errorf("%.80q is not a git revision", revision)
	}
	base := g.api + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo)
	var branches []string
	for page := 1; ; page++ {
		b, err := g.web.getBytes(ctx, fmt.Sprintf("%s/branches?protected=true&per_page=100&page=%d", base, page), 8<<20)
		if err != nil {
			return false, "", fmt.Errorf("GitHub protected branches of %s/%s: %w", owner, repo, err)
		}
		var list []struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(b, &list); err != nil {
			return false, "", fmt.Errorf("GitHub protected branches of %s/%s: not a JSON list of branches: %w", owner, repo, err)
		}
		for _, br := range list {
			branches = append(branches, br.Name)
		}
		if len(list) < 100 || len(branches) >= maxProtectedBranches {
			break
		}
	}
	slices.Sort(branches)
	branches = slices.Compact(branches)
	if len(branches) > maxProtectedBranches {
		branches = branches[:maxProtectedBranches]
	}
	for _, br := range branches {
		segs := strings.Split(br, "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		b, err := g.web.getBytes(ctx, base+"/compare/"+strings.Join(segs, "/")+"..."+url.PathEscape(revision), 32<<20)
		if NotFound(err) {
			return false, "", nil // no such commit or tag in the repository
		}
		if err != nil {
			return false, "", fmt.Errorf("GitHub comparison of %s with %s in %s/%s: %w", revision, br, owner, repo, err)
		}
		var cmp struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal(b, &cmp); err != nil {
			return false, "", fmt.Errorf("GitHub comparison of %s with %s in %s/%s: not JSON: %w", revision, br, owner, repo, err)
		}
		if cmp.Status == "identical" || cmp.Status == "behind" {
			return true, br, nil
		}
	}
	return false, "", nil
}

// isGitHubURL is scriptworker's is_github_url.
func isGitHubURL(s string) bool {
	return strings.HasPrefix(s, "https://github.com/") || strings.HasPrefix(s, "ssh://github.com/")
}

// githubRepo returns the owner and name of a GitHub repository URL
// (https, ssh or git@github.com:), and with source, the revision that
// follows them in a metadata.source URL (.../OWNER/REPO/blob/REV/...).
func githubRepo(raw string, source bool) (owner, repo, rev string, ok bool) {
	raw = strings.Replace(raw, "git@github.com:", "ssh://github.com/", 1)
	if !isGitHubURL(raw) {
		return "", "", "", false
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", "", false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return "", "", "", false
	}
	owner, repo = parts[0], strings.TrimSuffix(parts[1], ".git")
	if source {
		if len(parts) < 4 || parts[3] == "" {
			return "", "", "", false
		}
		rev = parts[3]
	}
	return owner, repo, rev, true
}

// isGitHubTask is scriptworker's is_github_task.
func isGitHubTask(t *Task) bool {
	tf, _ := t.TasksFor()
	return t.SchedulerID == "taskcluster-github" || strings.HasPrefix(tf, "github-") || isGitHubURL(t.Source())
}

// tryOrPullRequest reports why t is a try or pull-request task, "" if it
// is not, as scriptworker's is_try_or_pull_request decides, with two
// stricter rules: a try scheduler or a pull-request tasks_for counts
// whether or not the task is a GitHub one, and a GitHub commit must be on
// a protected branch rather than any branch.
func (v *verifier) tryOrPullRequest(ctx context.Context, t *Task) (string, error) {
	prefix := v.t.SourceEnvPrefix
	if slices.Contains(v.t.TrySchedulerIDs, t.SchedulerID) {
		return "schedulerId " + t.SchedulerID + " is a try scheduler", nil
	}
	if tf, _ := t.TasksFor(); tf == "github-pull-request" || tf == "github-pull-request-untrusted" {
		return "extra.tasks_for is " + tf, nil
	}
	if !isGitHubTask(t) {
		if strings.Contains(t.Env("MH_BRANCH"), "try") {
			return "payload.env.MH_BRANCH " + t.Env("MH_BRANCH") + " is try", nil
		}
		for _, s := range []string{t.Env(prefix + "_HEAD_REPOSITORY"), t.Source()} {
			if u, err := url.Parse(s); err == nil {
				first, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
				if strings.Contains(first, "try") {
					return s + " is a try repository", nil
				}
			}
		}
		return "", nil
	}
	if v.t.GitHubOwner == "" {
		return "it is a GitHub task and the trust file names no official_github_repos_owner to tell a pull request from a push", nil
	}
	for _, c := range []struct {
		what, repo, rev string
		source          bool
	}{
		{prefix + "_HEAD_REPOSITORY", strings.TrimRight(t.Env(prefix+"_HEAD_REPOSITORY"), "/"), t.Env(prefix + "_HEAD_REV"), false},
		{"metadata.source", t.Source(), "", true},
	} {
		if c.repo == "" && !c.source {
			continue // scriptworker tasks name no repository
		}
		owner, repo, rev, ok := githubRepo(c.repo, c.source)
		if !ok {
			return fmt.Sprintf("%s %.200s is not a GitHub repository URL%s", c.what, c.repo, map[bool]string{true: " with a revision", false: ""}[c.source]), nil
		}
		if c.source {
			c.rev = rev
		}
		if owner != v.t.GitHubOwner {
			return fmt.Sprintf("%s %s belongs to %s, not the official owner %s", c.what, c.repo, owner, v.t.GitHubOwner), nil
		}
		if c.rev == "" {
			continue
		}
		landed, _, err := v.github.landed(ctx, owner, repo, c.rev)
		if err != nil {
			if Transient(err) {
				return "", err
			}
			return fmt.Sprintf("%s revision %s: %v", c.what, c.rev, err), nil
		}
		if !landed {
			return fmt.Sprintf("%s revision %.80s has not landed on a protected branch of %s/%s", c.what, c.rev, owner, repo), nil
		}
	}
	return "", nil
}
