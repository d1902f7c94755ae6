// Package scrapers holds what every store scraper shares: the Scraper
// interface, the paced and retrying HTTP fetcher built on colly, the error
// types that tell "the store answered something we cannot read" from "the
// chart is empty", and the sweep runner.
//
// The store scrapers live in scrapers/appstore and scrapers/googleplay.
package scrapers

import (
	"context"
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
	// no new request, lets requests in flight finish, and returns; requests
	// it never started get no snapshot.
	Sweep(ctx context.Context, slot time.Time, reqs []Request, emit func(chart.Snapshot))
}

// RunSweep runs fetch for each request on `workers` goroutines and passes
// each snapshot to emit, one at a time, counting it in m. fetch returns false
// for a request the sweep stopped before starting: it gets no snapshot.
// RunSweep stops handing out requests when ctx is done and returns once every
// started fetch has been emitted.
func RunSweep(ctx context.Context, m *metrics.Metrics, reqs []Request, workers int, fetch func(context.Context, Request) (chart.Snapshot, bool), emit func(chart.Snapshot)) {
	if workers < 1 {
		workers = 1
	}
	work := make(chan Request)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(workers, len(reqs)) {
		wg.Go(func() {
			for r := range work {
				s, ok := fetch(ctx, r)
				if !ok {
					continue
				}
				count(m, &s)
				mu.Lock()
				emit(s)
				mu.Unlock()
			}
		})
	}
feed:
	for _, r := range reqs {
		select {
		case work <- r:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
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
