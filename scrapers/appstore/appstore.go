// Package appstore scrapes Apple App Store top charts: top free, paid and
// grossing, overall (genre 36) or per genre, in any of Apple's 175
// storefronts.
//
// Three sources are tried in a configurable order, each usable alone:
//
//   - charts: ws/charts returns the ranked app ids (up to 200; ids past the
//     depth asked for are not read); names and developers come from the
//     lookup endpoint, at most 200 ids a request, cached per country for the
//     sweep. A lookup is retried, a truncated or undecodable answer too; an
//     app it leaves unnamed gets the name already recorded for it
//     (Config.Names), and one never seen keeps an empty name. Ranks never
//     wait for names: the chart is complete either way.
//   - rss: the legacy iTunes RSS feed, with names; it serves genres but
//     stops at 100 entries today.
//   - marketing: the marketing-tools RSS v2 feed; overall top free and top
//     paid only, up to 100 entries.
//
// A 403, a 404, a response of the wrong shape or a short chart moves on to
// the next source; the snapshot records the source used.
package appstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/metrics"
	"github.com/rankpulse/rankpulse/scrapers"
)

// Source names.
const (
	SourceCharts    = "charts"
	SourceRSS       = "rss"
	SourceMarketing = "marketing"
)

// How deep each source goes. A chart shorter than the depth asked for is
// complete only when the source stops there:
//   - ws/charts serves up to 200 ids (the limit clients have found; more is
//     ignored);
//   - the legacy RSS feed accepts limit=200 but returns at most 100 entries
//     since 2024 (app-store-scraper #206);
//   - the marketing feed answers 500 above 100.
const (
	chartsCap    = 200
	rssCap       = 100
	marketingCap = 100
	// lookupBatch is the most ids sent in one lookup request.
	lookupBatch = 200
)

// AllGenre is Apple's genre id for the overall chart.
const AllGenre = "36"

// Config configures the scraper.
type Config struct {
	ITunesURL    string   // https://itunes.apple.com
	MarketingURL string   // https://rss.applemarketingtools.com
	Sources      []string // in order of preference
	Fetch        scrapers.FetchConfig
	// Names, when set, gives the names already recorded for apps whose
	// lookup failed (the embedded store keeps every app it has seen).
	Names NameSource
}

// NameSource gives the name last recorded for each app of a store that it
// knows; ids it does not know are left out of the map.
type NameSource interface {
	KnownNames(ctx context.Context, store string, ids []string) (map[string]string, error)
}

// Scraper fetches App Store charts. Make one per process: its pacer is the
// store's rate limit.
type Scraper struct {
	itunes, marketing string
	sources           []source
	names             NameSource
	fetch             *scrapers.Fetcher
	log               *slog.Logger
	m                 *metrics.Metrics
}

var _ scrapers.Scraper = (*Scraper)(nil)

// New returns a Scraper.
func New(cfg Config, log *slog.Logger, m *metrics.Metrics) (*Scraper, error) {
	if log == nil {
		log = slog.Default()
	}
	m = metrics.OrNew(m)
	cfg.Fetch.Store = chart.AppStore
	s := &Scraper{
		itunes:    strings.TrimRight(cfg.ITunesURL, "/"),
		marketing: strings.TrimRight(cfg.MarketingURL, "/"),
		names:     cfg.Names,
		log:       log.With("store", chart.AppStore),
		m:         m,
	}
	s.fetch = scrapers.NewFetcher(cfg.Fetch, s.log, m)
	if len(cfg.Sources) == 0 {
		cfg.Sources = []string{SourceCharts, SourceRSS, SourceMarketing}
	}
	for _, name := range cfg.Sources {
		src, ok := sources[name]
		if !ok {
			return nil, fmt.Errorf("appstore: unknown source %q (want charts, rss or marketing)", name)
		}
		s.sources = append(s.sources, src)
	}
	return s, nil
}

// Store returns chart.AppStore.
func (s *Scraper) Store() string { return chart.AppStore }

// sweep is the state of one sweep: its collector and its lookup cache.
type sweep struct {
	s       *Scraper
	sess    *scrapers.Session
	lookups *lookupCache
}

// Sweep fetches every requested chart; see scrapers.Scraper.
func (s *Scraper) Sweep(ctx context.Context, slot time.Time, reqs []scrapers.Request, emit func(chart.Snapshot)) {
	sw := &sweep{s: s, sess: s.fetch.Session(ctx), lookups: newLookupCache(reqs)}
	defer sw.sess.Close()
	scrapers.RunSweep(ctx, s.m, reqs, s.fetch.Concurrency(), func(ctx context.Context, r scrapers.Request) (chart.Snapshot, bool) {
		defer sw.lookups.done(r.Country)
		return sw.chart(ctx, slot, r)
	}, func(r scrapers.Request) chart.Snapshot {
		return scrapers.NotFetched(slot, r, s.firstSource(r))
	}, emit)
}

// firstSource names the source a request would have been read from first.
func (s *Scraper) firstSource(r scrapers.Request) string {
	for _, src := range s.sources {
		if src.serves(r) {
			return src.name()
		}
	}
	return s.sources[0].name()
}

// chart fetches one chart, falling back through the sources. It returns
// false when the sweep stopped before any request for it was sent.
func (sw *sweep) chart(ctx context.Context, slot time.Time, r scrapers.Request) (chart.Snapshot, bool) {
	start := time.Now()
	snap := scrapers.NewSnapshot(slot, r)
	var problems []string
	var best *chart.Snapshot
	tried := 0
	for _, src := range sw.s.sources {
		if !src.serves(r) {
			continue
		}
		tried++
		entries, err := src.fetch(ctx, sw, r)
		if errors.Is(err, scrapers.ErrStopped) {
			if tried == 1 {
				return snap, false
			}
			problems = append(problems, fmt.Sprintf("%s: %v", src.name(), err))
			break
		}
		cand := snap
		cand.Source = src.name()
		if err != nil {
			var fe *scrapers.FormatError
			if errors.As(err, &fe) && !errors.Is(err, ErrEmpty) {
				sw.s.m.FormatDrift.WithLabelValues(chart.AppStore, src.name()).Inc()
			}
			if errors.Is(err, scrapers.ErrBodyTooLarge) {
				sw.s.log.Warn("app store answer over the size limit: that source is skipped for this chart", "source", src.name(), "chart", r.Key.String(), "error", err)
			} else {
				sw.s.log.Debug("source failed", "source", src.name(), "chart", r.Key.String(), "error", err)
			}
			problems = append(problems, fmt.Sprintf("%s: %v", src.name(), err))
			if best == nil || len(best.Entries) == 0 {
				best = &cand // a failure reports the last source tried
			}
			continue
		}
		scrapers.Finish(&cand, entries, r.Depth, src.cap())
		if cand.Complete {
			best = &cand
			problems = nil
			break
		}
		problems = append(problems, fmt.Sprintf("%s: %s", src.name(), cand.Error))
		if best == nil || len(cand.Entries) > len(best.Entries) {
			best = &cand
		}
	}
	if best == nil { // no configured source serves this chart
		best = &snap
		best.Source = sw.s.sources[0].name()
		problems = append(problems, fmt.Sprintf("no configured source serves %s category %s (marketing has only the overall top free and top paid charts)", r.Chart, r.Category))
	}
	if len(problems) > 0 {
		best.Complete = false
		best.Error = strings.Join(problems, "; ")
	}
	best.DurationMS = time.Since(start).Milliseconds()
	return *best, true
}

// get fetches url and checks that a JSON body came back.
func (sw *sweep) get(ctx context.Context, rawURL string, retryOn ...int) (*scrapers.Response, error) {
	resp, err := sw.sess.Do(ctx, scrapers.HTTPRequest{URL: rawURL, Header: http.Header{"Accept": {"application/json"}}, RetryOn: retryOn})
	if err != nil {
		return nil, err
	}
	if err := scrapers.CheckJSON(resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// formatError wraps a parse error with the URL and the start of the body.
func formatError(resp *scrapers.Response, err error) error {
	return scrapers.NewFormatError(resp, err, true)
}

// source is one way of reading a chart.
type source interface {
	name() string
	cap() int
	serves(r scrapers.Request) bool
	fetch(ctx context.Context, sw *sweep, r scrapers.Request) ([]chart.Entry, error)
}

var sources = map[string]source{
	SourceCharts:    chartsSource{},
	SourceRSS:       rssSource{},
	SourceMarketing: marketingSource{},
}

func genre(category string) string {
	if category == chart.All {
		return AllGenre
	}
	return category
}

// chartsSource reads ws/charts, then names through lookup.
type chartsSource struct{}

func (chartsSource) name() string                   { return SourceCharts }
func (chartsSource) cap() int                       { return chartsCap }
func (chartsSource) serves(r scrapers.Request) bool { return true }

var chartsNames = map[string]string{
	chart.TopFree:     "FreeApplications",
	chart.TopPaid:     "PaidApplications",
	chart.TopGrossing: "AppsByRevenue",
}

// ChartsURL returns the ws/charts URL of a chart.
func ChartsURL(base string, r scrapers.Request) string {
	q := url.Values{}
	q.Set("cc", r.Country)
	q.Set("g", genre(r.Category))
	q.Set("name", chartsNames[r.Chart])
	q.Set("limit", strconv.Itoa(min(r.Depth, chartsCap)))
	return base + "/WebObjects/MZStoreServices.woa/ws/charts?" + q.Encode()
}

func (chartsSource) fetch(ctx context.Context, sw *sweep, r scrapers.Request) ([]chart.Entry, error) {
	resp, err := sw.get(ctx, ChartsURL(sw.s.itunes, r))
	if err != nil {
		return nil, err
	}
	// Ids past the depth asked for are not read, let alone looked up.
	ids, err := ParseCharts(resp.Body, min(r.Depth, chartsCap))
	if err != nil {
		return nil, formatError(resp, err)
	}
	apps := sw.lookups.names(ctx, sw, r, ids)
	entries := make([]chart.Entry, len(ids))
	for i, id := range ids {
		a := apps[id]
		entries[i] = chart.Entry{Rank: i + 1, AppID: id, Name: a.Name, Developer: a.Developer}
	}
	return entries, nil
}

// rssSource reads the legacy iTunes RSS feed.
type rssSource struct{}

func (rssSource) name() string                   { return SourceRSS }
func (rssSource) cap() int                       { return rssCap }
func (rssSource) serves(r scrapers.Request) bool { return true }

var rssFeeds = map[string]string{
	chart.TopFree:     "topfreeapplications",
	chart.TopPaid:     "toppaidapplications",
	chart.TopGrossing: "topgrossingapplications",
}

// RSSURL returns the legacy feed URL of a chart.
func RSSURL(base string, r scrapers.Request) string {
	u := fmt.Sprintf("%s/%s/rss/%s/limit=%d", base, r.Country, rssFeeds[r.Chart], min(r.Depth, chartsCap))
	if r.Category != chart.All {
		u += "/genre=" + r.Category
	}
	return u + "/json"
}

func (rssSource) fetch(ctx context.Context, sw *sweep, r scrapers.Request) ([]chart.Entry, error) {
	resp, err := sw.get(ctx, RSSURL(sw.s.itunes, r))
	if err != nil {
		return nil, err
	}
	entries, err := ParseRSS(resp.Body)
	if err != nil {
		return nil, formatError(resp, err)
	}
	sw.lookups.remember(r.Country, entries)
	return entries, nil
}

// marketingSource reads the marketing-tools RSS v2 feed.
type marketingSource struct{}

func (marketingSource) name() string { return SourceMarketing }
func (marketingSource) cap() int     { return marketingCap }
func (marketingSource) serves(r scrapers.Request) bool {
	return r.Category == chart.All && (r.Chart == chart.TopFree || r.Chart == chart.TopPaid)
}

// MarketingURL returns the marketing feed URL of a chart.
func MarketingURL(base string, r scrapers.Request) string {
	return fmt.Sprintf("%s/api/v2/%s/apps/%s/%d/apps.json", base, r.Country, r.Chart, min(r.Depth, marketingCap))
}

func (marketingSource) fetch(ctx context.Context, sw *sweep, r scrapers.Request) ([]chart.Entry, error) {
	resp, err := sw.get(ctx, MarketingURL(sw.s.marketing, r))
	if err != nil {
		return nil, err
	}
	entries, err := ParseMarketing(resp.Body)
	if err != nil {
		return nil, formatError(resp, err)
	}
	sw.lookups.remember(r.Country, entries)
	return entries, nil
}
