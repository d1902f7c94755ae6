// Command sweepbench measures whole sweeps of the real rankpulse binary
// (`rankpulse run --once`, a child process) against the local fake stores
// of internal/fakestore and a real InfluxDB 1.8.10 (installed into
// .cache/bin on first use, like `make test`). Each mode prints a table;
// CPU seconds are user+sys from the child's rusage, peak RSS its VmHWM,
// wall/floor the sweep's wall time over requests ÷ rate.
//
//	go run ./internal/cmd/sweepbench [-latency 50ms] [-rate R] [-concurrency C] [-countries all]
//	    one sweep of 175 storefronts × 3 charts × {all, 6005} at depth 200
//	go run ./internal/cmd/sweepbench -telegraf [-sources rss|default] [-runs 5]
//	    rankpulse against Telegraf (inputs.http + json_v2 → outputs.influxdb_v2,
//	    built from the Go module proxy into .cache/): the same 1,050 URLs of a
//	    fake without latency, the same influxd, paired runs, medians
//	go run ./internal/cmd/sweepbench -scale [-sizes 500,1000,2000,4000]
//	    charts → CPU s, peak RSS, wall/floor, for both source modes
//	go run ./internal/cmd/sweepbench -throughput [-rates 4,20,60]
//	    wall/floor at each rate, concurrency 8, 50 ms latency
//
// SWEEPBENCH_CPUPROFILE=FILE has rankpulse write a CPU profile of its run
// (RANKPULSE_CPUPROFILE), SWEEPBENCH_MEMPROFILE=FILE a heap profile of
// what it keeps after its sweep (RANKPULSE_MEMPROFILE); SWEEPBENCH_VERBOSE=1
// shows the children's logs; SWEEPBENCH_BIN=path measures that rankpulse
// binary instead of building one.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

type options struct {
	latency     time.Duration
	rate        float64
	concurrency int
	countries   string
	categories  string
	sources     string
	depth       int
	runs        int
	sizes       []int
	rates       []float64
	influx      string
	noInflux    bool
}

func main() {
	var o options
	compare := flag.Bool("telegraf", false, "compare CPU and memory with Telegraf on the same feeds (paired runs)")
	scale := flag.Bool("scale", false, "the scaling table: charts → CPU s, peak RSS, wall/floor, both source modes")
	through := flag.Bool("throughput", false, "wall/floor at several rates (-rates)")
	flag.DurationVar(&o.latency, "latency", 50*time.Millisecond, "fake store latency (-telegraf: none)")
	flag.Float64Var(&o.rate, "rate", 0, "store rate, requests per second (default 4; -scale 100; -telegraf 100, the most a config allows)")
	flag.IntVar(&o.concurrency, "concurrency", 0, "store concurrency (default 4; -scale, -throughput 8; -telegraf 8)")
	flag.StringVar(&o.countries, "countries", "all", "countries of the job (comma-separated, or all)")
	flag.StringVar(&o.categories, "categories", "all,6005", "categories of the job")
	flag.StringVar(&o.sources, "sources", "default", `App Store sources: "default" (ws/charts + lookup, depth 200) or "rss" (legacy RSS, depth 100)`)
	flag.IntVar(&o.runs, "runs", 0, "runs per figure; the median is shown (default 1; -telegraf 5)")
	sizes := flag.String("sizes", "500,1000,2000,4000", "-scale: sweep sizes in charts")
	rates := flag.String("rates", "4,20,60", "-throughput: rates")
	flag.StringVar(&o.influx, "influx", os.Getenv("RANKPULSE_INFLUX_URL"), "InfluxDB URL (default: start one)")
	flag.BoolVar(&o.noInflux, "no-influx", false, "run without the InfluxDB sink")
	flag.Parse()
	var err error
	if o.sizes, err = parseList(*sizes, strconv.Atoi); err == nil {
		o.rates, err = parseList(*rates, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
	}
	if err != nil || (o.sources != "default" && o.sources != "rss") {
		fmt.Fprintln(os.Stderr, "sweepbench: bad -sizes, -rates or -sources:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch {
	case *compare:
		err = benchTelegraf(ctx, o)
	case *scale:
		err = benchScale(ctx, o)
	case *through:
		err = benchThroughput(ctx, o)
	default:
		err = benchOne(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sweepbench:", err)
		os.Exit(1)
	}
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// spec is the sweep of the -countries, -categories and -sources flags.
func (o options) spec(rate float64, concurrency int) sweepSpec {
	s := sweepSpec{rate: rate, concurrency: concurrency, depth: 200, categories: strings.Split(o.categories, ",")}
	if o.sources == "rss" {
		s.sources, s.depth = "rss", 100
	}
	if o.countries == "all" {
		for _, c := range chart.Countries(chart.AppStore) {
			s.countries = append(s.countries, c.Code)
		}
	} else {
		s.countries = strings.Split(o.countries, ",")
	}
	return s
}

func median[T int | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
