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
	for _, n := range ns {
		r, err := runOnce(base, bin, filepath.Join(dir, fmt.Sprintf("n%d", n)), n, rate, concurrency, countries, latency, pgPID)
		if err != nil {
			return fmt.Errorf("%d instances: %w", n, err)
		}
		results = append(results, r)
	}
	fmt.Println()
	fmt.Printf("%-3s %6s %8s %9s %9s %10s %12s %12s %8s %9s %9s\n", "N", "charts", "requests", "wall", "floor", "wall/floor", "cpu/1k chart", "pg cpu/1k", "max req/s", "B/snap", "WAL B/snap")
	for _, r := range results {
		pg := "-"
		if pgPID != 0 {
			pg = fmt.Sprintf("%.2fs", r.pgCPU.Seconds()*1000/float64(r.charts))
		}
		fmt.Printf("%-3d %6d %8d %9s %9s %10.3f %11.2fs %12s %8d %9d %9d\n", r.n, r.charts, r.requests, r.wall.Round(time.Millisecond), r.floor.Round(time.Millisecond),
			r.wall.Seconds()/r.floor.Seconds(), r.cpu.Seconds()*1000/float64(r.charts), pg, r.maxPerSecond, r.tableBytes/int64(max(r.charts, 1)), r.wal/int64(max(r.charts, 1)))
	}
	fmt.Println()
	for _, r := range results {
		fmt.Printf("N=%d: charts per instance %v; all processes exited after %s; %d charts evaluated\n", r.n, r.perInstance, r.exited.Round(time.Millisecond), r.evaluated)
	}
	return nil
}

func runOnce(base, bin, dir string, n int, rate float64, concurrency int, countries []string, latency time.Duration, pgPID int) (result, error) {
	ctx := context.Background()
	res := result{n: n, perInstance: map[string]int{}}
	dbURL, err := createDB(ctx, base, fmt.Sprintf("clusterbench_%d_%d", n, time.Now().UnixNano()))
	if err != nil {
		return res, err
	}
	db, err := postgres.Open(ctx, dbURL) // the schema, before the instances race for it
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
    schedule: "@every 24h"
    stores: [appstore]
    countries: [%s]
    charts: [top-free, top-paid, top-grossing]
    categories: {appstore: [all, "6005"]}
    depth: 200
`, filepath.Join(dir, name), dbURL, name, srv.URL, srv.URL, rate, concurrency, strings.Join(countries, ", "))
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
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM fetch_tasks WHERE state = 'done'`).Scan(&done); err != nil {
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
	rows, err := conn.Query(ctx, `SELECT done_by, count(*) FROM fetch_tasks WHERE state = 'done' GROUP BY done_by`)
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
	conn.QueryRow(ctx, `SELECT count(*) FROM snapshots WHERE evaluated`).Scan(&res.evaluated)
	conn.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint`, wal0).Scan(&res.wal)
	res.tableBytes, err = db.TableBytes(ctx)
	return res, err
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
