package alerts

// The chart's own churn: how far its apps usually move from one complete
// read to the next, per rank band. A paid Business chart reshuffles
// threefold every day in its middle while the overall top free barely
// moves; a move is judged against the chart it happened in.

import (
	"math"

	"github.com/rankpulse/rankpulse/chart"
)

// bands split ranks for the chart's volatility: the top of a chart moves
// less than its middle.
var bands = [nbands]int{10, 30, 100, math.MaxInt32}

const nbands = 4

func band(rank int) int {
	for i, b := range bands {
		if rank <= b {
			return i
		}
	}
	return nbands - 1
}

// The histogram of one-step |Δ ln rank|: volBins bins of volBinWidth, the
// last one open-ended. Every complete read decays the counts by volDecay,
// so the estimate follows the chart (about 30 reads of memory).
const (
	volBins     = 64
	volBinWidth = 0.08
	volDecay    = 0.97
	volMinSteps = 20 // weight a band needs before it judges anything
)

// volatility is a chart's churn: how far its apps move from one complete
// read to the next.
type volatility struct {
	step moves
	// prev is each app's rank in the last complete read. (The map of the
	// read being observed is made anew each time: kept for reuse, it
	// doubled what every chart holds between sweeps.)
	prev map[string]uint16
}

// moves is a decayed histogram of |Δ ln rank| per band.
type moves [nbands][volBins]float32

// observe adds the moves between the last complete read and this one.
func (v *volatility) observe(entries []chart.Entry, depth int) {
	next := make(map[string]uint16, len(entries))
	for _, en := range entries {
		next[en.AppID] = uint16(min(en.Rank, math.MaxUint16))
	}
	if v.prev != nil {
		v.step.observe(v.prev, next, depth+1, volDecay)
	}
	v.prev = next
}

// observe decays the histogram and adds the moves from before to after:
// apps in both, and apps that came in from below the chart or fell out of
// it (at below = depth+1), which is how a churning chart churns.
func (h *moves) observe(before, after map[string]uint16, below int, decay float32) {
	for b := range h {
		for i := range h[b] {
			h[b][i] *= decay
		}
	}
	for app, r := range after {
		if p, ok := before[app]; ok {
			h.add(int(p), int(r))
		} else {
			h.add(below, int(r))
		}
	}
	for app, p := range before {
		if _, ok := after[app]; !ok {
			h.add(int(p), below) // left the chart
		}
	}
}

// add records one move from rank a to rank b, in a's band.
func (h *moves) add(a, b int) {
	d := math.Abs(logRank(b) - logRank(a))
	h[band(a)][min(int(d/volBinWidth), volBins-1)]++
}

// quantile returns the q-quantile of a band's moves, and false while the
// band has seen too few of them.
func (h *moves) quantile(b int, q float64) (float64, bool) {
	var total float64
	for _, c := range h[b] {
		total += float64(c)
	}
	if total < volMinSteps {
		return 0, false
	}
	want, acc := q*total, 0.0
	for i, c := range h[b] {
		acc += float64(c)
		if acc >= want {
			// The bin's upper edge: a conservative estimate.
			return float64(i+1) * volBinWidth, true
		}
	}
	return volBins * volBinWidth, true
}

// scale is the chart's robust one-step spread at a band: 1.4826 × the
// median absolute move, at least scaleFloor.
func (v *volatility) scale(b int) float64 {
	s, _ := v.step.quantile(b, 0.5)
	return max(s*1.4826, scaleFloor)
}

// tail is the 99th percentile of the band's one-step moves (0 while
// unknown).
func (v *volatility) tail(b int) float64 {
	t, _ := v.step.quantile(b, 0.99)
	return t
}

// scaleFloor is the smallest spread of log-rank the engine assumes: an app
// whose rank never moved still jitters by about 10%.
const scaleFloor = 0.1

// logTable holds ln(rank) for the ranks charts have.
var logTable = func() [1024]float64 {
	var t [1024]float64
	for i := 1; i < len(t); i++ {
		t[i] = math.Log(float64(i))
	}
	return t
}()

func logRank(r int) float64 {
	if r > 0 && r < len(logTable) {
		return logTable[r]
	}
	return math.Log(float64(max(r, 1)))
}
