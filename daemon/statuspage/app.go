package statuspage

import (
	"bytes"
	"cmp"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
)

// The ranges of a per-app page and the tier each is drawn from.
type rangeDef struct {
	name, label string
	tier        tierID
	span        time.Duration
}

var ranges = []rangeDef{
	{"24h", "24 h", tierDay, 24 * time.Hour},
	{"7d", "7 days", tierWeek, 7 * 24 * time.Hour},
	{"30d", "30 days", tierMonth, monthSpan},
}

// linesShown is how many countries a plot draws (all=1 draws every one);
// the first colouredLines are in colour, the rest grey.
const (
	linesShown    = 12
	colouredLines = palette
)

type appView struct {
	PageHead
	Watch      string
	StoreNames []string
	Ranges     []rangeLink
	Range      string
	All        bool
	AllHref    string
	Plots      []appPlot
	Empty      string
	Alerts     []alertRow
}

type rangeLink struct {
	Label, Href string
	Current     bool
}

type appPlot struct {
	ID, Title string
	SVG       template.HTML
	Legend    []legendChip
	Hidden    int    // countries not drawn
	Out       string // countries where the app was below the chart throughout
	Unknown   string // countries never read in full
	Note      string
}

type legendChip struct {
	Class, Label, Now, Title, Href string
}

// alertRow is one alert in a per-app page's list.
type alertRow struct {
	When, Full, Kind, Where, Move, Summary, Href string
	Critical                                     bool
}

func (p *Page) serveApp(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	w0 := slices.IndexFunc(p.cfg.Watch, func(w config.Watch) bool { return w.Name == name })
	if w0 < 0 {
		p.serveError(w, r, http.StatusNotFound, "No watched app is named "+strconv.Quote(name)+".", p.watchLinks())
		return
	}
	rng := r.URL.Query().Get("range")
	if rng == "" {
		// A young history is best seen over a day.
		rng = "7d"
		p.m.mu.RLock()
		if first := p.m.first; first == 0 || p.now().Sub(time.Unix(int64(first), 0)) < 48*time.Hour {
			rng = "24h"
		}
		p.m.mu.RUnlock()
	}
	ri := slices.IndexFunc(ranges, func(x rangeDef) bool { return x.name == rng })
	if ri < 0 {
		p.serveError(w, r, http.StatusBadRequest, "range must be 24h, 7d or 30d, not "+strconv.Quote(rng)+".",
			[]link{{"24 hours", appHref(name, "24h", "")}, {"7 days", appHref(name, "7d", "")}, {"30 days", appHref(name, "30d", "")}})
		return
	}
	all := r.URL.Query().Get("all") == "1"
	id := name + "|" + rng + "|" + strconv.FormatBool(all)
	key := strconv.FormatUint(p.m.version.Load(), 10)
	p.cached(w, r, &p.apps, id, key, func(now time.Time) *rendered {
		v := p.appView(p.cfg.Watch[w0], ri, all, now)
		var buf bytes.Buffer
		if err := templates.ExecuteTemplate(&buf, "app", v); err != nil {
			p.log.Error("app page not rendered", "app", name, "error", err)
			return newRendered([]byte("app page: "+template.HTMLEscapeString(err.Error())), key, now, http.StatusInternalServerError)
		}
		return newRendered(buf.Bytes(), key, now, http.StatusOK)
	})
}

func (p *Page) appView(w config.Watch, ri int, all bool, now time.Time) appView {
	rg := ranges[ri]
	v := appView{PageHead: p.head(w.Name+" · rankpulse", now), Watch: w.Name, Range: rg.label, All: all}
	for _, x := range ranges {
		v.Ranges = append(v.Ranges, rangeLink{Label: x.label, Href: appHref(w.Name, x.name, ""), Current: x.name == rg.name})
	}
	v.AllHref = appHref(w.Name, rg.name, "") + "&all=1"
	if all {
		v.AllHref = appHref(w.Name, rg.name, "")
	}
	t0, t1 := now.Add(-rg.span).Unix(), now.Unix()
	next := nextRun(p.info.Jobs())
	p.m.mu.RLock()
	defer p.m.mu.RUnlock()
	for _, s := range chart.Stores {
		app, ok := p.m.index[s][w.ID(s)]
		if !ok {
			continue
		}
		if n := p.m.names[s][app]; n != "" {
			v.StoreNames = append(v.StoreNames, chart.StoreName(s)+": "+n)
		}
		keys := make([]groupKey, 0)
		for gk := range p.m.groups {
			if gk.store == s {
				keys = append(keys, gk)
			}
		}
		slices.SortFunc(keys, groupKey.less)
		for _, gk := range keys {
			v.Plots = append(v.Plots, p.appPlot(gk, app, w.ID(s), rg.tier, t0, t1, all, next, now))
		}
	}
	if len(v.Plots) == 0 {
		v.Empty = "No chart with " + w.Name + " has been stored yet."
		if !next.IsZero() {
			v.Empty += " The next sweep is at " + clock(next, now) + " UTC, " + ago(next, now) + "."
		}
	}
	for i := range p.m.alerts.list {
		a := &p.m.alerts.list[i]
		if a.Time.Unix() < t0 || a.WatchName() != w.Name {
			continue
		}
		v.Alerts = append(v.Alerts, newAlertRow(a, now))
		if len(v.Alerts) == 50 {
			break
		}
	}
	return v
}

type countryLine struct {
	c       *chartSum
	samples []sample
	best    int // best rank in the range, 0: never ranked
	order   float64
}

func (p *Page) appPlot(gk groupKey, app int, appID string, t tierID, t0, t1 int64, all bool, next, now time.Time) appPlot {
	pl := appPlot{ID: groupID(gk), Title: groupTitle(gk)}
	lines, out, unknown, depth, points := p.countryLines(gk, app, t, t0, t1)
	pl.Out, pl.Unknown = strings.Join(out, " "), strings.Join(unknown, " ")
	if len(lines) == 0 {
		pl.Note = "Not in this chart in any country in the range."
		return pl
	}
	if !all && len(lines) > linesShown {
		pl.Hidden = len(lines) - linesShown
		lines = lines[:linesShown]
	}
	var pls []plotLine
	drawn := map[string]int{}
	for i, l := range lines {
		color := -1
		if i < colouredLines {
			color = i
		}
		cur := l.c.cur[app]
		name := chart.CountryName(l.c.key.Country)
		pls = append(pls, plotLine{label: strings.ToUpper(l.c.key.Country), color: color, samples: l.samples,
			title: name + ": now " + rankText(cur, l.c.depth) + ", best #" + strconv.Itoa(l.best)})
		drawn[l.c.key.Country] = i
		cls := "other"
		if color >= 0 {
			cls = "c" + strconv.Itoa(color)
		}
		pl.Legend = append(pl.Legend, legendChip{Class: cls, Label: strings.ToUpper(l.c.key.Country), Now: standingShort(cur),
			Title: name + ": now " + rankText(cur, l.c.depth) + ", best #" + strconv.Itoa(l.best) + " in the range", Href: chartHref(l.c.key)})
	}
	marks := p.alertMarks(gk, appID, lines, drawn, t0, now)
	pl.SVG = drawPlot(pls, marks, depth, t0, t1, "Rank of the app in "+pl.Title+" per country; #1 at the top")
	if points <= 1 {
		pl.Note = "One sweep so far: each sweep adds a point to every line."
		if !next.IsZero() {
			pl.Note += " Next at " + clock(next, now) + " UTC, " + ago(next, now) + "."
		}
	}
	return pl
}

// countryLines collects the app's series in each country of a chart: the
// countries it was ranked in (best first), those where it was below the
// chart throughout, and those never read in full.
func (p *Page) countryLines(gk groupKey, app int, t tierID, t0, t1 int64) (lines []countryLine, out, unknown []string, depth, points int) {
	for _, c := range p.m.groups[gk] {
		ss := c.series(t, app, t0, t1)
		if len(ss) == 0 {
			continue
		}
		cl := countryLine{c: c, samples: ss}
		known := false
		for _, s := range ss {
			if s.c.ranked() && (cl.best == 0 || s.c.rank() < cl.best) {
				cl.best = s.c.rank()
			}
			known = known || s.c.known()
		}
		switch {
		case cl.best > 0:
			cl.order = float64(cl.best)
			if cur := c.cur[app]; cur.ranked() {
				cl.order = math.Min(cl.order, float64(cur.rank())) - 0.5 // ranked now first
			}
			lines = append(lines, cl)
			depth = max(depth, c.depth)
			points = max(points, len(ss))
		case known:
			out = append(out, strings.ToUpper(c.key.Country))
		default:
			unknown = append(unknown, strings.ToUpper(c.key.Country))
		}
	}
	slices.SortStableFunc(lines, func(a, b countryLine) int {
		return cmp.Or(cmp.Compare(a.order, b.order), cmp.Compare(a.c.key.Country, b.c.key.Country))
	})
	return lines, out, unknown, depth, points
}

// alertMarks places the app's alerts of a chart on the drawn lines.
func (p *Page) alertMarks(gk groupKey, appID string, lines []countryLine, drawn map[string]int, t0 int64, now time.Time) []plotMark {
	var marks []plotMark
	for i := range p.m.alerts.list {
		a := &p.m.alerts.list[i]
		if a.Store != gk.store || a.AppID != appID || a.Chart != gk.chart || a.Category != gk.category || a.Time.Unix() < t0 {
			continue
		}
		countries := a.Countries
		if a.Country != nil {
			countries = []string{*a.Country}
		}
		for _, cc := range countries {
			li, ok := drawn[cc]
			if !ok {
				continue
			}
			m := plotMark{t: a.Time.Unix(), title: clock(a.Time, now) + ": " + a.Summary, critical: a.Severity == chart.SeverityCritical}
			m.c = nearest(lines[li].samples, m.t)
			if a.ToRank != nil && a.Country != nil {
				m.c = rankCode(*a.ToRank)
			}
			marks = append(marks, m)
		}
	}
	return marks
}

// standingShort is a legend's "now": "#3", "out" or "?".
func standingShort(c code) string {
	switch {
	case c.ranked():
		return "#" + standing(c)
	case c == codeOut:
		return "out"
	}
	return "?"
}

// nextRun is the soonest next run of any job (zero: none scheduled).
func nextRun(jobs []Job) time.Time {
	var next time.Time
	for _, j := range jobs {
		if !j.Next.IsZero() && (next.IsZero() || j.Next.Before(next)) {
			next = j.Next
		}
	}
	return next
}

func newAlertRow(a *chart.Alert, now time.Time) alertRow {
	r := alertRow{When: clock(a.Time, now), Full: a.Time.UTC().Format(timeLayout), Kind: cmpOr(kindNames[a.Kind], a.Kind),
		Summary: a.Summary, Critical: a.Severity == chart.SeverityCritical}
	key := chart.Key{Store: a.Store, Country: a.CountryCode(), Chart: a.Chart, Category: a.Category}
	if a.Country != nil {
		r.Where, r.Href = key.Describe(), chartHref(key)
	} else {
		r.Where = strings.ToUpper(strings.Join(a.Countries, ", ")) + " " + key.ChartTitle() + " (" + chart.StoreName(a.Store) + ")"
	}
	if a.FromRank != nil || a.ToRank != nil {
		r.Move = moveEnd(a.FromRank) + " → " + moveEnd(a.ToRank)
	}
	return r
}

type link struct{ Label, Href string }

func (p *Page) watchLinks() []link {
	var out []link
	for _, w := range p.cfg.Watch {
		out = append(out, link{w.Name, appHref(w.Name, "", "")})
	}
	return out
}

type errorView struct {
	PageHead
	Status  int
	Message string
	Links   []link
}

func (p *Page) serveError(w http.ResponseWriter, r *http.Request, status int, msg string, links []link) {
	now := p.now()
	var buf bytes.Buffer
	v := errorView{PageHead: p.head(http.StatusText(status)+" · rankpulse", now), Status: status, Message: msg, Links: links}
	if err := templates.ExecuteTemplate(&buf, "error", v); err != nil {
		http.Error(w, msg, status)
		return
	}
	serve(w, r, newRendered(buf.Bytes(), "", now, status))
}
