// Command alertquality scores the alert engine with the default settings on
// a generated scenario (internal/scenario) and on the real App Store history
// in internal/fixtures, and prints the figures the README reports:
//
//	go run ./internal/cmd/alertquality [-countries 30] [-hours 240] [-all]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/internal/fixtures"
	"github.com/rankpulse/rankpulse/internal/scenario"
)

func main() {
	cfg := scenario.DefaultConfig()
	flag.IntVar(&cfg.Countries, "countries", cfg.Countries, "countries per store")
	flag.IntVar(&cfg.Hours, "hours", cfg.Hours, "hourly slots")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	all := flag.Bool("all", true, "also score with watch_only: false")
	flag.Parse()

	for _, watchOnly := range []bool{true, false} {
		if !watchOnly && !*all {
			continue
		}
		sc := scenario.New(cfg)
		ac := config.DefaultAlerts()
		ac.WatchOnly = watchOnly
		eng := alerts.New(ac, sc.Watch)
		start := time.Now()
		res := sc.Run(eng.Evaluate)
		rep := sc.Score(res)
		fmt.Printf("== scenario: %d countries × 2 stores × 2 charts, %d hourly slots, seed %d, watch_only=%v (%s)\n%s\n",
			len(sc.Countries()), cfg.Hours, cfg.Seed, watchOnly, time.Since(start).Round(time.Millisecond), rep)
		for _, ex := range rep.Examples {
			fmt.Println("   e.g.", ex)
		}
	}

	h, err := alerts.ScoreHistory(bytes.NewReader(fixtures.Read(fixtures.History)), 50)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("== real history (%s), watch_only=false\n%s\n", fixtures.History, h)
}
