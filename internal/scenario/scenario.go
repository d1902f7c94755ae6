// Package scenario generates chart histories with scripted, labelled moves
// and scores an alert engine against them.
//
// The world: every store has a pool of apps; in each country an app's
// popularity (log-score) is its global popularity plus a country bias, a
// slow mean-reverting random walk, a daily cycle in the country's time
// zone, hourly noise, and churn: random kicks that decay over hours, more
// often and larger the deeper an app sits and in the category chart than in
// the overall one. Apps also launch and fade. A chart ranks the apps of its
// category by popularity and shows the top Depth. With Faults, reads come
// back short (incomplete), sweeps are skipped and a store has a six-hour
// outage: the engine sees gaps and unknowns as it would in production.
//
// On top of that it scripts (see script.go) log-linear ramps of 1 to 72
// hours with onsets spread over two days, slides, one-sweep jumps and
// entries in many countries at once, a single-country step, a ban, and
// controls that must stay quiet: daily oscillators (8 ↔ 14 and 15 ↔ 60)
// and a decline slower than the move window (#8 → #45 over five days).
//
// Labels come from what the engine could see (label.go): a scripted move is
// a labelled move in a chart when the ranks read there moved by at least
// the engine's min_ratio; a smaller scripted move is neutral (alerts on it
// are neither hits nor false). Score (score.go) reports recall per kind and
// ramp length, detection delays from the onset and from the moment the
// move first crossed min_ratio, false alerts per 1,000 chart-snapshots,
// alerts on the controls, and the multi-country events: alert ids per
// event and the share of their countries named.
package scenario

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

// Config sizes a scenario.
type Config struct {
	Seed      uint64
	Countries int // per store
	Hours     int // length of the world
	// Every is the sampling interval in hours: 1 for hourly sweeps, 24 for
	// a daily one.
	Every int
	Depth int
	Pool  int // background apps per store
	Start time.Time
	// Faults turns on short reads, skipped sweeps and an outage.
	Faults bool
	// SurgeRatio and DropRatio are the moves that make a label: the
	// engine's surge and drop min_ratio.
	SurgeRatio, DropRatio float64
	// MaxRank is the rank a surge must reach to be a labelled surge (the
	// engine's surge.max_rank); FromRank the rank a drop must start from
	// (drop.max_rank).
	MaxRank, DropFrom int
}

// DefaultConfig is the evaluation the README reports: 30 countries × 2
// stores × 2 charts, hourly for 14 days, with faults.
func DefaultConfig() Config {
	return Config{Seed: 101, Countries: 30, Hours: 14 * 24, Every: 1, Depth: 200, Pool: 2000,
		Start: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC), Faults: true, SurgeRatio: 3, DropRatio: 3, MaxRank: 100, DropFrom: 50}
}

// TuningSeeds are the seeds the engine's defaults were tuned on; EvalSeeds
// are seeds never looked at while tuning, which the README and the tests
// report and assert on.
var (
	TuningSeeds = []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	EvalSeeds   = []uint64{101, 102, 103, 104, 105}
)

// Scenario is a generated world.
type Scenario struct {
	cfg       Config
	Watch     map[string]map[string]string
	countries []string
	stores    []*storeModel
	moves     []*Move
	controls  []Control
	outage    map[string][2]int // store → [from, to) hours without any read
}

// Control is an app·store·country whose behaviour must not alert.
type Control struct {
	Name, Store, Country, App string
}

var (
	categories = map[string][2]string{chart.AppStore: {chart.All, "6005"}, chart.GooglePlay: {chart.All, "COMMUNICATION"}}
	// watched apps: the names the scripts use, with their ids per store.
	watched = []struct{ name, appstore, play string }{
		{"signal", "874139669", "org.thoughtcrime.securesms"},
		{"telegram", "686449807", "org.telegram.messenger"},
		{"viber", "382617920", "com.viber.voip"},
		{"line", "443904275", "jp.naver.line.android"},
		{"whatsapp", "310633997", "com.whatsapp"},
		{"discord", "985746746", "com.discord"},
		{"snapchat", "447188370", "com.snapchat.android"},
		{"messenger", "454638411", "com.facebook.orca"},
		{"wechat", "414478124", "com.tencent.mm"},
		{"bip", "583274826", "com.turkcell.bip"},
		{"threema", "578665578", "ch.threema.app"},
	}
)

// New builds a scenario.
func New(cfg Config) *Scenario {
	if cfg.Every < 1 {
		cfg.Every = 1
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	s := &Scenario{cfg: cfg, Watch: map[string]map[string]string{}, outage: map[string][2]int{}}
	for _, c := range chart.AppStoreCountries {
		if len(s.countries) == cfg.Countries {
			break
		}
		if c.Code != "cn" && c.Code != "xk" { // both stores serve the rest
			s.countries = append(s.countries, c.Code)
		}
	}
	for _, store := range chart.Stores {
		s.Watch[store] = map[string]string{}
		s.stores = append(s.stores, s.newStore(store, rng))
	}
	s.script(rng)
	if cfg.Faults {
		for _, m := range s.stores {
			from := cfg.Hours/3 + rng.IntN(cfg.Hours/3)
			s.outage[m.name] = [2]int{from, from + 6}
		}
	}
	return s
}

// Countries returns the scenario's countries.
func (s *Scenario) Countries() []string { return s.countries }

// Config returns the scenario's settings.
func (s *Scenario) Config() Config { return s.cfg }

// Moves returns the scripted moves.
func (s *Scenario) Moves() []*Move { return s.moves }

// Controls returns the apps that must stay quiet.
func (s *Scenario) Controls() []Control { return s.controls }

// SlotTime returns the time of hour h.
func (s *Scenario) SlotTime(h int) time.Time { return s.cfg.Start.Add(time.Duration(h) * time.Hour) }

type app struct {
	id, name string
	social   bool
	// A pinned app (every watched one) follows a rank path in the overall
	// chart, so that scripted shapes are exact: logRank per country, a
	// daily cycle of amp (log-rank) and the scripts' lift.
	pinned  bool
	logRank []float64
	base    float64   // global popularity
	bias    []float64 // per country
	amp     float64   // daily cycle, log-score
	phase   float64
	walk    []float64 // per country
	kick    []float64 // per country: churn, decaying
	churn   float64   // how prone to kicks
	launch  int       // hour the app launches (-1: always there)
	fade    float64   // per-hour decay of a launch boost
	boost   float64
}

type storeModel struct {
	name   string
	apps   []*app
	byID   map[string]*app
	script map[string]map[int][]func(h int) float64 // app → country → extra log-score
	banned map[string]map[int]int                   // app → country → hour from which it is gone
}

func (s *Scenario) newStore(name string, rng *rand.Rand) *storeModel {
	m := &storeModel{name: name, byID: map[string]*app{}, script: map[string]map[int][]func(int) float64{}, banned: map[string]map[int]int{}}
	nc := len(s.countries)
	mk := func(id, label string, social bool, base float64) *app {
		a := &app{id: id, name: label, social: social, base: base, launch: -1,
			bias: make([]float64, nc), walk: make([]float64, nc), kick: make([]float64, nc), phase: rng.Float64() * 2 * math.Pi}
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
		a.churn = rng.ExpFloat64()
		m.apps = append(m.apps, a)
		m.byID[id] = a
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
		a := mk(id, w.name+" messenger", true, 0)
		a.churn = 0
	}
	return m
}

// place pins a watched app at a rank in every country (ranks[c]) in the
// overall chart, with a daily cycle of amp (in log-rank).
func (m *storeModel) place(id string, ranks []float64, amp float64) {
	a := m.byID[id]
	a.pinned, a.amp, a.logRank = true, amp, make([]float64, len(ranks))
	for c, r := range ranks {
		a.logRank[c] = math.Log(r)
	}
}

// startRank is where a pinned app stands in a country before any script.
func (m *storeModel) startRank(id string, c int) float64 { return math.Exp(m.byID[id].logRank[c]) }

func (m *storeModel) addScript(id string, c int, f func(int) float64) {
	if m.script[id] == nil {
		m.script[id] = map[int][]func(int) float64{}
	}
	m.script[id][c] = append(m.script[id][c], f)
}

func (s *Scenario) idOf(store, name string) string {
	for id, n := range s.Watch[store] {
		if n == name {
			return id
		}
	}
	panic("scenario: no watched app " + name)
}

// churn is, by how deep an app usually sits, the chance per hour that its
// popularity gets a kick in a country and the kick's spread (log-score):
// the bottom of a chart churns, its top barely does. Apps of the category
// (social) chart, which ranks fewer apps, are kicked half as often again.
func churn(base float64, social bool) (rate, size float64) {
	rate, size = 0.002, 0.15
	switch usual := math.Exp(-base); {
	case usual > 100:
		rate, size = 0.03, 0.4
	case usual > 30:
		rate, size = 0.01, 0.3
	}
	if social {
		rate *= 1.5
	}
	return rate, size
}

type scored struct {
	a *app
	v float64
}

// scores advances the world one hour in one country and returns every
// listed app's score, best first: the background apps by popularity, the
// pinned ones placed at their path's rank.
func (m *storeModel) scores(h, c int, tz float64, rng *rand.Rand, out []scored) []scored {
	out = out[:0]
	var pinned []scored
	for _, a := range m.apps {
		if a.pinned {
			if b, ok := m.banned[a.id][c]; !ok || h < b {
				lr := a.logRank[c] + a.amp*math.Sin(2*math.Pi*float64(h)/24+a.phase+tz) + rng.NormFloat64()*0.04
				for _, f := range m.script[a.id][c] {
					lr -= f(h)
				}
				pinned = append(pinned, scored{a, lr})
			}
			continue
		}
		a.walk[c] += rng.NormFloat64()*0.012 - 0.01*a.walk[c]
		a.kick[c] *= 0.75
		if rate, size := churn(a.base, a.social); a.churn > 0 && rng.Float64() < rate*a.churn {
			a.kick[c] += rng.NormFloat64() * size
		}
		if a.launch > h {
			continue
		}
		if b, ok := m.banned[a.id][c]; ok && h >= b {
			continue
		}
		v := a.base + a.bias[c] + a.walk[c] + a.kick[c] + a.amp*math.Sin(2*math.Pi*float64(h)/24+a.phase+tz) + rng.NormFloat64()*0.03
		if a.launch >= 0 {
			v += a.boost * math.Exp(-a.fade*float64(h-a.launch))
		}
		for _, f := range m.script[a.id][c] {
			v += f(h)
		}
		out = append(out, scored{a, v})
	}
	slices.SortFunc(out, func(x, y scored) int {
		switch {
		case x.v > y.v:
			return -1
		case x.v < y.v:
			return 1
		}
		return 0
	})
	return insertPinned(out, pinned)
}

// insertPinned places each pinned app (v: its log-rank) at that rank among
// the sorted background apps, with a score between its neighbours.
func insertPinned(out, pinned []scored) []scored {
	slices.SortFunc(pinned, func(x, y scored) int {
		switch {
		case x.v < y.v:
			return -1
		case x.v > y.v:
			return 1
		}
		return 0
	})
	for _, p := range pinned {
		i := min(max(int(math.Round(math.Exp(p.v)))-1, 0), len(out))
		v := 0.0
		switch {
		case len(out) == 0:
		case i == 0:
			v = out[0].v + 0.1
		case i == len(out):
			v = out[i-1].v - 0.1
		default:
			v = (out[i-1].v + out[i].v) / 2
		}
		out = slices.Insert(out, i, scored{p.a, v})
	}
	return out
}

// hour produces hour h's charts of one store (nil when the store is not
// read this hour). The world advances every hour, read or not.
func (s *Scenario) hour(m *storeModel, h int, rng *rand.Rand, buf []scored) []chart.Snapshot {
	at := s.SlotTime(h)
	read := h%s.cfg.Every == 0
	if o, ok := s.outage[m.name]; ok && h >= o[0] && h < o[1] {
		read = false
	}
	if read && s.cfg.Faults && rng.Float64() < 0.02 {
		read = false // a skipped sweep
	}
	var out []chart.Snapshot
	for c, cc := range s.countries {
		tz := float64(c%24) / 24 * 2 * math.Pi
		buf = m.scores(h, c, tz, rng, buf)
		if !read {
			continue
		}
		for i, cat := range categories[m.name] {
			snap := chart.Snapshot{Time: at, Store: m.name, Country: cc, Chart: chart.TopFree, Category: cat,
				Source: "scenario", Complete: true, Depth: s.cfg.Depth}
			for _, sc := range buf {
				if len(snap.Entries) == s.cfg.Depth {
					break
				}
				if i == 1 && !sc.a.social {
					continue
				}
				snap.Entries = append(snap.Entries, chart.Entry{Rank: len(snap.Entries) + 1, AppID: sc.a.id, Name: sc.a.name})
			}
			if s.cfg.Faults && rng.Float64() < 0.02 { // a short read
				snap.Complete, snap.Error = false, "scenario: short read"
				snap.Entries = snap.Entries[:len(snap.Entries)/2]
			}
			out = append(out, snap)
		}
	}
	return out
}

// Run feeds every read slot to evaluate and returns what it alerted, with
// what the engine could see of the scripted apps. A Scenario runs once.
func (s *Scenario) Run(evaluate func(time.Time, []chart.Snapshot) []chart.Alert) Result {
	res := Result{seen: newObservations(s)}
	s.run(func(h int, snaps []chart.Snapshot) {
		res.ChartSnapshots += len(snaps)
		res.seen.record(h, snaps)
		for _, a := range evaluate(s.SlotTime(h), snaps) {
			res.Alerts = append(res.Alerts, SlotAlert{Hour: h, Alert: a})
		}
	})
	return res
}

// run generates the world hour by hour and hands each read slot to fn.
func (s *Scenario) run(fn func(h int, snaps []chart.Snapshot)) {
	rng := rand.New(rand.NewPCG(s.cfg.Seed, 0xc0ffee))
	var buf []scored
	for h := range s.cfg.Hours {
		var snaps []chart.Snapshot
		for _, m := range s.stores {
			snaps = append(snaps, s.hour(m, h, rng, buf)...)
		}
		if len(snaps) > 0 {
			fn(h, snaps)
		}
	}
}

// SlotAlert is an alert and the hour that raised it.
type SlotAlert struct {
	Hour  int
	Alert chart.Alert
}

// Result is what an engine did over a scenario.
type Result struct {
	ChartSnapshots int
	Alerts         []SlotAlert
	seen           *observations
}
