package alerts_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/chart"
)

// path runs one app's ranks (0: absent) through an engine, one read per
// step of `every` hours, and returns the alerts with the step that raised
// them.
func path(e *alerts.Engine, depth, every int, ranks []int) (steps []int, got []chart.Alert) {
	b := board{store: "appstore", country: "us", category: "all", depth: depth, complete: true, place: map[string]int{}}
	for i, r := range ranks {
		b.place["app"] = r
		for _, a := range run(e, i*every, b.snapshot(i*every)) {
			steps, got = append(steps, i), append(got, a)
		}
	}
	return steps, got
}

func flat(rank, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = rank
	}
	return out
}

// logLinear goes from a to b over n steps (excluded a, included b).
func logLinear(a, b float64, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = int(math.Round(a * math.Pow(b/a, float64(i+1)/float64(n))))
	}
	return out
}

// A move of min_ratio alerts whatever its shape, steps and log-linear
// ramps of one hour to three days alike, while it is under way: within
// two reads of the read that crossed 3×, described from its foot.
func TestAClimbAlertsWhateverItsLength(t *testing.T) {
	for _, hours := range []int{1, 3, 6, 12, 24, 48, 72} {
		t.Run(fmt.Sprintf("%dh", hours), func(t *testing.T) {
			ranks := append(append(flat(93, 30), logLinear(93, 4, hours)...), flat(4, 10)...)
			cross := 0
			for i, r := range ranks {
				if i >= 30 && 93 >= 3*r {
					cross = i
					break
				}
			}
			steps, got := path(engine(false), 200, 1, ranks)
			if len(got) == 0 || got[0].Kind != chart.KindSurge {
				t.Fatalf("alerts %v", kinds(got))
			}
			first := got[0]
			// From the foot: the base, or on a slow ramp its first step,
			// within 12 % of it.
			from := *first.FromRank
			if steps[0] < cross || steps[0] > cross+1 || from < 83 || from > 93 || !strings.HasPrefix(first.Summary, fmt.Sprintf("Name app rose from #%d to #", from)) {
				t.Fatalf("first alert at step %d (crossed at %d): %s", steps[0], cross, first.Summary)
			}
			foot := 0
			for i := range steps[0] {
				if ranks[i] == from {
					foot = i
				}
			}
			if want := fmt.Sprintf(" in %dh", steps[0]-foot); !strings.HasSuffix(first.Summary, want) {
				t.Fatalf("summary %q, want it to end %q", first.Summary, want)
			}
			for _, a := range got {
				if a.Kind != chart.KindSurge {
					t.Fatalf("a climb raised %v", kinds(got))
				}
			}
		})
	}
}

// The example: 93 → 80 → 61 → 35 → 17 → 8 → 4 over 19 hourly
// reads raised nothing on the old engine.
func TestTheNineteenHourClimb(t *testing.T) {
	climb := []int{93, 93, 93, 80, 80, 80, 61, 61, 61, 35, 35, 35, 17, 17, 17, 8, 8, 4, 4}
	steps, got := path(engine(false), 200, 1, append(flat(93, 30), climb...))
	if len(got) == 0 {
		t.Fatal("the climb raised nothing")
	}
	if got[0].Summary != "Name app rose from #93 to #17 in US top free (App Store) in 11h" || steps[0] != 30+13 {
		t.Fatalf("first alert at read %d: %q", steps[0], got[0].Summary)
	}
	last := got[len(got)-1]
	if *last.ToRank != 4 || !strings.HasPrefix(last.Summary, "Name app rose from #93 to #4") {
		t.Fatalf("the escalation to #4: %v", kinds(got))
	}
}

// Read daily, an overnight jump is the move: #48 → #1 four days after an
// entry at #23 (real history the old engine missed).
func TestADailyJumpOvernight(t *testing.T) {
	ranks := append(flat(0, 6), 23, 30, 40, 48, 1, 1)
	steps, got := path(engine(false), 100, 24, ranks)
	var last chart.Alert
	for i, a := range got {
		if steps[i] == 10 {
			last = a
		}
	}
	if last.Kind != chart.KindSurge || last.Summary != "Name app rose from #48 to #1 in US top free (App Store) in 1d" {
		t.Fatalf("alerts %v, want the overnight surge on the 11th day", kinds(got))
	}
}

// Controls: daily oscillations (8 ↔ 14, 15 ↔ 60, with a rank of jitter)
// and a decline slower than the window (#8 → #45 over five days) stay
// quiet, read hourly and daily.
func TestOrdinaryMovementIsQuiet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	osc := func(lo, hi float64) []int {
		var out []int
		for h := range 240 {
			x := math.Log(lo) + (math.Log(hi)-math.Log(lo))*(1+math.Sin(2*math.Pi*float64(h)/24))/2
			out = append(out, max(1, int(math.Round(math.Exp(x)))+rng.IntN(3)-1))
		}
		return out
	}
	decline := append(flat(8, 48), logLinear(8, 45, 120)...)
	for name, ranks := range map[string][]int{"8↔14": osc(8, 14), "15↔60": osc(15, 60), "slow decline": decline} {
		if _, got := path(engine(false), 200, 1, ranks); len(got) != 0 {
			t.Errorf("%s read hourly: %v", name, got[0].Summary)
		}
	}
	daily := []int{}
	for i := 0; i < len(decline); i += 24 {
		daily = append(daily, decline[i])
	}
	if _, got := path(engine(false), 200, 24, daily); len(got) != 0 {
		t.Errorf("slow decline read daily: %v", got[0].Summary)
	}
}

// A slide from the top 5 over three days is a drop, alerted on the way.
func TestASlideIsADrop(t *testing.T) {
	steps, got := path(engine(false), 200, 1, append(flat(4, 30), logLinear(4, 24, 72)...))
	if len(got) == 0 || got[0].Kind != chart.KindDrop || *got[0].FromRank != 4 || *got[0].ToRank < 16 || *got[0].ToRank > 17 || steps[0] > 30+60 {
		t.Fatalf("a slide from #4 to #24: %v at %v", kinds(got), steps)
	}
}

// The fade of a spike is not a drop: #94 → #6, then back down over days.
func TestTheFadeOfASpikeIsNotADrop(t *testing.T) {
	_, got := path(engine(false), 100, 24, []int{93, 94, 93, 94, 6, 13, 16, 23, 36, 47, 52})
	if len(got) != 1 || got[0].Kind != chart.KindSurge {
		t.Fatalf("spike and fade: %v", kinds(got))
	}
}

// Uneven gaps: a climb read with a six-hour hole in the middle alerts when
// reads resume, and says how long the move took.
func TestAClimbAcrossAGap(t *testing.T) {
	e := engine(false)
	b := board{store: "appstore", country: "us", category: "all", depth: 200, complete: true, place: map[string]int{"app": 150}}
	for h := range 30 {
		run(e, h, b.snapshot(h))
	}
	climb := logLinear(150, 5, 24)
	var got []chart.Alert
	for i, r := range climb {
		if h := 30 + i; i < 4 || i >= 10 { // no reads from hour 34 to 39
			b.place["app"] = r
			got = append(got, run(e, h, b.snapshot(h))...)
		}
	}
	if len(got) == 0 || got[0].Kind != chart.KindSurge || !strings.HasPrefix(got[0].Summary, "Name app rose from #150 to #") {
		t.Fatalf("a climb across a gap: %v", kinds(got))
	}
	if at := got[0].Time.Sub(t0.Add(29 * time.Hour)); !strings.HasSuffix(got[0].Summary, fmt.Sprintf(" in %dh", int(at.Hours()))) {
		t.Fatalf("summary %q, want the move's %v", got[0].Summary, at)
	}
}
