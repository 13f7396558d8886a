package explorer

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/signet-dev/signet/audit"
)

// A span is the range a timeline shows, cut into buckets.
type span struct {
	Since, Until time.Time
	Bucket       time.Duration
	Preset       string // the preset chosen, "" for a custom range
}

// presets are the ranges offered, with their buckets.
var presets = []struct {
	Name   string
	Length time.Duration
	Bucket time.Duration
}{
	{"1h", time.Hour, time.Minute},
	{"6h", 6 * time.Hour, 5 * time.Minute},
	{"24h", 24 * time.Hour, 15 * time.Minute},
	{"7d", 7 * 24 * time.Hour, 2 * time.Hour},
	{"30d", 30 * 24 * time.Hour, 6 * time.Hour},
	{"90d", 90 * 24 * time.Hour, 24 * time.Hour},
	{"1y", 365 * 24 * time.Hour, 7 * 24 * time.Hour},
}

// buckets are the bucket widths a custom range may get: the first that
// cuts it into at most maxBuckets.
var buckets = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour,
	24 * time.Hour, 7 * 24 * time.Hour, 28 * 24 * time.Hour}

const maxBuckets = 150

// parseSpan reads the range of a timeline from the query: range=PRESET, or
// since and until (RFC 3339 or 2006-01-02); default the last 7 days.
func parseSpan(q url.Values, now time.Time) (span, error) {
	since, until := q.Get("since"), q.Get("until")
	if since == "" && until == "" {
		name := cmp.Or(q.Get("range"), "7d")
		for _, p := range presets {
			if p.Name == name {
				end := ceil(now, p.Bucket)
				return span{Since: end.Add(-p.Length).Truncate(p.Bucket), Until: end, Bucket: p.Bucket, Preset: p.Name}, nil
			}
		}
		return span{}, fmt.Errorf("range=%.20q is not one of 1h, 6h, 24h, 7d, 30d, 90d, 1y", name)
	}
	var s, u time.Time
	var err error
	if s, err = parseTime("since", since, now.Add(-7*24*time.Hour)); err != nil {
		return span{}, err
	}
	if u, err = parseTime("until", until, now); err != nil {
		return span{}, err
	}
	if !s.Before(u) {
		return span{}, fmt.Errorf("since (%s) is not before until (%s)", when(s), when(u))
	}
	if u.Sub(s) > 20*365*24*time.Hour || s.Year() < 1970 || u.Year() > 2200 {
		return span{}, fmt.Errorf("a timeline spans at most 20 years, between 1970 and 2200")
	}
	for _, b := range buckets {
		first, end := s.Truncate(b), ceil(u, b)
		if end.Sub(first)/b <= maxBuckets || b == buckets[len(buckets)-1] {
			return span{Since: first, Until: end, Bucket: b}, nil
		}
	}
	panic("unreachable")
}

// parseTime parses a time parameter: RFC 3339, or a date (UTC midnight).
func parseTime(name, v string, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s=%.40q is not a time such as 2026-01-02T15:04:05Z or 2026-01-02", name, v)
}

// ceil rounds t up to a multiple of d.
func ceil(t time.Time, d time.Duration) time.Time {
	f := t.Truncate(d)
	if f.Equal(t) {
		return f
	}
	return f.Add(d)
}

// n returns the number of buckets.
func (s span) n() int { return int(s.Until.Sub(s.Since) / s.Bucket) }

// The geometry of a chart, in SVG user units.
const (
	chartW     = 960
	plotX      = 56 // left margin, for the scale
	plotW      = chartW - plotX - 8
	barsH      = 110
	versionsY  = barsH + 6
	versionsH  = 16
	axisY      = versionsY + versionsH + 14
	chartH     = axisY + 6
	refusalsH  = 90
	refusalAxY = refusalsH + 14
)

// A chart is one key's timeline, or the refusals', ready to draw.
type chart struct {
	Title    string
	Subtitle string
	Total    int64
	Max      int64 // the tallest bar
	Bars     []bar
	Windows  []drawnWindow
	Marks    []mark
	Ticks    []tick
	Height   int
	AxisY    int // the tick labels' baseline
	Base     int // the bars' baseline
}

// A bar is one segment of a stacked bar: one series in one bucket.
type bar struct {
	X, Y, W, H float64
	Color      string
	Title      string // tooltip
	Href       string // the entries it counts
}

type drawnWindow struct {
	X, W   float64
	LabelX float64
	Class  string // CSS class by state
	Label  string
	Title  string
}

type mark struct {
	X     float64
	Title string
}

type tick struct {
	X      float64
	Label  string
	Anchor string // of the label: middle, or end at the right edge
}

// palette colours series; a principal keeps its colour across charts.
var palette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7", "#9c755f", "#bab0ac", "#e15759"}

// colorOf returns the colour of series name among the ranked names.
func colorOf(name string, rank map[string]int) string {
	if i, ok := rank[name]; ok && i < len(palette) {
		return palette[i]
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return palette[h.Sum32()%uint32(len(palette))]
}

// series are the counts of one chart: bucket → series name → count.
type series map[int]map[string]int64

func (s series) add(b int, name string, n int64) {
	if s[b] == nil {
		s[b] = map[string]int64{}
	}
	s[b][name] += n
}

// x returns the x coordinate of t in span s.
func (s span) x(t time.Time) float64 {
	f := float64(t.Sub(s.Since)) / float64(s.Until.Sub(s.Since))
	return plotX + max(0, min(1, f))*plotW
}

// draw lays out stacked bars of ser over s, tallest bar at height h; href
// returns the link of a series in a bucket.
func draw(s span, ser series, rank map[string]int, h float64, href func(name string, from, to time.Time) string, what string) (bars []bar, total, tallest int64) {
	for _, names := range ser {
		var t int64
		for _, n := range names {
			t += n
		}
		tallest = max(tallest, t)
	}
	if tallest == 0 {
		return nil, 0, 0
	}
	w := float64(plotW) / float64(s.n())
	for b := range s.n() {
		names := ser[b]
		if len(names) == 0 {
			continue
		}
		order := make([]string, 0, len(names))
		for n := range names {
			order = append(order, n)
		}
		slices.SortFunc(order, func(a, b string) int {
			return cmp.Or(cmp.Compare(rankOf(a, rank), rankOf(b, rank)), strings.Compare(a, b))
		})
		from := s.Since.Add(time.Duration(b) * s.Bucket)
		to := from.Add(s.Bucket)
		y := h
		for _, name := range order {
			n := names[name]
			total += n
			bh := float64(n) / float64(tallest) * h
			y -= bh
			label := printable(name, maxShown)
			if label == "" {
				label = "(none)"
			}
			bars = append(bars, bar{
				X: plotX + float64(b)*w, Y: y, W: max(w-1, 1), H: max(bh, 0.5), Color: colorOf(name, rank),
				Title: fmt.Sprintf("%s: %s %s, %s to %s", label, thousands(n), what, when(from), when(to)),
				Href:  href(name, from, to),
			})
		}
	}
	return bars, total, tallest
}

func rankOf(name string, rank map[string]int) int {
	if i, ok := rank[name]; ok {
		return i
	}
	return len(rank)
}

// ticks returns about six labelled ticks over s.
func ticks(s span) []tick {
	layout := "Jan 2 15:04"
	switch {
	case s.Until.Sub(s.Since) <= 24*time.Hour:
		layout = "15:04"
	case s.Bucket >= 24*time.Hour:
		layout = "2006-01-02"
	}
	step := max(1, s.n()/6)
	var out []tick
	for b := 0; b <= s.n(); b += step {
		t := s.Since.Add(time.Duration(b) * s.Bucket)
		out = append(out, tick{X: s.x(t), Label: t.UTC().Format(layout), Anchor: "middle"})
	}
	if n := len(out); n > 0 && out[n-1].X > plotX+plotW-40 {
		out[n-1].Anchor = "end"
	}
	return out
}

// timeline is the overview's picture of the log over a span.
type timeline struct {
	Span      span
	Presets   []string
	Keys      []chart
	Refusals  chart
	ByReason  []reasonCount
	Legend    []legendItem
	Signed    int64 // signatures in the span
	Refused   int64
	Principal string // filter, if any
}

type reasonCount struct {
	Reason string
	N      int64
	Href   string
	Color  string // its colour in the refusals chart
}

type legendItem struct {
	Name  string
	Color string
	N     int64
}

// buildTimeline turns counts into charts: one per key (signatures stacked
// by principal, the key's versions under them) and one of refusals
// stacked by reason.
func buildTimeline(s span, counts []audit.Count, keys []keyInfo, now time.Time) timeline {
	t := timeline{Span: s}
	for _, p := range presets {
		t.Presets = append(t.Presets, p.Name)
	}
	bucketOf := func(c audit.Count) int { return int(c.Start.Sub(s.Since) / s.Bucket) }
	perKey := map[string]series{}
	byPrincipal := map[string]int64{}
	refusals := series{}
	byReason := map[string]int64{}
	for _, c := range counts {
		b := bucketOf(c)
		if b < 0 || b >= s.n() {
			continue
		}
		switch {
		case c.Decision != string(audit.Allowed):
			refusals.add(b, c.Refusal, c.N)
			byReason[c.Refusal] += c.N
			t.Refused += c.N
		case c.Action == string(audit.ActionSign):
			if perKey[c.Key] == nil {
				perKey[c.Key] = series{}
			}
			perKey[c.Key].add(b, c.Principal, c.N)
			byPrincipal[c.Principal] += c.N
			t.Signed += c.N
		}
	}
	// Principals ranked by signatures, so the busiest get distinct colours.
	names := make([]string, 0, len(byPrincipal))
	for n := range byPrincipal {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(byPrincipal[b], byPrincipal[a]), strings.Compare(a, b))
	})
	rank := map[string]int{}
	for i, n := range names {
		rank[n] = i
		t.Legend = append(t.Legend, legendItem{Name: n, Color: colorOf(n, rank), N: byPrincipal[n]})
	}
	// Every key of the keystore, and keys of the log no longer in it.
	known := map[string]keyInfo{}
	var order []string
	for _, k := range keys {
		known[k.Name] = k
		order = append(order, k.Name)
	}
	for k := range perKey {
		if _, ok := known[k]; !ok {
			order = append(order, k)
		}
	}
	slices.Sort(order)
	tk := ticks(s)
	for _, name := range order {
		k, inStore := known[name]
		if inStore && !k.Signs && perKey[name] == nil {
			continue // the log's and the tokens' keys sign no entries
		}
		bars, total, tallest := draw(s, perKey[name], rank, barsH, func(p string, from, to time.Time) string {
			return searchHref(url.Values{"key": {name}, "principal": {p}, "action": {"sign"}, "decision": {"allowed"}}, from, to)
		}, "signatures")
		c := chart{Title: name, Total: total, Max: tallest, Bars: bars, Ticks: tk, Height: chartH, AxisY: axisY, Base: barsH}
		if inStore {
			c.Subtitle = k.Type + ", usage " + k.Usage
			c.Windows, c.Marks = drawWindows(s, k.Versions)
		} else {
			c.Subtitle = "not in the keystore"
		}
		t.Keys = append(t.Keys, c)
	}
	reasons := make([]string, 0, len(byReason))
	for r := range byReason {
		reasons = append(reasons, r)
	}
	slices.SortFunc(reasons, func(a, b string) int { return cmp.Or(cmp.Compare(byReason[b], byReason[a]), strings.Compare(a, b)) })
	rrank := map[string]int{}
	for i, r := range reasons {
		rrank[r] = len(palette) - 1 - i // refusals take the palette from its red end
		t.ByReason = append(t.ByReason, reasonCount{Reason: r, N: byReason[r]})
	}
	rbars, rtotal, rmax := draw(s, refusals, rrank, refusalsH, func(r string, from, to time.Time) string {
		return searchHref(url.Values{"refusal": {r}}, from, to)
	}, "refused")
	t.Refusals = chart{Title: "Refusals", Total: rtotal, Max: rmax, Bars: rbars, Ticks: tk, Height: refusalAxY + 6, AxisY: refusalAxY, Base: refusalsH}
	for i := range t.ByReason {
		t.ByReason[i].Href = searchHref(url.Values{"refusal": {t.ByReason[i].Reason}}, s.Since, s.Until)
		t.ByReason[i].Color = colorOf(t.ByReason[i].Reason, rrank)
	}
	return t
}

// searchHref links to the search page for v between from and to. Empty
// values are left out, but for the principal: entries without one (the
// unauthenticated) are a bar too.
func searchHref(v url.Values, from, to time.Time) string {
	var b strings.Builder
	b.WriteString(Prefix + "search?")
	for _, k := range []string{"key", "principal", "action", "decision", "refusal"} {
		if vs, ok := v[k]; ok && (vs[0] != "" || k == "principal") {
			b.WriteString(k + "=" + url.QueryEscape(vs[0]) + "&")
		}
	}
	b.WriteString("since=" + from.UTC().Format(time.RFC3339) + "&until=" + to.UTC().Format(time.RFC3339))
	return b.String()
}

// drawWindows draws a key's versions: each version's validity window as a
// band coloured by state, and a mark at each revocation.
func drawWindows(s span, vs []version) ([]drawnWindow, []mark) {
	var ws []drawnWindow
	var ms []mark
	for _, v := range vs {
		end := v.NotAfter
		if end.IsZero() {
			end = s.Until // until rotated
		}
		if !v.Revoked.IsZero() && v.Revoked.Before(end) {
			end = v.Revoked
		}
		if !end.After(s.Since) || !v.NotBefore.Before(s.Until) {
			continue
		}
		x0, x1 := s.x(v.NotBefore), s.x(end)
		title := fmt.Sprintf("version %d, %s: from %s", v.Number, v.State, when(v.NotBefore))
		if !v.NotAfter.IsZero() {
			title += " to " + when(v.NotAfter)
		}
		ws = append(ws, drawnWindow{X: x0, W: max(x1-x0, 1), LabelX: x0 + 3, Class: "v-" + v.State, Label: fmt.Sprintf("v%d", v.Number), Title: title})
		if !v.Revoked.IsZero() && !v.Revoked.Before(s.Since) && v.Revoked.Before(s.Until) {
			ms = append(ms, mark{X: s.x(v.Revoked), Title: fmt.Sprintf("version %d revoked %s (%s)", v.Number, when(v.Revoked), v.Reason)})
		}
	}
	return ws, ms
}
