// Package alerts is rankpulse's alert engine: it reads each slot's chart
// snapshots and flags sudden rank moves.
//
// Ranks are ordinal, so the engine works on log-rank: a move from #150 to
// #20 and one from #3 to #1 are both news, #12 <-> #9 every day is not. Each
// series (store, country, chart, category, app) is compared with its own
// recent behaviour: the median and the median absolute deviation of its
// log-rank over its last known snapshots. An app absent from a complete
// snapshot is censored just below the chart's depth; an app absent from an
// incomplete one is unknown and changes nothing.
//
// Kinds (SPEC §4): surge and drop (a move large against the app's own
// spread and in absolute terms), entered (from below the chart straight to
// its top), exited (left the top, confirmed on consecutive complete
// snapshots), removed (gone from every chart of one country while listed
// elsewhere: a possible ban) and multi_country_surge (one alert, updated as
// countries join, when an app surges or enters in several countries).
//
// The engine is deterministic: the same snapshots in the same order give
// the same alerts with the same ids, which is what lets the daemon rebuild
// its state after a restart by replaying the store.
package alerts

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
)

// scaleFloor is the smallest spread of log-rank the engine assumes: an app
// whose rank never moved still jitters by about 10%.
const scaleFloor = 0.1

// Engine evaluates slots. It is not safe for concurrent use.
type Engine struct {
	cfg   config.Alerts
	watch map[string]map[string]string

	charts    map[chart.Key]*chartState
	byCountry map[countryKey][]chart.Key // the charts of each store·country, sorted
	presence  map[presenceKey]*presence
	events    map[eventKey]*event
	evals     int
}

// New returns an engine with the given settings and watch list (store → app
// id → watch name).
func New(cfg config.Alerts, watch map[string]map[string]string) *Engine {
	return &Engine{
		cfg: cfg, watch: watch,
		charts:    map[chart.Key]*chartState{},
		byCountry: map[countryKey][]chart.Key{},
		presence:  map[presenceKey]*presence{},
		events:    map[eventKey]*event{},
	}
}

type chartState struct {
	last      int64 // slot of the newest snapshot evaluated
	interval  int64 // seconds between its last two evaluations, 0 if unknown
	completes int   // complete, non-empty snapshots seen
	apps      map[string]*series
	// Volatility: one-step |Δ log-rank| of every app between consecutive
	// complete snapshots, per rank band, and the robust spread it implies.
	prev  map[string]int32
	steps [nbands][]float64
	vol   [nbands]float64
	// tail is the 99th percentile of the one-step changes: in a chart where
	// a few apps jump tenfold every day, a move must beat that too.
	tail [nbands]float64
}

// bands split ranks for the chart's volatility: the top of a chart moves
// less than its middle.
var bands = [nbands]int{10, 30, 100, math.MaxInt32}

const nbands = 4

func band(rank int) int {
	for i, b := range bands {
		if rank <= b {
			return i
		}
	}
	return len(bands) - 1
}

// volWindow is how many recent steps per band make the chart's volatility.
const volWindow = 512

// observe updates the chart's volatility with a complete snapshot.
func (cs *chartState) observe(entries []chart.Entry) {
	next := make(map[string]int32, len(entries))
	changed := [nbands]bool{}
	for _, e := range entries {
		next[e.AppID] = int32(e.Rank)
		p, ok := cs.prev[e.AppID]
		if !ok {
			continue
		}
		b := band(int(p))
		d := math.Abs(math.Log(float64(e.Rank)) - math.Log(float64(p)))
		cs.steps[b] = append(cs.steps[b], d)
		if len(cs.steps[b]) > volWindow {
			cs.steps[b] = cs.steps[b][len(cs.steps[b])-volWindow:]
		}
		changed[b] = true
	}
	for b := range bands {
		if changed[b] && len(cs.steps[b]) >= 20 {
			sorted := slices.Clone(cs.steps[b])
			slices.Sort(sorted)
			cs.vol[b] = sorted[len(sorted)/2] * 1.4826
			cs.tail[b] = sorted[len(sorted)*99/100]
		}
	}
	cs.prev = next
}

// sample is one known observation of a series: a rank, or 0 for "below the
// chart" (absent from a complete snapshot of the given depth).
type sample struct {
	t     int64
	rank  int32
	depth int32
}

func (s sample) logRank() float64 {
	if s.rank > 0 {
		return math.Log(float64(s.rank))
	}
	return math.Log(float64(s.depth) + 1)
}

type series struct {
	hist          []sample // known samples, oldest first, at most cfg.Baseline
	name          string
	lastRank      int // last rank seen
	absentStreak  int // consecutive complete snapshots without the app
	exitedAlerted bool
	up, down      mark // last alerted rise and fall
}

type mark struct {
	t    int64
	rank int
}

type presenceKey struct{ store, country, app string }

type countryKey struct{ store, country string }

type presence struct {
	lastPresent int64
	best        int // best rank in the last slot the app was present
	bestKey     chart.Key
	charts      int // charts of the country it was in then
	name        string
	absent      int
	alerted     bool
}

type eventKey struct{ store, app string }

type event struct {
	open     bool
	id       string
	start    int64
	lastJoin int64
	members  map[string]int64 // country → when it joined
	revision int
	chartKey chart.Key
}

// candidate is an alert before cooldown, folding and suppression.
type candidate struct {
	a   chart.Alert
	key chart.Key
}

// Evaluate reads one slot's snapshots and returns the alerts they raise, in
// a deterministic order.
func (e *Engine) Evaluate(slot time.Time, snaps []chart.Snapshot) []chart.Alert {
	slot = chart.SlotTime(slot)
	t := slot.Unix()
	sorted := e.firstReads(t, snaps)

	var ups, downs, exits []candidate
	countryKnown := map[countryKey]bool{}
	presentNow := map[presenceKey]bool{}     // tracked apps ranked in a chart read now
	listed := map[eventKey]map[string]bool{} // store/app → countries where it is ranked now

	for _, s := range sorted {
		key := s.Key()
		c := countryKey{s.Store, s.Country}
		known := s.Complete && len(s.Entries) > 0
		if v, seen := countryKnown[c]; !seen || v {
			countryKnown[c] = known
		}
		cs := e.charts[key]
		if cs == nil {
			cs = &chartState{apps: map[string]*series{}}
			e.charts[key] = cs
			ck := countryKey{key.Store, key.Country}
			keys := append(e.byCountry[ck], key)
			slices.SortFunc(keys, func(a, b chart.Key) int { return strings.Compare(a.String(), b.String()) })
			e.byCountry[ck] = keys
		}
		if cs.last > 0 && t > cs.last {
			cs.interval = t - cs.last
		}
		cs.last = t
		inChart := make(map[string]chart.Entry, len(s.Entries))
		for _, en := range s.Entries {
			inChart[en.AppID] = en
			ek := eventKey{s.Store, en.AppID}
			if listed[ek] == nil {
				listed[ek] = map[string]bool{}
			}
			listed[ek][s.Country] = true
			if !e.tracked(s.Store, en.AppID) {
				continue
			}
			presentNow[presenceKey{s.Store, s.Country, en.AppID}] = true
		}
		// Every app of the chart we follow, and every tracked app in it.
		apps := make([]string, 0, len(cs.apps)+len(s.Entries))
		for id := range cs.apps {
			apps = append(apps, id)
		}
		for id := range inChart {
			if _, ok := cs.apps[id]; !ok && e.tracked(s.Store, id) {
				apps = append(apps, id)
			}
		}
		slices.Sort(apps)
		for _, id := range apps {
			sr := cs.apps[id]
			en, ranked := inChart[id]
			switch {
			case ranked:
				if sr == nil {
					sr = &series{name: en.Name}
					cs.apps[id] = sr
					if cs.completes > 0 && en.Rank <= e.cfg.Entered.Top {
						// New to a chart we have read before: it was below it.
						ups = append(ups, e.enteredCandidate(s, key, sr, en, t))
					}
				} else if c, ok := e.rankedCandidate(s, key, cs, sr, en, t); ok {
					if c.a.Kind == chart.KindDrop {
						downs = append(downs, c)
					} else {
						ups = append(ups, c)
					}
				}
				sr.name = en.Name
				sr.lastRank = en.Rank
				sr.absentStreak = 0
				sr.exitedAlerted = false
				sr.push(sample{t: t, rank: int32(en.Rank), depth: int32(s.Depth)}, e.cfg.Baseline)
			case known:
				sr.absentStreak++
				if !sr.exitedAlerted && sr.lastRank > 0 && sr.lastRank <= e.cfg.Exited.Top && sr.absentStreak >= e.cfg.Exited.Confirmations {
					sr.exitedAlerted = true
					exits = append(exits, candidate{key: key, a: e.alert(chart.KindExited, chart.SeverityWarning, key, id, sr.name, t,
						chart.Ptr(sr.lastRank), nil, fmt.Sprintf("%s left the top %d of %s (was #%d)", named(sr.name, id), s.Depth, key.Describe(), sr.lastRank))})
				}
				sr.push(sample{t: t, rank: 0, depth: int32(s.Depth)}, e.cfg.Baseline)
			}
			// Unknown (incomplete snapshot, app absent): no sample at all.
		}
		if known {
			cs.completes++
			cs.observe(s.Entries)
		}
	}

	// Removals: gone from every (complete) chart of a country at once.
	var removals []candidate
	removed := map[presenceKey]bool{}
	countries := make([]countryKey, 0, len(countryKnown))
	for c := range countryKnown {
		countries = append(countries, c)
	}
	sort.Slice(countries, func(i, j int) bool {
		return countries[i].store+countries[i].country < countries[j].store+countries[j].country
	})
	for _, c := range countries {
		var apps []string
		for pk := range e.presence {
			if pk.store == c.store && pk.country == c.country {
				apps = append(apps, pk.app)
			}
		}
		for pk := range presentNow {
			if pk.store == c.store && pk.country == c.country {
				if _, ok := e.presence[pk]; !ok {
					apps = append(apps, pk.app)
				}
			}
		}
		slices.Sort(apps)
		for _, app := range apps {
			pk := presenceKey{c.store, c.country, app}
			p := e.presence[pk]
			if presentNow[pk] {
				if p == nil {
					p = &presence{}
					e.presence[pk] = p
				}
				// Count the country's charts read apart (another job) too,
				// at their last read.
				p.charts, p.best, p.bestKey = e.ranked(c.store, c.country, app, t)
				p.lastPresent, p.name, p.absent, p.alerted = t, e.charts[p.bestKey].apps[app].name, 0, false
				continue
			}
			if !countryKnown[c] || p.alerted || p.best > e.cfg.Removed.Top || p.charts < e.cfg.Removed.MinCharts {
				continue // a chart we could not read decides nothing
			}
			if n, _, _ := e.ranked(c.store, c.country, app, t); n > 0 {
				continue // still in a chart of the country read apart (another job)
			}
			p.absent++
			if p.absent < e.cfg.Removed.Confirmations {
				continue
			}
			elsewhere := e.listedElsewhere(c.store, c.country, app, listed[eventKey{c.store, app}], t)
			if len(elsewhere) == 0 {
				continue // gone everywhere: not a ban in one country
			}
			p.alerted = true
			removed[pk] = true
			country := strings.ToUpper(c.country)
			a := e.alert(chart.KindRemoved, chart.SeverityCritical, p.bestKey, app, p.name, t, chart.Ptr(p.best), nil,
				fmt.Sprintf("%s disappeared from every %s chart in %s (%s) while still listed in %d other countries: a possible ban or takedown (it was #%d in %s)",
					named(p.name, app), chart.StoreName(c.store), chart.CountryName(c.country), country, len(elsewhere), p.best, p.bestKey.ChartTitle()))
			removals = append(removals, candidate{key: p.bestKey, a: a})
		}
	}

	var out []chart.Alert
	out = append(out, e.foldMultiCountry(ups, t)...)
	for _, c := range downs {
		out = append(out, c.a)
	}
	for _, c := range exits {
		if !removed[presenceKey{c.key.Store, c.key.Country, c.a.AppID}] {
			out = append(out, c.a)
		}
	}
	for _, c := range removals {
		out = append(out, c.a)
	}
	e.evals++
	if e.evals%24 == 0 {
		e.gc(t)
	}
	return out
}

// firstReads orders a slot's snapshots by chart and keeps one per chart:
// the fullest when a chart was read twice in the slot (two jobs sharing it,
// a duplicated import line), and none of a chart already evaluated at this
// slot (by another job's evaluation). Counting a read twice would confirm an
// exit or a removal on a single absence. Only the same slot is skipped: a
// chart once read with a wrong, future time must not silence it until then.
func (e *Engine) firstReads(t int64, snaps []chart.Snapshot) []*chart.Snapshot {
	best := make(map[chart.Key]*chart.Snapshot, len(snaps))
	for i := range snaps {
		s := &snaps[i]
		key := s.Key()
		if cs := e.charts[key]; cs != nil && cs.last == t {
			continue
		}
		if b, ok := best[key]; !ok || fuller(s, b) {
			best[key] = s
		}
	}
	out := make([]*chart.Snapshot, 0, len(best))
	for _, s := range best {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key().String() < out[j].Key().String() })
	return out
}

// fuller reports whether a is a better read of a chart than b: complete
// before incomplete, then more entries.
func fuller(a, b *chart.Snapshot) bool {
	if a.Complete != b.Complete {
		return a.Complete
	}
	return len(a.Entries) > len(b.Entries)
}

// fresh reports whether a chart's last read still stands at t: it is not
// older than twice the chart's own reading interval (a chart read hourly
// goes stale after two hours, one read daily after two days; one read only
// once after a day). A chart that stopped being read decides nothing.
func (cs *chartState) fresh(t int64) bool {
	limit := int64(25 * 60 * 60)
	if cs.interval > 0 {
		limit = 2*cs.interval + 60
	}
	return t-cs.last <= limit
}

// rankedHere reports whether app's last known state in the chart is a rank.
func (cs *chartState) rankedHere(app string) (int, bool) {
	sr := cs.apps[app]
	if sr == nil || sr.absentStreak > 0 || sr.lastRank == 0 {
		return 0, false
	}
	return sr.lastRank, true
}

// ranked counts the charts of a country whose last read, still fresh, ranks
// app, with the best of those ranks (on ties the overall chart). Charts read
// in this evaluation count at this read, the others (read apart, by another
// job) at their last one, so that a removal sees every chart of the country.
func (e *Engine) ranked(store, country, app string, t int64) (n, best int, bestKey chart.Key) {
	for _, key := range e.byCountry[countryKey{store, country}] {
		cs := e.charts[key]
		if !cs.fresh(t) {
			continue
		}
		r, ok := cs.rankedHere(app)
		if !ok {
			continue
		}
		n++
		if best == 0 || r < best || (r == best && key.Category == chart.All) {
			best, bestKey = r, key
		}
	}
	return n, best, bestKey
}

// listedElsewhere is the other countries where app is ranked: in this
// evaluation (inCall, any app) or, for a tracked app, in a fresh chart
// read apart.
func (e *Engine) listedElsewhere(store, country, app string, inCall map[string]bool, t int64) []string {
	set := map[string]bool{}
	for cc := range inCall {
		if cc != country {
			set[cc] = true
		}
	}
	for ck, keys := range e.byCountry {
		if ck.store != store || ck.country == country || set[ck.country] {
			continue
		}
		for _, key := range keys {
			if cs := e.charts[key]; cs.fresh(t) {
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

func (e *Engine) tracked(store, app string) bool {
	if !e.cfg.WatchOnly {
		return true
	}
	_, ok := e.watch[store][app]
	return ok
}

func (sr *series) push(s sample, limit int) {
	sr.hist = append(sr.hist, s)
	if len(sr.hist) > limit {
		sr.hist = append(sr.hist[:0], sr.hist[len(sr.hist)-limit:]...)
	}
}

// recent returns the known samples within the look-back window.
func (e *Engine) recent(sr *series, t int64) []sample {
	from := t - int64(e.cfg.Lookback.D()/time.Second)
	i := sort.Search(len(sr.hist), func(i int) bool { return sr.hist[i].t >= from })
	return sr.hist[i:]
}

func (e *Engine) enteredCandidate(s *chart.Snapshot, key chart.Key, sr *series, en chart.Entry, t int64) candidate {
	sr.up = mark{t: t, rank: en.Rank}
	return candidate{key: key, a: e.alert(chart.KindEntered, chart.SeverityWarning, key, en.AppID, en.Name, t, nil, chart.Ptr(en.Rank),
		fmt.Sprintf("%s entered %s at #%d", named(en.Name, en.AppID), key.Describe(), en.Rank))}
}

// rankedCandidate judges an app seen at a rank against its baseline:
// entered (it was below the chart), surge or drop.
func (e *Engine) rankedCandidate(s *chart.Snapshot, key chart.Key, cs *chartState, sr *series, en chart.Entry, t int64) (candidate, bool) {
	hist := e.recent(sr, t)
	if len(hist) == 0 {
		return candidate{}, false
	}
	r := en.Rank
	last := hist[len(hist)-1]
	if last.rank == 0 && r <= e.cfg.Entered.Top {
		absent := 0
		for _, h := range hist {
			if h.rank == 0 {
				absent++
			}
		}
		if 2*absent >= len(hist) && e.allowUp(sr, r, t) {
			return e.enteredCandidate(s, key, sr, en, t), true
		}
		return candidate{}, false
	}
	if len(hist) < e.cfg.MinHistory || time.Duration(hist[len(hist)-1].t-hist[0].t)*time.Second < e.cfg.MinSpan.D() {
		return candidate{}, false
	}
	vals := make([]float64, len(hist))
	for i, h := range hist {
		vals[i] = h.logRank()
	}
	med := median(vals)
	dev := make([]float64, len(vals))
	for i, v := range vals {
		dev[i] = math.Abs(v - med)
	}
	// The spread to beat: the app's own, or the chart's ordinary one-step
	// movement around the app's usual rank, whichever is larger.
	usual := int(math.Round(math.Exp(med)))
	scale := max(median(dev)*1.4826, cs.vol[band(usual)], scaleFloor)
	x := math.Log(float64(r))
	move := med - x // > 0: a rise
	tail := cs.tail[band(usual)]
	// Where the app was at this time yesterday: a rank it already held then
	// is its daily pattern (or yesterday's news), not a sudden move.
	yesterday, daily := sameTimeYesterday(hist, t)
	switch {
	case move >= math.Log(e.cfg.Surge.MinRatio) && move >= tail && move/scale >= e.cfg.Surge.MinZ && r <= e.cfg.Surge.MaxRank:
		if daily && yesterday.logRank()-x < math.Log(e.cfg.Surge.MinRatio) {
			return candidate{}, false
		}
		if !e.allowUp(sr, r, t) {
			return candidate{}, false
		}
		ref := reference(hist, func(v float64) bool { return v >= med })
		sr.up = mark{t: t, rank: r}
		return candidate{key: key, a: e.alert(chart.KindSurge, chart.SeverityWarning, key, en.AppID, en.Name, t, rankPtr(ref), chart.Ptr(r),
			fmt.Sprintf("%s rose from %s to #%d in %s%s", named(en.Name, en.AppID), rankText(ref), r, key.Describe(), since(ref, t)))}, true
	case -move >= math.Log(e.cfg.Drop.MinRatio) && -move >= tail && -move/scale >= e.cfg.Drop.MinZ:
		if daily && x-yesterday.logRank() < math.Log(e.cfg.Drop.MinRatio) {
			return candidate{}, false
		}
		ref := reference(hist, func(v float64) bool { return v <= med })
		if ref.rank == 0 || int(ref.rank) > e.cfg.Drop.MaxRank || !e.allowDown(sr, r, t) {
			return candidate{}, false
		}
		sr.down = mark{t: t, rank: r}
		return candidate{key: key, a: e.alert(chart.KindDrop, chart.SeverityWarning, key, en.AppID, en.Name, t, rankPtr(ref), chart.Ptr(r),
			fmt.Sprintf("%s fell from %s to #%d in %s%s", named(en.Name, en.AppID), rankText(ref), r, key.Describe(), since(ref, t)))}, true
	}
	return candidate{}, false
}

// sameTimeYesterday returns the known sample closest to 24h before t,
// within 90 minutes of it.
func sameTimeYesterday(hist []sample, t int64) (sample, bool) {
	const day, slack = 24 * 3600, 90 * 60
	var best sample
	found := false
	for _, h := range hist {
		d := h.t - (t - day)
		if d < 0 {
			d = -d
		}
		if d <= slack && (!found || d < abs64(best.t-(t-day))) {
			best, found = h, true
		}
	}
	return best, found
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// allowUp applies the cooldown: within it, only a rise to a rank better by
// the escalation factor than the last alerted one alerts again.
func (e *Engine) allowUp(sr *series, r int, t int64) bool {
	if sr.up.t == 0 || t-sr.up.t >= int64(e.cfg.Cooldown.D()/time.Second) {
		return true
	}
	return float64(r)*e.cfg.Escalation <= float64(sr.up.rank) && r < sr.up.rank
}

func (e *Engine) allowDown(sr *series, r int, t int64) bool {
	if sr.down.t == 0 || t-sr.down.t >= int64(e.cfg.Cooldown.D()/time.Second) {
		return true
	}
	return float64(r) >= float64(sr.down.rank)*e.cfg.Escalation
}

// reference is the most recent baseline sample matching at: where the move
// started from.
func reference(hist []sample, at func(float64) bool) sample {
	for i := len(hist) - 1; i >= 0; i-- {
		if at(hist[i].logRank()) {
			return hist[i]
		}
	}
	return hist[0]
}

// named is how a summary calls an app: its store name, or its id when the
// store gave no name (a failed App Store lookup leaves names empty).
func named(name, id string) string {
	if name == "" {
		return id
	}
	return name
}

func rankPtr(s sample) *int {
	if s.rank == 0 {
		return nil
	}
	return chart.Ptr(int(s.rank))
}

func rankText(s sample) string {
	if s.rank == 0 {
		return fmt.Sprintf("below #%d", s.depth)
	}
	return fmt.Sprintf("#%d", s.rank)
}

func since(s sample, t int64) string {
	d := time.Duration(t-s.t) * time.Second
	switch {
	case d <= 0:
		return ""
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf(" in %dd", d/(24*time.Hour))
	case d >= time.Hour:
		return fmt.Sprintf(" in %dh", (d+30*time.Minute)/time.Hour)
	}
	return fmt.Sprintf(" in %dm", d/time.Minute)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func (e *Engine) alert(kind, severity string, key chart.Key, app, name string, t int64, from, to *int, summary string) chart.Alert {
	a := chart.Alert{
		ID:       chart.AlertID(kind, key.Store, key.Country, key.Chart, key.Category, app, fmt.Sprint(t)),
		Kind:     kind,
		Severity: severity,
		Time:     time.Unix(t, 0).UTC(),
		Store:    key.Store,
		Country:  chart.Ptr(key.Country),
		Chart:    key.Chart,
		Category: key.Category,
		AppID:    app,
		AppName:  name,
		FromRank: from,
		ToRank:   to,
		Summary:  summary,
	}
	if w, ok := e.watch[key.Store][app]; ok {
		a.Watch = chart.Ptr(w)
	}
	return a
}

// foldMultiCountry passes rises through the multi-country grouping: an app
// rising in MinCountries countries of a store within the window becomes one
// multi_country_surge alert; countries that join later update it (at twice
// as many countries each time) instead of alerting one by one.
func (e *Engine) foldMultiCountry(ups []candidate, t int64) []chart.Alert {
	window := int64(e.cfg.MultiCountry.Window.D() / time.Second)
	k := e.cfg.MultiCountry.MinCountries
	var out []chart.Alert
	sort.SliceStable(ups, func(i, j int) bool {
		a, b := ups[i].a, ups[j].a
		return a.Store+a.AppID < b.Store+b.AppID
	})
	joined := map[eventKey]chart.Alert{} // open events that gained countries this slot
	for _, c := range ups {
		ek := eventKey{c.a.Store, c.a.AppID}
		ev := e.events[ek]
		if ev == nil {
			ev = &event{members: map[string]int64{}}
			e.events[ek] = ev
		}
		if ev.open && t-ev.lastJoin > window {
			*ev = event{members: map[string]int64{}}
		}
		if !ev.open {
			for cc, jt := range ev.members {
				if t-jt > window {
					delete(ev.members, cc)
				}
			}
		}
		country := c.key.Country
		_, already := ev.members[country]
		if !already {
			ev.members[country] = t
		}
		if ev.open {
			if !already && ev.start != t {
				ev.lastJoin = t
				joined[ek] = c.a
			}
			continue // folded into the open event
		}
		if len(ev.members) < k {
			out = append(out, c.a)
			continue
		}
		ev.open = true
		ev.start = t
		for _, jt := range ev.members {
			ev.start = min(ev.start, jt)
		}
		ev.id = chart.AlertID(chart.KindMultiCountry, c.a.Store, c.a.AppID, fmt.Sprint(ev.start))
		ev.lastJoin, ev.revision = t, 0
		ev.chartKey = c.key
		out = append(out, e.multiAlert(ev, c.a, t))
	}
	// One update per event per slot, whatever number of countries joined.
	keys := make([]eventKey, 0, len(joined))
	for ek := range joined {
		keys = append(keys, ek)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].store+keys[i].app < keys[j].store+keys[j].app })
	for _, ek := range keys {
		ev := e.events[ek]
		ev.revision++
		out = append(out, e.multiAlert(ev, joined[ek], t))
	}
	return out
}

func (e *Engine) multiAlert(ev *event, trigger chart.Alert, t int64) chart.Alert {
	countries := make([]string, 0, len(ev.members))
	for cc := range ev.members {
		countries = append(countries, cc)
	}
	slices.Sort(countries)
	names := make([]string, len(countries))
	for i, cc := range countries {
		names[i] = strings.ToUpper(cc)
	}
	span := time.Duration(t-ev.start) * time.Second
	within := ""
	if span > 0 {
		within = fmt.Sprintf(" within %s", since(sample{t: ev.start}, t)[4:])
	}
	a := chart.Alert{
		ID:        ev.id,
		Kind:      chart.KindMultiCountry,
		Severity:  chart.SeverityCritical,
		Time:      time.Unix(t, 0).UTC(),
		Store:     trigger.Store,
		Chart:     ev.chartKey.Chart,
		Category:  ev.chartKey.Category,
		AppID:     trigger.AppID,
		AppName:   trigger.AppName,
		Watch:     trigger.Watch,
		Countries: countries,
		Summary: fmt.Sprintf("%s surged in %d countries on %s%s: %s", named(trigger.AppName, trigger.AppID), len(countries),
			chart.StoreName(trigger.Store), within, strings.Join(names, ", ")),
		Revision: ev.revision,
	}
	return a
}

// gc forgets series, presence and events that have had nothing to say for
// a whole look-back window.
func (e *Engine) gc(t int64) {
	horizon := t - int64(e.cfg.Lookback.D()/time.Second) - int64(e.cfg.Cooldown.D()/time.Second)
	for _, cs := range e.charts {
		for id, sr := range cs.apps {
			if n := len(sr.hist); n == 0 || sr.hist[n-1].t < horizon || (sr.absentStreak > 0 && !hasRank(sr.hist, horizon)) {
				delete(cs.apps, id)
			}
		}
	}
	for pk, p := range e.presence {
		if p.lastPresent < horizon {
			delete(e.presence, pk)
		}
	}
	window := int64(e.cfg.MultiCountry.Window.D() / time.Second)
	for ek, ev := range e.events {
		last := ev.lastJoin
		for _, jt := range ev.members {
			last = max(last, jt)
		}
		if t-last > window {
			delete(e.events, ek)
		}
	}
}

func hasRank(hist []sample, from int64) bool {
	for _, h := range hist {
		if h.t >= from && h.rank > 0 {
			return true
		}
	}
	return false
}
