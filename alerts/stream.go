package alerts

import (
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

// Streaming evaluation. A slot's snapshots need not all be held at once:
// each chart's read is judged on its own (moves, entries, exits), and
// removals and multi-country surges, which need the whole slot, are judged
// at Finish from the chart states and the candidates collected. Begin, Add
// each snapshot as it arrives (in any order), Finish: the alerts are the
// ones Evaluate raises for the same snapshots, in the same order, provided
// each chart is added once (Evaluate keeps the fullest of several reads of a
// chart; Add keeps the first).

// Begin opens the evaluation of a slot. Only one is open at a time.
func (e *Engine) Begin(slot time.Time) {
	e.cur = &evaluation{t: chart.SlotTime(slot).Unix(), countries: map[countryKey]bool{}}
}

// Add reads one snapshot of the open evaluation's slot. A chart already read
// at this slot (earlier in this evaluation, or by another job's) is
// skipped: counting a read twice would confirm an exit or a removal on a
// single absence. Add keeps nothing of s.
func (e *Engine) Add(s *chart.Snapshot) {
	ev := e.cur
	if cs := e.charts[s.Key()]; cs != nil && cs.last == ev.t {
		return
	}
	e.readChart(ev, s) // moves, entries and exits, per app
}

// Finish judges what needs the whole slot (removals, multi-country surges),
// closes the evaluation and returns its alerts, in a deterministic order.
func (e *Engine) Finish() []chart.Alert {
	ev := e.cur
	e.cur = nil
	sortCandidates(ev.downs)
	sortCandidates(ev.exits)
	removals, removed := e.removals(ev)
	out := e.foldMultiCountry(ev.ups, ev.t)
	out = append(out, alertsOf(ev.downs)...)
	for _, c := range ev.exits {
		if !removed[presenceID{countryKey{c.key.Store, c.key.Country}, c.a.AppID}] {
			out = append(out, c.a)
		}
	}
	out = append(out, alertsOf(removals)...)
	e.evals++
	if e.evals%24 == 0 {
		e.gc(ev.t)
	}
	return out
}
