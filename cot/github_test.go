package cot_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/signet-dev/signet/cot"
	"github.com/signet-dev/signet/cot/cottest"
)

// fakeGitHub is the part of the GitHub REST API the verifier asks: the
// protected branches of example-org/product (a first page of 100 that
// never hold the commit, then main) and comparisons of main with a
// revision, "behind" for landed revisions.
type fakeGitHub struct {
	mu     sync.Mutex
	landed map[string]bool
	hits   map[string]int
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hits[r.URL.Path]++
	const base = "/api/v3/repos/example-org/product/"
	rest, ok := strings.CutPrefix(r.URL.Path, base)
	if !ok || r.Header.Get("Accept") != "application/vnd.github+json" {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case rest == "branches":
		if r.URL.Query().Get("protected") != "true" {
			http.Error(w, `{"message":"only protected branches in this fake"}`, http.StatusBadRequest)
			return
		}
		var list []map[string]any
		switch r.URL.Query().Get("page") {
		case "1":
			for i := range 100 {
				list = append(list, map[string]any{"name": fmt.Sprintf("release/v%d", i), "protected": true})
			}
		case "2":
			list = append(list, map[string]any{"name": "main", "protected": true})
		}
		json.NewEncoder(w).Encode(list)
	case strings.HasPrefix(rest, "compare/"):
		base, head, ok := strings.Cut(strings.TrimPrefix(rest, "compare/"), "...")
		if !ok {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		status := "diverged"
		if base == "main" && f.landed[head] {
			status = "behind"
		}
		json.NewEncoder(w).Encode(map[string]any{"status": status, "ahead_by": 0, "behind_by": 3})
	default:
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	}
}

// githubTrust edits the graph's trust for a GitHub product owned by
// example-org (also trusting contributor/product, to isolate the owner
// check).
func githubTrust(y string) string {
	y = strings.Replace(y, "hosts: [hg.example.org]", "hosts: [github.com]", 1)
	y = strings.Replace(y, `'^(?P<path>/releases/product)(/|$)', '^(?P<path>/try)(/|$)'`, `'^(?P<path>/example-org/product)(/|$)', '^(?P<path>/contributor/product)(/|$)'`, 1)
	y = strings.Replace(y, "release: [/releases/product]", "release: [/example-org/product, /contributor/product]", 1)
	y = strings.Replace(y, "tasks_for: [hg-push, cron, action]", "tasks_for: [github-push, github-pull-request, github-pull-request-untrusted, cron, action]", 1)
	return y + "vcs: github\nofficial_github_repos_owner: example-org\n"
}

// TestVerifyGitHub runs a chain with restricted scopes from a GitHub
// repository through scriptworker's is_pull_request checks, asking a fake
// GitHub API on loopback: the commit must have landed on a protected
// branch of a repository of the official owner.
func TestVerifyGitHub(t *testing.T) {
	tests := []struct {
		name   string
		repo   string
		landed bool
		trust  func(string) string
		want   string // "" verifies
	}{
		{name: "landed on a protected branch", repo: "https://github.com/example-org/product", landed: true},
		{name: "not landed", repo: "https://github.com/example-org/product", want: "has not landed on a protected branch of example-org/product"},
		{name: "fork of another owner", repo: "https://github.com/contributor/product", landed: true, want: "belongs to contributor, not the official owner example-org"},
		{
			name: "no official owner configured", repo: "https://github.com/example-org/product", landed: true,
			trust: func(y string) string { return strings.Replace(y, "official_github_repos_owner: example-org\n", "", 1) },
			want:  "names no official_github_repos_owner",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := cottest.New(cottest.Options{})
			g.ByRole["decision"].Def["extra"] = map[string]any{"tasks_for": "github-push"}
			g.UseRepository(tc.repo)
			gh := &fakeGitHub{landed: map[string]bool{}, hits: map[string]int{}}
			if tc.landed {
				gh.landed[cottest.Rev] = true
			}
			api := httptest.NewServer(gh)
			defer api.Close()
			o := serve(t, g)
			y := githubTrust(g.TrustYAML())
			if tc.trust != nil {
				y = tc.trust(y)
			}
			tr, err := cot.ParseTrust([]byte(y))
			if err != nil {
				t.Fatal(err)
			}
			o.Trust, o.TaskType, o.GitHubAPI = tr, "signing", api.URL+"/api/v3"
			res := verify(t, g, "signing", o)
			if tc.want == "" {
				if !res.Verified {
					t.Fatalf("did not verify:\n%s", tree(res))
				}
				if gh.hits["/api/v3/repos/example-org/product/branches"] != 2 {
					t.Errorf("branch pages fetched: %v; want both pages, each once", gh.hits)
				}
				return
			}
			if res.Verified || !strings.Contains(tree(res), "✗ restricted scopes: ") || !strings.Contains(tree(res), tc.want) {
				t.Fatalf("want a restricted scopes failure saying %q:\n%s", tc.want, tree(res))
			}
		})
	}
}

// TestVerifyGitHubDown: a GitHub API that keeps failing prevents a
// verdict (an error, exit 1), rather than passing or failing the chain.
func TestVerifyGitHubDown(t *testing.T) {
	g := cottest.New(cottest.Options{})
	g.ByRole["decision"].Def["extra"] = map[string]any{"tasks_for": "github-push"}
	g.UseRepository("https://github.com/example-org/product")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unicorn", http.StatusServiceUnavailable)
	}))
	defer api.Close()
	o := serve(t, g)
	tr, err := cot.ParseTrust([]byte(githubTrust(g.TrustYAML())))
	if err != nil {
		t.Fatal(err)
	}
	o.Trust, o.TaskType, o.GitHubAPI = tr, "signing", api.URL
	o.Queue.Retries = 1
	_, err = cot.Verify(t.Context(), g.ByRole["signing"].ID, o)
	if err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("err = %v, want the GitHub API's HTTP 503", err)
	}
}
