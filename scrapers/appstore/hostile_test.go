package appstore_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/scrapers/appstore"
)

// Hostile and broken answers: each must cost a bounded amount and end in a
// snapshot that says what happened.

func hits(f *fakestore.Apple, endpoint string) int {
	n := 0
	for _, h := range f.Hits() {
		if h.Endpoint == endpoint {
			n++
		}
	}
	return n
}

func TestHostileIDCountCostsOneLookup(t *testing.T) {
	e := newEnv(t, 200, "charts")
	e.fake.Fail(fakestore.EPCharts, nil, fakestore.HugeChartIDs(500_000)) // 6.5 MB, within the default limit
	s := e.sweep(context.Background(), reqs([]string{"us"}, []string{"top-free"}, []string{"all"}, 200))["appstore/us/top-free/all"]
	if !s.Complete || len(s.Entries) != 200 || s.Entries[0].AppID != "1000000000" || s.Entries[199].AppID != "1000000199" {
		t.Fatalf("complete=%v, %d entries (%q…): want the first 200 ids, in order", s.Complete, len(s.Entries), s.Error)
	}
	if n := hits(e.fake, fakestore.EPLookup); n != 1 {
		t.Fatalf("%d lookups for a 200-deep chart; want 1 (the old scraper looked up all 500,000 ids: 2,500)", n)
	}
}

func TestAnswerOverTheLimitIsIncompleteAndSaysWhichKey(t *testing.T) {
	for _, announce := range []bool{true, false} {
		e := newEnvWith(t, func(c *appstore.Config) {
			c.Sources = []string{"charts"}
			c.Fetch.MaxBodyBytes, c.Fetch.MaxBodyKey = 1<<20, "stores.appstore.max_body_bytes"
		})
		f := fakestore.HugeHTML(3 << 20)
		f.NoLength = !announce
		e.fake.Fail(fakestore.EPCharts, nil, f)
		s := e.sweep(context.Background(), reqs([]string{"us"}, []string{"top-free"}, []string{"all"}, 200))["appstore/us/top-free/all"]
		if s.Complete || len(s.Entries) != 0 {
			t.Fatalf("announce=%v: complete=%v with %d entries from an answer over the limit", announce, s.Complete, len(s.Entries))
		}
		for _, want := range []string{"larger than the 1048576-byte limit", "raise stores.appstore.max_body_bytes", "/ws/charts?"} {
			if !strings.Contains(s.Error, want) {
				t.Errorf("announce=%v: error %q lacks %q", announce, s.Error, want)
			}
		}
		if n := hits(e.fake, fakestore.EPCharts); n != 1 {
			t.Errorf("announce=%v: %d requests; an answer over the limit is not retried", announce, n)
		}
	}
}

func TestAnswerOverTheLimitFallsBackToTheNextSource(t *testing.T) {
	e := newEnvWith(t, func(c *appstore.Config) { c.Fetch.MaxBodyBytes = 1 << 20 })
	e.fake.Fail(fakestore.EPCharts, nil, fakestore.HugeHTML(3<<20))
	s := e.sweep(context.Background(), reqs([]string{"us"}, []string{"top-free"}, []string{"all"}, 100))["appstore/us/top-free/all"]
	if !s.Complete || s.Source != appstore.SourceRSS || len(s.Entries) != 100 {
		t.Fatalf("complete=%v source=%s entries=%d error=%q; want the RSS chart", s.Complete, s.Source, len(s.Entries), s.Error)
	}
}

func TestTruncatedLookupIsRetried(t *testing.T) {
	e := newEnv(t, 200, "charts")
	e.fake.Fail(fakestore.EPLookup, nil, fakestore.Fault{Truncate: true, Times: 2})
	s := e.sweep(context.Background(), reqs([]string{"us"}, []string{"top-free"}, []string{"all"}, 50))["appstore/us/top-free/all"]
	for _, en := range s.Entries {
		if app, _ := e.fake.App(en.AppID); en.Name != app.Name || en.Name == "" {
			t.Fatalf("#%d %s named %q, want %q", en.Rank, en.AppID, en.Name, app.Name)
		}
	}
	if n := hits(e.fake, fakestore.EPLookup); n != 3 {
		t.Fatalf("%d lookups, want 3 (two truncated, then the good one)", n)
	}
}

// names is a NameSource backed by a map.
type names map[string]string

func (n names) KnownNames(_ context.Context, store string, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for _, id := range ids {
		if v, ok := n[id]; ok && store == chart.AppStore {
			out[id] = v
		}
	}
	return out, nil
}

func TestFailedLookupFallsBackToKnownNames(t *testing.T) {
	known := names{}
	e := newEnvWith(t, func(c *appstore.Config) { c.Sources, c.Names = []string{"charts"}, known })
	ranking := e.fake.Ranking("us", "top-free", "36")[:30]
	for _, id := range ranking[:20] { // 20 of the 30 apps were seen before
		app, _ := e.fake.App(id)
		known[id] = app.Name + " (stored)"
	}
	e.fake.Fail(fakestore.EPLookup, nil, fakestore.Fault{Truncate: true})
	s := e.sweep(context.Background(), reqs([]string{"us"}, []string{"top-free"}, []string{"all"}, 30))["appstore/us/top-free/all"]
	if !s.Complete || len(s.Entries) != 30 {
		t.Fatalf("complete=%v entries=%d: the ranks were read, names are extra", s.Complete, len(s.Entries))
	}
	for i, en := range s.Entries {
		if en.AppID != ranking[i] {
			t.Fatalf("#%d is %s, want %s", en.Rank, en.AppID, ranking[i])
		}
		if want := known[en.AppID]; en.Name != want {
			t.Errorf("#%d %s named %q, want %q (the stored name, or none)", en.Rank, en.AppID, en.Name, want)
		}
	}
	if n := hits(e.fake, fakestore.EPLookup); n != 4 {
		t.Fatalf("%d lookups, want 4 (1 + 3 retries)", n)
	}
}

func TestStopCancelsAHostileDripWithinTheGrace(t *testing.T) {
	e := newEnvWith(t, func(c *appstore.Config) {
		c.Sources = []string{"charts", "rss"}
		c.Fetch.Timeout, c.Fetch.StopGrace = time.Hour, 100*time.Millisecond
	})
	e.fake.Fail(fakestore.EPCharts, nil, fakestore.SlowDrip(50*time.Millisecond))
	rs := reqs([]string{"us", "gb", "de", "fr", "jp", "kr"}, []string{"top-free"}, []string{"all"}, 100)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan map[string]chart.Snapshot, 1)
	go func() { got <- e.sweep(ctx, rs) }()
	time.Sleep(200 * time.Millisecond) // four charts are dripping in
	cancel()
	select {
	case snaps := <-got:
		if len(snaps) != len(rs) {
			t.Fatalf("%d snapshots for %d charts", len(snaps), len(rs))
		}
		for k, s := range snaps {
			if s.Complete || !strings.HasPrefix(s.Error, "not fetched:") {
				t.Errorf("%s: complete=%v error=%q; want not fetched", k, s.Complete, s.Error)
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the sweep outlived its cancellation by 30s: requests in flight were not cancelled")
	}
	if slices.ContainsFunc(e.fake.Hits(), func(h fakestore.Hit) bool { return h.Endpoint == fakestore.EPRSS }) {
		t.Fatal("the stopped sweep went on to the next source")
	}
}
