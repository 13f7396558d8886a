package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// A MigrateReport says what Migrate copied.
type MigrateReport struct {
	Entries     int64
	Checkpoints int // signed checkpoints whose roots the tile log was checked against
	Manifests   int
}

// Migrate copies the SQLite log src into a new tile log in dir, and checks
// it before anything switches: the same entries (the same bytes, hence the
// same leaves), and a tree whose root at the size of every checkpoint src
// kept, and of its head, is that checkpoint's root — so every receipt and
// checkpoint issued so far stays valid against the tile log. The copy is
// built in dir+".new" and renamed to dir only once checked.
//
// Writers of src are locked out (a SQLite write transaction) from before
// the copy until after done returns, so that no entry can be committed to
// the old log that the new one lacks; done, if not nil, is where the
// caller switches over (moves the old database aside). A failure leaves
// src as it was.
func Migrate(ctx context.Context, src *SQLStore, dir string, done func(*MigrateReport) error) (*MigrateReport, error) {
	if _, err := os.Stat(dir); err == nil {
		return nil, fmt.Errorf("audit: %s exists: the log was migrated already (remove it only if it holds no entries of its own)", dir)
	}
	tmp := dir + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	tx, err := src.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: writers wait
	if err != nil {
		return nil, fmt.Errorf("audit: locking the old log: %w", err)
	}
	defer tx.Rollback()
	var headNote string
	var size int64
	if err := tx.QueryRowContext(ctx, "SELECT checkpoint, size FROM head WHERE id = 0").Scan(&headNote, &size); err != nil {
		return nil, err
	}
	var cps []StoredCheckpoint
	rows, err := tx.QueryContext(ctx, "SELECT size, note, time FROM checkpoints ORDER BY size")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var c StoredCheckpoint
		var t int64
		if err := rows.Scan(&c.Size, &c.Signed, &t); err != nil {
			rows.Close()
			return nil, err
		}
		c.Time = time.Unix(0, t).UTC()
		cps = append(cps, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	manifests := map[string][]byte{}
	rows, err = tx.QueryContext(ctx, "SELECT digest, data FROM manifests")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var d string
		var b []byte
		if err := rows.Scan(&d, &b); err != nil {
			rows.Close()
			return nil, err
		}
		manifests[d] = b
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	var origin string
	if err := tx.QueryRowContext(ctx, "SELECT v FROM signet_meta WHERE k = 'origin'").Scan(&origin); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	dst, err := OpenTiles(tmp)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*MigrateReport, error) {
		dst.Close()
		os.RemoveAll(tmp)
		return nil, err
	}
	if origin != "" { // the origin the old log keeps goes with it
		if _, err := dst.keepOrigin(ctx, origin); err != nil {
			return fail(err)
		}
	}
	// Commits end at each kept checkpoint (which they carry, kept) and at
	// the head; between them, at most 4096 entries.
	type stop struct {
		size int64
		note string
		keep bool
		time time.Time
	}
	var stops []stop
	for _, c := range cps {
		if c.Size <= size {
			stops = append(stops, stop{c.Size, c.Signed, true, c.Time})
		}
	}
	if n := len(stops); n == 0 || stops[n-1].size < size || headNote != "" && stops[n-1].note != headNote {
		stops = append(stops, stop{size: size, note: headNote})
	}
	e := &edge{hashes: map[int64]tlog.Hash{}}
	var pos int64
	for k, st := range stops {
		lastStop := k == len(stops)-1
		// At least one commit per stop, to carry its checkpoint.
		for first := true; first || pos < st.size; first = false {
			end := min(st.size, pos+4096)
			data, err := migrateEntries(ctx, tx, pos, end)
			if err != nil {
				return fail(err)
			}
			err = dst.Append(ctx, func(size int64, last time.Time, r tlog.HashReader) (*Batch, error) {
				o := newOverlay(e)
				b := &Batch{}
				for i, d := range data {
					idx := pos + int64(i)
					if err := o.append(tlog.RecordHash(d)); err != nil {
						return nil, err
					}
					parsed, err := ParseEntry(d)
					if err != nil {
						b.Entries = append(b.Entries, StoredEntry{Index: idx, Data: d}) // verify names it
						continue
					}
					se := storedEntry(idx, parsed, d)
					b.Entries = append(b.Entries, se)
					b.LastTime = se.Time
				}
				b.Hashes, b.Size = o.order, o.size
				if end == st.size {
					if st.note != "" {
						b.Checkpoint = &StoredCheckpoint{Size: st.size, Signed: st.note, Time: st.time}
						b.KeepCheckpoint = st.keep
					}
					if lastStop {
						b.Manifests = manifests
					}
				}
				var err error
				e, err = o.edge()
				return b, err
			})
			if err != nil {
				return fail(fmt.Errorf("audit: writing the tile log: %w", err))
			}
			pos = end
		}
	}
	// Check before switching: every signed root, from the tiles.
	r := &MigrateReport{Entries: size, Manifests: len(manifests)}
	for _, st := range stops {
		if st.note == "" {
			continue
		}
		c, err := ParseUnverified(st.note)
		if err != nil {
			return fail(fmt.Errorf("audit: checkpoint of size %d in the old log: %w", st.size, err))
		}
		root, err := tlog.TreeHash(c.Size, dst)
		if err != nil {
			return fail(err)
		}
		if root != c.Root || c.Size != st.size {
			return fail(fmt.Errorf("audit: the tile log's tree of %d entries does not have the root of the old log's checkpoint: nothing was switched; run 'signet audit verify' on the old log", c.Size))
		}
		r.Checkpoints++
	}
	if _, n, _ := dst.Head(ctx); n != size {
		return fail(fmt.Errorf("audit: the tile log holds %d entries, the old log %d", n, size))
	}
	if err := dst.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fail(err)
	}
	if done != nil {
		if err := done(r); err != nil {
			return nil, errors.Join(err, os.RemoveAll(dir))
		}
	}
	return r, nil
}

// migrateEntries reads entries [start, end) of the old log in tx.
func migrateEntries(ctx context.Context, tx *sql.Tx, start, end int64) ([][]byte, error) {
	rows, err := tx.QueryContext(ctx, "SELECT idx, data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx", start, end)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var data [][]byte
	for rows.Next() {
		var i int64
		var b []byte
		if err := rows.Scan(&i, &b); err != nil {
			return nil, err
		}
		if i != start+int64(len(data)) {
			return nil, fmt.Errorf("audit: entry %d is missing from the old log; run 'signet audit verify' on it", start+int64(len(data)))
		}
		data = append(data, b)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if int64(len(data)) != end-start {
		return nil, fmt.Errorf("audit: entries %d to %d: the old log holds %d", start, end, len(data))
	}
	return data, nil
}
