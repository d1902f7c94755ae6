package statuspage

import (
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

// alertCard is one alert under "What moved".
type alertCard struct {
	Kind, KindClass    string
	Severity           string
	Critical           bool
	App, Watch         string
	Where, Move        string
	Summary            string
	When, Ago, Full    string
	Revision           int
	Spark              template.HTML
	SparkNote          string
	AppHref, ChartHref string
}

var kindNames = map[string]string{
	chart.KindSurge:        "surge",
	chart.KindDrop:         "drop",
	chart.KindEntered:      "entered the chart",
	chart.KindExited:       "left the chart",
	chart.KindRemoved:      "gone from the country",
	chart.KindMultiCountry: "surge in several countries",
}

// alertCards draws the newest alerts. Callers hold m.mu (read).
func (p *Page) alertCards(now time.Time) []alertCard {
	list := p.m.alerts.list
	out := make([]alertCard, 0, min(len(list), maxCards))
	for i := range list[:min(len(list), maxCards)] {
		out = append(out, p.alertCard(&list[i], now))
	}
	return out
}

func (p *Page) alertCard(a *chart.Alert, now time.Time) alertCard {
	c := alertCard{
		Kind: kindNames[a.Kind], KindClass: "k-" + a.Kind, Severity: a.Severity, Critical: a.Severity == chart.SeverityCritical,
		App: a.AppName, Watch: a.WatchName(), Summary: a.Summary, Revision: a.Revision,
		When: clock(a.Time, now), Ago: ago(a.Time, now), Full: a.Time.UTC().Format(timeLayout),
	}
	if c.Kind == "" {
		c.Kind = strings.ReplaceAll(a.Kind, "_", " ")
	}
	if c.App == "" {
		c.App = cmpOr(c.Watch, a.AppID)
	}
	key := chart.Key{Store: a.Store, Country: a.CountryCode(), Chart: a.Chart, Category: a.Category}
	countries := []string{a.CountryCode()}
	if a.Country != nil {
		c.Where = chart.CountryName(key.Country) + " · " + key.ChartTitle() + " · " + chart.StoreName(a.Store)
		c.ChartHref = chartHref(key)
	} else {
		countries = a.Countries
		cc := make([]string, len(a.Countries))
		for i, x := range a.Countries {
			cc[i] = strings.ToUpper(x)
		}
		c.Where = strconv.Itoa(len(cc)) + " countries (" + strings.Join(cc, ", ") + ") · " + key.ChartTitle() + " · " + chart.StoreName(a.Store)
	}
	if a.FromRank != nil || a.ToRank != nil {
		c.Move = moveEnd(a.FromRank) + " → " + moveEnd(a.ToRank)
	}
	if c.Watch != "" {
		c.AppHref = appHref(c.Watch, "", groupID(groupKey{a.Store, a.Chart, a.Category}))
	}
	app, watched := p.m.index[a.Store][a.AppID]
	if !watched {
		c.SparkNote = "not on the watch list: no history kept"
		return c
	}
	// The last 7 days, or the last 30 for an older alert.
	t, span := tierWeek, 7*24*time.Hour
	if now.Sub(a.Time) > span-12*time.Hour {
		t, span = tierMonth, monthSpan
	}
	t0, t1 := now.Add(-span).Unix(), now.Unix()
	var series [][]sample
	depth := 0
	first := t1
	for _, cc := range countries[:min(len(countries), 4)] {
		k := key
		k.Country = cc
		if cs, ok := p.m.charts[k]; ok {
			ss := cs.series(t, app, t0, t1)
			series = append(series, ss)
			depth = max(depth, cs.depth)
			if len(ss) > 0 {
				first = min(first, ss[0].t)
			}
		}
	}
	// Young history fills the line: the window starts with the data, but
	// spans a day at least.
	t0 = max(t0, min(first, t1-24*3600, a.Time.Unix()-3600))
	span = time.Duration(t1-t0) * time.Second
	if len(series) == 0 {
		c.SparkNote = "no history of this chart kept"
		return c
	}
	mark := &plotMark{t: a.Time.Unix(), c: codeOut, critical: c.Critical}
	if a.ToRank != nil {
		mark.c = rankCode(*a.ToRank)
	} else if a.Country == nil || a.Kind != chart.KindExited && a.Kind != chart.KindRemoved {
		mark.c = nearest(series[0], mark.t)
	}
	label := "Rank of " + c.App + " over the last " + roughDuration(span) + "; #1 at the top; the alert is marked"
	c.Spark = sparkline(series, depth, t0, t1, mark, label)
	return c
}

// nearest is the known code of the sample nearest to t (codeOut if none).
func nearest(ss []sample, t int64) code {
	best, bestD := codeOut, int64(-1)
	for _, s := range ss {
		if !s.c.known() {
			continue
		}
		d := max(s.t-t, t-s.t)
		if bestD < 0 || d < bestD {
			best, bestD = s.c, d
		}
	}
	return best
}

func moveEnd(rank *int) string {
	if rank == nil {
		return "out"
	}
	return "#" + strconv.Itoa(*rank)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
