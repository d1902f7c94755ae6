package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rankpulse/rankpulse/internal/fixtures"
	"github.com/rankpulse/rankpulse/storage"
)

func TestHelpForOneCommand(t *testing.T) {
	runLine := "rankpulse run [--config F] [--once]"
	for _, tt := range []struct {
		args       []string
		want, lack []string
		onStderr   bool
	}{
		{args: []string{"help", "run"}, want: []string{runLine, "-once", "Flags:"}, lack: []string{"rankpulse scrape"}},
		{args: []string{"run", "-h"}, want: []string{runLine, "-once"}, lack: []string{"rankpulse scrape"}, onStderr: true},
		{args: []string{"help", "history"}, want: []string{"rankpulse history (--app ID|--watch NAME)", "rank history from the embedded store", "-since"}, lack: []string{runLine}},
		{args: []string{"help", "config"}, want: []string{"rankpulse config check", "rankpulse config example"}, lack: []string{runLine, "Flags:"}},
		{args: []string{"help", "config", "check"}, want: []string{"rankpulse config check [--config F]", "-config"}, lack: []string{"config example"}},
		{args: []string{"help", "version"}, want: []string{"rankpulse version "}, lack: []string{runLine, "Flags:"}},
		{args: []string{"help"}, want: []string{runLine, "rankpulse scrape", "Exit codes"}},
	} {
		code, stdout, stderr := invoke(t, "", tt.args...)
		out := stdout
		if tt.onStderr {
			out = stderr
		}
		if code != exitOK {
			t.Errorf("%v: exit %d", tt.args, code)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tt.args, w, out)
			}
		}
		for _, l := range tt.lack {
			if strings.Contains(out, l) {
				t.Errorf("%v: output has %q (the general usage?):\n%s", tt.args, l, out)
			}
		}
	}
	if code, _, stderr := invoke(t, "", "help", "frobnicate"); code != exitUsage || !strings.Contains(stderr, `no command "frobnicate"`) {
		t.Errorf("help of an unknown command: exit %d, %s", code, stderr)
	}
}

func TestExportOfNothingSaysSo(t *testing.T) {
	e := newEnv(t, false, "")
	db, err := storage.Open(context.Background(), filepath.Join(e.dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, stdout, stderr := invoke(t, "", "export", "--config", e.cfgPath)
	if code != exitFailure || stdout != "" || !strings.Contains(stderr, "nothing to export: the embedded store "+filepath.Join(e.dir, "data", storage.FileName)+" holds no snapshot yet") {
		t.Fatalf("export of an empty store: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	if code, _, stderr := invoke(t, string(fixtures.Read(fixtures.History)), "import", "--config", e.cfgPath, "--input", "-"); code != exitOK {
		t.Fatalf("import: %d %s", code, stderr)
	}
	code, stdout, stderr = invoke(t, "", "export", "--config", e.cfgPath, "--since", "2021-01-01", "--until", "2021-02-01")
	want := regexp.MustCompile(`nothing to export: none of the 228 stored snapshots \(2026-02-\d\dT[0-9:]+Z to 2026-03-\d\dT[0-9:]+Z\) is within --since 2021-01-01 --until 2021-02-01 \(2021-01-01T00:00:00Z to 2021-02-01T00:00:00Z\)`)
	if code != exitFailure || stdout != "" || !want.MatchString(stderr) {
		t.Fatalf("export of an empty range: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
}

func TestCountryTyposGetASuggestion(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"scrape", "--country", "uk"}, `--country "uk": not a country code appstore serves (did you mean "gb"?)`},
		{[]string{"scrape", "--country", "US"}, `(did you mean "us"?)`},
		{[]string{"scrape", "--country", "us,gr,el"}, `--country "el": not a country code appstore serves (did you mean "gr"?)`},
		{[]string{"history", "--app", "1", "--country", "uk"}, `(did you mean "gb"?)`},
	} {
		code, _, stderr := invoke(t, "", tt.args...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, %s; want %q", tt.args, code, stderr, tt.want)
		}
	}
}

// Rows of the same time come in store, country, chart, category order,
// whatever order their charts were first stored in.
func TestHistoryRowsOfOneTimeInFixedOrder(t *testing.T) {
	e := newEnv(t, false, "watch:\n  - {name: both, appstore: \"1\", googleplay: com.example.one}\n")
	var lines []string
	add := func(at, store, cc, ch, cat, id string) {
		lines = append(lines, fmt.Sprintf(`{"time":%q,"store":%q,"country":%q,"chart":%q,"category":%q,"source":"x","complete":true,"entries":[{"rank":1,"app_id":%q}]}`, at, store, cc, ch, cat, id))
	}
	for _, at := range []string{"2026-03-02T10:00:00Z", "2026-03-01T10:00:00Z"} {
		add(at, "googleplay", "us", "top-free", "all", "com.example.one")
		for _, cc := range []string{"us", "tr", "de"} {
			add(at, "appstore", cc, "top-paid", "all", "1")
			add(at, "appstore", cc, "top-free", "6005", "1")
			add(at, "appstore", cc, "top-free", "all", "1")
		}
	}
	if code, _, stderr := invoke(t, strings.Join(lines, "\n"), "import", "--config", e.cfgPath, "--input", "-"); code != exitOK {
		t.Fatalf("import: %d %s", code, stderr)
	}
	code, stdout, stderr := invoke(t, "", "history", "--config", e.cfgPath, "--watch", "both", "--since", "2026-03-01", "--format", "csv")
	if code != exitOK {
		t.Fatalf("history: %d %s", code, stderr)
	}
	var got []string
	for _, row := range strings.Split(strings.TrimSpace(stdout), "\n")[1:] {
		f := strings.Split(row, ",")
		got = append(got, f[0][8:10]+" "+strings.Join(f[1:5], "/"))
	}
	var want []string
	for _, day := range []string{"01", "02"} {
		for _, cc := range []string{"de", "tr", "us"} {
			want = append(want, day+" appstore/"+cc+"/top-free/all", day+" appstore/"+cc+"/top-free/6005", day+" appstore/"+cc+"/top-paid/all")
		}
		want = append(want, day+" googleplay/us/top-free/all")
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("history rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestBacktestWithoutAlertsPointsAtWatchOnly(t *testing.T) {
	history := string(fixtures.Read(fixtures.History))
	code, stdout, stderr := invoke(t, history, "backtest", "--input", "-")
	if code != exitOK || stdout != "" || !strings.Contains(stderr, "backtest: note: alerts.watch_only is on, so only the watch list can alert, and none of the 14 apps of the watch list is in it; set alerts.watch_only: false") {
		t.Fatalf("backtest with the default watch list: exit %d\n%s", code, stderr)
	}
	// A watched app that is in the input but does not move.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "w.yaml")
	first := readSnapshots(t, history)[0]
	os.WriteFile(cfg, []byte(fmt.Sprintf("watch:\n  - {name: one, appstore: %q}\n", first.Entries[40].AppID)), 0o644)
	_, _, stderr = invoke(t, history, "backtest", "--config", cfg, "--input", "-")
	if !strings.Contains(stderr, "the watched apps in it did not move enough to alert") {
		t.Errorf("backtest with a quiet watched app:\n%s", stderr)
	}
	// watch_only off: no such note.
	os.WriteFile(cfg, []byte("alerts: {watch_only: false}\n"), 0o644)
	_, _, stderr = invoke(t, strings.Join(strings.Split(history, "\n")[:1], "\n"), "backtest", "--config", cfg, "--input", "-")
	if !strings.Contains(stderr, "backtest: 0 alerts") || strings.Contains(stderr, "watch_only") {
		t.Errorf("backtest with watch_only off:\n%s", stderr)
	}
}

// The README's config check example is what config check prints.
func TestReadmeConfigCheckExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)Loading is strict.*?```yaml\n(.*?)```\n\n```\n\\$ rankpulse config check --config rankpulse.yaml\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no config check example")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "rankpulse.yaml"), m[1], 0o644)
	t.Chdir(dir)
	code, _, stderr := invoke(t, "", "config", "check", "--config", "rankpulse.yaml")
	if code != exitUsage || stderr != string(m[2]) {
		t.Fatalf("config check: exit %d\n%s\nREADME says:\n%s", code, stderr, m[2])
	}
	if strings.Count(stderr, "\n") < 4 {
		t.Fatalf("the example shows %d errors; it should show several at once", strings.Count(stderr, "\n")-1)
	}
}

// Impossible snapshots are rejected with their line number, and none of
// them replaces the good snapshot of the same chart and slot.
func TestImportRejectsImpossibleSnapshots(t *testing.T) {
	e := newEnv(t, false, "")
	ids := make([]string, 100)
	entries := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprint(1000 + i)
		entries[i] = fmt.Sprintf(`{"rank":%d,"app_id":%q}`, i+1, ids[i])
	}
	line := func(country, depth, complete, ents string) string {
		d := ""
		if depth != "" {
			d = `"depth":` + depth + `,`
		}
		return fmt.Sprintf(`{"time":"2026-03-01T10:07:00Z","store":"appstore","country":%q,"chart":"top-free","category":"all","source":"charts","complete":%s,%s"entries":%s}`, country, complete, d, ents)
	}
	good := line("us", "100", "true", "["+strings.Join(entries, ",")+"]")
	if code, _, stderr := invoke(t, good, "import", "--config", e.cfgPath, "--input", "-"); code != exitOK {
		t.Fatalf("import of the good snapshot: %d %s", code, stderr)
	}
	two := `[{"rank":1,"app_id":"1"},{"rank":2,"app_id":"2"}]`
	bad := []struct{ line, want string }{
		{line("zz", "2", "true", two), `country "zz" is not a storefront of appstore`},
		{line("us", "1e12", "true", two), "cannot unmarshal number 1e12"},
		{line("us", "1000000000000", "true", two), "depth 1000000000000 is deeper than any store's chart (at most 200)"},
		{line("us", "500", "false", two), "depth 500 is deeper than any store's chart"},
		{line("us", "200", "true", two), "complete with 2 entries but depth 200"},
		{line("us", "200", "true", "null"), "complete is true but entries is null or missing"},
		{line("us", "", "true", `[{"rank":2,"app_id":"1"},{"rank":1,"app_id":"2"}]`), "entries[1]: rank 1 does not follow rank 2"},
		{line("us", "", "true", `[{"rank":1,"app_id":"1"},{"rank":3,"app_id":"2"}]`), "entries[1]: rank 3 where 2 was expected"},
		{line("us", "200", "true", "[]"), "a complete App Store chart with no entries"},
	}
	var in []string
	for _, b := range bad {
		in = append(in, b.line)
	}
	code, _, stderr := invoke(t, strings.Join(in, "\n"), "import", "--config", e.cfgPath, "--input", "-")
	if code != exitFailure {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	for i, b := range bad {
		if want := fmt.Sprintf("stdin:%d: skipped: ", i+1); !strings.Contains(stderr, want) || !strings.Contains(stderr, b.want) {
			t.Errorf("line %d: stderr lacks %q … %q", i+1, want, b.want)
		}
	}
	if !strings.Contains(stderr, fmt.Sprintf("imported 0 snapshots (0 entries) from stdin; skipped %d bad lines", len(bad))) {
		t.Errorf("summary: %s", stderr)
	}
	_, stdout, _ := invoke(t, "", "export", "--config", e.cfgPath)
	snaps := readSnapshots(t, stdout)
	if len(snaps) != 1 || !snaps[0].Complete || snaps[0].Depth != 100 || len(snaps[0].Entries) != 100 || snaps[0].Entries[99].AppID != ids[99] {
		t.Fatalf("the good snapshot was replaced: %d snapshots, first %+v", len(snaps), snaps[0].Key())
	}
	// Google Play's "no such chart" is a complete empty chart and imports.
	play := `{"time":"2026-03-01T10:07:00Z","store":"googleplay","country":"us","chart":"top-paid","category":"SOCIAL","source":"play","complete":true,"depth":200,"entries":[]}`
	if code, _, stderr := invoke(t, play, "import", "--config", e.cfgPath, "--input", "-"); code != exitOK {
		t.Fatalf("Play's empty chart: %d %s", code, stderr)
	}
}
