package influx

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/sinks"
)

// The reference: the line protocol as it was built before lines.go, through
// the client's write.NewPoint and PointToLineProtocolBuffer, kept verbatim.

func refEachLine(b sinks.Batch, watch map[string]map[string]string, name func(*chart.Snapshot, *chart.Entry) string, fn func(string)) {
	for i := range b.Snapshots {
		refSnapshotLines(&b.Snapshots[i], watch[b.Snapshots[i].Store], name, fn)
	}
	for i := range b.Alerts {
		fn(refAlertLine(&b.Alerts[i]))
	}
}

func refAlertLine(a *chart.Alert) string {
	tags := map[string]string{
		"kind": a.Kind, "severity": a.Severity, "store": a.Store, "country": a.CountryCode(),
		"app_id": a.AppID, "app_name": a.AppName, "watch": a.WatchName(),
	}
	if a.AppName == "" && a.AppID != "" {
		tags["app_name"] = UnknownName(a.AppID)
	}
	for k, v := range tags {
		if v == "" {
			delete(tags, k)
		}
	}
	fields := map[string]any{"summary": a.Summary}
	if a.FromRank != nil {
		fields["from_rank"] = int64(*a.FromRank)
	}
	if a.ToRank != nil {
		fields["to_rank"] = int64(*a.ToRank)
	}
	return refLineOf(write.NewPoint("rank_alert", tags, fields, chart.SlotTime(a.Time)))
}

func refSnapshotLines(s *chart.Snapshot, watch map[string]string, name func(*chart.Snapshot, *chart.Entry) string, fn func(string)) {
	at := chart.SlotTime(s.Time)
	fields := map[string]any{
		"entries":     int64(len(s.Entries)),
		"complete":    s.Complete,
		"duration_ms": s.DurationMS,
	}
	if s.Error != "" {
		fields["error"] = s.Error
	}
	source := s.Source
	if source == "" {
		source = "unknown"
	}
	fn(refLineOf(write.NewPoint("chart_scrape", map[string]string{
		"store": s.Store, "country": s.Country, "chart": s.Chart, "category": s.Category, "source": source,
	}, fields, at)))
	for _, e := range s.Entries {
		tags := map[string]string{
			"store": s.Store, "country": s.Country, "chart": s.Chart, "category": s.Category, "app_id": e.AppID,
			"app_name": name(s, &e),
		}
		if w := e.Watch; w != "" {
			tags["watch"] = w
		} else if w := watch[e.AppID]; w != "" {
			tags["watch"] = w
		}
		fn(refLineOf(write.NewPoint("app_rank", tags, map[string]any{"rank": int64(e.Rank)}, at)))
	}
}

func refLineOf(p *write.Point) string {
	var sb strings.Builder
	write.PointToLineProtocolBuffer(p, &sb, time.Second)
	return strings.Clone(strings.TrimSuffix(sb.String(), "\n"))
}

// compareLines fails t unless eachLine and the reference give the same bytes.
func compareLines(t *testing.T, b sinks.Batch, watch map[string]map[string]string, name func(*chart.Snapshot, *chart.Entry) string) int {
	t.Helper()
	var want []string
	refEachLine(b, watch, name, func(l string) { want = append(want, l) })
	var got []string
	eachLine(b, watch, name, func(l []byte) { got = append(got, string(l)) })
	if len(got) != len(want) {
		t.Fatalf("%d lines, reference %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d:\n got %q\nwant %q", i, got[i], want[i])
		}
	}
	return len(got)
}

func plainName(_ *chart.Snapshot, e *chart.Entry) string { return tagName(e) }

// TestLinesMatchReferenceOnHistory compares every point of a real month of
// App Store history (internal/fixtures), with a watch list.
func TestLinesMatchReferenceOnHistory(t *testing.T) {
	f, err := os.Open("../../internal/fixtures/testdata/history/appstore-us-cn-jp-games-business-2026-02.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := chart.NewReader(f)
	var b sinks.Batch
	watch := map[string]map[string]string{"appstore": {}}
	for {
		s, err := r.Next()
		if err != nil {
			break
		}
		if len(b.Snapshots) == 0 {
			for i, e := range s.Entries {
				if i%7 == 0 {
					watch["appstore"][e.AppID] = fmt.Sprintf("w%d", i)
				}
			}
		}
		b.Snapshots = append(b.Snapshots, s)
	}
	if len(b.Snapshots) < 100 {
		t.Fatalf("read %d snapshots of history", len(b.Snapshots))
	}
	n := compareLines(t, b, watch, plainName)
	t.Logf("%d snapshots, %d lines identical", len(b.Snapshots), n)
}

// TestLinesMatchReferenceOnEdgeCases: escaping of every special byte in
// tags and string fields, invalid UTF-8, watch tags from the entry and from
// the list, unknown and pinned names, failed snapshots, every alert shape.
func TestLinesMatchReferenceOnEdgeCases(t *testing.T) {
	weird := []string{"plain", "with space", "com,ma", "eq=ual", "new\nline", "car\rriage", "ta\tb", `back\slash`, `"quoted"`, "ünï €", "bad \xff utf8", "\xc3", " lead", "trail ", "=,= ,", ""}
	var b sinks.Batch
	at := time.Date(2026, 2, 3, 4, 5, 6, 700, time.FixedZone("x", 3600))
	for i, w := range weird {
		s := chart.Snapshot{Time: at, Store: "appstore", Country: "us", Chart: "top-free", Category: w, Source: w, Complete: i%2 == 0, Depth: 200, DurationMS: int64(i * 1000),
			Error: w}
		for j, name := range weird {
			e := chart.Entry{Rank: j + 1, AppID: fmt.Sprint(1000 + j), Name: name, Developer: w}
			if j%3 == 0 {
				e.Watch = weird[(i+j)%len(weird)]
			}
			if j == 4 {
				e.AppID = w
			}
			s.Entries = append(s.Entries, e)
		}
		b.Snapshots = append(b.Snapshots, s)
	}
	b.Snapshots = append(b.Snapshots, chart.Snapshot{Store: "googleplay", Country: "de", Chart: "top-paid", Category: "GAME"}) // zero time, no source, no entries
	ptr := func(v int) *int { return &v }
	str := func(v string) *string { return &v }
	for i, w := range weird {
		b.Alerts = append(b.Alerts,
			chart.Alert{Kind: "surge", Severity: "warning", Time: at, Store: "appstore", Country: str(w), AppID: fmt.Sprint(i), AppName: w, Watch: str(w), FromRank: ptr(143), ToRank: ptr(4), Summary: w},
			chart.Alert{Kind: "multi_country_surge", Severity: "critical", Time: at, Store: "appstore", AppID: w, Summary: "x " + w, ToRank: ptr(i)},
			chart.Alert{Kind: "removed", Severity: "critical", Time: at, Store: w, Country: str("us"), AppID: "1", AppName: "", FromRank: ptr(-1)},
			chart.Alert{Kind: w, Time: time.Time{}},
		)
	}
	watch := map[string]map[string]string{"appstore": {"1001": "listed", "1002": "with space", "1005": "eq=ual"}}
	compareLines(t, b, watch, plainName)
	// The pins: some entries pinned to the unknown tag although named.
	p := &pinned{slots: map[pinSlot]map[string]bool{}}
	for _, s := range b.Snapshots[:3] {
		p.add(pinRecord{Slot: chart.SlotTime(s.Time).Unix(), Key: s.Key(), Apps: []string{"1001", "1003"}})
	}
	compareLines(t, b, watch, p.tag)
}

func BenchmarkLines(b *testing.B) {
	var batch sinks.Batch
	for c := range 25 {
		s := chart.Snapshot{Time: time.Unix(1_700_000_000, 0), Store: "appstore", Country: "us", Chart: "top-free", Category: fmt.Sprint(6000 + c), Source: "charts", Complete: true, Depth: 200}
		for i := range 200 {
			s.Entries = append(s.Entries, chart.Entry{Rank: i + 1, AppID: fmt.Sprint(1_400_000_000 + i), Name: fmt.Sprintf("App %d - Messenger", i)})
		}
		batch.Snapshots = append(batch.Snapshots, s)
	}
	watch := map[string]map[string]string{"appstore": {"1400000007": "signal"}}
	b.Run("direct", func(b *testing.B) {
		var out bytes.Buffer
		for b.Loop() {
			out.Reset()
			eachLine(batch, watch, plainName, func(l []byte) { out.Write(l) })
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*25*201), "ns/point")
	})
	b.Run("write.NewPoint", func(b *testing.B) {
		var out bytes.Buffer
		for b.Loop() {
			out.Reset()
			refEachLine(batch, watch, plainName, func(l string) { out.WriteString(l) })
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*25*201), "ns/point")
	})
}
