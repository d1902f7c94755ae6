package daemon

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/storage"
)

// The status page (SPEC §7) is rendered on the server from the embedded
// store on every request, with no script and no external asset: the current
// ranks of the watched apps, their rank history as inline SVG, the recent
// alerts and the scrape health. Each section reads a bounded window.
const (
	statusRecent     = 24 * time.Hour     // current ranks and scrape health
	statusHistory    = 7 * 24 * time.Hour // rank-history plots
	statusAlerts     = 50                 // recent alerts shown
	statusErrors     = 5                  // recent errors per store and source
	statusPlotLines  = 4                  // charts drawn per app and store
	statusTimeout    = 30 * time.Second   // for all the page's reads
	statusMaxErrText = 600                // runes of an error message shown
	statusTimeLayout = "2006-01-02 15:04 UTC"
)

// statusPage serves the status page.
func (d *Daemon) statusPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), statusTimeout)
	defer cancel()
	v := d.status(ctx, time.Now())
	var buf bytes.Buffer
	if err := statusTemplate.Execute(&buf, v); err != nil {
		d.log.Error("status page not rendered", "error", err)
		http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// Everything is inline; nothing may be loaded from anywhere.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.Write(buf.Bytes())
}

// statusView is what the status page template renders.
type statusView struct {
	Version  string
	Now      string
	Started  string
	Uptime   string
	Ready    Readiness
	Store    string // what the embedded store holds
	Jobs     []jobStatus
	Watched  int
	Ranks    []rankTable
	Plots    []appPlots
	Alerts   []alertRow
	Health   []healthRow
	Problems []string // sections that could not be read
}

// status gathers the page. A section whose read fails is left empty and
// named in Problems; the rest of the page still renders.
func (d *Daemon) status(ctx context.Context, now time.Time) statusView {
	now = now.UTC()
	v := statusView{
		Version: d.version,
		Now:     now.Format(statusTimeLayout),
		Started: d.started.UTC().Format(statusTimeLayout),
		Uptime:  roughDuration(now.Sub(d.started)),
		Ready:   d.Ready(ctx),
		Watched: len(d.cfg.Watch),
	}
	if v.Version == "" {
		v.Version = "(development build)"
	}
	problem := func(section string, err error) {
		d.log.Warn("status page: section not read", "section", section, "error", err)
		v.Problems = append(v.Problems, section+": "+err.Error())
	}
	if st, err := d.db.Stats(ctx); err != nil {
		problem("embedded store", err)
	} else {
		v.Store = storeSummary(st)
	}
	v.Jobs = d.jobStatuses(now)

	recent := storage.Query{Since: now.Add(-statusRecent)}
	if latest, err := d.db.Latest(ctx, recent); err != nil {
		problem("current ranks", err)
	} else {
		v.Ranks = d.rankTables(latest)
	}
	if plots, err := d.historyPlots(ctx, now); err != nil {
		problem("rank history", err)
	} else {
		v.Plots = plots
	}
	if as, err := d.db.Alerts(ctx, storage.AlertQuery{Limit: statusAlerts}); err != nil {
		problem("recent alerts", err)
	} else {
		for i := range as {
			v.Alerts = append(v.Alerts, newAlertRow(&as[i], now))
		}
	}
	if hs, err := d.db.Health(ctx, recent, statusErrors); err != nil {
		problem("scrape health", err)
	} else {
		for _, h := range hs {
			v.Health = append(v.Health, newHealthRow(h, now))
		}
	}
	return v
}

func storeSummary(st storage.Stats) string {
	if st.Snapshots == 0 {
		return "no snapshots stored yet"
	}
	return fmt.Sprintf("%d snapshots of %d charts, %d apps, %.1f MB, %s to %s",
		st.Snapshots, st.Charts, st.Apps, float64(st.Bytes)/1e6,
		st.Oldest.Format(statusTimeLayout), st.Newest.Format(statusTimeLayout))
}

// jobStatus is one job's line in the header.
type jobStatus struct {
	Name, Schedule string
	Next           string
	Swept          bool
	Slot, Ago      string
	Charts         int
	Complete       int
	Incomplete     int
	Failed         int
	StoreErrs      int
	Alerts         int
	Duration       string
	Errors         []string
	Class          string // ok, warn or bad
}

func (d *Daemon) jobStatuses(now time.Time) []jobStatus {
	last := map[string]Summary{}
	for _, s := range d.LastSweeps() {
		last[s.Job] = s
	}
	d.mu.Lock()
	sched := d.sched
	d.mu.Unlock()
	var out []jobStatus
	for _, job := range d.cfg.Jobs {
		j := jobStatus{Name: job.Name, Schedule: job.Schedule, Class: "muted"}
		if sched != nil {
			if next := sched.Next(job.Name); !next.IsZero() {
				j.Next = next.UTC().Format(statusTimeLayout) + " (" + ago(next, now) + ")"
			}
		}
		if s, ok := last[job.Name]; ok {
			j.Swept = true
			j.Slot, j.Ago = s.Slot.UTC().Format(statusTimeLayout), ago(s.Slot, now)
			j.Charts, j.Complete, j.Incomplete, j.Failed = s.Charts, s.Complete, s.Incomplete, s.Failed
			j.StoreErrs, j.Alerts = s.StoreErrs, s.Alerts
			j.Duration = fmtDuration(s.Duration)
			j.Errors = s.Errors[:min(len(s.Errors), maxExampleErrors)]
			switch {
			case s.AllFailed():
				j.Class = "bad"
			case !s.OK():
				j.Class = "warn"
			default:
				j.Class = "ok"
			}
		}
		out = append(out, j)
	}
	return out
}

// rankTable is the current rank of every watched app in one chart (store,
// chart, category) across countries.
type rankTable struct {
	ID        string // element id
	Title     string
	AsOf      string
	Countries []countryCol
	Rows      []rankRow
}

type countryCol struct {
	Code, Name string
}

type rankRow struct {
	Watch string
	Name  string // the app's name in the store, when seen
	Cells []rankCell
	order float64 // median effective rank; +Inf when nothing is known
}

type rankCell struct {
	Text, Class, Title string
}

type tableKey struct {
	store, chart, category string
}

// rankTables builds one table per chart from the newest snapshot of each
// chart and country: a row per watched app, sorted by its median rank across
// countries, a column per country.
func (d *Daemon) rankTables(latest []chart.Snapshot) []rankTable {
	if len(d.cfg.Watch) == 0 {
		return nil
	}
	groups := map[tableKey][]chart.Snapshot{}
	for _, s := range latest {
		k := tableKey{s.Store, s.Chart, s.Category}
		groups[k] = append(groups[k], s)
	}
	keys := make([]tableKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b tableKey) int {
		return cmp.Or(
			cmp.Compare(slices.Index(chart.Stores, a.store), slices.Index(chart.Stores, b.store)),
			cmp.Compare(slices.Index(chart.Charts, a.chart), slices.Index(chart.Charts, b.chart)),
			cmp.Compare(categoryOrder(a.category), categoryOrder(b.category)),
			cmp.Compare(a.category, b.category))
	})
	var out []rankTable
	for _, k := range keys {
		snaps := groups[k]
		slices.SortFunc(snaps, func(a, b chart.Snapshot) int { return cmp.Compare(a.Country, b.Country) })
		var newest time.Time
		for _, s := range snaps {
			if s.Time.After(newest) {
				newest = s.Time
			}
		}
		key := chart.Key{Store: k.store, Chart: k.chart, Category: k.category}
		t := rankTable{
			ID:    "ranks-" + k.store + "-" + k.chart + "-" + k.category,
			Title: chart.StoreName(k.store) + " · " + key.ChartTitle(),
			AsOf:  newest.Format(statusTimeLayout),
		}
		for _, s := range snaps {
			t.Countries = append(t.Countries, countryCol{Code: strings.ToUpper(s.Country), Name: chart.CountryName(s.Country)})
		}
		for _, w := range d.cfg.Watch {
			id := w.ID(k.store)
			if id == "" {
				continue
			}
			row := rankRow{Watch: w.Name}
			var known []float64
			for _, s := range snaps {
				var cell rankCell
				e, found := entryOf(&s, id)
				switch {
				case found:
					if row.Name == "" {
						row.Name = e.Name
					}
					cell.Text, cell.Class = "#"+strconv.Itoa(e.Rank), rankClass(e.Rank)
					known = append(known, float64(e.Rank))
				case s.Complete:
					cell.Text, cell.Class = ">"+strconv.Itoa(s.Depth), "r-out"
					known = append(known, float64(s.Depth+1))
				default:
					cell.Text, cell.Class = "?", "r-unk"
					cell.Title = chart.CountryName(s.Country) + ": the chart of " + s.Time.Format(statusTimeLayout) + " was not read in full"
				}
				if s.Time.Before(newest) {
					cell.Class += " stale"
					if cell.Title == "" {
						cell.Title = chart.CountryName(s.Country) + ": as of " + s.Time.Format(statusTimeLayout)
					}
				}
				row.Cells = append(row.Cells, cell)
			}
			row.order = median(known)
			t.Rows = append(t.Rows, row)
		}
		if len(t.Rows) == 0 { // no watched app has an id in this store
			continue
		}
		slices.SortStableFunc(t.Rows, func(a, b rankRow) int { return cmp.Compare(a.order, b.order) })
		out = append(out, t)
	}
	return out
}

// categoryOrder puts the overall chart first.
func categoryOrder(category string) int {
	if category == chart.All {
		return 0
	}
	return 1
}

func entryOf(s *chart.Snapshot, appID string) (chart.Entry, bool) {
	for _, e := range s.Entries {
		if e.AppID == appID {
			return e, true
		}
	}
	return chart.Entry{}, false
}

func rankClass(rank int) string {
	switch {
	case rank <= 10:
		return "r-top"
	case rank <= 50:
		return "r-mid"
	default:
		return "r-low"
	}
}

// median returns the median of xs, or +Inf for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.Inf(1)
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// appPlots are one watched app's rank-history plots, one per store.
type appPlots struct {
	Watch string
	Plots []plotView
}

type plotView struct {
	ID    string // element id
	Store string
	Name  string // the app's name in the store, when seen
	Note  string // why there is no plot
	SVG   *svgPlot
}

// Plot geometry, in SVG user units. Rank 1 is at plotTop, the deepest rank
// at plotBottom (log scale), "below the chart" on plotOut.
const (
	plotWidth  = 720
	plotHeight = 172
	plotLeft   = 48
	plotRight  = plotWidth - 10
	plotTop    = 10
	plotBottom = 128
	plotOut    = 146
	plotLabelY = 166
)

type svgPlot struct {
	Width, Height         int
	Left, Right           float64
	Top, Out              float64
	LabelX, LabelY        float64
	YTicks, XTicks        []plotTick
	OutLabel, Description string
	Lines                 []plotLine
}

type plotTick struct {
	Pos   float64
	Label string
}

type plotLine struct {
	Color  int // index into the palette (CSS classes c0…)
	Title  string
	Path   string
	Dots   []plotPoint // isolated samples and the latest known one
	Legend string
}

type plotPoint struct{ X, Y float64 }

// sample is one point of a rank series.
type sample struct {
	t     int64 // unix seconds
	rank  int32 // 0: below the chart
	known bool
}

// series is one app's rank in one chart over the plotted window.
type series struct {
	key     chart.Key
	samples []sample
	best    int // best rank seen, 0 if never ranked
	ranked  int // samples with a rank
	depth   int // deepest complete chart seen
}

// historyPlots reads the last statusHistory of every watched app in one
// scan and draws, per app and store, its best few charts.
func (d *Daemon) historyPlots(ctx context.Context, now time.Time) ([]appPlots, error) {
	stores := map[string]bool{}
	for _, job := range d.cfg.Jobs {
		for _, s := range job.Stores {
			stores[s] = true
		}
	}
	var refs []storage.AppRef
	for _, w := range d.cfg.Watch {
		for _, s := range chart.Stores {
			if id := w.ID(s); id != "" && stores[s] {
				refs = append(refs, storage.AppRef{Store: s, AppID: id})
			}
		}
	}
	if len(refs) == 0 {
		return nil, nil
	}
	start := now.Add(-statusHistory)
	all := map[storage.AppRef]map[chart.Key]*series{}
	names := map[storage.AppRef]string{}
	err := d.db.Histories(ctx, refs, storage.Query{Since: start}, func(a storage.AppRef, p storage.Point) error {
		byKey := all[a]
		if byKey == nil {
			byKey = map[chart.Key]*series{}
			all[a] = byKey
		}
		s := byKey[p.Key]
		if s == nil {
			s = &series{key: p.Key}
			byKey[p.Key] = s
		}
		s.samples = append(s.samples, sample{t: p.Time.Unix(), rank: int32(p.Rank), known: p.Known()})
		if p.Rank > 0 {
			s.ranked++
			if s.best == 0 || p.Rank < s.best {
				s.best = p.Rank
			}
			names[a] = p.Name
		}
		if p.Complete && p.Depth > s.depth {
			s.depth = p.Depth
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []appPlots
	for _, w := range d.cfg.Watch {
		ap := appPlots{Watch: w.Name}
		for _, s := range chart.Stores {
			id := w.ID(s)
			if id == "" || !stores[s] {
				continue
			}
			ref := storage.AppRef{Store: s, AppID: id}
			pv := plotView{ID: "plot-" + w.Name + "-" + s, Store: chart.StoreName(s), Name: names[ref]}
			var ranked []*series
			for _, sr := range all[ref] {
				if sr.best > 0 {
					ranked = append(ranked, sr)
				}
			}
			switch {
			case len(all[ref]) == 0:
				pv.Note = "No snapshots in the last 7 days."
			case len(ranked) == 0:
				pv.Note = "Not in any chart in the last 7 days."
			default:
				slices.SortFunc(ranked, func(a, b *series) int {
					return cmp.Or(cmp.Compare(a.best, b.best), cmp.Compare(b.ranked, a.ranked), cmp.Compare(a.key.String(), b.key.String()))
				})
				ranked = ranked[:min(len(ranked), statusPlotLines)]
				pv.SVG = drawPlot(ranked, start, now, w.Name+" in "+chart.StoreName(s))
			}
			ap.Plots = append(ap.Plots, pv)
		}
		if len(ap.Plots) > 0 {
			out = append(out, ap)
		}
	}
	return out, nil
}

// drawPlot lays out rank lines over [start, end]: log-scaled ranks with #1
// at the top, "below the chart" on a line under the plot, and a gap where
// the rank is unknown or samples are missing.
func drawPlot(lines []*series, start, end time.Time, what string) *svgPlot {
	depth := 0
	for _, s := range lines {
		depth = max(depth, s.depth, s.best)
	}
	if depth < 2 {
		depth = 200
	}
	p := &svgPlot{
		Width: plotWidth, Height: plotHeight,
		Left: plotLeft, Right: plotRight, Top: plotTop, Out: plotOut,
		LabelX: plotLeft - 6, LabelY: plotLabelY,
		OutLabel:    ">" + strconv.Itoa(depth),
		Description: "Rank of " + what + " over the last 7 days; #1 at the top",
	}
	logDepth := math.Log(float64(depth))
	y := func(rank int32) float64 {
		if rank <= 0 {
			return plotOut
		}
		r := math.Min(float64(rank), float64(depth))
		return plotTop + (plotBottom-plotTop)*math.Log(r)/logDepth
	}
	t0, t1 := float64(start.Unix()), float64(end.Unix())
	x := func(t int64) float64 {
		return plotLeft + (plotRight-plotLeft)*(float64(t)-t0)/(t1-t0)
	}
	for r := 1; r < depth; r *= 10 {
		if depth/r >= 2 || r == 1 { // keep labels apart
			p.YTicks = append(p.YTicks, plotTick{Pos: y(int32(r)), Label: "#" + strconv.Itoa(r)})
		}
	}
	p.YTicks = append(p.YTicks, plotTick{Pos: y(int32(depth)), Label: "#" + strconv.Itoa(depth)})
	for day := start.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour); !day.After(end); day = day.Add(24 * time.Hour) {
		p.XTicks = append(p.XTicks, plotTick{Pos: x(day.Unix()), Label: day.Format("Jan 2")})
	}
	for i, s := range lines {
		l := plotLine{Color: i, Title: s.key.Describe()}
		gap := gapLimit(s.samples)
		var b strings.Builder
		var seg []plotPoint
		flush := func() {
			switch len(seg) {
			case 0:
			case 1:
				l.Dots = append(l.Dots, seg[0])
			default:
				fmt.Fprintf(&b, "M%.1f %.1f", seg[0].X, seg[0].Y)
				for j := 1; j < len(seg); j++ {
					// The middle of a level run adds nothing.
					if j < len(seg)-1 && seg[j-1].Y == seg[j].Y && seg[j].Y == seg[j+1].Y {
						continue
					}
					fmt.Fprintf(&b, "L%.1f %.1f", seg[j].X, seg[j].Y)
				}
			}
			seg = seg[:0]
		}
		var prev int64
		var last *sample
		for j := range s.samples {
			sm := &s.samples[j]
			if !sm.known || (len(seg) > 0 && sm.t-prev > gap) {
				flush()
			}
			if sm.known {
				seg = append(seg, plotPoint{X: x(sm.t), Y: y(sm.rank)})
				last = sm
			}
			prev = sm.t
		}
		flush()
		l.Path = b.String()
		cur := "?"
		if last != nil {
			cur = rankLabel(last.rank, s.depth)
			if n := len(l.Dots); n == 0 || l.Dots[n-1] != (plotPoint{X: x(last.t), Y: y(last.rank)}) {
				l.Dots = append(l.Dots, plotPoint{X: x(last.t), Y: y(last.rank)})
			}
		}
		if !s.samples[len(s.samples)-1].known {
			cur = "?"
		}
		l.Legend = fmt.Sprintf("%s %s: now %s, best #%d", strings.ToUpper(s.key.Country), s.key.ChartTitle(), cur, s.best)
		p.Lines = append(p.Lines, l)
	}
	return p
}

// gapLimit is the longest step between samples still drawn as a line:
// three times the series' usual spacing.
func gapLimit(samples []sample) int64 {
	if len(samples) < 2 {
		return math.MaxInt64
	}
	steps := make([]float64, 0, len(samples)-1)
	for i := 1; i < len(samples); i++ {
		steps = append(steps, float64(samples[i].t-samples[i-1].t))
	}
	return max(int64(3*median(steps)), 1)
}

func rankLabel(rank int32, depth int) string {
	if rank > 0 {
		return "#" + strconv.Itoa(int(rank))
	}
	return ">" + strconv.Itoa(depth)
}

// alertRow is one recent alert.
type alertRow struct {
	Time, Ago      string
	Kind, Severity string
	Critical       bool
	App            string
	Where          string
	Move           string
	Summary        string
	Revision       int
}

func newAlertRow(a *chart.Alert, now time.Time) alertRow {
	r := alertRow{
		Time: a.Time.UTC().Format(statusTimeLayout), Ago: ago(a.Time, now),
		Kind: strings.ReplaceAll(a.Kind, "_", " "), Severity: a.Severity,
		Critical: a.Severity == chart.SeverityCritical,
		App:      a.AppName, Summary: a.Summary, Revision: a.Revision,
	}
	if w := a.WatchName(); w != "" && w != a.AppName {
		if r.App == "" {
			r.App = w
		} else {
			r.App += " (" + w + ")"
		}
	}
	if r.App == "" {
		r.App = a.AppID
	}
	key := chart.Key{Store: a.Store, Country: a.CountryCode(), Chart: a.Chart, Category: a.Category}
	if a.Country != nil {
		r.Where = key.Describe()
	} else {
		cc := make([]string, len(a.Countries))
		for i, c := range a.Countries {
			cc[i] = strings.ToUpper(c)
		}
		r.Where = chart.StoreName(a.Store) + " " + key.ChartTitle() + " in " + strings.Join(cc, ", ")
	}
	if a.FromRank != nil || a.ToRank != nil {
		r.Move = moveEnd(a.FromRank) + " → " + moveEnd(a.ToRank)
	}
	return r
}

func moveEnd(rank *int) string {
	if rank == nil {
		return "out"
	}
	return "#" + strconv.Itoa(*rank)
}

// healthRow is one store and source over the last statusRecent.
type healthRow struct {
	Store, Source string
	Charts        int
	Complete      int
	Incomplete    int // read in part
	Failed        int // nothing read
	Percent       string
	Class         string
	MeanFetch     string
	Newest, Ago   string
	Errors        []errorRow
}

type errorRow struct {
	Time, Chart, Text string
}

func newHealthRow(h storage.SourceHealth, now time.Time) healthRow {
	r := healthRow{
		Store: chart.StoreName(h.Store), Source: h.Source,
		Charts: h.Charts, Complete: h.Complete, Failed: h.Failed, Incomplete: h.Charts - h.Complete - h.Failed,
		Percent:   strconv.FormatFloat(math.Floor(h.CompletePercent()*10)/10, 'f', 1, 64) + "%",
		MeanFetch: fmtDuration(h.MeanFetch),
		Newest:    h.Newest.Format(statusTimeLayout), Ago: ago(h.Newest, now),
	}
	switch pct := h.CompletePercent(); {
	case pct >= 100:
		r.Class = "ok"
	case pct >= 90:
		r.Class = "warn"
	default:
		r.Class = "bad"
	}
	for _, e := range h.Errors {
		r.Errors = append(r.Errors, errorRow{Time: e.Time.Format(statusTimeLayout), Chart: e.Key.Describe(), Text: truncate(e.Error, statusMaxErrText)})
	}
	return r
}

func truncate(s string, n int) string {
	if s == "" {
		return "(no reason recorded)"
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// roughDuration shows a duration to the unit that matters: "42s", "17m",
// "5h 12m", "3d 4h".
func roughDuration(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	if d := now.Sub(t); d >= 0 {
		return roughDuration(d) + " ago"
	}
	return "in " + roughDuration(t.Sub(now))
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"f1": func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
}).Parse(statusHTML))

const statusHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="60">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rankpulse status</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0 auto;padding:0 16px 40px;max-width:1480px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:18px 0 2px}
h2{font-size:18px;margin:30px 0 8px;padding-bottom:4px;border-bottom:1px solid #d0d7de}
h3{font-size:15px;margin:18px 0 6px}
p{margin:6px 0}
table{border-collapse:collapse;margin:4px 0 10px}
th,td{padding:3px 7px;text-align:left;vertical-align:top;border-bottom:1px solid #eaeef2}
th{font-weight:600;background:#f6f8fa}
.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#656d76}
.small{font-size:12px}
.ok{color:#1a7f37}.warn{color:#9a6700}.bad{color:#cf222e}
.pill{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600;border:1px solid currentColor}
.scroll{overflow-x:auto;max-width:100%}
table.ranks th,table.ranks td{text-align:center;padding:2px 5px;white-space:nowrap;font-variant-numeric:tabular-nums;border:1px solid #eaeef2}
table.ranks th.app,table.ranks td.app{text-align:left;position:sticky;left:0;background:#fff;z-index:1}
table.ranks th.app{background:#f6f8fa}
.r-top{background:#aee5b9}.r-mid{background:#dcf3e0}.r-low{background:#f3f6f3}.r-out{color:#8c959f}.r-unk{color:#9a6700;background:#fff8c5}
.stale{font-style:italic;opacity:.75}
.legend{margin:2px 0 12px;font-size:12px}
.legend span{margin-right:14px;white-space:nowrap}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.plots{display:flex;flex-wrap:wrap;gap:4px 28px}
.plots>div{flex:1 1 560px;max-width:740px}
svg.plot{width:100%;height:auto;display:block}
svg.plot text{font-size:10px;fill:#656d76}
svg.plot .grid line{stroke:#eaeef2;stroke-width:1}
svg.plot .grid line.out{stroke:#d0d7de;stroke-dasharray:4 3}
svg.plot path{fill:none;stroke-width:1.7;stroke-linejoin:round;stroke-linecap:round}
svg.plot .c0 path{stroke:#0969da}svg.plot .c0 circle{fill:#0969da}.sw.c0{background:#0969da}
svg.plot .c1 path{stroke:#cf222e}svg.plot .c1 circle{fill:#cf222e}.sw.c1{background:#cf222e}
svg.plot .c2 path{stroke:#1a7f37}svg.plot .c2 circle{fill:#1a7f37}.sw.c2{background:#1a7f37}
svg.plot .c3 path{stroke:#bf8700}svg.plot .c3 circle{fill:#bf8700}.sw.c3{background:#bf8700}
tr.crit td{background:#ffebe9}
.sev{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;font-weight:600}
.sev.critical{background:#cf222e;color:#fff}.sev.warning{background:#fff8c5;color:#7d4e00}
.err{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;white-space:pre-wrap;word-break:break-word;color:#57606a}
ul.errs{margin:2px 0;padding-left:18px}
.problems{border:1px solid #cf222e;background:#ffebe9;padding:6px 12px;border-radius:6px}
</style>
</head>
<body>
<header>
<h1>rankpulse</h1>
<p class="muted">version {{.Version}} · up {{.Uptime}} (since {{.Started}}) · page built {{.Now}} · refreshes every minute</p>
<p>{{if .Ready.Ready}}<span class="pill ok">ready</span>{{else}}<span class="pill bad">not ready</span>{{end}}
{{- with .Store}} <span class="muted">Embedded store: {{.}}</span>{{end}}</p>
{{- if .Ready.Problems}}
<ul class="bad">{{range .Ready.Problems}}<li>{{.}}</li>{{end}}</ul>
{{- end}}
{{- if .Problems}}
<div class="problems"><strong>Parts of this page could not be read:</strong><ul>{{range .Problems}}<li>{{.}}</li>{{end}}</ul></div>
{{- end}}
<table class="jobs">
<thead><tr><th>Job</th><th>Schedule</th><th>Last sweep (slot)</th><th class="num">Complete / charts</th><th class="num">Partial</th><th class="num">Failed</th><th class="num">Alerts</th><th class="num">Took</th><th>Next</th><th>Examples of errors</th></tr></thead>
<tbody>
{{- range .Jobs}}
<tr class="job">
<td><strong>{{.Name}}</strong></td><td><code>{{.Schedule}}</code></td>
{{- if .Swept}}
<td class="{{.Class}}">{{.Slot}} <span class="muted">({{.Ago}})</span></td>
<td class="num {{.Class}}">{{.Complete}} / {{.Charts}}</td><td class="num">{{.Incomplete}}</td><td class="num">{{.Failed}}</td><td class="num">{{.Alerts}}</td><td class="num">{{.Duration}}</td>
{{- else}}
<td class="muted" colspan="6">no sweep yet since the start</td>
{{- end}}
<td class="small">{{with .Next}}{{.}}{{else}}<span class="muted">—</span>{{end}}</td>
<td>{{if .Errors}}<ul class="errs">{{range .Errors}}<li class="err">{{.}}</li>{{end}}</ul>{{if .StoreErrs}}<span class="bad small">{{.StoreErrs}} snapshots not stored</span>{{end}}{{else if .StoreErrs}}<span class="bad small">{{.StoreErrs}} snapshots not stored</span>{{else}}<span class="muted">—</span>{{end}}</td>
</tr>
{{- else}}
<tr><td colspan="10" class="muted">No jobs configured.</td></tr>
{{- end}}
</tbody>
</table>
</header>

<section id="ranks">
<h2>Current ranks of watched apps</h2>
<p class="muted small">The newest snapshot of each chart in the last 24 hours. <b>#3</b>: rank; <b>&gt;200</b>: below a chart read in full; <b>?</b>: not known (the chart was not read in full). Italic: older than the chart's newest slot. Apps are sorted by their median rank across countries.</p>
{{- range .Ranks}}
<h3>{{.Title}} <span class="muted small">as of {{.AsOf}}</span></h3>
<div class="scroll">
<table class="ranks" id="{{.ID}}">
<thead><tr><th class="app">App</th>{{range .Countries}}<th title="{{.Name}}">{{.Code}}</th>{{end}}</tr></thead>
<tbody>
{{- range .Rows}}
<tr><td class="app"><strong>{{.Watch}}</strong>{{with .Name}} <span class="muted small">{{.}}</span>{{end}}</td>{{range .Cells}}<td class="{{.Class}}"{{with .Title}} title="{{.}}"{{end}}>{{.Text}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table>
</div>
{{- else}}
<p class="muted">{{if .Watched}}No snapshots in the last 24 hours.{{else}}No apps on the watch list.{{end}}</p>
{{- end}}
</section>

<section id="history">
<h2>Rank history, last 7 days</h2>
<p class="muted small">Each app's best charts (up to 4 a store); log scale, #1 at the top; the dashed line is "below the chart"; gaps where the rank is not known.</p>
{{- range .Plots}}
<h3>{{.Watch}}</h3>
<div class="plots">
{{- range .Plots}}
<div id="{{.ID}}" class="plotbox">
<p class="small"><strong>{{.Store}}</strong>{{with .Name}} <span class="muted">{{.}}</span>{{end}}</p>
{{- with .SVG}}{{$p := .}}
<svg class="plot" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="{{.Description}}">
<g class="grid">
{{- range .YTicks}}
<line x1="{{f1 $p.Left}}" x2="{{f1 $p.Right}}" y1="{{f1 .Pos}}" y2="{{f1 .Pos}}"/><text x="{{f1 $p.LabelX}}" y="{{f1 .Pos}}" dy="3" text-anchor="end">{{.Label}}</text>
{{- end}}
<line class="out" x1="{{f1 .Left}}" x2="{{f1 .Right}}" y1="{{f1 .Out}}" y2="{{f1 .Out}}"/><text x="{{f1 .LabelX}}" y="{{f1 .Out}}" dy="3" text-anchor="end">{{.OutLabel}}</text>
{{- range .XTicks}}
<line x1="{{f1 .Pos}}" x2="{{f1 .Pos}}" y1="{{f1 $p.Top}}" y2="{{f1 $p.Out}}"/><text x="{{f1 .Pos}}" y="{{f1 $p.LabelY}}" text-anchor="middle">{{.Label}}</text>
{{- end}}
</g>
{{- range .Lines}}
<g class="line c{{.Color}}"><title>{{.Title}}</title>{{with .Path}}<path d="{{.}}"/>{{end}}{{range .Dots}}<circle cx="{{f1 .X}}" cy="{{f1 .Y}}" r="2.2"/>{{end}}</g>
{{- end}}
</svg>
<p class="legend">{{range .Lines}}<span><i class="sw c{{.Color}}"></i>{{.Legend}}</span>{{end}}</p>
{{- else}}
<p class="muted small">{{.Note}}</p>
{{- end}}
</div>
{{- end}}
</div>
{{- else}}
<p class="muted">No watched app in a scraped store.</p>
{{- end}}
</section>

<section id="alerts">
<h2>Recent alerts</h2>
{{- if .Alerts}}
<table>
<thead><tr><th>Time</th><th>Severity</th><th>Kind</th><th>App</th><th>Where</th><th>Move</th><th>Summary</th></tr></thead>
<tbody>
{{- range .Alerts}}
<tr class="alert{{if .Critical}} crit{{end}}"><td class="small">{{.Time}}<br><span class="muted">{{.Ago}}</span></td><td><span class="sev {{.Severity}}">{{if .Critical}}CRITICAL{{else}}{{.Severity}}{{end}}</span></td><td>{{.Kind}}{{if .Revision}} <span class="muted small">(update {{.Revision}})</span>{{end}}</td><td>{{.App}}</td><td class="small">{{.Where}}</td><td class="small">{{.Move}}</td><td>{{.Summary}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p class="muted">No alerts stored.</p>
{{- end}}
</section>

<section id="health">
<h2>Scrape health, last 24 hours</h2>
{{- if .Health}}
<table>
<thead><tr><th>Store</th><th>Source</th><th class="num">Charts</th><th class="num">Complete</th><th class="num">Partial</th><th class="num">Failed</th><th class="num">Complete %</th><th class="num">Mean fetch</th><th>Newest</th></tr></thead>
<tbody>
{{- range .Health}}
<tr class="health"><td>{{.Store}}</td><td><code>{{.Source}}</code></td><td class="num">{{.Charts}}</td><td class="num">{{.Complete}}</td><td class="num">{{.Incomplete}}</td><td class="num">{{.Failed}}</td><td class="num {{.Class}}"><strong>{{.Percent}}</strong></td><td class="num">{{.MeanFetch}}</td><td class="small">{{.Newest}} <span class="muted">({{.Ago}})</span></td></tr>
{{- if .Errors}}
<tr><td></td><td colspan="8"><span class="small muted">Most recent errors:</span><ul class="errs">{{range .Errors}}<li><span class="small">{{.Time}} · {{.Chart}}</span><br><span class="err">{{.Text}}</span></li>{{end}}</ul></td></tr>
{{- end}}
{{- end}}
</tbody>
</table>
{{- else}}
<p class="muted">No snapshots in the last 24 hours.</p>
{{- end}}
</section>
</body>
</html>
`
