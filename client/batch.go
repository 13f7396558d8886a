package client

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/format/minisign"
	"github.com/signet-dev/signet/format/raw"
	"github.com/signet-dev/signet/format/sshsig"
)

// BatchOptions configure [Client.SignBatch].
type BatchOptions struct {
	Key            string
	Format         string          // "raw" (the default), "ssh" or "minisign"
	Options        api.SignOptions // RSAPSS for raw, Namespace for ssh
	TrustedComment string          // minisign: the signed comment of every signature; default MinisignTrustedComment of each file

	Jobs     int // files read and hashed at once; default 8
	MaxBatch int // items per sign request; 0: as many as the server accepts (GET /v1/limits); 1: one request per file
	Requests int // sign requests in flight at once; default 4, or Jobs with MaxBatch 1

	// SkipExisting leaves out files whose signature file already holds a
	// signature of the file by the key: it is checked, not trusted.
	SkipExisting bool
	// Force replaces signature files that hold a signature of another key
	// or format; without it such a file fails (CheckReplace).
	Force bool
	// Output names a file's signature file; default the file's path plus
	// the format's suffix (SignatureSuffix).
	Output func(path string) string
	// Progress, if not nil, is updated as files are done.
	Progress *Progress
	// Done, if not nil, is called for every file, in the order given,
	// from one goroutine.
	Done func(FileResult)
}

// FileResult is what became of one file.
type FileResult struct {
	Path      string
	Size      int64
	Signature string // the signature file written; "" unless signed
	Skipped   bool   // its existing signature verified
	Err       error
}

// BatchSummary sums up a SignBatch run.
type BatchSummary struct {
	Files    int          // files given
	Signed   int          // signed now
	Skipped  int          // already signed (SkipExisting)
	Failed   []FileResult // every file that failed, in the order given
	Bytes    int64        // bytes read and hashed
	Requests int          // sign requests made (each with its own retries)
	Retries  int64        // attempts beyond the first, over all requests
	Elapsed  time.Duration
}

// Progress counts what a running SignBatch has done; read it with
// Snapshot from any goroutine.
type Progress struct {
	start                  atomic.Int64 // UnixNano
	files, bytes           atomic.Int64
	failed, skipped        atomic.Int64
	totalFiles, totalBytes atomic.Int64
}

// ProgressSnapshot is a Progress at one moment.
type ProgressSnapshot struct {
	Files, TotalFiles int64 // done, and given
	Bytes, TotalBytes int64 // of the files done, and of all (as stat'ed before starting)
	Failed, Skipped   int64
	Elapsed           time.Duration
}

// Snapshot returns the counts now.
func (p *Progress) Snapshot() ProgressSnapshot {
	s := ProgressSnapshot{
		Files: p.files.Load(), TotalFiles: p.totalFiles.Load(), Bytes: p.bytes.Load(), TotalBytes: p.totalBytes.Load(),
		Failed: p.failed.Load(), Skipped: p.skipped.Load(),
	}
	if start := p.start.Load(); start != 0 {
		s.Elapsed = time.Since(time.Unix(0, start))
	}
	return s
}

// CanSignBatch reports whether SignBatch signs files in format.
func CanSignBatch(format string) bool {
	return format == "raw" || format == "ssh" || format == "minisign"
}

// SignatureSuffix is the suffix of a signature file of format: ".sig", or
// ".minisig" for minisign.
func SignatureSuffix(format string) string {
	if format == "minisign" {
		return ".minisig"
	}
	return ".sig"
}

// SignBatch signs the files at paths with one key and writes each file's
// signature, and beside it the signature's audit receipt (SIG.receipt),
// next to the file. Files are read and hashed Jobs at a time (only pure
// Ed25519 keys upload whole files) and sent in batches as large as the
// server accepts, several requests at once; every signature returned is
// checked against the key before it is written.
//
// A file that cannot be read, that the server refuses or whose signature
// does not verify fails alone: the others are still signed, and the
// summary lists every failure. SignBatch returns an error only when
// nothing can be signed at all (the key cannot be used, options are
// wrong).
func (c *Client) SignBatch(ctx context.Context, paths []string, o BatchOptions) (*BatchSummary, error) {
	start := time.Now()
	if len(paths) == 0 {
		return nil, errors.New("no files to sign")
	}
	if err := checkDuplicates(paths); err != nil {
		return nil, err
	}
	p, err := c.plan(ctx, &o)
	if err != nil {
		return nil, err
	}
	limits, err := c.Limits(ctx)
	if err != nil {
		return nil, err
	}
	maxBatch := limits.MaxBatch
	if o.MaxBatch > 0 {
		maxBatch = min(o.MaxBatch, maxBatch)
	}
	if o.Jobs <= 0 {
		o.Jobs = 8
	}
	if o.Requests <= 0 {
		o.Requests = 4
		if maxBatch == 1 {
			o.Requests = o.Jobs
		}
	}
	if o.Output == nil {
		suffix := SignatureSuffix(p.format)
		o.Output = func(path string) string { return path + suffix }
	}
	prog := o.Progress
	if prog == nil {
		prog = new(Progress)
	}
	prog.start.Store(start.UnixNano())
	prog.totalFiles.Store(int64(len(paths)))
	if o.Progress != nil {
		var total int64
		for _, path := range paths {
			if fi, err := os.Stat(path); err == nil {
				total += fi.Size()
			}
		}
		prog.totalBytes.Store(total)
	}

	b := &batcher{c: c, plan: p, opts: &o, maxBatch: maxBatch, maxBody: limits.MaxBodyBytes,
		results: make(chan result, o.Jobs), writes: make(chan output, 1024), retriesBefore: c.Retries()}
	jobs := make(chan int)
	ready := make(chan *prepared, o.Jobs)
	batches := make(chan []*prepared)
	var hashers, senders sync.WaitGroup
	go func() {
		defer close(jobs)
		for i := range paths {
			select {
			case jobs <- i:
			case <-ctx.Done():
				for ; i < len(paths); i++ {
					b.results <- result{i, FileResult{Path: paths[i], Err: fmt.Errorf("not signed: %w", ctx.Err())}}
				}
				return
			}
		}
	}()
	for range o.Jobs {
		hashers.Go(func() {
			for i := range jobs {
				b.prepare(ctx, i, paths[i], ready)
			}
		})
	}
	go func() { hashers.Wait(); close(ready) }()
	go b.collect(ready, batches)
	for range o.Requests {
		senders.Go(func() {
			for batch := range batches {
				b.send(ctx, batch)
			}
		})
	}
	go func() { senders.Wait(); close(b.writes) }()
	go func() { b.write(); close(b.results) }()

	// Results arrive in any order; they are reported in the order given.
	sum := &BatchSummary{Files: len(paths)}
	pending := map[int]FileResult{}
	next := 0
	for res := range b.results {
		i, r := res.i, res.FileResult
		prog.files.Add(1)
		prog.bytes.Add(r.Size)
		sum.Bytes += r.Size
		switch {
		case r.Err != nil:
			prog.failed.Add(1)
		case r.Skipped:
			prog.skipped.Add(1)
		}
		pending[i] = r
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			switch {
			case r.Err != nil:
				sum.Failed = append(sum.Failed, r)
			case r.Skipped:
				sum.Skipped++
			default:
				sum.Signed++
			}
			if o.Done != nil {
				o.Done(r)
			}
		}
	}
	sum.Requests = int(b.requests.Load())
	sum.Retries = c.Retries() - b.retriesBefore
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// checkDuplicates refuses a list that names one file twice, whose
// signature would be written twice at once.
func checkDuplicates(paths []string) error {
	seen := make(map[string]int, len(paths))
	for i, p := range paths {
		k := filepath.Clean(p)
		if j, ok := seen[k]; ok {
			return fmt.Errorf("%s is given twice (files %d and %d); give each file once", p, j+1, i+1)
		}
		seen[k] = i
	}
	return nil
}

// plan is how one format's files are hashed, sent and checked.
type plan struct {
	format  string
	key     *api.Key
	hash    crypto.Hash // 0: items carry the whole file
	maxData int64       // with hash 0: the largest file the server accepts
	// check verifies sig over tbs (the digest, or the file), as sent in
	// item, or as found on disk when item is nil.
	check func(sig, tbs []byte, item *api.SignItem) error
	// item completes the sign item of the file at path.
	item func(it *api.SignItem, path string)
}

func (c *Client) plan(ctx context.Context, o *BatchOptions) (*plan, error) {
	if o.Format == "" {
		o.Format = "raw"
	}
	if o.Key == "" {
		return nil, errors.New("no key given")
	}
	k, pub, err := c.keyPublic(ctx, o.Key)
	if err != nil {
		return nil, err
	}
	p := &plan{format: o.Format, key: k, item: func(*api.SignItem, string) {}}
	switch o.Format {
	case "raw":
		if p.hash, err = raw.Hash(pub); err != nil {
			return nil, err
		}
		p.maxData = k.MaxMessageBytes
		ro := raw.Options{PSS: o.Options.RSAPSS}
		p.check = func(sig, tbs []byte, _ *api.SignItem) error {
			if p.hash == 0 {
				return raw.Verify(pub, tbs, sig, ro)
			}
			return raw.VerifyDigest(pub, tbs, sig, ro)
		}
	case "ssh":
		ns := o.Options.Namespace
		if err := sshsig.ValidNamespace(ns); err != nil {
			return nil, err
		}
		spub, err := ssh.NewPublicKey(pub)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", o.Key, err)
		}
		p.hash = crypto.SHA512
		p.check = func(sig, tbs []byte, _ *api.SignItem) error {
			s, err := sshsig.Parse(sig)
			if err != nil {
				return err
			}
			return s.Verify(spub, ns, tbs)
		}
	case "minisign":
		if o.TrustedComment != "" {
			if err := minisign.ValidComment(o.TrustedComment); err != nil {
				return nil, fmt.Errorf("trusted comment: %w", err)
			}
		}
		mpub, err := minisign.NewPublicKey(pub)
		if err != nil {
			return nil, fmt.Errorf("key %q (%s): %w; minisign needs an ed25519 key created with --usage minisign", o.Key, k.Type, err)
		}
		p.hash = crypto.BLAKE2b_512
		now := time.Now()
		p.item = func(it *api.SignItem, path string) {
			it.TrustedComment = o.TrustedComment
			if it.TrustedComment == "" {
				it.TrustedComment = MinisignTrustedComment(path, now)
			}
		}
		p.check = func(sig, tbs []byte, item *api.SignItem) error {
			s, err := minisign.ParseSignature(sig)
			if err != nil {
				return err
			}
			if err := s.Verify(mpub, tbs); err != nil {
				return err
			}
			if item != nil && s.TrustedComment != item.TrustedComment {
				return errors.New("the trusted comment is not the one sent")
			}
			return nil
		}
	default:
		return nil, fmt.Errorf("format %q cannot sign files in batches; use raw, ssh or minisign", o.Format) // see CanSignBatch
	}
	return p, nil
}

// Limits returns the server's request limits.
func (c *Client) Limits(ctx context.Context) (*api.Limits, error) {
	var l api.Limits
	err := c.do(ctx, http.MethodGet, "/v1/limits", nil, &l)
	var se *Error
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		// A server from before GET /v1/limits: its defaults.
		return &api.Limits{MaxBatch: 1000, MaxBodyBytes: 32 << 20, MaxMessageBytes: 16 << 20}, nil
	}
	if err != nil {
		return nil, err
	}
	if l.MaxBatch <= 0 || l.MaxBodyBytes <= 0 {
		return nil, fmt.Errorf("the server's limits make no sense: %+v", l)
	}
	return &l, nil
}

// result is the result of file i.
type result struct {
	i int
	FileResult
}

// prepared is a file ready to be signed.
type prepared struct {
	i    int
	path string
	size int64
	item api.SignItem
	tbs  []byte // what the signature covers: the digest, or the file
}

// batcher moves files through a SignBatch run.
type batcher struct {
	c             *Client
	plan          *plan
	opts          *BatchOptions
	maxBatch      int
	maxBody       int64
	results       chan result
	writes        chan output
	requests      atomic.Int64
	retriesBefore int64
}

// copyBuffers are the read buffers of hashing.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// prepare reads and hashes file i, and sends it on to be signed, or
// reports it done (skipped or failed).
func (b *batcher) prepare(ctx context.Context, i int, path string, out chan<- *prepared) {
	r := FileResult{Path: path}
	fail := func(err error) { r.Err = err; b.results <- result{i, r} }
	if err := ctx.Err(); err != nil {
		fail(fmt.Errorf("not signed: %w", err))
		return
	}
	f, err := os.Open(path)
	if err != nil {
		fail(err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		fail(err)
		return
	}
	if fi.IsDir() {
		fail(errors.New("a directory: list its files ('find DIR -type f -print0 | signet sign --key K --files-from -')"))
		return
	}
	if !fi.Mode().IsRegular() {
		fail(errors.New("not a regular file"))
		return
	}
	r.Size = fi.Size()
	p := &prepared{i: i, path: path, size: fi.Size(), item: api.SignItem{Name: itemName(ctx, path), Size: fi.Size()}}
	if b.plan.hash == 0 {
		k := b.plan.key
		if b.plan.maxData > 0 && fi.Size() > b.plan.maxData {
			fail(fmt.Errorf("%s is %s: key %q is %s, which signs the whole file, and the server accepts at most %s; use an ECDSA or RSA key, which sends only a digest",
				path, Size(fi.Size()), k.Name, k.Type, Size(b.plan.maxData)))
			return
		}
		data, err := io.ReadAll(io.LimitReader(f, fi.Size()+1))
		if err != nil {
			fail(fmt.Errorf("reading %s: %w", path, err))
			return
		}
		p.item.Data, p.tbs = data, data
		p.size, r.Size = int64(len(data)), int64(len(data))
		p.item.Size = p.size
	} else {
		h := b.plan.hash.New()
		buf := copyBuffers.Get().(*[]byte)
		n, err := io.CopyBuffer(h, f, *buf)
		copyBuffers.Put(buf)
		if err != nil {
			fail(fmt.Errorf("hashing %s: %w", path, err))
			return
		}
		p.tbs = h.Sum(nil)
		p.item.Digest = api.Digest(b.plan.hash, p.tbs)
		p.size, r.Size, p.item.Size = n, n, n
	}
	sigFile := b.opts.Output(path)
	ours := func(sig []byte) bool { return b.plan.check(sig, p.tbs, nil) == nil }
	if b.opts.SkipExisting {
		if sig, err := os.ReadFile(sigFile); err == nil && ours(sig) {
			r.Skipped = true
			b.results <- result{i, r}
			return
		}
	}
	if !b.opts.Force && SignsIn(b.plan.key, b.plan.format) {
		if err := CheckReplace(sigFile, b.opts.Key, b.plan.format, ours); err != nil {
			fail(err)
			return
		}
	}
	b.plan.item(&p.item, path)
	out <- p
}

// linger is how long a part-filled batch waits for more files.
const linger = 100 * time.Millisecond

// collect gathers prepared files into batches of at most maxBatch items
// and about maxBody bytes.
func (b *batcher) collect(in <-chan *prepared, out chan<- []*prepared) {
	defer close(out)
	var batch []*prepared
	var bytes int64
	budget := b.maxBody - b.maxBody/8 // room for JSON around the items
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		if len(batch) > 0 {
			out <- batch
			batch, bytes = nil, 0
		}
		timer.Stop()
	}
	for {
		select {
		case p, ok := <-in:
			if !ok {
				flush()
				return
			}
			size := itemBytes(&p.item)
			if len(batch) > 0 && bytes+size > budget {
				flush()
			}
			if len(batch) == 0 {
				timer.Reset(linger)
			}
			batch = append(batch, p)
			bytes += size
			if len(batch) >= b.maxBatch {
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

// itemBytes estimates the JSON size of an item.
func itemBytes(it *api.SignItem) int64 {
	return int64(96+2*len(it.Name)+len(it.Digest)+len(it.TrustedComment)) + int64(len(it.Data)+2)/3*4
}

// send signs one batch. Items the server refuses by name fail alone and
// the rest are sent again, as a new request.
func (b *batcher) send(ctx context.Context, batch []*prepared) {
	for len(batch) > 0 {
		req := &api.SignRequest{Key: b.opts.Key, Format: b.plan.format, Options: b.opts.Options, Items: make([]api.SignItem, len(batch))}
		for i, p := range batch {
			req.Items[i] = p.item
		}
		b.requests.Add(1)
		resp, err := b.c.Sign(ctx, req)
		if err == nil {
			for i, p := range batch {
				b.finish(p, &resp.Signatures[i])
			}
			return
		}
		var se *Error
		if !errors.As(err, &se) || se.Status >= 500 || len(se.Items) == 0 {
			for _, p := range batch {
				b.results <- result{p.i, FileResult{Path: p.path, Size: p.size, Err: err}}
			}
			return
		}
		refused := map[int]string{}
		for _, it := range se.Items {
			if it.Item >= 1 && it.Item <= len(batch) {
				refused[it.Item-1] = it.Error
			}
		}
		if len(refused) == 0 {
			for _, p := range batch {
				b.results <- result{p.i, FileResult{Path: p.path, Size: p.size, Err: err}}
			}
			return
		}
		var rest []*prepared
		for i, p := range batch {
			if msg, ok := refused[i]; ok {
				e := *se
				e.Message, e.Items = msg, nil
				b.results <- result{p.i, FileResult{Path: p.path, Size: p.size, Err: &e}}
			} else {
				rest = append(rest, p)
			}
		}
		batch = rest
	}
}

// output is a checked signature to write.
type output struct {
	p       *prepared
	sig     []byte
	receipt []byte // JSON
}

// finish checks the signature of one file and queues it to be written
// with its receipt.
func (b *batcher) finish(p *prepared, s *api.Signature) {
	r := FileResult{Path: p.path, Size: p.size}
	k := b.plan.key
	switch {
	case b.plan.check(s.Signature, p.tbs, &p.item) != nil:
		r.Err = fmt.Errorf("the server's signature does not verify with key %q (%s): refusing it", k.Name, k.Fingerprint)
	case s.Receipt == nil:
		r.Err = errors.New("the server returned a signature without an audit receipt: refusing it")
	default:
		receipt, err := marshalReceipt(s.Receipt)
		if err == nil {
			b.writes <- output{p, s.Signature, receipt}
			return
		}
		r.Err = err
	}
	b.results <- result{p.i, r}
}

// write writes signatures and their receipts, one file at a time: file
// systems serialize creations in a directory, and concurrent ones only
// burn CPU waiting for each other (on ext4, several times the cost of
// one creation).
func (b *batcher) write() {
	for o := range b.writes {
		r := FileResult{Path: o.p.path, Size: o.p.size}
		// The receipt goes first: a signature file on disk always has its
		// receipt beside it.
		name := b.opts.Output(o.p.path)
		if err := os.WriteFile(name+".receipt", o.receipt, 0o644); err != nil {
			r.Err = err
		} else if err := os.WriteFile(name, o.sig, 0o644); err != nil {
			r.Err = err
		} else {
			r.Signature = name
		}
		b.results <- result{o.p.i, r}
	}
}

// WriteReceipt writes a signature's audit receipt as indented JSON, as
// 'signet audit check-receipt' reads it.
func WriteReceipt(name string, r *audit.Receipt) error {
	b, err := marshalReceipt(r)
	if err != nil {
		return err
	}
	return os.WriteFile(name, b, 0o644)
}

func marshalReceipt(r *audit.Receipt) ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	return append(b, '\n'), err
}
