package influx_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/internal/influxtest"
	"github.com/rankpulse/rankpulse/sinks"
	"github.com/rankpulse/rankpulse/sinks/influx"
)

// chart200 is a 200-app chart at slot; named says which entries have names.
func chart200(named func(rank int) bool) chart.Snapshot {
	s := chart.Snapshot{Time: slot, Store: "appstore", Country: "us", Chart: "top-free", Category: "all", Source: "charts", Complete: true, Depth: 200}
	for r := 1; r <= 200; r++ {
		e := chart.Entry{Rank: r, AppID: strconv.Itoa(1400000000 + r)}
		if named(r) {
			e.Name, e.Developer = "App "+strconv.Itoa(r), "Dev"
		}
		s.Entries = append(s.Entries, e)
	}
	return s
}

func sinkIn(t *testing.T, url, db, spool string) *influx.Sink {
	t.Helper()
	s, err := influx.New(influx.Config{URL: url, Bucket: db, Timeout: 5 * time.Second, SpoolDir: spool}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func points(t *testing.T, srv *influxtest.Server, db string) int {
	t.Helper()
	rows := srv.Query(t, db, `SELECT count("rank") FROM "app_rank"`).Values()
	if len(rows) != 1 {
		t.Fatalf("count rows = %v", rows)
	}
	n, err := strconv.Atoi(fmt.Sprint(rows[0][1]))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A slot written after a failed lookup (no names, or some) and written again
// once the names are known must stay one point per app: app_name is a tag,
// and a new tag value is a new series.
func TestRewriteAfterALookupFailureKeepsOnePointPerApp(t *testing.T) {
	srv := influxtest.Shared(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		first func(rank int) bool
	}{
		{"no names", func(int) bool { return false }},
		{"some names", func(r int) bool { return r%3 == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := srv.CreateDB(t)
			spool := filepath.Join(t.TempDir(), "spool")
			s := sinkIn(t, srv.URL, db, spool)
			if err := s.Write(ctx, sinks.Batch{Snapshots: []chart.Snapshot{chart200(tc.first)}}); err != nil {
				t.Fatal(err)
			}
			if n := points(t, srv, db); n != 200 {
				t.Fatalf("%d points after the first write, want 200", n)
			}
			all := chart200(func(int) bool { return true })
			if err := s.Write(ctx, sinks.Batch{Snapshots: []chart.Snapshot{all}}); err != nil {
				t.Fatal(err)
			}
			if n := points(t, srv, db); n != 200 {
				t.Fatalf("%d points after the slot was rewritten with names, want 200 (one per app)", n)
			}
			// After a restart of rankpulse, and through a second rewrite.
			s.Close(ctx)
			s2 := sinkIn(t, srv.URL, db, spool)
			if err := s2.Write(ctx, sinks.Batch{Snapshots: []chart.Snapshot{all}}); err != nil {
				t.Fatal(err)
			}
			if n := points(t, srv, db); n != 200 {
				t.Fatalf("%d points after a restart and another rewrite, want 200", n)
			}
			// No point has an empty or missing app_name; the unnamed ones say
			// which app they are.
			rows := srv.Query(t, db, `SELECT "rank", "app_name", "app_id" FROM "app_rank" WHERE "app_id" = '1400000001'`).Values()
			if len(rows) != 1 || fmt.Sprint(rows[0][2]) != "(unknown) 1400000001" {
				t.Fatalf("rows for app 1400000001 = %v, want one tagged (unknown) 1400000001", rows)
			}
			rows = srv.Query(t, db, `SELECT count("rank") FROM "app_rank" WHERE "app_name" = ''`).Values()
			if len(rows) != 0 {
				t.Fatalf("points without app_name: %v", rows)
			}
			// The next slot carries the names.
			next := chart200(func(int) bool { return true })
			next.Time = slot.Add(time.Hour)
			if err := s2.Write(ctx, sinks.Batch{Snapshots: []chart.Snapshot{next}}); err != nil {
				t.Fatal(err)
			}
			rows = srv.Query(t, db, `SELECT "rank", "app_name" FROM "app_rank" WHERE "app_id" = '1400000001' AND time > '2021-01-07T18:30:00Z'`).Values()
			if len(rows) != 1 || fmt.Sprint(rows[0][2]) != "App 1" {
				t.Fatalf("next slot rows = %v, want the name", rows)
			}
		})
	}
}
