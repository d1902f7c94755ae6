package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/internal/scenario"
	"github.com/rankpulse/rankpulse/storage"
)

// benchInput writes three days of a generated world, read hourly (30
// countries × 2 stores × 2 charts of 200 entries: 8,640 snapshots), as
// snapshot JSONL in time order, and returns the file and the snapshots.
func benchInput(b *testing.B) (string, [][]chart.Snapshot, int) {
	c := scenario.DefaultConfig()
	c.Hours, c.Faults = 72, false
	sc := scenario.New(c)
	path := filepath.Join(b.TempDir(), "world.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := chart.NewWriter(f)
	var slots [][]chart.Snapshot
	n := 0
	sc.Run(func(_ time.Time, snaps []chart.Snapshot) []chart.Alert {
		for i := range snaps {
			if err := w.Write(&snaps[i]); err != nil {
				b.Fatal(err)
			}
		}
		slots = append(slots, snaps)
		n += len(snaps)
		return nil
	})
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		b.Fatal(err)
	}
	return path, slots, n
}

// BenchmarkBacktest is backtest's cost per 200-entry snapshot (every app
// followed: alerts.watch_only false), next to its parts and to the
// daemon's replay of the same snapshots from the embedded store (what a
// start does with the engine's horizon):
//
//	backtest       the whole command on the JSONL file, decoded once
//	decode         reading the JSONL alone
//	evaluate       the engine alone, on snapshots in memory
//	daemon-replay  reading the snapshots back from the embedded store and
//	               evaluating them slot by slot
func BenchmarkBacktest(b *testing.B) {
	path, slots, n := benchInput(b)
	cfgPath := filepath.Join(b.TempDir(), "all.yaml")
	os.WriteFile(cfgPath, []byte("alerts:\n  watch_only: false\n"), 0o644)
	perSnapshot := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/snapshot")
	}
	b.Run("backtest", func(b *testing.B) {
		for b.Loop() {
			var out, errb bytes.Buffer
			if code := run(context.Background(), []string{"backtest", "--config", cfgPath, "--input", path}, nil, &out, &errb); code != exitOK {
				b.Fatalf("exit %d: %s", code, errb.String())
			}
		}
		perSnapshot(b)
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			r := chart.NewReader(f)
			for {
				if _, err := r.Next(); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
			f.Close()
		}
		perSnapshot(b)
	})
	ac := config.DefaultAlerts()
	ac.WatchOnly = false
	b.Run("evaluate", func(b *testing.B) {
		for b.Loop() {
			e := alerts.New(ac, nil)
			for _, snaps := range slots {
				e.Evaluate(snaps[0].Time, snaps)
			}
		}
		perSnapshot(b)
	})
	b.Run("daemon-replay", func(b *testing.B) {
		ctx := context.Background()
		db, err := storage.Open(ctx, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		for _, snaps := range slots {
			if err := db.SaveImported(ctx, snaps); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for b.Loop() {
			e := alerts.New(ac, nil)
			for _, snaps := range slots {
				t := snaps[0].Time
				var read []chart.Snapshot
				if err := db.Snapshots(ctx, storage.Query{Since: t, Until: t.Add(time.Second)}, func(s chart.Snapshot) error {
					read = append(read, s)
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				e.Evaluate(t, read)
			}
		}
		perSnapshot(b)
	})
}
