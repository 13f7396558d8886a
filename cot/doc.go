// Package cot verifies Taskcluster's chain of trust: the proof that an
// artifact about to be signed or shipped was built by a trusted worker, from
// a task that a trusted decision task created, from a trusted source tree.
//
// # The format
//
// Every worker that takes part signs, at the end of each task, a
// chain-of-trust document, public/chain-of-trust.json:
//
//	{
//	  "artifacts": {"public/build/target.tar.gz": {"sha256": "9f86d0…"}, …},
//	  "chainOfTrustVersion": 1,
//	  "environment": {…},          // worker-specific: instance, docker image hash
//	  "runId": 0,
//	  "task": {…},                 // the task definition the worker ran
//	  "taskId": "…",
//	  "workerGroup": "…",
//	  "workerId": "…"
//	}
//
// and public/chain-of-trust.json.sig, the raw 64-byte Ed25519 signature
// (RFC 8032) of the exact bytes of that file. Producers write it with
// two-space indentation, some with sorted keys; signatures are always
// checked over the bytes as served (after removing a gzip Content-Encoding),
// never over a re-serialization. Each worker implementation
// (docker-worker, generic-worker, scriptworker) has its own keys.
//
// # What Verify checks
//
// [Verify] follows scriptworker's verify_chain_of_trust:
//
//  1. It builds the chain from the task under test: its parent (extra.parent,
//     else taskGroupId), extra.chainOfTrust.inputs and
//     payload.upstreamArtifacts, recursively, naming each link by its path
//     ("signing:build:decision"), at most [Trust.MaxChainLength] deep, each
//     task once; a task that depends on its own descendant is a cycle.
//  2. It classifies each link (decision, action, docker-image, build,
//     signing, …) and its worker implementation.
//  3. It downloads each link's chain-of-trust.json and .sig and checks the
//     signature with the keys of the link's worker pool, if the trust file
//     names the pool, else of its worker implementation. The document's
//     taskId must be the link's, and the task it signs must agree with the
//     Queue's definition. With [Options.CheckTask] the task under test's
//     own document is checked too.
//  4. It downloads the artifacts the task consumes (a path with '*' is
//     matched against the producer's artifact listing, as Python's fnmatch
//     does), and public/task-graph.json of each decision and action task,
//     public/actions.json and public/parameters.yml of each decision task;
//     each must be listed in its producer's signed document with the same
//     digest.
//  5. Decision and action tasks must run on an allowed pool, and each task
//     they created must appear in their task graph with the same definition
//     (created, deadline, expires, dependencies, projectId, schedulerId,
//     taskQueueId and priority aside); its runtime dependencies must be
//     graph dependencies or the decision task.
//  6. Worker checks: a docker-worker task must have payload.features and
//     payload.env; a docker image built by a docker-image task must have
//     that task's signed digest; no interactive docker-worker or RDP
//     generic-worker task; signing-type tasks run on scriptworker.
//  7. Every task traces to a trusted repository (metadata.source and the
//     repository in its environment), restricted scopes require a tree
//     allowed for them, tasks of one decision task share a repository, and
//     a chain with restricted scopes holds no try or pull-request task
//     (try schedulers, pull-request tasks_for, and for GitHub tasks the
//     official owner and a commit on a protected branch, asked of the
//     GitHub API).
//  8. Each decision, cron and action task is rebuilt: its repository's
//     .taskcluster.yml at its revision (fetched over HTTPS, or read from
//     [Options.Offline]) is rendered with json-e (package cot/jsone) in the
//     context Taskcluster gave it (the hg pushlog, extra.cron, the GitHub
//     event, the action's hook from actions.json) and must equal the
//     definition, as scriptworker compares; the first difference is named
//     as a JSON path. An input that cannot be fetched skips the rebuild,
//     or fails it with [Options.RequireRebuild].
//
// # What it does not check
//
// It trusts the keys and rules in the trust configuration (a file, or a
// file in version control at a pinned revision, [FetchTrust]) and nothing
// else: not the Queue, not artifact names. Version control and GitHub are
// asked only for what a check needs (templates, pushlogs, events, where a
// commit landed), and what they answer is checked against signed
// definitions, never trusted alone. It does not check anything a task did
// that its worker did not sign.
package cot
