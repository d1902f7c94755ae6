package daemon_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/scheduler"
)

// runDaemon runs d as `rankpulse run` does, on a free loopback port, until
// the test ends.
func runDaemon(t *testing.T, d *daemon.Daemon) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); d.Addr() == ""; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the daemon does not listen")
		}
	}
	return "http://" + d.Addr()
}

func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A fresh start says what will appear and when: the first sweep's time,
// from the scheduler.
func TestStatusBeforeTheFirstSweep(t *testing.T) {
	e := newEnv(t)
	e.cfg.Listen = "127.0.0.1:0"
	e.cfg.Jobs[0].Schedule = "0 0 1 1 *" // not during the test
	d := e.open(t)
	defer d.Close(context.Background())
	base := runDaemon(t, d)
	<-d.StatusPage().Rebuilt()

	sched, err := scheduler.ParseSchedule(e.cfg.Jobs[0].Schedule)
	if err != nil {
		t.Fatal(err)
	}
	next := sched.Next(time.Now().UTC())
	// The job's next sweep is known once the scheduler has started, a
	// moment after the page answers (a loaded machine makes it a long one).
	var code int
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, body = fetch(t, base+"/")
		if strings.Contains(body, "first sweep at ") || time.Now().After(deadline) {
			break
		}
	}
	if code != 200 {
		t.Fatalf("GET /: %d", code)
	}
	want := "first sweep at " + next.Format("Jan 2 15:04") + " UTC, in "
	for _, s := range []string{
		"<b>j</b> first sweep at " + next.Format("Jan 2 15:04"), // the job's line
		"Ranks appear here as the " + want,                      // the grid
		"the first can come about 20 h after the " + want,       // the alerts, after min_span
		"and its last errors, appear here after the " + want,    // the health
	} {
		if !strings.Contains(body, s) {
			t.Errorf("the empty page lacks %q", s)
		}
	}
	if strings.Contains(body, "<svg") || strings.Contains(body, `class="grid"`) {
		t.Error("a plot or grid without data")
	}
}

// Start-up never waits for the summaries: /healthz and the page answer at
// once, the page says it is loading until the rebuild is done.
func TestStatusStartsWithoutWaiting(t *testing.T) {
	e := newEnv(t)
	e.cfg.Listen = "127.0.0.1:0"
	e.cfg.Jobs[0].Schedule = "0 0 1 1 *"
	ctx := context.Background()
	d := e.open(t)
	// 30 days of hourly snapshots of 3 charts.
	var snaps []chart.Snapshot
	now := time.Now().UTC().Truncate(time.Hour)
	ids := e.apple.Ranking("us", "top-free", "36")
	for h := range 30 * 24 {
		for _, cc := range []string{"us", "gb", "de"} {
			s := chart.Snapshot{Time: now.Add(-time.Duration(h) * time.Hour), Store: chart.AppStore, Country: cc, Chart: chart.TopFree,
				Category: chart.All, Source: "charts", Complete: true, Depth: 200}
			for i, id := range ids {
				s.Entries = append(s.Entries, chart.Entry{Rank: i + 1, AppID: id, Name: "App " + id})
			}
			snaps = append(snaps, s)
		}
	}
	if err := d.DB().SaveSnapshots(ctx, snaps); err != nil {
		t.Fatal(err)
	}
	d.Close(ctx)

	d = e.open(t)
	defer d.Close(ctx)
	base := runDaemon(t, d)
	loadingSeen := false
	if code, body := fetch(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz while the summaries rebuild: %d %q", code, body)
	}
	select {
	case <-d.StatusPage().Rebuilt():
	default:
		_, body := fetch(t, base+"/")
		loadingSeen = strings.Contains(body, `id="loading"`)
		select {
		case <-d.StatusPage().Rebuilt():
		default: // still rebuilding after the page was built: it must have said so
			if !loadingSeen {
				t.Error("the page does not say it is loading while the summaries rebuild")
			}
		}
	}
	<-d.StatusPage().Rebuilt()
	time.Sleep(1100 * time.Millisecond) // past the page's one-second cache
	_, body := fetch(t, base+"/")
	if strings.Contains(body, `id="loading"`) || !strings.Contains(body, `id="g-appstore-top-free-all"`) {
		t.Errorf("after the rebuild the page still loads or lacks the grid")
	}
	t.Logf("loading banner seen before the rebuild ended: %v", loadingSeen)
}

var footer = regexp.MustCompile(`(?s)<footer>.*</footer>`)

// The summaries a daemon builds from live sweeps and those another rebuilds
// from the store at start draw the same pages.
func TestStatusLiveAndRebuiltAgree(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.open(t)
	d.Handler() // start the (empty) rebuild, then sweep live
	<-d.StatusPage().Rebuilt()
	t1 := t0.Add(-10 * 24 * time.Hour)
	for h := range 40 {
		switch h {
		case 30:
			e.apple.SetChart("us", "top-free", "36", rankedAt(e.apple.Ranking("us", "top-free", "36"), signalID, 3))
		case 20:
			e.apple.Fail(fakestore.EPCharts, func(r *http.Request) bool { return r.URL.Query().Get("cc") == "de" }, fakestore.Fault{Status: 403})
			e.apple.Fail(fakestore.EPRSS, func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/de/") }, fakestore.Fault{Status: 403})
			e.apple.Fail(fakestore.EPMarketing, func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/de/") }, fakestore.Fault{Status: 403})
		case 21:
			e.apple.ClearFaults()
		}
		// Sweeps every 6 hours over ten days, then hourly.
		slot := t1.Add(time.Duration(h) * 6 * time.Hour)
		if h >= 30 {
			slot = t0.Add(time.Duration(h-30) * time.Hour)
		}
		d.Sweep(ctx, e.cfg.Jobs[0], slot, nil)
	}
	now := time.Now()
	pages := func(d *daemon.Daemon) map[string]string {
		p := d.StatusPage()
		out := map[string]string{"home": string(p.RenderHome(ctx, now))}
		for _, rng := range []string{"24h", "7d", "30d"} {
			out["signal "+rng] = string(p.RenderApp("signal", rng, true, now))
		}
		for k, v := range out {
			// The job lines are of this process's sweeps; the rest must agree.
			v = footer.ReplaceAllString(v, "")
			if i, j := strings.Index(v, `<ul class="jobs">`), strings.Index(v, `</ul>`); i >= 0 && j > i {
				v = v[:i] + v[j:]
			}
			out[k] = v
		}
		return out
	}
	live := pages(d)
	d.Close(ctx)
	d = e.open(t)
	defer d.Close(ctx)
	d.Handler()
	<-d.StatusPage().Rebuilt()
	rebuilt := pages(d)
	for k := range live {
		if live[k] != rebuilt[k] {
			a, b := live[k], rebuilt[k]
			i := 0
			for i < min(len(a), len(b)) && a[i] == b[i] {
				i++
			}
			t.Errorf("%s: the live and the rebuilt page differ at byte %d:\nlive:    …%s…\nrebuilt: …%s…", k, i, a[max(0, i-80):min(len(a), i+120)], b[max(0, i-80):min(len(b), i+120)])
		}
	}
	if !strings.Contains(live["signal 30d"], `data-label="US"`) || !strings.Contains(live["home"], "<svg") {
		t.Error("the pages compared show nothing")
	}
}
