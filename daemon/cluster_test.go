package daemon_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/internal/fakestore"

	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/internal/pgtest"
	"github.com/rankpulse/rankpulse/storage/postgres"
)

// A daemon with storage.url joins the cluster: its /readyz carries the
// cluster's status with itself as the evaluator, /metrics the cluster's
// gauges, and the status page a cluster table; a sweep seeds and claims
// the slot's fetches and the evaluator evaluates the slot.
func TestAClusterInstanceShowsTheClusterOnReadyzMetricsAndTheStatusPage(t *testing.T) {
	e := newEnv(t)
	e.cfg.Storage.URL = config.Secret(pgtest.Database(t))
	e.cfg.Cluster.Name = "solo"
	e.cfg.Cluster.Lease = config.Duration(2 * time.Second)
	e.cfg.Cluster.Heartbeat = config.Duration(200 * time.Millisecond)
	e.cfg.Listen = "127.0.0.1:0"
	e.cfg.Jobs[0].Schedule = "@every 20s" // caught up at start, or swept within 10s
	e.cfg.Jobs[0].CatchUp = true
	d, err := daemon.New(context.Background(), e.cfg, daemon.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	if d.Cluster() == nil {
		t.Fatal("no cluster membership with storage.url set")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	get := func(path string) (int, string) {
		for d.Addr() == "" {
			time.Sleep(10 * time.Millisecond)
		}
		resp, err := http.Get("http://" + d.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var rd daemon.Readiness
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := get("/readyz")
		rd = daemon.Readiness{}
		json.Unmarshal([]byte(body), &rd)
		if rd.Cluster != nil && rd.Cluster.Leader == "solo" && len(rd.Cluster.Slots) == 1 && rd.Cluster.Slots[0].Done == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz never showed solo evaluating a swept slot: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if in := rd.Cluster.Instances; len(in) != 1 || !in[0].Alive || !in[0].Leader || in[0].Fetched != 3 {
		t.Fatalf("instances %+v", in)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		slots, err := d.DB().Slots(context.Background(), time.Time{})
		if err == nil && len(slots) >= 1 && !slots[0].Pending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slot was not evaluated: %+v %v", slots, err)
		}
	}
	_, metrics := get("/metrics")
	for _, want := range []string{"rankpulse_cluster_leader 1", `rankpulse_cluster_instances{state="alive"} 1`, `rankpulse_cluster_charts_fetched{instance="solo"} 3`, `rankpulse_cluster_claimed_total{store="appstore"} 3`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	_, page := get("/")
	for _, want := range []string{`id="cluster"`, "evaluator: <b>solo</b>", "<td>solo (this one)</td><td>alive</td><td>evaluator</td>", "of 3 charts done"} {
		if !strings.Contains(page, want) {
			t.Errorf("the status page lacks %q", want)
		}
	}
}

// The evaluator evaluates each store's part of a slot once that store's
// fetches are in: a slow Google Play does not hold back the App Store.
func TestTheEvaluatorDoesNotWaitForTheSlowerStore(t *testing.T) {
	apple, play := fakestore.NewApple(300), fakestore.NewPlay(300)
	play.Latency = 1500 * time.Millisecond
	srv := httptest.NewServer(fakestore.Stores(apple, play))
	defer srv.Close()
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Listen = ""
	cfg.Storage.URL = config.Secret(pgtest.Database(t))
	cfg.Cluster.Name, cfg.Cluster.Lease, cfg.Cluster.Heartbeat = "solo", config.Duration(3*time.Second), config.Duration(200*time.Millisecond)
	cfg.Stores.AppStore.Endpoints = config.AppStoreEndpoints{ITunes: srv.URL, Marketing: srv.URL}
	cfg.Stores.AppStore.Rate = 100
	cfg.Stores.GooglePlay.Endpoints = config.GooglePlayEndpoints{Play: srv.URL}
	cfg.Stores.GooglePlay.Rate, cfg.Stores.GooglePlay.Concurrency = 100, 1
	cfg.Jobs = []config.Job{{Name: "j", Schedule: "@every 1m", CatchUp: true, Stores: []string{"appstore", "googleplay"}, Countries: []string{"us", "gb", "de"},
		Charts: []string{"top-free"}, Categories: config.Categories{AppStore: []string{"all"}, GooglePlay: []string{"all"}}, Depth: 100}}
	d, err := daemon.New(context.Background(), cfg, daemon.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	pg := d.DB().(*postgres.DB)
	deadline := time.Now().Add(40 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("never saw the App Store's part evaluated while Google Play was still fetching")
		}
		time.Sleep(20 * time.Millisecond)
		st, err := d.ClusterStatus(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Slots) == 0 {
			continue
		}
		slot := st.Slots[0].Slot
		apEv, _, err := pg.SlotSnapshots(context.Background(), slot, chart.AppStore)
		if err != nil {
			t.Fatal(err)
		}
		gpEv, gpPending, err := pg.SlotSnapshots(context.Background(), slot, chart.GooglePlay)
		if err != nil {
			t.Fatal(err)
		}
		playOpen := 6 - st.Slots[0].Done // the App Store's 3 are done
		if len(gpEv) > 0 && playOpen > 0 {
			t.Fatalf("Google Play's part was evaluated with %d of its fetches still open", playOpen)
		}
		if len(apEv) == 3 && playOpen > 0 {
			t.Logf("the App Store's 3 charts evaluated while %d Google Play fetches were open (%d fetched, waiting)", playOpen, len(gpPending))
			return
		}
	}
}
