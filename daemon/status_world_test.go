package daemon_test

import (
	"context"
	"fmt"
	"github.com/rankpulse/rankpulse/internal/pgtest"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/storage"
)

// The status world is what the status-page tests (HTML and browser) look
// at: 26 hourly App Store sweeps (and a Google Play sweep every 4 hours)
// through the fake stores, of the built-in defaults' 14 watched messengers
// in 14 App Store and 3 Google Play countries, overall and by category. It is harder than a first day in the real world: every
// watched app is in some chart (14 grid columns to fit on a phone), a chart
// fails for one sweep (DE), the newest read of FR fails with an HTML page,
// Signal leaves GB's chart for one sweep and surges to #3 in the US in the
// last, an app name is a script tag, and an error carries a long URL.
type statusWorld struct {
	d        *daemon.Daemon
	srv      *httptest.Server // the daemon's handler
	cfg      *config.Config
	apple    *fakestore.Apple
	base     time.Time // the first sweep's slot (job messaging)
	last     time.Time // the last one's
	sweeps   []daemon.Summary
	stored   []chart.Alert // the alerts stored by hand, besides the sweeps' own
	cleanups []func()
}

const (
	whatsappID = "310633997"
	telegramID = "686449807"
	evilID     = "1700000001"
	worldHours = 26
)

var (
	worldOnce sync.Once
	world     *statusWorld
	worldErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if world != nil {
		for _, f := range slices.Backward(world.cleanups) {
			f()
		}
	}
	for _, f := range slices.Backward(benchCleanups) {
		f()
	}
	pgtest.StopShared()
	os.Exit(code)
}

// statusFixture builds the status world once per test binary; tests only
// read it.
func statusFixture(t testing.TB) *statusWorld {
	t.Helper()
	worldOnce.Do(func() { world, worldErr = buildWorld() })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return world
}

// appleOverall is where each watched app stands in the App Store's overall
// top free chart of some countries (the rest are the fake's shuffles).
var appleOverall = map[string]map[string]int{
	"us": {"454638411": 1, whatsappID: 2, "447188370": 5, telegramID: 7, "985746746": 24, signalID: 150, "414478124": 180},
	"gb": {whatsappID: 1, "454638411": 3, "447188370": 9, telegramID: 12, signalID: 48},
	"de": {whatsappID: 4, "578665578": 11, telegramID: 30, signalID: 60},
	"tr": {"583274826": 1, telegramID: 2, whatsappID: 3},
	"fr": {whatsappID: 6, telegramID: 40, evilID: 90},
	"kr": {"362057947": 1, telegramID: 77},
	"jp": {"443904275": 1, telegramID: 130},
	"ru": {telegramID: 1, "382617920": 15, whatsappID: 19},
	"id": {whatsappID: 2, "579523206": 88},
	"in": {whatsappID: 1, "336435697": 45, telegramID: 9},
}

var worldCountries = []string{"us", "gb", "de", "tr", "fr", "kr", "jp", "ru", "id", "in", "br", "mx", "it", "es"}

// placed is a 200-deep chart of the fake's pool, shuffled by country and
// hour, with the given apps at the given ranks.
func placed(cc string, hour int, at map[string]int) []string {
	rng := rand.New(rand.NewPCG(uint64(hour), uint64(cc[0])<<8|uint64(cc[1])))
	var rest []string
	for _, i := range rng.Perm(300) {
		rest = append(rest, strconv.Itoa(1400000000+i*7919))
	}
	byRank := map[int]string{}
	for id, r := range at {
		byRank[r] = id
	}
	out := make([]string, 0, 200)
	for rank := 1; rank <= 200; rank++ {
		id, ok := byRank[rank]
		if !ok {
			id, rest = rest[0], rest[1:]
		}
		out = append(out, id)
	}
	return out
}

func buildWorld() (w *statusWorld, err error) {
	w = &statusWorld{apple: fakestore.NewApple(300)}
	defer func() {
		if err != nil {
			for _, f := range slices.Backward(w.cleanups) {
				f()
			}
		}
	}()
	play := fakestore.NewPlay(300)
	appleSrv, playSrv := httptest.NewServer(w.apple), httptest.NewServer(play)
	w.cleanups = append(w.cleanups, appleSrv.Close, playSrv.Close)
	dir, err := os.MkdirTemp("", "rankpulse-status-world-")
	if err != nil {
		return nil, err
	}
	w.cleanups = append(w.cleanups, func() { os.RemoveAll(dir) })

	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Listen = ""
	cfg.Stores.AppStore.Endpoints = config.AppStoreEndpoints{ITunes: appleSrv.URL, Marketing: appleSrv.URL}
	cfg.Stores.AppStore.Rate, cfg.Stores.AppStore.Concurrency = 2000, 8
	cfg.Stores.GooglePlay.Endpoints = config.GooglePlayEndpoints{Play: playSrv.URL}
	cfg.Stores.GooglePlay.Rate, cfg.Stores.GooglePlay.Concurrency = 2000, 8
	cfg.Jobs = []config.Job{
		{Name: "messaging", Schedule: "7 * * * *", Stores: []string{"appstore"}, Countries: worldCountries,
			Charts: []string{"top-free"}, Categories: config.Categories{AppStore: []string{"all", "6005"}}, Depth: 200},
		{Name: "play", Schedule: "37 */4 * * *", Stores: []string{"googleplay"}, Countries: []string{"us", "tr", "br"},
			Charts: []string{"top-free"}, Categories: config.Categories{GooglePlay: []string{"all", "COMMUNICATION"}}, Depth: 200},
	}
	w.cfg = cfg
	ctx := context.Background()
	d, err := daemon.New(ctx, cfg, daemon.Options{Logger: slog.New(slog.DiscardHandler), Version: "v9.9.9-test"})
	if err != nil {
		return nil, err
	}
	w.d = d
	w.cleanups = append(w.cleanups, func() { d.Close(ctx) })

	if err := w.sweep(ctx, play); err != nil {
		return nil, err
	}
	if err := w.storeExtras(ctx); err != nil {
		return nil, err
	}
	// The page is served as `rankpulse run` serves it; its summaries come
	// from the rebuild at start (these writes bypassed the sweep).
	w.srv = httptest.NewServer(d.Handler())
	w.cleanups = append(w.cleanups, w.srv.Close)
	select {
	case <-d.StatusPage().Rebuilt():
	case <-time.After(2 * time.Minute):
		return nil, fmt.Errorf("the status page's rebuild did not finish in 2 minutes")
	}
	return w, nil
}

func mapsClone(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// sweep runs the world's 26 hours of sweeps through the fake stores.
func (w *statusWorld) sweep(ctx context.Context, play *fakestore.Play) error {
	// messaging sweeps at minute 7, play at minute 37, the last ones in the
	// hour before this one.
	top := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	w.base = top.Add(-(worldHours-1)*time.Hour + 7*time.Minute)
	w.last = top.Add(7 * time.Minute)
	failing := func(cc string) func(*http.Request) bool {
		return func(r *http.Request) bool {
			return r.URL.Query().Get("cc") == cc || strings.HasPrefix(r.URL.Path, "/"+cc+"/") || strings.Contains(r.URL.Path, "/v2/"+cc+"/")
		}
	}
	captcha := fakestore.Fault{Status: 200, ContentType: "text/html; charset=utf-8", Body: "<html><title>Verify you are human</title><p>Unusual traffic from your network."}
	for h := range worldHours {
		w.apple.SetRound(h)
		play.SetRound(h)
		for cc, at := range appleOverall {
			at = mapsClone(at)
			switch {
			case cc == "us" && h == worldHours-1:
				at[signalID] = 3
			case cc == "gb" && h == worldHours-6:
				delete(at, signalID)
			}
			w.apple.SetChart(cc, "top-free", "36", placed(cc, h, at))
		}
		w.apple.ClearFaults()
		switch h {
		case 10:
			for _, ep := range []string{fakestore.EPCharts, fakestore.EPRSS, fakestore.EPMarketing} {
				w.apple.Fail(ep, failing("de"), fakestore.Fault{Status: 403})
			}
		case worldHours - 1:
			for _, ep := range []string{fakestore.EPCharts, fakestore.EPRSS, fakestore.EPMarketing} {
				w.apple.Fail(ep, failing("fr"), captcha)
			}
		}
		slot := w.base.Add(time.Duration(h) * time.Hour)
		for i, job := range w.cfg.Jobs {
			if i == 1 && (worldHours-1-h)%4 != 0 {
				continue // play sweeps every 4 hours
			}
			s := w.d.Sweep(ctx, job, slot.Add(time.Duration(i)*30*time.Minute), nil)
			if s.Charts == 0 || s.StoreErrs > 0 {
				return fmt.Errorf("sweep %d of %s: %+v", h, job.Name, s)
			}
			w.sweeps = append(w.sweeps, s)
		}
	}
	w.apple.ClearFaults()

	return nil
}

// storeExtras stores, past the sweeps, a Social Networking chart led by an
// app named like a script tag, and alerts.
func (w *statusWorld) storeExtras(ctx context.Context) error {
	// A Social Networking chart led by an app named like a script tag, and
	// two alerts stored by hand, one critical with markup in its summary.
	lastSlot := w.last
	soc := chart.Snapshot{Time: lastSlot.Add(10 * time.Minute), Store: chart.AppStore, Country: "us", Chart: chart.TopFree, Category: "6005",
		Source: "rss", Complete: true, Depth: 100, DurationMS: 300, Entries: []chart.Entry{
			{Rank: 1, AppID: evilID, Name: evilName}, {Rank: 2, AppID: signalID, Name: "Signal - Private Messenger"}, {Rank: 3, AppID: "42", Name: "App 42"}}}
	if err := w.d.DB().SaveSnapshots(ctx, []chart.Snapshot{soc}); err != nil {
		return err
	}
	w.stored = []chart.Alert{
		{ID: chart.AlertID("status-world", "1"), Kind: chart.KindSurge, Severity: chart.SeverityCritical, Time: lastSlot,
			Store: chart.AppStore, Country: chart.Ptr("us"), Chart: chart.TopFree, Category: chart.All,
			AppID: signalID, AppName: "Signal - Private Messenger", Watch: chart.Ptr("signal"),
			FromRank: chart.Ptr(150), ToRank: chart.Ptr(3), Summary: "Signal - Private Messenger rose from #150 to #3 in US top free (App Store) in 1h"},
		{ID: chart.AlertID("status-world", "2"), Kind: chart.KindExited, Severity: chart.SeverityWarning, Time: lastSlot.Add(-5 * time.Hour),
			Store: chart.AppStore, Country: chart.Ptr("gb"), Chart: chart.TopFree, Category: chart.All,
			AppID: signalID, AppName: "Signal - Private Messenger", Watch: chart.Ptr("signal"),
			FromRank: chart.Ptr(48), Summary: "Signal left GB top free"},
		{ID: chart.AlertID("status-world", "3"), Kind: chart.KindMultiCountry, Severity: chart.SeverityCritical, Time: lastSlot.Add(-2 * time.Hour),
			Store: chart.AppStore, Chart: chart.TopFree, Category: chart.All, Countries: []string{"tr", "ru", "in"},
			AppID: telegramID, AppName: "Telegram Messenger", Watch: chart.Ptr("telegram"), Revision: 1,
			Summary: "telegram messenger surged in 3 countries on App Store within 7h: TR, RU, IN"},
		{ID: chart.AlertID("status-world", "4"), Kind: chart.KindDrop, Severity: chart.SeverityWarning, Time: lastSlot.Add(-20 * time.Hour),
			Store: chart.AppStore, Country: chart.Ptr("de"), Chart: chart.TopFree, Category: chart.All,
			AppID: whatsappID, AppName: "WhatsApp Messenger", Watch: chart.Ptr("whatsapp"),
			FromRank: chart.Ptr(1), ToRank: chart.Ptr(9), Summary: "WhatsApp fell in DE <b>top free</b>"},
	}
	if err := w.d.DB().Update(ctx, func(tx storage.WriteTx) error {
		for i := range w.stored {
			if _, err := tx.SaveAlert(ctx, &w.stored[i]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return nil
}
