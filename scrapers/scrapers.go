// Package scrapers holds what every store scraper shares: the Scraper
// interface, the paced and retrying HTTP fetcher built on colly, the error
// types that tell "the store answered something we cannot read" from "the
// chart is empty", and the sweep runner.
//
// The store scrapers live in scrapers/appstore and scrapers/googleplay.
package scrapers

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/metrics"
)

// Request is one chart to fetch, down to Depth entries.
type Request struct {
	chart.Key
	Depth int
}

// Scraper fetches the top charts of one store.
type Scraper interface {
	// Store returns the store's name (chart.AppStore or chart.GooglePlay).
	Store() string
	// Sweep fetches every request's chart and calls emit once per request
	// with its snapshot at slot time, complete or not. Requests are paced at
	// the store's rate across all its hosts, even across concurrent sweeps.
	// emit is never called concurrently. When ctx is cancelled, Sweep starts
	// no new request, cancels the requests still in flight after a short
	// grace (FetchConfig.StopGrace), stops looking up and parsing, emits what
	// it had fetched and returns; every request it did not fetch gets an
	// incomplete snapshot saying so (NotFetched, told apart by IsNotFetched:
	// the daemon counts it as not fetched and does not store it), so that a
	// stopped sweep never looks like one that read everything.
	Sweep(ctx context.Context, slot time.Time, reqs []Request, emit func(chart.Snapshot))
}

// RunSweep runs fetch for each request on `workers` goroutines and passes
// each snapshot to emit, one at a time, counting it in m. fetch returns false
// for a request the sweep stopped before fetching. RunSweep stops handing
// out requests when ctx is done and returns once every started fetch has
// been emitted, followed by notFetched(r) for each request that got no
// snapshot.
func RunSweep(ctx context.Context, m *metrics.Metrics, reqs []Request, workers int, fetch func(context.Context, Request) (chart.Snapshot, bool), notFetched func(Request) chart.Snapshot, emit func(chart.Snapshot)) {
	if workers < 1 {
		workers = 1
	}
	work := make(chan int)
	var mu sync.Mutex
	emitted := make([]bool, len(reqs))
	var wg sync.WaitGroup
	for range min(workers, len(reqs)) {
		wg.Go(func() {
			for i := range work {
				s, ok := fetch(ctx, reqs[i])
				if !ok {
					continue
				}
				count(m, &s)
				mu.Lock()
				emitted[i] = true
				emit(s)
				mu.Unlock()
			}
		})
	}
feed:
	for i := range reqs {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	for i, r := range reqs {
		if !emitted[i] {
			emit(notFetched(r)) // not a read of the store: not counted
		}
	}
}

// NotFetched returns the snapshot of a request the sweep stopped before
// fetching: incomplete, with no entries, saying so.
func NotFetched(slot time.Time, r Request, source string) chart.Snapshot {
	s := NewSnapshot(slot, r)
	s.Source = source
	s.Error = stoppedPrefix + " (shutting down)"
	return s
}

var stoppedPrefix = "not fetched: " + ErrStopped.Error()

// IsNotFetched reports whether s is a NotFetched snapshot: a chart the
// sweep never asked for. It says nothing about the store and must not be
// stored as a read (the next run fetches the chart).
func IsNotFetched(s *chart.Snapshot) bool {
	return !s.Complete && len(s.Entries) == 0 && strings.HasPrefix(s.Error, stoppedPrefix)
}

func count(m *metrics.Metrics, s *chart.Snapshot) {
	result := "complete"
	switch {
	case s.Complete:
	case len(s.Entries) > 0:
		result = "incomplete"
	default:
		result = "failed"
	}
	m.Charts.WithLabelValues(s.Store, s.Source, result).Inc()
	m.ChartEntries.WithLabelValues(s.Store).Observe(float64(len(s.Entries)))
}

// NewSnapshot returns the snapshot frame for a request at slot time.
func NewSnapshot(slot time.Time, r Request) chart.Snapshot {
	return chart.Snapshot{
		Time:     chart.SlotTime(slot),
		Store:    r.Store,
		Country:  r.Country,
		Chart:    r.Chart,
		Category: r.Category,
		Entries:  []chart.Entry{},
	}
}

// Finish settles a snapshot's completeness from what a source returned.
// depth is what was asked for and sourceCap the most the source is known to
// serve: a chart is complete when it holds min(depth, sourceCap) entries.
// Fewer entries make it incomplete (a short read), never "the other apps left
// the chart"; more are cut to depth.
func Finish(s *chart.Snapshot, entries []chart.Entry, depth, sourceCap int) {
	want := min(depth, sourceCap)
	if len(entries) > want {
		entries = entries[:want]
	}
	s.Entries = entries
	s.Depth = want
	s.Complete = len(entries) == want
	s.Error = ""
	if !s.Complete {
		s.Error = shortError(len(entries), want)
	}
}
