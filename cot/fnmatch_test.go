package cot

import (
	"testing"
)

// TestFnmatch checks the pattern rules of Python's fnmatch, which
// scriptworker applies to upstreamArtifacts paths: '*' crosses '/'.
func TestFnmatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"public/build/*.tar.bz2", "public/build/target.tar.bz2", true},
		{"public/build/*.tar.bz2", "public/build/en-US/target.tar.bz2", true},
		{"public/build/*.tar.bz2", "public/build/target.tar.bz2.asc", false},
		{"public/build/*.tar.bz2", "public/buildXtarget.tar.bz2", false},
		{"public/*/target.?ip", "public/build/target.zip", true},
		{"public/*/target.?ip", "public/build/target.zzip", false},
		{"public/[ab]*", "public/build", true},
		{"public/[!ab]*", "public/build", false},
		{"public/[!ab]*", "public/c", true},
		{"public/[*", "public/[x", true},
		{"public/a+b(*)", "public/a+b(c)", true},
		{"public/a.b*", "public/aXb", false},
		{"*", "line\nbreak", true},
		{"public/[]]*", "public/]x", true},
		{"public/[a-c]*", "public/b", true},
		{"public/[a-c]*", "public/d", false},
		{"public/[\\]*", "public/\\x", true},
	}
	for _, tc := range tests {
		re, err := fnmatchRegexp(tc.pattern)
		if err != nil {
			t.Errorf("%q: %v", tc.pattern, err)
			continue
		}
		if got := re.MatchString(tc.name); got != tc.want {
			t.Errorf("fnmatch(%q, %q) = %v, want %v (regexp %s)", tc.name, tc.pattern, got, tc.want, re)
		}
	}
}

// FuzzFnmatch: any pattern translates without a panic, and a pattern
// without special characters matches exactly itself.
func FuzzFnmatch(f *testing.F) {
	for _, s := range []string{"public/build/*.tar.bz2", "[!a-z]?*", "[", "[]", "a[\\]b", "x**y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		re, err := fnmatchRegexp(pattern)
		if err != nil {
			return // an invalid set such as [z-a] is reported, not a panic
		}
		plain := true
		for _, c := range pattern {
			if c == '*' || c == '?' || c == '[' {
				plain = false
			}
		}
		if plain && !re.MatchString(pattern) {
			t.Fatalf("literal pattern %q does not match itself", pattern)
		}
	})
}
