package cot_test

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/signet-dev/signet/cot"
	"github.com/signet-dev/signet/cot/cottest"
)

const goodDoc = `{
  "chainOfTrustVersion": 1,
  "artifacts": {
    "public/build/target.tar.gz": {
      "sha256": "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
    },
    "public/logs/live.log": {
      "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
      "sha512": "ee26b0dd4af7e749aa1a8ee3c10ae9923f618980772e473f8819a5d4940e0db27ac185f8a0e1d5f84f88bc887fd67b143732c304cc5fa9ad8e6f57f50028a8ff"
    }
  },
  "task": {"provisionerId": "p", "workerType": "w", "payload": {}, "taskGroupId": "AAAAAAAAQAOAAAAAAAAAAA"},
  "taskId": "AAAAAAAAQAOAAAAAAAAAAA",
  "runId": 0,
  "workerGroup": "us-east-1",
  "workerId": "i-1",
  "environment": {"imageArtifactHash": "sha256:00"},
  "someFutureField": [1, 2, 3]
}`

func TestParseDocument(t *testing.T) {
	d, err := cot.ParseDocument([]byte(goodDoc))
	if err != nil {
		t.Fatal(err)
	}
	if d.TaskID != "AAAAAAAAQAOAAAAAAAAAAA" || d.WorkerGroup != "us-east-1" || len(d.Artifacts) != 2 {
		t.Fatalf("parsed %+v", d)
	}
	if got := d.Artifacts["public/build/target.tar.gz"]["sha256"]; got != strings.ToLower(got) {
		t.Errorf("digest not lowercased: %s", got)
	}
	bad := []struct{ name, doc, want string }{
		{"duplicate key", strings.Replace(goodDoc, `"runId": 0,`, `"runId": 0, "runId": 1,`, 1), "duplicate key"},
		{"duplicate artifact", strings.Replace(goodDoc, `"public/logs/live.log": {`, `"public/build/target.tar.gz": {`, 1), "duplicate key"},
		{"trailing data", goodDoc + "{}", "data after"},
		{"invalid UTF-8", strings.Replace(goodDoc, "us-east-1", "us-\xff", 1), "UTF-8"},
		{"version 2", strings.Replace(goodDoc, `"chainOfTrustVersion": 1`, `"chainOfTrustVersion": 2`, 1), "only version 1"},
		{"no task id", strings.Replace(goodDoc, `"taskId": "AAAAAAAAQAOAAAAAAAAAAA",`, ``, 1), "taskId is missing"},
		{"bad task id", strings.Replace(goodDoc, `"taskId": "AAAAAAAAQAOAAAAAAAAAAA"`, `"taskId": "../../x"`, 1), "not a Taskcluster task id"},
		{"runId not integer", strings.Replace(goodDoc, `"runId": 0`, `"runId": 0.5`, 1), "not an integer"},
		{"short digest", strings.Replace(goodDoc, `"sha256": "9f86`, `"sha256": "9f8`, 1), "not 32 hex bytes"},
		{"digest not a string", strings.Replace(goodDoc, `"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",`, `"sha256": 5,`, 1), "not a string"},
		{"artifacts not object", strings.Replace(goodDoc, `"artifacts": {`, `"artifacts": [], "x": {`, 1), "artifacts is missing or not an object"},
		{"task without payload", strings.Replace(goodDoc, `"payload": {}, `, ``, 1), "payload is missing"},
		{"not an object", `[1]`, "not a JSON object"},
		{"empty", ``, "not valid JSON"},
		{"deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), "nested deeper"},
		{"truncated", goodDoc[:200], "JSON"},
		{"too big", `{"x":"` + strings.Repeat("a", cot.MaxDocumentBytes) + `"}`, "limit"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cot.ParseDocument([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzParseDocument checks that no input panics and that whatever parses
// keeps the documented guarantees.
func FuzzParseDocument(f *testing.F) {
	f.Add([]byte(goodDoc))
	g := cottest.New(cottest.Options{})
	for _, style := range []string{cottest.StyleGenericWorker, cottest.StyleScriptworker} {
		g.Style = style
		g.Publish()
		for _, tk := range g.Tasks {
			f.Add(g.ServedData(tk.ID, "public/chain-of-trust.json"))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := cot.ParseDocument(b)
		if err != nil {
			return
		}
		if !cot.ValidTaskID(d.TaskID) || d.ChainOfTrustVersion != 1 || d.Task == nil || d.Task.Payload == nil {
			t.Fatalf("parsed an invalid document: %+v", d)
		}
		for name, dg := range d.Artifacts {
			if name == "" {
				t.Fatal("empty artifact name")
			}
			for _, alg := range []string{"sha256", "sha512"} {
				if s, ok := dg[alg]; ok {
					if b, err := hex.DecodeString(s); err != nil || s != strings.ToLower(s) || (alg == "sha256" && len(b) != 32) {
						t.Fatalf("bad %s digest %q", alg, s)
					}
				}
			}
		}
	})
}

const goodTrust = `
keys:
  generic-worker:
    - Kz/aZIVeR6NP8gQU1U+2CCIZqvbd+4QCP6J63lflwik=
    - MCowBQYDK2VwAyEAKz/aZIVeR6NP8gQU1U+2CCIZqvbd+4QCP6J63lflwik=
  scriptworker:
    - |
      -----BEGIN PUBLIC KEY-----
      MCowBQYDK2VwAyEAjFmyvf3lQiiX0qIFxal5KgIIq6VpUBTQfAtD6hEi8Ms=
      -----END PUBLIC KEY-----
scriptworker_provisioners: [scriptworker-k8s]
decision_worker_pools: [gecko-3/decision]
docker_image_worker_pools: [gecko-3/images]
source_env_prefix: GECKO
repositories:
  - schemes: [https, ssh]
    hosts: [hg.mozilla.org]
    paths: ['^(?P<path>/mozilla-central)(/|$)', '^(?P<path>/releases/mozilla-(beta|release))(/|$)']
restricted_scopes:
  project:releng:signing:cert:release-signing: all-release-branches
restricted_trees:
  all-release-branches: [/releases/mozilla-beta, /releases/mozilla-release]
tasks_for: [hg-push, cron, action]
limits: {artifact_bytes: 1000000}
`

func TestParseTrust(t *testing.T) {
	tr, err := cot.ParseTrust([]byte(goodTrust))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Keys["generic-worker"]) != 2 || len(tr.Keys["scriptworker"]) != 1 || tr.MaxChainLength != 20 || tr.Limits.ArtifactBytes != 1000000 {
		t.Fatalf("parsed %+v", tr)
	}
	if string(tr.Keys["generic-worker"][0]) != string(tr.Keys["generic-worker"][1]) {
		t.Error("raw and SubjectPublicKeyInfo forms of one key differ")
	}
	bad := []struct{ name, want string }{
		{"unknown field", "field restricted_scope not found"},
		{"bad key", "not an Ed25519 public key"},
		{"level without trees", "which restricted_trees does not define"},
		{"regexp without path", "no (?P<path>"},
		{"bad pool", "provisionerId/workerType"},
		{"no tasks_for", "tasks_for is empty"},
		{"not yaml", "not a valid trust configuration"},
	}
	edits := map[string]func(string) string{
		"unknown field": func(s string) string { return s + "\nrestricted_scope: {}\n" },
		"bad key": func(s string) string {
			return strings.Replace(s, "Kz/aZIVeR6NP8gQU1U+2CCIZqvbd+4QCP6J63lflwik=", "AAAA", 1)
		},
		"level without trees": func(s string) string { return strings.Replace(s, ": all-release-branches", ": nightly", 1) },
		"regexp without path": func(s string) string {
			return strings.Replace(s, "(?P<path>/mozilla-central)", "(/mozilla-central)", 1)
		},
		"bad pool":     func(s string) string { return strings.Replace(s, "gecko-3/decision", "decision", 1) },
		"no tasks_for": func(s string) string { return strings.Replace(s, "tasks_for: [hg-push, cron, action]", "", 1) },
		"not yaml":     func(s string) string { return "keys: [" },
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cot.ParseTrust([]byte(edits[tc.name](goodTrust)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzParseTrust(f *testing.F) {
	f.Add([]byte(goodTrust))
	f.Add([]byte(cottest.New(cottest.Options{}).TrustYAML()))
	f.Add([]byte("keys: &a [*a]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := cot.ParseTrust(b)
		if err != nil {
			return
		}
		if len(tr.Keys) == 0 || len(tr.DecisionWorkerPools) == 0 || len(tr.Repositories) == 0 || tr.MaxChainLength < 1 {
			t.Fatalf("accepted an unusable trust configuration: %+v", tr)
		}
		for _, keys := range tr.Keys {
			for _, k := range keys {
				if len(k) != 32 {
					t.Fatalf("key of %d bytes", len(k))
				}
			}
		}
	})
}

// FuzzParseTask checks task definitions as the Queue serves them: no input
// panics, and the accessors verification uses never fail on what parses.
func FuzzParseTask(f *testing.F) {
	g := cottest.New(cottest.Options{})
	for _, tk := range g.Tasks {
		b, _ := json.Marshal(tk.Def)
		f.Add(b)
	}
	f.Add([]byte(`{"payload":{"upstreamArtifacts":[{"taskId":"AAAAAAAAQAOAAAAAAAAAAA","taskType":"build","paths":["a"]}]},"taskQueueId":"a/b"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := cot.ParseTask(b)
		if err != nil {
			return
		}
		tk.Upstreams()
		tk.Inputs()
		_ = tk.WorkerPool() + tk.ParentID() + tk.Source() + tk.Env("X")
		tk.IsAction()
		tk.TasksFor()
	})
}
