package googleplay_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/internal/syncbuf"
	"github.com/rankpulse/rankpulse/metrics"
	"github.com/rankpulse/rankpulse/scrapers"
	"github.com/rankpulse/rankpulse/scrapers/googleplay"
)

var slot = time.Date(2021, 1, 7, 18, 7, 0, 0, time.UTC)

type env struct {
	fake *fakestore.Play
	srv  *httptest.Server
	s    *googleplay.Scraper
	m    *metrics.Metrics
	logs *syncbuf.Buffer
}

func newEnv(t *testing.T, rate float64) *env {
	t.Helper()
	return newEnvFor(t, fakestore.NewPlay(300), scrapers.FetchConfig{Rate: rate})
}

// newEnvFor serves fake; fc's non-zero fields replace the test defaults.
func newEnvFor(t *testing.T, fake *fakestore.Play, fc scrapers.FetchConfig) *env {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	m := metrics.New()
	logs := &syncbuf.Buffer{}
	fetch := scrapers.FetchConfig{Rate: 50, Concurrency: 2, Timeout: 5 * time.Second, Retries: 2, BackoffBase: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond,
		MaxBodyBytes: fc.MaxBodyBytes, MaxBodyKey: fc.MaxBodyKey, StopGrace: fc.StopGrace}
	if fc.Rate > 0 {
		fetch.Rate = fc.Rate
	}
	if fc.Timeout > 0 {
		fetch.Timeout = fc.Timeout
	}
	s := googleplay.New(googleplay.Config{
		PlayURL: srv.URL, Language: "en", BlockedBackoff: time.Minute, Fetch: fetch,
	}, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})), m)
	return &env{fake: fake, srv: srv, s: s, m: m, logs: logs}
}

func reqs(countries, charts, cats []string, depth int) []scrapers.Request {
	var out []scrapers.Request
	for _, cc := range countries {
		for _, ch := range charts {
			for _, cat := range cats {
				out = append(out, scrapers.Request{Key: chart.Key{Store: chart.GooglePlay, Country: cc, Chart: ch, Category: cat}, Depth: depth})
			}
		}
	}
	return out
}

func (e *env) sweep(rs []scrapers.Request) map[string]chart.Snapshot {
	out := map[string]chart.Snapshot{}
	e.s.Sweep(context.Background(), slot, rs, func(s chart.Snapshot) { out[s.Key().String()] = s })
	return out
}

func TestSweepCountriesAndCategories(t *testing.T) {
	e := newEnv(t, 50)
	rs := reqs([]string{"us", "tr", "de"}, []string{"top-free", "top-grossing"}, []string{"all", "COMMUNICATION"}, 200)
	got := e.sweep(rs)
	if len(got) != len(rs) {
		t.Fatalf("%d snapshots, want %d", len(got), len(rs))
	}
	for _, r := range rs {
		s := got[r.Key.String()]
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		want := e.fake.Ranking(r.Country, googleplay.Collections[r.Chart], googleplay.Category(r.Category))
		if !s.Complete || s.Source != "play" || len(s.Entries) != 200 || s.Depth != 200 || s.Error != "" {
			t.Fatalf("%s: complete=%v source=%s entries=%d error=%q", r.Key, s.Complete, s.Source, len(s.Entries), s.Error)
		}
		for i, en := range s.Entries {
			app, _ := e.fake.App(en.AppID)
			if en.AppID != want[i] || en.Rank != i+1 || en.Name != app.Title || en.Developer != app.Developer {
				t.Fatalf("%s #%d = %+v, want %s %q", r.Key, i+1, en, want[i], app.Title)
			}
		}
	}
	// What Google was asked: the country, language, collection, category
	// and count of each chart, exactly once.
	seen := map[string]int{}
	for _, q := range e.fake.Seen {
		if q.Language != "en" || q.Num != 200 {
			t.Fatalf("request %+v", q)
		}
		seen[q.Country+"/"+q.Collection+"/"+q.Category]++
	}
	for _, k := range []string{"us/topselling_free/APPLICATION", "tr/topgrossing/COMMUNICATION", "de/topselling_free/COMMUNICATION"} {
		if seen[k] != 1 {
			t.Fatalf("%s requested %d times; seen %v", k, seen[k], seen)
		}
	}
}

func TestNoSuchChartIsCompleteAndEmpty(t *testing.T) {
	e := newEnv(t, 50)
	e.fake.SetEmpty("us", "topselling_paid", "COMMUNICATION")
	s := e.sweep(reqs([]string{"us"}, []string{"top-paid"}, []string{"COMMUNICATION"}, 200))["googleplay/us/top-paid/COMMUNICATION"]
	if !s.Complete || len(s.Entries) != 0 || s.Error != "" {
		t.Fatalf("complete=%v entries=%d error=%q", s.Complete, len(s.Entries), s.Error)
	}
}

func TestFormatDriftIsLoudAndHarmless(t *testing.T) {
	appList := func(p []any) []any { return p[0].([]any)[1].([]any)[0].([]any)[28].([]any) }
	tests := []struct {
		name      string
		transform func([]byte) []byte
		want      string
	}{
		{"AppsListMovedOneLevel", func(b []byte) []byte {
			return fakestore.MutatePlayPayload(b, func(p []any) any { l := appList(p); l[0] = []any{l[0]}; return p })
		}, "at payload[0][1][0][28][0][0][0][0][0]: want a string, got an array"},
		{"FieldOfTheWrongType", func(b []byte) []byte {
			return fakestore.MutatePlayPayload(b, func(p []any) any { appList(p)[0].([]any)[3].([]any)[0].([]any)[3] = 7; return p })
		}, "at payload[0][1][0][28][0][3][0][3]: want a string, got a number"},
		{"MissingChunk", func(b []byte) []byte {
			return fakestore.ReframePlay(fakestore.PlayFrames(b)[1:])
		}, `at body: no ["wrb.fr","vyAe2",…] envelope in 2 frames`},
		{"ShortenedLengthLine", func(b []byte) []byte {
			i := bytes.IndexByte(b[6:], '\n') + 6 // the first length line
			n := string(b[6:i])
			return append(append(append([]byte{}, b[:6]...), []byte(n[:len(n)-1]+"0")...), b[i:]...)
		}, "at frame 1: declares length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 50)
			e.fake.Fail(fakestore.EPPlay, nil, fakestore.Fault{Transform: tt.transform})
			rs := reqs([]string{"us", "gb"}, []string{"top-free"}, []string{"all", "COMMUNICATION"}, 100)
			got := e.sweep(rs)
			for k, s := range got {
				if s.Complete || len(s.Entries) != 0 {
					t.Fatalf("%s: complete=%v with %d entries: drift must never yield ranks", k, s.Complete, len(s.Entries))
				}
				if !strings.Contains(s.Error, tt.want) || !strings.Contains(s.Error, e.srv.URL+"/_/PlayStoreUi/data/batchexecute") {
					t.Fatalf("%s: error %q, want the URL and %q", k, s.Error, tt.want)
				}
			}
			if n := testutil.ToFloat64(e.m.FormatDrift.WithLabelValues("googleplay", "play")); n != float64(len(rs)) {
				t.Fatalf("format drift counted %v times, want %d", n, len(rs))
			}
			if n := strings.Count(e.logs.String(), "level=ERROR"); n != 1 || !strings.Contains(e.logs.String(), "no longer match the expected format") {
				t.Fatalf("want exactly one error line for the sweep, got %d:\n%s", n, e.logs.String())
			}
		})
	}
}

func TestTruncatedBodyIsAFailedReadNotDrift(t *testing.T) {
	e := newEnv(t, 50)
	e.fake.Fail(fakestore.EPPlay, nil, fakestore.Fault{Truncate: true})
	s := e.sweep(reqs([]string{"us"}, []string{"top-free"}, []string{"all"}, 100))["googleplay/us/top-free/all"]
	if s.Complete || len(s.Entries) != 0 || !strings.Contains(s.Error, "the body is truncated") {
		t.Fatalf("complete=%v entries=%d error=%q", s.Complete, len(s.Entries), s.Error)
	}
	if n := testutil.ToFloat64(e.m.FormatDrift.WithLabelValues("googleplay", "play")); n != 0 {
		t.Fatalf("a truncated body counted as format drift")
	}
}

func TestBlocksStopTheSweepAndBackOff(t *testing.T) {
	captcha := `<html><head><title>Sorry...</title></head><body><div id="captcha-form">Our systems have detected unusual traffic from your computer network.</div><script src="https://www.google.com/recaptcha/api.js"></script></body></html>`
	tests := []struct {
		name       string
		fault      fakestore.Fault
		reason     string
		minBackoff time.Duration
	}{
		{"ConsentRedirect", fakestore.Fault{Status: 302, Location: "https://consent.google.com/ml?continue=https://play.google.com/store&gl=DE"}, "HTTP 302 redirect to https://consent.google.com/ml", time.Minute},
		{"CaptchaPage", fakestore.Fault{Status: 200, ContentType: "text/html; charset=UTF-8", Body: captcha}, `a captcha page (HTTP 200, "<title>Sorry...</title>")`, time.Minute},
		{"CaptchaWith503", fakestore.Fault{Status: 503, ContentType: "text/html", Body: captcha}, "a captcha page (HTTP 503", time.Minute},
		{"TooManyRequests", fakestore.Fault{Status: 429, RetryAfter: "7200"}, "HTTP 429 Too Many Requests", 2 * time.Hour},
		{"Persistent503", fakestore.Fault{Status: 503}, "HTTP 503 after 3 attempts", time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 50)
			e.fake.Fail(fakestore.EPPlay, nil, tt.fault)
			rs := reqs([]string{"us", "gb", "de", "fr", "jp"}, []string{"top-free", "top-paid"}, []string{"all"}, 100)
			start := time.Now()
			got := e.sweep(rs)
			if len(got) != len(rs) {
				t.Fatalf("%d snapshots, want one per chart (%d)", len(got), len(rs))
			}
			skipped := 0
			for k, s := range got {
				if s.Complete || len(s.Entries) != 0 || !strings.Contains(s.Error, tt.reason) {
					t.Fatalf("%s: complete=%v error=%q, want the reason %q", k, s.Complete, s.Error, tt.reason)
				}
				if strings.HasPrefix(s.Error, "not fetched") {
					skipped++
				}
			}
			// Two requests in flight at most when the block came; the rest
			// were never sent.
			sent := len(e.fake.Hits())
			if tt.fault.Status == 503 && !strings.Contains(tt.reason, "captcha") {
				sent /= 3 // each 503 chart was tried three times
			}
			if sent > 2 || skipped < len(rs)-2 {
				t.Fatalf("%d charts requested and %d skipped after the block: the sweep did not stop", sent, skipped)
			}
			until, reason := e.s.BlockedUntil()
			if until.Sub(start) < tt.minBackoff || !strings.Contains(reason, strings.SplitN(tt.reason, " (", 2)[0]) {
				t.Fatalf("backing off until %v (%s from now) for %q", until, until.Sub(start), reason)
			}
			// The next sweep leaves the store alone.
			e.fake.ResetHits()
			e.fake.ClearFaults()
			next := e.sweep(rs)
			if n := len(e.fake.Hits()); n != 0 {
				t.Fatalf("the next sweep sent %d requests while backing off", n)
			}
			for _, s := range next {
				if s.Complete || !strings.Contains(s.Error, "backing off until") {
					t.Fatalf("next sweep: %q", s.Error)
				}
			}
			if !strings.Contains(e.logs.String(), "google play blocked this sweep") {
				t.Fatalf("no error log for the block:\n%s", e.logs.String())
			}
		})
	}
}

func TestA503ThatPassesIsRetried(t *testing.T) {
	e := newEnv(t, 50)
	e.fake.Fail(fakestore.EPPlay, nil, fakestore.Fault{Status: 503, Times: 1})
	s := e.sweep(reqs([]string{"us"}, []string{"top-free"}, []string{"all"}, 50))["googleplay/us/top-free/all"]
	if !s.Complete || len(s.Entries) != 50 {
		t.Fatalf("complete=%v entries=%d error=%q", s.Complete, len(s.Entries), s.Error)
	}
	if until, _ := e.s.BlockedUntil(); !until.IsZero() {
		t.Fatal("a single 503 put the store in backoff")
	}
}

func TestPlayPacing(t *testing.T) {
	e := newEnv(t, 5)
	got := e.sweep(reqs([]string{"us", "gb", "de"}, []string{"top-free", "top-paid", "top-grossing"}, []string{"all"}, 20))
	if len(got) != 9 {
		t.Fatalf("%d snapshots", len(got))
	}
	// 200 ms of the second allow for arrival jitter (see MaxPerWindow and
	// TestRateNeverExceeded in appstore).
	if m := e.fake.MaxPerWindow(800 * time.Millisecond); m > 5 {
		t.Fatalf("%d requests within 800 ms at rate 5", m)
	}
}
