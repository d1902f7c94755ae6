// Package googleplay scrapes Google Play top charts per country and
// category through the Play web app's internal batchexecute call (rpc id
// vyAe2), the only source of Play charts since 2022.
//
// Google has changed that answer's format in 2019, 2022 and 2023, and
// answers too many requests with 429s, captcha pages and consent redirects.
// Both are made loud and harmless here:
//
//   - A response whose shape no longer matches is a format-drift error that
//     names the path where reading stopped. The snapshot is incomplete (never
//     "every app left the chart"), rankpulse_format_drift_total counts it, and
//     the sweep logs it once, at error level.
//   - A block (consent redirect, captcha page, 429, 503 that outlasts the
//     retries) stops the store's sweep: the remaining charts are recorded
//     incomplete with the reason, and the store is left alone for
//     blocked_backoff, doubling while blocks continue.
package googleplay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/metrics"
	"github.com/rankpulse/rankpulse/scrapers"
)

// Source is the snapshot source name for Play charts.
const Source = "play"

// ChartCap is the deepest chart Google serves (500 until 2023-02-24, 200
// since): a chart shorter than min(depth, 200) is incomplete.
const ChartCap = 200

// maxBackoff bounds the backoff after repeated blocks.
const maxBackoff = 24 * time.Hour

// Config configures the scraper.
type Config struct {
	PlayURL  string // https://play.google.com
	Language string // hl
	// BlockedBackoff is how long the store is left alone after a block;
	// doubled for each block in a row.
	BlockedBackoff time.Duration
	Fetch          scrapers.FetchConfig
}

// Scraper fetches Play charts. Make one per process: it holds the store's
// pacer and its backoff state.
type Scraper struct {
	base, lang string
	backoff    time.Duration
	fetch      *scrapers.Fetcher
	log        *slog.Logger
	m          *metrics.Metrics

	mu           sync.Mutex
	blockedUntil time.Time
	blockReason  string
	streak       int
}

var _ scrapers.Scraper = (*Scraper)(nil)

// New returns a Scraper.
func New(cfg Config, log *slog.Logger, m *metrics.Metrics) *Scraper {
	if log == nil {
		log = slog.Default()
	}
	if cfg.Language == "" {
		cfg.Language = "en"
	}
	if cfg.BlockedBackoff <= 0 {
		cfg.BlockedBackoff = 30 * time.Minute
	}
	s := &Scraper{
		base: strings.TrimRight(cfg.PlayURL, "/"), lang: cfg.Language, backoff: cfg.BlockedBackoff,
		log: log.With("store", chart.GooglePlay), m: metrics.OrNew(m),
	}
	cfg.Fetch.Store = chart.GooglePlay
	cfg.Fetch.Classify = classify
	s.fetch = scrapers.NewFetcher(cfg.Fetch, s.log, s.m)
	return s
}

// Store returns chart.GooglePlay.
func (s *Scraper) Store() string { return chart.GooglePlay }

// BlockedUntil returns when the store may be asked again after a block
// (zero when it is not blocked) and why.
func (s *Scraper) BlockedUntil() (time.Time, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blockedUntil, s.blockReason
}

// classify turns the answers that mean "you are blocked" into BlockedError,
// before the generic retry rules see them.
func classify(resp *scrapers.Response) error {
	switch {
	case resp.Status >= 300 && resp.Status < 400:
		loc := resp.Header.Get("Location")
		if u, err := url.Parse(loc); err == nil && (strings.HasPrefix(u.Host, "consent.") || strings.Contains(u.Path, "/sorry/")) {
			return &scrapers.BlockedError{URL: resp.URL, Reason: fmt.Sprintf("HTTP %d redirect to %s://%s%s", resp.Status, u.Scheme, u.Host, u.Path)}
		}
	case resp.Status == http.StatusTooManyRequests:
		return &scrapers.BlockedError{URL: resp.URL, Reason: "HTTP 429 Too Many Requests",
			RetryAfter: scrapers.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	case scrapers.IsHTML(resp.Header.Get("Content-Type"), resp.Body) && isCaptcha(resp.Body):
		return &scrapers.BlockedError{URL: resp.URL, Reason: fmt.Sprintf("a captcha page (HTTP %d, %s)", resp.Status, scrapers.Snippet(resp.Body))}
	}
	return nil
}

var captchaMarks = [][]byte{[]byte("unusual traffic"), []byte("recaptcha"), []byte("/sorry/index"), []byte("captcha-form")}

func isCaptcha(body []byte) bool {
	b := bytes.ToLower(body[:min(len(body), 64<<10)])
	for _, m := range captchaMarks {
		if bytes.Contains(b, m) {
			return true
		}
	}
	return false
}

// sweep is the state of one sweep.
type sweep struct {
	s    *Scraper
	sess *scrapers.Session
	slot time.Time

	mu      sync.Mutex
	blocked *scrapers.BlockedError
	skipped int
	drift   int
	first   error // first drift error
	ok      int
}

// Sweep fetches every requested chart; see scrapers.Scraper.
func (s *Scraper) Sweep(ctx context.Context, slot time.Time, reqs []scrapers.Request, emit func(chart.Snapshot)) {
	if until, reason := s.BlockedUntil(); time.Now().Before(until) {
		msg := fmt.Sprintf("not fetched: backing off until %s after Google Play blocked us (%s)", until.UTC().Format(time.RFC3339), reason)
		for _, r := range reqs {
			snap := scrapers.NewSnapshot(slot, r)
			snap.Source, snap.Error = Source, msg
			emit(snap)
		}
		s.log.Warn("google play sweep skipped: backing off after a block", "until", until, "reason", reason, "charts", len(reqs))
		return
	}
	sw := &sweep{s: s, sess: s.fetch.Session(ctx), slot: slot}
	defer sw.sess.Close()
	scrapers.RunSweep(ctx, s.m, reqs, s.fetch.Concurrency(), sw.chart, func(r scrapers.Request) chart.Snapshot {
		return scrapers.NotFetched(slot, r, Source)
	}, emit)
	sw.finish()
}

func (sw *sweep) finish() {
	s := sw.s
	if sw.drift > 0 {
		attrs := []any{"charts", sw.drift, "metric", "rankpulse_format_drift_total", "first", sw.first}
		var pe *scrapers.PathError
		if errors.As(sw.first, &pe) {
			attrs = append(attrs, "path", pe.Path)
		}
		s.log.Error("google play answers no longer match the expected format: those charts are recorded incomplete; the parser needs updating", attrs...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sw.blocked == nil {
		if sw.ok > 0 {
			s.streak = 0
		}
		return
	}
	s.streak++
	d := min(s.backoff<<min(s.streak-1, 10), maxBackoff)
	if ra := sw.blocked.RetryAfter; ra > d {
		d = ra
	}
	s.blockedUntil = time.Now().Add(d)
	s.blockReason = sw.blocked.Reason
	s.m.Blocked.WithLabelValues(chart.GooglePlay, blockKind(sw.blocked.Reason)).Inc()
	s.log.Error("google play blocked this sweep: the remaining charts were skipped and the store is left alone",
		"reason", sw.blocked.Reason, "url", sw.blocked.URL, "skipped", sw.skipped, "backoff", d, "until", s.blockedUntil, "blocks_in_a_row", s.streak)
}

func blockKind(reason string) string {
	switch {
	case strings.Contains(reason, "429"):
		return "429"
	case strings.Contains(reason, "503"):
		return "503"
	case strings.Contains(reason, "redirect"):
		return "consent"
	case strings.Contains(reason, "captcha"):
		return "captcha"
	}
	return "other"
}

func (sw *sweep) chart(ctx context.Context, r scrapers.Request) (snap chart.Snapshot, ok bool) {
	start := time.Now()
	snap = scrapers.NewSnapshot(sw.slot, r)
	snap.Source = Source
	sw.mu.Lock()
	blocked := sw.blocked
	if blocked != nil {
		sw.skipped++
	}
	sw.mu.Unlock()
	if blocked != nil {
		snap.Error = "not fetched: Google Play blocked this sweep (" + blocked.Reason + ")"
		return snap, true
	}
	num := min(r.Depth, ChartCap)
	resp, err := sw.sess.Do(ctx, scrapers.HTTPRequest{
		Method: http.MethodPost,
		URL:    RequestURL(sw.s.base, sw.s.lang, r.Country),
		Body:   RequestBody(num, Collections[r.Chart], Category(r.Category)),
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded;charset=UTF-8"}},
	})
	defer func() { snap.DurationMS = time.Since(start).Milliseconds() }()
	if err != nil {
		if errors.Is(err, scrapers.ErrStopped) {
			return snap, false
		}
		var be *scrapers.BlockedError
		var he *scrapers.HTTPError
		switch {
		case errors.As(err, &be):
		case errors.As(err, &he) && he.Status == http.StatusServiceUnavailable:
			// 503s that outlast the retries are Google throttling us.
			be = &scrapers.BlockedError{URL: he.URL, Reason: fmt.Sprintf("HTTP 503 after %d attempts", he.Attempts), RetryAfter: he.RetryAfter}
			err = fmt.Errorf("%w: %w", be, err)
		}
		if be != nil {
			sw.mu.Lock()
			if sw.blocked == nil {
				sw.blocked = be
			}
			sw.mu.Unlock()
		}
		if errors.Is(err, scrapers.ErrBodyTooLarge) {
			sw.s.log.Warn("google play answer over the size limit: chart recorded incomplete", "chart", r.Key.String(), "error", err)
		}
		snap.Error = err.Error()
		return snap, true
	}
	apps, err := parseResponse(resp)
	switch {
	case errors.Is(err, ErrNoChart):
		// Unambiguous: Google has no such chart. Complete and empty.
		snap.Complete, snap.Depth = true, num
		return snap, true
	case err != nil:
		var fe *scrapers.FormatError
		if errors.As(err, &fe) && !errors.Is(err, ErrTruncated) && !errors.Is(err, errGateway) {
			sw.s.m.FormatDrift.WithLabelValues(chart.GooglePlay, Source).Inc()
			sw.mu.Lock()
			sw.drift++
			if sw.first == nil {
				sw.first = err
			}
			sw.mu.Unlock()
		}
		sw.s.log.Debug("chart unreadable", "chart", r.Key.String(), "error", err)
		snap.Error = err.Error()
		return snap, true
	}
	scrapers.Finish(&snap, Entries(apps), r.Depth, ChartCap)
	sw.mu.Lock()
	sw.ok++
	sw.mu.Unlock()
	return snap, true
}

// errGateway marks Google's own error answer: a failure, not a format change.
var errGateway = errors.New("Google Play gateway error")

// parseResponse reads a chart out of a batchexecute answer.
func parseResponse(resp *scrapers.Response) ([]App, error) {
	wrap := func(err error) error {
		// The body's start helps when something else came instead.
		return scrapers.NewFormatError(resp, err, !bytes.HasPrefix(bytes.TrimSpace(resp.Body), []byte(xssiPrefix)))
	}
	if len(resp.Body) == 0 {
		return nil, wrap(fmt.Errorf("empty body: %w", ErrTruncated))
	}
	if bytes.Contains(resp.Body, []byte("PlayGatewayError")) {
		return nil, wrap(fmt.Errorf("%w in a %d-byte answer", errGateway, len(resp.Body)))
	}
	if scrapers.IsHTML(resp.Header.Get("Content-Type"), resp.Body) {
		return nil, wrap(fmt.Errorf("HTML page instead of a batchexecute answer (HTTP %d)", resp.Status))
	}
	frames, err := ParseFrames(resp.Body)
	if err != nil {
		return nil, wrap(err)
	}
	payload, err := FindPayload(frames, RPC, len(resp.Body))
	if err != nil {
		return nil, wrap(err)
	}
	apps, err := ParsePayload(payload)
	if err != nil {
		if errors.Is(err, ErrNoChart) {
			return nil, err
		}
		return nil, wrap(err)
	}
	if len(apps) == 0 {
		return nil, wrap(scrapers.PathErr("payload[0][1][0][28][0]", "an empty app list where a chart or null was expected"))
	}
	return apps, nil
}
