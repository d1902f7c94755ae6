package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/internal/influxtest"
	"github.com/rankpulse/rankpulse/storage"
)

// The case end to end: lookups that come back truncated, a slot
// written without names, the same slot written again once the lookup works,
// and a later slot whose lookups fail again.
func TestFailedLookupsNeitherBlankNamesNorSplitSeries(t *testing.T) {
	influx := influxtest.Start(t)
	db := influx.CreateDB(t)
	apple := fakestore.NewApple(300)
	srv := httptest.NewServer(apple)
	t.Cleanup(srv.Close)
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Listen = ""
	cfg.Stores.AppStore.Endpoints = config.AppStoreEndpoints{ITunes: srv.URL, Marketing: srv.URL}
	cfg.Stores.AppStore.Rate = 200
	cfg.Stores.AppStore.Sources = []string{"charts"}
	cfg.Stores.AppStore.Retries = 1 // keeps the backoff short
	cfg.Sinks.InfluxDB = &config.InfluxDB{URL: influx.URL, Bucket: db, Timeout: config.Duration(10 * time.Second), BatchSize: 5000, SpoolMaxBytes: 1 << 30}
	job := config.Job{Name: "j", Schedule: "@hourly", Stores: []string{"appstore"}, Countries: []string{"us"},
		Charts: []string{"top-free"}, Categories: config.Categories{AppStore: []string{"all"}}, Depth: 200}
	cfg.Jobs = []config.Job{job}
	d, err := daemon.New(context.Background(), cfg, daemon.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	ctx := context.Background()
	slot := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	points := func(at time.Time) string {
		t.Helper()
		d.Flush(ctx)
		rows := influx.Query(t, db, fmt.Sprintf(`SELECT count("rank") FROM "app_rank" WHERE time = %ds`, at.Unix())).Values()
		if len(rows) != 1 {
			return fmt.Sprint(rows)
		}
		return fmt.Sprint(rows[0][1])
	}
	unnamed := func(at time.Time) int {
		t.Helper()
		n := 0
		if err := d.DB().Snapshots(ctx, storage.Query{Since: at, Until: at.Add(time.Second)}, func(s chart.Snapshot) error {
			if !s.Complete || len(s.Entries) != 200 {
				return fmt.Errorf("%s at %s: complete=%v, %d entries (%s)", s.Key(), s.Time, s.Complete, len(s.Entries), s.Error)
			}
			for _, e := range s.Entries {
				if e.Name == "" {
					n++
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// 1. Never-seen apps and a lookup that is always truncated: ranks kept,
	// names unknown, one point each.
	apple.Fail(fakestore.EPLookup, nil, fakestore.Fault{Truncate: true})
	d.Sweep(ctx, job, slot, nil)
	if n := unnamed(slot); n != 200 {
		t.Fatalf("%d of 200 entries unnamed, want 200: no name was known", n)
	}
	if p := points(slot); p != "200" {
		t.Fatalf("%s points after the first write, want 200", p)
	}
	// 2. The same slot again, the lookup working: still one point per app.
	apple.ClearFaults()
	d.Sweep(ctx, job, slot, nil)
	if n := unnamed(slot); n != 0 {
		t.Fatalf("%d entries unnamed after the rewrite, want 0", n)
	}
	if p := points(slot); p != "200" {
		t.Fatalf("%s points after the slot was rewritten with names, want 200", p)
	}
	// 3. The next slot, the lookup failing again: the names already stored.
	apple.Fail(fakestore.EPLookup, nil, fakestore.Fault{Truncate: true})
	apple.ResetHits()
	next := slot.Add(time.Hour)
	d.Sweep(ctx, job, next, nil)
	if n := unnamed(next); n != 0 {
		t.Fatalf("%d entries unnamed although every app's name was stored", n)
	}
	lookups := 0
	for _, h := range apple.Hits() {
		if h.Endpoint == fakestore.EPLookup {
			lookups++
		}
	}
	if want := 1 + cfg.Stores.AppStore.Retries; lookups != want {
		t.Fatalf("%d lookups, want %d (the truncated answer is retried)", lookups, want)
	}
	if p := points(next); p != "200" {
		t.Fatalf("%s points at the next slot, want 200", p)
	}
}
