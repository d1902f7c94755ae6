package daemon_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/storage"
)

// The status benchmarks run at the scale: every App Store and
// Google Play country × three charts × two categories (2,094 charts) and
// the built-in 14 watched apps, after 7 days of hourly sweeps of 200-entry
// charts in which the watched apps wander through the ranks (half of them
// in each chart, a new rank every hour). The baseline, measured in the same
// run on the same store, is what the old page paid before drawing
// anything: one decode of every snapshot of the week.
//
//	go test -run '^$' -bench 'Status' -benchtime 20x ./daemon/
type benchWorld struct {
	d       *daemon.Daemon
	cfg     *config.Config
	now     time.Time
	charts  int
	snaps   int
	loaded  time.Duration
	rebuilt time.Duration
	srv     *httptest.Server
}

var (
	benchOnce sync.Once
	bench     *benchWorld
	benchErr  error
)

func benchFixture(b *testing.B) *benchWorld {
	b.Helper()
	benchOnce.Do(func() { bench, benchErr = buildBench() })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return bench
}

func buildBench() (*benchWorld, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "rankpulse-status-bench-")
	if err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Listen = ""
	cfg.Jobs = []config.Job{{Name: "everything", Schedule: "7 * * * *", Stores: []string{"appstore", "googleplay"}, Countries: []string{"all"},
		Charts: []string{"top-free", "top-paid", "top-grossing"}, Categories: config.Categories{AppStore: []string{"all", "6005"}, GooglePlay: []string{"all", "COMMUNICATION"}}, Depth: 200}}
	d, err := daemon.New(ctx, cfg, daemon.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	w := &benchWorld{d: d, cfg: cfg, now: time.Now().UTC().Truncate(time.Hour)}
	cleanup := func() { d.Close(ctx); os.RemoveAll(dir) }
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	benchCleanups = append(benchCleanups, cleanup)

	var keys []chart.Key
	for _, s := range chart.Stores {
		keys = append(keys, cfg.Jobs[0].Keys(s)...)
	}
	w.charts = len(keys)
	start := time.Now()
	if w.snaps, err = fillWeek(ctx, d, cfg, keys, w.now); err != nil {
		return nil, err
	}
	w.loaded = time.Since(start)
	// As at start: the page rebuilds its summaries from the store.
	start = time.Now()
	w.srv = httptest.NewServer(d.Handler())
	benchCleanups = append(benchCleanups, w.srv.Close)
	<-d.StatusPage().Rebuilt()
	w.rebuilt = time.Since(start)
	fmt.Fprintf(os.Stderr, "status bench: %d charts × 168 hours = %d snapshots stored in %s; summaries rebuilt in %s, about %.1f MB\n",
		w.charts, w.snaps, w.loaded.Round(time.Second), w.rebuilt.Round(time.Millisecond), float64(d.StatusPage().SummaryBytes())/1e6)
	return w, nil
}

// fillWeek stores a week of hourly sweeps of keys ending at now.
func fillWeek(ctx context.Context, d *daemon.Daemon, cfg *config.Config, keys []chart.Key, now time.Time) (int, error) {
	// A pool of 5,000 apps per store; a chart is 200 of them, picked with a
	// stride so that none repeats.
	pool := map[string][]chart.Entry{}
	for _, s := range chart.Stores {
		for i := range 5000 {
			id := strconv.Itoa(1400000000 + i)
			if s == chart.GooglePlay {
				id = "com.example.app" + id
			}
			pool[s] = append(pool[s], chart.Entry{AppID: id, Name: "Some App " + strconv.Itoa(i), Developer: "Developer " + strconv.Itoa(i%300)})
		}
	}
	rng := rand.New(rand.NewPCG(7, 2021))
	const hours = 7 * 24
	n := 0
	for h := range hours {
		at := now.Add(time.Duration(h-hours) * time.Hour).Add(7 * time.Minute)
		sweep := make([]chart.Snapshot, 0, len(keys))
		for _, k := range keys {
			s := chart.Snapshot{Time: at, Store: k.Store, Country: k.Country, Chart: k.Chart, Category: k.Category,
				Source: "charts", Complete: true, Depth: 200, DurationMS: 400, Entries: make([]chart.Entry, 200)}
			if k.Store == chart.GooglePlay {
				s.Source = "play"
			}
			p := pool[k.Store]
			off, stride := rng.IntN(5000), []int{7, 11, 13, 17, 19}[rng.IntN(5)]
			for r := range 200 {
				s.Entries[r] = p[(off+r*stride)%5000]
				s.Entries[r].Rank = r + 1
			}
			for _, wa := range cfg.Watch {
				if id := wa.ID(k.Store); id != "" && rng.IntN(2) == 0 {
					e := &s.Entries[rng.IntN(200)]
					e.AppID, e.Name, e.Developer = id, wa.Name, "Messenger Inc."
				}
			}
			sweep = append(sweep, s)
		}
		if err := d.DB().SaveSnapshots(ctx, sweep); err != nil {
			return n, err
		}
		n += len(sweep)
	}
	return n, nil
}

var benchCleanups []func()

// decodeWeek is the baseline: every snapshot of the week, decoded.
func decodeWeek(b *testing.B, w *benchWorld) int {
	n := 0
	if err := w.d.DB().Snapshots(context.Background(), storage.Query{Since: w.now.Add(-7 * 24 * time.Hour)}, func(chart.Snapshot) error {
		n++
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	return n
}

func BenchmarkStatus(b *testing.B) {
	w := benchFixture(b)
	p := w.d.StatusPage()
	b.Run("baseline-decode-week", func(b *testing.B) {
		var n int
		for b.Loop() {
			n = decodeWeek(b, w)
		}
		b.ReportMetric(float64(n), "snapshots")
	})
	b.Run("render-home", func(b *testing.B) {
		var page []byte
		for b.Loop() {
			page = p.RenderHome(context.Background(), time.Now())
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(page)
		zw.Close()
		b.ReportMetric(float64(len(page))/1e3, "page-kB")
		b.ReportMetric(float64(gz.Len())/1e3, "gzip-kB")
	})
	b.Run("get-home-cached", func(b *testing.B) {
		h := w.d.Handler()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil)) // renders once
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			if rec.Code != http.StatusOK {
				b.Fatalf("GET /: %d", rec.Code)
			}
		}
	})
	for _, rng := range []string{"24h", "7d", "30d"} {
		b.Run("render-app-"+rng, func(b *testing.B) {
			var size int
			for b.Loop() {
				size = len(p.RenderApp("telegram", rng, false, time.Now()))
			}
			b.ReportMetric(float64(size)/1e3, "page-kB")
		})
	}
	b.Run("render-chart", func(b *testing.B) {
		k := chart.Key{Store: chart.AppStore, Country: "us", Chart: chart.TopFree, Category: chart.All}
		for b.Loop() {
			p.RenderChart(context.Background(), k)
		}
	})
	b.Run("rebuild", func(b *testing.B) {
		b.ReportMetric(w.rebuilt.Seconds(), "s-at-start")
		b.ReportMetric(float64(p.SummaryBytes())/1e6, "summary-MB")
		for b.Loop() {
		}
	})
}

// BenchmarkStatusLoad is 50 clients loading pages over loopback HTTP as
// fast as they can while sweeps keep arriving (a snapshot every 5 ms, so
// the home page is rendered again every second). It reports the latency
// percentiles, the peak heap (sampled every 5 ms) and the heap kept after a
// GC, each against the heap before, and the same run's
// baseline (one decode of the week). "home" loads only / (40 loads per
// client; "home-5x-longer" 200, to show the heap does not grow with the
// requests served); "mixed" also opens per-app pages (15 %, every app and
// range) and chart pages (5 %).
func BenchmarkStatusLoad(b *testing.B) {
	w := benchFixture(b)
	base := time.Now()
	decodeWeek(b, w)
	baseline := time.Since(base)
	for _, run := range []struct {
		name, mix string
		perClient int
	}{{"home", "home", 40}, {"home-5x-longer", "home", 200}, {"mixed", "mixed", 40}} {
		b.Run(run.name, func(b *testing.B) {
			for b.Loop() {
				loadRun(b, w, run.mix, run.perClient, baseline)
			}
		})
	}
}

func loadRun(b *testing.B, w *benchWorld, mix string, perClient int, baseline time.Duration) {
	const clients = 50
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	// Sweeps keep arriving.
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(1, 2))
		every(ctx, func() {
			s := chart.Snapshot{Time: time.Now().UTC().Truncate(time.Second), Store: chart.AppStore, Country: "us", Chart: chart.TopFree,
				Category: chart.All, Source: "charts", Complete: true, Depth: 200, Entries: []chart.Entry{{Rank: 1 + rng.IntN(200), AppID: telegramID}}}
			w.d.StatusPage().Snapshot(&s)
		})
	})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before, peak := ms.HeapInuse, ms.HeapInuse
	wg.Go(func() {
		every(ctx, func() {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
		})
	})
	// The clients take gzip, as browsers do, and leave unzipping to
	// themselves: the server's work is what is measured.
	tr := &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	defer tr.CloseIdleConnections()
	lat := make([][]time.Duration, clients)
	var failed atomic.Int64
	var cwg sync.WaitGroup
	for c := range clients {
		cwg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 9))
			for range perClient {
				t0 := time.Now()
				if !load(client, w.srv.URL+loadPath(w, mix, rng)) {
					failed.Add(1)
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	cwg.Wait()
	cancel()
	wg.Wait()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	after := ms.HeapInuse
	all := slices.Concat(lat...)
	slices.Sort(all)
	q := func(f float64) time.Duration { return all[min(len(all)-1, int(f*float64(len(all))))] }
	if n := failed.Load(); n > 0 {
		b.Errorf("%d of %d requests failed", n, len(all))
	}
	b.ReportMetric(float64(q(0.50).Microseconds())/1e3, "p50-ms")
	b.ReportMetric(float64(q(0.95).Microseconds())/1e3, "p95-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1e3, "p99-ms")
	b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
	b.ReportMetric(float64(int64(peak)-int64(before))/1e6, "peak-growth-MB")
	b.ReportMetric(float64(int64(after)-int64(before))/1e6, "kept-growth-MB")
	b.ReportMetric(float64(baseline.Microseconds())/1e3, "baseline-decode-ms")
	b.ReportMetric(float64(q(0.95))/float64(baseline), "p95/baseline")
}

// every calls f every 5 ms until ctx is done.
func every(ctx context.Context, f func()) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			f()
		}
	}
}

// loadPath picks the next page a client opens.
func loadPath(w *benchWorld, mix string, rng *rand.Rand) string {
	if mix != "mixed" {
		return "/"
	}
	switch x := rng.IntN(100); {
	case x < 15:
		wa := w.cfg.Watch[rng.IntN(len(w.cfg.Watch))]
		return "/app/" + wa.Name + "?range=" + []string{"24h", "7d", "30d"}[rng.IntN(3)]
	case x < 20:
		return "/chart/appstore/" + chart.Countries(chart.AppStore)[rng.IntN(175)].Code + "/top-free/all"
	}
	return "/"
}

// load gets a page as a browser would (gzip) and reads it whole.
func load(client *http.Client, url string) bool {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err == nil && resp.StatusCode == http.StatusOK
}
