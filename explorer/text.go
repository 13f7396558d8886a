package explorer

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

var funcs = template.FuncMap{
	"visible":   visible,
	"printable": printable,
	"full":      func(s string) template.HTML { return visible(s, 0) },
	"when":      when,
	"ago":       ago,
	"thousands": func(n int64) string {
		return thousands(n)
	},
	"dur":   duration,
	"round": func(d time.Duration) time.Duration { return d.Round(time.Millisecond) },
}

// maxShown is how many characters of a name a table shows.
const maxShown = 80

// visible returns s as HTML text in which every character that could
// mislead a reader — controls, bidi overrides and isolates, zero-width and
// other invisible characters, invalid UTF-8 — is shown as a marked escape
// such as ⟨U+202E⟩. Names are attacker-controlled: "invoice\u202Efdp.exe"
// must not read as "invoiceexe.pdf". Beyond max characters (0: no limit)
// the rest is cut and counted.
func visible(s string, max int) template.HTML {
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		if max > 0 && n == max {
			fmt.Fprintf(&b, `<span class="cut">… %d more bytes</span>`, len(s)-i)
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `<span class="esc">\x%02x</span>`, s[i])
		case misleading(r):
			fmt.Fprintf(&b, `<span class="esc">⟨U+%04X⟩</span>`, r)
		default:
			b.WriteString(template.HTMLEscapeString(s[i : i+size]))
		}
		i += size
		n++
	}
	return template.HTML(b.String())
}

// printable returns s as plain text with the characters visible marks,
// for tooltips and attributes, where markup cannot go.
func printable(s string, max int) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		if max > 0 && n == max {
			fmt.Fprintf(&b, "… %d more bytes", len(s)-i)
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case misleading(r):
			fmt.Fprintf(&b, "⟨U+%04X⟩", r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
		n++
	}
	return b.String()
}

// misleading reports whether r is invisible or changes how the text
// around it reads.
func misleading(r rune) bool {
	switch {
	case r == ' ':
		return false
	case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r), unicode.Is(unicode.Cf, r), // format: zero-width, bidi, tags
		unicode.IsSpace(r),                                         // every space but U+0020: tabs, NBSP, ideographic space, line separators
		r == '\uFFFD',                                              // what JSON stored for invalid UTF-8
		r == '\u115F', r == '\u1160', r == '\u3164', r == '\uFFA0', // Hangul fillers
		unicode.Is(unicode.Variation_Selector, r), unicode.Is(unicode.Noncharacter_Code_Point, r),
		unicode.Is(unicode.Co, r), !unicode.IsPrint(r) && !unicode.IsGraphic(r):
		return true
	}
	return false
}

// when formats t for a table, in UTC.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ago says how long ago (or from now) t is, relative to now.
func ago(t, now time.Time) string {
	d := now.Sub(t)
	suffix := "ago"
	if d < 0 {
		d, suffix = -d, "from now"
	}
	return duration(d) + " " + suffix
}

// duration formats d roughly, for people.
func duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days"
}

// thousands formats n with thin separators: 1,000,000.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
