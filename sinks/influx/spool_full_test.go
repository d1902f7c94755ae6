package influx_test

// The spool on a full disk (data_dir on a small tmpfs that fills up; root,
// see internal/tmpfs): with InfluxDB down too, no batch is lost — they are
// held in memory, then written to the spool once space returns, or sent
// from memory once InfluxDB is back.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rankpulse/rankpulse/internal/influxtest"
	"github.com/rankpulse/rankpulse/internal/syncbuf"
	"github.com/rankpulse/rankpulse/internal/tmpfs"
	"github.com/rankpulse/rankpulse/metrics"
	"github.com/rankpulse/rankpulse/sinks/influx"
)

func spoolFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".lp.gz") {
			n++
		}
	}
	return n
}

func TestAFullDiskLosesNoSpooledBatch(t *testing.T) {
	mnt := tmpfs.Mount(t, 4<<20)
	srv := influxtest.Start(t)
	db := srv.CreateDB(t)
	srv.Stop()
	ctx := context.Background()
	m := metrics.New()
	var logs syncbuf.Buffer
	dir := filepath.Join(mnt, "spool")
	s, err := influx.New(influx.Config{URL: srv.URL, Bucket: db, Timeout: 2 * time.Second, SpoolDir: dir, Watch: watch,
		RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond}, slog.New(slog.NewTextHandler(&logs, nil)), m)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	free := tmpfs.Fill(t, mnt)
	at := func(i int) time.Time { return slot.Add(time.Duration(i) * time.Hour) }
	for i := range 3 {
		if err := s.Write(ctx, batch(at(i))); err != nil {
			t.Fatalf("write %d with InfluxDB down and the disk full: %v", i, err)
		}
	}
	if b, p := s.Pending(); b != 3 || p != 15 || spoolFiles(t, dir) != 0 {
		t.Fatalf("%d batches, %d points pending, %d files; want 3, 15, none on disk", b, p, spoolFiles(t, dir))
	}
	if testutil.ToFloat64(m.SpoolMemory.WithLabelValues("influxdb")) == 0 {
		t.Error("rankpulse_spool_memory_bytes is 0 with batches held in memory")
	}
	if !strings.Contains(logs.String(), "batches are held in memory") {
		t.Errorf("nothing logged about the spool held in memory:\n%s", logs.String())
	}
	// Space returns: the next batch goes to disk behind the held ones.
	free()
	if err := s.Write(ctx, batch(at(3))); err != nil {
		t.Fatal(err)
	}
	if n := spoolFiles(t, dir); n != 4 {
		t.Fatalf("%d spool files once space returned, want 4", n)
	}
	// Full again; InfluxDB comes back before the disk does.
	free = tmpfs.Fill(t, mnt)
	defer free()
	for i := 4; i < 6; i++ {
		if err := s.Write(ctx, batch(at(i))); err != nil {
			t.Fatal(err)
		}
	}
	srv.Restart(t)
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Pending(); b != 0 {
		t.Fatalf("%d batches still pending after the flush", b)
	}
	got := srv.Query(t, db, `SELECT count("entries") FROM "chart_scrape"`).Values()
	if fmt.Sprint(got[0][1]) != "12" {
		t.Fatalf("%v chart_scrape points, want 12 (6 batches × 2)", got[0][1])
	}
	got = srv.Query(t, db, `SELECT count("rank") FROM "app_rank"`).Values()
	if fmt.Sprint(got[0][1]) != "18" {
		t.Fatalf("%v app_rank points, want 18", got[0][1])
	}
	if n := testutil.ToFloat64(m.SpoolDropped.WithLabelValues("influxdb")); n != 0 {
		t.Fatalf("%v batches dropped", n)
	}
}
