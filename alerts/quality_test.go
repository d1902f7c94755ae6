// The race detector adds nothing to these single-goroutine computations
// and slows them eightfold; the test command runs them without it.

//go:build !race

package alerts_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/internal/fixtures"
	"github.com/rankpulse/rankpulse/internal/scenario"
)

// The quality tests hold the default settings to the targets on worlds
// generated with evaluation seeds (scenario.EvalSeeds), which were never
// looked at while the defaults were tuned on scenario.TuningSeeds. They are
// smaller than `go run ./internal/cmd/alertquality`, which reports the
// README figures on full-size worlds.

func scoreWorld(t *testing.T, c scenario.Config, watchOnly bool) scenario.Report {
	t.Helper()
	ac := config.DefaultAlerts()
	ac.WatchOnly = watchOnly
	c.SurgeRatio, c.DropRatio, c.MaxRank, c.DropFrom = ac.Surge.MinRatio, ac.Drop.MinRatio, ac.Surge.MaxRank, ac.Drop.MaxRank
	sc := scenario.New(c)
	rep := sc.Score(sc.Run(alerts.New(ac, sc.Watch).Evaluate), watchOnly)
	t.Logf("seed %d, %d countries, %d days read every %dh, watch_only=%v:\n%s", c.Seed, c.Countries, c.Hours/24, c.Every, watchOnly, rep)
	for _, m := range rep.MissedExamples {
		t.Log("  missed:", m)
	}
	for _, f := range rep.FalseExamples {
		t.Log("  false:", f)
	}
	return rep
}

func checkTargets(t *testing.T, rep scenario.Report) {
	t.Helper()
	if r := rep.All.Recall(); r < 0.95 {
		t.Errorf("recall in time %.3f, want ≥ 0.95", r)
	}
	if rep.FalsePer1000 > 1 {
		t.Errorf("%.3f false alerts per 1,000 chart-snapshots, want ≤ 1", rep.FalsePer1000)
	}
	for name, n := range rep.Traps {
		if n > 0 {
			t.Errorf("control %s alerted %d times, want silence", name, n)
		}
	}
	for _, m := range rep.Multi {
		if m.IDs != 1 || m.Named != m.Countries {
			t.Errorf("multi-country %s (%s): %d ids, %d of %d countries named; want 1 id naming all", m.Name, m.Store, m.IDs, m.Named, m.Countries)
		}
	}
}

func TestQualityOnUnseenWorlds(t *testing.T) {
	ramps := map[int]*scenario.Tally{} // over both seeds: a small world has few climbs of each length
	for _, seed := range scenario.EvalSeeds[:2] {
		for _, watchOnly := range []bool{true, false} {
			t.Run(fmt.Sprintf("seed%d/watch_only=%v", seed, watchOnly), func(t *testing.T) {
				c := scenario.DefaultConfig()
				c.Seed, c.Countries, c.Hours, c.Pool = seed, 12, 10*24, 1200
				rep := scoreWorld(t, c, watchOnly)
				checkTargets(t, rep)
				for h, tally := range rep.ByRamp {
					if watchOnly {
						if ramps[h] == nil {
							ramps[h] = &scenario.Tally{}
						}
						ramps[h].Labels += tally.Labels
						ramps[h].Detected += tally.Detected
					}
				}
			})
		}
	}
	for _, h := range scenario.Ramps {
		if tally := ramps[h]; h <= 48 && (tally == nil || tally.Recall() < 0.9) {
			t.Errorf("climbs of %dh over both seeds: recall %v, want ≥ 90%%", h, tally)
		}
	}
}

// TestQualityOnDailyReads: the same rules on a world read once a day.
func TestQualityOnDailyReads(t *testing.T) {
	c := scenario.DefaultConfig()
	c.Seed, c.Countries, c.Hours, c.Pool, c.Every = scenario.EvalSeeds[2], 12, 40*24, 1200, 24
	checkTargets(t, scoreWorld(t, c, true))
}

// TestQualityOnRealHistory backtests the real App Store history with
// watch_only false.
func TestQualityOnRealHistory(t *testing.T) {
	rep, err := alerts.ScoreHistory(bytes.NewReader(fixtures.Read(fixtures.History)), 50)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("real history:\n%s", rep)
	if rep.PerChartDay > 1 {
		t.Errorf("%.2f alerts per chart-day about the top 50, want ≤ 1", rep.PerChartDay)
	}
	if rep.TopEntries == 0 || rep.FlaggedTop != rep.TopEntries {
		t.Errorf("entries straight into a top 3: %d, flagged %d; missed %v", rep.TopEntries, rep.FlaggedTop, rep.MissedTop)
	}
	if rep.Jumps == 0 || rep.FlaggedJumps+rep.ColdJumps != rep.Jumps {
		t.Errorf("jumps from #30 or below into the top 10: %d, flagged %d, %d before the chart had min_span of history; missed %v",
			rep.Jumps, rep.FlaggedJumps, rep.ColdJumps, rep.MissedJumps)
	}
}
