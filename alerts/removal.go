package alerts

// Removals. The rule: an app in the top removed.top of at least
// removed.min_charts charts of one country is gone from every chart of that
// country — every chart of the country read now was complete, and no chart
// of it read apart (by another job) still ranks it — for
// removed.confirmations slots in a row, while it is still listed in another
// country of the store: a possible ban or takedown. Its exits are folded
// into the removal.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rankpulse/rankpulse/chart"
)

// presence is one tracked app in one store·country, across its charts.
type presence struct {
	seenAt      int64 // slot of the last evaluation that ranked it in a chart of the country
	lastPresent int64
	best        int // best rank in the last slot the app was present
	bestKey     chart.Key
	charts      int // charts of the country it was in then
	name        string
	absent      int
	alerted     bool
}

type presenceID struct {
	c   countryKey
	app string
}

// presences are the tracked apps of one store·country.
type presences map[string]*presence

func (e *Engine) presenceIn(c countryKey) presences {
	apps := e.presence[c]
	if apps == nil {
		apps = presences{}
		e.presence[c] = apps
	}
	return apps
}

// mark records that app is ranked r in a chart of the country read at t.
// Only an app that has been in a top `top` of the country can be removed,
// so only those are followed.
func (ps presences) mark(app string, r, top int, t int64) {
	p := ps[app]
	if p == nil {
		if r > top {
			return
		}
		p = &presence{}
		ps[app] = p
	}
	p.seenAt = t
}

// removals judges the tracked apps of every country read now. It returns
// the removals and the apps they are about (whose exits they fold).
func (e *Engine) removals(ev *evaluation) ([]candidate, map[presenceID]bool) {
	var out []candidate
	removed := map[presenceID]bool{}
	countries := make([]countryKey, 0, len(ev.countries))
	for c := range ev.countries {
		countries = append(countries, c)
	}
	slices.SortFunc(countries, func(a, b countryKey) int { return strings.Compare(a.store+"/"+a.country, b.store+"/"+b.country) })
	for _, c := range countries {
		apps := make([]string, 0, len(e.presence[c]))
		for app := range e.presence[c] {
			apps = append(apps, app)
		}
		slices.Sort(apps)
		for _, app := range apps {
			if cand, ok := e.judgePresence(ev, c, app); ok {
				out = append(out, cand)
				removed[presenceID{c, app}] = true
			}
		}
	}
	return out, removed
}

func (e *Engine) judgePresence(ev *evaluation, c countryKey, app string) (candidate, bool) {
	p, t := e.presence[c][app], ev.t
	if p.seenAt == t {
		// Count the country's charts read apart (another job) too, at
		// their last read.
		var best *chartState
		p.charts, p.best, best = e.ranked(c, app, t)
		p.bestKey = best.key
		p.lastPresent, p.name, p.absent, p.alerted = t, best.apps[app].name, 0, false
		return candidate{}, false
	}
	if !ev.countries[c] || p.alerted || p.best > e.cfg.Removed.Top || p.charts < e.cfg.Removed.MinCharts {
		return candidate{}, false // a chart we could not read decides nothing
	}
	if n, _, _ := e.ranked(c, app, t); n > 0 {
		return candidate{}, false // still in a chart of the country read apart (another job)
	}
	p.absent++
	if p.absent < e.cfg.Removed.Confirmations {
		return candidate{}, false
	}
	elsewhere := e.listedElsewhere(ev, c, app)
	if len(elsewhere) == 0 {
		return candidate{}, false // gone everywhere: not a ban in one country
	}
	p.alerted = true
	a := e.alert(chart.KindRemoved, chart.SeverityCritical, p.bestKey, app, p.name, t, chart.Ptr(p.best), nil,
		fmt.Sprintf("%s disappeared from every %s chart in %s (%s) while still listed in %d other countries: a possible ban or takedown (it was #%d in %s)",
			named(p.name, app), chart.StoreName(c.store), chart.CountryName(c.country), strings.ToUpper(c.country), len(elsewhere), p.best, p.bestKey.ChartTitle()))
	return candidate{key: p.bestKey, a: a}, true
}

// ranked counts the charts of a country whose last read, still fresh, ranks
// app, with the best of those ranks (on ties the overall chart). Charts read
// in this evaluation count at this read, the others (read apart, by another
// job) at their last one, so that a removal sees every chart of the country.
func (e *Engine) ranked(c countryKey, app string, t int64) (n, best int, bestChart *chartState) {
	for _, cs := range e.byCountry[c] {
		if !cs.fresh(t) {
			continue
		}
		r, ok := cs.rankedHere(app)
		if !ok {
			continue
		}
		n++
		if best == 0 || r < best || (r == best && cs.key.Category == chart.All) {
			best, bestChart = r, cs
		}
	}
	return n, best, bestChart
}

// listedElsewhere is the other countries of the store where app is ranked
// in a fresh chart: one read now, or one read apart (by another job). Only
// tracked apps have a presence, and a chart read now has a series for every
// tracked app it ranks, so its state says what its snapshot said.
func (e *Engine) listedElsewhere(ev *evaluation, c countryKey, app string) []string {
	set := map[string]bool{}
	for ck, charts := range e.byCountry {
		if ck.store != c.store || ck.country == c.country || set[ck.country] {
			continue
		}
		for _, cs := range charts {
			if cs.fresh(ev.t) {
				if _, ok := cs.rankedHere(app); ok {
					set[ck.country] = true
					break
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for cc := range set {
		out = append(out, cc)
	}
	slices.Sort(out)
	return out
}
