// Package audit is Signet's tamper-evident log: every act of the server —
// each signature made or refused, each token issued, each key and keystore
// change — is appended as an Entry and is durable before the server
// answers. After a compromise anyone can then prove what a key signed, when
// and for whom, and nobody, the operator included, can quietly rewrite that
// history.
//
// # Design
//
// The log is an append-only Merkle tree with RFC 6962 hashing, as in
// golang.org/x/mod/sumdb/tlog, whose functions do all the tree math. Leaf i
// is tlog.RecordHash of the stored bytes of entry i (its JSON encoding;
// see Entry). Storage is a small interface (Store) that knows nothing of
// trees: it keeps entries, the tree hashes it is handed, checkpoints, and it
// sequences appends. Three implement it:
//
//   - TileStore, the embedded default: the log of record is append-only
//     files laid out per C2SP tlog-tiles (entry bundles, hash tiles of
//     height 8) and a commit journal (journal.go); a commit is one pwrite
//     per file it touches and their fdatasyncs, issued together. Search,
//     counts, manifests and the checkpoint history live in a derived SQLite
//     index beside it, copied from the log in the background and brought up
//     to date before each search, rebuildable at any time (tileindex.go).
//     Opening cuts a commit cut short by a crash and refuses a journal
//     damaged in its middle (tilestore.go). Migrate moves a SQLite log to
//     it with the same tree.
//   - SQLStore on SQLite: the embedded log before tile logs.
//   - SQLStore on PostgreSQL: one log for a fleet of replicas.
//
// ReadTile serves any of them as C2SP tlog-tiles (the server's GET
// /log/...), so standard tile clients follow the log.
//
// A Log commits with group commit: callers queue entries; one writer takes
// everything queued, appends it in one transaction (one fsync), signs one
// checkpoint and hands each caller a Receipt. The writer keeps the right
// edge of the tree in memory (at most 64 hashes), which with the batch's
// own hashes is all it needs to append, compute the new root and prove
// every new entry's inclusion: committing reads nothing from storage. When
// another replica appended meanwhile (PostgreSQL), the writer reads the
// edge at the size it finds under the head's row lock.
//
// # Checkpoints and receipts
//
// After each commit the writer signs a checkpoint (C2SP tlog-checkpoint in
// a signed note) with the log key, an Ed25519 key held in the keystore like
// every other key. The store keeps the latest as the log's head and one per
// CheckpointEvery for auditors. A Receipt carries an entry's bytes, its
// index, an inclusion proof and the checkpoint: with the log's verifier key
// ("origin+hash+key") anyone checks it offline (VerifyReceipt).
//
// While the log key is unavailable (keystore locked, key not yet created)
// entries are still recorded, without a checkpoint; Append then returns
// ErrNoCheckpoint, which a refusal may ignore and a signature may not.
//
// # Failure
//
// The log fails closed: when the store cannot be written (disk full,
// database down), Append fails, Ready reports why, and the server refuses
// to sign. A background probe retries a durable write until it succeeds,
// so service resumes by itself. An entry is acknowledged only after its
// transaction committed; a commit whose outcome is unknown is reported as a
// failure, so an entry may be in the log for a signature its caller never
// received, never the reverse.
//
// # Verification and monitoring
//
// Verify recomputes the tree from every stored entry and checks it against
// every stored checkpoint, naming the first bad index (and, for a tile log,
// the files holding it); against a store it also checks each entry's leaf
// hash and search columns. VerifyFrom checks only what was appended since a
// checkpoint verified before, which a server runs on start
// (VerifyIncremental). Watch checks that the latest checkpoint extends the
// one a monitor saw before.
//
// What the log does not protect against on its own: an operator who
// deletes the newest entries together with every checkpoint covering them
// leaves a shorter log that verifies. Receipts held by clients and
// monitors (signet audit watch, run elsewhere) that remember the largest
// checkpoint they saw are what expose that.
package audit
