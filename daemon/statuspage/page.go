// Package statuspage serves rankpulse's status pages (SPEC §7 `/`): what
// moved (the latest alerts with a sparkline each), where the watched apps
// stand (a country × app grid per chart), a page per watched app (its rank
// in every country over 24 hours, 7 days or 30 days) and per chart (the
// current top with each app's change in 24 hours), and the scrape health.
//
// The pages are plain server-rendered HTML: no script, nothing loaded from
// elsewhere, every plot inline SVG. They are drawn from summaries kept in
// memory, not from a scan of the history: the daemon hands [Page.Snapshot]
// every snapshot it stores and [Page.Alerts] every alert it raises, and at
// start the summaries are rebuilt from the embedded store in the background
// while the page says so. A summary keeps, per chart and tier (24 hours in
// 5-minute buckets, 7 days in hours, 30 days in 4-hour buckets), one byte
// per watched app, so its size is fixed by the charts and the watch list.
// The home page is rendered at most once a second and only when something
// changed, and served from those bytes; per-app and per-chart pages are
// cached the same way and at most a few render at once.
package statuspage

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/storage"
)

// Job is one job's state as the header shows it.
type Job struct {
	Name, Schedule string
	// Next is the job's next run (zero when the schedule is not running).
	Next time.Time
	// Last is the job's last sweep since the start (nil: none yet).
	Last *Sweep
	// Sweeping: a sweep of the job is under way (the catch-up at start,
	// say).
	Sweeping bool
}

// Sweep is what one sweep did.
type Sweep struct {
	Slot                                 time.Time
	Duration                             time.Duration
	Charts, Complete, Incomplete, Failed int
	StoreErrs, Alerts                    int
	Errors                               []string
}

// Info is what the page asks the daemon at each render.
type Info interface {
	Jobs() []Job
	Ready(ctx context.Context) (ready bool, problems []string)
}

// Options are the page's settings beyond the config.
type Options struct {
	Version string
	Started time.Time
	Logger  *slog.Logger
	// RenderSlots bounds the per-app and per-chart pages rendered at once
	// (default 2).
	RenderSlots int
}

// Page serves the status pages. Its methods are safe for concurrent use.
type Page struct {
	cfg     *config.Config
	db      *storage.DB
	info    Info
	log     *slog.Logger
	version string
	started time.Time
	now     func() time.Time
	m       *model

	startOnce sync.Once
	stopOnce  sync.Once
	cancel    context.CancelFunc
	done      chan struct{}
	pmu       sync.Mutex
	progress  progress

	home   renderCache
	sem    chan struct{}
	apps   pageCache
	charts pageCache
}

// New returns a page over db; Start rebuilds its summaries.
func New(cfg *config.Config, db *storage.DB, info Info, opts Options) *Page {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.RenderSlots <= 0 {
		opts.RenderSlots = 2
	}
	if opts.Version == "" {
		opts.Version = "(development build)"
	}
	if opts.Started.IsZero() {
		opts.Started = time.Now()
	}
	return &Page{
		cfg: cfg, db: db, info: info, log: log.With("component", "status page"),
		version: opts.Version, started: opts.Started, now: time.Now,
		m:      newModel(cfg.Watch),
		done:   make(chan struct{}),
		sem:    make(chan struct{}, opts.RenderSlots),
		apps:   pageCache{max: 6 * max(len(cfg.Watch), 1), entries: map[string]*rendered{}},
		charts: pageCache{max: 64, entries: map[string]*rendered{}},
	}
}

// Snapshot records a snapshot the daemon stored. It never waits for the
// rebuild. A nil Page ignores it.
func (p *Page) Snapshot(s *chart.Snapshot) {
	if p == nil {
		return
	}
	if o, ok := p.m.observe(s); ok {
		p.m.apply(o)
	}
}

// Alerts records alerts the daemon raised. A nil Page ignores them.
func (p *Page) Alerts(as []chart.Alert) {
	if p == nil {
		return
	}
	p.m.addAlerts(as)
}

// Register adds the pages to mux.
func (p *Page) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", p.serveHome)
	mux.HandleFunc("GET /app/{name}", p.serveApp)
	mux.HandleFunc("GET /chart/{store}/{country}/{chart}/{category}", p.serveChart)
}

// rendered is a page's bytes, gzipped, and plain unless dropped to save
// memory (then a client that takes no gzip gets them unzipped).
type rendered struct {
	body, gz []byte
	key      string
	built    time.Time
	status   int
}

// A page is rendered again when what it shows changed (key), but at most
// once per minAge (the home page) or pageMinAge (per-app and per-chart
// pages, which show hours and days), and at least every maxAge (its
// "3 min ago" texts age).
const (
	minAge     = time.Second
	pageMinAge = 5 * time.Second
	maxAge     = 30 * time.Second
)

func (r *rendered) fresh(key string, now time.Time, min time.Duration) bool {
	age := now.Sub(r.built)
	return age < min || (r.key == key && age < maxAge)
}

func newRendered(body []byte, key string, built time.Time, status int) *rendered {
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(body)
	zw.Close()
	return &rendered{body: body, gz: gz.Bytes(), key: key, built: built, status: status}
}

// plain returns the page unzipped.
func (r *rendered) plain() []byte {
	if r.body != nil {
		return r.body
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.gz))
	if err != nil {
		return nil
	}
	b, _ := io.ReadAll(zr)
	return b
}

// renderCache holds one page: one render at a time, everyone else gets the
// last bytes meanwhile (or waits for the first).
type renderCache struct {
	mu  sync.Mutex
	cur atomic.Pointer[rendered]
}

func (c *renderCache) get(key string, now time.Time, render func() *rendered) *rendered {
	r := c.cur.Load()
	if r != nil && r.fresh(key, now, minAge) {
		return r
	}
	if r != nil && !c.mu.TryLock() {
		return r // being rendered: serve the previous bytes
	}
	if r == nil {
		c.mu.Lock()
	}
	defer c.mu.Unlock()
	if r := c.cur.Load(); r != nil && r.fresh(key, now, minAge) {
		return r
	}
	r = render()
	c.cur.Store(r)
	return r
}

// pageCache holds up to max rendered pages (per app and range, per chart),
// gzipped only; the oldest goes first.
type pageCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*rendered
}

func (c *pageCache) lookup(id, key string, now time.Time) *rendered {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.entries[id]; ok && r.fresh(key, now, pageMinAge) {
		return r
	}
	return nil
}

func (c *pageCache) store(id string, r *rendered) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[id]; !ok && len(c.entries) >= c.max {
		oldest := ""
		for k, e := range c.entries {
			if oldest == "" || e.built.Before(c.entries[oldest].built) {
				oldest = k
			}
		}
		delete(c.entries, oldest)
	}
	r.body = nil
	c.entries[id] = r
}

// renderSlot waits for one of the page's render slots.
func (p *Page) renderSlot(ctx context.Context) (release func(), ok bool) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case p.sem <- struct{}{}:
		return func() { <-p.sem }, true
	case <-ctx.Done():
		return nil, false
	}
}

// cached serves a per-app or per-chart page from c, rendering it in a
// render slot when needed.
func (p *Page) cached(w http.ResponseWriter, r *http.Request, c *pageCache, id, key string, render func(now time.Time) *rendered) {
	now := p.now()
	if hit := c.lookup(id, key, now); hit != nil {
		serve(w, r, hit)
		return
	}
	release, ok := p.renderSlot(r.Context())
	if !ok {
		w.Header().Set("Retry-After", "2")
		http.Error(w, "the status page is busy rendering other pages; try again in a moment", http.StatusServiceUnavailable)
		return
	}
	defer release()
	if hit := c.lookup(id, key, now); hit != nil { // rendered while we waited
		serve(w, r, hit)
		return
	}
	out := render(now)
	serve(w, r, out)
	if out.status == http.StatusOK {
		c.store(id, out)
	}
}

// csp allows nothing but the page's own inline styles.
const csp = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func serve(w http.ResponseWriter, r *http.Request, out *rendered) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", csp)
	h.Set("Vary", "Accept-Encoding")
	var body []byte
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = out.gz
	} else {
		body = out.plain()
	}
	w.WriteHeader(out.status)
	w.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// RenderApp renders a per-app page as of now, bypassing the cache (for
// benchmarks and tests). rng is 24h, 7d or 30d.
func (p *Page) RenderApp(watch, rng string, all bool, now time.Time) []byte {
	for i, w := range p.cfg.Watch {
		for ri, r := range ranges {
			if w.Name == watch && r.name == rng {
				var buf bytes.Buffer
				templates.ExecuteTemplate(&buf, "app", p.appView(p.cfg.Watch[i], ri, all, now))
				return buf.Bytes()
			}
		}
	}
	return nil
}

// RenderChart renders a per-chart page now, bypassing the cache (for
// benchmarks).
func (p *Page) RenderChart(ctx context.Context, k chart.Key) []byte {
	v, _ := p.chartView(ctx, k, p.now())
	var buf bytes.Buffer
	templates.ExecuteTemplate(&buf, "chart", v)
	return buf.Bytes()
}

// SummaryBytes estimates what the summaries hold: the bound of the
// package doc, for the charts seen so far.
func (p *Page) SummaryBytes() int {
	p.m.mu.RLock()
	defer p.m.mu.RUnlock()
	n := 0
	for _, c := range p.m.charts {
		n += bytesPerChart(c.apps)
	}
	for i := range p.m.alerts.list {
		n += 512 + len(p.m.alerts.list[i].Summary)
	}
	return n
}
