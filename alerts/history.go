package alerts

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
)

// HistoryReport scores the engine on a real chart history.
type HistoryReport struct {
	Snapshots    int
	ChartDays    int
	Alerts       int
	TopAlerts    int // alerts about the top N (from or to rank ≤ N)
	PerChartDay  float64
	ByKind       map[string]int
	TopEntries   int      // apps that entered a chart straight into its top 3
	FlaggedTop   int      // of those, flagged in that slot
	MissedTop    []string // the ones not flagged
	TopN         int
	EntryExample []string
	// Jumps are moves from #30 or below (or from below the chart) into the
	// top 10 between two complete snapshots; FlaggedJumps were alerted in
	// that slot.
	Jumps        int
	FlaggedJumps int
	MissedJumps  []string
	// ColdJumps were not flagged and came before their chart had
	// alerts.min_span of history: no move can be judged then.
	ColdJumps int
	ColdList  []string
	// ByCountry counts the alerts about the top N per country, and
	// CountryDays the chart-days per country.
	ByCountry   map[string]int
	CountryDays map[string]int
}

func (r HistoryReport) String() string {
	s := fmt.Sprintf("%d snapshots, %d chart-days; %d alerts, %d about the top %d = %.2f per chart-day; by kind %v\n"+
		"entries straight into a top 3: %d, flagged %d; jumps from #30 or below into the top 10: %d, flagged %d",
		r.Snapshots, r.ChartDays, r.Alerts, r.TopAlerts, r.TopN, r.PerChartDay, r.ByKind, r.TopEntries, r.FlaggedTop, r.Jumps, r.FlaggedJumps)
	if len(r.MissedTop) > 0 {
		s += "; missed entries: " + strings.Join(r.MissedTop, "; ")
	}
	if len(r.MissedJumps) > 0 {
		s += "; missed jumps: " + strings.Join(r.MissedJumps, "; ")
	}
	if r.ColdJumps > 0 {
		s += fmt.Sprintf("; not flagged, before their chart had min_span of history (%d): %s", r.ColdJumps, strings.Join(r.ColdList, "; "))
	}
	var cc []string
	for c := range r.CountryDays {
		cc = append(cc, c)
	}
	slices.Sort(cc)
	for _, c := range cc {
		s += fmt.Sprintf("\n   %s: %d alerts about the top %d over %d chart-days = %.2f per chart-day", strings.ToUpper(c), r.ByCountry[c], r.TopN, r.CountryDays[c],
			float64(r.ByCountry[c])/float64(max(r.CountryDays[c], 1)))
	}
	for _, e := range r.EntryExample {
		s += "\n   e.g. " + e
	}
	return s
}

// ScoreHistory replays time-ordered snapshot JSONL through the engine with
// the default settings and watch_only false.
func ScoreHistory(r io.Reader, topN int) (HistoryReport, error) {
	cfg := config.DefaultAlerts()
	cfg.WatchOnly = false
	h := &historyScore{
		rep:  HistoryReport{ByKind: map[string]int{}, TopN: topN, ByCountry: map[string]int{}, CountryDays: map[string]int{}},
		eng:  New(cfg, nil),
		cold: cfg.MinSpan.D(), days: map[string]bool{}, prev: map[chart.Key]map[string]int{}, first: map[chart.Key]time.Time{},
	}
	jr := chart.NewReader(r)
	var slot []chart.Snapshot
	for {
		s, err := jr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return h.rep, err
		}
		h.rep.Snapshots++
		if len(slot) > 0 && !s.Time.Equal(slot[0].Time) {
			if s.Time.Before(slot[0].Time) {
				return h.rep, fmt.Errorf("history is not in time order at line %d", jr.Line())
			}
			h.slot(slot)
			slot = slot[:0]
		}
		slot = append(slot, s)
	}
	h.slot(slot)
	rep := h.rep
	rep.ChartDays = len(h.days)
	rep.PerChartDay = float64(rep.TopAlerts) / float64(max(rep.ChartDays, 1))
	slices.Sort(rep.MissedTop)
	slices.Sort(rep.MissedJumps)
	return rep, nil
}

// historyScore is ScoreHistory's state between slots.
type historyScore struct {
	rep   HistoryReport
	eng   *Engine
	cold  time.Duration                // min_span: no move can be judged earlier in a chart
	days  map[string]bool              // chart-days seen
	prev  map[chart.Key]map[string]int // last complete snapshot's ranks
	first map[chart.Key]time.Time      // first snapshot of each chart
}

// slot evaluates one slot and checks its entries and jumps against the
// alerts it raised.
func (h *historyScore) slot(slot []chart.Snapshot) {
	if len(slot) == 0 {
		return
	}
	flagged := map[string]bool{}
	for _, a := range h.eng.Evaluate(slot[0].Time, slot) {
		h.rep.Alerts++
		h.rep.ByKind[a.Kind]++
		if (a.FromRank != nil && *a.FromRank <= h.rep.TopN) || (a.ToRank != nil && *a.ToRank <= h.rep.TopN) {
			h.rep.TopAlerts++
			h.rep.ByCountry[a.CountryCode()]++
		}
		if a.Kind == chart.KindEntered || a.Kind == chart.KindSurge {
			flagged[chart.Key{Store: a.Store, Country: a.CountryCode(), Chart: a.Chart, Category: a.Category}.String()+"/"+a.AppID] = true
			if len(h.rep.EntryExample) < 3 && a.ToRank != nil && *a.ToRank <= 3 {
				h.rep.EntryExample = append(h.rep.EntryExample, a.Summary)
			}
		}
	}
	for i := range slot {
		s := &slot[i]
		k := s.Key()
		if _, ok := h.first[k]; !ok {
			h.first[k] = s.Time
		}
		if d := k.String() + s.Time.Format(time.DateOnly); !h.days[d] {
			h.days[d] = true
			h.rep.CountryDays[s.Country]++
		}
		if before := h.prev[k]; before != nil && s.Complete {
			h.check(s, before, flagged, s.Time.Sub(h.first[k]) < h.cold)
		}
		if s.Complete {
			ranks := map[string]int{}
			for _, e := range s.Entries {
				ranks[e.AppID] = e.Rank
			}
			h.prev[k] = ranks
		}
	}
}

// check counts a snapshot's entries straight into a top 3 and its jumps
// from #30 or below into the top 10, and whether each was flagged.
func (h *historyScore) check(s *chart.Snapshot, before map[string]int, flagged map[string]bool, cold bool) {
	k := s.Key()
	for _, e := range s.Entries {
		was, in := before[e.AppID]
		hit := flagged[k.String()+"/"+e.AppID]
		what := fmt.Sprintf("%s #%d %s %s", k, e.Rank, e.Name, s.Time.Format(time.DateOnly))
		if e.Rank <= 3 && !in {
			h.rep.TopEntries++
			if hit {
				h.rep.FlaggedTop++
			} else {
				h.rep.MissedTop = append(h.rep.MissedTop, what)
			}
		}
		if e.Rank > 10 || (in && was < 30) {
			continue
		}
		h.rep.Jumps++
		switch {
		case hit:
			h.rep.FlaggedJumps++
		case cold:
			h.rep.ColdJumps++
			h.rep.ColdList = append(h.rep.ColdList, fmt.Sprintf("%s (from #%d)", what, was))
		default:
			h.rep.MissedJumps = append(h.rep.MissedJumps, fmt.Sprintf("%s (from #%d)", what, was))
		}
	}
}
