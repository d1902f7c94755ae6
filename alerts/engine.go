package alerts

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
)

// Engine evaluates slots. It is not safe for concurrent use.
type Engine struct {
	cfg   config.Alerts
	watch map[string]map[string]string
	p     params

	charts    map[chart.Key]*chartState
	byCountry map[countryKey][]*chartState // the charts of each store·country, by key
	presence  map[countryKey]presences
	events    map[eventKey]*event
	evals     int
	cur       *evaluation // open between Begin and Finish
}

// params are the settings the hot path uses, in its units.
type params struct {
	window, keep, minSpan, cooldown, lookback int64 // seconds
	surgeRatio, dropRatio                     float64
}

func newParams(c config.Alerts) params {
	sec := func(d config.Duration) int64 { return int64(d.D() / time.Second) }
	p := params{
		window: sec(c.Window), minSpan: sec(c.MinSpan), cooldown: sec(c.Cooldown), lookback: sec(c.Lookback),
		surgeRatio: c.Surge.MinRatio, dropRatio: c.Drop.MinRatio,
	}
	// A series keeps what the move rule looks at: the window, the day
	// before a move's start, and the history a move needs before it.
	p.keep = p.window + 2*day + max(p.minSpan, day)
	return p
}

const (
	day            = 24 * 3600
	yesterdaySlack = 90 * 60
)

// New returns an engine with the given settings and watch list (store → app
// id → watch name).
func New(cfg config.Alerts, watch map[string]map[string]string) *Engine {
	return &Engine{
		cfg: cfg, watch: watch, p: newParams(cfg),
		charts:    map[chart.Key]*chartState{},
		byCountry: map[countryKey][]*chartState{},
		presence:  map[countryKey]presences{},
		events:    map[eventKey]*event{},
	}
}

type countryKey struct{ store, country string }

type eventKey struct{ store, app string }

// candidate is an alert before folding and suppression.
type candidate struct {
	a   chart.Alert
	key chart.Key
}

// evaluation is what one evaluation (Evaluate, or Begin … Finish) collects
// on its way. It holds no snapshot: what removals need of the charts read
// now is in their chart states.
type evaluation struct {
	t         int64
	countries map[countryKey]bool // read now; true while every chart read now was complete
	ups       []candidate         // surges and entries
	downs     []candidate
	exits     []candidate
}

// Evaluate reads one slot's snapshots and returns the alerts they raise, in
// a deterministic order. It is Begin, Add of each chart's fullest read (in
// chart order), Finish.
func (e *Engine) Evaluate(slot time.Time, snaps []chart.Snapshot) []chart.Alert {
	e.Begin(slot)
	for _, s := range e.firstReads(chart.SlotTime(slot).Unix(), snaps) {
		e.Add(s)
	}
	return e.Finish()
}

// readChart judges every followed app of one chart read: a ranked app for
// moves and entries, an absent one (from a complete read) for exits. An app
// absent from a read that was not complete is unknown: nothing changes.
func (e *Engine) readChart(ev *evaluation, s *chart.Snapshot) {
	key := s.Key()
	ck := countryKey{s.Store, s.Country}
	known := s.Complete && len(s.Entries) > 0
	if v, seen := ev.countries[ck]; !seen || v {
		ev.countries[ck] = known
	}
	cs := e.chartOf(key)
	t := ev.t
	switch {
	case t < cs.last:
		cs.rewind(t) // what was read "later" was misdated: forget it
	case cs.last > 0:
		cs.interval = t - cs.last
	}
	cs.last = t
	stamp := uint32(t)
	present := e.presenceIn(ck)
	for _, en := range s.Entries {
		sr := cs.apps[en.AppID]
		if sr == nil {
			if !e.tracked(s.Store, en.AppID) {
				continue
			}
			sr = cs.newSeries(t, e.p.keep)
			cs.apps[en.AppID] = sr
		}
		sr.seen = stamp
		present.mark(en.AppID, en.Rank, e.cfg.Removed.Top, t)
		e.judgeRanked(ev, s, key, cs, sr, en)
		sr.name, sr.lastRank, sr.absentStreak, sr.exitedAlerted = en.Name, en.Rank, 0, false
		sr.push(sample{t: stamp, rank: uint16(min(en.Rank, math.MaxUint16)), depth: uint16(min(s.Depth, math.MaxUint16-1))}, t-e.p.keep)
	}
	if known {
		for id, sr := range cs.apps {
			if sr.seen != stamp {
				e.judgeAbsent(ev, s, key, cs, id, sr)
				sr.push(sample{t: stamp, depth: uint16(min(s.Depth, math.MaxUint16-1))}, t-e.p.keep)
			}
		}
		cs.observe(s, t)
	}
}

// judgeRanked looks for an entry, else a surge or a drop.
func (e *Engine) judgeRanked(ev *evaluation, s *chart.Snapshot, key chart.Key, cs *chartState, sr *series, en chart.Entry) {
	if c, ok := e.entered(key, sr, en, ev.t); ok {
		ev.ups = append(ev.ups, c)
		return
	}
	w := sr.since(ev.t - e.p.window)
	hi, lo := extremes(w, cs.subDaily())
	if c, ok := e.surge(key, cs, sr, en, ev.t, w, hi); ok {
		ev.ups = append(ev.ups, c)
		return
	}
	if c, ok := e.drop(key, cs, sr, en, ev.t, w, lo); ok {
		ev.downs = append(ev.downs, c)
	}
}

func (e *Engine) chartOf(key chart.Key) *chartState {
	cs := e.charts[key]
	if cs != nil {
		return cs
	}
	cs = &chartState{key: key, name: key.String(), apps: map[string]*series{}}
	e.charts[key] = cs
	ck := countryKey{key.Store, key.Country}
	charts := append(e.byCountry[ck], cs)
	slices.SortFunc(charts, func(a, b *chartState) int { return strings.Compare(a.name, b.name) })
	e.byCountry[ck] = charts
	return cs
}

// firstReads orders a slot's snapshots by chart and keeps one per chart:
// the fullest when a chart was read twice in the slot (two jobs sharing it,
// a duplicated import line), and none of a chart already evaluated at this
// slot (by another job's evaluation). Counting a read twice would confirm an
// exit or a removal on a single absence. Only the same slot is skipped: a
// chart once read with a wrong, future time must not silence it until then.
func (e *Engine) firstReads(t int64, snaps []chart.Snapshot) []*chart.Snapshot {
	type read struct {
		name string
		s    *chart.Snapshot
	}
	best := make(map[chart.Key]read, len(snaps))
	for i := range snaps {
		s := &snaps[i]
		key := s.Key()
		if cs := e.charts[key]; cs != nil && cs.last == t {
			continue
		}
		if b, ok := best[key]; !ok || fuller(s, b.s) {
			best[key] = read{key.String(), s}
		}
	}
	reads := make([]read, 0, len(best))
	for _, r := range best {
		reads = append(reads, r)
	}
	slices.SortFunc(reads, func(a, b read) int { return strings.Compare(a.name, b.name) })
	out := make([]*chart.Snapshot, len(reads))
	for i, r := range reads {
		out[i] = r.s
	}
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

func (e *Engine) tracked(store, app string) bool {
	if !e.cfg.WatchOnly {
		return true
	}
	_, ok := e.watch[store][app]
	return ok
}

func alertsOf(cs []candidate) []chart.Alert {
	out := make([]chart.Alert, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.a)
	}
	return out
}

// gc forgets series, presence and events that have had nothing to say for
// a whole look-back window.
func (e *Engine) gc(t int64) {
	horizon := t - e.p.keep - e.p.cooldown
	for _, cs := range e.charts {
		for id, sr := range cs.apps {
			if n := len(sr.hist); n == 0 || sr.hist[n-1].time() < horizon || (sr.absentStreak > 0 && !sr.rankedSince(horizon)) {
				delete(cs.apps, id)
			}
		}
	}
	for ck, apps := range e.presence {
		for app, p := range apps {
			if p.lastPresent < horizon {
				delete(apps, app)
			}
		}
		if len(apps) == 0 {
			delete(e.presence, ck)
		}
	}
	window := int64(e.cfg.MultiCountry.Window.D() / time.Second)
	for ek, ev := range e.events {
		if t-ev.lastActivity() > window {
			delete(e.events, ek)
		}
	}
}
