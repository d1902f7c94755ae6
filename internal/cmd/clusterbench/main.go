// Command clusterbench measures a rankpulse cluster on loopback: for each
// N of -instances (default 1, 2, 4) it runs N real `rankpulse run --once`
// processes sharing a fresh database of a real PostgreSQL 15 (started here
// with initdb unless RANKPULSE_PG_URL is set), each at its own App Store
// rate, against the fake stores with added latency, all sweeping one slot
// of the same job by claiming:
//
//	go run ./internal/cmd/clusterbench [-instances 1,2,4] [-rate 8] [-countries 40] [-latency 50ms]
//
// For each N it reports the slot's wall time (from the launch until every
// fetch is done) against its floor (requests ÷ (N × rate)), the CPU
// seconds of the rankpulse processes and of PostgreSQL per 1,000 charts,
// the busiest second the store saw, and what the slot wrote to the
// database (bytes per snapshot in the tables, WAL bytes per snapshot) —
// the figures the README's simulation note extrapolates from.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/internal/pgtest"
	"github.com/rankpulse/rankpulse/scheduler"
	"github.com/rankpulse/rankpulse/storage/postgres"
)

func main() {
	instances := flag.String("instances", "1,2,4", "instance counts to run, in order")
	rate := flag.Float64("rate", 8, "App Store rate of each instance (requests per second)")
	concurrency := flag.Int("concurrency", 4, "App Store concurrency of each instance")
	countries := flag.Int("countries", 40, "storefronts in the job (× 3 charts × 2 categories)")
	latency := flag.Duration("latency", 50*time.Millisecond, "fake store latency")
	flag.Parse()
	var ns []int
	for _, f := range strings.Split(*instances, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "clusterbench: -instances %q: want counts like 1,2,4\n", *instances)
			os.Exit(2)
		}
		ns = append(ns, n)
	}
	if err := bench(ns, *rate, *concurrency, *countries, *latency); err != nil {
		fmt.Fprintln(os.Stderr, "clusterbench:", err)
		os.Exit(1)
	}
}

type result struct {
	n                 int
	charts, requests  int
	wall, exited      time.Duration
	floor             time.Duration
	cpu, pgCPU        time.Duration
	maxPerSecond      int
	tableBytes, wal   int64
	snapBytes         int64
	embedded          bool
	perInstance       map[string]int
	evaluated, alerts int
}

func bench(ns []int, rate float64, concurrency, nCountries int, latency time.Duration) error {
	dir, err := os.MkdirTemp("", "clusterbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	base := os.Getenv(pgtest.EnvURL)
	pgPID := 0
	if base == "" {
		bin := pgtest.BinDir()
		if bin == "" {
			return fmt.Errorf("no PostgreSQL: install postgresql-15 or set %s", pgtest.EnvURL)
		}
		pgDir, err := os.MkdirTemp("", "clusterbench-pg-") // traversable by the postgres user
		if err != nil {
			return err
		}
		defer os.RemoveAll(pgDir)
		srv, err := pgtest.StartServer(bin, pgDir)
		if err != nil {
			return err
		}
		defer srv.Stop()
		base, pgPID = srv.URL, srv.PID()
	}
	bin := filepath.Join(dir, "rankpulse")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/rankpulse").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	var all []string
	for _, c := range chart.Countries(chart.AppStore) {
		all = append(all, c.Code)
	}
	if nCountries > len(all) {
		nCountries = len(all)
	}
	countries := all[:nCountries]
	fmt.Printf("job: App Store, %d storefronts × 3 charts × [all, 6005] = %d charts, depth 200; each instance rate %g/s, concurrency %d; fake latency %s\n",
		nCountries, nCountries*6, rate, concurrency, latency)
	if pgPID == 0 {
		fmt.Println("(PostgreSQL from RANKPULSE_PG_URL: its CPU is not measured)")
	}
	var results []result
	var last string
	base0, err := runEmbedded(bin, filepath.Join(dir, "embedded"), rate, concurrency, countries, latency)
	if err != nil {
		return fmt.Errorf("the embedded baseline: %w", err)
	}
	results = append(results, base0)
	for _, n := range ns {
		dbURL, err := createDB(context.Background(), base, fmt.Sprintf("clusterbench_%d_%d", n, time.Now().UnixNano()))
		if err != nil {
			return err
		}
		r, err := runOnce(dbURL, "@every 24h", bin, filepath.Join(dir, fmt.Sprintf("n%d", n)), n, rate, concurrency, countries, latency, pgPID)
		if err != nil {
			return fmt.Errorf("%d instances: %w", n, err)
		}
		results = append(results, r)
		last = dbURL
	}
	// A second slot on the last database: its apps are interned already,
	// as in a cluster that has run for a while.
	n := ns[len(ns)-1]
	steady, err := runOnce(last, "@every 1h", bin, filepath.Join(dir, fmt.Sprintf("n%d-2", n)), n, rate, concurrency, countries, latency, pgPID)
	if err != nil {
		return fmt.Errorf("%d instances, second slot: %w", n, err)
	}
	fmt.Println()
	fmt.Printf("%-9s %6s %8s %9s %9s %10s %12s %10s %12s %9s %11s %11s\n", "N", "charts", "requests", "wall", "floor", "wall/floor", "cpu/1k chart", "cpu ratio", "pg cpu/1k", "max req/s", "B/snap row", "WAL B/snap")
	for _, r := range results {
		pg, label := "-", strconv.Itoa(r.n)
		if r.embedded {
			label = "1 sqlite"
		} else if pgPID != 0 {
			pg = fmt.Sprintf("%.2fs", r.pgCPU.Seconds()*1000/float64(r.charts))
		}
		fmt.Printf("%-9s %6d %8d %9s %9s %10.3f %11.2fs %10.2f %12s %9d %11d %11d\n", label, r.charts, r.requests, r.wall.Round(time.Millisecond), r.floor.Round(time.Millisecond),
			r.wall.Seconds()/r.floor.Seconds(), r.cpu.Seconds()*1000/float64(r.charts), (r.cpu.Seconds()/float64(r.charts))/(base0.cpu.Seconds()/float64(base0.charts)),
			pg, r.maxPerSecond, r.snapBytes/int64(max(r.charts, 1)), r.wal/int64(max(r.charts, 1)))
	}
	fmt.Println("(cpu ratio: rankpulse CPU per chart against the single embedded-SQLite instance of this run; B/snap row: the snapshots table with its indexes per chart stored;")
	fmt.Println(" WAL B/snap: PostgreSQL WAL written per chart during the slot, interning of new apps, fetch tasks and evaluation included)")
	fmt.Printf("second slot, N=%d, apps already interned: %d charts, wall/floor %.3f, WAL %d B/snap, snapshots table %d B/row\n\n",
		n, steady.charts, steady.wall.Seconds()/steady.floor.Seconds(), steady.wal/int64(max(steady.charts, 1)), steady.snapBytes/int64(max(2*steady.charts, 1)))
	for _, r := range results[1:] {
		fmt.Printf("N=%d: charts per instance %v; all processes exited after %s; %d charts evaluated\n", r.n, r.perInstance, r.exited.Round(time.Millisecond), r.evaluated)
	}
	return nil
}

func runOnce(dbURL, schedule, bin, dir string, n int, rate float64, concurrency int, countries []string, latency time.Duration, pgPID int) (result, error) {
	ctx := context.Background()
	res := result{n: n, perInstance: map[string]int{}}
	sched, err := scheduler.ParseSchedule(schedule)
	if err != nil {
		return res, err
	}
	slot := scheduler.Prev(sched, time.Now()) // the slot every instance's --once sweeps
	db, err := postgres.Open(ctx, dbURL)      // the schema, before the instances race for it
	if err != nil {
		return res, err
	}
	defer db.Close()
	apple := fakestore.NewApple(2000)
	apple.Latency = latency
	srv := httptest.NewServer(apple)
	defer srv.Close()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return res, err
	}
	defer conn.Close(ctx)
	var wal0 string
	conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&wal0)
	pg0 := processCPU(pgPID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	var cmds []*exec.Cmd
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("i%d", i+1)
		cfg := fmt.Sprintf(`data_dir: %s
listen: ""
log: {level: warn}
storage: {url: "%s"}
cluster: {name: %s}
stores:
  appstore:
    endpoints: {itunes: %s, marketing: %s}
    rate: %g
    concurrency: %d
jobs:
  - name: bench
    schedule: "%s"
    stores: [appstore]
    countries: [%s]
    charts: [top-free, top-paid, top-grossing]
    categories: {appstore: [all, "6005"]}
    depth: 200
`, filepath.Join(dir, name), dbURL, name, srv.URL, srv.URL, rate, concurrency, schedule, strings.Join(countries, ", "))
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			return res, err
		}
		cmd := exec.Command(bin, "run", "--once", "--config", path)
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			return res, err
		}
		defer logf.Close()
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return res, err
		}
		cmds = append(cmds, cmd)
	}
	want := len(countries) * 6
	exited := make(chan int, len(cmds))
	for i, cmd := range cmds {
		go func() { cmd.Wait(); exited <- i }()
	}
	// The slot is done when every fetch is.
	for {
		var done int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM fetch_tasks WHERE state = 'done' AND slot = $1`, slot.Unix()).Scan(&done); err != nil {
			return res, err
		}
		if done == want {
			res.wall = time.Since(start)
			break
		}
		select {
		case i := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("i%d.log", i+1)))
			return res, fmt.Errorf("instance %d exited with %d of %d fetches done: %v\n%s", i+1, done, want, cmds[i].ProcessState, log)
		case <-time.After(20 * time.Millisecond):
		}
	}
	for range cmds {
		<-exited
	}
	for i, cmd := range cmds {
		var err error
		if !cmd.ProcessState.Success() {
			err = &exec.ExitError{ProcessState: cmd.ProcessState}
		}
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
			err = nil // some charts incomplete: counted below
		}
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("i%d.log", i+1)))
			return res, fmt.Errorf("instance %d: %v\n%s", i+1, err, log)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		res.cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	res.exited = time.Since(start)
	time.Sleep(200 * time.Millisecond) // the backends of the exited instances are reaped
	res.pgCPU = processCPU(pgPID) - pg0
	hits := apple.Hits()
	res.requests = len(hits)
	res.maxPerSecond = apple.MaxPerSecond()
	res.floor = time.Duration(float64(res.requests) / (float64(n) * rate) * float64(time.Second))
	rows, err := conn.Query(ctx, `SELECT done_by, count(*) FROM fetch_tasks WHERE state = 'done' AND slot = $1 GROUP BY done_by`, slot.Unix())
	if err != nil {
		return res, err
	}
	for rows.Next() {
		var by string
		var c int
		rows.Scan(&by, &c)
		res.perInstance[by] = c
		res.charts += c
	}
	rows.Close()
	conn.QueryRow(ctx, `SELECT count(*) FROM snapshots WHERE evaluated AND slot = $1`, slot.Unix()).Scan(&res.evaluated)
	conn.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint`, wal0).Scan(&res.wal)
	if res.tableBytes, err = db.TableBytes(ctx); err != nil {
		return res, err
	}
	res.snapBytes, err = db.SnapshotBytes(ctx)
	return res, err
}

// runEmbedded is the baseline: one rankpulse with the embedded SQLite
// store sweeping the same job with `run --once`.
func runEmbedded(bin, dir string, rate float64, concurrency int, countries []string, latency time.Duration) (result, error) {
	res := result{n: 1, embedded: true}
	apple := fakestore.NewApple(2000)
	apple.Latency = latency
	srv := httptest.NewServer(apple)
	defer srv.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	cfg := fmt.Sprintf(`data_dir: %s
listen: ""
log: {level: warn}
stores:
  appstore:
    endpoints: {itunes: %s, marketing: %s}
    rate: %g
    concurrency: %d
jobs:
  - name: bench
    stores: [appstore]
    countries: [%s]
    charts: [top-free, top-paid, top-grossing]
    categories: {appstore: [all, "6005"]}
    depth: 200
`, filepath.Join(dir, "data"), srv.URL, srv.URL, rate, concurrency, strings.Join(countries, ", "))
	path := filepath.Join(dir, "rankpulse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return res, err
	}
	cmd := exec.Command(bin, "run", "--once", "--config", path)
	out, err := os.Create(filepath.Join(dir, "rankpulse.log"))
	if err != nil {
		return res, err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return res, fmt.Errorf("rankpulse run --once: %w (log in %s)", err, out.Name())
	}
	res.wall = time.Since(start)
	res.exited = res.wall
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	res.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	res.requests = len(apple.Hits())
	res.maxPerSecond = apple.MaxPerSecond()
	res.charts = len(countries) * 6
	res.floor = time.Duration(float64(res.requests) / rate * float64(time.Second))
	return res, nil
}

func createDB(ctx context.Context, base, name string) (string, error) {
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		return "", err
	}
	u := base[:strings.LastIndex(base, "/")+1] + name
	if i := strings.Index(base[strings.LastIndex(base, "/"):], "?"); i >= 0 {
		u += base[strings.LastIndex(base, "/")+i:]
	}
	return u, nil
}

// processCPU is the CPU time of a process and its reaped children (the
// postmaster's include its exited backends), from /proc.
func processCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	// After the command: state is field 3; utime, stime, cutime, cstime are 14–17.
	var ticks int64
	for _, i := range []int{11, 12, 13, 14} {
		v, _ := strconv.ParseInt(fields[i], 10, 64)
		ticks += v
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}
