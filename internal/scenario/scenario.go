// Package scenario generates realistic chart histories with scripted events
// and scores an alert engine against them: recall and detection delay of
// the events, false alerts per 1,000 background chart-snapshots, and the
// number of multi-country alerts per multi-country event.
//
// The model: every store has a pool of apps; in each country an app's
// popularity (log-score) is its global popularity plus a country bias, a
// slow mean-reverting random walk, a daily cycle in the country's time zone
// and hourly noise. A chart ranks the apps of its category by popularity
// and shows the top Depth. Apps also launch and fade, entering and leaving
// the charts. On top of that the scenario scripts:
//
//   - a January-2021-like surge: two watched apps rising from the lower
//     chart to the top in many countries of both stores, onsets staggered;
//   - a single-country surge;
//   - a gradual decline (a control: it is not sudden and must stay quiet);
//   - a ban: a top app vanishing from every chart of one country;
//   - watched apps with big but ordinary daily oscillations (controls).
package scenario

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

// Config sizes a scenario.
type Config struct {
	Seed      uint64
	Countries int // per store
	Hours     int // hourly slots
	Depth     int
	Pool      int // apps per store
	Start     time.Time
}

// DefaultConfig is the evaluation the README reports.
func DefaultConfig() Config {
	return Config{Seed: 2021, Countries: 30, Hours: 240, Depth: 200, Pool: 2000, Start: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// Unit is one thing an engine should report: an event in one country.
type Unit struct {
	Event   string
	Store   string
	Country string
	App     string
	Onset   int      // slot index where the event starts
	Kinds   []string // alert kinds that report it
	Until   int      // alerts for it until this slot are true positives
}

// Control is an app·country whose behaviour must not alert.
type Control struct {
	Event, Store, Country, App string
}

// Scenario is a generated history.
type Scenario struct {
	cfg      Config
	Watch    map[string]map[string]string
	Units    []Unit
	Controls []Control
	// MultiEvents are the store·app pairs of the multi-country event.
	MultiEvents [][2]string

	stores    []*storeModel
	countries []string
}

var (
	categories = map[string][2]string{chart.AppStore: {"all", "6005"}, chart.GooglePlay: {"all", "COMMUNICATION"}}
	// Watched apps: ids per store, and their role.
	watched = []struct {
		name, appstore, play string
	}{
		{"signal", "874139669", "org.thoughtcrime.securesms"},
		{"telegram", "686449807", "org.telegram.messenger"},
		{"viber", "382617920", "com.viber.voip"},
		{"line", "443904275", "jp.naver.line.android"},
		{"whatsapp", "310633997", "com.whatsapp"},
		{"discord", "985746746", "com.discord"},
		{"snapchat", "447188370", "com.snapchat.android"},
		{"messenger", "454638411", "com.facebook.orca"},
		{"wechat", "414478124", "com.tencent.mm"},
	}
)

type app struct {
	id, name string
	social   bool
	base     float64   // global popularity
	bias     []float64 // per country
	amp      float64   // daily cycle, log-score
	phase    float64
	walk     []float64 // per country
	launch   int       // slot the app launches (-1: always there)
	fade     float64   // per-hour decay of a launch boost
	boost    float64
}

type storeModel struct {
	name   string
	apps   []*app
	byName map[string]*app
	// script: extra log-score per (app, country index) as a function of slot
	script map[string]map[int]func(h int) float64
	banned map[string]map[int]int // app → country → slot from which it is gone
}

// New builds a scenario.
func New(cfg Config) *Scenario {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	s := &Scenario{cfg: cfg, Watch: map[string]map[string]string{}}
	for i, c := range chart.AppStoreCountries {
		if i >= cfg.Countries {
			break
		}
		if c.Code == "cn" || c.Code == "xk" { // both stores serve the rest
			cfg.Countries++
			continue
		}
		s.countries = append(s.countries, c.Code)
	}
	for _, store := range chart.Stores {
		s.Watch[store] = map[string]string{}
		s.stores = append(s.stores, s.newStore(store, rng))
	}
	s.script(rng)
	return s
}

// Countries returns the scenario's countries.
func (s *Scenario) Countries() []string { return s.countries }

// Slots returns the number of slots.
func (s *Scenario) Slots() int { return s.cfg.Hours }

// SlotTime returns the time of slot h.
func (s *Scenario) SlotTime(h int) time.Time { return s.cfg.Start.Add(time.Duration(h) * time.Hour) }

func (s *Scenario) newStore(name string, rng *rand.Rand) *storeModel {
	m := &storeModel{name: name, byName: map[string]*app{}, script: map[string]map[int]func(int) float64{}, banned: map[string]map[int]int{}}
	nc := len(s.countries)
	mk := func(id, label string, social bool, base float64) *app {
		a := &app{id: id, name: label, social: social, base: base, launch: -1,
			bias: make([]float64, nc), walk: make([]float64, nc), phase: rng.Float64() * 2 * math.Pi}
		for c := range a.bias {
			a.bias[c] = rng.NormFloat64() * 0.5
		}
		switch u := rng.Float64(); {
		case u < 0.7:
			a.amp = 0.02 + 0.06*rng.Float64()
		case u < 0.95:
			a.amp = 0.1 + 0.2*rng.Float64()
		default:
			a.amp = 0.3 + 0.3*rng.Float64()
		}
		m.apps = append(m.apps, a)
		m.byName[id] = a
		return a
	}
	for i := range s.cfg.Pool {
		id := fmt.Sprintf("bg.%s.%d", name[:2], i)
		if name == chart.AppStore {
			id = fmt.Sprint(1500000000 + i)
		}
		a := mk(id, fmt.Sprintf("Background App %d", i), rng.Float64() < 0.12, -math.Log(float64(i+1)))
		if rng.Float64() < 0.03 { // launches during the scenario
			a.launch = rng.IntN(s.cfg.Hours)
			a.boost = 1.5 + rng.Float64()*2 // up to the middle of the chart
			a.fade = 0.02 + rng.Float64()*0.04
			a.base -= 3
		}
	}
	for _, w := range watched {
		id := w.appstore
		if name == chart.GooglePlay {
			id = w.play
		}
		s.Watch[name][id] = w.name
		mk(id, w.name+" messenger", true, 0)
	}
	return m
}

// setBase places a watched app around a target overall rank.
func (m *storeModel) setBase(id string, rank float64, amp float64) {
	a := m.byName[id]
	a.base = -math.Log(rank)
	a.amp = amp
	for c := range a.bias {
		a.bias[c] *= 0.2
	}
}

func (s *Scenario) idOf(store, name string) string {
	for id, n := range s.Watch[store] {
		if n == name {
			return id
		}
	}
	panic("scenario: no watched app " + name)
}

// ramp is a smooth 0→1 step starting at onset over hours.
func ramp(h, onset int, hours float64) float64 {
	x := float64(h-onset) / hours
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	return x * x * (3 - 2*x)
}

func (s *Scenario) script(rng *rand.Rand) {
	nc := len(s.countries)
	hours := s.cfg.Hours
	t0 := hours * 2 / 5 // the big event starts after the baselines settle
	for _, m := range s.stores {
		// Background watched apps.
		m.setBase(s.idOf(m.name, "messenger"), 12, 0.05)
		m.setBase(s.idOf(m.name, "wechat"), 90, 0.05)
		m.setBase(s.idOf(m.name, "whatsapp"), 3, 0.03)
		// Oscillators: rank swings 15 <-> 60 every day.
		m.setBase(s.idOf(m.name, "discord"), 30, 0.7)
		m.setBase(s.idOf(m.name, "snapchat"), 25, 0.6)
		// The January-2021-like surge.
		m.setBase(s.idOf(m.name, "signal"), 160, 0.05)
		m.setBase(s.idOf(m.name, "telegram"), 110, 0.05)
		for _, name := range []string{"signal", "telegram"} {
			id := s.idOf(m.name, name)
			m.script[id] = map[int]func(int) float64{}
			s.MultiEvents = append(s.MultiEvents, [2]string{m.name, id})
			target := 2.0
			if name == "telegram" {
				target = 4
			}
			lift := math.Log(m.baseRank(id) / target)
			for c := range nc * 2 / 3 {
				onset := t0 + c*3/2 + rng.IntN(2)
				dur := 2 + rng.Float64()*2
				m.script[id][c] = func(h int) float64 { return lift * ramp(h, onset, dur) }
				s.Units = append(s.Units, Unit{Event: "jan2021-" + name, Store: m.name, Country: s.countries[c], App: id, Onset: onset,
					Kinds: []string{chart.KindSurge, chart.KindEntered, chart.KindMultiCountry}, Until: hours})
			}
		}
	}
	as, gp := s.stores[0], s.stores[1]
	// A single-country surge: viber from ~#80 to ~#6 in one App Store country.
	viber := s.idOf(as.name, "viber")
	as.setBase(viber, 80, 0.04)
	gp.setBase(s.idOf(gp.name, "viber"), 80, 0.04)
	cSurge, onSurge := nc-1, hours/4
	as.script[viber] = map[int]func(int) float64{cSurge: func(h int) float64 { return math.Log(80.0/6) * ramp(h, onSurge, 2) }}
	s.Units = append(s.Units, Unit{Event: "single-surge", Store: as.name, Country: s.countries[cSurge], App: viber, Onset: onSurge,
		Kinds: []string{chart.KindSurge}, Until: hours})
	// A gradual decline: line from ~#8 to ~#45 over five days (a control).
	line := s.idOf(gp.name, "line")
	gp.setBase(line, 8, 0.03)
	as.setBase(s.idOf(as.name, "line"), 60, 0.04)
	cDecline := nc - 2
	gp.script[line] = map[int]func(int) float64{cDecline: func(h int) float64 {
		return -math.Log(45.0/8) * math.Min(1, math.Max(0, float64(h-hours/4)/120))
	}}
	s.Controls = append(s.Controls, Control{"gradual-decline", gp.name, s.countries[cDecline], line})
	// A ban: whatsapp gone from every Google Play chart of one country.
	wa := s.idOf(gp.name, "whatsapp")
	cBan, onBan := nc-3, hours*3/4
	gp.banned[wa] = map[int]int{cBan: onBan}
	s.Units = append(s.Units, Unit{Event: "ban", Store: gp.name, Country: s.countries[cBan], App: wa, Onset: onBan,
		Kinds: []string{chart.KindRemoved}, Until: hours})
	for _, m := range s.stores {
		for _, name := range []string{"discord", "snapchat"} {
			for _, cc := range s.countries {
				s.Controls = append(s.Controls, Control{"oscillation", m.name, cc, s.idOf(m.name, name)})
			}
		}
	}
}

func (m *storeModel) baseRank(id string) float64 { return math.Exp(-m.byName[id].base) }

// Snapshots returns slot h's charts: every country × chart (top free) ×
// category of both stores. Slots must be asked for in order (the random
// walks advance).
func (s *Scenario) Snapshots(h int, rng *rand.Rand) []chart.Snapshot {
	at := s.SlotTime(h)
	var out []chart.Snapshot
	type scored struct {
		a *app
		v float64
	}
	for _, m := range s.stores {
		for c, cc := range s.countries {
			tz := float64(c%24) / 24 * 2 * math.Pi
			var all, social []scored
			for _, a := range m.apps {
				a.walk[c] += rng.NormFloat64()*0.012 - 0.01*a.walk[c]
				if a.launch > h {
					continue
				}
				if b, ok := m.banned[a.id][c]; ok && h >= b {
					continue
				}
				v := a.base + a.bias[c] + a.walk[c] + a.amp*math.Sin(2*math.Pi*float64(h)/24+a.phase+tz) + rng.NormFloat64()*0.03
				if a.launch >= 0 {
					v += a.boost * math.Exp(-a.fade*float64(h-a.launch))
				}
				if f, ok := m.script[a.id][c]; ok {
					v += f(h)
				}
				all = append(all, scored{a, v})
				if a.social {
					social = append(social, scored{a, v})
				}
			}
			for i, list := range [][]scored{all, social} {
				sort.Slice(list, func(x, y int) bool { return list[x].v > list[y].v })
				snap := chart.Snapshot{Time: at, Store: m.name, Country: cc, Chart: chart.TopFree, Category: categories[m.name][i],
					Source: "scenario", Complete: true, Depth: s.cfg.Depth}
				for r, sc := range list[:min(len(list), s.cfg.Depth)] {
					snap.Entries = append(snap.Entries, chart.Entry{Rank: r + 1, AppID: sc.a.id, Name: sc.a.name})
				}
				out = append(out, snap)
			}
		}
	}
	return out
}

// Run feeds every slot to evaluate and returns what it alerted.
func (s *Scenario) Run(evaluate func(time.Time, []chart.Snapshot) []chart.Alert) Result {
	rng := rand.New(rand.NewPCG(s.cfg.Seed, 0xc0ffee))
	var res Result
	for h := range s.cfg.Hours {
		snaps := s.Snapshots(h, rng)
		res.ChartSnapshots += len(snaps)
		for _, a := range evaluate(s.SlotTime(h), snaps) {
			res.Alerts = append(res.Alerts, SlotAlert{Slot: h, Alert: a})
		}
	}
	return res
}

// SlotAlert is an alert and the slot that raised it.
type SlotAlert struct {
	Slot  int
	Alert chart.Alert
}

// Result is what an engine did over a scenario.
type Result struct {
	ChartSnapshots int
	Alerts         []SlotAlert
}

// Report scores a result.
type Report struct {
	Units          int
	Detected       int     // within MaxDelay snapshots of onset
	Late           int     // detected, but later
	Delays         []int   // per detected unit, snapshots after onset
	FalseAlerts    int     // alerts that match no scripted unit
	FalsePer1000   float64 // per 1,000 chart-snapshots
	ChartSnapshots int
	MultiAlerts    map[string]int // store/app → distinct multi-country alert ids
	MultiUpdates   map[string]int // store/app → revisions after the first
	ControlAlerts  map[string]int // control event → alerts
	ByKind         map[string]int
	Examples       []string // a few false alerts
}

// Recall is the share of units detected in time.
func (r Report) Recall() float64 { return float64(r.Detected) / float64(max(r.Units, 1)) }

// MaxDelay is how many snapshots after onset still count as "in time".
const MaxDelay = 2

// Score matches alerts to the scenario's units.
func (s *Scenario) Score(res Result) Report {
	rep := Report{Units: len(s.Units), ChartSnapshots: res.ChartSnapshots,
		MultiAlerts: map[string]int{}, MultiUpdates: map[string]int{}, ControlAlerts: map[string]int{}, ByKind: map[string]int{}}
	first := make([]int, len(s.Units))
	for i := range first {
		first[i] = -1
	}
	multiIDs := map[string]map[string]bool{}
	for _, sa := range res.Alerts {
		a := sa.Alert
		rep.ByKind[a.Kind]++
		matched := false
		for i, u := range s.Units {
			if u.Store != a.Store || u.App != a.AppID || !slices.Contains(u.Kinds, a.Kind) || sa.Slot < u.Onset || sa.Slot > u.Until {
				continue
			}
			if a.Kind == chart.KindMultiCountry {
				if !slices.Contains(a.Countries, u.Country) {
					continue
				}
			} else if a.CountryCode() != u.Country {
				continue
			}
			matched = true
			if first[i] < 0 || sa.Slot < first[i] {
				first[i] = sa.Slot
			}
		}
		if a.Kind == chart.KindMultiCountry {
			k := a.Store + "/" + a.AppID
			if multiIDs[k] == nil {
				multiIDs[k] = map[string]bool{}
			}
			multiIDs[k][a.ID] = true
			if a.Revision > 0 {
				rep.MultiUpdates[k]++
			}
		}
		if matched {
			continue
		}
		for _, c := range s.Controls {
			if c.Store == a.Store && c.App == a.AppID && c.Country == a.CountryCode() {
				rep.ControlAlerts[c.Event]++
			}
		}
		rep.FalseAlerts++
		if len(rep.Examples) < 8 {
			rep.Examples = append(rep.Examples, fmt.Sprintf("slot %d %s: %s", sa.Slot, a.Kind, a.Summary))
		}
	}
	for i, u := range s.Units {
		if first[i] < 0 {
			continue
		}
		d := first[i] - u.Onset
		if d <= MaxDelay {
			rep.Detected++
			rep.Delays = append(rep.Delays, d)
		} else {
			rep.Late++
		}
	}
	for _, ev := range s.MultiEvents {
		k := ev[0] + "/" + ev[1]
		rep.MultiAlerts[k] = len(multiIDs[k])
	}
	rep.FalsePer1000 = float64(rep.FalseAlerts) / float64(max(rep.ChartSnapshots, 1)) * 1000
	return rep
}

// String formats a report.
func (r Report) String() string {
	hist := map[int]int{}
	for _, d := range r.Delays {
		hist[d]++
	}
	var delays []string
	for d := 0; d <= MaxDelay; d++ {
		delays = append(delays, fmt.Sprintf("%d: %d", d, hist[d]))
	}
	var multi []string
	for k, n := range r.MultiAlerts {
		multi = append(multi, fmt.Sprintf("%s: %d alert(s), %d update(s)", k, n, r.MultiUpdates[k]))
	}
	slices.Sort(multi)
	return fmt.Sprintf("recall %.1f%% (%d of %d units within %d snapshots; %d late); delay in snapshots after onset {%s}\n"+
		"false alerts: %d over %d chart-snapshots = %.3f per 1,000; in controls: %v\n"+
		"multi-country events: %v\nalerts by kind: %v",
		100*r.Recall(), r.Detected, r.Units, MaxDelay, r.Late, joinComma(delays),
		r.FalseAlerts, r.ChartSnapshots, r.FalsePer1000, r.ControlAlerts, multi, r.ByKind)
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
