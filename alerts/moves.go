package alerts

// Surges and drops. The rule: at a new reading, the app is at least
// min_ratio times better (surge) or worse (drop) than the worst (best) rank
// it held within the move window — whether it got there in one step or in
// three days — and the move is not its daily cycle, not the fade of a
// spike, and beyond the chart's own churn (see the package doc).

import (
	"fmt"

	"github.com/rankpulse/rankpulse/chart"
)

// startTolerance: a move starts at the latest reading within this factor of
// the window's extreme, so that a ramp is described from its foot, not from
// a noisy reading long before it.
const startTolerance = 1.12

// minPlaces: a move shorter than this never alerts. At the very top of a
// chart ratios are coarse (#3 → #1 is already 3×) and two places is how a
// crowded top reshuffles.
const minPlaces = 3

// A jump from #30 or below into the top 10 counts once it is large enough,
// whatever the chart's churn: that is news in any chart.
const (
	jumpFrom = 30
	jumpInto = 10
)

// surge judges a ranked reading against the move window w, whose worst
// held rank is hi.
func (e *Engine) surge(key chart.Key, cs *chartState, sr *series, en chart.Entry, t int64, w []sample, hi int) (candidate, bool) {
	r := en.Rank
	rule := e.cfg.Surge
	if r > rule.MaxRank {
		return candidate{}, false
	}
	if !atLeast(float64(hi), float64(r)*e.p.surgeRatio) || hi-r < minPlaces {
		return candidate{}, false
	}
	// In a chart read more often than daily, a move holds for two reads: a
	// one-hour blip in a crowded top is not a surge.
	if prev, ok := sr.last(); cs.subDaily() && (!ok || !atLeast(float64(hi), float64(prev.eff())*e.p.surgeRatio)) {
		return candidate{}, false
	}
	// Where the move started: the latest reading near the window's worst
	// from which the move is still min_ratio.
	floor := max(float64(hi)/startTolerance, float64(r)*e.p.surgeRatio)
	var start sample
	for i := len(w) - 1; i >= 0; i-- {
		if atLeast(float64(w[i].eff()), floor) {
			start = w[i]
			break
		}
	}
	if !e.enoughHistory(sr, start.time(), t) {
		return candidate{}, false
	}
	// Its daily cycle: at about this time on a day before it already
	// ranked here (only a chart read more often than daily shows one).
	if y, ok := bestAround(sr, t); ok && cs.subDaily() && (y <= r || inDailyCycle(y, r)) {
		return candidate{}, false
	}
	// Nor is a return to a rank it held in the day before the move began:
	// whatever the phase, a daily swing has been here before.
	if b, ok := bestIn(sr.between(start.time()-day, start.time())); ok && cs.subDaily() && (b <= r || inDailyCycle(b, r)) {
		return candidate{}, false
	}
	if !e.beyondChurn(cs, start.eff(), r) || !e.allowUp(sr, r, t, start.time()) {
		return candidate{}, false
	}
	sr.up = mark{t: t, rank: r}
	return candidate{key: key, a: e.alert(chart.KindSurge, chart.SeverityWarning, key, en.AppID, en.Name, t, rankPtr(start), chart.Ptr(r),
		fmt.Sprintf("%s rose from %s to #%d in %s%s", named(en.Name, en.AppID), rankText(start), r, key.Describe(), since(start.time(), t)))}, true
}

// drop judges a ranked reading against the move window w, whose best held
// rank is lo (0: never ranked in it).
func (e *Engine) drop(key chart.Key, cs *chartState, sr *series, en chart.Entry, t int64, w []sample, lo int) (candidate, bool) {
	r := en.Rank
	rule := e.cfg.Drop
	if lo == 0 || lo > rule.MaxRank || !atLeast(float64(r), float64(lo)*e.p.dropRatio) || r-lo < minPlaces {
		return candidate{}, false
	}
	if prev, ok := sr.last(); cs.subDaily() && (!ok || !atLeast(float64(prev.eff()), float64(lo)*e.p.dropRatio)) {
		return candidate{}, false
	}
	ceiling := min(float64(lo)*startTolerance, float64(r)/e.p.dropRatio)
	var start sample
	for i := len(w) - 1; i >= 0; i-- {
		if w[i].rank > 0 && float64(w[i].rank) <= ceiling*(1+1e-9) {
			start = w[i]
			break
		}
	}
	if start.rank == 0 || int(start.rank) > rule.MaxRank || !e.enoughHistory(sr, start.time(), t) {
		return candidate{}, false
	}
	// The fade of a spike: in the day before its high the app already stood
	// where it is now.
	if p, ok := worstIn(sr.between(start.time()-day-3*3600, start.time())); ok && (p >= r || cs.subDaily() && inDailyCycle(p, r)) {
		return candidate{}, false
	}
	if y, ok := worstAround(sr, t); ok && cs.subDaily() && (y >= r || inDailyCycle(y, r)) {
		return candidate{}, false
	}
	if !e.beyondChurn(cs, int(start.rank), r) || !e.allowDown(sr, r, t, start.time()) {
		return candidate{}, false
	}
	sr.down = mark{t: t, rank: r}
	return candidate{key: key, a: e.alert(chart.KindDrop, chart.SeverityWarning, key, en.AppID, en.Name, t, rankPtr(start), chart.Ptr(r),
		fmt.Sprintf("%s fell from %s to #%d in %s%s", named(en.Name, en.AppID), rankText(start), r, key.Describe(), since(start.time(), t)))}, true
}

// extremes returns the worst rank of the window the app held (below the
// chart: depth+1) and its best (0: never ranked): in a chart read more often
// than daily, each held for two reads in a row, so that one noisy read does
// not make a move.
func extremes(w []sample, subDaily bool) (hi, lo int) {
	for i, s := range w {
		e, r := s.eff(), int(s.rank)
		if subDaily && i+1 < len(w) {
			n := w[i+1]
			e = min(e, n.eff())
			if n.rank == 0 || r == 0 {
				r = 0
			} else {
				r = max(r, int(n.rank))
			}
		}
		hi = max(hi, e)
		if r > 0 && (lo == 0 || r < lo) {
			lo = r
		}
	}
	return hi, lo
}

// enoughHistory reports whether the readings up to a move's start are
// enough to tell a move from the chart's first day: min_history of them,
// covering min_span, each reading covering the time until the next one (so
// that one daily reading covers a day, as 24 hourly ones do).
func (e *Engine) enoughHistory(sr *series, start, now int64) bool {
	n := 0
	for _, h := range sr.hist {
		if h.time() > start {
			break
		}
		n++
	}
	if n == 0 || n < e.cfg.MinHistory {
		return false
	}
	end := now // the reading being judged follows the last one
	if n < len(sr.hist) {
		end = sr.hist[n].time()
	}
	return end-sr.hist[0].time() >= e.p.minSpan
}

// beyondChurn reports whether a move from rank `from` to `to` is larger
// than the chart usually moves there: min_z times its typical move at the
// starting rank and beyond its largest 1 %. A jump from #30 or below into
// the top 10 always is: that is news in any chart.
func (e *Engine) beyondChurn(cs *chartState, from, to int) bool {
	if from >= jumpFrom && to <= jumpInto {
		return true
	}
	b := band(from)
	m := logRank(from) - logRank(to)
	minZ := e.cfg.Surge.MinZ
	if m < 0 {
		m, minZ = -m, e.cfg.Drop.MinZ
	}
	return m >= minZ*cs.vol.scale(b) && m >= cs.vol.tail(b)
}

// sameTimeBefore returns the readings at about the same time of day as t
// (within yesterdaySlack) on the day before and on the day before that.
func sameTimeBefore(sr *series, t int64) (a, b []sample) {
	return sr.between(t-day-yesterdaySlack, t-day+yesterdaySlack+1), sr.between(t-2*day-yesterdaySlack, t-2*day+yesterdaySlack+1)
}

// dailyFactor: an app that stood within this factor (and a place) of its
// new rank at the same time of day on a day before is in its daily cycle,
// not in a move. A steady move of min_ratio over the whole window (3× in 72h)
// still changes 1.44× a day.
const dailyFactor = 1.3

// inDailyCycle reports whether rank r is within dailyFactor (and one
// place: ranks are whole numbers, #2 and #3 are "about here" at the top)
// of ref.
func inDailyCycle(ref, r int) bool {
	lo, hi := min(ref, r), max(ref, r)
	return atLeast(float64(lo)*dailyFactor+1, float64(hi))
}

// bestAround returns the best rank the series held at about this time of
// day on the days before (below the chart counts as depth+1).
func bestAround(sr *series, t int64) (int, bool) {
	a, b := sameTimeBefore(sr, t)
	best, ok := 0, false
	for _, hs := range [2][]sample{a, b} {
		for _, h := range hs {
			if !ok || h.eff() < best {
				best, ok = h.eff(), true
			}
		}
	}
	return best, ok
}

// worstAround returns the worst rank the series held at about this time of
// day on the days before.
func worstAround(sr *series, t int64) (int, bool) {
	a, b := sameTimeBefore(sr, t)
	wa, oka := worstIn(a)
	wb, okb := worstIn(b)
	return max(wa, wb), oka || okb
}

// subDaily reports whether a chart is read more often than daily.
func (cs *chartState) subDaily() bool { return cs.interval > 0 && cs.interval < 12*3600 }

func bestIn(hs []sample) (int, bool) {
	best, ok := 0, false
	for _, h := range hs {
		if !ok || h.eff() < best {
			best, ok = h.eff(), true
		}
	}
	return best, ok
}

func worstIn(hs []sample) (int, bool) {
	worst, ok := 0, false
	for _, h := range hs {
		if h.eff() > worst {
			worst, ok = h.eff(), true
		}
	}
	return worst, ok
}

// atLeast compares ratios of ranks without losing #30 → #10 to rounding.
func atLeast(a, b float64) bool { return a >= b*(1-1e-9) }

// allowUp applies the cooldown: within it — or later, while the move that
// alerted goes on (its start, from, precedes that alert) — only a rise to a
// rank better by the escalation factor than the last alerted one alerts
// again. One move alerts once, and again each time it doubles.
func (e *Engine) allowUp(sr *series, r int, t, from int64) bool {
	if sr.up.t == 0 || (t-sr.up.t >= e.p.cooldown && from >= sr.up.t) {
		return true
	}
	return float64(r)*e.cfg.Escalation <= float64(sr.up.rank) && r < sr.up.rank
}

func (e *Engine) allowDown(sr *series, r int, t, from int64) bool {
	if sr.down.t == 0 || (t-sr.down.t >= e.p.cooldown && from >= sr.down.t) {
		return true
	}
	return float64(r) >= float64(sr.down.rank)*e.cfg.Escalation
}
