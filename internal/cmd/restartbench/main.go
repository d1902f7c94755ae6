// Command restartbench measures how long a restart of rankpulse takes to
// answer /healthz and to be ready (/readyz 200, the alert engine restored)
// over a large embedded store, through the real binary:
//
//	go run ./internal/cmd/restartbench [-charts 2000] [-days 9] [-dir .cache/restartbench]
//
// It builds the store once (cached in -dir): -charts charts read hourly for
// -days days, 200 entries each, the watch list's messengers among them, every
// slot evaluated. Then it starts `rankpulse run` three times on copies of it:
// with no checkpoint of the alert engine (what a store written before
// checkpoints looks like: the engine replays its whole horizon), with the
// checkpoint a clean stop writes, and after a crash with the last periodic
// checkpoint ten minutes of evaluations behind.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/storage"
)

func main() {
	charts := flag.Int("charts", 2000, "charts in the store")
	days := flag.Int("days", 9, "days of hourly history")
	dir := flag.String("dir", filepath.Join(".cache", "restartbench"), "where the store is built and cached")
	flag.Parse()
	if err := run(*charts, *days, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "restartbench:", err)
		os.Exit(1)
	}
}

func run(charts, days int, dir string) error {
	ctx := context.Background()
	bin := filepath.Join(dir, "rankpulse")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/rankpulse").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	base := filepath.Join(dir, fmt.Sprintf("store-%dc-%dd", charts, days))
	if _, err := os.Stat(filepath.Join(base, storage.FileName)); err != nil {
		fmt.Printf("building the store: %d charts × %d hourly slots …\n", charts, days*24)
		start := time.Now()
		if err := build(ctx, base, charts, days); err != nil {
			return err
		}
		fmt.Printf("built in %s\n", time.Since(start).Round(time.Second))
	}
	st, err := os.Stat(filepath.Join(base, storage.FileName))
	if err != nil {
		return err
	}
	fmt.Printf("store: %d charts × %d slots = %d snapshots, %.0f MiB\n\n", charts, days*24, charts*days*24, float64(st.Size())/(1<<20))
	fmt.Printf("%-44s %12s %12s\n", "start", "/healthz", "/readyz")
	for _, c := range []struct {
		name  string
		state func(ctx context.Context, data string) error
	}{
		{"no checkpoint (replay of the horizon)", dropState},
		{"checkpoint of a clean stop", func(context.Context, string) error { return nil }},
		{"crash, checkpoint 10 evaluations behind", rewindState(10)},
	} {
		data := filepath.Join(dir, "run")
		os.RemoveAll(data)
		if err := copyDir(base, data); err != nil {
			return err
		}
		if err := c.state(ctx, data); err != nil {
			return err
		}
		health, ready, err := start(bin, data)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		fmt.Printf("%-44s %12s %12s\n", c.name, health.Round(time.Millisecond), ready.Round(time.Millisecond))
	}
	return nil
}

// build writes the store: every slot's charts in one transaction, then
// evaluated, and the engine state of a clean stop (by running the daemon
// once over it).
func build(ctx context.Context, dir string, charts, days int) error {
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	db, err := storage.Open(ctx, tmp)
	if err != nil {
		return err
	}
	keys := chartKeys(charts)
	watched := []string{}
	for _, w := range config.DefaultWatch {
		watched = append(watched, w.AppStore)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rankings := make([][]string, len(keys))
	for i := range rankings {
		rankings[i] = ranking(rng, 2000, watched)
	}
	end := time.Now().UTC().Truncate(time.Hour)
	for h := range days * 24 {
		at := end.Add(time.Duration(h-days*24) * time.Hour)
		snaps := make([]chart.Snapshot, len(keys))
		for i, k := range keys {
			shuffle(rng, rankings[i])
			s := chart.Snapshot{Time: at, Store: k.Store, Country: k.Country, Chart: k.Chart, Category: k.Category, Source: "charts", Complete: true, Depth: 200}
			for r, id := range rankings[i][:200] {
				s.Entries = append(s.Entries, chart.Entry{Rank: r + 1, AppID: id, Name: "App " + id})
			}
			snaps[i] = s
		}
		if err := db.SaveSnapshots(ctx, snaps); err != nil {
			return err
		}
		if err := db.WithTx(ctx, func(tx *storage.Tx) error {
			_, err := tx.MarkEvaluated(ctx, at, keys)
			return err
		}); err != nil {
			return err
		}
	}
	db.Close()
	// A clean stop of the daemon over the store leaves the checkpoint.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	bin := filepath.Join(filepath.Dir(dir), "rankpulse")
	if _, _, err := start(bin, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// chartKeys are n App Store charts: every storefront × three charts ×
// as many genres as it takes.
func chartKeys(n int) []chart.Key {
	genres := []string{"all", "6005", "6014", "6000", "6007", "6016", "6017", "6012"}
	var out []chart.Key
	for _, g := range genres {
		for _, c := range chart.Charts {
			for _, cc := range chart.AppStoreCountries {
				if len(out) == n {
					return out
				}
				out = append(out, chart.Key{Store: chart.AppStore, Country: cc.Code, Chart: c, Category: g})
			}
		}
	}
	return out
}

func ranking(rng *rand.Rand, pool int, watched []string) []string {
	ids := make([]string, pool)
	for i := range ids {
		ids[i] = strconv.Itoa(1500000000 + i)
	}
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	for i, w := range watched { // the watch list is in every chart
		ids[(i*13)%190] = w
	}
	return ids
}

// shuffle makes an hour's small moves: some neighbours swap places.
func shuffle(rng *rand.Rand, ids []string) {
	for range 20 {
		i := rng.IntN(len(ids) - 1)
		ids[i], ids[i+1] = ids[i+1], ids[i]
	}
}

func dropState(ctx context.Context, data string) error {
	return withDB(ctx, data, func(db *storage.DB) error {
		_, err := db.SQL().ExecContext(ctx, `DELETE FROM engine_state`)
		return err
	})
}

// rewindState leaves the checkpoint n evaluations behind the store, as a
// crash between two checkpoints does: the engine replays those n.
func rewindState(n int64) func(context.Context, string) error {
	return func(ctx context.Context, data string) error {
		return withDB(ctx, data, func(db *storage.DB) error {
			_, err := db.SQL().ExecContext(ctx, `UPDATE engine_state SET seq = seq - ?`, n)
			return err
		})
	}
}

func withDB(ctx context.Context, data string, fn func(*storage.DB) error) error {
	db, err := storage.Open(ctx, data)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db)
}

// start runs `rankpulse run` over data until /readyz answers 200, stops it
// with SIGTERM and returns how long /healthz and /readyz took to answer.
func start(bin, data string) (health, ready time.Duration, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(data, "bench.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir: %s
listen: %s
jobs:
  - name: idle
    schedule: "0 0 1 1 *"
    stores: [appstore]
    countries: [us]
    catch_up: false
`, data, addr)), 0o644); err != nil {
		return 0, 0, err
	}
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	client := &http.Client{Timeout: time.Second}
	get := func(path string) int {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for deadline := time.Now().Add(15 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if health == 0 && get("/healthz") == http.StatusOK {
			health = time.Since(began)
		}
		if health != 0 && get("/readyz") == http.StatusOK {
			return health, time.Since(began), nil
		}
	}
	return health, 0, fmt.Errorf("not ready within 15 minutes")
}

func copyDir(from, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		in, err := os.Open(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		out, err := os.Create(filepath.Join(to, e.Name()))
		if err == nil {
			_, err = io.Copy(out, in)
			out.Close()
		}
		in.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
