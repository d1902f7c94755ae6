// Command alertquality scores the alert engine with its default settings on
// generated worlds (internal/scenario) and on the real App Store history in
// internal/fixtures, and prints the figures the README reports:
//
//	go run ./internal/cmd/alertquality [-seeds eval|tuning|1,2,3] [-every 1] [-countries 30] [-days 14]
//
// The default seeds are scenario.EvalSeeds, which were never looked at while
// the engine was tuned (on scenario.TuningSeeds).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/internal/fixtures"
	"github.com/rankpulse/rankpulse/internal/scenario"
)

func main() {
	cfg := scenario.DefaultConfig()
	seeds := flag.String("seeds", "eval", "eval, tuning, or a comma-separated list")
	days := flag.Int("days", cfg.Hours/24, "days of world")
	flag.IntVar(&cfg.Countries, "countries", cfg.Countries, "countries per store")
	flag.IntVar(&cfg.Every, "every", cfg.Every, "sampling interval in hours (24: daily)")
	flag.BoolVar(&cfg.Faults, "faults", cfg.Faults, "short reads, skipped sweeps, an outage")
	all := flag.Bool("all", true, "also score with watch_only: false")
	verbose := flag.Bool("v", false, "print missed moves and false alerts")
	flag.Parse()
	cfg.Hours = *days * 24

	list, err := parseSeeds(*seeds)
	if err != nil {
		fmt.Fprintln(os.Stderr, "alertquality:", err)
		os.Exit(2)
	}
	var cols []scenario.Report
	var heads []string
	for _, watchOnly := range []bool{true, false} {
		if !watchOnly && !*all {
			continue
		}
		var sum scenario.Report
		for _, seed := range list {
			c := cfg
			c.Seed = seed
			ac := config.DefaultAlerts()
			ac.WatchOnly = watchOnly
			c.SurgeRatio, c.DropRatio, c.MaxRank, c.DropFrom = ac.Surge.MinRatio, ac.Drop.MinRatio, ac.Surge.MaxRank, ac.Drop.MaxRank
			start := time.Now()
			sc := scenario.New(c)
			rep := sc.Score(sc.Run(alerts.New(ac, sc.Watch).Evaluate), watchOnly)
			fmt.Printf("== seed %d: %d countries × 2 stores × 2 charts, %d days read every %dh, faults=%v, watch_only=%v (%s)\n%s\n",
				seed, len(sc.Countries()), *days, c.Every, c.Faults, watchOnly, time.Since(start).Round(time.Millisecond), rep)
			if *verbose {
				for _, m := range rep.MissedExamples {
					fmt.Println("   missed:", m)
				}
				for _, f := range rep.FalseExamples {
					fmt.Println("   false:", f)
				}
			}
			sum.Add(rep)
		}
		cols = append(cols, sum)
		heads = append(heads, fmt.Sprintf("`watch_only: %v`", watchOnly))
	}
	fmt.Printf("\n== over seeds %v (%d countries × 2 stores × 2 charts, %d days read every %dh, faults=%v)\n\n", list, cfg.Countries, *days, cfg.Every, cfg.Faults)
	fmt.Println("| | " + strings.Join(heads, " | ") + " |")
	fmt.Println("|---" + strings.Repeat("|---", len(heads)) + "|")
	for _, r := range scenario.Table(cols...) {
		fmt.Println(r)
	}
	fmt.Println()

	h, err := alerts.ScoreHistory(bytes.NewReader(fixtures.Read(fixtures.History)), 50)
	if err != nil {
		fmt.Fprintln(os.Stderr, "alertquality:", err)
		os.Exit(1)
	}
	fmt.Printf("== real history (%s), watch_only=false\n%s\n", fixtures.History, h)
}

func parseSeeds(s string) ([]uint64, error) {
	switch s {
	case "eval":
		return scenario.EvalSeeds, nil
	case "tuning":
		return scenario.TuningSeeds, nil
	}
	var out []uint64
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("-seeds %q: want eval, tuning or numbers like 1,2,3", s)
		}
		out = append(out, n)
	}
	return out, nil
}
