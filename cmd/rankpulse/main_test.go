package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/internal/fixtures"
	"github.com/rankpulse/rankpulse/internal/influxtest"
	"github.com/rankpulse/rankpulse/storage"
)

func TestMain(m *testing.M) { influxtest.Main(m) }

// invoke runs the CLI in-process.
func invoke(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

type testEnv struct {
	dir     string
	cfgPath string
	apple   *fakestore.Apple
	play    *fakestore.Play
	influx  *influxtest.Server
	db      string
}

// newEnv writes a config pointing at a fake Apple store (and, if withInflux,
// at a fresh database of the real InfluxDB).
func newEnv(t *testing.T, withInflux bool, extra string) *testEnv {
	t.Helper()
	e := &testEnv{dir: t.TempDir(), apple: fakestore.NewApple(400), play: fakestore.NewPlay(400)}
	srv := httptest.NewServer(fakestore.Stores(e.apple, e.play))
	t.Cleanup(srv.Close)
	sink := ""
	if withInflux {
		e.influx = influxtest.Shared(t)
		e.db = e.influx.CreateDB(t)
		sink = fmt.Sprintf("sinks:\n  influxdb:\n    url: %s\n    bucket: %s\n", e.influx.URL, e.db)
	}
	cfg := fmt.Sprintf(`data_dir: %s
listen: 127.0.0.1:0
log: {level: warn}
stores:
  appstore:
    endpoints: {itunes: %s, marketing: %s}
    rate: 50
  googleplay:
    endpoints: {play: %s}
    rate: 50
jobs:
  - name: messaging
    stores: [appstore]
    countries: [us, tr, gb]
    charts: [top-free, top-paid]
    categories: {appstore: [all, "6005"]}
    depth: 100
%s%s`, filepath.Join(e.dir, "data"), srv.URL, srv.URL, srv.URL, sink, extra)
	e.cfgPath = filepath.Join(e.dir, "rankpulse.yaml")
	if err := os.WriteFile(e.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func readSnapshots(t *testing.T, jsonl string) []chart.Snapshot {
	t.Helper()
	r := chart.NewReader(strings.NewReader(jsonl))
	var out []chart.Snapshot
	for {
		s, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
}

func TestRunOnceWritesBothStoresAndExportReturnsIt(t *testing.T) {
	e := newEnv(t, true, "")
	code, _, stderr := invoke(t, "", "run", "--once", "--config", e.cfgPath)
	if code != exitOK {
		t.Fatalf("run --once exited %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "job messaging: 12 charts, 12 complete, 0 incomplete, 0 failed, 1200 entries, 0 alerts") {
		t.Fatalf("summary missing: %s", stderr)
	}
	code, stdout, stderr := invoke(t, "", "export", "--config", e.cfgPath)
	if code != exitOK {
		t.Fatalf("export exited %d: %s", code, stderr)
	}
	snaps := readSnapshots(t, stdout)
	if len(snaps) != 12 {
		t.Fatalf("export returned %d snapshots, want 12", len(snaps))
	}
	for _, s := range snaps {
		want := e.apple.Ranking(s.Country, s.Chart, map[string]string{"all": "36", "6005": "6005"}[s.Category])
		if !s.Complete || len(s.Entries) != 100 || s.Entries[42].AppID != want[42] || s.Time.Nanosecond() != 0 {
			t.Fatalf("%s: complete=%v entries=%d", s.Key(), s.Complete, len(s.Entries))
		}
		for _, en := range s.Entries {
			if en.AppID == "686449807" && en.Watch != "telegram" {
				t.Fatalf("telegram not tagged as watched: %+v", en)
			}
		}
	}
	// The same facts in InfluxDB.
	rows := e.influx.Query(t, e.db, `SELECT count("rank") FROM "app_rank"`).Values()
	if fmt.Sprint(rows[0][1]) != "1200" {
		t.Fatalf("InfluxDB holds %v app_rank points, want 1200", rows[0][1])
	}
	rows = e.influx.Query(t, e.db, `SELECT count("entries") FROM "chart_scrape" WHERE "complete" = true`).Values()
	if fmt.Sprint(rows[0][1]) != "12" {
		t.Fatalf("InfluxDB holds %v complete chart_scrape points, want 12", rows[0][1])
	}
	// history reads the embedded store.
	code, stdout, _ = invoke(t, "", "history", "--config", e.cfgPath, "--app", snaps[0].Entries[0].AppID, "--country", snaps[0].Country, "--format", "csv", "--since", "1h")
	if code != exitOK || !strings.Contains(stdout, ","+snaps[0].Entries[0].AppID+",1,true,100") {
		t.Fatalf("history exited %d:\n%s", code, stdout)
	}
}

func TestRunOncePartialFailureExits3(t *testing.T) {
	e := newEnv(t, false, "")
	for _, ep := range []string{fakestore.EPCharts, fakestore.EPRSS} {
		e.apple.Fail(ep, func(r *http.Request) bool { return strings.Contains(r.URL.String(), "tr") }, fakestore.Fault{Status: 403})
	}
	code, _, stderr := invoke(t, "", "run", "--once", "--config", e.cfgPath)
	if code != exitPartial {
		t.Fatalf("exit %d, want 3: %s", code, stderr)
	}
	if !strings.Contains(stderr, "failed") || !strings.Contains(stderr, "appstore/tr/") {
		t.Fatalf("stderr does not name the failed charts: %s", stderr)
	}
}

func TestScrapePipedIsJSONL(t *testing.T) {
	e := newEnv(t, false, "")
	code, stdout, stderr := invoke(t, "", "scrape", "--config", e.cfgPath, "--country", "us,tr", "--category", "all,6005", "--depth", "10")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	snaps := readSnapshots(t, stdout)
	if len(snaps) != 4 || snaps[0].Country != "us" || snaps[0].Category != "all" || len(snaps[0].Entries) != 10 {
		t.Fatalf("scrape output: %d snapshots, first %s", len(snaps), snaps[0].Key())
	}
	if _, err := os.Stat(filepath.Join(e.dir, "data")); err == nil {
		t.Fatal("scrape without --save created the data directory")
	}
	code, stdout, _ = invoke(t, "", "scrape", "--config", e.cfgPath, "--country", "tr", "--depth", "3", "--format", "table")
	if code != exitOK || !strings.Contains(stdout, "appstore · TR (Türkiye) · top-free · all — 3 entries from charts, complete") {
		t.Fatalf("table output:\n%s", stdout)
	}
}

func TestUsageAndConfigErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("jobs:\n  - name: a\n    countries: [us]\n    chartz: [top-free]\n"), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"config", "check", "--config", bad}, bad + `:4: jobs[0].chartz: unknown key (did you mean "charts"?)`},
		{[]string{"run", "--config", bad}, "1 config error(s)"},
		{[]string{"scrape", "--country", "xx"}, `--country "xx": not a country code appstore serves`},
		{[]string{"history"}, "give exactly one of --app ID or --watch NAME"},
		{[]string{"history", "--app", "1", "--country", "USA"}, `--country "USA": not a country code either store serves`},
		{[]string{"export", "--since", "2021-01-08", "--until", "2021-01-01"}, "--since 2021-01-08 is not before --until 2021-01-01"},
		{[]string{"import"}, "--input is required"},
		{[]string{"import", "--input", filepath.Join(dir, "nope.jsonl")}, "--input: open " + filepath.Join(dir, "nope.jsonl") + ": no such file or directory (give a snapshot JSONL file"},
		{[]string{"backtest", "--input", filepath.Join(dir, "nope.jsonl")}, "--input: open " + filepath.Join(dir, "nope.jsonl") + ": no such file or directory (give a snapshot JSONL file"},
		{[]string{"alerts", "frobnicate"}, `unknown alerts subcommand "frobnicate" (want: test)`},
		{[]string{"run", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"config", "check", "--config", filepath.Join(dir, "missing.yaml")}, "rankpulse config example"},
	} {
		code, _, stderr := invoke(t, "", tt.args...)
		wantCode := exitUsage
		if code != wantCode || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, wantCode, tt.want)
		}
	}
}

func TestConfigCheckReportsMissingDatabase(t *testing.T) {
	srv := influxtest.Shared(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("data_dir: %s\nsinks:\n  influxdb:\n    url: %s\n    bucket: nope_not_here\n", dir, srv.URL)), 0o644)
	code, _, stderr := invoke(t, "", "config", "check", "--config", cfg)
	if code != exitUsage || !strings.Contains(stderr, `database "nope_not_here" does not exist`) {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, _, stderr = invoke(t, "", "run", "--once", "--config", cfg)
	if code != exitUsage || !strings.Contains(stderr, `database "nope_not_here" does not exist`) {
		t.Fatalf("run with a missing database: exit %d: %s", code, stderr)
	}
}

func TestConfigExampleChecksClean(t *testing.T) {
	code, stdout, _ := invoke(t, "", "config", "example")
	if code != exitOK || !strings.Contains(stdout, "jobs:") {
		t.Fatalf("config example: exit %d", code)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "example.yaml")
	os.WriteFile(p, []byte(strings.Replace(stdout, "./rankpulse-data", filepath.Join(dir, "data"), 1)), 0o644)
	code, out, stderr := invoke(t, "", "config", "check", "--config", p)
	if code != exitOK || !strings.Contains(out, "valid") {
		t.Fatalf("config check of the example: exit %d\n%s%s", code, out, stderr)
	}
}

func TestImportReportsBrokenLinesAndKeepsTheRest(t *testing.T) {
	e := newEnv(t, true, "")
	lines := strings.Split(strings.TrimSpace(string(fixtures.Read(fixtures.History))), "\n")
	lines[6] = lines[6][:len(lines[6])/2]                                // truncated
	lines[9] = strings.Replace(lines[9], `"top-free"`, `"top-frees"`, 1) // unknown chart
	input := strings.Join(lines, "\n") + "\n"
	code, _, stderr := invoke(t, input, "import", "--config", e.cfgPath, "--input", "-")
	if code != exitFailure {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	for _, want := range []string{"stdin:7: skipped: not a snapshot JSON object", `stdin:10: skipped: invalid snapshot: chart "top-frees" is not one of top-free, top-paid, top-grossing`, "imported 226 snapshots", "skipped 2 bad lines"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	code, stdout, _ := invoke(t, "", "export", "--config", e.cfgPath, "--since", "2026-02-01", "--until", "2026-04-01")
	if code != exitOK {
		t.Fatal(code)
	}
	if got := readSnapshots(t, stdout); len(got) != 226 {
		t.Fatalf("export after import: %d snapshots, want 226", len(got))
	}
	rows := e.influx.Query(t, e.db, `SELECT count("entries") FROM "chart_scrape"`).Values()
	if fmt.Sprint(rows[0][1]) != "226" {
		t.Fatalf("InfluxDB chart_scrape points after import: %v, want 226", rows[0][1])
	}
}

// buildBinary builds rankpulse for the tests that need a real process.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rankpulse")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestDaemonServesHealthAndExitsCleanlyOnSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	e := newEnv(t, false, "")
	// A sweep every second, so SIGTERM lands while one may be in flight.
	cfg, _ := os.ReadFile(e.cfgPath)
	os.WriteFile(e.cfgPath, bytes.Replace(cfg, []byte("name: messaging\n"), []byte("name: messaging\n    schedule: \"@every 1s\"\n"), 1), 0o644)
	e.apple.Latency = 30 * time.Millisecond
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close()
	cfg, _ = os.ReadFile(e.cfgPath)
	os.WriteFile(e.cfgPath, bytes.Replace(cfg, []byte("listen: 127.0.0.1:0"), []byte("listen: "+addr[len("http://"):]), 1), 0o644)
	cmd := exec.Command(bin, "run", "--config", e.cfgPath)
	cmd.Env = append(os.Environ(), "HTTPS_PROXY=http://127.0.0.1:1", "HTTP_PROXY=http://127.0.0.1:1", "NO_PROXY=127.0.0.1")
	var log bytes.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	up := false
	for deadline := time.Now().Add(15 * time.Second); !up && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(addr + "/healthz"); err == nil {
			resp.Body.Close()
			up = resp.StatusCode == http.StatusOK
		}
	}
	if !up {
		t.Fatalf("daemon did not serve /healthz within 15s")
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/"} {
		resp, err := http.Get(addr + path)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v %v", path, err, resp)
		}
		resp.Body.Close()
	}
	time.Sleep(2500 * time.Millisecond) // let sweeps run
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon exited with %v after SIGTERM:\n%s", err, log.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("daemon did not exit within 30s of SIGTERM")
	}
	code, stdout, _ := invoke(t, "", "export", "--config", e.cfgPath)
	if code != exitOK || len(readSnapshots(t, stdout)) < 12 {
		t.Fatalf("after the daemon ran, export found %d snapshots", len(readSnapshots(t, stdout)))
	}
}

func TestRunOnceSweepsBothStores(t *testing.T) {
	e := newEnv(t, true, "")
	cfg, _ := os.ReadFile(e.cfgPath)
	cfg = bytes.Replace(cfg, []byte("    stores: [appstore]\n"), []byte("    stores: [appstore, googleplay]\n"), 1)
	cfg = bytes.Replace(cfg, []byte(`categories: {appstore: [all, "6005"]}`), []byte(`categories: {appstore: [all, "6005"], googleplay: [all, COMMUNICATION]}`), 1)
	os.WriteFile(e.cfgPath, cfg, 0o644)
	e.play.SetChart("tr", "topselling_free", "COMMUNICATION", []string{"com.turkcell.bip", "com.whatsapp", "org.telegram.messenger"})
	code, _, stderr := invoke(t, "", "run", "--once", "--config", e.cfgPath)
	if code != exitPartial { // the 3-app TR chart is short of its depth
		t.Fatalf("exit %d, want 3 for the short chart: %s", code, stderr)
	}
	if !strings.Contains(stderr, "job messaging: 24 charts, 23 complete, 1 incomplete, 0 failed") {
		t.Fatalf("summary: %s", stderr)
	}
	_, stdout, _ := invoke(t, "", "export", "--config", e.cfgPath)
	stores := map[string]int{}
	for _, s := range readSnapshots(t, stdout) {
		stores[s.Store]++
		if s.Store == "googleplay" && s.Country == "tr" && s.Chart == "top-free" && s.Category == "COMMUNICATION" {
			if s.Complete || len(s.Entries) != 3 || s.Entries[0].Watch != "bip" || s.Entries[2].Watch != "telegram" || s.Error != "short chart: 3 of 100 entries" {
				t.Fatalf("TR communication: %+v", s)
			}
		}
	}
	if stores["appstore"] != 12 || stores["googleplay"] != 12 {
		t.Fatalf("stored snapshots per store: %v", stores)
	}
	rows := e.influx.Query(t, e.db, `SELECT count("rank") FROM "app_rank" WHERE "store" = 'googleplay' AND "watch" = 'bip'`).Values()
	if len(rows) == 0 || fmt.Sprint(rows[0][1]) == "0" {
		t.Fatalf("no googleplay points tagged watch=bip in InfluxDB: %v", rows)
	}
	rows = e.influx.Query(t, e.db, `SELECT count("entries") FROM "chart_scrape" WHERE "store" = 'googleplay' AND "source" = 'play'`).Values()
	if fmt.Sprint(rows[0][1]) != "12" {
		t.Fatalf("googleplay chart_scrape points: %v", rows)
	}
}

func TestBacktestIsDeterministicAndOrderFree(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "all.yaml")
	os.WriteFile(cfg, []byte("alerts:\n  watch_only: false\n"), 0o644)
	history := string(fixtures.Read(fixtures.History))
	code, first, stderr := invoke(t, history, "backtest", "--config", cfg, "--input", "-")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	_, second, _ := invoke(t, history, "backtest", "--config", cfg, "--input", "-")
	if first != second {
		t.Fatal("two backtests of the same input differ")
	}
	// The same snapshots in reverse order give the same alerts.
	lines := strings.Split(strings.TrimSpace(history), "\n")
	slices.Reverse(lines)
	_, reversed, stderr := invoke(t, strings.Join(lines, "\n")+"\n", "backtest", "--config", cfg, "--input", "-")
	if reversed != first {
		t.Fatalf("backtest of reversed input differs (%s)", stderr)
	}
	// Every line twice (a file concatenated with itself, in order or not):
	// a chart read twice in a slot counts once.
	doubled := make([]string, 0, 2*len(lines))
	for _, l := range lines {
		doubled = append(doubled, l, l)
	}
	for _, in := range [][]string{doubled, append(slices.Clone(lines), lines...)} {
		if _, twice, stderr := invoke(t, strings.Join(in, "\n")+"\n", "backtest", "--config", cfg, "--input", "-"); twice != first {
			t.Fatalf("backtest of duplicated input differs (%s)", stderr)
		}
	}
	var got []chart.Alert
	for _, l := range strings.Split(strings.TrimSpace(first), "\n") {
		var a chart.Alert
		if err := json.Unmarshal([]byte(l), &a); err != nil || a.ID == "" || a.Summary == "" || a.Kind == "" {
			t.Fatalf("bad alert line %q: %v", l, err)
		}
		got = append(got, a)
	}
	// The real entries straight to #1 in US top free games.
	for _, want := range []string{"Rainbow Six Mobile", "Subway Surfers City"} {
		found := false
		for _, a := range got {
			if a.Kind == chart.KindEntered && strings.HasPrefix(a.AppName, want) && a.CountryCode() == "us" && a.Category == "6014" && *a.ToRank == 1 && a.FromRank == nil {
				found = true
			}
		}
		if !found {
			t.Errorf("%s entering US top free games at #1 was not flagged", want)
		}
	}
	// With the defaults (watch_only: true) none of these apps is watched.
	_, none, _ := invoke(t, history, "backtest", "--input", "-")
	if strings.TrimSpace(none) != "" {
		t.Fatalf("watch_only backtest alerted on unwatched apps:\n%.300s", none)
	}
}

func TestBacktestReportsBadLines(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(string(fixtures.Read(fixtures.History))), "\n")
	lines[3] = `{"time":"yesterday"}`
	code, _, stderr := invoke(t, strings.Join(lines, "\n"), "backtest", "--input", "-")
	if code != exitFailure || !strings.Contains(stderr, "stdin:4: skipped") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestWebhookDeliveriesSurviveSIGKILL(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	apple := fakestore.NewApple(300)
	store := httptest.NewServer(apple)
	defer store.Close()
	without := func(cc string) []string {
		var out []string
		for _, id := range apple.Ranking(cc, "top-free", "36") {
			if id != "686449807" {
				out = append(out, id)
			}
		}
		return out[:199]
	}
	for _, cc := range []string{"us", "gb", "de"} {
		apple.SetChart(cc, "top-free", "36", without(cc))
	}
	// The receiver is down (500) until up is set.
	var mu sync.Mutex
	up := false
	type hit struct {
		id, alert string
		status    int
	}
	var hits []hit
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Data chart.Alert `json:"data"`
		}
		json.Unmarshal(body, &ev)
		mu.Lock()
		code := http.StatusInternalServerError
		if up {
			code = http.StatusOK
		}
		hits = append(hits, hit{r.Header.Get("webhook-id"), ev.Data.ID + "/" + strconv.Itoa(ev.Data.Revision), code})
		mu.Unlock()
		w.WriteHeader(code)
	}))
	defer receiver.Close()
	snapshot := func() []hit { mu.Lock(); defer mu.Unlock(); return append([]hit(nil), hits...) }

	cfg := filepath.Join(dir, "rankpulse.yaml")
	writeCfg := func(schedule string) {
		os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir: %s
listen: ""
stores:
  appstore:
    endpoints: {itunes: %s, marketing: %s}
    rate: 50
jobs:
  - name: j
    schedule: "%s"
    stores: [appstore]
    countries: [us, gb]
    categories: {appstore: [all]}
alerts:
  webhooks:
    - name: ops
      url: %s/hook
      secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
`, filepath.Join(dir, "data"), store.URL, store.URL, schedule, receiver.URL)), 0o644)
	}
	writeCfg("@every 1h")
	// A first sweep without Telegram in the charts.
	if code, _, stderr := invoke(t, "", "run", "--once", "--config", cfg); code != exitOK {
		t.Fatalf("first sweep: %d %s", code, stderr)
	}
	// Telegram enters both charts at #1 (two entries: two countries are
	// too few for one multi-country alert); the daemon sweeps every second.
	for _, cc := range []string{"us", "gb"} {
		apple.SetChart(cc, "top-free", "36", append([]string{"686449807"}, without(cc)...))
	}
	writeCfg("@every 1s")
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", "--config", cfg)
		cmd.Env = append(os.Environ(), "HTTPS_PROXY=http://127.0.0.1:1", "HTTP_PROXY=http://127.0.0.1:1", "NO_PROXY=127.0.0.1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	cmd := start()
	deadline := time.Now().Add(30 * time.Second)
	for len(snapshot()) == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no delivery attempt within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL) // deliveries pending, mid-retry
	cmd.Wait()

	mu.Lock()
	up = true
	mu.Unlock()
	writeCfg("@every 1h")
	cmd = start()
	defer cmd.Process.Kill()
	// The first attempt failed; retries wait 5s (±20%) by the default schedule.
	wantAlerts := 0
	deadline = time.Now().Add(60 * time.Second)
	for {
		code, out, _ := invoke(t, "", "config", "check", "--config", cfg)
		if code == exitOK && strings.Contains(out, " 0 pending,") && strings.Contains(out, "delivered") {
			fmt.Sscanf(out[strings.Index(out, " 0 pending, ")+len(" 0 pending, "):], "%d delivered", &wantAlerts)
			if wantAlerts > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox not drained after the restart:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	delivered := map[string]int{} // alert → 2xx answers
	ids := map[string]map[string]bool{}
	for _, h := range snapshot() {
		if h.status == http.StatusOK {
			delivered[h.alert]++
		}
		if ids[h.alert] == nil {
			ids[h.alert] = map[string]bool{}
		}
		ids[h.alert][h.id] = true
	}
	if len(delivered) != wantAlerts || wantAlerts < 2 {
		t.Fatalf("%d alerts acknowledged, %d recorded delivered: %v", len(delivered), wantAlerts, snapshot())
	}
	for a, n := range delivered {
		if n != 1 {
			t.Errorf("alert %s delivered %d times", a, n)
		}
		if len(ids[a]) != 1 {
			t.Errorf("alert %s was sent under webhook-ids %v: retries must reuse one", a, ids[a])
		}
	}
}

func TestAlertsTestReportsEachReceiver(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !bytes.Contains(body, []byte(`"kind":"surge"`)) || r.Header.Get("webhook-signature") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, "thanks, got it")
		fmt.Fprintln(w, "second line")
	}))
	defer ok.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "maintenance")
	}))
	defer broken.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir: %s
alerts:
  webhooks:
    - {name: ops, url: '%s/hook', secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}
    - {name: team, url: '%s/slack', format: slack}
`, dir, ok.URL, broken.URL)), 0o644)
	code, stdout, _ := invoke(t, "", "alerts", "test", "--config", cfg)
	if code != exitFailure {
		t.Fatalf("exit %d with a failing receiver, want 1", code)
	}
	if !regexp.MustCompile(`(?m)^ops \(json\): HTTP 200 in [0-9.]+ms: thanks, got it$`).MatchString(stdout) ||
		!regexp.MustCompile(`(?m)^team \(slack\): HTTP 503 in [0-9.]+ms: maintenance$`).MatchString(stdout) {
		t.Fatalf("report:\n%s", stdout)
	}
	code, stdout, _ = invoke(t, "", "alerts", "test", "--config", cfg, "--webhook", "ops")
	if code != exitOK || strings.Contains(stdout, "team") {
		t.Fatalf("--webhook ops: exit %d\n%s", code, stdout)
	}
	if code, _, stderr := invoke(t, "", "alerts", "test", "--config", cfg, "--webhook", "nope"); code != exitUsage || !strings.Contains(stderr, `"nope" is not configured`) {
		t.Fatalf("unknown webhook: %d %s", code, stderr)
	}
}

// A stored snapshot that cannot be decoded stops neither the daemon's start
// (the alert engine's rebuild skips it) nor an export, which names it, goes
// on and exits 1.
func TestAnUnreadableSnapshotIsSkippedAndNamed(t *testing.T) {
	e := newEnv(t, false, "")
	if code, _, stderr := invoke(t, "", "run", "--once", "--config", e.cfgPath); code != exitOK {
		t.Fatalf("run --once exited %d: %s", code, stderr)
	}
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(e.dir, "data", storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	// Damage one snapshot, and drop the alert engine's checkpoint so that
	// the next start rebuilds the engine from the history and meets it.
	if _, err := raw.Exec(`UPDATE snapshots SET entries = x'02000102' WHERE rowid = (SELECT max(rowid) FROM snapshots); DELETE FROM engine_state`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	code, stdout, stderr := invoke(t, "", "export", "--config", e.cfgPath)
	if code != exitFailure {
		t.Fatalf("export of a damaged store exited %d, want %d: %s", code, exitFailure, stderr)
	}
	if n := len(readSnapshots(t, stdout)); n != 11 {
		t.Errorf("export returned %d snapshots, want the 11 readable ones", n)
	}
	if !strings.Contains(stderr, "skipped: storage: the stored snapshot of appstore/") || !strings.Contains(stderr, "1 stored snapshot(s) could not be read") {
		t.Errorf("export did not name what it skipped: %s", stderr)
	}
	code, _, stderr = invoke(t, "", "run", "--once", "--config", e.cfgPath)
	if code != exitOK {
		t.Fatalf("run --once over a damaged store exited %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "a stored snapshot cannot be read; the alert engine goes on without it") {
		t.Errorf("the damaged snapshot was not reported: %s", stderr)
	}
}

func TestImportOfNothingSaysSo(t *testing.T) {
	e := newEnv(t, false, "")
	for _, in := range []string{"", "\n\n"} {
		code, _, stderr := invoke(t, in, "import", "--config", e.cfgPath, "--input", "-")
		if code != exitFailure || !strings.Contains(stderr, "stdin holds no snapshot: nothing was imported") {
			t.Errorf("import of %q: exit %d, %s", in, code, stderr)
		}
	}
}
