package daemon_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/storage"
)

// statusLoad is the built-in defaults' job (14 messengers, 40 countries,
// both stores, two categories each) after a week of hourly sweeps of
// 200-entry charts in which the watched apps wander through the ranks.
func statusLoad(b *testing.B) (*daemon.Daemon, time.Time) {
	b.Helper()
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = filepath.Join(b.TempDir(), "data")
	cfg.Listen = ""
	d, err := daemon.New(ctx, cfg, daemon.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close(ctx) })

	rng := rand.New(rand.NewPCG(7, 2021))
	job := cfg.Jobs[0]
	var keys []chart.Key
	for _, s := range job.Stores {
		keys = append(keys, job.Keys(s)...)
	}
	now := time.Now().UTC().Truncate(time.Hour)
	const hours = 7 * 24
	for h := range hours {
		at := now.Add(time.Duration(h-hours+1) * time.Hour)
		sweep := make([]chart.Snapshot, 0, len(keys))
		for _, k := range keys {
			s := chart.Snapshot{Time: at, Store: k.Store, Country: k.Country, Chart: k.Chart, Category: k.Category,
				Source: "charts", Complete: true, Depth: 200, DurationMS: 400}
			for r := range 200 {
				id := strconv.Itoa(1400000000 + rng.IntN(5000))
				if k.Store == chart.GooglePlay {
					id = "com.example.app" + id
				}
				s.Entries = append(s.Entries, chart.Entry{Rank: r + 1, AppID: id, Name: "Some App " + id, Developer: "Some Developer"})
			}
			// About half the watched apps are in each chart, at a rank
			// that moves every hour.
			for _, w := range cfg.Watch {
				if id := w.ID(k.Store); id != "" && rng.IntN(2) == 0 {
					e := &s.Entries[rng.IntN(200)]
					e.AppID, e.Name = id, w.Name
				}
			}
			sweep = append(sweep, dedupeEntries(s))
		}
		if err := d.DB().SaveSnapshots(ctx, sweep); err != nil {
			b.Fatal(err)
		}
	}
	return d, now
}

// dedupeEntries drops repeated apps, keeping ranks consecutive.
func dedupeEntries(s chart.Snapshot) chart.Snapshot {
	seen := map[string]bool{}
	out := s.Entries[:0]
	for _, e := range s.Entries {
		if !seen[e.AppID] {
			seen[e.AppID] = true
			e.Rank = len(out) + 1
			out = append(out, e)
		}
	}
	s.Entries = out
	s.Depth = len(out)
	return s
}

// BenchmarkStatusPage renders the status page over a week of the built-in
// defaults' hourly sweeps. BenchmarkStatusBaseline, on the same data, is
// what a page that decoded every snapshot of the plotted week would pay
// before drawing anything; compare the two ns/op.
func BenchmarkStatusPage(b *testing.B) {
	d, _ := statusLoad(b)
	h := d.Handler()
	b.ResetTimer()
	var size int
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET /: %d", rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "page-bytes")
}

func BenchmarkStatusBaseline(b *testing.B) {
	d, now := statusLoad(b)
	ctx := context.Background()
	b.ResetTimer()
	var n int
	for b.Loop() {
		n = 0
		if err := d.DB().Snapshots(ctx, storage.Query{Since: now.Add(-7 * 24 * time.Hour)}, func(chart.Snapshot) error {
			n++
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "snapshots")
}
