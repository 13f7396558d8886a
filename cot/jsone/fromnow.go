package jsone

import (
	"regexp"
	"strconv"
	"time"
)

// A fromNow offset: an optional sign, then number/unit pairs from the
// largest unit to the smallest, whitespace anywhere between. Years are 365
// days and months 30 days (the reference's fixed lengths, not calendar
// arithmetic): '1 month' from 2017-01-19 is 2017-02-18.
var offsetPattern = regexp.MustCompile(`^\s*([-+])?` +
	`(?:\s*(\d+)\s*(?:years?|yr|y))?` +
	`(?:\s*(\d+)\s*(?:months?|mo))?` +
	`(?:\s*(\d+)\s*(?:weeks?|wk|w))?` +
	`(?:\s*(\d+)\s*(?:days?|d))?` +
	`(?:\s*(\d+)\s*(?:hours?|hr|h))?` +
	`(?:\s*(\d+)\s*(?:minutes?|min|m))?` +
	`(?:\s*(\d+)\s*(?:seconds?|sec|s))?` +
	`\s*$`)

var unitLengths = []time.Duration{
	365 * 24 * time.Hour, 30 * 24 * time.Hour, 7 * 24 * time.Hour, 24 * time.Hour,
	time.Hour, time.Minute, time.Second,
}

// maxOffsetUnits bounds each number so that the sum cannot overflow.
const maxOffsetUnits = 1_000_000

func fromNow(offset, reference string) (any, error) {
	m := offsetPattern.FindStringSubmatch(offset)
	if m == nil {
		return nil, interpErr("String: '%s' isn't a time expression", offset)
	}
	ref, err := parseTime(reference)
	if err != nil {
		return nil, err
	}
	var d time.Duration
	for i, unit := range unitLengths {
		if m[i+2] == "" {
			continue
		}
		n, err := strconv.Atoi(m[i+2])
		if err != nil || n > maxOffsetUnits {
			return nil, interpErr("time expression '%s': %s is too large", offset, m[i+2])
		}
		d += time.Duration(n) * unit
	}
	if m[1] == "-" {
		d = -d
	}
	return formatTime(ref.Add(d)), nil
}

// formatTime writes a time as JavaScript's Date.toISOString does.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// parseTime reads a reference time: RFC 3339 with or without a fraction,
// or a bare date (midnight UTC), the forms the reference accepts that
// Taskcluster uses.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Truncate(time.Millisecond), nil
		}
	}
	return time.Time{}, interpErr("'%s' is not a valid date-time; use the ISO 8601 form 2017-01-19T16:27:20.974Z", s)
}
