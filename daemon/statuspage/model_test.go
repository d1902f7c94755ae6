package statuspage

import (
	"context"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/storage"
)

func TestCodes(t *testing.T) {
	for _, tt := range []struct {
		rank          int
		code          code
		text, band    string
		ranked, known bool
	}{
		{1, 1, "1", "b1", true, true}, {3, 3, "3", "b1", true, true}, {4, 4, "4", "b2", true, true},
		{10, 10, "10", "b2", true, true}, {11, 11, "11", "b3", true, true}, {50, 50, "50", "b3", true, true},
		{51, 51, "51", "b4", true, true}, {200, 200, "200", "b4", true, true}, {300, codeDeep, "252+", "b4", true, true},
	} {
		c := rankCode(tt.rank)
		if c != tt.code || standing(c) != tt.text || band(c) != tt.band || c.ranked() != tt.ranked || c.known() != tt.known {
			t.Errorf("rank %d: code %d %q %s ranked=%v known=%v", tt.rank, c, standing(c), band(c), c.ranked(), c.known())
		}
	}
	// Below the chart and not known are kept apart.
	if standing(codeOut) != "–" || band(codeOut) != "bo" || !codeOut.known() || codeOut.ranked() {
		t.Error("below the chart")
	}
	if standing(codeUnknown) != "?" || band(codeUnknown) != "bu" || codeUnknown.known() || codeUnknown.ranked() {
		t.Error("not known")
	}
	if rankText(codeOut, 200) != "below the top 200" || rankText(codeUnknown, 200) != "not known" {
		t.Error("rank texts")
	}
}

func TestRingBuckets(t *testing.T) {
	r := ring{head: -1}
	at := func(h int, minute int) uint32 { return uint32(1_700_000_000/3600*3600 + h*3600 + minute*60) }
	bucket := func(r *ring, width int64, slot uint32) (uint32, code) {
		for i, s := range r.slot {
			if int64(s)/width == int64(slot)/width {
				return s, r.codes[i]
			}
		}
		return 0, codeNone
	}
	get := func(h int) (uint32, code) { return bucket(&r, 3600, at(h, 0)) }
	r.put(tierWeek, at(0, 7), stComplete, []code{5}, true)
	r.put(tierWeek, at(0, 30), 0, []code{codeUnknown}, true) // newer but incomplete
	if s, c := get(0); s != at(0, 7) || c != 5 {
		t.Errorf("an incomplete read replaced a complete one in its bucket: %d %d", s, c)
	}
	r.put(tierWeek, at(0, 40), stComplete, []code{7}, true)
	if s, c := get(0); s != at(0, 40) || c != 7 {
		t.Errorf("the newest complete read is not kept: %d %d", s, c)
	}
	r.put(tierWeek, at(0, 20), stComplete, []code{9}, true) // older
	if _, c := get(0); c != 7 {
		t.Error("an older read replaced a newer one")
	}
	// A week and more later, the old bucket is gone and older data too.
	r.put(tierWeek, at(170, 7), stComplete, []code{2}, true)
	if s, _ := get(0); s != 0 {
		t.Error("a bucket older than the ring still holds data")
	}
	r.put(tierWeek, at(1, 7), stComplete, []code{3}, true)
	if s, _ := get(1); s != 0 {
		t.Error("data older than the ring was stored")
	}
	if r.head != int64(at(170, 7))/3600 {
		t.Errorf("head %d", r.head)
	}
	// Without preferComplete (the day tier), the newest read wins.
	d := ring{head: -1}
	d.put(tierDay, at(0, 7), stComplete, []code{5}, false)
	d.put(tierDay, at(0, 8), 0, []code{codeUnknown}, false)
	if _, c := bucket(&d, 300, at(0, 7)); c != codeUnknown {
		t.Error("the day tier does not keep its bucket's newest read")
	}
	// Out of order, several apps: buckets stay sorted and hold their own codes.
	m := ring{head: -1}
	for _, h := range []int{5, 2, 9, 3} {
		m.put(tierWeek, at(h, 1), stComplete, []code{code(h), code(h + 10)}, true)
	}
	if !slices.IsSorted(m.slot) || len(m.codes) != 8 {
		t.Fatalf("slots %v codes %v", m.slot, m.codes)
	}
	for i, s := range m.slot {
		h := int(int64(s)-int64(at(0, 1))) / 3600
		if m.codes[2*i] != code(h) || m.codes[2*i+1] != code(h+10) {
			t.Errorf("bucket of hour %d holds %v", h, m.codes[2*i:2*i+2])
		}
	}
	// A sparse ring holds what it was given, not the tier's every bucket.
	if len(r.slot) > 2 || cap(d.slot) > 2 {
		t.Errorf("rings hold %d and %d buckets", cap(r.slot), cap(d.slot))
	}
}

// A random history of a few charts: every slot read once or twice (a
// repeat is the same snapshot), some reads incomplete.
func randomHistory(seed uint64) []obs {
	rng := rand.New(rand.NewPCG(seed, 1))
	base := int64(1_700_000_000)
	var out []obs
	for h := range 24 * 40 {
		for _, cc := range []string{"us", "gb", "de"} {
			if rng.IntN(10) == 0 {
				continue // no sweep that hour
			}
			o := obs{key: chart.Key{Store: chart.AppStore, Country: cc, Chart: chart.TopFree, Category: chart.All},
				slot: base + int64(h)*3600 + int64(rng.IntN(3))*600 + 420, complete: rng.IntN(6) != 0, depth: 200,
				source: []string{"charts", "rss"}[rng.IntN(2)], ranks: make([]int, 2), names: make([]string, 2)}
			if !o.complete {
				o.err = "charts: timeout at " + cc
			}
			for a := range 2 {
				if rng.IntN(3) != 0 {
					o.ranks[a], o.names[a] = 1+rng.IntN(200), "App"
				}
			}
			o.entries = 150
			out = append(out, o)
			if rng.IntN(8) == 0 {
				out = append(out, o)
			}
		}
	}
	return out
}

// The summaries do not depend on the order snapshots arrive in, nor on
// repeats: the rebuild at start and the live sweeps overlap.
func TestApplyIsOrderFreeAndIdempotent(t *testing.T) {
	watch := []config.Watch{{Name: "a", AppStore: "1"}, {Name: "b", AppStore: "2"}}
	for seed := range uint64(5) {
		hist := randomHistory(seed)
		inOrder, shuffled := newModel(watch), newModel(watch)
		for _, m := range []*model{inOrder, shuffled} { // same source indexes
			m.source("charts")
			m.source("rss")
		}
		for _, o := range hist {
			inOrder.apply(o)
		}
		rng := rand.New(rand.NewPCG(seed, 99))
		perm := rng.Perm(len(hist))
		for _, i := range perm {
			shuffled.apply(hist[i])
		}
		for _, i := range perm[:len(perm)/3] { // replayed
			shuffled.apply(hist[i])
		}
		if len(inOrder.charts) != 3 {
			t.Fatalf("%d charts", len(inOrder.charts))
		}
		for k, a := range inOrder.charts {
			b := shuffled.charts[k]
			if !reflect.DeepEqual(a, b) {
				t.Errorf("seed %d, %s: the summaries differ with the order of arrival", seed, k)
			}
		}
		if inOrder.first != shuffled.first {
			t.Errorf("seed %d: oldest slot %d vs %d", seed, inOrder.first, shuffled.first)
		}
	}
}

func TestSeriesKeepsBelowAndUnknownApart(t *testing.T) {
	m := newModel([]config.Watch{{Name: "a", AppStore: "1"}})
	k := chart.Key{Store: chart.AppStore, Country: "us", Chart: chart.TopFree, Category: chart.All}
	base := int64(1_700_000_000 / 3600 * 3600)
	for h, o := range []struct {
		rank     int
		complete bool
	}{{5, true}, {0, true}, {0, false}, {3, false}} {
		m.apply(obs{key: k, slot: base + int64(h)*3600, complete: o.complete, depth: 200, ranks: []int{o.rank}, names: []string{""}})
	}
	ss := m.charts[k].series(tierWeek, 0, base-1, base+10*3600)
	want := []code{5, codeOut, codeUnknown, 3}
	for i, s := range ss {
		if s.c != want[i] {
			t.Errorf("hour %d: %d, want %d", i, s.c, want[i])
		}
	}
	c := m.charts[k]
	if c.cur[0] != 3 || c.known[0] != 3 {
		t.Errorf("current %d, last known %d", c.cur[0], c.known[0])
	}
	m.apply(obs{key: k, slot: base + 4*3600, complete: false, depth: 200, ranks: []int{0}, names: []string{""}, err: "boom"})
	if c.cur[0] != codeUnknown || c.known[0] != 3 || c.lastErr != "boom" {
		t.Errorf("after a failed read: current %d, last known %d, error %q", c.cur[0], c.known[0], c.lastErr)
	}
}

func TestAlertLog(t *testing.T) {
	l := alertLog{byID: map[string]int{}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxAlerts + 50 {
		l.add(chart.Alert{ID: "a" + string(rune('0'+i%10)) + time.Duration(i).String(), Time: t0.Add(time.Duration(i) * time.Minute)})
	}
	if len(l.list) != maxAlerts || !l.list[0].Time.Equal(t0.Add((maxAlerts+49)*time.Minute)) {
		t.Fatalf("%d alerts kept, newest %s", len(l.list), l.list[0].Time)
	}
	if l.add(chart.Alert{ID: "old", Time: t0}) {
		t.Error("an alert older than all kept was added to a full log")
	}
	l.add(chart.Alert{ID: "multi", Time: t0.Add(time.Hour), Revision: 2, Summary: "in 5 countries"})
	if l.add(chart.Alert{ID: "multi", Time: t0.Add(time.Hour), Revision: 1, Summary: "in 4 countries"}) {
		t.Error("an older revision replaced a newer one")
	}
	l.add(chart.Alert{ID: "multi", Time: t0.Add(2 * time.Hour), Revision: 3, Summary: "in 6 countries"})
	n := 0
	for _, a := range l.list {
		if a.ID == "multi" {
			n++
			if a.Revision != 3 {
				t.Errorf("revision %d kept", a.Revision)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d entries for one alert", n)
	}
}

func TestPlotGeometry(t *testing.T) {
	g := newGeom(plotW, plotH, plotLeft, plotRight, plotTop, plotBottom, plotOut, 200, 0, 1000)
	prev := -1.0
	for _, c := range []code{1, 2, 3, 10, 50, 199, 200, codeOut} {
		if y := g.y(c); y <= prev {
			t.Errorf("%s drawn at y=%.1f, not below the better rank at %.1f", standing(c), y, prev)
		} else {
			prev = y
		}
	}
	if g.y(1) != plotTop {
		t.Errorf("#1 at y=%.1f, want the top (%d)", g.y(1), plotTop)
	}
	// Unknown breaks the line; so does a gap of more than 3 steps.
	ss := []sample{{0, 5}, {10, 6}, {20, codeUnknown}, {30, 7}, {40, 8}, {50, codeOut}, {200, 9}}
	d, dots, last := g.path(ss)
	if got := strings.Count(d, "M"); got != 2 || len(dots) != 1 || last.t != 200 {
		t.Errorf("path %q: %d strokes, %d dots, last at %d; want 2 strokes (before and after the unknown), the point after the gap alone", d, got, len(dots), last.t)
	}
}

func TestLoadingBanner(t *testing.T) {
	db, err := storage.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg := config.Default()
	p := New(cfg, db, stubInfo{}, Options{})
	now := time.Now()
	p.setProgress(func(pr *progress) {
		pr.started, pr.from, pr.to, pr.reached, pr.read = true, now.Add(-7*24*time.Hour), now, now.Add(-84*time.Hour), 12000
	})
	page := string(p.RenderHome(context.Background(), now))
	if !strings.Contains(page, "Loading the last 7 days from the embedded store (50 %, 12,000 snapshots)") {
		t.Errorf("no loading banner in the page")
	}
	p.setProgress(func(pr *progress) { pr.week = true })
	if page := string(p.RenderHome(context.Background(), now)); !strings.Contains(page, "The last 7 days are in") {
		t.Errorf("no banner for the month still loading")
	}
	p.setProgress(func(pr *progress) { pr.done = true })
	if page := string(p.RenderHome(context.Background(), now)); strings.Contains(page, `id="loading"`) {
		t.Errorf("a loading banner after the rebuild")
	}
}

type stubInfo struct{ jobs []Job }

func (s stubInfo) Jobs() []Job                          { return s.jobs }
func (stubInfo) Ready(context.Context) (bool, []string) { return true, nil }

// The empty state says what comes and when: the sweep under way (the
// catch-up at start), else the next scheduled one.
func TestFirstSweepSaysWhatComes(t *testing.T) {
	now := time.Date(2026, 12, 1, 16, 4, 0, 0, time.UTC)
	next := now.Add(3 * time.Minute)
	if got := firstSweep([]Job{{Name: "messaging", Next: next}}, now); !strings.HasPrefix(got, "first sweep at 16:07 UTC, in 3") {
		t.Fatalf("scheduled: %q", got)
	}
	if got := firstSweep([]Job{{Name: "messaging", Next: next, Sweeping: true}}, now); got != "first sweep under way (job messaging): ranks appear as the charts come in" {
		t.Fatalf("under way: %q", got)
	}
	if got := firstSweep([]Job{{Name: "messaging", Next: next, Last: &Sweep{}}}, now); got != "" {
		t.Fatalf("after a sweep: %q", got)
	}
}

// The job line agrees with the empty state: a catch-up sweep under way is
// "under way", not "first sweep at" the next scheduled one.
func TestJobLineOfASweepUnderWay(t *testing.T) {
	db, err := storage.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	next := now.Add(29 * time.Minute)
	for _, tc := range []struct {
		job        Job
		want, nope string
	}{
		{Job{Name: "m", Next: next, Sweeping: true}, "<b>m</b> first sweep under way · next ", "first sweep at"},
		{Job{Name: "m", Next: next}, "<b>m</b> first sweep at ", "under way"},
		{Job{Name: "m", Next: next, Sweeping: true, Last: &Sweep{Slot: now.Add(-time.Hour), Charts: 2, Complete: 2}}, " · sweeping now · next ", "first sweep"},
	} {
		p := New(config.Default(), db, stubInfo{jobs: []Job{tc.job}}, Options{})
		page := string(p.RenderHome(context.Background(), now))
		i := strings.Index(page, "<b>m</b>")
		if i < 0 {
			t.Fatalf("no job line in the page")
		}
		line, _, _ := strings.Cut(page[i:], "</li>")
		if !strings.Contains(line, tc.want) || strings.Contains(line, tc.nope) {
			t.Errorf("job %+v: want %q and not %q in the job line, got %s", tc.job, tc.want, tc.nope, line)
		}
	}
}
