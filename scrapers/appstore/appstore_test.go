package appstore_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/metrics"
	"github.com/rankpulse/rankpulse/scrapers"
	"github.com/rankpulse/rankpulse/scrapers/appstore"
)

var slot = time.Date(2021, 1, 7, 18, 7, 0, 0, time.UTC)

type env struct {
	fake *fakestore.Apple
	srv  *httptest.Server
	s    *appstore.Scraper
	m    *metrics.Metrics
}

func newEnv(t *testing.T, rate float64, sources ...string) *env {
	t.Helper()
	return newEnvWith(t, func(c *appstore.Config) { c.Fetch.Rate, c.Sources = rate, sources })
}

// newEnvWith is newEnv with the config changed by set.
func newEnvWith(t *testing.T, set func(*appstore.Config)) *env {
	t.Helper()
	fake := fakestore.NewApple(400)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	m := metrics.New()
	cfg := appstore.Config{
		ITunesURL: srv.URL, MarketingURL: srv.URL,
		Fetch: scrapers.FetchConfig{Rate: 50, Concurrency: 4, Timeout: 2 * time.Second, Retries: 3, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond},
	}
	set(&cfg)
	s, err := appstore.New(cfg, slog.New(slog.DiscardHandler), m)
	if err != nil {
		t.Fatal(err)
	}
	return &env{fake: fake, srv: srv, s: s, m: m}
}

func reqs(countries, charts, cats []string, depth int) []scrapers.Request {
	var out []scrapers.Request
	for _, cc := range countries {
		for _, ch := range charts {
			for _, cat := range cats {
				out = append(out, scrapers.Request{Key: chart.Key{Store: chart.AppStore, Country: cc, Chart: ch, Category: cat}, Depth: depth})
			}
		}
	}
	return out
}

func (e *env) sweep(ctx context.Context, rs []scrapers.Request) map[string]chart.Snapshot {
	out := map[string]chart.Snapshot{}
	e.s.Sweep(ctx, slot, rs, func(s chart.Snapshot) {
		if _, dup := out[s.Key().String()]; dup {
			panic("snapshot emitted twice: " + s.Key().String())
		}
		out[s.Key().String()] = s
	})
	return out
}

func genre(cat string) string {
	if cat == "all" {
		return "36"
	}
	return cat
}

func TestSweepChartsSourceEndToEnd(t *testing.T) {
	e := newEnv(t, 50)
	rs := reqs([]string{"us", "gb"}, []string{"top-free", "top-paid", "top-grossing"}, []string{"all", "6005"}, 200)
	got := e.sweep(context.Background(), rs)
	if len(got) != len(rs) {
		t.Fatalf("%d snapshots, want %d", len(got), len(rs))
	}
	for _, r := range rs {
		s := got[r.Key.String()]
		if err := s.Validate(); err != nil {
			t.Fatalf("%s: %v", r.Key, err)
		}
		if !s.Complete || s.Source != "charts" || s.Depth != 200 || len(s.Entries) != 200 || s.Error != "" || !s.Time.Equal(slot) {
			t.Fatalf("%s: complete=%v source=%s depth=%d entries=%d error=%q time=%v", r.Key, s.Complete, s.Source, s.Depth, len(s.Entries), s.Error, s.Time)
		}
		want := e.fake.Ranking(r.Country, r.Chart, genre(r.Category))
		for i, en := range s.Entries {
			app, _ := e.fake.App(en.AppID)
			if en.AppID != want[i] || en.Rank != i+1 || en.Name != app.Name || en.Developer != app.Developer || en.Name == "" {
				t.Fatalf("%s #%d = %+v, want id %s name %q", r.Key, i+1, en, want[i], app.Name)
			}
		}
	}
	// Lookups: at most 200 ids each, and no app looked up twice in a country.
	seen := map[string]bool{}
	for _, h := range e.fake.Hits() {
		if h.Endpoint != fakestore.EPLookup {
			continue
		}
		i := strings.Index(h.URL, "id=")
		ids := strings.Split(strings.SplitN(h.URL[i+3:], "&", 2)[0], ",")
		if len(ids) > 200 {
			t.Errorf("lookup of %d ids", len(ids))
		}
		cc := h.URL[strings.Index(h.URL, "country=")+8:][:2]
		for _, id := range ids {
			if seen[cc+id] {
				t.Fatalf("app %s looked up twice in %s", id, cc)
			}
			seen[cc+id] = true
		}
	}
	if len(seen) == 0 {
		t.Fatal("no lookups")
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	e := newEnv(t, 50)
	e.fake.Fail(fakestore.EPCharts, nil, fakestore.Fault{Status: 429, RetryAfter: "1", Times: 1})
	got := e.sweep(context.Background(), reqs([]string{"us"}, []string{"top-free"}, []string{"all"}, 50))
	s := got["appstore/us/top-free/all"]
	if !s.Complete || s.Source != "charts" {
		t.Fatalf("snapshot = complete %v source %s error %q", s.Complete, s.Source, s.Error)
	}
	var hits []fakestore.Hit
	for _, h := range e.fake.Hits() {
		if h.Endpoint == fakestore.EPCharts {
			hits = append(hits, h)
		}
	}
	if len(hits) != 2 || hits[0].Status != 429 || hits[1].Status != 200 {
		t.Fatalf("charts hits = %+v, want a 429 then a 200", hits)
	}
	if gap := hits[1].Time.Sub(hits[0].Time); gap < time.Second {
		t.Fatalf("retried after %s, before the Retry-After of 1s", gap)
	}
}

func TestServerErrorThenSuccess(t *testing.T) {
	e := newEnv(t, 50)
	e.fake.Fail(fakestore.EPCharts, nil, fakestore.Fault{Status: 503, Times: 2})
	s := e.sweep(context.Background(), reqs([]string{"us"}, []string{"top-free"}, []string{"all"}, 200))["appstore/us/top-free/all"]
	if !s.Complete || s.Source != "charts" || len(s.Entries) != 200 {
		t.Fatalf("complete=%v source=%s entries=%d error=%q", s.Complete, s.Source, len(s.Entries), s.Error)
	}
	if n := testutil.ToFloat64(e.m.Retries.WithLabelValues("appstore", "503")); n != 2 {
		t.Fatalf("retries counted = %v, want 2", n)
	}
}

func TestPermanent403FallsBackToRSS(t *testing.T) {
	e := newEnv(t, 50)
	e.fake.Fail(fakestore.EPCharts, nil, fakestore.Fault{Status: 403, ContentType: "text/html", Body: "<html><head><title>Forbidden</title></head></html>"})
	got := e.sweep(context.Background(), reqs([]string{"us", "tr"}, []string{"top-free"}, []string{"6005"}, 200))
	for k, s := range got {
		want := e.fake.Ranking(s.Country, "top-free", "6005")[:100]
		if !s.Complete || s.Source != "rss" || s.Depth != 100 || len(s.Entries) != 100 || s.Entries[99].AppID != want[99] || s.Entries[0].Name == "" {
			t.Fatalf("%s: complete=%v source=%s depth=%d entries=%d error=%q", k, s.Complete, s.Source, s.Depth, len(s.Entries), s.Error)
		}
	}
	// 403 is not retried: exactly one charts request per chart.
	n := 0
	for _, h := range e.fake.Hits() {
		if h.Endpoint == fakestore.EPCharts {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d charts requests, want 2 (no retry on 403)", n)
	}
}

func TestBadBodiesNeverBecomeRanks(t *testing.T) {
	tests := []struct {
		name  string
		fault fakestore.Fault
		want  string
	}{
		{"HTMLCaptchaPage", fakestore.Fault{ContentType: "text/html; charset=utf-8", Body: "<!DOCTYPE html><html><head><title>Verify you are human</title></head><body>captcha</body></html>"}, `HTML page instead of JSON (HTTP 200, text/html; charset=utf-8, 96 bytes: "<title>Verify you are human</title>")`},
		{"TruncatedBody", fakestore.Fault{Truncate: true}, "truncated JSON"},
		{"ChangedShape", fakestore.Fault{Body: `{"data":{"resultIds":["1"]}}`}, "at resultIds: missing"},
		{"EmptyChart", fakestore.Fault{Body: `{"resultIds":[]}`}, "the chart lists no apps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 50, "charts")
			e.fake.Fail(fakestore.EPCharts, nil, tt.fault)
			s := e.sweep(context.Background(), reqs([]string{"us"}, []string{"top-free"}, []string{"all"}, 200))["appstore/us/top-free/all"]
			if s.Complete || len(s.Entries) != 0 {
				t.Fatalf("complete=%v entries=%d: a bad body must not yield ranks", s.Complete, len(s.Entries))
			}
			if !strings.Contains(s.Error, tt.want) || !strings.Contains(s.Error, e.srv.URL+"/WebObjects/MZStoreServices.woa/ws/charts?") {
				t.Fatalf("error = %q, want it to name the URL and say %q", s.Error, tt.want)
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTruncatedEverywhereIsIncomplete(t *testing.T) {
	e := newEnv(t, 50)
	for _, ep := range []string{fakestore.EPCharts, fakestore.EPRSS, fakestore.EPMarketing} {
		e.fake.Fail(ep, nil, fakestore.Fault{Truncate: true})
	}
	s := e.sweep(context.Background(), reqs([]string{"us"}, []string{"top-free"}, []string{"all"}, 200))["appstore/us/top-free/all"]
	if s.Complete || len(s.Entries) != 0 || s.Source != "marketing" {
		t.Fatalf("complete=%v entries=%d source=%s", s.Complete, len(s.Entries), s.Source)
	}
	for _, src := range []string{"charts: ", "rss: ", "marketing: "} {
		if !strings.Contains(s.Error, src) {
			t.Fatalf("error %q does not report source %s", s.Error, src)
		}
	}
	if n := testutil.ToFloat64(e.m.FormatDrift.WithLabelValues("appstore", "rss")); n != 1 {
		t.Fatalf("format drift counted %v for rss, want 1", n)
	}
}

func TestShortChartFromSourceThatDoesNotCapIsIncomplete(t *testing.T) {
	e := newEnv(t, 50, "charts")
	ids := e.fake.Ranking("us", "top-free", "36")[:150]
	e.fake.SetChart("us", "top-free", "36", ids)
	s := e.sweep(context.Background(), reqs([]string{"us"}, []string{"top-free"}, []string{"all"}, 200))["appstore/us/top-free/all"]
	if s.Complete || len(s.Entries) != 150 || s.Error != "charts: short chart: 150 of 200 entries" {
		t.Fatalf("complete=%v entries=%d error=%q", s.Complete, len(s.Entries), s.Error)
	}
}

func TestMarketingServesOnlyOverall(t *testing.T) {
	e := newEnv(t, 50, "marketing")
	got := e.sweep(context.Background(), reqs([]string{"us"}, []string{"top-free", "top-grossing"}, []string{"all", "6005"}, 200))
	free := got["appstore/us/top-free/all"]
	if !free.Complete || free.Source != "marketing" || len(free.Entries) != 100 || free.Depth != 100 {
		t.Fatalf("top-free/all: complete=%v source=%s entries=%d", free.Complete, free.Source, len(free.Entries))
	}
	for _, k := range []string{"appstore/us/top-free/6005", "appstore/us/top-grossing/all"} {
		s := got[k]
		if s.Complete || !strings.Contains(s.Error, "no configured source serves") {
			t.Fatalf("%s: complete=%v error=%q", k, s.Complete, s.Error)
		}
	}
	for _, h := range e.fake.Hits() {
		if h.Endpoint != fakestore.EPMarketing {
			t.Fatalf("unexpected request %s", h.URL)
		}
	}
}

func TestLookupThrottled403IsRetried(t *testing.T) {
	e := newEnv(t, 50, "charts")
	e.fake.Fail(fakestore.EPLookup, nil, fakestore.Fault{Status: 403, Body: " ", Times: 1})
	s := e.sweep(context.Background(), reqs([]string{"us"}, []string{"top-free"}, []string{"all"}, 20))["appstore/us/top-free/all"]
	if !s.Complete || s.Entries[0].Name == "" {
		t.Fatalf("complete=%v first=%+v", s.Complete, s.Entries[0])
	}
}

func TestLookupFailureKeepsRanks(t *testing.T) {
	e := newEnv(t, 50, "charts")
	e.fake.Fail(fakestore.EPLookup, nil, fakestore.Fault{Status: 500})
	s := e.sweep(context.Background(), reqs([]string{"us"}, []string{"top-free"}, []string{"all"}, 20))["appstore/us/top-free/all"]
	want := e.fake.Ranking("us", "top-free", "36")
	if !s.Complete || len(s.Entries) != 20 || s.Entries[5].AppID != want[5] || s.Entries[5].Name != "" {
		t.Fatalf("complete=%v entries=%d #6=%+v", s.Complete, len(s.Entries), s.Entries[5])
	}
}

func TestRateNeverExceeded(t *testing.T) {
	const rate = 10
	e := newEnv(t, rate)
	e.fake.Fail(fakestore.EPCharts, func(r *http.Request) bool { return r.URL.Query().Get("cc") == "de" }, fakestore.Fault{Status: 503, Times: 2})
	e.fake.Fail(fakestore.EPCharts, func(r *http.Request) bool { return r.URL.Query().Get("cc") == "fr" }, fakestore.Fault{Status: 429, RetryAfter: "1", Times: 1})
	rs := reqs([]string{"us", "gb", "de", "fr", "jp"}, []string{"top-free", "top-paid"}, []string{"all", "6005"}, 200)
	start := time.Now()
	got := e.sweep(context.Background(), rs)
	elapsed := time.Since(start)
	if len(got) != len(rs) {
		t.Fatalf("%d snapshots, want %d", len(got), len(rs))
	}
	hits := len(e.fake.Hits())
	// 200 ms of the second allow for arrival jitter (see MaxPerWindow; the
	// race detector and the other packages' tests share two cores): 11
	// requests in 800 ms are 80 ms apart on average, against the pacer's
	// 101, which unpaced retries or a burst after a Retry-After would show,
	// and scheduling delays alone would have to shift them by 200 ms. The
	// pacer's own tests check its starts exactly, on a fake clock.
	if m := e.fake.MaxPerWindow(800 * time.Millisecond); m > rate {
		t.Fatalf("the fake saw %d requests within 800 ms; rate is %d", m, rate)
	}
	// The floor: requests spaced at 1/rate.
	if floor := time.Duration(hits-1) * time.Second / rate; elapsed < floor {
		t.Fatalf("%d requests in %s, faster than the rate allows (%s)", hits, elapsed, floor)
	}
}

func TestCancelStopsNewRequestsAndKeepsFinishedOnes(t *testing.T) {
	e := newEnv(t, 20)
	e.fake.Latency = 20 * time.Millisecond
	rs := reqs([]string{"us", "gb", "de", "fr", "jp", "kr", "br", "in"}, []string{"top-free", "top-paid", "top-grossing"}, []string{"all"}, 50)
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	complete, notFetched := 0, 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.s.Sweep(ctx, slot, rs, func(s chart.Snapshot) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case s.Complete:
				complete++
				if complete == 3 {
					cancel()
				}
			case strings.HasPrefix(s.Error, "not fetched:"):
				notFetched++
			default:
				t.Errorf("%s: %q", s.Key(), s.Error)
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("sweep did not stop after cancel")
	}
	if complete < 3 || notFetched == 0 || complete+notFetched != len(rs) {
		t.Fatalf("%d complete + %d not fetched of %d: cancel should stop the sweep early and record what it skipped", complete, notFetched, len(rs))
	}
}
