package explorer

import (
	"html/template"
	"strconv"
	"strings"
)

// SVG draws the chart as inline SVG. It is written here rather than in a
// template because a month's chart has thousands of bars, and the
// template engine's per-attribute escaping cost more than the database.
// Every value is a number, a colour from the palette, or text and URLs
// escaped with template.HTMLEscapeString, which escapes all five of
// <>&'" — tests parse every chart as XML and check that hostile names
// stay text.
func (c chart) SVG() template.HTML {
	var b strings.Builder
	b.Grow(256 + 300*len(c.Bars))
	num := func(f float64) { b.WriteString(strconv.FormatFloat(f, 'f', 1, 64)) }
	esc := func(s string) { b.WriteString(template.HTMLEscapeString(s)) }
	b.WriteString(`<svg class="timeline" viewBox="0 0 960 `)
	b.WriteString(strconv.Itoa(c.Height))
	b.WriteString(`" role="img" aria-label="`)
	esc(printable(c.Title, 200))
	b.WriteString(`" xmlns="http://www.w3.org/2000/svg">`)
	base := strconv.Itoa(c.Base)
	b.WriteString(`<line class="axis" x1="56" x2="952" y1="` + base + `" y2="` + base + `"/>`)
	if c.Max > 0 {
		b.WriteString(`<text class="scale" x="50" y="10" text-anchor="end">` + thousands(c.Max) + `</text>`)
		b.WriteString(`<text class="scale" x="50" y="` + base + `" text-anchor="end">0</text>`)
	}
	for _, r := range c.Bars {
		b.WriteString("\n<a href=\"")
		esc(r.Href)
		b.WriteString(`"><rect class="bar" x="`)
		num(r.X)
		b.WriteString(`" y="`)
		num(r.Y)
		b.WriteString(`" width="`)
		num(r.W)
		b.WriteString(`" height="`)
		num(r.H)
		b.WriteString(`" fill="`)
		esc(r.Color)
		b.WriteString(`"><title>`)
		esc(r.Title)
		b.WriteString(`</title></rect></a>`)
	}
	for _, w := range c.Windows {
		b.WriteString("\n<g class=\"window ")
		esc(w.Class)
		b.WriteString(`"><rect x="`)
		num(w.X)
		b.WriteString(`" y="116" width="`)
		num(w.W)
		b.WriteString(`" height="16"><title>`)
		esc(w.Title)
		b.WriteString(`</title></rect><text x="`)
		num(w.LabelX)
		b.WriteString(`" y="128">`)
		esc(w.Label)
		b.WriteString(`</text></g>`)
	}
	for _, m := range c.Marks {
		b.WriteString("\n<g class=\"revoked\"><line x1=\"")
		num(m.X)
		b.WriteString(`" x2="`)
		num(m.X)
		b.WriteString(`" y1="0" y2="132"/><title>`)
		esc(m.Title)
		b.WriteString(`</title></g>`)
	}
	for _, t := range c.Ticks {
		b.WriteString("\n<text class=\"tick\" x=\"")
		num(t.X)
		b.WriteString(`" y="` + strconv.Itoa(c.AxisY) + `" text-anchor="` + t.Anchor + `">`)
		esc(t.Label)
		b.WriteString(`</text>`)
	}
	b.WriteString("\n</svg>")
	return template.HTML(b.String())
}
