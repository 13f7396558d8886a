package audit

import (
	"cmp"
	"slices"
)

// What Verify checks of a tile log beyond what every store is checked for.

// tileChecks reports what opening a tile log found wrong with it, and adds
// the checkpoint file (DIR/checkpoint, the copy a static server serves) to
// the checkpoints to check: a checkpoint there that the log does not
// reach, or whose root differs, is a log cut short or a forged copy.
func tileChecks(src Source, cps []StoredCheckpoint, r *Report) []StoredCheckpoint {
	ts, ok := src.(*TileStore)
	if !ok {
		return cps
	}
	for _, p := range ts.Problems() {
		r.fail(-1, "%s", p)
	}
	note, ok := ts.checkpointFile()
	if !ok {
		return cps
	}
	c, err := ParseUnverified(note)
	if err != nil {
		r.fail(-1, "%s: %v", ts.path("checkpoint"), err)
		return cps
	}
	for _, k := range cps {
		if k.Size == c.Size && k.Signed == note {
			return cps
		}
	}
	cps = append(cps, StoredCheckpoint{Size: c.Size, Signed: note})
	slices.SortStableFunc(cps, func(a, b StoredCheckpoint) int { return cmp.Compare(a.Size, b.Size) })
	return cps
}

// where names the files holding stored hash (level, n) when s is a tile
// log, for a problem's message.
func where(s Store, level int, n int64) string {
	if ts, ok := s.(*TileStore); ok {
		return " (in " + ts.tileOf(level, n) + ")"
	}
	return ""
}
