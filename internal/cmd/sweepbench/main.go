// Command sweepbench measures a full sweep of the real rankpulse binary
// against a local fake of the store endpoints with added latency:
//
//	go run ./internal/cmd/sweepbench [-store appstore|googleplay] [-rate R] [-latency 50ms] [-influx URL]
//
// It runs `rankpulse run --once` as a child process over every storefront ×
// three charts × two categories and reports the wall time against its floor
// (requests ÷ rate), the child's CPU seconds and peak RSS, the embedded
// store's bytes per snapshot and, with -influx, the points InfluxDB holds.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/internal/influxtest"
	"github.com/rankpulse/rankpulse/sinks/influx"
	"github.com/rankpulse/rankpulse/storage"
)

func main() {
	store := flag.String("store", "appstore", "appstore or googleplay")
	rate := flag.Float64("rate", 0, "store rate (requests per second; default: the store's default, 4 or 1)")
	concurrency := flag.Int("concurrency", 0, "store concurrency (default: the store's default, 4 or 2)")
	latency := flag.Duration("latency", 50*time.Millisecond, "fake store latency")
	countries := flag.String("countries", "all", "countries of the job")
	categories := flag.String("categories", "", `categories of the job (default: all, "6005" / all, COMMUNICATION)`)
	influxURL := flag.String("influx", os.Getenv("RANKPULSE_INFLUX_URL"), "InfluxDB URL (empty: start one if influxd is installed, else none)")
	flag.Parse()
	def := map[string]struct {
		rate        float64
		concurrency int
		categories  string
	}{"appstore": {4, 4, `all, "6005"`}, "googleplay": {1, 2, "all, COMMUNICATION"}}[*store]
	if def.rate == 0 {
		fmt.Fprintln(os.Stderr, "sweepbench: -store must be appstore or googleplay")
		os.Exit(2)
	}
	if *rate == 0 {
		*rate = def.rate
	}
	if *concurrency == 0 {
		*concurrency = def.concurrency
	}
	if *categories == "" {
		*categories = def.categories
	}
	if err := bench(*store, *rate, *concurrency, *latency, *countries, *categories, *influxURL); err != nil {
		fmt.Fprintln(os.Stderr, "sweepbench:", err)
		os.Exit(1)
	}
}

func bench(store string, rate float64, concurrency int, latency time.Duration, countries, categories, influxURL string) error {
	dir, err := os.MkdirTemp("", "sweepbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	if influxURL == "" {
		if bin := influxtest.Binary(); bin != "" {
			srv, err := influxtest.StartServer(bin, filepath.Join(dir, "influxd"))
			if err != nil {
				return err
			}
			defer srv.Stop()
			influxURL = srv.URL
		}
	}
	sink := ""
	db := fmt.Sprintf("sweepbench_%d", time.Now().Unix())
	if influxURL != "" {
		if _, err := influx.V1Query(context.Background(), influxURL, "", "", `CREATE DATABASE "`+db+`"`); err != nil {
			return err
		}
		sink = fmt.Sprintf("sinks:\n  influxdb: {url: %s, bucket: %s}\n", influxURL, db)
	}

	apple := fakestore.NewApple(2000)
	apple.Latency = latency
	play := fakestore.NewPlay(2000)
	play.Latency = latency
	srv := httptest.NewServer(fakestore.Stores(apple, play))
	defer srv.Close()

	cfgPath := filepath.Join(dir, "rankpulse.yaml")
	pacing := map[string]string{"appstore": "", "googleplay": ""}
	pacing[store] = fmt.Sprintf("\n    rate: %g\n    concurrency: %d", rate, concurrency)
	cfg := fmt.Sprintf(`data_dir: %s
listen: ""
log: {level: warn}
stores:
  appstore:
    endpoints: {itunes: %[2]s, marketing: %[2]s}%[3]s
  googleplay:
    endpoints: {play: %[2]s}%[4]s
jobs:
  - name: bench
    stores: [%[5]s]
    countries: [%[6]s]
    charts: [top-free, top-paid, top-grossing]
    categories: {%[5]s: [%[7]s]}
    depth: 200
%[8]s`, filepath.Join(dir, "data"), srv.URL, pacing["appstore"], pacing["googleplay"], store, countries, categories, sink)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}

	bin := filepath.Join(dir, "rankpulse")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/rankpulse").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	fmt.Printf("sweep: %s, countries [%s] × 3 charts × [%s], depth 200, rate %g/s, concurrency %d, fake latency %s\n", store, countries, categories, rate, concurrency, latency)
	cmd := exec.Command(bin, "run", "--once", "--config", cfgPath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	runErr := cmd.Run()
	wall := time.Since(start)
	fmt.Print(stderr.String())
	if runErr != nil {
		return fmt.Errorf("rankpulse run --once: %w", runErr)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())

	hits := append(apple.Hits(), play.Hits()...)
	maxPerSecond := max(apple.MaxPerSecond(), play.MaxPerSecond())
	byEP := map[string]int{}
	for _, h := range hits {
		byEP[h.Endpoint]++
	}
	floor := time.Duration(float64(len(hits)-1) / rate * float64(time.Second))
	fmt.Printf("requests:        %d (%v), max %d in any second\n", len(hits), byEP, maxPerSecond)
	fmt.Printf("wall time:       %s\n", wall.Round(time.Millisecond))
	fmt.Printf("floor:           %s (requests ÷ rate)  → wall/floor = %.3f\n", floor.Round(time.Millisecond), wall.Seconds()/floor.Seconds())
	fmt.Printf("cpu:             %.2f s (user+sys)\n", cpu.Seconds())
	fmt.Printf("peak rss:        %.1f MiB\n", float64(ru.Maxrss)/1024)

	sdb, err := storage.Open(context.Background(), filepath.Join(dir, "data"))
	if err != nil {
		return err
	}
	defer sdb.Close()
	sdb.Checkpoint(context.Background())
	st, err := sdb.Stats(context.Background())
	if err != nil {
		return err
	}
	fmt.Printf("embedded store:  %d snapshots, %d apps interned, %d bytes → %.0f bytes/snapshot\n", st.Snapshots, st.Apps, st.Bytes, float64(st.Bytes)/float64(max(st.Snapshots, 1)))
	if influxURL != "" {
		res, err := influx.V1Query(context.Background(), influxURL, "", db, `SELECT count("rank") FROM "app_rank"; SELECT count("entries") FROM "chart_scrape"`)
		if err != nil {
			return err
		}
		fmt.Printf("influxdb:        app_rank %v points, chart_scrape %v points (database %s)\n", res.Results[0].Series[0].Values[0][1], res.Results[1].Series[0].Values[0][1], db)
	}
	return nil
}
