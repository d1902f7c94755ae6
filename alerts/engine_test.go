package alerts_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
)

var t0 = time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)

// board builds charts: a filler ranking with chosen apps placed at ranks.
type board struct {
	store, country, category string
	depth                    int
	complete                 bool
	place                    map[string]int // app → rank (0: absent)
}

func (b board) snapshot(h int) chart.Snapshot {
	s := chart.Snapshot{Time: t0.Add(time.Duration(h) * time.Hour), Store: b.store, Country: b.country, Chart: "top-free", Category: b.category,
		Source: "test", Complete: b.complete, Depth: b.depth}
	byRank := map[int]string{}
	for app, r := range b.place {
		if r > 0 {
			byRank[r] = app
		}
	}
	n := b.depth
	if !b.complete {
		n = b.depth / 2 // a short read
	}
	// Fillers keep their order and close up around the placed apps, as a
	// real chart does.
	filler := 0
	for r := 1; r <= n; r++ {
		id, ok := byRank[r]
		if !ok {
			filler++
			id = fmt.Sprintf("filler-%s-%d", b.country, filler)
		}
		s.Entries = append(s.Entries, chart.Entry{Rank: r, AppID: id, Name: "Name " + id})
	}
	return s
}

func engine(watchOnly bool) *alerts.Engine {
	cfg := config.DefaultAlerts()
	cfg.WatchOnly = watchOnly
	return alerts.New(cfg, map[string]map[string]string{"appstore": {"signal": "signal"}, "googleplay": {}})
}

func run(e *alerts.Engine, h int, snaps ...chart.Snapshot) []chart.Alert {
	return e.Evaluate(t0.Add(time.Duration(h)*time.Hour), snaps)
}

func only(t *testing.T, got []chart.Alert, kind string) chart.Alert {
	t.Helper()
	if len(got) != 1 || got[0].Kind != kind {
		t.Fatalf("got %d alerts %v, want one %s", len(got), kinds(got), kind)
	}
	return got[0]
}

func kinds(as []chart.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Kind+":"+a.AppID+":"+a.CountryCode())
	}
	return out
}

func TestSurgeIsJudgedOnLogRank(t *testing.T) {
	e := engine(false)
	b := board{store: "appstore", country: "us", category: "all", depth: 200, complete: true, place: map[string]int{"deep": 150, "eighth": 8, "daily": 12}}
	for h := range 30 {
		b.place["deep"] = 148 + h%5
		b.place["daily"] = map[bool]int{true: 12, false: 9}[h%24 < 12] // #12 <-> #9 every day
		if got := run(e, h, b.snapshot(h)); len(got) != 0 {
			t.Fatalf("hour %d: ordinary movement alerted: %v", h, kinds(got))
		}
	}
	// Read hourly, a move holds for two reads before it alerts.
	b.place["deep"] = 20
	if got := run(e, 30, b.snapshot(30)); len(got) != 0 {
		t.Fatalf("a move read once alerted: %v", kinds(got))
	}
	a := only(t, run(e, 31, b.snapshot(31)), chart.KindSurge)
	if a.AppID != "deep" || *a.FromRank < 148 || *a.FromRank > 152 || *a.ToRank != 20 || a.Severity != "warning" || a.Country == nil || *a.Country != "us" || a.Watch != nil {
		t.Fatalf("surge = %+v", a)
	}
	if want := fmt.Sprintf("Name deep rose from #%d to #20 in US top free (App Store) in 2h", *a.FromRank); a.Summary != want {
		t.Fatalf("summary %q, want %q", a.Summary, want)
	}
	// #8 -> #2 is the same move in log-rank terms as #150 -> #38.
	b.place["eighth"] = 2
	run(e, 32, b.snapshot(32))
	a = only(t, run(e, 33, b.snapshot(33)), chart.KindSurge)
	if a.AppID != "eighth" || *a.FromRank != 8 || *a.ToRank != 2 {
		t.Fatalf("#8 -> #2: %+v", a)
	}
}

// A reshuffle of fewer than three places is not a surge, whatever its
// ratio: #3 -> #1 is how a crowded top moves.
func TestAMoveOfTwoPlacesIsNotASurge(t *testing.T) {
	e := engine(false)
	b := board{store: "appstore", country: "us", category: "all", depth: 200, complete: true, place: map[string]int{"third": 3}}
	for h := range 30 {
		run(e, h, b.snapshot(h))
	}
	b.place["third"] = 1
	for h := 30; h < 34; h++ {
		if got := run(e, h, b.snapshot(h)); len(got) != 0 {
			t.Fatalf("#3 -> #1 alerted: %v", kinds(got))
		}
	}
}

func TestCooldownAndEscalation(t *testing.T) {
	e := engine(false)
	b := board{store: "appstore", country: "us", category: "all", depth: 200, complete: true, place: map[string]int{"app": 150}}
	for h := range 30 {
		run(e, h, b.snapshot(h))
	}
	// Each rank is held for two hourly reads; the second read decides.
	steps := []struct {
		rank  int
		alert bool
	}{{20, true}, {18, false}, {14, false}, {11, false}, {9, true}, {8, false}, {4, true}, {3, false}, {2, true}, {1, true}, {1, false}}
	h := 30
	for _, st := range steps {
		b.place["app"] = st.rank
		var got []chart.Alert
		for range 2 {
			got = append(got, run(e, h, b.snapshot(h))...)
			h++
		}
		if (len(got) == 1) != st.alert || len(got) > 1 {
			t.Fatalf("rank %d after the first surge: alerts %v, want alert=%v", st.rank, kinds(got), st.alert)
		}
	}
}

func TestEnteredStraightIntoTheTop(t *testing.T) {
	e := engine(false)
	b := board{store: "appstore", country: "jp", category: "6014", depth: 100, complete: true, place: map[string]int{}}
	for h := range 5 {
		run(e, h, b.snapshot(h))
	}
	b.place["newgame"], b.place["midentry"] = 1, 60
	a := only(t, run(e, 5, b.snapshot(5)), chart.KindEntered)
	if a.AppID != "newgame" || a.FromRank != nil || *a.ToRank != 1 || a.Summary != "Name newgame entered JP top free Games (App Store) at #1" {
		t.Fatalf("entered = %+v", a)
	}
	// The first snapshot of a chart cannot tell entries from old news.
	e2 := engine(false)
	if got := run(e2, 0, b.snapshot(0)); len(got) != 0 {
		t.Fatalf("alerts from a chart's first snapshot: %v", kinds(got))
	}
}

func TestExitNeedsConsecutiveCompleteSnapshots(t *testing.T) {
	e := engine(false)
	b := board{store: "appstore", country: "us", category: "all", depth: 200, complete: true, place: map[string]int{"app": 10}}
	for h := range 24 {
		run(e, h, b.snapshot(h))
	}
	b.place["app"] = 0
	seq := []struct {
		complete bool
		exit     bool
	}{{false, false}, {true, false}, {false, false}, {false, false}, {true, true}, {true, false}}
	for i, st := range seq {
		h := 24 + i
		b.complete = st.complete
		got := run(e, h, b.snapshot(h))
		if st.exit {
			a := only(t, got, chart.KindExited)
			if *a.FromRank != 10 || a.ToRank != nil || a.Summary != "Name app left the top 200 of US top free (App Store) (was #10)" {
				t.Fatalf("exited = %+v", a)
			}
		} else if len(got) != 0 {
			t.Fatalf("step %d (complete=%v): %v", i, st.complete, kinds(got))
		}
	}
}

func TestRemovedIsOneCountryOnly(t *testing.T) {
	setup := func() (*alerts.Engine, []board) {
		e := engine(true) // watched apps only
		var bs []board
		for _, cc := range []string{"tr", "us"} {
			for _, cat := range []string{"all", "6005"} {
				bs = append(bs, board{store: "appstore", country: cc, category: cat, depth: 200, complete: true, place: map[string]int{"signal": 2}})
			}
		}
		for h := range 24 {
			var snaps []chart.Snapshot
			for _, b := range bs {
				snaps = append(snaps, b.snapshot(h))
			}
			run(e, h, snaps...)
		}
		return e, bs
	}
	slot := func(bs []board, h int) []chart.Snapshot {
		var snaps []chart.Snapshot
		for _, b := range bs {
			snaps = append(snaps, b.snapshot(h))
		}
		return snaps
	}

	e, bs := setup()
	bs[0].place["signal"], bs[1].place["signal"] = 0, 0 // gone from every TR chart
	if got := run(e, 24, slot(bs, 24)...); len(got) != 0 {
		t.Fatalf("first absence alerted: %v", kinds(got))
	}
	a := only(t, run(e, 25, slot(bs, 25)...), chart.KindRemoved) // the exits are folded into it
	if a.Severity != "critical" || a.CountryCode() != "tr" || *a.FromRank != 2 || a.WatchName() != "signal" ||
		a.Summary != "Name signal disappeared from every App Store chart in Türkiye (TR) while still listed in 1 other countries: a possible ban or takedown (it was #2 in top free)" {
		t.Fatalf("removed = %+v", a)
	}

	// Gone everywhere: not a ban in one country, so plain exits.
	e, bs = setup()
	for i := range bs {
		bs[i].place["signal"] = 0
	}
	run(e, 24, slot(bs, 24)...)
	got := run(e, 25, slot(bs, 25)...)
	for _, a := range got {
		if a.Kind != chart.KindExited {
			t.Fatalf("gone everywhere: %v", kinds(got))
		}
	}
	if len(got) != 4 {
		t.Fatalf("gone everywhere: %v, want 4 exits", kinds(got))
	}

	// An unreadable chart in the country decides no removal; the chart that
	// was read in full still reports its exit.
	e, bs = setup()
	bs[0].place["signal"], bs[1].place["signal"] = 0, 0
	bs[1].complete = false
	run(e, 24, slot(bs, 24)...)
	got = run(e, 25, slot(bs, 25)...)
	if a := only(t, got, chart.KindExited); a.Category != "all" {
		t.Fatalf("exit from %s, want the complete chart (all)", a.Category)
	}
}

func TestMultiCountryIsOneAlertThatUpdates(t *testing.T) {
	e := engine(true)
	countries := []string{"us", "gb", "de", "fr", "it", "es", "nl"}
	bs := map[string]*board{}
	for _, cc := range countries {
		bs[cc] = &board{store: "appstore", country: cc, category: "all", depth: 200, complete: true, place: map[string]int{"signal": 150}}
	}
	slot := func(h int) []chart.Snapshot {
		var out []chart.Snapshot
		for _, cc := range countries {
			out = append(out, bs[cc].snapshot(h))
		}
		return out
	}
	for h := range 24 {
		run(e, h, slot(h)...)
	}
	var all []chart.Alert
	for i, cc := range countries { // one more country each hour
		bs[cc].place["signal"] = 3
		all = append(all, run(e, 24+i, slot(24+i)...)...)
	}
	all = append(all, run(e, 24+len(countries), slot(24+len(countries))...)...) // the last one holds
	var ids []string
	individual := 0
	for _, a := range all {
		switch a.Kind {
		case chart.KindMultiCountry:
			ids = append(ids, a.ID)
			if a.Country != nil || len(a.Countries) != 3+a.Revision {
				t.Fatalf("multi alert %+v", a)
			}
		case chart.KindSurge:
			individual++
		}
	}
	if individual != 2 {
		t.Fatalf("%d per-country surges; want 2 (the rest fold into the multi-country alert): %v", individual, kinds(all))
	}
	if len(ids) != 5 {
		t.Fatalf("multi-country notices %v: want the alert and 4 updates", ids)
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("updates changed the id: %v", ids)
		}
	}
	last := all[len(all)-1]
	if last.Revision != 4 || !strings.HasPrefix(last.Summary, "Name signal surged in 7 countries on App Store within 6h: DE, ES, FR, GB, IT, NL, US") || !last.Time.Equal(t0.Add(31*time.Hour)) {
		t.Fatalf("last update %+v", last)
	}
}

func TestSameInputSameAlerts(t *testing.T) {
	feed := func() []byte {
		e := engine(false)
		b := board{store: "appstore", country: "us", category: "all", depth: 200, complete: true, place: map[string]int{"a": 150, "b": 40}}
		var out []chart.Alert
		for h := range 40 {
			if h == 30 {
				b.place["a"], b.place["b"], b.place["c"] = 5, 0, 2
			}
			out = append(out, run(e, h, b.snapshot(h))...)
		}
		j, _ := json.Marshal(out)
		return j
	}
	one, two := feed(), feed()
	if !reflect.DeepEqual(one, two) || len(one) < 10 {
		t.Fatalf("two runs differ or alerted nothing:\n%s\n%s", one, two)
	}
}

func TestAlertJSONIsTheSpecShape(t *testing.T) {
	a := chart.Alert{ID: "x", Kind: "surge", Severity: "warning", Time: t0, Store: "appstore", Country: chart.Ptr("us"), Chart: "top-free",
		Category: "all", AppID: "874139669", AppName: "Signal - Private Messenger", Watch: chart.Ptr("signal"), FromRank: chart.Ptr(143), ToRank: chart.Ptr(4), Summary: "s"}
	b, _ := json.Marshal(a)
	want := `{"id":"x","kind":"surge","severity":"warning","time":"2021-01-01T00:00:00Z","store":"appstore","country":"us","chart":"top-free","category":"all","app_id":"874139669","app_name":"Signal - Private Messenger","watch":"signal","from_rank":143,"to_rank":4,"countries":null,"summary":"s"}`
	if string(b) != want {
		t.Fatalf("alert JSON:\n%s\nwant\n%s", b, want)
	}
}

// A chart read twice in one slot (two jobs sharing it, a duplicated import
// line) counts once: one absence is not two confirmations.
func TestAChartReadTwiceInASlotCountsOnce(t *testing.T) {
	e := engine(false)
	b := board{store: "appstore", country: "us", category: "all", depth: 200, complete: true, place: map[string]int{"app": 10}}
	for h := range 24 {
		run(e, h, b.snapshot(h), b.snapshot(h))
	}
	b.place["app"] = 0
	if got := run(e, 24, b.snapshot(24), b.snapshot(24)); len(got) != 0 {
		t.Fatalf("one absence read twice in one evaluation: %v", kinds(got))
	}
	if got := run(e, 24, b.snapshot(24)); len(got) != 0 {
		t.Fatalf("the same slot evaluated again: %v", kinds(got))
	}
	only(t, run(e, 25, b.snapshot(25)), chart.KindExited)

	// Of two reads of one chart, the complete one is used.
	e = engine(false)
	b.place["app"] = 10
	for h := range 24 {
		run(e, h, b.snapshot(h))
	}
	b.place["app"] = 0
	short := b
	short.complete = false
	run(e, 24, short.snapshot(24), b.snapshot(24))
	only(t, run(e, 25, b.snapshot(25), short.snapshot(25)), chart.KindExited)
}

// snapsOf reads boards as charts of the given name.
func snapsOf(bs []board, h int, chartName string) []chart.Snapshot {
	var out []chart.Snapshot
	for _, b := range bs {
		s := b.snapshot(h)
		s.Chart = chartName
		out = append(out, s)
	}
	return out
}

func countKind(as []chart.Alert, kind string) int {
	n := 0
	for _, a := range as {
		if a.Kind == kind {
			n++
		}
	}
	return n
}

// Charts of one country evaluated apart (an hourly job and a daily one)
// decide a removal together: an app that left every chart of one job but is
// still ranked in the other's is not removed.
func TestRemovalConsidersChartsEvaluatedApart(t *testing.T) {
	e := engine(true)
	var hourly, daily []board
	for _, cc := range []string{"tr", "us"} {
		for _, cat := range []string{"all", "6005"} {
			hourly = append(hourly, board{store: "appstore", country: cc, category: cat, depth: 200, complete: true, place: map[string]int{"signal": 2}})
			daily = append(daily, board{store: "appstore", country: cc, category: cat, depth: 200, complete: true, place: map[string]int{"signal": 3}})
		}
	}
	for h := range 24 {
		run(e, h, snapsOf(hourly, h, "top-free")...)
	}
	run(e, 23, snapsOf(daily, 23, "top-grossing")...)
	hourly[0].place["signal"], hourly[1].place["signal"] = 0, 0 // gone from TR top free, still in TR top grossing
	for h := 24; h < 47; h++ {
		got := run(e, h, snapsOf(hourly, h, "top-free")...)
		for _, a := range got {
			if a.Kind != chart.KindExited {
				t.Fatalf("hour %d: %v, while signal is still ranked in TR top grossing", h, kinds(got))
			}
		}
	}
	// Gone from the daily job's TR charts too, each job evaluated on its
	// own: now it is a removal.
	daily[0].place["signal"], daily[1].place["signal"] = 0, 0
	var all []chart.Alert
	for h := 47; h < 50; h++ {
		all = append(all, run(e, h, snapsOf(hourly, h, "top-free")...)...)
		if h == 47 {
			all = append(all, run(e, h, snapsOf(daily, h, "top-grossing")...)...)
		}
	}
	if n := countKind(all, chart.KindRemoved); n != 1 {
		t.Fatalf("%d removals, want 1: %v", n, kinds(all))
	}
}

// job is the charts one job reads: boards read as charts of one name.
type job struct {
	boards []board
	chart  string
}

// removalsOfTwoJobs runs two fresh jobs from setup for a day, makes signal
// vanish with the returned func at hour 24, runs six more hours and checks
// that this is one removal, whether the jobs are evaluated apart or
// together.
func removalsOfTwoJobs(t *testing.T, setup func() (a, b job, vanish func())) {
	t.Helper()
	for _, together := range []bool{false, true} {
		e := engine(true)
		a, b, vanish := setup()
		var all []chart.Alert
		for h := range 30 {
			if h == 24 {
				vanish()
			}
			if together {
				all = append(all, run(e, h, append(snapsOf(a.boards, h, a.chart), snapsOf(b.boards, h, b.chart)...)...)...)
				continue
			}
			all = append(all, run(e, h, snapsOf(a.boards, h, a.chart)...)...)
			all = append(all, run(e, h, snapsOf(b.boards, h, b.chart)...)...)
		}
		if n := countKind(all, chart.KindRemoved); n != 1 {
			t.Errorf("together=%v: %d removals, want 1: %v", together, n, kinds(all))
		}
	}
}

// A ban seen by two jobs at once, each reading one chart per country: the
// app was in two charts of the country (removed.min_charts), though each
// evaluation sees one.
func TestRemovalAcrossJobsCountsEveryChart(t *testing.T) {
	removalsOfTwoJobs(t, func() (job, job, func()) {
		var free, grossing []board
		for _, cc := range []string{"tr", "us"} {
			free = append(free, board{store: "appstore", country: cc, category: "all", depth: 200, complete: true, place: map[string]int{"signal": 2}})
			grossing = append(grossing, board{store: "appstore", country: cc, category: "all", depth: 200, complete: true, place: map[string]int{"signal": 3}})
		}
		return job{free, "top-free"}, job{grossing, "top-grossing"}, func() { free[0].place["signal"], grossing[0].place["signal"] = 0, 0 }
	})
}

// One job per country: the countries where the app is still listed are
// known from the other job's evaluations.
func TestRemovalSeesOtherCountriesEvaluatedApart(t *testing.T) {
	removalsOfTwoJobs(t, func() (job, job, func()) {
		country := func(cc string) []board {
			var bs []board
			for _, cat := range []string{"all", "6005"} {
				bs = append(bs, board{store: "appstore", country: cc, category: cat, depth: 200, complete: true, place: map[string]int{"signal": 2}})
			}
			return bs
		}
		tr, us := country("tr"), country("us")
		return job{tr, "top-free"}, job{us, "top-free"}, func() { tr[0].place["signal"], tr[1].place["signal"] = 0, 0 }
	})
}

// A chart of the country that stopped being read (its job removed, say)
// holds a removal off only until its last read goes stale: twice its own
// reading interval.
func TestAChartNoLongerReadGoesStale(t *testing.T) {
	e := engine(true)
	var hourly []board
	for _, cc := range []string{"tr", "us"} {
		for _, cat := range []string{"all", "6005"} {
			hourly = append(hourly, board{store: "appstore", country: cc, category: cat, depth: 200, complete: true, place: map[string]int{"signal": 2}})
		}
	}
	gone := []board{{store: "appstore", country: "tr", category: "all", depth: 200, complete: true, place: map[string]int{"signal": 3}}}
	for h := range 24 {
		run(e, h, snapsOf(hourly, h, "top-free")...)
		if h <= 22 {
			run(e, h, snapsOf(gone, h, "top-grossing")...) // read hourly until hour 22
		}
	}
	hourly[0].place["signal"], hourly[1].place["signal"] = 0, 0
	for h := 24; h < 48; h++ {
		for _, a := range run(e, h, snapsOf(hourly, h, "top-free")...) {
			if a.Kind == chart.KindRemoved {
				if h > 26 {
					t.Errorf("removed at hour %d: a chart last read at hour 22 held it off", h)
				}
				return
			}
		}
	}
	t.Fatal("no removal in a day: a chart no longer read holds it off")
}

// A chart once read with a wrong, future time (an imported line with the
// wrong year) still alerts at the right times.
func TestAFutureDatedReadDoesNotSilenceAChart(t *testing.T) {
	e := engine(false)
	b := board{store: "appstore", country: "us", category: "all", depth: 200, complete: true, place: map[string]int{"app": 150}}
	run(e, 24*365*10, b.snapshot(24*365*10))
	var got []chart.Alert
	for h := range 37 {
		b.place["app"] = 148 + h%5
		if h >= 35 {
			b.place["app"] = 2
		}
		got = append(got, run(e, h, b.snapshot(h))...)
	}
	if countKind(got, chart.KindSurge) != 1 {
		t.Fatalf("after a read dated ten years ahead: %v, want the surge at hour 36", kinds(got))
	}
}

// A chart whose names could not be looked up still gives readable
// summaries: the app id stands in for the name.
func TestSummaryNamesAnAppWithoutAName(t *testing.T) {
	e := engine(false)
	b := board{store: "appstore", country: "us", category: "all", depth: 200, complete: true, place: map[string]int{"1400000001": 150}}
	nameless := func(h int) chart.Snapshot {
		s := b.snapshot(h)
		for i := range s.Entries {
			s.Entries[i].Name = ""
		}
		return s
	}
	for h := range 30 {
		b.place["1400000001"] = 148 + h%5
		run(e, h, nameless(h))
	}
	b.place["1400000001"] = 4
	run(e, 30, nameless(30))
	a := only(t, run(e, 31, nameless(31)), chart.KindSurge)
	if !strings.HasPrefix(a.Summary, "1400000001 rose from #") {
		t.Fatalf("summary %q: want the app id in place of the missing name", a.Summary)
	}
}
