package audit

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"
)

// Options configure a Log.
type Options struct {
	Store  Store
	Origin string // the log's name, first line of its checkpoints

	// Key returns the log key, an Ed25519 signer, or an error while it is
	// unavailable (keystore locked, key not created yet). Entries are
	// recorded either way; checkpoints and receipts need the key.
	Key func() (crypto.Signer, error)

	// MaxBatch bounds the entries of one commit (default 4096).
	MaxBatch int
	// CheckpointEvery is the least time between two stored checkpoints
	// (default 1s). Every commit signs a checkpoint for its receipts; the
	// store keeps the latest as its head and one per interval for audits.
	CheckpointEvery time.Duration
	// Retry is how often an unwritable log is probed until it recovers
	// (default 1s).
	Retry time.Duration
	// CommitDelay and InFlight let a commit wait a little for entries that
	// are about to come, as PostgreSQL's commit_delay does: when more
	// requests are in flight (InFlight) than have queued, the writer waits
	// up to CommitDelay for them before committing. One fsync then covers
	// more entries. Off when either is zero.
	CommitDelay time.Duration
	InFlight    func() int
	Log         *slog.Logger
	Now         func() time.Time
	// Observe, if set, is told of every commit as it ends (for metrics).
	// It runs on the writer: it must be quick and must not block.
	Observe func(Commit)
}

// Commit describes one group commit, for Options.Observe.
type Commit struct {
	Entries int           // entries written in one transaction
	Took    time.Duration // from the start of the transaction to durable
	Err     error         // why it failed; nil if durable
}

// ErrNoCheckpoint is returned by Append when the entries were recorded
// durably but the log key could not sign a checkpoint, so there are no
// receipts. Refusals can be answered; signatures must not be.
var ErrNoCheckpoint = errors.New("entries recorded, but no checkpoint: the log key is unavailable")

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit log closed")

// A Log appends entries to a Store with group commit: callers queue their
// entries, one writer commits whatever has queued in one transaction (one
// fsync), signs one checkpoint for it and hands every caller its receipts.
// A caller returns only once its entries are durable.
type Log struct {
	opts    Options
	queue   chan *pending
	quit    chan struct{}
	done    chan struct{}
	indexed chan struct{} // closed when the indexer has stopped

	mu        sync.Mutex
	edge      *edge     // right edge of the tree as last committed by this Log
	health    error     // last commit or probe error; nil when writable
	lastSaved time.Time // when a checkpoint was last stored
	probing   bool
	commits   CommitStats
}

// CommitStats count commits, for metrics.
type CommitStats struct {
	Commits int64
	Entries int64
	Failed  int64
}

type pending struct {
	entries  []Entry
	cloned   bool // entries is the log's own copy
	data     [][]byte
	leaves   []tlog.Hash
	manifest map[string][]byte
	receipts []Receipt
	err      error
	done     chan struct{}
}

// Open starts a Log over opts.Store.
func Open(ctx context.Context, opts Options) (*Log, error) {
	if opts.Store == nil || opts.Origin == "" || opts.Key == nil {
		return nil, errors.New("audit: Open needs a store, an origin and a key")
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 4096
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = time.Second
	}
	if opts.Retry <= 0 {
		opts.Retry = time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	signed, size, err := opts.Store.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: reading the log head: %w", err)
	}
	if signed != "" {
		c, err := ParseUnverified(signed)
		if err != nil {
			return nil, fmt.Errorf("audit: stored head: %w", err)
		}
		if c.Origin != opts.Origin {
			return nil, fmt.Errorf("audit: the stored log is %q, but this server's log origin is %q: a log keeps its name for life", c.Origin, opts.Origin)
		}
	}
	e, err := loadEdge(size, opts.Store.Hashes(ctx))
	if err != nil {
		return nil, fmt.Errorf("audit: reading the tree of %d entries: %w", size, err)
	}
	l := &Log{opts: opts, queue: make(chan *pending, 1024), quit: make(chan struct{}), done: make(chan struct{}), edge: e,
		indexed: make(chan struct{})}
	go l.write()
	go l.index()
	return l, nil
}

// Origin returns the log's name.
func (l *Log) Origin() string { return l.opts.Origin }

// Append records entries durably and returns a receipt for each. It
// returns ErrNoCheckpoint if they were recorded but could not be proven,
// and another error if they may not have been recorded.
func (l *Log) Append(ctx context.Context, entries ...Entry) ([]Receipt, error) {
	p := &pending{entries: entries, done: make(chan struct{})}
	p.data = make([][]byte, len(entries))
	p.leaves = make([]tlog.Hash, len(entries))
	for i := range entries {
		b, err := entries[i].Marshal()
		if err != nil {
			return nil, err
		}
		if !validText(&entries[i]) {
			// JSON stored invalid UTF-8 as U+FFFD: search and count what
			// was stored, which verify checks the columns against.
			e, err := ParseEntry(b)
			if err != nil {
				return nil, err
			}
			e.manifest = entries[i].manifest
			if !p.cloned { // the caller's entries stay as they were
				entries, p.cloned = slices.Clone(entries), true
				p.entries = entries
			}
			entries[i] = *e
		}
		p.data[i], p.leaves[i] = b, tlog.RecordHash(b)
		if m := entries[i].manifest; m != nil {
			if p.manifest == nil {
				p.manifest = map[string][]byte{}
			}
			p.manifest[entries[i].Artifact.Manifest] = m
		}
	}
	select {
	case l.queue <- p:
	case <-ctx.Done():
		return nil, fmt.Errorf("audit: %w", ctx.Err())
	case <-l.quit:
		return nil, ErrClosed
	}
	// Once queued, wait for the outcome whatever ctx says: the entries may
	// be committed, and the caller must know.
	<-p.done
	return p.receipts, p.err
}

// validText reports whether the fields an entry is searched by are valid
// UTF-8.
func validText(e *Entry) bool {
	ok := utf8.ValidString(e.Principal.Name) && utf8.ValidString(e.Principal.Subject) && utf8.ValidString(string(e.Action)) &&
		utf8.ValidString(string(e.Decision))
	if e.Key != nil {
		ok = ok && utf8.ValidString(e.Key.Name)
	}
	if a := e.Artifact; a != nil {
		ok = ok && utf8.ValidString(a.Name) && utf8.ValidString(a.Signature)
		for _, d := range a.Digests {
			ok = ok && utf8.ValidString(d)
		}
	}
	return ok
}

// Ready reports why the log cannot record, or nil.
func (l *Log) Ready() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.health
}

// Stats returns commit counters.
func (l *Log) Stats() CommitStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.commits
}

// Close stops the writer after committing what is queued.
func (l *Log) Close() error {
	select {
	case <-l.quit:
	default:
		close(l.quit)
	}
	<-l.done
	<-l.indexed
	return nil
}

// write is the single writer: it commits queued entries in batches.
func (l *Log) write() {
	defer close(l.done)
	for {
		var first *pending
		select {
		case first = <-l.queue:
		case <-l.quit:
			// Drain what was queued before Close.
			for {
				select {
				case p := <-l.queue:
					l.commit([]*pending{p})
				default:
					return
				}
			}
		}
		batch := []*pending{first}
		n := len(first.entries)
	fill:
		for n < l.opts.MaxBatch {
			select {
			case p := <-l.queue:
				batch = append(batch, p)
				n += len(p.entries)
			default:
				break fill
			}
		}
		batch = l.delay(batch, n)
		l.commit(batch)
	}
}

// A position is entry i of pending k of a batch.
type position struct{ k, i int }

// sequence orders the entries of a batch by time, and moves an entry that
// would come before last (the time of the log's latest entry) or before
// the entry ahead of it up to that time, so that entry times never
// decrease along the log. That is what lets a search by time find its
// range of entries by bisection instead of an index. An entry moved is
// encoded again; the caller's copy keeps its own time.
func sequence(batch []*pending, last time.Time) ([]position, error) {
	var order []position
	for k, p := range batch {
		for i := range p.entries {
			order = append(order, position{k, i})
		}
	}
	at := func(x position) *Entry { return &batch[x.k].entries[x.i] }
	slices.SortStableFunc(order, func(a, b position) int { return at(a).Time.Compare(at(b).Time) })
	for _, x := range order {
		e := at(x)
		if e.Time.Before(last) {
			p := batch[x.k]
			if !p.cloned {
				p.entries, p.cloned = slices.Clone(p.entries), true
			}
			e = &p.entries[x.i]
			e.Time = last
			b, err := e.Marshal()
			if err != nil {
				return nil, err
			}
			p.data[x.i], p.leaves[x.i] = b, tlog.RecordHash(b)
		}
		last = e.Time
	}
	return order, nil
}

// delay waits up to CommitDelay for more requests while others are in
// flight, and returns the batch grown with them.
func (l *Log) delay(batch []*pending, n int) []*pending {
	if l.opts.CommitDelay <= 0 || l.opts.InFlight == nil || l.opts.InFlight() <= len(batch) {
		return batch
	}
	t := time.NewTimer(l.opts.CommitDelay)
	defer t.Stop()
	for n < l.opts.MaxBatch && l.opts.InFlight() > len(batch) {
		select {
		case p := <-l.queue:
			batch = append(batch, p)
			n += len(p.entries)
		case <-t.C:
			return batch
		}
	}
	return batch
}

// commit writes one batch and answers its callers.
func (l *Log) commit(batch []*pending) {
	ctx := context.Background()
	start := time.Now()
	now := l.opts.Now().UTC()
	signer, keyErr := l.noteSigner()
	var newEdge *edge
	var receipts [][]Receipt
	var signed bool
	err := l.opts.Store.Append(ctx, func(size int64, last time.Time, r tlog.HashReader) (*Batch, error) {
		l.mu.Lock()
		base := l.edge
		l.mu.Unlock()
		if base.size != size {
			// Another replica appended since we last did.
			var err error
			if base, err = loadEdge(size, r); err != nil {
				return nil, err
			}
		}
		order, err := sequence(batch, last)
		if err != nil {
			return nil, err
		}
		o := newOverlay(base)
		b := &Batch{Manifests: map[string][]byte{}}
		receipts, signed = make([][]Receipt, len(batch)), false
		for k, p := range batch {
			receipts[k] = make([]Receipt, len(p.entries))
			for d, m := range p.manifest {
				b.Manifests[d] = m
			}
		}
		for _, at := range order {
			p := batch[at.k]
			idx := o.size
			if err := o.append(p.leaves[at.i]); err != nil {
				return nil, err
			}
			b.Entries = append(b.Entries, storedEntry(idx, &p.entries[at.i], p.data[at.i]))
			receipts[at.k][at.i] = Receipt{Index: idx, Entry: p.data[at.i]}
		}
		b.Hashes, b.Size = o.order, o.size
		if n := len(b.Entries); n > 0 {
			b.LastTime = b.Entries[n-1].Time
		}
		e, err := o.edge()
		if err != nil {
			return nil, err
		}
		if signer != nil {
			root, err := o.root()
			if err != nil {
				return nil, err
			}
			note, err := SignCheckpoint(Checkpoint{Origin: l.opts.Origin, Size: o.size, Root: root}, signer)
			if err != nil {
				keyErr = err
			} else {
				signed = true
				b.Checkpoint = &StoredCheckpoint{Size: o.size, Signed: note, Time: now}
				b.KeepCheckpoint = now.Sub(l.lastSaved) >= l.opts.CheckpointEvery
				for k := range batch {
					for i := range receipts[k] {
						proof, err := tlog.ProveRecord(o.size, receipts[k][i].Index, o)
						if err != nil {
							return nil, err
						}
						receipts[k][i].Proof = hashesOf(proof)
						receipts[k][i].Checkpoint = note
					}
				}
			}
		}
		newEdge = e
		return b, nil
	})
	l.mu.Lock()
	if err != nil {
		l.commits.Failed++
		l.health = fmt.Errorf("audit log unwritable: %w", err)
		if !l.probing {
			l.probing = true
			go l.probe()
		}
	} else {
		l.edge = newEdge
		l.health = nil
		l.commits.Commits++
		if signed && now.Sub(l.lastSaved) >= l.opts.CheckpointEvery {
			l.lastSaved = now
		}
	}
	l.mu.Unlock()
	if l.opts.Observe != nil {
		n := 0
		for _, p := range batch {
			n += len(p.entries)
		}
		l.opts.Observe(Commit{Entries: n, Took: time.Since(start), Err: err})
	}
	if err != nil {
		l.opts.Log.Error("audit commit failed; refusing to sign until it recovers", "err", err, "entries", len(batch))
	}
	for k, p := range batch {
		switch {
		case err != nil:
			p.err = fmt.Errorf("audit log unwritable: %w", err)
		case !signed:
			p.err = fmt.Errorf("%w: %v", ErrNoCheckpoint, keyErr)
		default:
			p.receipts = receipts[k]
		}
		if err == nil {
			l.mu.Lock()
			l.commits.Entries += int64(len(p.entries))
			l.mu.Unlock()
		}
		close(p.done)
	}
}

// index keeps what the store keeps behind the log — its term index and
// entry counts — a second or so behind it (including what other replicas
// appended). Larger chunks amortize better, since each page of the index
// is written once per chunk; 5,000 entries keep a chunk's transaction
// short.
func (l *Log) index() {
	defer close(l.indexed)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-t.C:
		}
		for {
			caughtUp, err := l.opts.Store.Index(context.Background(), 5000)
			if err != nil {
				l.opts.Log.Warn("indexing audit entries by digest; searches scan the entries not indexed", "err", err)
				break
			}
			if caughtUp {
				break
			}
			select {
			case <-l.quit:
				return
			default:
			}
		}
	}
}

// noteSigner returns the checkpoint signer, or nil and why not.
func (l *Log) noteSigner() (*NoteSigner, error) {
	s, err := l.opts.Key()
	if err != nil {
		return nil, err
	}
	return NewNoteSigner(l.opts.Origin, s)
}

// probe retries a durable write until the store takes it again, so that
// readiness recovers even when no request comes.
func (l *Log) probe() {
	t := time.NewTicker(l.opts.Retry)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := l.opts.Store.Ping(ctx)
		cancel()
		l.mu.Lock()
		if err == nil {
			l.health = nil
			l.probing = false
			l.mu.Unlock()
			l.opts.Log.Info("audit log writable again")
			return
		}
		if l.health == nil {
			// A commit succeeded meanwhile.
			l.probing = false
			l.mu.Unlock()
			return
		}
		l.health = fmt.Errorf("audit log unwritable: %w", err)
		l.mu.Unlock()
	}
}

// noteText returns the text of a signed note without verifying it.
func noteText(signed string) string {
	if i := indexBlankLine(signed); i >= 0 {
		return signed[:i+1]
	}
	return signed
}

func indexBlankLine(s string) int {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '\n' && s[i+1] == '\n' {
			return i
		}
	}
	return -1
}

// Store returns the log's store, for reading.
func (l *Log) Store() Store { return l.opts.Store }
