package alerts

// The chart's own churn: how far its apps usually move from one complete
// read to the next, per rank band. A paid Business chart reshuffles
// threefold every day in its middle while the overall top free barely
// moves; a move is judged against the chart it happened in.

import (
	"math"
	"slices"

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
	// prev is the last complete read: per app, its id's hash in the high
	// 48 bits and its rank in the low 16, sorted. Eight bytes an app, not
	// a map's few dozen: every chart of every sweep keeps one between
	// sweeps. Two ids of one chart sharing a 48-bit hash (about one chance
	// in 10^10 for a 200-app chart) would only pair two moves of the
	// histogram wrongly.
	prev []uint64
}

// moves is a decayed histogram of |Δ ln rank| per band.
type moves [nbands][volBins]float32

// observe adds the moves between the last complete read and this one.
func (v *volatility) observe(entries []chart.Entry, depth int) {
	next := make([]uint64, 0, len(entries))
	for _, en := range entries {
		next = append(next, packRank(en.AppID, en.Rank))
	}
	slices.Sort(next)
	if v.prev != nil {
		v.step.observe(v.prev, next, depth+1, volDecay)
	}
	v.prev = next
}

const rankBits = 16

// packRank packs an app id's hash and its rank (at most 65535).
func packRank(app string, rank int) uint64 {
	return appHash(app)<<rankBits | uint64(min(rank, math.MaxUint16))
}

// appHash is FNV-1a of the id, to 48 bits. It is stable across builds and
// processes: checkpoints store it.
func appHash(app string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(app); i++ {
		h ^= uint64(app[i])
		h *= 1099511628211
	}
	return h >> rankBits
}

// observe decays the histogram and adds the moves from before to after
// (both sorted packed reads): apps in both, and apps that came in from
// below the chart or fell out of it (at below = depth+1), which is how a
// churning chart churns.
func (h *moves) observe(before, after []uint64, below int, decay float32) {
	for b := range h {
		for i := range h[b] {
			h[b][i] *= decay
		}
	}
	const mask = 1<<rankBits - 1
	i, j := 0, 0
	for i < len(before) || j < len(after) {
		switch {
		case j == len(after) || (i < len(before) && before[i]>>rankBits < after[j]>>rankBits):
			h.add(int(before[i]&mask), below) // left the chart
			i++
		case i == len(before) || after[j]>>rankBits < before[i]>>rankBits:
			h.add(below, int(after[j]&mask)) // came in from below
			j++
		default:
			h.add(int(before[i]&mask), int(after[j]&mask))
			i++
			j++
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
