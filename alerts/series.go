package alerts

import (
	"math"
	"sort"

	"github.com/rankpulse/rankpulse/chart"
)

// sample is one known reading of a series: a rank, or 0 for "below the
// chart" (absent from a complete snapshot of the given depth).
type sample struct {
	t     uint32 // unix seconds
	rank  uint16
	depth uint16
}

func (s sample) time() int64 { return int64(s.t) }

// eff is the rank the move rule uses: the rank, or depth+1 below the chart.
func (s sample) eff() int {
	if s.rank > 0 {
		return int(s.rank)
	}
	return int(s.depth) + 1
}

// series is one app in one chart.
type series struct {
	hist          []sample // known readings, oldest first, within the keep horizon
	name          string
	lastRank      int    // last rank seen
	seen          uint32 // slot of the last read that ranked it
	absentStreak  int    // consecutive complete snapshots without the app
	exitedAlerted bool
	up, down      mark // last alerted rise and fall
}

type mark struct {
	t    int64
	rank int
}

// push appends a reading and forgets those older than from (in batches, so
// that the copy is amortised).
func (sr *series) push(s sample, from int64) {
	sr.hist = append(sr.hist, s)
	if len(sr.hist) < 16 || sr.hist[0].time() >= from {
		return
	}
	if i := sr.index(from); i >= len(sr.hist)/4 {
		sr.hist = append(sr.hist[:0], sr.hist[i:]...)
	}
}

// last returns the newest reading.
func (sr *series) last() (sample, bool) {
	if len(sr.hist) == 0 {
		return sample{}, false
	}
	return sr.hist[len(sr.hist)-1], true
}

// since returns the readings at or after from.
func (sr *series) since(from int64) []sample { return sr.hist[sr.index(from):] }

// between returns the readings in [from, to).
func (sr *series) between(from, to int64) []sample { return sr.hist[sr.index(from):sr.index(to)] }

// index is the first reading at or after t (a binary search; the hot path
// of every judgement).
func (sr *series) index(t int64) int {
	lo, hi := 0, len(sr.hist)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if sr.hist[m].time() < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func (sr *series) rankedSince(from int64) bool {
	for _, h := range sr.since(from) {
		if h.rank > 0 {
			return true
		}
	}
	return false
}

// chartState is what the engine knows of one chart.
type chartState struct {
	key      chart.Key
	name     string // key.String()
	last     int64  // slot of the newest read evaluated
	interval int64  // seconds between its last two reads, 0 if unknown
	// The chart's complete, non-empty reads: how many, the first, the last
	// two, and the last one's depth.
	completes                                 int
	firstComplete, prevComplete, lastComplete int64
	lastDepth                                 int
	apps                                      map[string]*series
	vol                                       volatility
}

// newSeries starts following an app seen for the first time in the chart.
// When the chart was read in full before, the app was below it then: the
// series starts with those readings (the first within keep and the last
// two), so that an app coming from below the chart is judged like any
// other.
func (cs *chartState) newSeries(t, keep int64) *series {
	sr := &series{}
	if cs.completes == 0 || cs.lastComplete >= t {
		return sr
	}
	depth := uint16(min(cs.lastDepth, math.MaxUint16-1))
	first := max(cs.firstComplete, t-keep)
	for _, at := range []int64{first, cs.prevComplete, cs.lastComplete} {
		if at >= first && (len(sr.hist) == 0 || int64(sr.hist[len(sr.hist)-1].t) < at) {
			sr.hist = append(sr.hist, sample{t: uint32(at), depth: depth})
		}
	}
	return sr
}

// observe records a complete read: the chart's one-step volatility and its
// complete-read bookkeeping.
func (cs *chartState) observe(s *chart.Snapshot, t int64) {
	cs.vol.observe(s.Entries, s.Depth)
	if cs.completes == 0 {
		cs.firstComplete = t
	}
	cs.completes++
	cs.prevComplete, cs.lastComplete, cs.lastDepth = cs.lastComplete, t, s.Depth
}

// rewind forgets every reading of the chart after t: a read dated in the
// future (an imported line with the wrong year) must not silence the chart
// until then.
func (cs *chartState) rewind(t int64) {
	cs.interval = 0
	for _, at := range []*int64{&cs.firstComplete, &cs.prevComplete, &cs.lastComplete} {
		if *at > t {
			*at = 0
		}
	}
	if cs.firstComplete == 0 {
		cs.completes = 0
	}
	for _, sr := range cs.apps {
		i := sort.Search(len(sr.hist), func(i int) bool { return sr.hist[i].time() > t })
		sr.hist = sr.hist[:i]
		if sr.up.t > t {
			sr.up = mark{}
		}
		if sr.down.t > t {
			sr.down = mark{}
		}
	}
}

// fresh reports whether a chart's last read still stands at t: it is not
// older than twice the chart's own reading interval (a chart read hourly
// goes stale after two hours, one read daily after two days; one read only
// once after a day). A chart that stopped being read decides nothing.
func (cs *chartState) fresh(t int64) bool {
	limit := int64(25 * 60 * 60)
	if cs.interval > 0 {
		limit = 2*cs.interval + 60
	}
	return t-cs.last <= limit
}

// rankedHere reports whether app's last known state in the chart is a rank.
func (cs *chartState) rankedHere(app string) (int, bool) {
	sr := cs.apps[app]
	if sr == nil || sr.absentStreak > 0 || sr.lastRank == 0 {
		return 0, false
	}
	return sr.lastRank, true
}
