package statuspage

import (
	"cmp"
	"html"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// geom maps times and ranks onto an SVG: ranks on a log scale with #1 at
// the top and the deepest rank at bottom; "below the chart" on its own line
// at out, under the plot.
type geom struct {
	w, h                     float64
	left, right, top, bottom float64
	out                      float64
	depth                    int
	t0, t1                   int64
	logDepth                 float64
}

func newGeom(w, h, left, right, top, bottom, out float64, depth int, t0, t1 int64) geom {
	depth = max(depth, 10)
	if t1 <= t0 {
		t1 = t0 + 1
	}
	return geom{w: w, h: h, left: left, right: right, top: top, bottom: bottom, out: out, depth: depth, t0: t0, t1: t1, logDepth: math.Log(float64(depth))}
}

func (g geom) x(t int64) float64 {
	return g.left + (g.right-g.left)*float64(t-g.t0)/float64(g.t1-g.t0)
}

// yRank places a (fractional) rank.
func (g geom) yRank(r float64) float64 {
	r = math.Min(math.Max(r, 1), float64(g.depth))
	return g.top + (g.bottom-g.top)*math.Log(r)/g.logDepth
}

func (g geom) y(c code) float64 {
	if c == codeOut {
		return g.out
	}
	return g.yRank(float64(c.rank()))
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// path draws a series: known points joined, a gap where the rank is not
// known or samples are further apart than three times their usual spacing.
// Lone points come back as dots; last is the newest known point.
func (g geom) path(ss []sample) (d string, dots [][2]float64, last *sample) {
	gap := gapLimit(ss)
	var b strings.Builder
	var seg [][2]float64
	flush := func() {
		switch len(seg) {
		case 0:
		case 1:
			dots = append(dots, seg[0])
		default:
			b.WriteString("M" + f1(seg[0][0]) + " " + f1(seg[0][1]))
			for j := 1; j < len(seg); j++ {
				// The middle of a level run adds nothing.
				if j < len(seg)-1 && seg[j-1][1] == seg[j][1] && seg[j][1] == seg[j+1][1] {
					continue
				}
				b.WriteString("L" + f1(seg[j][0]) + " " + f1(seg[j][1]))
			}
		}
		seg = seg[:0]
	}
	var prev int64
	for i := range ss {
		s := &ss[i]
		if !s.c.known() || (len(seg) > 0 && s.t-prev > gap) {
			flush()
		}
		if s.c.known() {
			seg = append(seg, [2]float64{g.x(s.t), g.y(s.c)})
			last = s
		}
		prev = s.t
	}
	flush()
	return b.String(), dots, last
}

// gapLimit is the longest step still drawn as a line: three times the
// series' usual spacing.
func gapLimit(ss []sample) int64 {
	if len(ss) < 2 {
		return math.MaxInt64
	}
	steps := make([]float64, 0, len(ss)-1)
	for i := 1; i < len(ss); i++ {
		steps = append(steps, float64(ss[i].t-ss[i-1].t))
	}
	return max(int64(3*median(steps)), 1)
}

// plotLine is one country's line on a per-app plot.
type plotLine struct {
	label   string // "US"
	title   string
	color   int // palette index; -1: grey
	samples []sample
}

// plotMark is an alert on a line.
type plotMark struct {
	t        int64
	c        code
	title    string
	critical bool
}

// Per-app plot geometry, in SVG user units.
const (
	plotW      = 600
	plotH      = 226
	plotLeft   = 38
	plotRight  = 562 // end labels to the right
	plotTop    = 10
	plotBottom = 170
	plotOut    = 188
	plotTicksY = 214
	palette    = 10
)

// bandEdges are the rank bands' boundaries, shaded behind the lines.
var bandEdges = []struct {
	from, to float64
	class    string
}{{1, 3.5, "b1"}, {3.5, 10.5, "b2"}, {10.5, 50.5, "b3"}, {50.5, 1e9, "b4"}}

// drawPlot draws a per-app plot of one chart: a line per country, alerts
// marked on them, the newest point of each coloured line labelled on the
// right.
func drawPlot(lines []plotLine, marks []plotMark, depth int, t0, t1 int64, label string) template.HTML {
	g := newGeom(plotW, plotH, plotLeft, plotRight, plotTop, plotBottom, plotOut, depth, t0, t1)
	var b strings.Builder
	b.WriteString(`<svg class="plot" viewBox="0 0 ` + strconv.Itoa(plotW) + ` ` + strconv.Itoa(plotH) + `" role="img" aria-label="` + html.EscapeString(label) + `">`)
	g.axes(&b)
	var ends []endLabel
	// Grey lines first, so the coloured ones are drawn on top.
	order := slices.Clone(lines)
	grey := func(l plotLine) int {
		if l.color < 0 {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(order, func(a, b plotLine) int { return cmp.Compare(grey(a), grey(b)) })
	for _, l := range order {
		if last := g.line(&b, l); last != nil && l.color >= 0 {
			ends = append(ends, endLabel{y: g.y(last.c), text: l.label, color: l.color % palette})
		}
	}
	b.WriteString(`<g class="marks">`)
	for _, m := range marks {
		cls := "mark"
		if m.critical {
			cls += " crit"
		}
		b.WriteString(`<circle class="` + cls + `" data-rank="` + strconv.Itoa(m.c.rank()) + `" cx="` + f1(g.x(m.t)) + `" cy="` + f1(g.y(m.c)) + `" r="5"><title>` + html.EscapeString(m.title) + `</title></circle>`)
	}
	b.WriteString(`</g>`)
	g.endLabels(&b, ends)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// axes draws the rank bands, the rank and time grid and their labels.
func (g geom) axes(b *strings.Builder) {
	b.WriteString(`<g class="bands">`)
	for _, e := range bandEdges {
		if e.from >= float64(g.depth) {
			break
		}
		y0, y1 := g.yRank(e.from), g.yRank(e.to)
		if e.from == 1 {
			y0 = g.top - 4
		}
		b.WriteString(`<rect class="` + e.class + `" x="` + f1(g.left) + `" y="` + f1(y0) + `" width="` + f1(g.right-g.left) + `" height="` + f1(y1-y0) + `"/>`)
	}
	b.WriteString(`</g><g class="grid">`)
	for _, r := range rankTicks(g.depth) {
		y := g.yRank(float64(r))
		b.WriteString(`<line x1="` + f1(g.left) + `" x2="` + f1(g.right) + `" y1="` + f1(y) + `" y2="` + f1(y) + `"/>`)
		b.WriteString(`<text class="ytick" x="` + f1(g.left-6) + `" y="` + f1(y+3.5) + `" text-anchor="end">#` + strconv.Itoa(r) + `</text>`)
	}
	b.WriteString(`<line class="out" x1="` + f1(g.left) + `" x2="` + f1(g.right) + `" y1="` + f1(g.out) + `" y2="` + f1(g.out) + `"/>`)
	b.WriteString(`<text class="ytick" x="` + f1(g.left-6) + `" y="` + f1(g.out+3.5) + `" text-anchor="end">out</text>`)
	for _, tk := range timeTicks(g.t0, g.t1) {
		x := g.x(tk.t)
		b.WriteString(`<line x1="` + f1(x) + `" x2="` + f1(x) + `" y1="` + f1(g.top) + `" y2="` + f1(g.out) + `"/>`)
		b.WriteString(`<text x="` + f1(x) + `" y="` + strconv.Itoa(plotTicksY) + `" text-anchor="middle">` + tk.label + `</text>`)
	}
	b.WriteString(`</g>`)
}

// line draws one country's line and returns its newest known point.
func (g geom) line(b *strings.Builder, l plotLine) *sample {
	d, dots, last := g.path(l.samples)
	cls := "other"
	if l.color >= 0 {
		cls = "c" + strconv.Itoa(l.color%palette)
	}
	b.WriteString(`<g class="line ` + cls + `" data-label="` + html.EscapeString(l.label) + `"><title>` + html.EscapeString(l.title) + `</title>`)
	if d != "" {
		b.WriteString(`<path d="` + d + `"/>`)
	}
	for _, p := range dots {
		b.WriteString(`<circle cx="` + f1(p[0]) + `" cy="` + f1(p[1]) + `" r="2.2"/>`)
	}
	if last != nil {
		b.WriteString(`<circle class="pt" data-rank="` + strconv.Itoa(last.c.rank()) + `" cx="` + f1(g.x(last.t)) + `" cy="` + f1(g.y(last.c)) + `" r="3"/>`)
	}
	b.WriteString(`</g>`)
	return last
}

type endLabel struct {
	y     float64
	text  string
	color int
}

// endLabels names the lines at their newest point, at least 11 units apart.
func (g geom) endLabels(b *strings.Builder, ends []endLabel) {
	b.WriteString(`<g class="ends">`)
	slices.SortFunc(ends, func(a, b endLabel) int { return cmp.Compare(a.y, b.y) })
	for i := range ends {
		if i > 0 && ends[i].y < ends[i-1].y+11 {
			ends[i].y = ends[i-1].y + 11
		}
	}
	for _, e := range ends {
		b.WriteString(`<text class="end c` + strconv.Itoa(e.color) + `" x="` + f1(g.right+6) + `" y="` + f1(e.y+3.5) + `">` + html.EscapeString(e.text) + `</text>`)
	}
	b.WriteString(`</g>`)
}

// rankTicks are the rank lines of a plot: the band edges and the depth.
func rankTicks(depth int) []int {
	var out []int
	for _, r := range []int{1, 3, 10, 50} {
		if r < depth {
			out = append(out, r)
		}
	}
	return append(out, depth)
}

type timeTick struct {
	t     int64
	label string
}

// timeTicks spaces labels for the range: every 3 hours over a day, each
// midnight over a week, every 5 days over a month.
func timeTicks(t0, t1 int64) []timeTick {
	span := t1 - t0
	var step int64
	layout := "15:04"
	switch {
	case span <= 2*24*3600:
		step = 3 * 3600
	case span <= 10*24*3600:
		step, layout = 24*3600, "Mon 2"
	default:
		step, layout = 5*24*3600, "Jan 2"
	}
	var out []timeTick
	for t := (t0/step + 1) * step; t < t1; t += step {
		out = append(out, timeTick{t: t, label: time.Unix(t, 0).UTC().Format(layout)})
	}
	return out
}

// Sparkline geometry.
const (
	sparkW      = 168
	sparkH      = 44
	sparkTop    = 4
	sparkBottom = 32
	sparkOut    = 40
)

// sparkline is a small plot of one or a few series (a multi-country alert)
// with the alert marked.
func sparkline(series [][]sample, depth int, t0, t1 int64, mark *plotMark, label string) template.HTML {
	g := newGeom(sparkW, sparkH, 2, sparkW-4, sparkTop, sparkBottom, sparkOut, depth, t0, t1)
	var b strings.Builder
	b.WriteString(`<svg class="spark" viewBox="0 0 ` + strconv.Itoa(sparkW) + ` ` + strconv.Itoa(sparkH) + `" role="img" aria-label="` + html.EscapeString(label) + `">`)
	y10 := g.yRank(10)
	b.WriteString(`<line class="ref" x1="0" x2="` + strconv.Itoa(sparkW) + `" y1="` + f1(y10) + `" y2="` + f1(y10) + `"/>`)
	b.WriteString(`<line class="ref out" x1="0" x2="` + strconv.Itoa(sparkW) + `" y1="` + f1(g.out) + `" y2="` + f1(g.out) + `"/>`)
	for i, ss := range series {
		d, dots, last := g.path(ss)
		b.WriteString(`<g class="line s` + strconv.Itoa(min(i, 3)) + `">`)
		if d != "" {
			b.WriteString(`<path d="` + d + `"/>`)
		}
		for _, p := range dots {
			b.WriteString(`<circle cx="` + f1(p[0]) + `" cy="` + f1(p[1]) + `" r="1.8"/>`)
		}
		if last != nil {
			b.WriteString(`<circle class="pt" data-rank="` + strconv.Itoa(last.c.rank()) + `" cx="` + f1(g.x(last.t)) + `" cy="` + f1(g.y(last.c)) + `" r="2.4"/>`)
		}
		b.WriteString(`</g>`)
	}
	if mark != nil && mark.t >= t0 && mark.t <= t1 {
		cls := "mark"
		if mark.critical {
			cls += " crit"
		}
		b.WriteString(`<circle class="` + cls + `" data-rank="` + strconv.Itoa(mark.c.rank()) + `" cx="` + f1(g.x(mark.t)) + `" cy="` + f1(g.y(mark.c)) + `" r="3.6"/>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
