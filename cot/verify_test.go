package cot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/signet-dev/signet/cot"
	"github.com/signet-dev/signet/cot/cottest"
)

// serve starts g on loopback and returns verification options for it.
func serve(t testing.TB, g *cottest.Graph) cot.Options {
	t.Helper()
	srv := httptest.NewServer(g.Handler)
	t.Cleanup(srv.Close)
	q, err := cot.NewQueue(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	q.MinBackoff, q.MaxBackoff = 1, 1
	tr, err := cot.ParseTrust([]byte(g.TrustYAML()))
	if err != nil {
		t.Fatal(err)
	}
	// No network: the json-e rebuild reads its inputs from an empty
	// directory, so it is skipped unless a test provides them.
	return cot.Options{Trust: tr, Queue: q, Offline: t.TempDir()}
}

func verify(t testing.TB, g *cottest.Graph, root string, o cot.Options) *cot.Result {
	t.Helper()
	res, err := cot.Verify(context.Background(), g.ByRole[root].ID, o)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return res
}

func tree(r *cot.Result) string {
	var b bytes.Buffer
	r.WriteTree(&b)
	return b.String()
}

func TestVerifyGood(t *testing.T) {
	for _, style := range []string{cottest.StyleNative, cottest.StyleGenericWorker, cottest.StyleScriptworker} {
		for _, root := range []string{"signing", "beetmover"} {
			t.Run(style+"/"+root, func(t *testing.T) {
				g := cottest.New(cottest.Options{Style: style})
				res := verify(t, g, root, serve(t, g))
				if !res.Verified {
					t.Fatalf("chain did not verify:\n%s", tree(res))
				}
				out := tree(res)
				for _, want := range []string{"✓ " + root + " ", "decision", "docker-image", "chain of trust verified"} {
					if !strings.Contains(out, want) {
						t.Errorf("tree lacks %q:\n%s", want, out)
					}
				}
				t.Logf("\n%s", out)
			})
		}
	}
}

func jsonCompact(dst *bytes.Buffer, src []byte) error { return json.Compact(dst, src) }

// TestVerifyAction verifies a task created by an action task: its parent
// is the action (extra.parent), whose parent is the decision task, and each
// must list its children in its own task graph.
func TestVerifyAction(t *testing.T) {
	g := cottest.New(cottest.Options{})
	dec, win := g.ByRole["decision"], g.ByRole["build-windows"]
	act := g.Add("action", "docker-worker", "test-3/decision", dec)
	act.Def["payload"] = map[string]any{"image": "example/decision:v1", "env": map[string]any{
		"PRODUCT_HEAD_REPOSITORY": cottest.Repo, "ACTION_CALLBACK": "release_promotion_action"}, "features": map[string]any{"chainOfTrust": true}}
	act.Def["extra"] = map[string]any{"tasks_for": "action", "parent": dec.ID, "action": map[string]any{"name": "release-promotion"}}
	rel := g.Add("release-signing", "scriptworker", "scriptworker-k8s/test-3-signing", dec)
	rel.Def["extra"] = map[string]any{"parent": act.ID}
	rel.Def["payload"] = map[string]any{"upstreamArtifacts": []any{
		map[string]any{"taskId": win.ID, "taskType": "build", "paths": []any{"public/build/target.zip"}}}}
	rel.Def["scopes"] = []any{"project:test:signing:cert:release-signing"}
	g.Publish()
	o := serve(t, g)
	o.TaskType = "signing"
	res := verify(t, g, "release-signing", o)
	if !res.Verified {
		t.Fatalf("did not verify:\n%s", tree(res))
	}
	out := tree(res)
	for _, want := range []string{"signing:action " + act.ID + " (action,", "signing:action:decision " + dec.ID, "signing:build " + win.ID} {
		if !strings.Contains(out, want) {
			t.Errorf("tree lacks %q:\n%s", want, out)
		}
	}

	// The action's graph must list what it created.
	g.OmitFromGraph = map[string]bool{rel.ID: true}
	g.Publish()
	o = serve(t, g)
	o.TaskType = "signing"
	res = verify(t, g, "release-signing", o)
	if res.Verified || !strings.Contains(tree(res), "not in the task graph of signing:action") {
		t.Fatalf("verified a task missing from its action's graph:\n%s", tree(res))
	}
}

// TestVerifyWildcard consumes upstream artifacts by pattern, as
// scriptworker does: the producer's artifacts are listed through the
// Queue (paged here, two names a page), each match must be in its signed
// document, and a pattern that matches nothing fails unless optional.
func TestVerifyWildcard(t *testing.T) {
	tests := []struct {
		name     string
		pattern  string
		optional bool
		want     string // "" verifies
		arts     []string
	}{
		{name: "matches the zip", pattern: "public/build/*.zip", arts: []string{"public/build/target.zip"}},
		{name: "star crosses slashes", pattern: "public/*.zip*", arts: []string{"public/build/target.zip", "public/build/target.zip.asc"}},
		{name: "match not signed", pattern: "public/*", want: "public/chain-of-trust.json: not in the signed artifacts"},
		{name: "no match", pattern: "public/build/*.dmg", want: "matches none of the"},
		{name: "no match, optional", pattern: "public/build/*.dmg", optional: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := cottest.New(cottest.Options{})
			g.ListPageSize = 2
			sign, win := g.ByRole["signing"], g.ByRole["build-windows"]
			for _, u := range sign.Def["payload"].(map[string]any)["upstreamArtifacts"].([]any) {
				if m := u.(map[string]any); m["taskId"] == win.ID {
					m["paths"] = []any{tc.pattern}
					m["optional"] = tc.optional
				}
			}
			g.Publish()
			o := serve(t, g)
			o.TaskType = "signing"
			res := verify(t, g, "signing", o)
			out := tree(res)
			if tc.want != "" {
				if res.Verified || !strings.Contains(out, tc.want) {
					t.Fatalf("want a failure saying %q:\n%s", tc.want, out)
				}
				return
			}
			if !res.Verified {
				t.Fatalf("did not verify:\n%s", out)
			}
			var got []string
			for _, a := range res.Artifacts {
				if a.TaskID == win.ID {
					got = append(got, a.Path)
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.arts, " ") {
				t.Errorf("artifacts of build-windows verified: %v, want %v", got, tc.arts)
			}
			if g.Hits["/api/queue/v1/task/"+win.ID+"/artifacts"] < 2 {
				t.Errorf("listing not paged: %v", g.Hits)
			}
		})
	}
}

// TestVerifyCheckTask verifies the task under test's own document after it
// ran (scriptworker's check_task): a bad signature on it passes unseen
// without the option and fails with it; a decision task under test gets
// its task graph checked.
func TestVerifyCheckTask(t *testing.T) {
	g := cottest.New(cottest.Options{})
	o := serve(t, g)
	o.CheckTask, o.TaskType = true, "signing"
	res := verify(t, g, "signing", o)
	if !res.Verified {
		t.Fatalf("did not verify:\n%s", tree(res))
	}
	sig := false
	for _, c := range res.Links[0].Checks {
		sig = sig || c.Name == "signature" && c.Status == cot.OK
	}
	if !sig {
		t.Errorf("the task under test has no signature check:\n%s", tree(res))
	}

	s := g.ByRole["signing"]
	s.Key = cottest.NewKeyForTest()
	g.Sign(s)
	o.CheckTask = false
	if res := verify(t, g, "signing", o); !res.Verified {
		t.Fatalf("without CheckTask the root's document is not read, yet it failed:\n%s", tree(res))
	}
	o.CheckTask = true
	res = verify(t, g, "signing", o)
	if res.Verified || !strings.Contains(tree(res), "✗ signature: public/chain-of-trust.json.sig does not verify") {
		t.Fatalf("CheckTask passed a root signed with an untrusted key:\n%s", tree(res))
	}

	// A decision task under test: its task graph must list its children.
	g = cottest.New(cottest.Options{})
	o = serve(t, g)
	o.CheckTask, o.TaskType = true, "decision"
	res = verify(t, g, "decision", o)
	if !res.Verified || !strings.Contains(tree(res), "✓ decision ") {
		t.Fatalf("decision under test did not verify:\n%s", tree(res))
	}
	found := false
	for _, c := range res.Links[0].Checks {
		found = found || c.Name == "task graph" && c.Status == cot.OK
	}
	if !found {
		t.Errorf("the decision task under test had no task graph check:\n%s", tree(res))
	}
}
