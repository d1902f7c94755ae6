package daemon_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/storage"
)

const (
	signalID = "874139669"
	evilName = `<script>alert("pwned")</script>`
)

// get fetches a page of the world's server.
func get(t *testing.T, url string) (int, string, *html.Node, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), doc, resp.Header
}

func getOK(t *testing.T, url string) (string, *html.Node) {
	t.Helper()
	code, body, doc, h := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET %s: content type %q", url, ct)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'; style-src 'unsafe-inline';") {
		t.Errorf("GET %s: CSP %q", url, csp)
	}
	return body, doc
}

// checkSelfContained fails on anything a page would load or run.
func checkSelfContained(t *testing.T, page, body string, doc *html.Node) {
	t.Helper()
	for _, bad := range []string{"<script", "<link", "<img", "<iframe", "<object", "<embed", " src=", "url(", "@import"} {
		if i := strings.Index(body, bad); i >= 0 {
			t.Errorf("%s loads or runs something: …%s…", page, body[max(0, i-60):min(len(body), i+60)])
		}
	}
	for _, a := range all(doc, tag("a")) {
		if h := attr(a, "href"); !strings.HasPrefix(h, "/") && !strings.HasPrefix(h, "#") {
			t.Errorf("%s links outside itself: %q", page, h)
		}
	}
}

func TestStatusHome(t *testing.T) {
	w := statusFixture(t)
	body, doc := getOK(t, w.srv.URL+"/")
	checkSelfContained(t, "/", body, doc)

	t.Run("reading order", func(t *testing.T) {
		var order []string
		for _, s := range all(doc, tag("section")) {
			order = append(order, attr(s, "id"))
		}
		if want := []string{"moved", "where", "health"}; !slices.Equal(order, want) {
			t.Errorf("sections %q, want %q", order, want)
		}
	})

	t.Run("jobs", func(t *testing.T) {
		var last daemon.Summary
		for _, s := range w.sweeps {
			if s.Job == "messaging" {
				last = s
			}
		}
		job := first(doc, class("job"))
		want := strconv.Itoa(last.Complete) + " of " + strconv.Itoa(last.Charts) + " charts read in full"
		if txt := text(job); !strings.Contains(txt, "messaging last sweep "+w.last.Format("15:04")) || !strings.Contains(txt, want) || last.Complete == last.Charts {
			t.Errorf("job line %q, want the last sweep at %s and %q (with failures)", txt, w.last.Format("15:04"), want)
		}
	})

	t.Run("what moved", func(t *testing.T) { checkMoved(t, doc) })
	t.Run("where", func(t *testing.T) { checkGrids(t, w, doc) })
	t.Run("health", func(t *testing.T) { checkHealth(t, w, doc) })

	t.Run("escaping", func(t *testing.T) {
		if strings.Contains(body, "<b>top") || strings.Contains(body, "<script>alert") || !strings.Contains(body, "&lt;b&gt;top free&lt;/b&gt;") {
			t.Error("a store-provided value reached the page unescaped")
		}
	})

	t.Run("cached", func(t *testing.T) {
		// Served from the same bytes until something changes.
		_, again, _, _ := get(t, w.srv.URL+"/")
		if again != body {
			t.Error("a second load within a second rendered the page again")
		}
	})
}

// checkMoved finds the stored alerts among the cards, newest first, each
// with its sparkline and links.
func checkMoved(t *testing.T, doc *html.Node) {
	sec := byID(doc, "moved")
	cards := map[string]*html.Node{}
	for _, c := range all(sec, tag("article")) {
		cards[text(first(c, class("summary")))] = c
	}
	crit := cards["Signal - Private Messenger rose from #150 to #3 in US top free (App Store) in 1h"]
	multi := cards["telegram messenger surged in 3 countries on App Store within 7h: TR, RU, IN"]
	if crit == nil || multi == nil || cards["WhatsApp fell in DE <b>top free</b>"] == nil || len(cards) < 4 {
		t.Fatalf("the stored alerts are not all shown: %v", slices.Collect(mapsKeys(cards)))
	}
	if !hasClass(crit, "crit") || first(crit, tag("svg")) == nil || !strings.Contains(text(crit), "#150 → #3") {
		t.Errorf("critical card: %s", text(crit))
	}
	var hrefs []string
	for _, a := range all(crit, tag("a")) {
		hrefs = append(hrefs, attr(a, "href"))
	}
	if want := []string{"/app/signal#g-appstore-top-free-all", "/chart/appstore/us/top-free/all"}; !slices.Equal(hrefs, want) {
		t.Errorf("critical card links %q, want %q", hrefs, want)
	}
	if txt := text(multi); !strings.Contains(txt, "update 1") || !strings.Contains(txt, "3 countries (TR, RU, IN)") {
		t.Errorf("multi-country card: %s", txt)
	}
	if n := len(all(multi, class("line"))); n != 3 {
		t.Errorf("the multi-country sparkline draws %d lines, want one per country (3)", n)
	}
	// Newest first.
	var times []string
	for _, c := range all(sec, tag("time")) {
		times = append(times, attr(c, "title"))
	}
	for i := 1; i < len(times); i++ {
		if times[i] > times[i-1] {
			t.Errorf("alerts not newest first: %q", times)
			break
		}
	}
}

// checkHealth compares each source's line with a count of the store's
// snapshots of the last day.
func checkHealth(t *testing.T, w *statusWorld, doc *html.Node) {
	want := expectedHealth(t, w.d)
	got := map[string]string{} // "App Store · charts" → its line
	for _, li := range all(byID(doc, "health"), class("hl")) {
		got[text(first(li, tag("b")))] = text(li)
	}
	for src, c := range want {
		line := got[chart.StoreName(src.store)+" · "+src.source]
		counts := "(" + strconv.Itoa(c[1]) + " of " + strconv.Itoa(c[0]) + " reads; " + strconv.Itoa(c[0]-c[1]-c[2]) + " partly, " + strconv.Itoa(c[2]) + " not at all"
		if !strings.Contains(line, counts) {
			t.Errorf("%s %s: line %q, want %q", src.store, src.source, line, counts)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d health lines, want %d: %v", len(got), len(want), got)
	}
	// The newest error of the charts source: FR's captcha page, with
	// its long URL, in one line that links to the chart.
	if txt := text(byID(doc, "health")); !strings.Contains(txt, "FR top free (App Store): charts: ") || !strings.Contains(txt, "Verify you are human") {
		t.Errorf("the last errors are not shown: %s", txt)
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// expectedGrid reads, straight from the store, the newest snapshot of every
// chart of the last 48 hours and what each watched app's cell must say.
func expectedGrid(t *testing.T, w *statusWorld) map[string]map[string]map[string]string {
	t.Helper()
	newest := map[chart.Key]chart.Snapshot{}
	err := w.d.DB().Snapshots(context.Background(), storage.Query{Since: time.Now().Add(-48 * time.Hour)}, func(s chart.Snapshot) error {
		if old, ok := newest[s.Key()]; !ok || !s.Time.Before(old.Time) {
			newest[s.Key()] = s
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]map[string]string{}
	for k, s := range newest {
		g := "g-" + k.Store + "-" + k.Chart + "-" + k.Category
		if out[g] == nil {
			out[g] = map[string]map[string]string{}
		}
		cells := map[string]string{}
		for _, wa := range w.cfg.Watch {
			id := wa.ID(k.Store)
			switch r := s.Rank(id); {
			case r > 0:
				cells[wa.Name] = strconv.Itoa(r)
			case s.Complete:
				cells[wa.Name] = "–"
			default:
				cells[wa.Name] = "?"
			}
		}
		out[g][strings.ToUpper(k.Country)] = cells
	}
	return out
}

// checkGrids compares every grid cell with the store, and checks which
// apps get a column and which countries a row, and their order.
func checkGrids(t *testing.T, w *statusWorld, doc *html.Node) {
	want := expectedGrid(t, w)
	boxes := all(byID(doc, "where"), class("gridbox"))
	if len(boxes) != len(want) {
		t.Errorf("%d grids, want one per chart: %d", len(boxes), len(want))
	}
	bands := map[string]bool{}
	for _, box := range boxes {
		id := attr(box, "id")
		exp := want[id]
		if exp == nil {
			t.Errorf("grid %s: no such chart stored", id)
			continue
		}
		var cols []string
		for _, th := range all(box, class("app")) {
			cols = append(cols, text(th))
		}
		// An app gets a column if it is ranked in some country.
		for _, wa := range w.cfg.Watch {
			ranked := false
			for _, cells := range exp {
				_, err := strconv.Atoi(cells[wa.Name])
				ranked = ranked || err == nil
			}
			if ranked != slices.Contains(cols, wa.Name) {
				t.Errorf("grid %s: %s ranked somewhere: %v; has a column: %v", id, wa.Name, ranked, !ranked)
			}
			if !ranked && !strings.Contains(text(box), wa.Name) {
				t.Errorf("grid %s: %s, below the chart everywhere, is not named", id, wa.Name)
			}
		}
		seen := map[string]bool{}
		prevBest := 0.0
		for i, tr := range all(box, tag("tr"))[1:] {
			cells := cellTexts(tr)
			cc := cells[0]
			seen[cc] = true
			best := 1e9
			for j, col := range cols {
				got, w := cells[j+1], exp[cc][col]
				if got != w {
					t.Errorf("grid %s, %s, %s: %q, want %q", id, cc, col, got, w)
				}
				if r, err := strconv.Atoi(got); err == nil && float64(r) < best {
					best = float64(r)
				}
				td := all(tr, tag("td"))[j]
				bands[strings.Fields(attr(td, "class"))[0]] = true
			}
			if i > 0 && best < prevBest {
				t.Errorf("grid %s: %s (best #%g) after a country whose best is #%g", id, cc, best, prevBest)
			}
			prevBest = best
		}
		for cc, cells := range exp {
			if seen[cc] {
				continue
			}
			for _, col := range cols {
				if cells[col] != "–" {
					t.Errorf("grid %s: %s has no row but %s is %q there", id, cc, col, cells[col])
				}
			}
			if !strings.Contains(text(box), cc) {
				t.Errorf("grid %s: %s, with no watched app in the chart, is not named", id, cc)
			}
		}
		if id == "g-appstore-top-free-all" {
			if rows := all(first(box, tag("table")), tag("tr")); len(rows) != 13 || first(box, tag("details")) == nil {
				t.Errorf("the first %d countries should show and the rest collapse", len(rows)-1)
			}
		}
	}
	for _, b := range []string{"b1", "b2", "b3", "b4", "bo", "bu"} {
		if !bands[b] {
			t.Errorf("no cell of band %s: the world should show every band", b)
		}
	}
}

type sourceKey struct{ store, source string }

// expectedHealth counts the last day's snapshots per store and source:
// reads, complete, failed (nothing read).
func expectedHealth(t *testing.T, d *daemon.Daemon) map[sourceKey][3]int {
	t.Helper()
	out := map[sourceKey][3]int{}
	err := d.DB().Snapshots(context.Background(), storage.Query{Since: time.Now().Add(-24 * time.Hour)}, func(s chart.Snapshot) error {
		k := sourceKey{s.Store, s.Source}
		c := out[k]
		c[0]++
		if s.Complete {
			c[1]++
		} else if len(s.Entries) == 0 {
			c[2]++
		}
		out[k] = c
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var rankAttr = regexp.MustCompile(`^\d+$`)

func TestStatusAppPage(t *testing.T) {
	w := statusFixture(t)
	for _, rng := range []string{"24h", "7d", "30d"} {
		body, doc := getOK(t, w.srv.URL+"/app/signal?range="+rng)
		checkSelfContained(t, "/app/signal", body, doc)
		if h := text(first(doc, tag("h1"))); h != "signal" {
			t.Errorf("%s: heading %q", rng, h)
		}
		cur := first(byID(doc, ""), func(n *html.Node) bool { return n.Type == html.ElementNode && attr(n, "aria-current") == "page" })
		if cur == nil || !strings.Contains(attr(cur, "href"), "range="+rng) {
			t.Errorf("%s: the range selector does not mark %s", rng, rng)
		}
		box := byID(doc, "g-appstore-top-free-all")
		if box == nil {
			t.Fatalf("%s: no App Store top free plot", rng)
		}
		us := first(box, func(n *html.Node) bool { return hasClass(n, "line") && attr(n, "data-label") == "US" })
		if pt := first(us, class("pt")); pt == nil || attr(pt, "data-rank") != "3" {
			t.Errorf("%s: US line's newest point %v, want #3", rng, pt)
		}
		if marks := all(box, class("mark")); len(marks) == 0 || !slices.ContainsFunc(marks, func(n *html.Node) bool { return hasClass(n, "crit") && attr(n, "data-rank") == "3" }) {
			t.Errorf("%s: the surge to #3 is not marked on the US line", rng)
		}
		for _, pt := range all(doc, class("pt")) {
			if !rankAttr.MatchString(attr(pt, "data-rank")) {
				t.Errorf("%s: point with rank %q", rng, attr(pt, "data-rank"))
			}
		}
		if !strings.Contains(text(byID(doc, "alerts")), "Signal - Private Messenger rose from #150 to #3 in US top free (App Store) in 1h") {
			t.Errorf("%s: the app's alerts are not listed", rng)
		}
	}
	// The default range for a day of history is 24 hours.
	_, doc := getOK(t, w.srv.URL+"/app/telegram")
	if cur := first(doc, func(n *html.Node) bool { return n.Type == html.ElementNode && attr(n, "aria-current") == "page" }); cur == nil || text(cur) != "24 h" {
		t.Errorf("the default range of a young history is not 24 h")
	}
	// Every country on request; 12 by default.
	_, few := getOK(t, w.srv.URL+"/app/whatsapp?range=24h")
	_, many := getOK(t, w.srv.URL+"/app/whatsapp?range=24h&all=1")
	nf, nm := len(all(byID(few, "g-appstore-top-free-6005"), class("line"))), len(all(byID(many, "g-appstore-top-free-6005"), class("line")))
	if nf > 12 || nm <= nf {
		t.Errorf("Social Networking: %d lines by default, %d with all=1; want at most 12, then more", nf, nm)
	}

	for path, want := range map[string]int{"/app/nobody": 404, "/app/signal?range=1y": 400} {
		if code, body, _, _ := get(t, w.srv.URL+path); code != want || !strings.Contains(body, "<h1>") {
			t.Errorf("GET %s: %d, want %d with a page that says why", path, code, want)
		}
	}
}

func TestStatusChartPage(t *testing.T) {
	w := statusFixture(t)
	ctx := context.Background()
	k := chart.Key{Store: chart.AppStore, Country: "us", Chart: chart.TopFree, Category: chart.All}
	cur, _, _ := w.d.DB().SnapshotBefore(ctx, k, time.Now().Add(time.Hour))
	prev, ok, _ := w.d.DB().SnapshotBefore(ctx, k, cur.Time.Add(-24*time.Hour+time.Second))
	if !ok || cur.Time.Sub(prev.Time) != 24*time.Hour {
		t.Fatalf("the world lacks a snapshot 24 hours before the newest: %v", prev.Time)
	}
	body, doc := getOK(t, w.srv.URL+"/chart/appstore/us/top-free/all")
	checkSelfContained(t, "chart page", body, doc)
	if h := text(first(doc, tag("h1"))); h != "United States · top free · App Store" {
		t.Errorf("heading %q", h)
	}
	rows := all(doc, func(n *html.Node) bool {
		return n.Type == html.ElementNode && n.Data == "tr" && first(n, tag("td")) != nil
	})
	if len(rows) != len(cur.Entries) {
		t.Fatalf("%d rows, want the %d entries", len(rows), len(cur.Entries))
	}
	was := map[string]int{}
	for _, e := range prev.Entries {
		was[e.AppID] = e.Rank
	}
	for i, e := range cur.Entries {
		c := cellTexts(rows[i])
		want := "new"
		switch r, ok := was[e.AppID]; {
		case ok && r > e.Rank:
			want = "▲ " + strconv.Itoa(r-e.Rank)
		case ok && r < e.Rank:
			want = "▼ " + strconv.Itoa(e.Rank-r)
		case ok:
			want = "="
		}
		if c[0] != strconv.Itoa(e.Rank) || c[2] != want {
			t.Errorf("rank %d: row %q, want change %q", e.Rank, c, want)
		}
		if e.AppID == signalID && (want != "▲ 147" || !hasClass(rows[i], "watched")) {
			t.Errorf("signal: %q, want ▲ 147 and marked watched", c)
		}
	}

	// A store's app name is text, never markup.
	body, doc = getOK(t, w.srv.URL+"/chart/appstore/us/top-free/6005")
	checkSelfContained(t, "chart page", body, doc)
	if !strings.Contains(body, "&lt;script&gt;alert(") || !strings.Contains(text(doc), evilName) {
		t.Error("the app named like a script tag is not shown as text")
	}

	// The newest read of FR failed: the page says what that means.
	_, doc = getOK(t, w.srv.URL+"/chart/appstore/fr/top-free/all")
	if txt := text(first(doc, tag("header"))); !strings.Contains(txt, "incomplete") || !strings.Contains(txt, "not below the chart") {
		t.Errorf("FR's failed read is not explained: %s", txt)
	}
	for path, want := range map[string]int{"/chart/appstore/zz/top-free/all": 404, "/chart/appstore/u$/top-free/all": 404, "/chart/nostore/us/top-free/all": 404} {
		if code, body, _, _ := get(t, w.srv.URL+path); code != want || !strings.Contains(body, "<h1>") {
			t.Errorf("GET %s: %d, want %d with a page that says why", path, code, want)
		}
	}
}
