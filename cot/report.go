package cot

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteTree writes the result for people: one line per link, indented by
// its depth in the chain, marked ✓ or ✗, with the reason for every failed
// check and a note for every skipped one.
func (r *Result) WriteTree(w io.Writer) error {
	var b strings.Builder
	for _, l := range r.Links {
		depth := strings.Count(l.Name, ":")
		indent := strings.Repeat("  ", depth)
		mark := "✓"
		if !l.OK() {
			mark = "✗"
		}
		impl := l.WorkerImpl
		if impl == "" {
			impl = "?"
		}
		fmt.Fprintf(&b, "%s%s %s %s (%s, %s on %s)\n", indent, mark, l.Name, l.TaskID, l.TaskType, impl, orQuestion(l.WorkerPool))
		for _, c := range l.Checks {
			switch c.Status {
			case Failed:
				fmt.Fprintf(&b, "%s    ✗ %s: %s\n", indent, c.Name, c.Detail)
			case Skipped:
				fmt.Fprintf(&b, "%s    - %s: %s\n", indent, c.Name, c.Detail)
			}
		}
	}
	links, failed := len(r.Links), 0
	for _, l := range r.Links {
		if !l.OK() {
			failed++
		}
	}
	if r.Trust != "" {
		fmt.Fprintf(&b, "trust: %s\n", r.Trust)
	}
	if r.Verified {
		fmt.Fprintf(&b, "chain of trust verified: %d links, %d upstream artifacts\n", links, len(r.Artifacts))
	} else {
		fmt.Fprintf(&b, "chain of trust NOT verified: %d of %d links failed\n", failed, links)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orQuestion(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// WriteJSON writes the result as one indented JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}
