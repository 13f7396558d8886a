package custody

import (
	"encoding/base64"
	"fmt"
	"slices"
	"time"
)

func encode(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// A Collector gathers the shares of one ceremony (an unlock, or the
// approval of one rekey) until the threshold is reached. Progress expires
// a window after the first share: a quorum must assemble within it, so
// that a share submitted today cannot be combined with one submitted next
// month by someone else. A Collector is not safe for concurrent use.
type Collector struct {
	set     *Set
	window  time.Duration
	started time.Time
	shares  []Share
	by      []Received
}

// Received records who submitted which share, and when. It holds no share
// value.
type Received struct {
	Index     int       `json:"index"`
	Custodian string    `json:"custodian"`
	By        string    `json:"by"` // the principal that submitted it
	At        time.Time `json:"at"`
}

// Progress is the state of a ceremony.
type Progress struct {
	Set       string     `json:"set"`
	Threshold int        `json:"threshold"`
	Shares    int        `json:"shares"` // custodians in the set
	Received  []Received `json:"received"`
	Expires   time.Time  `json:"expires,omitzero"` // when the partial progress is discarded
}

// NewCollector returns an empty Collector for shares of set.
func NewCollector(set *Set, window time.Duration) *Collector {
	return &Collector{set: set, window: window}
}

// Set returns the set shares are collected for.
func (c *Collector) Set() *Set { return c.set }

// Expire discards the progress if its window has passed at now, and
// returns what was discarded (nil if nothing).
func (c *Collector) Expire(now time.Time) []Received {
	if c.started.IsZero() || now.Before(c.started.Add(c.window)) {
		return nil
	}
	lost := c.by
	c.Reset()
	return lost
}

// Reset discards every share received, zeroing their values.
func (c *Collector) Reset() {
	for i := range c.shares {
		c.shares[i].Wipe()
	}
	c.shares, c.by, c.started = nil, nil, time.Time{}
}

// Progress returns the state at now. Call Expire first.
func (c *Collector) Progress() Progress {
	p := Progress{Set: c.set.ID, Threshold: c.set.Threshold, Shares: len(c.set.Custodians), Received: slices.Clone(c.by)}
	if !c.started.IsZero() {
		p.Expires = c.started.Add(c.window)
	}
	return p
}

// Check reports whether Add would accept sh from by, changing nothing:
// a caller records a share before adding it.
func (c *Collector) Check(by string, sh Share) error {
	if err := c.set.Verify(sh); err != nil {
		return fmt.Errorf("submitted by %q: %w", by, err)
	}
	for _, r := range c.by {
		if r.Index == sh.Index {
			return fmt.Errorf("share %d (custodian %q): %w from %q at %s", sh.Index, r.Custodian, ErrDuplicate, r.By, r.At.UTC().Format(time.RFC3339))
		}
		if r.By == by {
			return fmt.Errorf("%q: %w (share %d, custodian %q) in this ceremony; each share must come from another principal", by, ErrSubmitter, r.Index, r.Custodian)
		}
	}
	return nil
}

// Add verifies sh, submitted by principal by at now, and keeps it. Once
// the threshold is reached it returns the reconstructed secret (the caller
// wipes it) and resets itself. A share that fails verification is refused
// with an error naming its index, its custodian and the submitter, and the
// progress so far is kept. Each principal may submit one share per
// ceremony, so that one person holding several shares cannot reach a
// quorum alone.
func (c *Collector) Add(now time.Time, by string, sh Share) (secret []byte, err error) {
	if err := c.Check(by, sh); err != nil {
		return nil, err
	}
	if c.started.IsZero() {
		c.started = now
	}
	c.shares = append(c.shares, Share{Set: sh.Set, Index: sh.Index, Value: slices.Clone(sh.Value)})
	c.by = append(c.by, Received{Index: sh.Index, Custodian: c.set.Custodian(sh.Index), By: by, At: now.UTC()})
	if len(c.shares) < c.set.Threshold {
		return nil, nil
	}
	defer c.Reset()
	return c.set.Combine(c.shares)
}
