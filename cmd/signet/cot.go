package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/signet-dev/signet/cot"
)

// errChainFailed exits 3: the chain of trust did not verify.
var errChainFailed = &exitCode{errors.New("chain of trust not verified"), 3}

func runCoT(env *cmdEnv, args []string) error {
	if len(args) == 0 {
		return usagef("cot needs a subcommand: sign, verify or fetch")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "sign":
		return runCoTSign(env, rest)
	case "verify":
		return runCoTVerify(env, rest, false)
	case "fetch":
		return runCoTVerify(env, rest, true)
	default:
		return usagef("unknown cot subcommand %q: use sign, verify or fetch", sub)
	}
}

func runCoTSign(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("cot sign", flag.ContinueOnError)
	cf := clientFlags(fs)
	key := fs.String("key", "", "")
	out := fs.String("o", "", "")
	files, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *key == "" || len(files) != 1 {
		return usagef("usage: signet cot sign --key NAME [-o SIG] chain-of-trust.json")
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	sig, err := c.SignChainOfTrust(env.ctx, *key, files[0])
	if err != nil {
		return err
	}
	name := files[0] + ".sig"
	if *out != "" {
		name = *out
	}
	if err := os.WriteFile(name, sig, 0o644); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, name)
	return nil
}

func runCoTVerify(env *cmdEnv, args []string, fetch bool) error {
	name := "cot verify"
	if fetch {
		name = "cot fetch"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	taskID := fs.String("task-id", "", "")
	queue := fs.String("queue", os.Getenv("TASKCLUSTER_ROOT_URL"), "")
	trustFile := fs.String("trust", "", "")
	product := fs.String("product", "", "")
	githubAPI := fs.String("github-api", cot.DefaultGitHubAPI, "")
	taskType := fs.String("task-type", "", "")
	asJSON := fs.Bool("json", false, "")
	requireRebuild := fs.Bool("require-rebuild", false, "")
	checkTask := fs.Bool("check-task", false, "")
	offline := fs.String("offline", "", "")
	parallel := fs.Int("parallel", 8, "")
	dest := fs.String("dest", "", "")
	var artifacts stringList
	if fetch {
		fs.Var(&artifacts, "artifact", "")
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 0 || *taskID == "" || *trustFile == "" || (fetch && *dest == ""):
		if fetch {
			return usagef("usage: signet cot fetch --task-id ID --queue URL --trust FILE|URL --dest DIR [--product NAME] [--offline DIR] [--artifact PATH]...")
		}
		return usagef("usage: signet cot verify --task-id ID --queue URL --trust FILE|URL [--product NAME] [--json] [--require-rebuild] [--offline DIR] [--check-task]")
	case cot.CheckTaskID(*taskID) != nil:
		return usagef("--task-id: %v", cot.CheckTaskID(*taskID))
	case *taskType != "" && cot.CheckTaskType(*taskType) != nil:
		return usagef("--task-type: %v", cot.CheckTaskType(*taskType))
	case *queue == "":
		return hintf("pass --queue https://tc.example.com or set TASKCLUSTER_ROOT_URL", "no Queue given")
	case *parallel < 1 || *parallel > 64:
		return usagef("--parallel %d: give 1 to 64 downloads at once", *parallel)
	}
	var trust *cot.Trust
	if strings.HasPrefix(*trustFile, "https://") || strings.HasPrefix(*trustFile, "http://") {
		trust, err = cot.FetchTrust(env.ctx, *trustFile, "", *product, nil)
	} else {
		trust, err = cot.LoadTrust(*trustFile, *product)
	}
	if errors.Is(err, cot.ErrProduct) {
		return usagef("--product: %v", err)
	}
	if err != nil {
		return hintf("see docs/cot.md for the trust file format", "%w", err)
	}
	q, err := cot.NewQueue(*queue, nil)
	if err != nil {
		return err
	}
	o := cot.Options{Trust: trust, Queue: q, TaskType: *taskType, RequireRebuild: *requireRebuild, CheckTask: *checkTask, Offline: *offline, Parallel: *parallel,
		GitHubAPI: *githubAPI, GitHubToken: os.Getenv("GITHUB_TOKEN")}
	if fetch && !*asJSON {
		var n atomic.Int64
		start := time.Now()
		o.Progress = func(k int64) { n.Add(k) }
		defer startLine(env.stderr, func() string { return fetchLine(n.Load(), time.Since(start)) }).stop()
	}
	var res *cot.Result
	var m *cot.Manifest
	if fetch {
		res, m, err = cot.Fetch(env.ctx, *taskID, *dest, artifacts, o)
	} else {
		res, err = cot.Verify(env.ctx, *taskID, o)
	}
	if res == nil {
		return err
	}
	if *asJSON {
		res.WriteJSON(env.stdout)
	} else {
		res.WriteTree(env.stdout)
	}
	switch {
	case !res.Verified:
		return errChainFailed
	case err != nil:
		return err
	case m != nil && !*asJSON:
		fmt.Fprintf(env.stdout, "fetched %d artifacts into %s; manifest %s\n", len(m.Artifacts), *dest, cot.ManifestName)
	}
	return nil
}
