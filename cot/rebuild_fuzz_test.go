package cot

import (
	"path/filepath"
	"testing"
)

// FuzzParseYAMLObject: parameters.yml and .taskcluster.yml go through
// parseYAMLObject/parseYAMLValue; any input is a value or an error, never
// a panic, and a mapping's keys are strings.
func FuzzParseYAMLObject(f *testing.F) {
	for _, s := range []string{"level: '3'\nproject: mozilla-beta\n", "- a\n- b\n", "a: &x [1, 2]\nb: *x\n", "a: 1e400\n", "{a: {b: {c: null}}}", "? [1]\n: x\n", "t: 2001-12-14t21:59:43.10-05:00\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		m, err := parseYAMLObject(b, "fuzz")
		if err == nil && m == nil {
			t.Fatal("nil mapping without an error")
		}
		parseYAMLValue(b)
	})
}

// FuzzOfflinePath: whatever URL the rebuild asks for, its offline copy is
// inside the offline directory.
func FuzzOfflinePath(f *testing.F) {
	for _, s := range []string{
		"https://hg.mozilla.org/releases/mozilla-beta/raw-file/abc/.taskcluster.yml",
		"https://hg.mozilla.org/r/json-pushes?changeset=abc&version=2&full=1",
		"https://x/../../etc/passwd", "https://x/%2e%2e/%2e%2e/etc", "https://../x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		dir := filepath.Join("/", "offline")
		p, err := OfflinePath(dir, u)
		if err != nil {
			return
		}
		if rel, err := filepath.Rel(dir, p); err != nil || !filepath.IsLocal(rel) || rel == "." {
			t.Fatalf("%q maps to %q, outside %s", u, p, dir)
		}
	})
}
