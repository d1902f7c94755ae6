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
}

func (r HistoryReport) String() string {
	s := fmt.Sprintf("%d snapshots, %d chart-days; %d alerts, %d about the top %d = %.2f per chart-day; by kind %v\n"+
		"entries straight into a top 3: %d, flagged %d",
		r.Snapshots, r.ChartDays, r.Alerts, r.TopAlerts, r.TopN, r.PerChartDay, r.ByKind, r.TopEntries, r.FlaggedTop)
	if len(r.MissedTop) > 0 {
		s += "; missed: " + strings.Join(r.MissedTop, "; ")
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
	eng := New(cfg, nil)
	rep := HistoryReport{ByKind: map[string]int{}, TopN: topN}
	jr := chart.NewReader(r)
	days := map[string]bool{}
	prev := map[chart.Key]map[string]bool{} // last complete snapshot's apps
	var slot []chart.Snapshot
	flush := func() {
		if len(slot) == 0 {
			return
		}
		alerts := eng.Evaluate(slot[0].Time, slot)
		flagged := map[string]bool{}
		for _, a := range alerts {
			rep.Alerts++
			rep.ByKind[a.Kind]++
			if (a.FromRank != nil && *a.FromRank <= topN) || (a.ToRank != nil && *a.ToRank <= topN) {
				rep.TopAlerts++
			}
			if a.Kind == chart.KindEntered || (a.Kind == chart.KindSurge && a.FromRank == nil) {
				flagged[chart.Key{Store: a.Store, Country: a.CountryCode(), Chart: a.Chart, Category: a.Category}.String()+"/"+a.AppID] = true
				if len(rep.EntryExample) < 3 && a.ToRank != nil && *a.ToRank <= 3 {
					rep.EntryExample = append(rep.EntryExample, a.Summary)
				}
			}
		}
		for _, s := range slot {
			k := s.Key()
			days[k.String()+s.Time.Format("2006-01-02")] = true
			before := prev[k]
			if before != nil && s.Complete {
				for _, e := range s.Entries {
					if e.Rank <= 3 && !before[e.AppID] {
						rep.TopEntries++
						if flagged[k.String()+"/"+e.AppID] {
							rep.FlaggedTop++
						} else {
							rep.MissedTop = append(rep.MissedTop, fmt.Sprintf("%s #%d %s %s", k, e.Rank, e.Name, s.Time.Format(time.DateOnly)))
						}
					}
				}
			}
			if s.Complete {
				apps := map[string]bool{}
				for _, e := range s.Entries {
					apps[e.AppID] = true
				}
				prev[k] = apps
			}
		}
		slot = slot[:0]
	}
	for {
		s, err := jr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rep, err
		}
		rep.Snapshots++
		if len(slot) > 0 && !s.Time.Equal(slot[0].Time) {
			if s.Time.Before(slot[0].Time) {
				return rep, fmt.Errorf("history is not in time order at line %d", jr.Line())
			}
			flush()
		}
		slot = append(slot, s)
	}
	flush()
	rep.ChartDays = len(days)
	rep.PerChartDay = float64(rep.TopAlerts) / float64(max(rep.ChartDays, 1))
	slices.Sort(rep.MissedTop)
	return rep, nil
}
