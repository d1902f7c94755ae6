package main

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/internal/influxtest"
	"github.com/rankpulse/rankpulse/sinks/influx"
)

// world is what every run of one bench invocation shares: the fake stores,
// one real influxd and the rankpulse binary.
type world struct {
	dir    string
	apple  *fakestore.Apple
	play   *fakestore.Play
	fake   *httptest.Server
	influx string // URL, "" without InfluxDB
	stop   func()
	bin    string // rankpulse
	dbs    int
}

// newWorld builds rankpulse, starts the fakes (with latency) and, unless
// influxURL is given or noInflux is set, an influxd of its own (installed
// into .cache/bin on first use, as `make test` does).
func newWorld(ctx context.Context, latency time.Duration, influxURL string, noInflux bool) (*world, error) {
	dir, err := os.MkdirTemp("", "sweepbench-")
	if err != nil {
		return nil, err
	}
	w := &world{dir: dir, stop: func() {}}
	w.apple = fakestore.NewApple(2000)
	w.apple.Latency = latency
	w.play = fakestore.NewPlay(2000)
	w.play.Latency = latency
	w.fake = httptest.NewServer(fakestore.Stores(w.apple, w.play))
	if !noInflux {
		if influxURL == "" {
			bin, err := influxd(ctx)
			if err != nil {
				w.close()
				return nil, err
			}
			srv, err := influxtest.StartServer(bin, filepath.Join(dir, "influxd"))
			if err != nil {
				w.close()
				return nil, err
			}
			w.stop = srv.Stop
			influxURL = srv.URL
		}
		w.influx = influxURL
	}
	// SWEEPBENCH_BIN=path measures another build (an older one, to compare).
	if w.bin = os.Getenv("SWEEPBENCH_BIN"); w.bin != "" {
		return w, nil
	}
	w.bin = filepath.Join(dir, "rankpulse")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", w.bin, "./cmd/rankpulse").CombinedOutput(); err != nil {
		w.close()
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	return w, nil
}

func (w *world) close() {
	w.fake.Close()
	w.stop()
	os.RemoveAll(w.dir)
}

// newDB creates a fresh InfluxDB database for one run.
func (w *world) newDB(ctx context.Context, who string) (string, error) {
	w.dbs++
	db := fmt.Sprintf("%s_%d_%d", who, time.Now().Unix(), w.dbs)
	_, err := influx.V1Query(ctx, w.influx, "", "", `CREATE DATABASE "`+db+`"`)
	return db, err
}

// count returns the points of a measurement's field in db.
func (w *world) count(ctx context.Context, db, measurement, field string) (int, error) {
	res, err := influx.V1Query(ctx, w.influx, "", db, fmt.Sprintf(`SELECT count(%q) FROM %q`, field, measurement))
	if err != nil {
		return 0, err
	}
	v := res.Values()
	if len(v) == 0 || len(v[0]) < 2 {
		return 0, nil
	}
	var n int
	_, err = fmt.Sscan(fmt.Sprint(v[0][1]), &n)
	return n, err
}

// sweepSpec is one sweep's shape: which charts, from which sources, how
// paced.
type sweepSpec struct {
	countries   []string
	categories  []string
	depth       int
	sources     string // "rss" or "" (the defaults: charts, then rss, marketing)
	rate        float64
	concurrency int
}

// appStoreGenres are the categories a scaled sweep adds after "all".
var appStoreGenres = []string{"6005", "6014", "6016", "6017", "6000", "6002", "6007", "6015", "6012", "6023", "6013", "6020"}

// scaled returns a spec of about n charts: 3 charts × c categories × k
// countries, with k ≤ 175 and as few categories as fit.
func scaled(n int) ([]string, []string) {
	all := chart.Countries(chart.AppStore)
	c := int(math.Ceil(float64(n) / float64(3*len(all))))
	k := int(math.Ceil(float64(n) / float64(3*c)))
	cats := append([]string{chart.All}, appStoreGenres[:c-1]...)
	var ccs []string
	for _, cc := range all[:min(k, len(all))] {
		ccs = append(ccs, cc.Code)
	}
	return ccs, cats
}

func (s sweepSpec) charts() int { return len(s.countries) * 3 * len(s.categories) }

func quoteAll(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// rankpulseConfig writes a config for one run and returns its path.
func (w *world) rankpulseConfig(run string, s sweepSpec, db string) (string, error) {
	dir := filepath.Join(w.dir, run)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	sources := ""
	if s.sources != "" {
		sources = fmt.Sprintf("\n    sources: [%s]", s.sources)
	}
	sink := ""
	if db != "" {
		sink = fmt.Sprintf("sinks:\n  influxdb: {url: %s, bucket: %s}\n", w.influx, db)
	}
	cfg := fmt.Sprintf(`data_dir: %s
listen: ""
log: {level: warn}
stores:
  appstore:
    endpoints: {itunes: %[2]s, marketing: %[2]s}%[3]s
    rate: %[4]g
    concurrency: %[5]d
jobs:
  - name: bench
    stores: [appstore]
    countries: [%[6]s]
    charts: [top-free, top-paid, top-grossing]
    categories: {appstore: [%[7]s]}
    depth: %[8]d
%[9]s`, filepath.Join(dir, "data"), w.fake.URL, sources, s.rate, s.concurrency, quoteAll(s.countries), quoteAll(s.categories), s.depth, sink)
	path := filepath.Join(dir, "rankpulse.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o644)
}

// usage is what one child process cost.
type usage struct {
	cpu  time.Duration // user + sys
	rss  float64       // peak (VmHWM), MiB
	wall time.Duration
}

// runChild runs cmd to the end and returns its CPU (rusage) and peak RSS.
// The peak is the child's VmHWM, read from /proc every 10 ms: the rusage
// maxrss of a child of a Go program starts at the parent's RSS (os/exec
// forks with CLONE_VM|CLONE_VFORK, and the kernel records the shared mm's
// high-water mark at exec), and this bench holds the fake stores.
func runChild(cmd *exec.Cmd) (usage, error) {
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return usage{}, err
	}
	stop := make(chan struct{})
	peak := make(chan float64, 1)
	go func() {
		status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
		hwm := 0.0
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if v, ok := vmHWM(status); ok {
				hwm = max(hwm, v)
			}
			select {
			case <-stop:
				peak <- hwm
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	wall := time.Since(start)
	close(stop)
	hwm := <-peak
	if err != nil {
		return usage{}, fmt.Errorf("%s: %w\n%s", filepath.Base(cmd.Path), err, stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" && os.Getenv("SWEEPBENCH_VERBOSE") != "" {
		fmt.Fprintln(os.Stderr, s)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return usage{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), rss: hwm, wall: wall}, nil
}

// vmHWM reads a process's peak RSS in MiB.
func vmHWM(status string) (float64, bool) {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb); err == nil {
				return kb / 1024, true
			}
		}
	}
	return 0, false
}

// runRankpulse runs one `rankpulse run --once` sweep of s into a fresh
// database (none with noInflux) and returns its cost and points.
func (w *world) runRankpulse(ctx context.Context, run string, s sweepSpec) (usage, int, error) {
	db := ""
	if w.influx != "" {
		var err error
		if db, err = w.newDB(ctx, "rankpulse"); err != nil {
			return usage{}, 0, err
		}
	}
	cfg, err := w.rankpulseConfig(run, s, db)
	if err != nil {
		return usage{}, 0, err
	}
	cmd := exec.CommandContext(ctx, w.bin, "run", "--once", "--config", cfg)
	cmd.Env = os.Environ()
	if p := os.Getenv("SWEEPBENCH_CPUPROFILE"); p != "" {
		cmd.Env = append(cmd.Env, "RANKPULSE_CPUPROFILE="+p)
	}
	if os.Getenv("SWEEPBENCH_GCTRACE") != "" {
		cmd.Env = append(cmd.Env, "GODEBUG=gctrace=1")
	}
	if p := os.Getenv("SWEEPBENCH_MEMPROFILE"); p != "" {
		cmd.Env = append(cmd.Env, "RANKPULSE_MEMPROFILE="+p)
	}
	u, err := runChild(cmd)
	if err != nil || db == "" {
		return u, 0, err
	}
	n, err := w.count(ctx, db, "app_rank", "rank")
	return u, n, err
}

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}
