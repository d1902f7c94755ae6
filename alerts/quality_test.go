package alerts_test

import (
	"bytes"
	"testing"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/internal/fixtures"
	"github.com/rankpulse/rankpulse/internal/scenario"
)

// TestQualityOnScenario scores the default settings on a generated history
// (smaller than `go run ./internal/cmd/alertquality`, which reports the
// README figures) and holds them to the targets with margin.
func TestQualityOnScenario(t *testing.T) {
	cfg := scenario.DefaultConfig()
	cfg.Countries, cfg.Hours, cfg.Pool = 16, 168, 1200
	if testing.Short() {
		cfg.Countries, cfg.Hours = 8, 120
	}
	sc := scenario.New(cfg)
	eng := alerts.New(config.DefaultAlerts(), sc.Watch)
	rep := sc.Score(sc.Run(eng.Evaluate))
	t.Logf("defaults on %d countries × %d hours:\n%s", len(sc.Countries()), cfg.Hours, rep)
	for _, ex := range rep.Examples {
		t.Log("  false alert:", ex)
	}
	// Targets: ≥ 95 % recall within 2 snapshots; ≤ 1 false alert per 1,000
	// background chart-snapshots; exactly one multi-country alert per event.
	if r := rep.Recall(); r < 0.97 {
		t.Errorf("recall %.3f, want ≥ 0.97 (target 0.95)", r)
	}
	if rep.FalsePer1000 > 0.5 {
		t.Errorf("%.3f false alerts per 1,000 chart-snapshots, want ≤ 0.5 (target 1)", rep.FalsePer1000)
	}
	for ev, n := range rep.MultiAlerts {
		if n != 1 {
			t.Errorf("%s: %d multi-country alerts, want exactly 1", ev, n)
		}
	}
	if n := rep.ControlAlerts["gradual-decline"]; n != 0 {
		t.Errorf("the gradual decline alerted %d times", n)
	}
}

// TestQualityOnRealHistory backtests the real App Store history with
// watch_only false.
func TestQualityOnRealHistory(t *testing.T) {
	rep, err := alerts.ScoreHistory(bytes.NewReader(fixtures.Read(fixtures.History)), 50)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("real history:\n%s", rep)
	if rep.PerChartDay > 0.8 {
		t.Errorf("%.2f alerts per chart-day about the top 50, want ≤ 0.8 (target 1)", rep.PerChartDay)
	}
	if rep.TopEntries == 0 || rep.FlaggedTop != rep.TopEntries {
		t.Errorf("entries straight into a top 3: %d, flagged %d; missed %v", rep.TopEntries, rep.FlaggedTop, rep.MissedTop)
	}
}
