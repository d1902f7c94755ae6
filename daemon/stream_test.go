package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/internal/influxtest"
	"github.com/rankpulse/rankpulse/metrics"
	"github.com/rankpulse/rankpulse/sinks/influx"
	"github.com/rankpulse/rankpulse/storage"
)

// TestStreamedSweepsWriteWhatIsStored: two jobs sweep at once (one waits for
// the alert engine while the other holds it), their snapshots flow to a real
// InfluxDB in many small batches, and what InfluxDB holds is, point for
// point, what the embedded store holds: one app_rank point per stored entry
// with its name (or the unknown tag) and watch tag, one chart_scrape point
// per snapshot; every snapshot is marked evaluated.
func TestStreamedSweepsWriteWhatIsStored(t *testing.T) {
	srvInflux := influxtest.Start(t)
	db := srvInflux.CreateDB(t)
	apple := fakestore.NewApple(600)
	srv := httptest.NewServer(apple)
	t.Cleanup(srv.Close)
	// Names missing for some apps: their points carry the unknown tag.
	apple.Fail(fakestore.EPLookup, func(r *http.Request) bool { return strings.Contains(r.URL.RawQuery, "country=de") }, fakestore.Fault{Status: 404})
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Listen = ""
	cfg.Stores.AppStore.Endpoints = config.AppStoreEndpoints{ITunes: srv.URL, Marketing: srv.URL}
	cfg.Stores.AppStore.Rate = 100
	cfg.Stores.AppStore.Concurrency = 8
	us := apple.Ranking("us", "top-free", "36")
	cfg.Watch = []config.Watch{{Name: "first", AppStore: us[0]}, {Name: "tenth", AppStore: us[9]}}
	// 450 points a batch: about two snapshots, so a sweep is many batches.
	cfg.Sinks.InfluxDB = &config.InfluxDB{URL: srvInflux.URL, Bucket: db, Timeout: config.Duration(10 * time.Second), BatchSize: 450, SpoolMaxBytes: 1 << 30}
	jobs := []config.Job{
		{Name: "a", Schedule: "@hourly", Stores: []string{"appstore"}, Countries: []string{"us", "gb", "de"},
			Charts: []string{"top-free", "top-paid", "top-grossing"}, Categories: config.Categories{AppStore: []string{"all", "6005"}}, Depth: 200},
		{Name: "b", Schedule: "@hourly", Stores: []string{"appstore"}, Countries: []string{"fr", "jp"},
			Charts: []string{"top-free"}, Categories: config.Categories{AppStore: []string{"all"}}, Depth: 100},
	}
	cfg.Jobs = jobs
	m := metrics.New()
	d, err := daemon.New(context.Background(), cfg, daemon.Options{Logger: slog.New(slog.DiscardHandler), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	ctx := context.Background()
	sums := d.Once(ctx)
	for _, s := range sums {
		if s.Failed > 0 || s.StoreErrs > 0 || s.Charts == 0 {
			t.Fatalf("sweep %+v", s)
		}
	}

	var want []string
	snaps, unknown := 0, 0
	if err := d.DB().Snapshots(ctx, storage.Query{}, func(s chart.Snapshot) error {
		snaps++
		for _, e := range s.Entries {
			name := e.Name
			if name == "" {
				name = influx.UnknownName(e.AppID)
				unknown++
			}
			w := map[string]string{us[0]: "first", us[9]: "tenth"}[e.AppID]
			want = append(want, fmt.Sprintf("%d %s %s %s %s %s %q %s %d", s.Time.Unix(), s.Store, s.Country, s.Chart, s.Category, e.AppID, name, w, e.Rank))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if snaps != 3*3*2+2 || unknown == 0 {
		t.Fatalf("%d snapshots stored (want 20), %d entries without a name (want some)", snaps, unknown)
	}
	res := srvInflux.Query(t, db, `SELECT "store", "country", "chart", "category", "app_id", "app_name", "watch", "rank" FROM "app_rank"`)
	var got []string
	for _, r := range res.Values() {
		s := make([]string, len(r))
		for i, v := range r {
			if v == nil {
				v = ""
			}
			s[i] = fmt.Sprint(v)
		}
		got = append(got, fmt.Sprintf("%s %s %s %s %s %s %q %s %s", s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8]))
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("InfluxDB holds %d app_rank points, the store %d entries; first differences:\n got %.5q\nwant %.5q", len(got), len(want), diff(got, want), diff(want, got))
	}
	rows := srvInflux.Query(t, db, `SELECT count("entries") FROM "chart_scrape"`).Values()
	if len(rows) != 1 || fmt.Sprint(rows[0][1]) != fmt.Sprint(snaps) {
		t.Fatalf("chart_scrape points %v, want %d", rows, snaps)
	}
	if n := testutil.ToFloat64(m.SinkWrites.WithLabelValues(influx.Name, "ok")); n < 7 { // job a: 18 snapshots of 201 points, 3 a batch; job b: one
		t.Fatalf("%v sink batches, want the sweeps streamed in many", n)
	}
	slots, err := d.DB().Slots(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if s.Pending {
			t.Fatalf("slot %s left unevaluated", s.Slot)
		}
	}
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			out = append(out, x)
		}
	}
	return out
}
