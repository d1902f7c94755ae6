package storage_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/storage"
)

// churningCharts simulates hourly sweeps: each chart keeps most of its apps
// from one hour to the next, a few swap places and a couple are replaced.
type churningCharts struct {
	rng    *rand.Rand
	charts [][]string
	nextID int
}

func newChurningCharts(n int) *churningCharts {
	c := &churningCharts{rng: rand.New(rand.NewPCG(1, 2)), nextID: 1400000000}
	for range n {
		var ids []string
		for range 200 {
			ids = append(ids, strconv.Itoa(c.rng.IntN(20000)+1400000000))
		}
		c.charts = append(c.charts, dedupe(ids))
	}
	return c
}

func dedupe(ids []string) []string {
	seen := map[string]bool{}
	out := ids[:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func (c *churningCharts) hour(at time.Time) []chart.Snapshot {
	out := make([]chart.Snapshot, len(c.charts))
	for i, ids := range c.charts {
		for range 20 { // reorder
			j := c.rng.IntN(len(ids) - 1)
			ids[j], ids[j+1] = ids[j+1], ids[j]
		}
		for range 2 { // an app leaves, another enters
			ids[c.rng.IntN(len(ids))] = strconv.Itoa(c.rng.IntN(20000) + 1400000000)
		}
		c.charts[i] = dedupe(ids)
		s := chart.Snapshot{Time: at, Store: "appstore", Country: chart.AppStoreCountries[i%175].Code, Chart: chart.Charts[i/175%3], Category: strconv.Itoa(6000 + i/525),
			Source: "charts", Complete: true, Depth: 200, DurationMS: 300}
		for r, id := range c.charts[i] {
			s.Entries = append(s.Entries, chart.Entry{Rank: r + 1, AppID: id, Name: "Some App Name " + id, Developer: "Some Developer Ltd " + id[len(id)-3:]})
		}
		s.Depth = len(s.Entries)
		out[i] = s
	}
	return out
}

// TestHourlySweepsStayCompact stores three days of hourly sweeps and
// measures how much each snapshot adds once the app table has filled (the
// growth that matters over 90 days of retention), against a naive
// one-row-per-entry table holding the same facts, written in the same run.
func TestHourlySweepsStayCompact(t *testing.T) {
	if testing.Short() {
		t.Skip("writes ~700k entries")
	}
	const charts, hours, warmup = 20, 48, 24
	dir := t.TempDir()
	db := open(t, dir)
	naivePath := filepath.Join(dir, "naive.db")
	naive := openNaive(t, naivePath)
	gen := newChurningCharts(charts)
	t0 := time.Date(2021, 1, 7, 0, 0, 0, 0, time.UTC)
	size := func() (ours, naiveSize int64) {
		must(t, db.Checkpoint(context.Background()))
		st, err := db.Stats(context.Background())
		must(t, err)
		_, err = naive.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		must(t, err)
		info, err := os.Stat(naivePath)
		must(t, err)
		return st.Bytes, info.Size()
	}
	var ours0, naive0 int64
	var jsonBytes int64
	for h := range hours {
		if h == warmup {
			ours0, naive0 = size()
		}
		sweep := gen.hour(t0.Add(time.Duration(h) * time.Hour))
		must(t, db.SaveSnapshots(context.Background(), sweep))
		saveNaive(t, naive, sweep)
		if h >= warmup {
			for _, s := range sweep {
				b, _ := json.Marshal(s)
				jsonBytes += int64(len(b)) + 1
			}
		}
	}
	ours1, naive1 := size()
	naive.Close()
	n := float64(charts * (hours - warmup))
	per := float64(ours1-ours0) / n
	naivePer := float64(naive1-naive0) / n
	t.Logf("each 200-entry snapshot adds %.0f bytes (all: %.0f bytes/snapshot over %d); naive row-per-entry table adds %.0f (%.1f× more); snapshot JSONL is %.0f (%.1f× more)",
		per, float64(ours1)/float64(charts*hours), charts*hours, naivePer, naivePer/per, float64(jsonBytes)/n, float64(jsonBytes)/n/per)
	if per > 1024 {
		t.Fatalf("each 200-entry snapshot adds %.0f bytes: the store is bloating", per)
	}
	if naivePer < 10*per {
		t.Fatalf("the naive layout grows only %.1f× faster", naivePer/per)
	}
}

func openNaive(t *testing.T, path string) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	must(t, err)
	_, err = db.Exec(`CREATE TABLE ranks (slot INTEGER, store TEXT, country TEXT, chart TEXT, category TEXT, app_id TEXT, name TEXT, developer TEXT, rank INTEGER);
		CREATE INDEX ranks_by_app ON ranks (app_id, slot)`)
	must(t, err)
	return db
}

func saveNaive(t *testing.T, db *sql.DB, snaps []chart.Snapshot) {
	tx, err := db.Begin()
	must(t, err)
	stmt, err := tx.Prepare(`INSERT INTO ranks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	must(t, err)
	for _, s := range snaps {
		for _, e := range s.Entries {
			_, err := stmt.Exec(s.Time.Unix(), s.Store, s.Country, s.Chart, s.Category, e.AppID, e.Name, e.Developer, e.Rank)
			must(t, err)
		}
	}
	must(t, tx.Commit())
}

// BenchmarkSaveSweep stores a 100-chart hourly sweep per iteration.
func BenchmarkSaveSweep(b *testing.B) {
	db := open(b, b.TempDir())
	gen := newChurningCharts(100)
	t0 := time.Date(2021, 1, 7, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for i := range b.N {
		sweep := gen.hour(t0.Add(time.Duration(i) * time.Hour))
		if err := db.SaveSnapshots(context.Background(), sweep); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*100), "µs/snapshot")
}

// BenchmarkReadSnapshots decodes stored 200-entry snapshots.
func BenchmarkReadSnapshots(b *testing.B) {
	db := open(b, b.TempDir())
	gen := newChurningCharts(100)
	t0 := time.Date(2021, 1, 7, 0, 0, 0, 0, time.UTC)
	for h := range 10 {
		must(b, db.SaveSnapshots(context.Background(), gen.hour(t0.Add(time.Duration(h)*time.Hour))))
	}
	b.ResetTimer()
	n := 0
	for range b.N {
		must(b, db.Snapshots(context.Background(), storage.Query{}, func(chart.Snapshot) error { n++; return nil }))
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n), "µs/snapshot")
}
