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

	"github.com/rankpulse/rankpulse/chart"
)

// gridRowsShown is how many countries a grid shows before the rest
// collapse.
const gridRowsShown = 12

// gridTooOld hides a country whose newest snapshot is older than this.
const gridTooOld = 48 * time.Hour

// staleAfter fades a cell whose snapshot is this much older than its
// chart's newest elsewhere (seconds): a country the sweep has not reached
// yet, or one that failed to be stored. Jobs a few minutes apart do not.
const staleAfter = 90 * 60

type gridCell struct {
	c     code
	stale bool
	title string
}

type gridRow struct {
	cc    string
	key   chart.Key
	best  float64
	cells []gridCell
}

type gridCol struct {
	app   int
	watch string
	name  string
	order float64
}

// gridView is one chart (store, chart, category) across countries.
type gridView struct {
	id, title, asOf string
	cols            []gridCol
	rows            []gridRow
	outCountries    []string // no shown app in the chart there
	absent          []string // watched apps below the chart everywhere
	old             int      // countries not read in gridTooOld
}

// gridViews builds every chart's grid. Callers hold m.mu (read).
func (m *model) gridViews(now time.Time) []gridView {
	keys := make([]groupKey, 0, len(m.groups))
	for k := range m.groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, groupKey.less)
	var out []gridView
	for _, gk := range keys {
		if len(m.apps[gk.store]) == 0 {
			continue
		}
		if g, ok := m.gridView(gk, now); ok {
			out = append(out, g)
		}
	}
	return out
}

func (m *model) gridView(gk groupKey, now time.Time) (gridView, bool) {
	var charts []*chartSum
	var newest uint32
	g := gridView{id: groupID(gk), title: groupTitle(gk)}
	for _, c := range m.groups[gk] {
		if now.Sub(time.Unix(int64(c.latest), 0)) > gridTooOld {
			g.old++
			continue
		}
		charts = append(charts, c)
		newest = max(newest, c.latest)
	}
	if len(charts) == 0 {
		return g, false
	}
	g.asOf = clock(time.Unix(int64(newest), 0), now)
	apps := m.apps[gk.store]
	for a := range apps {
		var known []float64
		ranked := false
		for _, c := range charts {
			switch cd := c.cur[a]; {
			case cd.ranked():
				ranked = true
				known = append(known, float64(cd.rank()))
			case cd == codeOut:
				known = append(known, float64(max(c.depth, maxRank)+1))
			}
		}
		if !ranked {
			g.absent = append(g.absent, apps[a].watch)
			continue
		}
		g.cols = append(g.cols, gridCol{app: a, watch: apps[a].watch, name: m.names[gk.store][a], order: median(known)})
	}
	slices.SortStableFunc(g.cols, func(a, b gridCol) int { return cmp.Compare(a.order, b.order) })
	for _, c := range charts {
		row := gridRow{cc: c.key.Country, key: c.key, best: math.Inf(1)}
		unknown := false
		for _, col := range g.cols {
			cell := gridCell{c: c.cur[col.app], stale: c.latest+staleAfter < newest}
			country := chart.CountryName(c.key.Country)
			switch {
			case cell.c.ranked():
				row.best = math.Min(row.best, float64(cell.c.rank()))
			case cell.c == codeUnknown:
				unknown = true
				cell.title = country + ": the chart of " + clock(time.Unix(int64(c.latest), 0), now) + " was not read in full"
				if k := c.known[col.app]; k != codeNone {
					cell.title += "; last known " + rankText(k, c.depth) + " at " + clock(time.Unix(int64(c.knownAt[col.app]), 0), now)
				}
			}
			if cell.stale && cell.title == "" {
				cell.title = country + ": as of " + clock(time.Unix(int64(c.latest), 0), now)
			}
			row.cells = append(row.cells, cell)
		}
		switch {
		case !math.IsInf(row.best, 1):
		case unknown:
			row.best = math.MaxFloat64 // after every ranked country
		default:
			g.outCountries = append(g.outCountries, strings.ToUpper(c.key.Country))
			continue
		}
		g.rows = append(g.rows, row)
	}
	slices.SortStableFunc(g.rows, func(a, b gridRow) int { return cmp.Or(cmp.Compare(a.best, b.best), cmp.Compare(a.cc, b.cc)) })
	return g, true
}

func groupID(gk groupKey) string { return "g-" + gk.store + "-" + gk.chart + "-" + gk.category }

func groupTitle(gk groupKey) string {
	return chart.StoreName(gk.store) + " · " + chart.Key{Store: gk.store, Chart: gk.chart, Category: gk.category}.ChartTitle()
}

func chartHref(k chart.Key) string {
	return "/chart/" + k.Store + "/" + k.Country + "/" + k.Chart + "/" + k.Category
}

func appHref(watch, rng, anchor string) string {
	h := "/app/" + watch
	if rng != "" {
		h += "?range=" + rng
	}
	if anchor != "" {
		h += "#" + anchor
	}
	return h
}

// html renders the grid: the first countries in one table, the rest in a
// second one under a <details>, both with the same columns.
func (g *gridView) html() template.HTML {
	var b strings.Builder
	esc := html.EscapeString
	b.WriteString(`<div class="gridbox" id="` + esc(g.id) + `"><h3>` + esc(g.title) + ` <span class="asof">as of ` + esc(g.asOf) + `</span></h3>`)
	n := strconv.Itoa(len(g.cols))
	if len(g.cols) > 0 {
		shown := g.rows[:min(len(g.rows), gridRowsShown)]
		b.WriteString(`<div class="hscroll"><table class="grid" style="--n:` + n + `"><thead><tr><th class="corner" scope="col"><span>country</span></th>`)
		for _, c := range g.cols {
			title := c.watch
			if c.name != "" {
				title = c.name
			}
			b.WriteString(`<th class="app" scope="col"><a href="` + esc(appHref(c.watch, "", g.id)) + `" title="` + esc(title) + `"><span>` + esc(c.watch) + `</span></a></th>`)
		}
		b.WriteString(`</tr></thead><tbody>`)
		g.writeRows(&b, shown)
		b.WriteString(`</tbody></table></div>`)
		if rest := g.rows[len(shown):]; len(rest) > 0 {
			b.WriteString(`<details class="more"><summary>` + strconv.Itoa(len(rest)) + ` more ` + plural(len(rest), "country", "countries") + `</summary><div class="hscroll"><table class="grid" style="--n:` + n + `"><tbody>`)
			g.writeRows(&b, rest)
			b.WriteString(`</tbody></table></div></details>`)
		}
	}
	if len(g.absent) > 0 {
		b.WriteString(`<p class="note">Below the chart in every country read: ` + esc(strings.Join(g.absent, ", ")) + `.</p>`)
	}
	if len(g.outCountries) > 0 {
		b.WriteString(`<p class="note">No watched app in the chart: ` + esc(strings.Join(g.outCountries, " ")) + `.</p>`)
	}
	if g.old > 0 {
		b.WriteString(`<p class="note">` + strconv.Itoa(g.old) + ` ` + plural(g.old, "country", "countries") + ` not read for 48 hours or more are left out.</p>`)
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String())
}

func (g *gridView) writeRows(b *strings.Builder, rows []gridRow) {
	for _, r := range rows {
		b.WriteString(`<tr><th scope="row"><a href="` + chartHref(r.key) + `" title="` + html.EscapeString(chart.CountryName(r.cc)) + `">` + strings.ToUpper(r.cc) + `</a></th>`)
		for _, c := range r.cells {
			cls := band(c.c)
			if c.stale {
				cls += " stale"
			}
			b.WriteString(`<td class="` + cls + `"`)
			if c.title != "" {
				b.WriteString(` title="` + html.EscapeString(c.title) + `"`)
			}
			b.WriteString(`>` + standing(c.c) + `</td>`)
		}
		b.WriteString(`</tr>`)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
