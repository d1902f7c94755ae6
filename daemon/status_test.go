package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/storage"
)

const (
	signalID = "874139669"
	evilName = `<script>alert("pwned")</script>`
	evilErr  = `charts: HTML page instead of JSON (HTTP 200, text/html): "<script>alert('err')</script>"`
)

// statusFixture is a daemon with six hourly sweeps of US, GB and DE top free
// in which Signal sits at #150 until it surges to #3 in the US in the last
// one, drops out of GB for one sweep, and whose DE chart could not be read
// once; plus a chart read only in part (FR), a Social Networking chart where
// an app named like a script tag leads, Telegram's older history, and two
// alerts.
type statusFixture struct {
	d    *daemon.Daemon
	base time.Time // the first sweep's slot
}

func newStatusFixture(t *testing.T) statusFixture {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t)
	e.cfg.Watch = []config.Watch{
		{Name: "signal", AppStore: signalID},
		{Name: "telegram", AppStore: "686449807"},
		{Name: "sneaky", AppStore: "1700000001"},
		{Name: "ghost", AppStore: "1"},
	}
	d, err := daemon.New(ctx, e.cfg, daemon.Options{Logger: slog.New(slog.DiscardHandler), Version: "v9.9.9-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(ctx) })

	base := time.Now().UTC().Truncate(time.Hour).Add(-6 * time.Hour)
	job := e.cfg.Jobs[0]
	gb := e.apple.Ranking("gb", "top-free", "36")
	for h := range 6 {
		switch h {
		case 2: // Signal is not in GB's chart
			e.apple.SetChart("gb", "top-free", "36", replaced(gb, signalID))
		case 3:
			e.apple.SetChart("gb", "top-free", "36", gb)
		case 5: // Signal surges in the US
			e.apple.SetChart("us", "top-free", "36", rankedAt(e.apple.Ranking("us", "top-free", "36"), signalID, 3))
		}
		if s := d.Sweep(ctx, job, base.Add(time.Duration(h)*time.Hour), nil); !s.OK() || s.Charts != 3 {
			t.Fatalf("sweep %d: %+v", h, s)
		}
	}

	last := base.Add(5 * time.Hour)
	snap := func(at time.Time, cc, category, source string, complete bool, errText string, ids ...string) chart.Snapshot {
		s := chart.Snapshot{Time: at, Store: chart.AppStore, Country: cc, Chart: chart.TopFree, Category: category,
			Source: source, Complete: complete, Error: errText, DurationMS: 1200}
		if complete {
			s.Depth = 200
		}
		for i, id := range ids {
			name := "App " + id
			switch id {
			case "1700000001":
				name = evilName
			case signalID:
				name = "Signal - Private Messenger"
			}
			s.Entries = append(s.Entries, chart.Entry{Rank: i + 1, AppID: id, Name: name})
		}
		return s
	}
	if err := d.DB().SaveSnapshots(ctx, []chart.Snapshot{
		snap(last, "fr", chart.All, "charts", false, evilErr),
		snap(base.Add(150*time.Minute), "de", chart.All, "charts", false, "charts: timeout after 20s"),
		snap(last, "us", "6005", "rss", true, "", "1700000001", signalID, "42"),
		snap(time.Now().Add(-30*time.Hour), "jp", chart.All, "charts", true, "", "686449807"),
		snap(time.Now().Add(-8*24*time.Hour), "kr", chart.All, "charts", true, "", "686449807"),
	}); err != nil {
		t.Fatal(err)
	}

	alerts := []chart.Alert{
		{ID: chart.AlertID("status-test", "1"), Kind: chart.KindSurge, Severity: chart.SeverityCritical, Time: last,
			Store: chart.AppStore, Country: chart.Ptr("us"), Chart: chart.TopFree, Category: chart.All,
			AppID: signalID, AppName: "Signal - Private Messenger", Watch: chart.Ptr("signal"),
			FromRank: chart.Ptr(150), ToRank: chart.Ptr(3), Summary: "Signal surged from #150 to #3 in US top free <b>now</b>"},
		{ID: chart.AlertID("status-test", "2"), Kind: chart.KindExited, Severity: chart.SeverityWarning, Time: base.Add(2 * time.Hour),
			Store: chart.AppStore, Country: chart.Ptr("gb"), Chart: chart.TopFree, Category: chart.All,
			AppID: signalID, AppName: "Signal - Private Messenger", Watch: chart.Ptr("signal"),
			FromRank: chart.Ptr(150), Summary: "Signal left GB top free"},
	}
	if err := d.DB().WithTx(ctx, func(tx *storage.Tx) error {
		for i := range alerts {
			if _, err := tx.SaveAlert(ctx, &alerts[i]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return statusFixture{d: d, base: base}
}

// replaced returns ids with app replaced by an app of the fake's pool that
// is not in ids.
func replaced(ids []string, app string) []string {
	for i := 0; ; i++ {
		id := strconv.Itoa(1400000000 + i*7919)
		if !slices.Contains(ids, id) {
			out := slices.Clone(ids)
			out[slices.Index(out, app)] = id
			return out
		}
	}
}

func getStatus(t *testing.T, d *daemon.Daemon) (string, *html.Node) {
	t.Helper()
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("content type %q", ct)
	}
	body := rec.Body.String()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return body, doc
}

func TestStatusPage(t *testing.T) {
	f := newStatusFixture(t)
	body, doc := getStatus(t, f.d)

	t.Run("self-contained", func(t *testing.T) {
		if !strings.Contains(body, `<meta http-equiv="refresh" content="60">`) {
			t.Error("no refresh meta tag")
		}
		// The fixture holds no URL, so none may appear.
		for _, bad := range []string{"<script", "<link", "<img", "<iframe", " src=", "url(", "@import", "http:", "https:"} {
			if i := strings.Index(body, bad); i >= 0 {
				t.Errorf("the page refers to something outside it or runs a script: …%s…", body[max(0, i-60):min(len(body), i+60)])
			}
		}
	})

	t.Run("header", func(t *testing.T) {
		head := first(doc, tag("header"))
		if head == nil {
			t.Fatal("no header")
		}
		txt := text(head)
		for _, want := range []string{"v9.9.9-test", "ready", "up "} {
			if !strings.Contains(txt, want) {
				t.Errorf("header lacks %q: %s", want, txt)
			}
		}
		job := first(head, class("job"))
		if job == nil {
			t.Fatal("no job row")
		}
		cells := cellTexts(job)
		want := f.base.Add(5 * time.Hour).Format("2006-01-02 15:04 UTC")
		if len(cells) < 4 || cells[0] != "j" || !strings.HasPrefix(cells[2], want) || cells[3] != "3 / 3" {
			t.Errorf("job row %q, want job j, slot %s, 3 / 3 charts", cells, want)
		}
	})

	t.Run("current ranks", func(t *testing.T) {
		tbl := byID(doc, "ranks-appstore-top-free-all")
		if tbl == nil {
			t.Fatal("no table for App Store top free")
		}
		// JP's only snapshot is older than a day: not a current rank.
		if got, want := headers(tbl), []string{"App", "DE", "FR", "GB", "US"}; !reflect.DeepEqual(got, want) {
			t.Errorf("columns %q, want %q", got, want)
		}
		rows := rowsByApp(tbl)
		if got, want := rows["signal"], []string{"#150", "?", "#150", "#3"}; !reflect.DeepEqual(got, want) {
			t.Errorf("signal: %q, want %q", got, want)
		}
		if got := rows["ghost"]; !reflect.DeepEqual(got, []string{">200", "?", ">200", ">200"}) {
			t.Errorf("ghost, never in a chart: %q", got)
		}
		if order := appOrder(tbl); order[len(order)-1] != "ghost" {
			t.Errorf("rows in order %q, want ghost (never in the chart) last", order)
		}
		var prev float64
		for _, r := range bodyRows(tbl) {
			m := medianRank(r[1:])
			if m < prev {
				t.Errorf("rows not sorted by median rank: %q (%g) after %g", r, m, prev)
			}
			prev = m
		}

		soc := byID(doc, "ranks-appstore-top-free-6005")
		if soc == nil {
			t.Fatal("no table for App Store top free Social Networking")
		}
		if got := appOrder(soc); !reflect.DeepEqual(got[:2], []string{"sneaky", "signal"}) {
			t.Errorf("Social Networking rows %q: want sneaky (#1) before signal (#2), sorted by rank", got)
		}
		if got := rowsByApp(soc)["signal"]; !reflect.DeepEqual(got, []string{"#2"}) {
			t.Errorf("signal in Social Networking: %q", got)
		}
		if !strings.Contains(text(soc), "sneaky "+evilName) {
			t.Errorf("the store's name of sneaky is not shown as text: %s", text(soc))
		}
	})

	t.Run("history plots", func(t *testing.T) {
		box := byID(doc, "plot-signal-appstore")
		if box == nil || first(box, tag("svg")) == nil {
			t.Fatal("no SVG plot for signal")
		}
		lines := plotLines(box)
		us, ok := lines["US top free (App Store)"]
		if !ok {
			t.Fatalf("no US top free line in %v", lines)
		}
		if len(us) != 1 || len(us[0]) < 2 {
			t.Fatalf("US line %v: want one stroke", us)
		}
		if firstY, lastY := us[0][0][1], us[0][len(us[0])-1][1]; lastY >= firstY {
			t.Errorf("#3 drawn at y=%.1f, #150 at y=%.1f: rank 1 must be at the top", lastY, firstY)
		}
		// Absent from a complete chart: on the "below the chart" line, the
		// lowest of the plot.
		outY := labelY(box, ">200")
		gb := lines["GB top free (App Store)"]
		var ys []float64
		for _, stroke := range gb {
			for _, pt := range stroke {
				ys = append(ys, pt[1])
			}
		}
		if len(gb) != 1 || len(ys) < 4 || ys[2] != outY || ys[1] >= outY || ys[3] >= outY {
			t.Errorf("GB line %v: want one stroke, its third point on the >200 line (y=%.1f) and the others above it", gb, outY)
		}
		// Unknown (DE not read at 02:30): a gap.
		if de := lines["DE top free (App Store)"]; len(de) != 2 || de[0][len(de[0])-1][0] >= de[1][0][0] {
			t.Errorf("DE line %v: want two strokes, one each side of the unknown rank", de)
		}
		if _, ok := lines["US top free Social Networking (App Store)"]; !ok {
			t.Errorf("the best chart (#2 in Social Networking) is not drawn: %v", lines)
		}

		tg := byID(doc, "plot-telegram-appstore")
		if tg == nil || !strings.Contains(text(tg), "JP top free: now #1") {
			t.Error("telegram's plot lacks its JP history of 30 hours ago")
		} else if strings.Contains(text(tg), "KR") {
			t.Error("telegram's plot shows KR history older than 7 days")
		}
		ghost := byID(doc, "plot-ghost-appstore")
		if ghost == nil || first(ghost, tag("svg")) != nil || !strings.Contains(text(ghost), "Not in any chart") {
			t.Error("ghost, never in a chart, should have a note instead of a plot")
		}
	})

	t.Run("alerts", func(t *testing.T) {
		sec := byID(doc, "alerts")
		// The sweeps may raise alerts of their own; ours are found by summary.
		var crit, warn *html.Node
		for _, r := range all(sec, class("alert")) {
			switch c := cellTexts(r); c[len(c)-1] {
			case "Signal surged from #150 to #3 in US top free <b>now</b>":
				crit = r
			case "Signal left GB top free":
				warn = r
			}
		}
		if crit == nil || warn == nil {
			t.Fatalf("the stored alerts are not both shown: %s", text(sec))
		}
		if got := cellTexts(crit); got[1] != "CRITICAL" || got[3] != "Signal - Private Messenger (signal)" || got[5] != "#150 → #3" {
			t.Errorf("critical alert row %q", got)
		}
		if !hasClass(crit, "crit") || hasClass(warn, "crit") {
			t.Error("only the critical alert should be marked critical")
		}
		if got := cellTexts(warn); got[1] != "warning" || got[5] != "#150 → out" {
			t.Errorf("warning alert row %q", got)
		}
	})

	t.Run("scrape health", func(t *testing.T) {
		want := expectedHealth(t, f.d)
		if want["charts"][0] != 20 || want["charts"][1] != 18 || want["rss"] != [3]int{1, 1, 0} {
			t.Fatalf("fixture changed: %v", want)
		}
		sec := byID(doc, "health")
		got := map[string][]string{}
		for _, r := range all(sec, class("health")) {
			c := cellTexts(r)
			got[c[1]] = c
		}
		if len(got) != len(want) {
			t.Errorf("health rows for sources %v, want %v", got, want)
		}
		for source, w := range want {
			c := got[source]
			pct := fmt.Sprintf("%.1f%%", math.Floor(1000*float64(w[1])/float64(w[0]))/10)
			if len(c) < 7 || c[0] != "App Store" || c[2] != strconv.Itoa(w[0]) || c[3] != strconv.Itoa(w[1]) || c[5] != strconv.Itoa(w[2]) || c[6] != pct {
				t.Errorf("%s: row %q, want %d charts, %d complete, %d failed, %s", source, c, w[0], w[1], w[2], pct)
			}
		}
		if !strings.Contains(text(sec), evilErr) || !strings.Contains(text(sec), "charts: timeout after 20s") {
			t.Errorf("the recent errors are not shown: %s", text(sec))
		}
	})

	t.Run("escaping", func(t *testing.T) {
		if strings.Contains(body, "<script") || strings.Contains(body, "<b>now") {
			t.Error("a store-provided value reached the page unescaped")
		}
		if !strings.Contains(body, "&lt;script&gt;alert(") {
			t.Error("the escaped app name is missing")
		}
	})
}

// expectedHealth counts the last day's snapshots per source: charts,
// complete, failed (nothing read).
func expectedHealth(t *testing.T, d *daemon.Daemon) map[string][3]int {
	t.Helper()
	out := map[string][3]int{}
	err := d.DB().Snapshots(context.Background(), storage.Query{Since: time.Now().Add(-24 * time.Hour)}, func(s chart.Snapshot) error {
		c := out[s.Source]
		c[0]++
		if s.Complete {
			c[1]++
		} else if len(s.Entries) == 0 {
			c[2]++
		}
		out[s.Source] = c
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStatusPageWithoutData(t *testing.T) {
	e := newEnv(t)
	d := e.open(t)
	defer d.Close(context.Background())
	body, doc := getStatus(t, d)
	for _, want := range []string{"no sweep yet", "No alerts stored.", "No snapshots in the last 24 hours."} {
		if !strings.Contains(body, want) {
			t.Errorf("the empty page lacks %q", want)
		}
	}
	if first(doc, tag("svg")) != nil {
		t.Error("a plot without history")
	}
	if first(doc, class("problems")) != nil {
		t.Errorf("problems on an empty store: %s", text(first(doc, class("problems"))))
	}
}

// TestHistoriesMatchHistory checks the status page's one-scan history of
// several apps against History, app by app.
func TestHistoriesMatchHistory(t *testing.T) {
	f := newStatusFixture(t)
	ctx := context.Background()
	q := storage.Query{Since: time.Now().Add(-7 * 24 * time.Hour)}
	apps := []storage.AppRef{{Store: chart.AppStore, AppID: signalID}, {Store: chart.AppStore, AppID: "686449807"},
		{Store: chart.AppStore, AppID: "1700000001"}, {Store: chart.AppStore, AppID: "1"}, {Store: chart.GooglePlay, AppID: "org.thoughtcrime.securesms"}}
	got := map[storage.AppRef][]storage.Point{}
	if err := f.d.DB().Histories(ctx, apps, q, func(a storage.AppRef, p storage.Point) error {
		got[a] = append(got[a], p)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		want, err := f.d.DB().History(ctx, a.Store, a.AppID, q)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got[a], want) {
			t.Errorf("%v: Histories gave %d points, History %d:\n%v\n%v", a, len(got[a]), len(want), got[a], want)
		}
	}
	// 6 sweeps of 3 charts, DE unread at 02:30, FR, Social Networking and
	// JP 30 hours ago; KR is older than 7 days.
	if n := len(got[apps[0]]); n != 22 {
		t.Errorf("signal has %d points in the last 7 days, want 22", n)
	}
}

// medianRank is the median of rank cells: "#3" is 3, ">200" is 201 and
// "?" does not count.
func medianRank(cells []string) float64 {
	var xs []float64
	for _, c := range cells {
		switch {
		case strings.HasPrefix(c, "#"):
			n, _ := strconv.Atoi(c[1:])
			xs = append(xs, float64(n))
		case strings.HasPrefix(c, ">"):
			n, _ := strconv.Atoi(c[1:])
			xs = append(xs, float64(n+1))
		}
	}
	if len(xs) == 0 {
		return math.Inf(1)
	}
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

// HTML helpers.

func tag(name string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == name }
}

func class(c string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Type == html.ElementNode && hasClass(n, c) }
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, c string) bool {
	return slices.Contains(strings.Fields(attr(n, "class")), c)
}

func all(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	if n == nil {
		return nil
	}
	for c := range n.Descendants() {
		if match(c) {
			out = append(out, c)
		}
	}
	return out
}

func first(n *html.Node, match func(*html.Node) bool) *html.Node {
	if found := all(n, match); len(found) > 0 {
		return found[0]
	}
	return nil
}

func byID(n *html.Node, id string) *html.Node {
	return first(n, func(n *html.Node) bool { return n.Type == html.ElementNode && attr(n, "id") == id })
}

// text is n's text, with runs of white space folded.
func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func cellTexts(row *html.Node) []string {
	var out []string
	for c := range row.ChildNodes() {
		if c.Type == html.ElementNode && (c.Data == "td" || c.Data == "th") {
			out = append(out, text(c))
		}
	}
	return out
}

func headers(tbl *html.Node) []string {
	return cellTexts(first(first(tbl, tag("thead")), tag("tr")))
}

func bodyRows(tbl *html.Node) [][]string {
	var out [][]string
	for _, r := range all(first(tbl, tag("tbody")), tag("tr")) {
		out = append(out, cellTexts(r))
	}
	return out
}

// rowsByApp maps a rank table's watch names to their cells.
func rowsByApp(tbl *html.Node) map[string][]string {
	out := map[string][]string{}
	for _, r := range bodyRows(tbl) {
		out[strings.Fields(r[0])[0]] = r[1:]
	}
	return out
}

func appOrder(tbl *html.Node) []string {
	var out []string
	for _, r := range bodyRows(tbl) {
		out = append(out, strings.Fields(r[0])[0])
	}
	return out
}

// plotLines reads the lines of an SVG plot: title → strokes → points.
func plotLines(box *html.Node) map[string][][][2]float64 {
	out := map[string][][][2]float64{}
	for _, g := range all(box, class("line")) {
		title := text(first(g, tag("title")))
		var strokes [][][2]float64
		if p := first(g, tag("path")); p != nil {
			for _, part := range strings.Split(attr(p, "d"), "M")[1:] {
				var pts [][2]float64
				for _, xy := range strings.Split(part, "L") {
					var x, y float64
					fmt.Sscanf(xy, "%g %g", &x, &y)
					pts = append(pts, [2]float64{x, y})
				}
				strokes = append(strokes, pts)
			}
		}
		out[title] = strokes
	}
	return out
}

// labelY is the y of the SVG text label.
func labelY(box *html.Node, label string) float64 {
	for _, t := range all(box, tag("text")) {
		if text(t) == label {
			y, _ := strconv.ParseFloat(attr(t, "y"), 64)
			return y
		}
	}
	return math.NaN()
}
