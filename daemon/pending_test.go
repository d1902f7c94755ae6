package daemon_test

// The full-disk part of the fault suite, in process: data_dir on a small
// tmpfs (root; see internal/tmpfs) that fills up while the daemon sweeps.

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/internal/tmpfs"
	"github.com/rankpulse/rankpulse/metrics"
	"github.com/rankpulse/rankpulse/storage"
)

func slotsStored(t *testing.T, d *daemon.Daemon) map[time.Time]int {
	t.Helper()
	out := map[time.Time]int{}
	err := d.DB().Snapshots(context.Background(), storage.Query{}, func(s chart.Snapshot) error {
		if len(s.Entries) != 200 || !s.Complete {
			t.Errorf("%s at %s: %d entries, complete %v", s.Key(), s.Time, len(s.Entries), s.Complete)
		}
		out[s.Time]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// While data_dir's disk is full every snapshot is held in memory, counted
// in the sweep and the metrics, and /readyz is not ready; once space
// returns, the next write stores them all, alerts raised meanwhile
// included.
func TestAFullDiskLosesNoSnapshotAndIsNotReady(t *testing.T) {
	mnt := tmpfs.Mount(t, 16<<20)
	ctx := context.Background()
	e := newEnv(t)
	e.cfg.DataDir = filepath.Join(mnt, "data")
	m := metrics.New()
	d, err := daemon.New(ctx, e.cfg, daemon.Options{Logger: slog.New(slog.DiscardHandler), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	job := e.cfg.Jobs[0]
	for h := range 24 {
		if s := d.Sweep(ctx, job, t0.Add(time.Duration(h)*time.Hour), nil); !s.OK() {
			t.Fatalf("hour %d: %+v", h, s)
		}
	}
	if err := d.DB().(*storage.DB).Checkpoint(ctx); err != nil { // no WAL room left to reuse
		t.Fatal(err)
	}
	free := tmpfs.Fill(t, mnt)
	// Signal surges in the US while the disk is full.
	e.apple.SetChart("us", "top-free", "36", rankedAt(e.apple.Ranking("us", "top-free", "36"), "874139669", 3))
	for h := 24; h < 30; h++ {
		s := d.Sweep(ctx, job, t0.Add(time.Duration(h)*time.Hour), nil)
		if s.StoreErrs != s.Charts || s.OK() || s.Complete != s.Charts {
			t.Fatalf("hour %d on a full disk: %+v; want every chart read, none stored, the sweep not OK", h, s)
		}
		if !strings.Contains(strings.Join(s.Errors, " "), "not stored: held in memory") {
			t.Fatalf("hour %d: the sweep's examples do not say why: %v", h, s.Errors)
		}
		rd := d.Ready(ctx)
		if p := strings.Join(rd.Problems, "; "); rd.Ready || !strings.Contains(p, "refuses writes") || !strings.Contains(p, "disk_full") {
			t.Fatalf("hour %d: /readyz %+v; want not ready, naming the full disk", h, rd)
		}
	}
	// A failed write attempt counts: at least one per sweep (a sweep's
	// snapshots go in one transaction, and wait untried behind those held).
	if got := testutil.ToFloat64(m.StoreWriteFailures.WithLabelValues("disk_full")); got < 6 {
		t.Errorf("rankpulse_store_write_failures_total{reason=disk_full} = %v, want at least one per sweep, 6", got)
	}
	if got := testutil.ToFloat64(m.StoreHeld.WithLabelValues("snapshots")); got != 18 || d.Held() != 18 {
		t.Errorf("held snapshots: metric %v, Held %d; want 18", got, d.Held())
	}
	if testutil.ToFloat64(m.StoreWritable) != 0 {
		t.Error("rankpulse_store_writable is not 0 on a full disk")
	}
	free()
	if s := d.Sweep(ctx, job, t0.Add(30*time.Hour), nil); !s.OK() {
		t.Fatalf("the sweep once space returned: %+v", s)
	}
	if rd := d.Ready(ctx); !rd.Ready {
		t.Fatalf("/readyz once space returned: %+v", rd)
	}
	if d.Held() != 0 || testutil.ToFloat64(m.StoreWritable) != 1 {
		t.Fatalf("still %d held, writable %v", d.Held(), testutil.ToFloat64(m.StoreWritable))
	}
	got := slotsStored(t, d)
	for h := range 31 {
		if n := got[t0.Add(time.Duration(h)*time.Hour)]; n != 3 {
			t.Errorf("hour %d: %d of 3 snapshots stored", h, n)
		}
	}
	alerts := stored(t, d)
	if len(alerts) != 1 || alerts[0].Kind != chart.KindSurge || alerts[0].CountryCode() != "us" {
		t.Fatalf("the surge raised while the disk was full: %v", summaries(alerts))
	}
	slots, err := d.DB().Slots(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if s.Pending {
			t.Errorf("slot %s is stored but not marked evaluated", s.Slot)
		}
	}
}

// The memory held for refused writes is bounded: past it the oldest held
// snapshot is dropped, counted, and the newer ones are still stored.
func TestHeldWritesAreBounded(t *testing.T) {
	mnt := tmpfs.Mount(t, 16<<20)
	ctx := context.Background()
	e := newEnv(t)
	e.cfg.DataDir = filepath.Join(mnt, "data")
	m := metrics.New()
	// Room for about 4 snapshots of 200 entries (~19 KB each).
	d, err := daemon.New(ctx, e.cfg, daemon.Options{Logger: slog.New(slog.DiscardHandler), Metrics: m, PendingMaxBytes: 80 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	job := e.cfg.Jobs[0]
	d.Sweep(ctx, job, t0, nil)
	d.DB().(*storage.DB).Checkpoint(ctx)
	free := tmpfs.Fill(t, mnt)
	for h := 1; h <= 4; h++ {
		d.Sweep(ctx, job, t0.Add(time.Duration(h)*time.Hour), nil)
	}
	held := d.Held()
	dropped := testutil.ToFloat64(m.StoreHeldDropped)
	t.Logf("%d held, %v dropped", held, dropped)
	if held == 0 || held >= 12 || int(dropped) != 12-held {
		t.Fatalf("%d held and %v dropped of 12 refused snapshots; want a bound, with the rest counted as dropped", held, dropped)
	}
	free()
	d.Sweep(ctx, job, t0.Add(5*time.Hour), nil)
	got := slotsStored(t, d)
	if got[t0.Add(4*time.Hour)] != 3 || got[t0.Add(5*time.Hour)] != 3 || got[t0.Add(1*time.Hour)] != 0 {
		t.Fatalf("stored per slot: %v; want the newest held slot whole, the oldest dropped", got)
	}
}

// A sweep whose snapshots come in several groups while writes are held
// does not wait for itself: its evaluation holds the engine from its first
// snapshot on, and the held writes ahead of its later groups must not wait
// for the engine (they waited, and the sweep hung for good).
func TestHeldWritesDoNotHangASlowSweep(t *testing.T) {
	mnt := tmpfs.Mount(t, 16<<20)
	ctx := context.Background()
	e := newEnv(t)
	e.cfg.DataDir = filepath.Join(mnt, "data")
	e.cfg.Stores.AppStore.Concurrency = 1
	d, err := daemon.New(ctx, e.cfg, daemon.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	job := e.cfg.Jobs[0]
	for h := range 2 {
		d.Sweep(ctx, job, t0.Add(time.Duration(h)*time.Hour), nil)
	}
	if err := d.DB().(*storage.DB).Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	free := tmpfs.Fill(t, mnt)
	e.apple.Latency = 150 * time.Millisecond // each snapshot a group of its own
	sweep := func(h int) {
		t.Helper()
		done := make(chan daemon.Summary, 1)
		go func() { done <- d.Sweep(ctx, job, t0.Add(time.Duration(h)*time.Hour), nil) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatalf("hour %d: the sweep did not end within a minute with writes held", h)
		}
	}
	sweep(2) // held: its snapshots and its evaluation
	sweep(3) // held writes ahead of each of its groups
	free()
	sweep(4)
	if d.Held() != 0 {
		t.Fatalf("%d writes still held once space returned", d.Held())
	}
}
