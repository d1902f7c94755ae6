package scenario

import (
	"math"
	"math/rand/v2"

	"github.com/rankpulse/rankpulse/chart"
)

// Move kinds.
const (
	MoveSurge = "surge" // a rise: a ramp or a step
	MoveDrop  = "drop"  // a slide
	MoveBan   = "ban"   // gone from every chart of one country
)

// Ramps are the lengths of the scripted log-linear climbs, in hours.
var Ramps = []int{1, 3, 6, 12, 24, 48, 72}

// Move is one scripted move of one app in one store·country.
type Move struct {
	Event   string // the script it belongs to
	Kind    string
	Store   string
	Country string
	App     string
	Onset   int // hour the move starts
	Hours   int // how long it takes (0 for a ban)
	// Multi is true for moves of a multi-country event: the engine should
	// name the country in one multi_country_surge.
	Multi bool
}

// End is the hour the move completes.
func (m *Move) End() int { return m.Onset + max(m.Hours, 1) }

// linear is a log-linear ramp: 0 before onset, lift after onset+hours.
func linear(onset, hours int, lift float64) func(int) float64 {
	return func(h int) float64 {
		x := float64(h-onset) / float64(max(hours, 1))
		return lift * math.Min(1, math.Max(0, x))
	}
}

func uniform(rng *rand.Rand, lo, hi float64) float64 { return lo + rng.Float64()*(hi-lo) }

// script places the watched apps and scripts the moves.
func (s *Scenario) script(rng *rand.Rand) {
	nc := len(s.countries)
	hours := s.cfg.Hours
	t0 := hours * 2 / 5 // the big events start after the charts settle
	ranks := func(lo, hi float64) []float64 {
		out := make([]float64, nc)
		for c := range out {
			out[c] = uniform(rng, lo, hi)
		}
		return out
	}
	pick := func(n int) []int { return rng.Perm(nc)[:min(n, nc)] }
	for si, m := range s.stores {
		id := func(name string) string { return s.idOf(m.name, name) }
		// Background watched apps, and the controls.
		m.place(id("messenger"), ranks(10, 14), 0.04)
		m.place(id("threema"), ranks(120, 180), 0.04)
		m.place(id("discord"), ranks(math.Sqrt(8*14), math.Sqrt(8*14)), math.Log(14.0/8)/2) // 8 <-> 14 every day
		m.place(id("snapchat"), ranks(30, 30), math.Log(60.0/15)/2)                         // 15 <-> 60 every day
		for _, name := range []string{"discord", "snapchat"} {
			for _, cc := range s.countries {
				s.controls = append(s.controls, Control{"oscillation", m.name, cc, id(name)})
			}
		}
		m.place(id("wechat"), ranks(8, 8), 0.03)
		for _, c := range pick(3) { // slower than the move window: #8 -> #45 over five days
			on := hours / 4
			m.addScript(id("wechat"), c, linear(on, 120, -math.Log(45.0/8)))
			s.controls = append(s.controls, Control{"slow-decline", m.name, s.countries[c], id("wechat")})
		}
		// A January-2021-like climb of two messengers in ~2/3 of the
		// countries: log-linear ramps of every length, onsets spread over
		// two days.
		m.place(id("signal"), ranks(80, 190), 0.04)
		m.place(id("telegram"), ranks(15, 60), 0.04)
		for i, name := range []string{"signal", "telegram"} {
			target := []float64{2, 1.5}[i]
			for k, c := range pick(nc * 2 / 3) {
				onset := t0 + rng.IntN(48)
				dur := Ramps[(k+si)%len(Ramps)]
				lift := math.Log(m.startRank(id(name), c) / uniform(rng, target, target*2))
				m.addScript(id(name), c, linear(onset, dur, lift))
				s.moves = append(s.moves, &Move{Event: "climb-" + name, Kind: MoveSurge, Store: m.name, Country: s.countries[c], App: id(name), Onset: onset, Hours: dur, Multi: true})
			}
		}
		// Slides: a top-5 app slides to #12-30 over 72 hours in ~30 % of
		// countries.
		m.place(id("whatsapp"), ranks(2, 5), 0.03)
		slid := map[int]bool{}
		for _, c := range pick(nc * 3 / 10) {
			slid[c] = true
			start := m.startRank(id("whatsapp"), c)
			to := math.Max(uniform(rng, 12, 30), start*s.cfg.DropRatio*1.15)
			onset := hours/5 + rng.IntN(hours/2)
			m.addScript(id("whatsapp"), c, linear(onset, 72, -math.Log(to/start)))
			s.moves = append(s.moves, &Move{Event: "slide", Kind: MoveDrop, Store: m.name, Country: s.countries[c], App: id("whatsapp"), Onset: onset, Hours: 72})
		}
		if m.name == chart.GooglePlay {
			// A ban: whatsapp gone from every Play chart of one country.
			for c := nc - 1; c >= 0; c-- {
				if !slid[c] {
					on := hours * 3 / 4
					m.banned[id("whatsapp")] = map[int]int{c: on}
					s.moves = append(s.moves, &Move{Event: "ban", Kind: MoveBan, Store: m.name, Country: s.countries[c], App: id("whatsapp"), Onset: on})
					break
				}
			}
		}
	}
	s.oneSweepEvents(rng)
}

// oneSweepEvents scripts moves that happen in many countries in the same
// sweep, which must all be named in one multi-country alert: line jumps from
// ~#150 to #1 in 8 App Store countries in one hour, bip enters Google Play
// at #2 in 5 countries at once, and viber steps from #80 to #6 in one App
// Store country.
func (s *Scenario) oneSweepEvents(rng *rand.Rand) {
	nc := len(s.countries)
	as, gp := s.stores[0], s.stores[1]
	all := func(r float64) []float64 {
		out := make([]float64, nc)
		for c := range out {
			out[c] = r * uniform(rng, 0.9, 1.1)
		}
		return out
	}
	on := s.cfg.Hours * 3 / 5
	on -= on % s.cfg.Every // the step lands between two reads
	for _, store := range s.stores {
		store.place(s.idOf(store.name, "line"), all(150), 0.03)
		store.place(s.idOf(store.name, "bip"), all(900), 0.03) // below every chart
		store.place(s.idOf(store.name, "viber"), all(80), 0.03)
	}
	line := s.idOf(as.name, "line")
	for _, c := range rng.Perm(nc)[:min(8, nc)] {
		as.addScript(line, c, linear(on, 1, math.Log(150/0.7)))
		s.moves = append(s.moves, &Move{Event: "one-sweep-jump", Kind: MoveSurge, Store: as.name, Country: s.countries[c], App: line, Onset: on, Hours: 1, Multi: true})
	}
	bip := s.idOf(gp.name, "bip")
	for _, c := range rng.Perm(nc)[:min(5, nc)] {
		gp.addScript(bip, c, linear(on, 1, math.Log(900/1.6)))
		s.moves = append(s.moves, &Move{Event: "one-sweep-entry", Kind: MoveSurge, Store: gp.name, Country: s.countries[c], App: bip, Onset: on, Hours: 1, Multi: true})
	}
	viber := s.idOf(as.name, "viber")
	c, vOn := rng.IntN(nc), s.cfg.Hours/4
	as.addScript(viber, c, linear(vOn, 2, math.Log(80.0/6)))
	s.moves = append(s.moves, &Move{Event: "single-country", Kind: MoveSurge, Store: as.name, Country: s.countries[c], App: viber, Onset: vOn, Hours: 2})
}
