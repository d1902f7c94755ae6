package appstore

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/internal/fixtures"
	"github.com/rankpulse/rankpulse/scrapers"
)

// trFeed wraps the real Turkish entries (stored without their envelope) in a
// feed object, as the endpoint sends them.
func trFeed(t *testing.T, entry func([]json.RawMessage) any) []byte {
	t.Helper()
	var entries []json.RawMessage
	if err := json.Unmarshal(fixtures.Read(fixtures.RSSEntriesTR), &entries); err != nil {
		t.Fatal(err)
	}
	feed := map[string]any{"id": map[string]string{"label": "https://itunes.apple.com/tr/rss/topfreeapplications/limit=100/genre=6005/json"}}
	if e := entry(entries); e != nil {
		feed["entry"] = e
	}
	b, err := json.Marshal(map[string]any{"feed": feed})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRSSRealEntries(t *testing.T) {
	got, err := ParseRSS(trFeed(t, func(e []json.RawMessage) any { return e }))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		rank      int
		id, name  string
		developer string
	}{
		{1, "6446901002", "Threads, an Instagram app", "Instagram, Inc."},
		{2, "310633997", "WhatsApp Messenger", "WhatsApp Inc."},
		{3, "686449807", "Telegram Messenger", "Telegram FZ-LLC"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Rank != w.rank || g.AppID != w.id || g.Name != w.name || g.Developer != w.developer {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestParseRSSVerbatimEnvelope(t *testing.T) {
	// A complete real response with the feed wrapper; its entries have a
	// single-object "link", the XML-to-JSON collapse.
	got, err := ParseRSS(fixtures.Read(fixtures.RSSEnvelopeUS))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].AppID != "1654513456" || got[0].Name != "Bell Bottom Country" || got[0].Developer != "Lainey Wilson" || got[1].Rank != 2 || got[1].AppID != "1644401704" {
		t.Fatalf("got %+v", got)
	}
}

func TestParseRSSSingleObjectEntry(t *testing.T) {
	got, err := ParseRSS(trFeed(t, func(e []json.RawMessage) any { return e[1] }))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Rank != 1 || got[0].AppID != "310633997" {
		t.Fatalf("got %+v, want WhatsApp alone at #1", got)
	}
}

func TestParseRSSMissingEntryIsEmptyNotZeroApps(t *testing.T) {
	_, err := ParseRSS(trFeed(t, func([]json.RawMessage) any { return nil }))
	if !errors.Is(err, ErrEmpty) {
		t.Fatalf("err = %v, want ErrEmpty", err)
	}
	var pe *scrapers.PathError
	if !errors.As(err, &pe) || pe.Path != "feed.entry" {
		t.Fatalf("err = %v, want a path error at feed.entry", err)
	}
}

func TestParseErrors(t *testing.T) {
	envelope := fixtures.Read(fixtures.RSSEnvelopeUS)
	tests := []struct {
		name     string
		parse    func([]byte) error
		body     string
		wantPath string
		wantText string
	}{
		{"RSSHTML", rss, `<!DOCTYPE html><html><head><title>Captcha</title></head></html>`, "$", "not valid JSON"},
		{"RSSTruncated", rss, string(envelope[:len(envelope)/2]), "$", "truncated JSON"},
		{"RSSNoFeed", rss, `{"results":[]}`, "feed", "missing"},
		{"RSSEntryWithoutID", rss, `{"feed":{"entry":[{"im:name":{"label":"X"},"id":{"label":"u"}}]}}`, "feed.entry[0].id.attributes", "missing"},
		{"RSSEntryBadID", rss, `{"feed":{"entry":[{"im:name":{"label":"X"},"id":{"label":"u","attributes":{"im:id":"abc"}}}]}}`, "feed.entry[0].id.attributes.im:id", "not numeric"},
		{"RSSEntryNotObject", rss, `{"feed":{"entry":"nope"}}`, "feed.entry", "want an object or an array"},
		{"RSSDuplicate", rss, `{"feed":{"entry":[{"im:name":{"label":"X"},"id":{"attributes":{"im:id":"1"}}},{"im:name":{"label":"X"},"id":{"attributes":{"im:id":"1"}}}]}}`, "feed.entry[1]", "listed twice"},
		{"ChartsMissing", charts, `{"ids":["1"]}`, "resultIds", "missing"},
		{"ChartsEmpty", charts, `{"resultIds":[]}`, "resultIds", "no apps"},
		{"ChartsWrongType", charts, `{"resultIds":{"a":1}}`, "$.resultIds", "want"},
		{"ChartsBadID", charts, `{"resultIds":["1","x2"]}`, "resultIds[1]", "not numeric"},
		{"ChartsTruncated", charts, `{"resultIds":["1","2`, "$", "truncated JSON"},
		{"ChartsNotObject", charts, `["1","2"]`, "$", "want an object"},
		{"ChartsNull", charts, `{"resultIds":null}`, "resultIds", "missing"},
		{"LookupNoResults", lookup, `{"resultCount":0}`, "results", "missing"},
		{"LookupBadTrackID", lookup, `{"resultCount":1,"results":[{"kind":"software","trackId":"x"}]}`, "results[0].trackId", "not numeric"},
		{"LookupTruncated", lookup, `{"resultCount":1,"results":[{"kind":"software","trackId":1,"trackName":"Fo`, "$", "truncated JSON"},
		{"LookupTruncatedAfterResults", lookup, `{"resultCount":1,"results":[{"kind":"software","trackId":1,"trackName":"Foo"}]`, "$", "truncated JSON"},
		{"LookupWrongType", lookup, `{"results":[{"trackId":1,"trackName":7}]}`, "results[0].trackName", "want string"},
		{"LookupFlood", lookup, `{"results":[` + strings.Repeat(`{"trackId":2},`, 12) + `{"trackId":2}]}`, "results", "more than 12 results for 1 ids"},
		{"MarketingNoResults", marketing, `{"feed":{"title":"Top Free Apps"}}`, "feed.results", "missing"},
		{"MarketingEmpty", marketing, `{"feed":{"results":[]}}`, "feed.results", "no apps"},
		{"MarketingNoName", marketing, `{"feed":{"results":[{"id":"1"}]}}`, "feed.results[0].name", "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.parse([]byte(tt.body))
			var pe *scrapers.PathError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *PathError", err)
			}
			if pe.Path != tt.wantPath || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("err = %q (path %q), want path %q and text %q", err, pe.Path, tt.wantPath, tt.wantText)
			}
		})
	}
}

func rss(b []byte) error       { _, err := ParseRSS(b); return err }
func charts(b []byte) error    { _, err := ParseCharts(b, 200); return err }
func lookup(b []byte) error    { _, err := ParseLookup(b, []string{"1"}); return err }
func marketing(b []byte) error { _, err := ParseMarketing(b); return err }

func TestParseChartsRealExcerpt(t *testing.T) {
	ids, err := ParseCharts(fixtures.Read(fixtures.WSChartsUS), 200)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"6448311069", "6746533451", "6446901002", "1673567402", "6477489729"}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Fatalf("ids = %v, want %v", ids, want)
	}
	// Numbers are accepted too.
	ids, err = ParseCharts([]byte(`{"resultIds":[310633997,"686449807"]}`), 200)
	if err != nil || len(ids) != 2 || ids[0] != "310633997" {
		t.Fatalf("ids = %v, err = %v", ids, err)
	}
}

func TestParseLookupReal(t *testing.T) {
	apps, err := ParseLookup(fixtures.Read(fixtures.LookupUS), []string{"284882215", "1"})
	if err != nil {
		t.Fatal(err)
	}
	a, ok := apps["284882215"]
	if !ok || a.Name != "Facebook" || a.Developer != "Meta Platforms, Inc." || len(apps) != 1 {
		t.Fatalf("apps = %+v", apps)
	}
}

func TestParseMarketingReal(t *testing.T) {
	got, err := ParseMarketing(fixtures.Read(fixtures.MarketingUS))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Rank != 1 || got[0].AppID != "1577705074" || got[0].Name != "EPIK - AI Photo Editor" || got[0].Developer != "SNOW Corporation" {
		t.Fatalf("got %+v", got)
	}
}

func FuzzParseRSS(f *testing.F) {
	f.Add(fixtures.Read(fixtures.RSSEnvelopeUS))
	f.Add([]byte(`{"feed":{"entry":{"im:name":{"label":"X"},"id":{"attributes":{"im:id":"1"}}}}}`))
	f.Add([]byte(`{"feed":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := ParseRSS(b)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for i, e := range entries {
			if e.Rank != i+1 || e.AppID == "" || seen[e.AppID] {
				t.Fatalf("bad entry %d: %+v", i, e)
			}
			seen[e.AppID] = true
		}
	})
}

func FuzzParseCharts(f *testing.F) {
	f.Add(fixtures.Read(fixtures.WSChartsUS))
	f.Add([]byte(`{"resultIds":[1,2,3]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := ParseCharts(b, 50)
		if err == nil && (len(ids) == 0 || len(ids) > 50) {
			t.Fatalf("no error and %d ids (max 50)", len(ids))
		}
	})
}

func TestParseChartsReadsOnlyTheDepthAskedFor(t *testing.T) {
	body := fakestore.HugeChartIDs(4_300_000).RawBody // 56 MB, as a hostile store sent
	var ids []string
	var err error
	allocs := testing.AllocsPerRun(1, func() { ids, err = ParseCharts(body, 200) })
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 200 || ids[0] != "1000000000" || ids[199] != "1000000199" {
		t.Fatalf("%d ids, first %q, last %q; want the first 200 in order", len(ids), ids[0], ids[len(ids)-1])
	}
	// Reading all 4.3 M ids costs millions of allocations; the first 200, a
	// few thousand at most.
	if allocs > 5000 {
		t.Fatalf("%.0f allocations: the parser read past the 200 ids it needed", allocs)
	}
}

func TestParseLookupKeepsOnlyTheAppsAskedFor(t *testing.T) {
	apps, err := ParseLookup([]byte(`{"resultCount":3,"results":[{"kind":"software","trackId":1,"trackName":"One","artistName":"A"},{"kind":"software","trackId":2,"trackName":"Two"},{"kind":"podcast","trackId":3,"trackName":"Pod"}]}`), []string{"1", "3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || apps["1"].Name != "One" || apps["1"].Developer != "A" {
		t.Fatalf("apps = %+v, want only app 1 (2 was not asked for, 3 is not software)", apps)
	}
}

func FuzzParseLookup(f *testing.F) {
	f.Add(fixtures.Read(fixtures.LookupUS))
	f.Add([]byte(`{"resultCount":1,"results":[{"kind":"software","trackId":1,"trackName":"One"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		apps, err := ParseLookup(b, []string{"1", "284882215"})
		if err != nil {
			return
		}
		for id, a := range apps {
			if (id != "1" && id != "284882215") || a.ID != id {
				t.Fatalf("app %q (%+v) was not asked for", id, a)
			}
		}
	})
}

func TestValidAppIDMatchesItsPattern(t *testing.T) {
	re := regexp.MustCompile(`^[0-9]{1,15}$`)
	for _, s := range []string{"", "0", "310633997", "123456789012345", "1234567890123456", "12a", " 1", "1 ", "٣", "-1", "+1", "1.0", "\x00"} {
		if got, want := validAppID(s), re.MatchString(s); got != want {
			t.Errorf("validAppID(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}
