package scrapers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gocolly/colly/v2"

	"github.com/rankpulse/rankpulse/metrics"
)

// FetchConfig configures a store's Fetcher.
type FetchConfig struct {
	Store       string
	Rate        float64       // requests per second, all hosts together
	Concurrency int           // requests in flight at once
	Timeout     time.Duration // one request, headers and body
	Retries     int           // retries on 429, 5xx and network errors
	UserAgent   string

	// BackoffBase and BackoffMax shape the exponential backoff between
	// retries (defaults 1s and 60s); each delay is jittered in [d/2, d).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxRetryAfter is the longest Retry-After honoured within one sweep
	// (default 5m); a longer one fails the request.
	MaxRetryAfter time.Duration

	// Classify, when set, sees every response before the generic rules and
	// may turn it into a terminal error (e.g. a captcha page into a
	// BlockedError). Returning nil leaves the generic rules in charge.
	Classify func(*Response) error

	// MaxBodyBytes bounds one answer (default DefaultMaxBodyBytes). A larger
	// one fails its request, unretried, with a BodyTooLargeError naming
	// MaxBodyKey, the config key that raises it.
	MaxBodyBytes int64
	MaxBodyKey   string

	// StopGrace is how long requests in flight may go on once the sweep's
	// context is cancelled (default 3s); then they are cancelled too, so
	// that a shutdown never waits for a slow or hostile store.
	StopGrace time.Duration

	// Transport replaces the HTTP transport (tests, proxies).
	Transport http.RoundTripper
}

// Fetcher is a store's HTTP client: one pacer and one concurrency limit for
// all its hosts and all sweeps, retries with exponential backoff and jitter
// on 429, 5xx and network errors, honouring Retry-After, and a size limit on
// every answer. It is safe for concurrent use; make one per store and a
// Session per sweep.
type Fetcher struct {
	cfg       FetchConfig
	pacer     *Pacer
	slots     chan struct{}
	transport http.RoundTripper
	log       *slog.Logger
	m         *metrics.Metrics
}

// NewFetcher returns a Fetcher; defaults fill the zero fields of cfg.
func NewFetcher(cfg FetchConfig, log *slog.Logger, m *metrics.Metrics) *Fetcher {
	if cfg.Rate <= 0 {
		cfg.Rate = 1
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 20 * time.Second
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = time.Minute
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = 5 * time.Minute
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "rankpulse"
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxBodyKey == "" {
		cfg.MaxBodyKey = "max_body_bytes"
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 3 * time.Second
	}
	var tr http.RoundTripper = cfg.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = cfg.Concurrency
		tr = t
	}
	tr = &limitTransport{next: tr, limit: cfg.MaxBodyBytes, key: cfg.MaxBodyKey}
	if log == nil {
		log = slog.Default()
	}
	return &Fetcher{
		cfg:       cfg,
		pacer:     NewPacer(cfg.Rate),
		slots:     make(chan struct{}, cfg.Concurrency),
		transport: tr,
		log:       log,
		m:         metrics.OrNew(m),
	}
}

// Pacer returns the fetcher's pacer.
func (f *Fetcher) Pacer() *Pacer { return f.pacer }

// Concurrency returns the number of requests allowed in flight.
func (f *Fetcher) Concurrency() int { return f.cfg.Concurrency }

// HTTPRequest is one request to send.
type HTTPRequest struct {
	Method string // default GET
	URL    string
	Body   []byte
	Header http.Header
	// RetryOn lists statuses retried besides 429 and 5xx (Apple's lookup
	// signals throttling with a bare 403).
	RetryOn []int
	// Decode, when set, reads a 2xx answer. Its error (a truncated or
	// undecodable body) is retried like a 5xx and returned after the last
	// attempt.
	Decode func(*Response) error
}

// Response is a store's answer.
type Response struct {
	URL      string
	Status   int
	Header   http.Header
	Body     []byte
	Attempts int
}

// Session is one sweep's colly collector. When the sweep's context is
// cancelled, requests in flight get StopGrace to finish (so that a chart
// half read is not thrown away for nothing) and are then cancelled. Close
// it when the sweep is done.
type Session struct {
	f      *Fetcher
	c      *colly.Collector
	rctx   context.Context // the requests': cancelled StopGrace after the sweep's
	cancel context.CancelFunc

	stopWatch func() bool
	closed    chan struct{}
	watched   chan struct{} // closed when the watcher has run
	closeOnce sync.Once
}

const respKey = "rankpulse.response"

// Session returns a new colly collector for one sweep.
func (f *Fetcher) Session(ctx context.Context) *Session {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Session{f: f, rctx: rctx, cancel: cancel, closed: make(chan struct{}), watched: make(chan struct{})}
	s.stopWatch = context.AfterFunc(ctx, func() {
		defer close(s.watched)
		t := time.NewTimer(f.cfg.StopGrace)
		defer t.Stop()
		select {
		case <-t.C:
			f.log.Info("sweep stopped: cancelling the store requests still in flight", "grace", f.cfg.StopGrace)
		case <-s.closed:
		}
		cancel()
	})
	c := colly.NewCollector(
		colly.AllowURLRevisit(),
		colly.MaxBodySize(0), // limitTransport bounds bodies, loudly
		colly.ParseHTTPErrorResponse(),
		colly.UserAgent(f.cfg.UserAgent),
		colly.StdlibContext(rctx),
	)
	c.SetRequestTimeout(f.cfg.Timeout)
	c.WithTransport(f.transport)
	// Redirects within a host are followed; one to another host (a consent
	// or login page) is handed back as it is, for Classify to judge.
	c.SetRedirectHandler(func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("stopped after 5 redirects")
		}
		if req.URL.Host != via[0].URL.Host {
			return http.ErrUseLastResponse
		}
		return nil
	})
	c.OnResponse(func(r *colly.Response) { r.Ctx.Put(respKey, r) })
	s.c = c
	return s
}

// Close cancels whatever the session still has in flight and releases it.
func (s *Session) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		if !s.stopWatch() {
			<-s.watched // the watcher had started
		}
		s.cancel()
	})
}

// Do sends the request, paced and limited, retrying as configured. It
// returns the 2xx response (read by req.Decode when set), or an error:
// *HTTPError for a final non-2xx status, whatever Classify returned, a
// *BodyTooLargeError, a network or Decode error, or one wrapping
// ErrStopped when the sweep stopped before the request could start, while
// it waited to retry, or (after the grace) while it was in flight.
func (s *Session) Do(ctx context.Context, req HTTPRequest) (*Response, error) {
	f := s.f
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	host := hostOf(req.URL)
	for attempt := 1; ; attempt++ {
		if err := f.pacer.Wait(ctx); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStopped, err)
		}
		select {
		case f.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrStopped, ctx.Err())
		}
		resp, err := s.once(req)
		<-f.slots

		var delay time.Duration
		var reason string
		switch {
		case err != nil:
			err = unwrapURLError(err)
			var tl *BodyTooLargeError
			if errors.As(err, &tl) {
				f.m.Requests.WithLabelValues(f.cfg.Store, host, "too_large").Inc()
				return nil, err
			}
			f.m.Requests.WithLabelValues(f.cfg.Store, host, "0").Inc()
			if s.rctx.Err() != nil {
				return nil, fmt.Errorf("%w: %s %s was cancelled in flight, %s after the sweep was stopped: %w", ErrStopped, req.Method, req.URL, f.cfg.StopGrace, err)
			}
			err = fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
			reason, delay = "network", f.backoff(attempt)
		default:
			resp.Attempts = attempt
			f.m.Requests.WithLabelValues(f.cfg.Store, host, strconv.Itoa(resp.Status)).Inc()
			if f.cfg.Classify != nil {
				if cerr := f.cfg.Classify(resp); cerr != nil {
					return resp, cerr
				}
			}
			if resp.Status >= 200 && resp.Status < 300 {
				if req.Decode == nil {
					return resp, nil
				}
				if err = req.Decode(resp); err == nil {
					return resp, nil
				}
				reason, delay = "unreadable", f.backoff(attempt)
				break
			}
			var final bool
			if reason, delay, final, err = f.statusRetry(req, resp, attempt); final {
				return nil, err
			}
		}
		if attempt > f.cfg.Retries {
			var he *HTTPError
			if attempt > 1 && !errors.As(err, &he) {
				err = fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
			}
			return nil, err
		}
		f.m.Retries.WithLabelValues(f.cfg.Store, reason).Inc()
		f.log.Debug("retrying store request", "url", req.URL, "attempt", attempt, "delay", delay, "error", err)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %w (while waiting to retry after: %w)", ErrStopped, ctx.Err(), err)
		}
	}
}

// statusRetry judges a non-2xx answer: final is set when it is not retried
// (err is then the error to return); otherwise reason and delay say why and
// how long to wait before the retry of err.
func (f *Fetcher) statusRetry(req HTTPRequest, resp *Response, attempt int) (reason string, delay time.Duration, final bool, err error) {
	herr := &HTTPError{
		Method: req.Method, URL: req.URL, Status: resp.Status,
		ContentType: resp.Header.Get("Content-Type"), Size: len(resp.Body),
		Snippet: Snippet(resp.Body), Attempts: attempt,
		RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	if resp.Status != http.StatusTooManyRequests && resp.Status < 500 && !slices.Contains(req.RetryOn, resp.Status) {
		return "", 0, true, herr
	}
	reason, delay = strconv.Itoa(resp.Status), f.backoff(attempt)
	if ra := herr.RetryAfter; ra > 0 {
		if ra > f.cfg.MaxRetryAfter {
			return "", 0, true, fmt.Errorf("%w; Retry-After %s is longer than the %s a sweep waits", herr, ra, f.cfg.MaxRetryAfter)
		}
		// The store asked everyone to wait: hold all its requests.
		f.pacer.PauseUntil(time.Now().Add(ra))
		delay = ra
	}
	return reason, delay, false, herr
}

func (s *Session) once(req HTTPRequest) (*Response, error) {
	cctx := colly.NewContext()
	hdr := http.Header{}
	for k, v := range req.Header {
		hdr[k] = v
	}
	var body *bytes.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	var err error
	if body != nil {
		err = s.c.Request(req.Method, req.URL, body, cctx, hdr)
	} else {
		err = s.c.Request(req.Method, req.URL, nil, cctx, hdr)
	}
	if err != nil {
		return nil, err
	}
	cr, ok := cctx.GetAny(respKey).(*colly.Response)
	if !ok {
		return nil, errors.New("no response")
	}
	var h http.Header
	if cr.Headers != nil {
		h = *cr.Headers
	} else {
		h = http.Header{}
	}
	return &Response{URL: req.URL, Status: cr.StatusCode, Header: h, Body: cr.Body}, nil
}

// backoff returns the jittered exponential delay before retry n (n ≥ 1).
func (f *Fetcher) backoff(n int) time.Duration {
	d := f.cfg.BackoffBase << min(n-1, 20)
	if d > f.cfg.BackoffMax || d <= 0 {
		d = f.cfg.BackoffMax
	}
	return d/2 + rand.N(d/2+1)
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "invalid"
	}
	h := u.Hostname()
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return "loopback"
	}
	return h
}
