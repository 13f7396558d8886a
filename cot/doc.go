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
//     signature with the keys of the link's worker implementation. The
//     document's taskId must be the link's, and the task it signs must agree
//     with the Queue's definition.
//  4. It downloads the artifacts the task consumes, and public/task-graph.json
//     of each decision and action task; each must be listed in its
//     producer's signed document with the same digest.
//  5. Decision and action tasks must run on an allowed pool, and each task
//     they created must appear in their task graph with the same definition
//     (created, deadline, expires, dependencies, projectId, schedulerId,
//     taskQueueId and priority aside); its runtime dependencies must be
//     graph dependencies or the decision task.
//  6. Worker checks: a docker image built by a docker-image task must have
//     that task's signed digest; no interactive docker-worker or RDP
//     generic-worker task; signing-type tasks run on scriptworker.
//  7. Every task traces to a trusted repository (metadata.source and the
//     repository in its environment), restricted scopes require a tree
//     allowed for them, and tasks of one decision task share a repository.
//  8. Rebuilding decision and action definitions from .taskcluster.yml with
//     json-e is reported as skipped: no json-e implementation for Go is
//     available to this build. [Options.RequireRebuild] makes that a failure.
//
// # What it does not check
//
// It trusts the keys and rules in the trust configuration and nothing
// else: not the Queue, not the network, not artifact names. It does not
// contact version control (no pushlog, no GitHub API): a try or pull-request
// task is recognised from the task alone. It does not check anything a
// task did that its worker did not sign.
package cot
