package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/internal/syncbuf"
	"github.com/rankpulse/rankpulse/scheduler"
	"github.com/rankpulse/rankpulse/storage"
)

// halfwaySchedule fires hourly at the minute half an hour from now: the
// current slot is about 30 minutes old and the next about 30 minutes away,
// far from the catch-up's lead time.
func halfwaySchedule() string { return fmt.Sprintf("%d * * * *", (time.Now().Minute()+30)%60) }

// runUntil runs the daemon until cond holds (or 20s pass), then stops it.
func runUntil(t *testing.T, e *env, log *syncbuf.Buffer, cond func(d *daemon.Daemon) bool) {
	t.Helper()
	d, err := daemon.New(context.Background(), e.cfg, daemon.Options{Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for !cond(d) {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("condition not met within 20s; log:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func snapshotsAt(t *testing.T, d *daemon.Daemon, since time.Time) []chart.Snapshot {
	t.Helper()
	var out []chart.Snapshot
	if err := d.DB().Snapshots(context.Background(), storage.Query{Since: since}, func(s chart.Snapshot) error {
		out = append(out, s)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func chartHits(a *fakestore.Apple) int {
	n := 0
	for _, h := range a.Hits() {
		if h.Endpoint == fakestore.EPCharts {
			n++
		}
	}
	return n
}

// At start the current slot is swept at once, at the slot's time; a restart
// in the same slot sweeps nothing again.
func TestCatchUpSweepsTheCurrentSlotOnce(t *testing.T) {
	e := newEnv(t)
	e.cfg.Jobs[0].Schedule = halfwaySchedule()
	e.cfg.Jobs[0].CatchUp = true
	sched, _ := scheduler.ParseSchedule(e.cfg.Jobs[0].Schedule)
	slot := scheduler.Prev(sched, time.Now())
	var log syncbuf.Buffer
	runUntil(t, e, &log, func(d *daemon.Daemon) bool { return len(d.LastSweeps()) == 1 })
	d := e.open(t)
	got := snapshotsAt(t, d, time.Time{})
	d.Close(context.Background())
	if len(got) != 3 {
		t.Fatalf("catch-up stored %d snapshots, want the job's 3", len(got))
	}
	for _, s := range got {
		if !s.Time.Equal(slot) || !s.Complete {
			t.Fatalf("%s at %s (complete %v), want a complete snapshot at the current slot %s", s.Key(), s.Time, s.Complete, slot)
		}
	}
	hits := chartHits(e.apple)
	log2 := syncbuf.Buffer{}
	runUntil(t, e, &log2, func(*daemon.Daemon) bool { return strings.Contains(log2.String(), "current slot already swept") })
	if n := chartHits(e.apple); n != hits {
		t.Fatalf("the restart in the same slot fetched %d more charts", n-hits)
	}
}

// A sweep stopped midway is finished by the next start: only the charts the
// slot lacks are fetched. A chart with a newer snapshot counts as swept.
func TestCatchUpFetchesOnlyWhatTheSlotLacks(t *testing.T) {
	e := newEnv(t)
	e.cfg.Jobs[0].Schedule = halfwaySchedule()
	e.cfg.Jobs[0].CatchUp = true
	sched, _ := scheduler.ParseSchedule(e.cfg.Jobs[0].Schedule)
	slot := scheduler.Prev(sched, time.Now())
	d := e.open(t)
	ctx := context.Background()
	one := func(cc string, at time.Time) chart.Snapshot {
		return chart.Snapshot{Time: at, Store: chart.AppStore, Country: cc, Chart: chart.TopFree, Category: chart.All, Source: "charts",
			Complete: false, Depth: 200, Error: "short chart: 1 of 200 entries", Entries: []chart.Entry{{Rank: 1, AppID: "1"}}}
	}
	// us: incomplete at the slot (it was read: it counts); gb: read
	// later, by a run --once; de: only an older snapshot.
	if err := d.DB().SaveSnapshots(ctx, []chart.Snapshot{one("us", slot), one("gb", slot.Add(10*time.Minute)), one("de", slot.Add(-time.Hour))}); err != nil {
		t.Fatal(err)
	}
	d.Close(ctx)
	var log syncbuf.Buffer
	runUntil(t, e, &log, func(d *daemon.Daemon) bool { return len(d.LastSweeps()) == 1 })
	var urls []string
	for _, h := range e.apple.Hits() {
		if h.Endpoint == fakestore.EPCharts {
			urls = append(urls, h.URL)
		}
	}
	if len(urls) != 1 || !strings.Contains(urls[0], "cc=de") {
		t.Fatalf("catch-up fetched %v, want only de", urls)
	}
	if !strings.Contains(log.String(), "charts=1 of=3") {
		t.Errorf("the catch-up did not say what it fetches:\n%s", log.String())
	}
}

func TestCatchUpCanBeTurnedOff(t *testing.T) {
	e := newEnv(t)
	e.cfg.Jobs[0].Schedule = halfwaySchedule()
	e.cfg.Jobs[0].CatchUp = false
	var log syncbuf.Buffer
	runUntil(t, e, &log, func(*daemon.Daemon) bool { return strings.Contains(log.String(), "job scheduled") })
	time.Sleep(500 * time.Millisecond)
	if n := len(e.apple.Hits()); n != 0 {
		t.Fatalf("with catch_up off the start made %d requests", n)
	}
}

// A sweep stopped before it fetched everything counts the rest as failed
// and not fetched, stores nothing for them, and says it was interrupted.
func TestInterruptedSweepCountsWhatItNeverFetched(t *testing.T) {
	e := newEnv(t)
	e.cfg.Stores.AppStore.Concurrency = 1
	e.apple.Latency = 200 * time.Millisecond
	d := e.open(t)
	defer d.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	slot := time.Now().UTC().Truncate(time.Second)
	s := d.Sweep(ctx, e.cfg.Jobs[0], slot, func(chart.Snapshot) { cancel() })
	if !s.Interrupted || s.Charts != 3 || s.NotFetched != 2 || s.Failed != 2 || s.Complete != 1 || s.OK() {
		t.Fatalf("summary %+v: want 3 charts, 1 complete, 2 failed as not fetched, interrupted", s)
	}
	if len(s.Errors) != 2 || !strings.Contains(s.Errors[0], "not fetched: interrupted") {
		t.Fatalf("errors %q do not name the charts not fetched", s.Errors)
	}
	if got := snapshotsAt(t, d, slot); len(got) != 1 || !got[0].Complete {
		t.Fatalf("stored %d snapshots for the slot, want only the one fetched", len(got))
	}
	// A sweep that fetched everything is not interrupted, even if the
	// signal comes after.
	ctx2, cancel2 := context.WithCancel(context.Background())
	s = d.Sweep(ctx2, e.cfg.Jobs[0], slot.Add(time.Hour), nil)
	cancel2()
	if s.Interrupted || s.NotFetched != 0 || !s.OK() {
		t.Fatalf("full sweep: %+v", s)
	}
}
