package alerts_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/internal/scenario"
)

// benchWorld is three days of a generated world read hourly: 30 countries
// × 2 stores × 2 charts of 200 entries, 8,640 snapshots.
var benchWorld = sync.OnceValues(func() ([][]chart.Snapshot, map[string]map[string]string) {
	c := scenario.DefaultConfig()
	c.Hours, c.Faults = 72, false
	sc := scenario.New(c)
	var slots [][]chart.Snapshot
	sc.Run(func(_ time.Time, snaps []chart.Snapshot) []chart.Alert {
		slots = append(slots, snaps)
		return nil
	})
	return slots, sc.Watch
})

func benchEvaluate(b *testing.B, watchOnly bool) {
	slots, watch := benchWorld()
	n := 0
	for _, s := range slots {
		n += len(s)
	}
	cfg := config.DefaultAlerts()
	cfg.WatchOnly = watchOnly
	b.ResetTimer()
	for b.Loop() {
		e := alerts.New(cfg, watch)
		for _, snaps := range slots {
			e.Evaluate(snaps[0].Time, snaps)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/snapshot")
}

// BenchmarkEvaluate is the engine's cost per 200-entry snapshot, with the
// watch list (the default) and with every app of the charts followed.
func BenchmarkEvaluate(b *testing.B) {
	b.Run("watch_only", func(b *testing.B) { benchEvaluate(b, true) })
	b.Run("all_apps", func(b *testing.B) { benchEvaluate(b, false) })
}

// BenchmarkPlainDecode is the baseline: decoding the same snapshots from
// their JSON lines (what backtest reads), and nothing else.
func BenchmarkPlainDecode(b *testing.B) {
	slots, _ := benchWorld()
	var lines [][]byte
	for _, snaps := range slots {
		for i := range snaps {
			j, err := json.Marshal(&snaps[i])
			if err != nil {
				b.Fatal(err)
			}
			lines = append(lines, j)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		for _, l := range lines {
			var s chart.Snapshot
			if err := json.Unmarshal(l, &s); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(len(lines)), "µs/snapshot")
}
