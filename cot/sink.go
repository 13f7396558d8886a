package cot

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"slices"
)

// Buffer is a Destination in memory.
type Buffer struct{ b []byte }

func (b *Buffer) Write(p []byte) (int, error) { b.b = append(b.b, p...); return len(p), nil }

// Offset returns how many bytes the buffer holds.
func (b *Buffer) Offset() int64 { return int64(len(b.b)) }

// Truncate empties the buffer.
func (b *Buffer) Truncate() error { b.b = b.b[:0]; return nil }

// Bytes returns the contents.
func (b *Buffer) Bytes() []byte { return b.b }

// discard is a Destination that keeps nothing.
type discard struct{ n int64 }

func (d *discard) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }
func (d *discard) Offset() int64               { return d.n }
func (d *discard) Truncate() error             { d.n = 0; return nil }

// A Replayer is a Destination that can feed back the prefix it already
// holds, so that digests of a resumed download cover the whole artifact.
type Replayer interface {
	Destination
	Replay(w io.Writer) error
}

// digester is a Destination that computes digests of what it passes on to
// next, and reports the bytes to progress.
type digester struct {
	algs     []string
	hs       []hash.Hash
	next     Destination
	progress func(int64)
}

func newDigester(want Digests, next Destination, progress func(int64)) (*digester, error) {
	d := &digester{next: next, progress: progress}
	for alg := range want {
		d.algs = append(d.algs, alg)
	}
	if _, ok := want["sha256"]; !ok {
		// Computed anyway: the fetch manifest names every file by sha256.
		d.algs = append(d.algs, "sha256")
	}
	slices.Sort(d.algs)
	for _, alg := range d.algs {
		switch alg {
		case "sha256":
			d.hs = append(d.hs, sha256.New())
		case "sha512":
			d.hs = append(d.hs, sha512.New())
		default:
			return nil, fmt.Errorf("unsupported hash algorithm %.20q (only sha256 and sha512 are valid)", alg)
		}
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("no digest listed")
	}
	if next.Offset() > 0 {
		r, ok := next.(Replayer)
		if !ok {
			if err := next.Truncate(); err != nil {
				return nil, err
			}
		} else if err := r.Replay(d.hashWriter()); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *digester) hashWriter() io.Writer {
	ws := make([]io.Writer, len(d.hs))
	for i, h := range d.hs {
		ws[i] = h
	}
	if len(ws) == 1 {
		return ws[0]
	}
	return io.MultiWriter(ws...)
}

func (d *digester) Write(p []byte) (int, error) {
	n, err := d.next.Write(p)
	for _, h := range d.hs {
		h.Write(p[:n])
	}
	if d.progress != nil {
		d.progress(int64(n))
	}
	return n, err
}

func (d *digester) Offset() int64 { return d.next.Offset() }

func (d *digester) Truncate() error {
	for _, h := range d.hs {
		h.Reset()
	}
	return d.next.Truncate()
}

// check compares the digests with want and returns the sha256 digest.
func (d *digester) check(want Digests) (string, error) {
	var sha string
	for i, alg := range d.algs {
		got := hex.EncodeToString(d.hs[i].Sum(nil))
		if w, listed := want[alg]; listed && got != w {
			return "", fmt.Errorf("%s mismatch: signed %s, downloaded %s", alg, want[alg], got)
		}
		if alg == "sha256" {
			sha = got
		}
	}
	return sha, nil
}

// complete reports whether what the digester holds already has the
// digests want: a resumed download that needs no more bytes. Sum leaves
// the hash state as it was.
func (d *digester) complete(want Digests) bool {
	_, err := d.check(want)
	return err == nil
}
