package scenario

import (
	"slices"

	"github.com/rankpulse/rankpulse/chart"
)

// reading is what one read of a chart said of an app: its rank, depth+1
// when it was absent from a complete read, 0 when unknown.
type reading struct {
	h   int
	eff int
}

type obsKey struct {
	key chart.Key
	app string
}

// observations keep what the engine could see of the scripted, control and
// launching apps.
type observations struct {
	want   map[string]map[string]bool // store → apps
	series map[obsKey][]reading
}

func newObservations(s *Scenario) *observations {
	o := &observations{want: map[string]map[string]bool{}, series: map[obsKey][]reading{}}
	add := func(store, app string) {
		if o.want[store] == nil {
			o.want[store] = map[string]bool{}
		}
		o.want[store][app] = true
	}
	for _, m := range s.moves {
		add(m.Store, m.App)
	}
	for _, c := range s.controls {
		add(c.Store, c.App)
	}
	for _, m := range s.stores {
		for _, a := range m.apps {
			if a.launch >= 0 {
				add(m.name, a.id)
			}
		}
	}
	return o
}

func (o *observations) record(h int, snaps []chart.Snapshot) {
	for i := range snaps {
		s := &snaps[i]
		want := o.want[s.Store]
		found := map[string]int{}
		for _, e := range s.Entries {
			if want[e.AppID] {
				found[e.AppID] = e.Rank
			}
		}
		for app := range want {
			r, ok := found[app]
			switch {
			case ok:
			case s.Complete:
				r = s.Depth + 1
			default:
				continue // unknown: the engine saw nothing
			}
			k := obsKey{s.Key(), app}
			o.series[k] = append(o.series[k], reading{h, r})
		}
	}
}

// Label is one scripted move as one chart read it.
type Label struct {
	Move *Move
	Key  chart.Key
	// From is the app's usual rank in the day before the onset, To where
	// the move left it (below the chart: depth+1).
	From, To int
	// Labelled: the move is at least MinRatio in this chart (and reaches
	// MaxRank for a surge, starts within DropFrom for a drop); a smaller
	// one is neutral.
	Labelled bool
	// Cross is the first hour a read showed the move past MinRatio.
	Cross int
}

// labels derives every move's labels from what was read.
func (s *Scenario) labels(o *observations) []Label {
	var out []Label
	for _, mv := range s.moves {
		if mv.Kind == MoveBan {
			out = append(out, Label{Move: mv, Labelled: true, Cross: mv.Onset})
			continue
		}
		for _, cat := range categories[mv.Store] {
			key := chart.Key{Store: mv.Store, Country: mv.Country, Chart: chart.TopFree, Category: cat}
			if l, ok := s.label(mv, key, o.series[obsKey{key, mv.App}]); ok {
				out = append(out, l)
			}
		}
	}
	for _, l := range s.launchLabels(o) {
		out = append(out, l)
	}
	return out
}

func (s *Scenario) label(mv *Move, key chart.Key, rs []reading) (Label, bool) {
	l := Label{Move: mv, Key: key, Cross: -1}
	var before, after []int
	for _, r := range rs {
		switch {
		case r.h >= mv.Onset-24 && r.h < mv.Onset:
			before = append(before, r.eff)
		case r.h >= mv.End() && r.h <= mv.End()+12:
			after = append(after, r.eff)
		}
	}
	if len(before) == 0 || len(after) == 0 {
		return l, false // not read around the move: nothing to say
	}
	l.From, l.To = medianInt(before), medianInt(after)
	cfg := s.cfg
	up := mv.Kind == MoveSurge
	ratio := cfg.DropRatio
	if up {
		ratio = cfg.SurgeRatio
	}
	if up {
		l.Labelled = atLeast(float64(l.From), float64(l.To)*ratio) && l.To <= cfg.MaxRank
	} else {
		l.Labelled = atLeast(float64(l.To), float64(l.From)*ratio) && l.From <= cfg.DropFrom
	}
	// Where the move crossed min_ratio: the first read whose 3-read median
	// is past it, so that a one-read blip is not the crossing.
	med := s.medians(rs)
	for i, r := range rs {
		if r.h < mv.Onset {
			continue
		}
		if m := med[i]; (up && atLeast(float64(l.From), float64(m)*ratio) && m <= cfg.MaxRank) || (!up && atLeast(float64(m), float64(l.From)*ratio)) {
			l.Cross = r.h
			break
		}
	}
	if l.Labelled && l.Cross < 0 {
		l.Labelled = false // the reads never showed it past MinRatio
	}
	return l, true
}

// launchLabels: a background app launching into the charts is a real move
// too (it matters with watch_only false).
func (s *Scenario) launchLabels(o *observations) []Label {
	var out []Label
	for _, m := range s.stores {
		for _, a := range m.apps {
			if a.launch < 0 {
				continue
			}
			mv := &Move{Event: "launch", Kind: MoveSurge, Store: m.name, App: a.id, Onset: a.launch, Hours: 6}
			for _, cc := range s.countries {
				mvc := *mv
				mvc.Country = cc
				for _, cat := range categories[m.name] {
					key := chart.Key{Store: m.name, Country: cc, Chart: chart.TopFree, Category: cat}
					if l, ok := s.label(&mvc, key, o.series[obsKey{key, a.id}]); ok {
						out = append(out, l)
					}
				}
			}
		}
	}
	return out
}

func medianInt(v []int) int {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func atLeast(a, b float64) bool { return a >= b*(1-1e-9) }
