package daemon_test

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/storage"
)

var t0 = time.Now().UTC().Truncate(time.Hour).Add(-48 * time.Hour)

type env struct {
	cfg   *config.Config
	apple *fakestore.Apple
}

func newEnv(t *testing.T) *env {
	t.Helper()
	apple := fakestore.NewApple(300)
	srv := httptest.NewServer(apple)
	t.Cleanup(srv.Close)
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Listen = ""
	cfg.Stores.AppStore.Endpoints = config.AppStoreEndpoints{ITunes: srv.URL, Marketing: srv.URL}
	cfg.Stores.AppStore.Rate = 100
	cfg.Jobs = []config.Job{{Name: "j", Schedule: "@hourly", Stores: []string{"appstore"}, Countries: []string{"us", "gb", "de"},
		Charts: []string{"top-free"}, Categories: config.Categories{AppStore: []string{"all"}}, Depth: 200}}
	for _, cc := range []string{"us", "gb", "de"} {
		apple.SetChart(cc, "top-free", "36", rankedAt(apple.Ranking(cc, "top-free", "36"), "874139669", 150))
	}
	return &env{cfg: cfg, apple: apple}
}

// rankedAt returns ids with app moved to rank.
func rankedAt(ids []string, app string, rank int) []string {
	var out []string
	for _, id := range ids {
		if id != app {
			out = append(out, id)
		}
	}
	out = append(out[:rank-1], append([]string{app}, out[rank-1:]...)...)
	return out[:200]
}

func (e *env) open(t *testing.T) *daemon.Daemon {
	t.Helper()
	d, err := daemon.New(context.Background(), e.cfg, daemon.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func stored(t *testing.T, d *daemon.Daemon) []chart.Alert {
	t.Helper()
	as, err := d.DB().Alerts(context.Background(), storage.AlertQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func TestAlertStateSurvivesRestarts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.open(t)
	for h := range 24 {
		if s := d.Sweep(ctx, e.cfg.Jobs[0], t0.Add(time.Duration(h)*time.Hour), nil); s.Alerts != 0 || !s.OK() {
			t.Fatalf("hour %d: %+v", h, s)
		}
	}
	// Signal surges in the US; read hourly, the move alerts once it holds
	// for a second read. In GB it surges an hour later.
	e.apple.SetChart("us", "top-free", "36", rankedAt(e.apple.Ranking("us", "top-free", "36"), "874139669", 3))
	if s := d.Sweep(ctx, e.cfg.Jobs[0], t0.Add(24*time.Hour), nil); s.Alerts != 0 {
		t.Fatalf("first read of the surge raised %d alerts, want 0", s.Alerts)
	}
	e.apple.SetChart("gb", "top-free", "36", rankedAt(e.apple.Ranking("gb", "top-free", "36"), "874139669", 2))
	if s := d.Sweep(ctx, e.cfg.Jobs[0], t0.Add(25*time.Hour), nil); s.Alerts != 1 {
		t.Fatalf("surge sweep raised %d alerts, want 1", s.Alerts)
	}

	// The next slot is stored, then the process dies before evaluating it:
	// Signal holds in GB too.
	var next []chart.Snapshot
	d.DB().Snapshots(ctx, storage.Query{Since: t0.Add(25 * time.Hour)}, func(s chart.Snapshot) error {
		s.Time = t0.Add(26 * time.Hour)
		next = append(next, s)
		return nil
	})
	if err := d.DB().SaveSnapshots(ctx, next); err != nil {
		t.Fatal(err)
	}
	d.Close(ctx)

	// Restart: the US surge is not raised again, the GB one is not missed.
	d = e.open(t)
	if err := d.RestoreAlerts(ctx); err != nil {
		t.Fatal(err)
	}
	got := stored(t, d)
	if len(got) != 2 || got[0].CountryCode() != "us" || got[1].CountryCode() != "gb" || got[1].Kind != chart.KindSurge {
		t.Fatalf("after a restart: %v", summaries(got))
	}
	slots, _ := d.DB().Slots(ctx, t0)
	for _, s := range slots {
		if s.Pending {
			t.Fatalf("slot %s still awaits evaluation", s.Slot)
		}
	}
	d.Close(ctx)

	// And a further restart changes nothing; the rebuilt look-back still
	// knows the surges (a repeat of the same move in the next slot is not
	// news).
	d = e.open(t)
	defer d.Close(ctx)
	if s := d.Sweep(ctx, e.cfg.Jobs[0], t0.Add(27*time.Hour), nil); s.Alerts != 0 {
		t.Fatalf("the sweep after two restarts raised %d alerts; the cooldown was lost", s.Alerts)
	}
	if got := stored(t, d); len(got) != 2 {
		t.Fatalf("after a second restart: %v", summaries(got))
	}
}

func summaries(as []chart.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Summary)
	}
	return out
}

func TestImportedHistoryRaisesNoAlerts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.open(t)
	var snaps []chart.Snapshot
	for h := range 30 {
		rank := 150
		if h == 29 {
			rank = 2
		}
		s := chart.Snapshot{Time: t0.Add(time.Duration(h) * time.Hour), Store: "appstore", Country: "us", Chart: "top-free", Category: "all", Source: "import", Complete: true, Depth: 200}
		ids := rankedAt(e.apple.Ranking("us", "top-free", "36"), "874139669", rank)
		for i, id := range ids {
			s.Entries = append(s.Entries, chart.Entry{Rank: i + 1, AppID: id})
		}
		snaps = append(snaps, s)
	}
	if err := d.Import(ctx, snaps); err != nil {
		t.Fatal(err)
	}
	d.Close(ctx)
	d = e.open(t)
	defer d.Close(ctx)
	if got := stored(t, d); len(got) != 0 {
		t.Fatalf("imported history raised alerts after a restart: %v", summaries(got))
	}
}

// A stored but never evaluated slot holding an unreadable snapshot is
// evaluated once: the readable snapshots are, and the unreadable one is set
// aside, so the next start has nothing pending.
func TestAnUnreadableSnapshotDoesNotKeepItsSlotPending(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	d := e.open(t)
	slot := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	var snaps []chart.Snapshot
	for _, cc := range []string{"us", "gb"} {
		s := chart.Snapshot{Time: slot, Store: chart.AppStore, Country: cc, Chart: chart.TopFree, Category: chart.All, Source: "charts", Complete: true, Depth: 1,
			Entries: []chart.Entry{{Rank: 1, AppID: "1", Name: "One"}}}
		snaps = append(snaps, s)
	}
	if err := d.DB().SaveSnapshots(ctx, snaps); err != nil { // stored, not evaluated
		t.Fatal(err)
	}
	d.Close(ctx)
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(e.cfg.DataDir, storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE snapshots SET entries = x'02000102' WHERE rowid = (SELECT max(rowid) FROM snapshots)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	for start := range 2 {
		d := e.open(t)
		if err := d.RestoreAlerts(ctx); err != nil {
			t.Fatal(err)
		}
		slots, err := d.DB().Slots(ctx, slot.Add(-time.Hour))
		d.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(slots) != 1 || slots[0].Pending {
			t.Fatalf("start %d: slots %+v, want the one slot, evaluated", start+1, slots)
		}
	}
}
