package alerts

// Entries and exits. entered: an app that was below the chart — absent
// from its last complete read, and from most of its recent ones — appears
// at entered.top or better. exited: an app that was in the top exited.top
// is absent from exited.confirmations consecutive complete reads; reads
// that were not complete neither count nor reset.

import (
	"fmt"

	"github.com/rankpulse/rankpulse/chart"
)

func (e *Engine) entered(key chart.Key, sr *series, en chart.Entry, t int64) (candidate, bool) {
	r := en.Rank
	if r > e.cfg.Entered.Top || len(sr.hist) == 0 || sr.hist[len(sr.hist)-1].rank != 0 {
		return candidate{}, false
	}
	recent := sr.since(t - e.p.lookback)
	absent := 0
	for _, h := range recent {
		if h.rank == 0 {
			absent++
		}
	}
	if 2*absent < len(recent) || !e.allowUp(sr, r, t, t) {
		return candidate{}, false
	}
	sr.up = mark{t: t, rank: r}
	return candidate{key: key, a: e.alert(chart.KindEntered, chart.SeverityWarning, key, en.AppID, en.Name, t, nil, chart.Ptr(r),
		fmt.Sprintf("%s entered %s at #%d", named(en.Name, en.AppID), key.Describe(), r))}, true
}

// judgeAbsent counts a complete read without the app towards its exit. In
// a chart whose own churn throws apps of that rank out all the time, an
// exit is not news.
func (e *Engine) judgeAbsent(ev *evaluation, s *chart.Snapshot, key chart.Key, cs *chartState, id string, sr *series) {
	sr.absentStreak++
	if sr.exitedAlerted || sr.lastRank == 0 || sr.lastRank > e.cfg.Exited.Top || sr.absentStreak < e.cfg.Exited.Confirmations {
		return
	}
	if !e.beyondChurn(cs, sr.lastRank, s.Depth+1) {
		sr.exitedAlerted = true // judged once
		return
	}
	sr.exitedAlerted = true
	ev.exits = append(ev.exits, candidate{key: key, a: e.alert(chart.KindExited, chart.SeverityWarning, key, id, sr.name, ev.t,
		chart.Ptr(sr.lastRank), nil, fmt.Sprintf("%s left the top %d of %s (was #%d)", named(sr.name, id), s.Depth, key.Describe(), sr.lastRank))})
}
