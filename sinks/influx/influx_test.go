package influx_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/internal/influxtest"
	"github.com/rankpulse/rankpulse/internal/syncbuf"
	"github.com/rankpulse/rankpulse/metrics"
	"github.com/rankpulse/rankpulse/sinks"
	"github.com/rankpulse/rankpulse/sinks/influx"
)

func TestMain(m *testing.M) { influxtest.Main(m) }

var slot = time.Date(2021, 1, 7, 18, 7, 0, 0, time.UTC)

var watch = map[string]map[string]string{"appstore": {"874139669": "signal"}, "googleplay": {}}

func batch(at time.Time) sinks.Batch {
	return sinks.Batch{Snapshots: []chart.Snapshot{
		{Time: at, Store: "appstore", Country: "us", Chart: "top-free", Category: "all", Source: "charts", Complete: true, Depth: 3, DurationMS: 420,
			Entries: []chart.Entry{
				{Rank: 1, AppID: "874139669", Name: "Signal - Private Messenger", Developer: "Signal Messenger, LLC"},
				{Rank: 2, AppID: "310633997", Name: "WhatsApp Messenger", Developer: "WhatsApp Inc."},
				{Rank: 3, AppID: "1400000000", Name: ""},
			}},
		{Time: at, Store: "appstore", Country: "tr", Chart: "top-free", Category: "6005", Source: "rss", Complete: false, Depth: 100, DurationMS: 9000,
			Error: "charts: HTTP 403; rss: truncated JSON", Entries: []chart.Entry{}},
	}}
}

func TestLinesFollowTheSchema(t *testing.T) {
	got := influx.Lines(batch(slot), watch)
	want := []string{
		`chart_scrape,category=all,chart=top-free,country=us,source=charts,store=appstore complete=true,duration_ms=420i,entries=3i 1610042820`,
		`app_rank,app_id=874139669,app_name=Signal\ -\ Private\ Messenger,category=all,chart=top-free,country=us,store=appstore,watch=signal rank=1i 1610042820`,
		`app_rank,app_id=310633997,app_name=WhatsApp\ Messenger,category=all,chart=top-free,country=us,store=appstore rank=2i 1610042820`,
		`app_rank,app_id=1400000000,app_name=(unknown)\ 1400000000,category=all,chart=top-free,country=us,store=appstore rank=3i 1610042820`,
		`chart_scrape,category=6005,chart=top-free,country=tr,source=rss,store=appstore complete=false,duration_ms=9000i,entries=0i,error="charts: HTTP 403; rss: truncated JSON" 1610042820`,
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d", len(got), len(want))
	}
}

func newSink(t *testing.T, url, db string, m *metrics.Metrics) *influx.Sink {
	t.Helper()
	s, err := influx.New(influx.Config{
		URL: url, Bucket: db, Timeout: 5 * time.Second, SpoolDir: filepath.Join(t.TempDir(), "spool"),
		Watch: watch, RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond,
	}, slog.New(slog.DiscardHandler), m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func TestWriteAndReadBackWithInfluxQLAndFlux(t *testing.T) {
	srv := influxtest.Shared(t)
	db := srv.CreateDB(t)
	ctx := context.Background()
	s := newSink(t, srv.URL, db, nil)
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, batch(slot)); err != nil {
		t.Fatal(err)
	}

	// InfluxQL: tags, field types and values exactly per SPEC §5.
	tagKeys := srv.Query(t, db, `SHOW TAG KEYS FROM "app_rank"`).Values()
	if got := flat(tagKeys); got != "app_id,app_name,category,chart,country,store,watch" {
		t.Fatalf("app_rank tag keys = %s", got)
	}
	fields := srv.Query(t, db, `SHOW FIELD KEYS FROM "app_rank"`).Values()
	if fmt.Sprint(fields) != "[[rank integer]]" {
		t.Fatalf("app_rank fields = %v", fields)
	}
	fields = srv.Query(t, db, `SHOW FIELD KEYS FROM "chart_scrape"`).Values()
	if fmt.Sprint(fields) != "[[complete boolean] [duration_ms integer] [entries integer] [error string]]" {
		t.Fatalf("chart_scrape fields = %v", fields)
	}
	rows := srv.Query(t, db, `SELECT "rank", "app_name", "watch" FROM "app_rank" WHERE "country" = 'us'`).Values()
	slices.SortFunc(rows, func(a, b []any) int { return strings.Compare(fmt.Sprint(a[1]), fmt.Sprint(b[1])) })
	if fmt.Sprint(rows) != "[[1610042820 1 Signal - Private Messenger signal] [1610042820 2 WhatsApp Messenger <nil>] [1610042820 3 (unknown) 1400000000 <nil>]]" {
		t.Fatalf("app_rank rows = %v", rows)
	}
	rows = srv.Query(t, db, `SELECT "entries", "complete", "error" FROM "chart_scrape" WHERE "country" = 'tr' AND "source" = 'rss'`).Values()
	if fmt.Sprint(rows) != "[[1610042820 0 false charts: HTTP 403; rss: truncated JSON]]" {
		t.Fatalf("chart_scrape rows = %v", rows)
	}

	// Flux (InfluxDB 1.8 with flux-enabled).
	client := influxdb2.NewClient(srv.URL, "")
	defer client.Close()
	res, err := client.QueryAPI("").Query(ctx, `from(bucket: "`+db+`/autogen")
		|> range(start: 2021-01-01T00:00:00Z, stop: 2021-02-01T00:00:00Z)
		|> filter(fn: (r) => r._measurement == "app_rank" and r._field == "rank" and r.watch == "signal")`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for res.Next() {
		r := res.Record()
		n++
		if r.Value() != int64(1) || r.ValueByKey("app_id") != "874139669" || r.ValueByKey("country") != "us" || !r.Time().Equal(slot) {
			t.Fatalf("flux record = %v", r.Values())
		}
	}
	if res.Err() != nil || n != 1 {
		t.Fatalf("flux: %d records, err %v", n, res.Err())
	}
}

func flat(rows [][]any) string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprint(r[0]))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func TestSameSlotTwiceLeavesOnePointPerSeries(t *testing.T) {
	srv := influxtest.Shared(t)
	db := srv.CreateDB(t)
	s := newSink(t, srv.URL, db, nil)
	for range 2 {
		if err := s.Write(context.Background(), batch(slot)); err != nil {
			t.Fatal(err)
		}
	}
	rows := srv.Query(t, db, `SELECT count("rank") FROM "app_rank" GROUP BY *`).Results[0].Series
	if len(rows) != 3 {
		t.Fatalf("%d app_rank series, want 3", len(rows))
	}
	for _, r := range rows {
		if fmt.Sprint(r.Values[0][1]) != "1" {
			t.Fatalf("series %v has %v points, want 1", r.Tags, r.Values[0][1])
		}
	}
}

func TestServerDownSpoolsThenDrainsEveryPoint(t *testing.T) {
	srv := influxtest.Start(t)
	db := srv.CreateDB(t)
	ctx := context.Background()
	m := metrics.New()
	s := newSink(t, srv.URL, db, m)
	if err := s.Write(ctx, batch(slot)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	// Three sweeps while the server is down: none fails, all are spooled.
	for i := 1; i <= 3; i++ {
		if err := s.Write(ctx, batch(slot.Add(time.Duration(i)*time.Hour))); err != nil {
			t.Fatalf("write while down: %v", err)
		}
	}
	if b, p := s.Pending(); b != 3 || p != 15 {
		t.Fatalf("spool holds %d batches, %d points; want 3, 15", b, p)
	}
	if n := testutil.ToFloat64(m.SinkWrites.WithLabelValues("influxdb", "spooled")); n != 3 {
		t.Fatalf("spooled writes counted %v, want 3", n)
	}
	srv.Restart(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, _ := s.Pending(); b == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("spool not drained 20s after the server came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := srv.Query(t, db, `SELECT count("rank") FROM "app_rank"`).Values()
	if fmt.Sprint(got[0][1]) != "12" {
		t.Fatalf("%v app_rank points after the drain, want 12 (4 sweeps × 3)", got[0][1])
	}
	got = srv.Query(t, db, `SELECT count("entries") FROM "chart_scrape"`).Values()
	if fmt.Sprint(got[0][1]) != "8" {
		t.Fatalf("%v chart_scrape points, want 8", got[0][1])
	}
}

func TestSpoolSurvivesARestartOfRankpulse(t *testing.T) {
	srv := influxtest.Start(t)
	db := srv.CreateDB(t)
	dir := filepath.Join(t.TempDir(), "spool")
	cfg := influx.Config{URL: srv.URL, Bucket: db, SpoolDir: dir, Timeout: 2 * time.Second, RetryMin: 20 * time.Millisecond}
	srv.Stop()
	s1, err := influx.New(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Write(context.Background(), batch(slot)); err != nil {
		t.Fatal(err)
	}
	s1.Close(context.Background())
	srv.Restart(t)
	s2, err := influx.New(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := srv.Query(t, db, `SELECT count("rank") FROM "app_rank"`).Values()
	if fmt.Sprint(got[0][1]) != "3" {
		t.Fatalf("%v points after restart, want 3", got)
	}
}

func TestRefusedBatchIsSetAsideNotRetriedForever(t *testing.T) {
	srv := influxtest.Shared(t)
	db := srv.CreateDB(t)
	// A float "rank" already in the series makes InfluxDB refuse our ints
	// (field type conflict, HTTP 400).
	s := newSink(t, srv.URL, db, nil)
	if err := s.WriteLines(context.Background(), []string{`app_rank,app_id=1,category=all,chart=top-free,country=us,store=appstore rank=1.5 1610042820`}); err != nil {
		t.Fatal(err)
	}
	err := s.Write(context.Background(), batch(slot))
	if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "field type conflict") {
		t.Fatalf("err = %v, want a refusal naming the conflict", err)
	}
	if b, _ := s.Pending(); b != 0 {
		t.Fatalf("a refused batch was spooled for endless retries")
	}
}

func TestCheck(t *testing.T) {
	srv := influxtest.Shared(t)
	ctx := context.Background()
	err := influx.Check(ctx, influx.Config{URL: srv.URL, Bucket: "no_such_db"})
	if !errors.Is(err, influx.ErrNoDatabase) || !strings.Contains(err.Error(), `database "no_such_db" does not exist`) || !strings.Contains(err.Error(), "CREATE DATABASE") {
		t.Fatalf("missing database: %v", err)
	}
	db := srv.CreateDB(t)
	if err := influx.Check(ctx, influx.Config{URL: srv.URL, Bucket: db + "/nope"}); !errors.Is(err, influx.ErrNoDatabase) || !strings.Contains(err.Error(), `retention policy "nope"`) {
		t.Fatalf("missing retention policy: %v", err)
	}
	if err := influx.Check(ctx, influx.Config{URL: srv.URL, Bucket: db + "/autogen"}); err != nil {
		t.Fatal(err)
	}
	if err := influx.Check(ctx, influx.Config{URL: "http://127.0.0.1:1", Bucket: db}); !errors.Is(err, influx.ErrUnreachable) {
		t.Fatalf("unreachable server: %v", err)
	}
}

func TestSpoolIsBounded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	m := metrics.New()
	s, err := influx.New(influx.Config{URL: "http://127.0.0.1:1", Bucket: "x", SpoolDir: dir, SpoolMaxBytes: 1 << 20, Timeout: time.Second, RetryMin: time.Hour}, slog.New(slog.DiscardHandler), m)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	// Batches of ~190 KB each, compressed.
	for i := range 8 {
		var lines []string
		for j := range 12000 {
			lines = append(lines, fmt.Sprintf("app_rank,app_id=%d,store=appstore,app_name=%x rank=%di %d", j, rand.Uint64(), j, 1610042820+i))
		}
		if err := s.WriteLines(context.Background(), lines); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := s.Pending()
	ents, _ := os.ReadDir(dir)
	var size int64
	for _, e := range ents {
		info, _ := e.Info()
		size += info.Size()
	}
	dropped := testutil.ToFloat64(m.SpoolDropped.WithLabelValues("influxdb"))
	if size > 1<<20 || dropped == 0 || b+int(dropped) != 8 {
		t.Fatalf("spool: %d bytes on disk, %d batches kept, %v dropped", size, b, dropped)
	}
}

func TestAlertsAreWrittenAsRankAlert(t *testing.T) {
	srv := influxtest.Shared(t)
	db := srv.CreateDB(t)
	s := newSink(t, srv.URL, db, nil)
	b := sinks.Batch{Alerts: []chart.Alert{
		{ID: "a1", Kind: "surge", Severity: "warning", Time: slot, Store: "appstore", Country: chart.Ptr("us"), Chart: "top-free", Category: "all",
			AppID: "874139669", AppName: "Signal - Private Messenger", Watch: chart.Ptr("signal"), FromRank: chart.Ptr(143), ToRank: chart.Ptr(4), Summary: "Signal rose from #143 to #4"},
		{ID: "a2", Kind: "multi_country_surge", Severity: "critical", Time: slot, Store: "appstore", Chart: "top-free", Category: "all",
			AppID: "874139669", AppName: "Signal - Private Messenger", Watch: chart.Ptr("signal"), Countries: []string{"de", "gb", "us"}, Summary: "Signal surged in 3 countries"},
		{ID: "a3", Kind: "entered", Severity: "warning", Time: slot, Store: "googleplay", Country: chart.Ptr("tr"), Chart: "top-free", Category: "COMMUNICATION",
			AppID: "com.turkcell.bip", AppName: "BiP", ToRank: chart.Ptr(1), Summary: "BiP entered at #1"},
	}}
	if err := s.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if got := flat(srv.Query(t, db, `SHOW TAG KEYS FROM "rank_alert"`).Values()); got != "app_id,app_name,country,kind,severity,store,watch" {
		t.Fatalf("rank_alert tags = %s", got)
	}
	if got := fmt.Sprint(srv.Query(t, db, `SHOW FIELD KEYS FROM "rank_alert"`).Values()); got != "[[from_rank integer] [summary string] [to_rank integer]]" {
		t.Fatalf("rank_alert fields = %s", got)
	}
	rows := srv.Query(t, db, `SELECT "kind", "country", "from_rank", "to_rank", "summary" FROM "rank_alert" WHERE "kind" = 'surge'`).Values()
	if fmt.Sprint(rows) != "[[1610042820 surge us 143 4 Signal rose from #143 to #4]]" {
		t.Fatalf("surge row = %v", rows)
	}
	// A multi-country surge has no country tag and no ranks.
	rows = srv.Query(t, db, `SELECT "kind", "country", "to_rank", "summary" FROM "rank_alert" WHERE "kind" = 'multi_country_surge'`).Values()
	if fmt.Sprint(rows) != "[[1610042820 multi_country_surge <nil> <nil> Signal surged in 3 countries]]" {
		t.Fatalf("multi row = %v", rows)
	}
}

func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"http://127.0.0.1:8086":                         "http://127.0.0.1:8086",
		"http://user:pw@127.0.0.1:8086/":                "http://user:xxxxx@127.0.0.1:8086/",
		"https://influx.example/prefix?token=s3cr3t&x=": "https://influx.example/prefix?token=xxxxx&x=xxxxx",
		"http://h:8086/?s3cr3t#frag":                    "http://h:8086/?xxxxx",
		"http://user:pw@h:bad/":                         "<unparsable url>",
		"user:pw@h:8086":                                "<unparsable url>",
	} {
		if got := influx.RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

// TestURLCredentialsStayOutOfErrors points the sink at a closed loopback
// port through a URL with a password and a token in its query: neither may
// show in Check's error, the write path's log and error, or V1Query's error.
func TestURLCredentialsStayOutOfErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	const password, token = "pw", "SUPERSECRETtoken"
	raw := "http://user:" + password + "@" + addr + "/?token=" + token
	ctx := context.Background()
	noSecrets := func(what, text string) {
		t.Helper()
		for _, secret := range []string{password, token} {
			if strings.Contains(text, secret) {
				t.Errorf("%s leaks %q: %s", what, secret, text)
			}
		}
	}

	err = influx.Check(ctx, influx.Config{URL: raw, Bucket: "db"})
	var op *net.OpError
	if !errors.Is(err, influx.ErrUnreachable) || !errors.As(err, &op) || !strings.Contains(err.Error(), "user:xxxxx@"+addr) {
		t.Fatalf("Check: %v; want ErrUnreachable wrapping the dial error, at the redacted URL", err)
	}
	noSecrets("Check", err.Error())

	_, err = influx.V1Query(ctx, raw, "", "", "SHOW DATABASES")
	if !errors.Is(err, influx.ErrUnreachable) {
		t.Fatalf("V1Query: %v", err)
	}
	noSecrets("V1Query", err.Error())

	// A URL that does not parse: url.Parse's error quotes it whole.
	err = influx.Check(ctx, influx.Config{URL: "http://user:" + password + "@" + addr + ":x/?token=" + token, Bucket: "db"})
	if err == nil {
		t.Fatal("Check of an unparsable URL succeeded")
	}
	noSecrets("Check of an unparsable URL", err.Error())

	logs := &syncbuf.Buffer{} // the sink's drain loop logs too
	s, err := influx.New(influx.Config{URL: raw, Bucket: "db", SpoolDir: filepath.Join(t.TempDir(), "spool"), Timeout: time.Second, RetryMin: time.Hour},
		slog.New(slog.NewTextHandler(logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		s.Close(ctx)
		noSecrets("the sink's logs", logs.String())
	}()
	if err := s.Write(ctx, batch(slot)); err != nil { // spooled
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "influxdb write failed") {
		t.Fatalf("no failed write logged: %s", logs.String())
	}
	noSecrets("the write log", logs.String())
	err = s.Flush(ctx)
	if !errors.As(err, &op) {
		t.Fatalf("Flush: %v; want the dial error", err)
	}
	noSecrets("Flush", err.Error())
}
