package main

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"time"

	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/storage"
)

// sweepResult is one rankpulse sweep.
type sweepResult struct {
	usage
	charts, requests, maxPerSecond, points int
	floor                                  time.Duration
	// head is the time from the start of the process to its first request,
	// tail from its last request to its exit, span between the two.
	head, tail, span time.Duration
}

func (r sweepResult) ratio() float64 { return r.wall.Seconds() / r.floor.Seconds() }

// sweep runs one rankpulse sweep and reads the fake's request log.
func (w *world) sweep(ctx context.Context, run string, s sweepSpec) (sweepResult, error) {
	w.apple.ResetHits()
	start := time.Now()
	u, n, err := w.runRankpulse(ctx, run, s)
	if err != nil {
		return sweepResult{}, err
	}
	all := w.apple.Hits()
	hits := len(all)
	r := sweepResult{
		usage: u, charts: s.charts(), requests: hits, maxPerSecond: w.apple.MaxPerSecond(), points: n,
		floor: time.Duration(float64(max(hits-1, 1)) / s.rate * float64(time.Second)),
	}
	if hits > 0 {
		r.head = all[0].Time.Sub(start)
		r.span = all[hits-1].Time.Sub(all[0].Time)
		r.tail = start.Add(u.wall).Sub(all[hits-1].Time)
	}
	return r, nil
}

func load() string {
	var l [3]float64
	if b, err := readFile("/proc/loadavg"); err == nil {
		fmt.Sscan(b, &l[0], &l[1], &l[2])
	}
	return fmt.Sprintf("%d cores, load average %.2f %.2f %.2f", runtime.NumCPU(), l[0], l[1], l[2])
}

// benchOne is one sweep, described in full.
func benchOne(ctx context.Context, o options) error {
	w, err := newWorld(ctx, o.latency, o.influx, o.noInflux)
	if err != nil {
		return err
	}
	defer w.close()
	s := o.spec(orDefault(o.rate, 4), orDefault(o.concurrency, 4))
	fmt.Printf("sweep: appstore, %d countries × 3 charts × %v, depth %d, sources %s, rate %g/s, concurrency %d, fake latency %s (%s)\n",
		len(s.countries), s.categories, s.depth, o.sources, s.rate, s.concurrency, o.latency, load())
	r, err := w.sweep(ctx, "one", s)
	if err != nil {
		return err
	}
	byEP := map[string]int{}
	for _, h := range w.apple.Hits() {
		byEP[h.Endpoint]++
	}
	fmt.Printf("requests:        %d (%v), max %d in any second\n", r.requests, byEP, r.maxPerSecond)
	fmt.Printf("wall time:       %s\n", r.wall.Round(time.Millisecond))
	fmt.Printf("floor:           %s (requests ÷ rate)  → wall/floor = %.3f\n", r.floor.Round(time.Millisecond), r.ratio())
	fmt.Printf("requests span:   %s (%.3f × floor), after %s of start-up, before %s of writes and exit\n", r.span.Round(time.Millisecond), r.span.Seconds()/r.floor.Seconds(), r.head.Round(time.Millisecond), r.tail.Round(time.Millisecond))
	fmt.Printf("cpu:             %.2f s (user+sys)\n", r.cpu.Seconds())
	fmt.Printf("peak rss:        %.1f MiB\n", r.rss)
	sdb, err := storage.Open(ctx, filepath.Join(w.dir, "one", "data"))
	if err != nil {
		return err
	}
	defer sdb.Close()
	sdb.Checkpoint(ctx)
	st, err := sdb.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("embedded store:  %d snapshots, %d apps interned, %d bytes → %.0f bytes/snapshot\n", st.Snapshots, st.Apps, st.Bytes, float64(st.Bytes)/float64(max(st.Snapshots, 1)))
	if w.influx != "" {
		fmt.Printf("influxdb:        app_rank %d points\n", r.points)
	}
	return nil
}

// benchTelegraf runs rankpulse and Telegraf over the same feeds, in pairs
// (alternating which goes first), and prints medians and the median of the
// paired CPU ratios.
func benchTelegraf(ctx context.Context, o options) error {
	tg, err := telegraf(ctx)
	if err != nil {
		return err
	}
	w, err := newWorld(ctx, 0, o.influx, false)
	if err != nil {
		return err
	}
	defer w.close()
	s := o.spec(orDefault(o.rate, 100), orDefault(o.concurrency, 8))
	runs := orDefault(o.runs, 5)
	fmt.Printf("feeds: %d (%d storefronts × 3 charts × %v), depth %d, sources %s, fake without latency, rankpulse rate %g/s concurrency %d; %d paired runs (%s)\n",
		s.charts(), len(s.countries), s.categories, s.depth, o.sources, s.rate, s.concurrency, runs, load())
	// The lookups rankpulse makes, for Telegraf to read the same bodies.
	var lookups []string
	if s.sources != "rss" {
		w.apple.ResetHits()
		if _, _, err := w.runRankpulse(ctx, "warm-up", s); err != nil {
			return err
		}
		for _, h := range w.apple.Hits() {
			if h.Endpoint == fakestore.EPLookup {
				lookups = append(lookups, w.fake.URL+h.URL)
			}
		}
		fmt.Printf("Telegraf also reads the %d lookup URLs of a warm-up rankpulse run (parsed, then dropped before the output)\n", len(lookups))
	}
	var rp, tf []usage
	var ratios, rssRatios []float64
	var rpPoints, tfPoints []int
	for i := range runs {
		var a, b usage
		var na, nb int
		first := func() error { var err error; a, na, err = w.runRankpulse(ctx, fmt.Sprintf("rp%d", i), s); return err }
		second := func() error {
			var err error
			b, nb, err = w.runTelegraf(ctx, tg, fmt.Sprintf("tg%d", i), s, lookups)
			return err
		}
		if i%2 == 1 {
			first, second = second, first
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		fmt.Printf("  run %d: rankpulse %.2f s %.1f MiB %d points | telegraf %.2f s %.1f MiB %d points | cpu ratio %.3f\n",
			i+1, a.cpu.Seconds(), a.rss, na, b.cpu.Seconds(), b.rss, nb, a.cpu.Seconds()/b.cpu.Seconds())
		rp, tf = append(rp, a), append(tf, b)
		rpPoints, tfPoints = append(rpPoints, na), append(tfPoints, nb)
		ratios = append(ratios, a.cpu.Seconds()/b.cpu.Seconds())
		rssRatios = append(rssRatios, a.rss/b.rss)
	}
	cpu := func(us []usage) float64 {
		var xs []float64
		for _, u := range us {
			xs = append(xs, u.cpu.Seconds())
		}
		return median(xs)
	}
	rss := func(us []usage) (float64, float64) {
		lo, hi := us[0].rss, us[0].rss
		for _, u := range us {
			lo, hi = min(lo, u.rss), max(hi, u.rss)
		}
		return lo, hi
	}
	rlo, rhi := rss(rp)
	tlo, thi := rss(tf)
	fmt.Printf("\n| | CPU s (median of %d) | peak RSS | app_rank points |\n| --- | --- | --- | --- |\n", runs)
	fmt.Printf("| Telegraf %s (%s) | %.2f | %.0f–%.0f MiB | %d |\n", telegrafVersion, telegrafTags, cpu(tf), tlo, thi, median(tfPoints))
	fmt.Printf("| rankpulse `sources: [%s]`, `run --once` | %.2f | %.0f–%.0f MiB | %d |\n", o.sources, cpu(rp), rlo, rhi, median(rpPoints))
	fmt.Printf("| ratio rankpulse ÷ Telegraf, paired runs (median) | **%.2f×** | %.2f× | |\n", median(ratios), median(rssRatios))
	return nil
}

// benchScale prints charts → CPU s, peak RSS, wall/floor for both source
// modes.
func benchScale(ctx context.Context, o options) error {
	w, err := newWorld(ctx, o.latency, o.influx, o.noInflux)
	if err != nil {
		return err
	}
	defer w.close()
	rate, conc, runs := orDefault(o.rate, 100), orDefault(o.concurrency, 8), orDefault(o.runs, 1)
	fmt.Printf("scaling: rate %g/s, concurrency %d, fake latency %s, InfluxDB %v, median of %d (%s)\n\n", rate, conc, o.latency, w.influx != "", runs, load())
	fmt.Println("| sources | charts | requests | CPU s | peak RSS MiB | wall s | wall/floor | CPU ms/chart |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, src := range []string{"default", "rss"} {
		for _, n := range o.sizes {
			countries, cats := scaled(n)
			s := sweepSpec{countries: countries, categories: cats, depth: 200, rate: rate, concurrency: conc}
			if src == "rss" {
				s.sources, s.depth = "rss", 100
			}
			var rs []sweepResult
			for i := range runs {
				r, err := w.sweep(ctx, fmt.Sprintf("scale-%s-%d-%d", src, n, i), s)
				if err != nil {
					return err
				}
				rs = append(rs, r)
			}
			r := medianResult(rs)
			fmt.Printf("| %s (depth %d) | %d | %d | %.2f | %.1f | %.1f | %.3f | %.2f |\n", src, s.depth, r.charts, r.requests, r.cpu.Seconds(), r.rss, r.wall.Seconds(), r.ratio(), r.cpu.Seconds()*1000/float64(r.charts))
		}
	}
	return nil
}

// medianResult takes each figure's median across runs.
func medianResult(rs []sweepResult) sweepResult {
	var cpu, wall []time.Duration
	var rss []float64
	for _, r := range rs {
		cpu, wall, rss = append(cpu, r.cpu), append(wall, r.wall), append(rss, r.rss)
	}
	out := rs[0]
	out.cpu, out.wall, out.rss = median(cpu), median(wall), median(rss)
	return out
}

// benchThroughput prints wall/floor at each rate.
func benchThroughput(ctx context.Context, o options) error {
	w, err := newWorld(ctx, o.latency, o.influx, o.noInflux)
	if err != nil {
		return err
	}
	defer w.close()
	conc, runs := orDefault(o.concurrency, 8), orDefault(o.runs, 1)
	fmt.Printf("throughput: concurrency %d, fake latency %s, sources %s, InfluxDB %v, median of %d (%s)\n\n", conc, o.latency, o.sources, w.influx != "", runs, load())
	fmt.Println("| rate | charts | requests | floor s | wall s | wall/floor | first→last request / floor | start-up s | after last request s | max requests in a second |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, rate := range o.rates {
		s := o.spec(rate, conc)
		var rs []sweepResult
		for i := range runs {
			r, err := w.sweep(ctx, fmt.Sprintf("rate-%g-%d", rate, i), s)
			if err != nil {
				return err
			}
			rs = append(rs, r)
		}
		r := medianResult(rs)
		fmt.Printf("| %g | %d | %d | %.1f | %.1f | %.3f | %.3f | %.2f | %.2f | %d |\n", rate, r.charts, r.requests, r.floor.Seconds(), r.wall.Seconds(), r.ratio(),
			r.span.Seconds()/r.floor.Seconds(), r.head.Seconds(), r.tail.Seconds(), r.maxPerSecond)
	}
	return nil
}
