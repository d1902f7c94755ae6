package alerts_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/chart"
)

func countries(n int) []string {
	var out []string
	for _, c := range chart.AppStoreCountries {
		if len(out) == n {
			break
		}
		out = append(out, c.Code)
	}
	return out
}

// world is one chart per country with signal placed at a rank.
type world map[string]*board

func newWorld(ccs []string, rank int) world {
	w := world{}
	for _, cc := range ccs {
		w[cc] = &board{store: "appstore", country: cc, category: "all", depth: 200, complete: true, place: map[string]int{"signal": rank}}
	}
	return w
}

func (w world) run(e *alerts.Engine, h int) []chart.Alert {
	var snaps []chart.Snapshot
	for _, b := range w {
		snaps = append(snaps, b.snapshot(h))
	}
	return run(e, h, snaps...)
}

func multis(as []chart.Alert) (out []chart.Alert, others []chart.Alert) {
	for _, a := range as {
		if a.Kind == chart.KindMultiCountry {
			out = append(out, a)
		} else {
			others = append(others, a)
		}
	}
	return out, others
}

// Every country that surges in the same sweep is named in the first notice:
// one alert, no per-country ones, no update.
func TestEveryCountryOfOneSweepIsNamed(t *testing.T) {
	for _, n := range []int{8, 40} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ccs := countries(n)
			w := newWorld(ccs, 150)
			e := engine(true)
			for h := range 24 {
				if got := w.run(e, h); len(got) != 0 {
					t.Fatalf("hour %d: %v", h, kinds(got))
				}
			}
			for _, cc := range ccs {
				w[cc].place["signal"] = 1
			}
			var all []chart.Alert
			for h := 24; h < 30; h++ {
				all = append(all, w.run(e, h)...)
			}
			ms, others := multis(all)
			if len(ms) != 1 || len(others) != 0 {
				t.Fatalf("%d multi-country alerts and %v, want one alert alone", len(ms), kinds(others))
			}
			got := ms[0]
			want := slices.Clone(ccs)
			slices.Sort(want)
			if !slices.Equal(got.Countries, want) || got.Revision != 0 || got.Country != nil {
				t.Fatalf("the alert names %d countries %v (revision %d), want all %d", len(got.Countries), got.Countries, got.Revision, n)
			}
			if wantSummary := fmt.Sprintf("Name signal surged in %d countries on App Store", n); got.Summary[:len(wantSummary)] != wantSummary {
				t.Fatalf("summary %q", got.Summary)
			}
		})
	}
}

// An app entering at #2 in five countries at once: one alert naming all
// five.
func TestEntriesInFiveCountriesAtOnceAreOneAlert(t *testing.T) {
	ccs := countries(5)
	w := newWorld(ccs, 0) // not in the charts
	e := engine(true)
	for h := range 24 {
		w.run(e, h)
	}
	for _, cc := range ccs {
		w[cc].place["signal"] = 2
	}
	ms, others := multis(w.run(e, 24))
	if len(ms) != 1 || len(others) != 0 || len(ms[0].Countries) != 5 {
		t.Fatalf("entries: %d multi-country alerts %v and %v", len(ms), ms, kinds(others))
	}
}

// Onsets spread over a day: the first countries alert on their own, the
// one that makes three opens the event naming all three, and later ones
// update it — every country named, one id, at most one update per
// evaluation however many join in it.
func TestStaggeredOnsetsNameEveryCountry(t *testing.T) {
	ccs := countries(8)
	w := newWorld(ccs, 150)
	e := engine(true)
	for h := range 24 {
		w.run(e, h)
	}
	onset := map[string]int{ccs[0]: 24, ccs[1]: 27, ccs[2]: 30, ccs[3]: 36, ccs[4]: 36, ccs[5]: 36, ccs[6]: 41, ccs[7]: 47}
	var all []chart.Alert
	updatesAt := map[int]int{}
	for h := 24; h < 60; h++ {
		for cc, at := range onset {
			if h == at {
				w[cc].place["signal"] = 3
			}
		}
		got := w.run(e, h)
		for _, a := range got {
			if a.Kind == chart.KindMultiCountry {
				updatesAt[h]++
			}
		}
		all = append(all, got...)
	}
	ms, others := multis(all)
	if len(others) != 2 {
		t.Fatalf("per-country alerts %v, want the first two countries only", kinds(others))
	}
	ids, named := map[string]bool{}, map[string]bool{}
	for _, m := range ms {
		ids[m.ID] = true
		for _, cc := range m.Countries {
			named[cc] = true
		}
	}
	last := ms[len(ms)-1]
	if len(ids) != 1 || len(named) != 8 || len(last.Countries) != 8 || last.Revision != 3 {
		t.Fatalf("%d ids, %d countries named, last notice %v rev %d; want one id, all 8, three updates", len(ids), len(named), last.Countries, last.Revision)
	}
	for h, n := range updatesAt {
		if n > 1 {
			t.Fatalf("%d notices at hour %d", n, h)
		}
	}
}
