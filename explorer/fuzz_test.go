package explorer

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzVisible checks that visible never lets markup through: once its own
// escape spans are removed, no character that starts markup is left
// unescaped, and no misleading character is left raw.
func FuzzVisible(f *testing.F) {
	for _, s := range hostile {
		f.Add(s, 80)
	}
	f.Add("a\u202Eb", 0)
	f.Add("<span class=\"esc\">", 3)
	entity := regexp.MustCompile(`&(amp|lt|gt|#34|#39);`)
	own := regexp.MustCompile(`<span class="esc">(⟨U\+[0-9A-F]{4,6}⟩|\\x[0-9a-f]{2})</span>|<span class="cut">… [0-9]+ more bytes</span>`)
	f.Fuzz(func(t *testing.T, s string, max int) {
		max %= 200
		if max < 0 {
			max = -max
		}
		out := string(visible(s, max))
		rest := own.ReplaceAllString(out, "")
		if strings.ContainsAny(rest, `<>"'`) {
			t.Fatalf("visible(%q) = %q: markup characters left", s, out)
		}
		if strings.Contains(entity.ReplaceAllString(rest, ""), "&") {
			t.Fatalf("visible(%q) = %q: a bare &", s, out)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("visible(%q) is not UTF-8", s)
		}
		for _, r := range rest {
			if misleading(r) && r != ' ' {
				t.Fatalf("visible(%q) = %q: %U left raw", s, out, r)
			}
		}
		p := printable(s, max)
		for _, r := range p {
			if misleading(r) {
				t.Fatalf("printable(%q) = %q: %U left raw", s, p, r)
			}
		}
	})
}

// FuzzParseSpan checks that any query gives a sane span or an error.
func FuzzParseSpan(f *testing.F) {
	for _, q := range []string{"range=7d", "range=1y", "since=2026-05-01&until=2026-05-02T06:00:00Z", "since=1970-01-01", "until=9999-12-31", "range=x", "since=2026-01-01T00:00"} {
		f.Add(q)
	}
	now := time.Date(2026, 5, 4, 12, 7, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		s, err := parseSpan(v, now)
		if err != nil {
			return
		}
		if !s.Since.Before(s.Until) || s.n() < 1 || s.n() > 20*365+1 || s.Since.Truncate(s.Bucket) != s.Since || s.Until.Truncate(s.Bucket) != s.Until {
			t.Fatalf("parseSpan(%q) = %+v (%d buckets)", q, s, s.n())
		}
	})
}
