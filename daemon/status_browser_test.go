package daemon_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rankpulse/rankpulse/chart"
)

// The browser tests look at the status pages in a real headless Chromium,
// as a person would at 1280 and 390 px: what is on the first screen, that
// nothing is wider than the window, the grid's colours, the plots' geometry,
// and that every link opens a page. Without Chromium they skip, unless
// RANKPULSE_REQUIRE_BROWSER=1 (CI) makes them fail. Screenshots go to
// $RANKPULSE_ARTIFACTS/screenshots, else a new temporary directory; the
// test logs where.

// chromiumPath finds Chromium: $RANKPULSE_CHROMIUM, then the usual names.
func chromiumPath() string {
	if p := os.Getenv("RANKPULSE_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return ""
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser starts a headless Chromium with a fresh profile for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("RANKPULSE_REQUIRE_BROWSER") == "1" {
			t.Fatal("RANKPULSE_REQUIRE_BROWSER=1 but no Chromium was found: install it (Debian: apt-get install -y chromium) or set RANKPULSE_CHROMIUM to its path")
		}
		t.Skip("no Chromium (apt-get install -y chromium, or set RANKPULSE_CHROMIUM); RANKPULSE_REQUIRE_BROWSER=1 makes this a failure")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", path, err)
	}
	return ctx
}

// step bounds one browser step.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %.60s…: %v", js, err)
	}
	return v
}

// open loads a page and checks its status and heading.
func open(t *testing.T, ctx context.Context, url, heading string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.Run(sctx, chromedp.NavigateResponse(url))
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	if resp == nil {
		t.Fatalf("open %s: no response (a navigation within the page?)", url)
	}
	if resp.Status != 200 {
		t.Fatalf("open %s: HTTP %d", url, resp.Status)
	}
	if h := eval[string](t, ctx, `document.querySelector("h1").textContent`); !strings.Contains(h, heading) {
		t.Fatalf("open %s: heading %q, want %q", url, h, heading)
	}
}

var (
	artifactsOnce sync.Once
	artifactsDir  string
)

// screenshot saves the whole page as a PNG and returns its path.
func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	artifactsOnce.Do(func() {
		if d := os.Getenv("RANKPULSE_ARTIFACTS"); d != "" {
			artifactsDir = filepath.Join(d, "screenshots")
			os.MkdirAll(artifactsDir, 0o755)
		} else {
			artifactsDir, _ = os.MkdirTemp("", "rankpulse-screenshots-")
		}
	})
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(artifactsDir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
	return p
}

// widths are the windows every page is checked in: a laptop and a phone.
var widths = []struct {
	name          string
	width, height int64
	mobile        bool
}{{"1280", 1280, 800, false}, {"390", 390, 844, true}}

func viewport(t *testing.T, ctx context.Context, w int64, h int64, mobile bool) {
	t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	step(t, ctx, "set the viewport", chromedp.EmulateViewport(w, h, opts...))
}

type overflow struct {
	ScrollWidth int      `json:"scrollWidth"`
	ClientWidth int      `json:"clientWidth"`
	Wide        []string `json:"wide"`
}

// overflowJS measures the page: its scroll width against the window, and
// every box that reaches past either edge. Run with every <details> open,
// so collapsed content is measured too.
const overflowJS = `(() => {
  document.querySelectorAll("details").forEach(d => d.open = true);
  const vw = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > vw + 0.5 || r.left < -0.5) {
      const cls = el.getAttribute("class") || "";
      wide.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (cls ? "." + cls.split(" ").join(".") : "") + " spans " + Math.round(r.left) + ".." + Math.round(r.right) + "px");
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, clientWidth: vw, wide: wide.slice(0, 12)};
})()`

// checkFits fails when anything is wider than the window.
func checkFits(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	o := eval[overflow](t, ctx, overflowJS)
	if o.ScrollWidth > o.ClientWidth {
		t.Errorf("%s: the page is %d px wide in a %d px window", page, o.ScrollWidth, o.ClientWidth)
	}
	if len(o.Wide) > 0 {
		t.Errorf("%s: boxes wider than the %d px window:\n  %s", page, o.ClientWidth, strings.Join(o.Wide, "\n  "))
	}
}

type box struct {
	Sel     string  `json:"sel"`
	Top     float64 `json:"top"`
	Height  float64 `json:"height"`
	Visible bool    `json:"visible"`
}

// visibleJS reports, per selector, its first element's position and whether
// a person can see it (rendered, not hidden, not transparent).
const visibleJS = `((sels) => sels.map(sel => {
  const el = document.querySelector(sel);
  if (!el) return {sel, top: -1, height: 0, visible: false};
  const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
  return {sel, top: r.top + window.scrollY, height: r.height,
    visible: (r.width > 0 || r.height > 0) && cs.visibility !== "hidden" && cs.display !== "none" && +cs.opacity > 0};
}))`

func checkVisible(t *testing.T, ctx context.Context, page string, sels ...string) map[string]box {
	t.Helper()
	js := visibleJS + "(" + jsStrings(sels) + ")"
	out := map[string]box{}
	for _, b := range eval[[]box](t, ctx, js) {
		if !b.Visible {
			t.Errorf("%s: %s is not visible", page, b.Sel)
		}
		out[b.Sel] = b
	}
	return out
}

func jsStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

type cellStyle struct {
	Text  string `json:"text"`
	Class string `json:"cls"`
	Bg    string `json:"bg"`
	Img   string `json:"img"`
	Color string `json:"color"`
}

// bandColours are the grid's colours, as a person sees them, by what the
// cell says.
func wantColour(cellText string) (bg string, striped bool) {
	switch cellText {
	case "–":
		return "rgb(240, 242, 244)", false
	case "?":
		return "rgb(255, 241, 194)", true
	}
	r, _ := strconv.Atoi(cellText)
	switch {
	case r <= 3:
		return "rgb(15, 83, 35)", false
	case r <= 10:
		return "rgb(31, 136, 61)", false
	case r <= 50:
		return "rgb(133, 212, 154)", false
	default:
		return "rgb(215, 242, 221)", false
	}
}

func checkGridColours(t *testing.T, ctx context.Context) {
	t.Helper()
	cells := eval[[]cellStyle](t, ctx, `[...document.querySelectorAll("table.grid td")].map(td => {
	  const cs = getComputedStyle(td);
	  return {text: td.textContent, cls: td.className, bg: cs.backgroundColor, img: cs.backgroundImage, color: cs.color};
	})`)
	if len(cells) < 100 {
		t.Fatalf("only %d grid cells", len(cells))
	}
	seen := map[string]int{}
	for _, c := range cells {
		bg, striped := wantColour(c.Text)
		if c.Bg != bg || striped != strings.Contains(c.Img, "repeating-linear-gradient") {
			t.Errorf("cell %q (%s): background %s %s, want %s (striped: %v)", c.Text, c.Class, c.Bg, c.Img, bg, striped)
		}
		if c.Color == c.Bg {
			t.Errorf("cell %q: text colour %s on the same background", c.Text, c.Color)
		}
		seen[bg]++
	}
	if len(seen) != 6 {
		t.Errorf("the grids show %d of the 6 colours: %v", len(seen), seen)
	}
}

type plotGeom struct {
	Ticks []struct {
		Label string  `json:"label"`
		Y     float64 `json:"y"`
	} `json:"ticks"`
	Points []struct {
		Rank int     `json:"rank"`
		Y    float64 `json:"y"`
	} `json:"points"`
	Top    float64 `json:"top"`
	Bottom float64 `json:"bottom"`
}

// plotsJS reads every plot's rank labels and its points (newest of each
// line, alert marks) in screen pixels.
const plotsJS = `[...document.querySelectorAll("svg.plot, svg.spark")].map(svg => {
  const mid = el => { const r = el.getBoundingClientRect(); return r.top + r.height / 2; };
  const b = svg.getBoundingClientRect();
  return {
    ticks: [...svg.querySelectorAll("text.ytick")].map(t => ({label: t.textContent, y: mid(t)})),
    points: [...svg.querySelectorAll("circle.pt, circle.mark")].map(c => ({rank: +c.dataset.rank, y: mid(c)})),
    top: b.top, bottom: b.bottom};
})`

// checkPlots checks that #1 is at the top: rank labels go down the plot in
// order, and points of better ranks are higher; "out" (rank 0) is lowest.
func checkPlots(t *testing.T, ctx context.Context, page string, minPlots int) {
	t.Helper()
	plots := eval[[]plotGeom](t, ctx, plotsJS)
	if len(plots) < minPlots {
		t.Fatalf("%s: %d plots, want %d or more", page, len(plots), minPlots)
	}
	points := 0
	for i, p := range plots {
		for j := 1; j < len(p.Ticks); j++ {
			if p.Ticks[j].Y <= p.Ticks[j-1].Y {
				t.Errorf("%s plot %d: %s drawn at y=%.1f, not below %s at y=%.1f", page, i, p.Ticks[j].Label, p.Ticks[j].Y, p.Ticks[j-1].Label, p.Ticks[j-1].Y)
			}
		}
		if len(p.Ticks) > 0 && (p.Ticks[0].Label != "#1" || p.Ticks[0].Y > p.Top+0.15*(p.Bottom-p.Top)) {
			t.Errorf("%s plot %d: the top label is %s at %.0f%% of the height, want #1 at the top", page, i, p.Ticks[0].Label, 100*(p.Ticks[0].Y-p.Top)/(p.Bottom-p.Top))
		}
		pts := slices.Clone(p.Points)
		for k := range pts {
			if pts[k].Rank == 0 {
				pts[k].Rank = math.MaxInt32 // below the chart
			}
		}
		slices.SortStableFunc(pts, func(a, b struct {
			Rank int     `json:"rank"`
			Y    float64 `json:"y"`
		}) int {
			return a.Rank - b.Rank
		})
		for k := 1; k < len(pts); k++ {
			if pts[k].Rank > pts[k-1].Rank && pts[k].Y < pts[k-1].Y-0.5 {
				t.Errorf("%s plot %d: rank %d drawn above rank %d (y %.1f < %.1f)", page, i, pts[k].Rank, pts[k-1].Rank, pts[k].Y, pts[k-1].Y)
			}
		}
		points += len(pts)
	}
	if points == 0 {
		t.Errorf("%s: no point to check", page)
	}
}

// links lists the page's distinct links.
func links(t *testing.T, ctx context.Context) []string {
	t.Helper()
	hrefs := eval[[]string](t, ctx, `[...new Set([...document.querySelectorAll("a[href]")].map(a => a.getAttribute("href")))]`)
	slices.Sort(hrefs)
	return hrefs
}

// heading is what a page reached by a link must say.
func heading(w *statusWorld, href string) string {
	path, _, _ := strings.Cut(strings.SplitN(href, "#", 2)[0], "?")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case path == "/":
		return "rankpulse"
	case parts[0] == "app":
		return parts[1]
	case parts[0] == "chart" && len(parts) == 5:
		return chart.CountryName(parts[2])
	}
	return "?" + href
}

// checkPage checks what a person must see on each page.
func checkPage(t *testing.T, ctx context.Context, page string, screen int64) {
	t.Helper()
	switch page {
	case "home":
		b := checkVisible(t, ctx, page, "header.top", "#moved h2", "article.card", "article.card svg.spark", "#where h2", "table.grid", "#health h2", "ul.health li")
		// What moved comes first: its heading and first alert are on the
		// first screen.
		if c := b["article.card"]; c.Top > float64(screen) {
			t.Errorf("the first alert starts at y=%.0f, below the first screen (%d px)", c.Top, screen)
		}
		if b["#moved h2"].Top > b["#where h2"].Top || b["#where h2"].Top > b["#health h2"].Top {
			t.Error("the sections are not in reading order: what moved, where, health")
		}
		checkGridColours(t, ctx)
		checkPlots(t, ctx, page, 6)
	case "app-signal-7d", "app-telegram-24h":
		checkVisible(t, ctx, page, "nav.range a[aria-current=page]", "svg.plot", "svg.plot .line path", ".chips a", "#alerts h2")
		checkPlots(t, ctx, page, 4)
	case "chart-us":
		checkVisible(t, ctx, page, "table.list tr.watched", "span.chg.up", "span.chg.new")
	}
}

func TestStatusInBrowser(t *testing.T) {
	ctx := browser(t)
	w := statusFixture(t)
	home := w.srv.URL + "/"
	pages := []struct{ name, path, heading string }{
		{"home", "/", "rankpulse"},
		{"app-signal-7d", "/app/signal?range=7d", "signal"},
		{"app-telegram-24h", "/app/telegram?range=24h", "telegram"},
		{"chart-us", "/chart/appstore/us/top-free/all", "United States"},
	}
	for _, vw := range widths {
		t.Run(vw.name, func(t *testing.T) {
			viewport(t, ctx, vw.width, vw.height, vw.mobile)
			for _, pg := range pages {
				open(t, ctx, w.srv.URL+pg.path, pg.heading)
				screenshot(t, ctx, pg.name+"-"+vw.name)
				checkPage(t, ctx, pg.name, vw.height)
				checkFits(t, ctx, pg.name) // opens every <details> too
			}
		})
	}

	t.Run("links", func(t *testing.T) {
		viewport(t, ctx, 1280, 800, false)
		open(t, ctx, home, "rankpulse")
		hrefs := links(t, ctx)
		if len(hrefs) < 30 {
			t.Fatalf("only %d links on the home page", len(hrefs))
		}
		for _, h := range hrefs {
			path, frag, _ := strings.Cut(h, "#")
			open(t, ctx, w.srv.URL+path, heading(w, h))
			if frag != "" && !eval[bool](t, ctx, `!!document.getElementById(`+strconv.Quote(frag)+`)`) {
				t.Errorf("%s: the page has no #%s", h, frag)
			}
		}
		// A person clicks: the Signal surge's history (the alerts the
		// engine raised on the fake's shuffled genre charts come first
		// or not, as they may), then the range selector, then a country
		// of the plot's legend.
		open(t, ctx, home, "rankpulse")
		card := `//article[contains(@class,"card")][contains(., "rose from #150 to #3")]//*[contains(@class,"where")]//a`
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.Search(card))); err != nil {
			t.Fatal(err)
		}
		loc := eval[string](t, ctx, `location.pathname + location.hash`)
		if loc != "/app/signal#g-appstore-top-free-all" {
			t.Errorf("the Signal surge's history link went to %s", loc)
		}
		if y := eval[float64](t, ctx, `document.getElementById("g-appstore-top-free-all").getBoundingClientRect().top`); y < -1 || y > 100 {
			t.Errorf("the linked plot is at y=%.0f, not scrolled into view", y)
		}
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`nav.range a[href$="range=30d"]`))); err != nil {
			t.Fatal(err)
		}
		if cur := eval[string](t, ctx, `document.querySelector("nav.range a[aria-current=page]").textContent`); cur != "30 days" {
			t.Errorf("after clicking 30 days the selector marks %q", cur)
		}
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`#g-appstore-top-free-all .chips a`))); err != nil {
			t.Fatal(err)
		}
		if h := eval[string](t, ctx, `document.querySelector("h1").textContent`); !strings.Contains(h, "top free · App Store") {
			t.Errorf("the legend's first country opened %q", h)
		}
	})
	if artifactsDir != "" {
		fmt.Fprintf(os.Stderr, "status page screenshots: %s\n", artifactsDir)
	}
}
