package scenario

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rankpulse/rankpulse/chart"
)

// InTime is how long after a move first crossed min_ratio its alert still
// counts as in time, in hours: 6, or one reading when reads are further
// apart.
const InTime = 6

func (s *Scenario) inTime() int { return max(InTime, s.cfg.Every) }

// Tally counts labelled moves and the ones detected in time.
type Tally struct{ Labels, Detected int }

// Recall is the share detected in time.
func (t Tally) Recall() float64 { return float64(t.Detected) / float64(max(t.Labels, 1)) }

func (t Tally) String() string {
	return fmt.Sprintf("%d/%d (%.0f%%)", t.Detected, t.Labels, 100*t.Recall())
}

// MultiEvent is how a multi-country event was reported.
type MultiEvent struct {
	Name, Store, App string
	Countries        int // countries with a labelled move
	Named            int // of those, named in a multi_country_surge
	IDs              int // distinct multi_country_surge ids
	Notices          int // the first notice and its updates
}

// Report scores a result.
type Report struct {
	All    Tally
	InTime int               // hours after crossing that count as in time
	ByKind map[string]*Tally // surge, drop, ban
	ByRamp map[int]*Tally    // the climbs, by ramp length in hours
	Late   int               // detected, but after InTime
	// Delays of the moves detected in time, in hours: from the onset and
	// from the first read past min_ratio.
	FromOnset, FromCross []int
	ChartSnapshots       int
	Alerts               int
	ByAlertKind          map[string]int
	False                int // alerts about no scripted move
	FalsePer1000         float64
	// Collateral alerts are about apps that scripted movers in the same
	// chart pushed aside (no more places than movers passed them), and
	// SteepControl ones about a slow-decline control in a chart where its
	// reads did move min_ratio within the window (the category chart,
	// which compresses ranks). Neither is counted as false.
	Collateral, SteepControl int
	// Background alerts are about apps the script does not move whose reads
	// did move min_ratio (churn that really jumped): not false either.
	Background     int
	Traps          map[string]int // alerts about the controls
	Multi          []MultiEvent
	FalseExamples  []string
	MissedExamples []string
}

// Score matches a result's alerts to the scenario's labelled moves. With
// watchOnly, moves of apps that are not watched (launches) are not counted:
// the engine is not asked about them.
func (s *Scenario) Score(res Result, watchOnly bool) Report {
	rep := Report{ByKind: map[string]*Tally{}, ByRamp: map[int]*Tally{}, ByAlertKind: map[string]int{}, Traps: map[string]int{},
		ChartSnapshots: res.ChartSnapshots, Alerts: len(res.Alerts), InTime: s.inTime()}
	labels := s.labels(res.seen)
	for _, l := range labels {
		if _, watched := s.Watch[l.Move.Store][l.Move.App]; l.Labelled && (!watchOnly || watched) {
			s.scoreLabel(&rep, l, res.Alerts)
		}
	}
	s.scoreAlerts(&rep, labels, res)
	rep.FalsePer1000 = 1000 * float64(rep.False) / float64(max(rep.ChartSnapshots, 1))
	rep.Multi = s.multiEvents(labels, res.Alerts)
	return rep
}

// scoreLabel tallies whether a labelled move was alerted in time.
func (s *Scenario) scoreLabel(rep *Report, l Label, alerts []SlotAlert) {
	det := firstDetection(l, alerts)
	hit := det >= 0 && det <= l.Cross+s.inTime()
	tally := func(t *Tally) {
		t.Labels++
		if hit {
			t.Detected++
		}
	}
	if rep.ByKind[l.Move.Kind] == nil {
		rep.ByKind[l.Move.Kind] = &Tally{}
	}
	tally(&rep.All)
	tally(rep.ByKind[l.Move.Kind])
	if strings.HasPrefix(l.Move.Event, "climb-") {
		if rep.ByRamp[l.Move.Hours] == nil {
			rep.ByRamp[l.Move.Hours] = &Tally{}
		}
		tally(rep.ByRamp[l.Move.Hours])
	}
	switch {
	case hit:
		rep.FromOnset = append(rep.FromOnset, det-l.Move.Onset)
		rep.FromCross = append(rep.FromCross, det-l.Cross)
	case det >= 0:
		rep.Late++
	}
	if !hit && len(rep.MissedExamples) < 60 {
		rep.MissedExamples = append(rep.MissedExamples, fmt.Sprintf("%s %s %s %s: #%d → #%d over %dh from hour %d (crossed at %d, alerted at %d)",
			l.Move.Event, l.Move.Store, l.Key.Country, l.Key.Category, l.From, l.To, l.Move.Hours, l.Move.Onset, l.Cross, det))
	}
}

// scoreAlerts sorts every alert into: about a scripted move, collateral, a
// steep decline control, a background app that really jumped — or false.
func (s *Scenario) scoreAlerts(rep *Report, labels []Label, res Result) {
	byApp := map[string][]Label{}
	byChart := map[chart.Key][]Label{}
	for _, l := range labels {
		byApp[l.Move.Store+"/"+l.Move.App] = append(byApp[l.Move.Store+"/"+l.Move.App], l)
		if l.Labelled {
			byChart[l.Key] = append(byChart[l.Key], l)
		}
	}
	steep := s.steepControls(res.seen)
	var unexplained []SlotAlert
	for _, sa := range res.Alerts {
		a := sa.Alert
		rep.ByAlertKind[a.Kind]++
		key := chart.Key{Store: a.Store, Country: a.CountryCode(), Chart: a.Chart, Category: a.Category}
		switch {
		case aboutAMove(sa, byApp[a.Store+"/"+a.AppID]):
		case collateral(sa, byChart):
			rep.Collateral++
		case steep[obsKey{key, a.AppID}]:
			rep.SteepControl++
		default:
			unexplained = append(unexplained, sa)
		}
	}
	// Apps the script does not move (the background) churn, and now and
	// then one really jumps: an alert about one is false only when its
	// reads did not move min_ratio around it. A second run of the same
	// world reads those apps.
	seen := s.replay(unexplained)
	for _, sa := range unexplained {
		a := sa.Alert
		if !s.isControl(a.Store, a.AppID) && s.supported(sa, seen) {
			rep.Background++
			continue
		}
		rep.False++
		for _, c := range s.controls {
			if c.Store == a.Store && c.App == a.AppID && (c.Country == a.CountryCode() || slices.Contains(a.Countries, c.Country)) {
				rep.Traps[c.Name]++
			}
		}
		if len(rep.FalseExamples) < 60 {
			rep.FalseExamples = append(rep.FalseExamples, fmt.Sprintf("hour %d %s: %s", sa.Hour, a.Kind, a.Summary))
		}
	}
}

// kindsFor are the alert kinds that report a move of each kind.
var kindsFor = map[string][]string{
	MoveSurge: {chart.KindSurge, chart.KindEntered, chart.KindMultiCountry},
	MoveDrop:  {chart.KindDrop, chart.KindExited},
	MoveBan:   {chart.KindRemoved, chart.KindExited},
}

// names reports whether an alert is about the move in its country (and, for
// per-chart alerts, its chart when key is set).
func names(a *chart.Alert, mv *Move, key chart.Key) bool {
	if a.Store != mv.Store || a.AppID != mv.App || !slices.Contains(kindsFor[mv.Kind], a.Kind) {
		return false
	}
	if a.Kind == chart.KindMultiCountry {
		return slices.Contains(a.Countries, mv.Country)
	}
	if a.CountryCode() != mv.Country {
		return false
	}
	return key == (chart.Key{}) || a.Kind == chart.KindRemoved || (a.Chart == key.Chart && a.Category == key.Category)
}

// firstDetection is the hour of the first alert reporting the label at or
// after its onset, or -1.
func firstDetection(l Label, alerts []SlotAlert) int {
	for _, sa := range alerts {
		if sa.Hour >= l.Move.Onset && names(&sa.Alert, l.Move, l.Key) {
			return sa.Hour
		}
	}
	return -1
}

// aboutAMove reports whether an alert reports some scripted move, labelled
// or not, in the days after its onset.
func aboutAMove(sa SlotAlert, labels []Label) bool {
	for _, l := range labels {
		if sa.Hour >= l.Move.Onset && sa.Hour <= l.Move.End()+48 && names(&sa.Alert, l.Move, chart.Key{}) {
			return true
		}
	}
	return false
}

// collateral reports whether an alert is about an app pushed aside by
// scripted moves in its chart: a fall by no more places (plus one) than
// scripted climbers passed it, or a rise by no more than scripted fallers
// left its way.
func collateral(sa SlotAlert, byChart map[chart.Key][]Label) bool {
	a := sa.Alert
	if a.FromRank == nil || a.ToRank == nil || (a.Kind != chart.KindSurge && a.Kind != chart.KindDrop) {
		return false
	}
	from, to := *a.FromRank, *a.ToRank
	key := chart.Key{Store: a.Store, Country: a.CountryCode(), Chart: a.Chart, Category: a.Category}
	passed := 0
	for _, l := range byChart[key] {
		if sa.Hour < l.Move.Onset || sa.Hour > l.Move.End()+24 || l.Move.App == a.AppID {
			continue
		}
		up := l.Move.Kind == MoveSurge
		if (a.Kind == chart.KindDrop && up && l.From > from && l.To <= to) || (a.Kind == chart.KindSurge && !up && l.From < from && l.To >= to) {
			passed++
		}
	}
	places := max(to-from, from-to)
	return passed > 0 && places <= passed+1
}

func (s *Scenario) isControl(store, app string) bool {
	for _, c := range s.controls {
		if c.Store == store && c.App == app {
			return true
		}
	}
	return false
}

// replay runs the same world again, reading the apps of the given alerts.
func (s *Scenario) replay(alerts []SlotAlert) *observations {
	o := &observations{want: map[string]map[string]bool{}, series: map[obsKey][]reading{}}
	for _, sa := range alerts {
		if o.want[sa.Alert.Store] == nil {
			o.want[sa.Alert.Store] = map[string]bool{}
		}
		o.want[sa.Alert.Store][sa.Alert.AppID] = true
	}
	if len(alerts) == 0 {
		return o
	}
	again := New(s.cfg)
	again.run(func(h int, snaps []chart.Snapshot) { o.record(h, snaps) })
	return o
}

// supported reports whether an alert's app moved min_ratio in its reads
// (3-read medians, to leave out one-read blips) within the move window,
// ending within InTime of the alert, in a chart of a country it names.
func (s *Scenario) supported(sa SlotAlert, o *observations) bool {
	a := sa.Alert
	up := a.Kind == chart.KindSurge || a.Kind == chart.KindEntered || a.Kind == chart.KindMultiCountry
	ratio := s.cfg.DropRatio
	if up {
		ratio = s.cfg.SurgeRatio
	}
	countries := a.Countries
	if a.Country != nil {
		countries = []string{*a.Country}
	}
	for _, cc := range countries {
		for _, cat := range categories[a.Store] {
			rs := o.series[obsKey{chart.Key{Store: a.Store, Country: cc, Chart: chart.TopFree, Category: cat}, a.AppID}]
			med := s.medians(rs)
			for j := range rs {
				if rs[j].h < sa.Hour-s.inTime() || rs[j].h > sa.Hour+s.inTime() {
					continue
				}
				for i := j - 1; i >= 0 && rs[i].h >= rs[j].h-72; i-- {
					if (up && atLeast(float64(med[i]), float64(med[j])*ratio)) || (!up && atLeast(float64(med[j]), float64(med[i])*ratio)) {
						return true
					}
				}
			}
		}
	}
	return false
}

// medians are the 3-read running medians of a series read more often than
// daily (to leave out one-read blips), the reads themselves otherwise.
func (s *Scenario) medians(rs []reading) []int {
	med := make([]int, len(rs))
	if s.cfg.Every >= 12 {
		for i, r := range rs {
			med[i] = r.eff
		}
		return med
	}
	for i := range rs {
		lo, hi := max(i-1, 0), min(i+2, len(rs))
		var w []int
		for _, r := range rs[lo:hi] {
			w = append(w, r.eff)
		}
		med[i] = medianInt(w)
	}
	return med
}

// steepControls are the slow-decline controls' charts whose reads moved at
// least DropRatio within 72 hours (3-read medians, to leave out noise): the
// decline is scripted in the overall chart, and a category chart, ranking
// fewer apps, can see it steeper.
func (s *Scenario) steepControls(o *observations) map[obsKey]bool {
	out := map[obsKey]bool{}
	for _, c := range s.controls {
		if c.Name != "slow-decline" {
			continue
		}
		for _, cat := range categories[c.Store] {
			k := obsKey{chart.Key{Store: c.Store, Country: c.Country, Chart: chart.TopFree, Category: cat}, c.App}
			rs := o.series[k]
			med := s.medians(rs)
			for j := range rs {
				for i := j - 1; i >= 0 && rs[i].h >= rs[j].h-72; i-- {
					if atLeast(float64(med[j]), float64(med[i])*s.cfg.DropRatio) {
						out[k] = true
					}
				}
			}
		}
	}
	return out
}

// multiEvents reports each multi-country event: how many alert ids it got
// and how many of its countries they named.
func (s *Scenario) multiEvents(labels []Label, alerts []SlotAlert) []MultiEvent {
	type evKey struct{ name, store, app string }
	want := map[evKey]map[string]bool{}
	span := map[evKey][2]int{}
	for _, l := range labels {
		mv := l.Move
		if !mv.Multi || !l.Labelled {
			continue
		}
		k := evKey{mv.Event, mv.Store, mv.App}
		if want[k] == nil {
			want[k] = map[string]bool{}
			span[k] = [2]int{mv.Onset, mv.End()}
		}
		want[k][mv.Country] = true
		sp := span[k]
		span[k] = [2]int{min(sp[0], mv.Onset), max(sp[1], mv.End())}
	}
	var out []MultiEvent
	for k, countries := range want {
		ev := MultiEvent{Name: k.name, Store: k.store, App: k.app, Countries: len(countries)}
		ids, named := map[string]bool{}, map[string]bool{}
		for _, sa := range alerts {
			a := sa.Alert
			if a.Kind != chart.KindMultiCountry || a.Store != k.store || a.AppID != k.app || sa.Hour < span[k][0] || sa.Hour > span[k][1]+48 {
				continue
			}
			ids[a.ID] = true
			ev.Notices++
			for _, cc := range a.Countries {
				named[cc] = true
			}
		}
		ev.IDs = len(ids)
		for cc := range countries {
			if named[cc] {
				ev.Named++
			}
		}
		out = append(out, ev)
	}
	slices.SortFunc(out, func(a, b MultiEvent) int { return strings.Compare(a.Name+a.Store, b.Name+b.Store) })
	return out
}

func median(v []int) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return float64(s[len(s)/2])
	}
	return float64(s[len(s)/2-1]+s[len(s)/2]) / 2
}

// MedianFromOnset and MedianFromCross are the median delays in hours.
func (r Report) MedianFromOnset() float64 { return median(r.FromOnset) }

// MedianFromCross is the median delay from the first read past min_ratio.
func (r Report) MedianFromCross() float64 { return median(r.FromCross) }

// String formats a report as a few lines.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "recall in time (≤ %dh after crossing min_ratio): %s; late %d; median delay %.1fh from onset, %.1fh from crossing\n",
		r.InTime, r.All, r.Late, r.MedianFromOnset(), r.MedianFromCross())
	var kinds []string
	for k, t := range r.ByKind {
		kinds = append(kinds, k+" "+t.String())
	}
	slices.Sort(kinds)
	fmt.Fprintf(&b, "by kind: %s\n", strings.Join(kinds, ", "))
	var ramps []string
	for _, h := range Ramps {
		if t := r.ByRamp[h]; t != nil {
			ramps = append(ramps, fmt.Sprintf("%dh %s", h, t))
		}
	}
	fmt.Fprintf(&b, "climbs by ramp length: %s\n", strings.Join(ramps, ", "))
	fmt.Fprintf(&b, "false alerts: %d over %d chart-snapshots = %.3f per 1,000; on the controls: %v; not counted: %d collateral, %d on a decline control where it was steep, %d on background apps that did jump\n",
		r.False, r.ChartSnapshots, r.FalsePer1000, r.Traps, r.Collateral, r.SteepControl, r.Background)
	for _, m := range r.Multi {
		fmt.Fprintf(&b, "multi-country %s (%s): %d id(s), %d notice(s), %d of %d countries named\n", m.Name, m.Store, m.IDs, m.Notices, m.Named, m.Countries)
	}
	fmt.Fprintf(&b, "alerts by kind: %v", r.ByAlertKind)
	return b.String()
}

// Add folds another report into r, for figures over several worlds.
func (r *Report) Add(o Report) {
	add := func(dst map[string]*Tally, k string, t *Tally) {
		if dst[k] == nil {
			dst[k] = &Tally{}
		}
		dst[k].Labels += t.Labels
		dst[k].Detected += t.Detected
	}
	if r.ByKind == nil {
		r.ByKind, r.ByRamp, r.ByAlertKind, r.Traps = map[string]*Tally{}, map[int]*Tally{}, map[string]int{}, map[string]int{}
	}
	r.All.Labels += o.All.Labels
	r.All.Detected += o.All.Detected
	r.InTime = o.InTime
	for k, t := range o.ByKind {
		add(r.ByKind, k, t)
	}
	for h, t := range o.ByRamp {
		if r.ByRamp[h] == nil {
			r.ByRamp[h] = &Tally{}
		}
		r.ByRamp[h].Labels += t.Labels
		r.ByRamp[h].Detected += t.Detected
	}
	for k, n := range o.ByAlertKind {
		r.ByAlertKind[k] += n
	}
	for k, n := range o.Traps {
		r.Traps[k] += n
	}
	r.Late += o.Late
	r.FromOnset = append(r.FromOnset, o.FromOnset...)
	r.FromCross = append(r.FromCross, o.FromCross...)
	r.ChartSnapshots += o.ChartSnapshots
	r.Alerts += o.Alerts
	r.False += o.False
	r.Collateral += o.Collateral
	r.SteepControl += o.SteepControl
	r.Background += o.Background
	r.FalsePer1000 = 1000 * float64(r.False) / float64(max(r.ChartSnapshots, 1))
	r.Multi = append(r.Multi, o.Multi...)
}

// Table returns reports side by side as the rows of a markdown table, one
// column per report.
func Table(cols ...Report) []string {
	row := func(name string, f func(Report) string) string {
		s := "| " + name
		for _, c := range cols {
			s += " | " + f(c)
		}
		return s + " |"
	}
	tally := func(t *Tally) string {
		if t == nil || t.Labels == 0 {
			return "—"
		}
		return fmt.Sprintf("%.1f %% (%d/%d)", 100*t.Recall(), t.Detected, t.Labels)
	}
	var out []string
	out = append(out, row(fmt.Sprintf("recall, all labelled moves, alerted ≤ %dh after crossing min_ratio", cols[0].InTime), func(r Report) string { return tally(&r.All) }))
	for _, h := range Ramps {
		out = append(out, row(fmt.Sprintf("— climbs over %dh", h), func(r Report) string { return tally(r.ByRamp[h]) }))
	}
	out = append(out,
		row("— slides (drops)", func(r Report) string { return tally(r.ByKind[MoveDrop]) }),
		row("— bans (removed)", func(r Report) string { return tally(r.ByKind[MoveBan]) }),
		row("median delay from onset / from crossing min_ratio", func(r Report) string {
			return fmt.Sprintf("%.1fh / %.1fh", r.MedianFromOnset(), r.MedianFromCross())
		}),
		row("false alerts per 1,000 chart-snapshots", func(r Report) string {
			return fmt.Sprintf("%.3f (%d over %d)", r.FalsePer1000, r.False, r.ChartSnapshots)
		}),
		row("alerts on the controls (8↔14, 15↔60 oscillators; #8 → #45 over 5 days)", func(r Report) string {
			return fmt.Sprintf("%d oscillator, %d decline", r.Traps["oscillation"], r.Traps["slow-decline"])
		}),
		row("multi-country events: alert ids per event", func(r Report) string {
			lo, hi := 1<<30, 0
			for _, m := range r.Multi {
				lo, hi = min(lo, m.IDs), max(hi, m.IDs)
			}
			if lo == hi {
				return fmt.Sprintf("exactly %d (%d events)", lo, len(r.Multi))
			}
			return fmt.Sprintf("%d to %d (%d events)", lo, hi, len(r.Multi))
		}),
		row("multi-country events: countries named", func(r Report) string {
			named, want := 0, 0
			for _, m := range r.Multi {
				named, want = named+m.Named, want+m.Countries
			}
			return fmt.Sprintf("%.1f %% (%d/%d)", 100*float64(named)/float64(max(want, 1)), named, want)
		}),
	)
	return out
}
