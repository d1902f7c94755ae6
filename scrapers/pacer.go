package scrapers

import (
	"context"
	"math"
	"sync"
	"time"
)

// Pacer spaces requests evenly at a rate, with no bursts. Requests start on
// a grid one interval apart: a waiter that wakes up late (a loaded machine
// wakes timers a few milliseconds late) does not push back every request
// after it, as spacing each request from the actual start of the one before
// did (at 60 requests a second that alone cost 15–20% of the rate). The
// grid restarts from now when nobody was waiting, so an idle pacer builds
// up no credit, and however late the starts, never more than the rate start
// in any one second. It is shared by every host of a store and by
// concurrent sweeps.
type Pacer struct {
	interval time.Duration
	window   time.Duration // at most len(recent) starts in any window
	turn     chan struct{} // one waiter at a time

	mu     sync.Mutex
	next   time.Time   // the grid: earliest start of the next request
	pause  time.Time   // no start before (a store-wide Retry-After)
	recent []time.Time // the last starts, a ring; zero: none yet
	head   int         // oldest in recent

	sleepFn func(context.Context, time.Duration) error // tests: a late timer
}

// pacingMargin keeps the spacing a hair above 1/rate so that a server, which
// sees arrivals jittered by the network, still never counts more than rate
// requests in any one-second window.
const pacingMargin = 1.01

// windowMargin widens the one-second window of the burst check by as much
// as pacingMargin spaces rate+1 evenly paced requests: the same slack for
// the network's jitter as before there was a grid.
const windowMargin = 10 * time.Millisecond

// NewPacer returns a pacer for rate requests per second.
func NewPacer(rate float64) *Pacer {
	iv := time.Duration(float64(time.Second) / rate * pacingMargin)
	// The burst check: n starts in any window of a second (of one interval
	// when the rate is below one a second, where n is 1: then no start
	// comes early at all).
	window := max(time.Second+windowMargin, iv)
	n := max(1, int(math.Ceil(rate*window.Seconds()/pacingMargin-1e-9)))
	if rate < 1 {
		n = 1
	}
	return &Pacer{interval: iv, window: window, turn: make(chan struct{}, 1), recent: make([]time.Time, n)}
}

// Interval returns the spacing between requests.
func (p *Pacer) Interval() time.Duration { return p.interval }

// Wait blocks until the caller may start a request, or ctx is done.
func (p *Pacer) Wait(ctx context.Context) error {
	select {
	case p.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.turn }()
	for {
		p.mu.Lock()
		now := time.Now()
		at := p.earliest()
		if !now.Before(at) {
			p.start(now, at)
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
		if err := p.sleep(ctx, at.Sub(now)); err != nil {
			return err
		}
	}
}

// sleep waits d, or until ctx is done. Tests replace it to wake up late.
var sleep = func(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Pacer) sleep(ctx context.Context, d time.Duration) error {
	if p.sleepFn != nil {
		return p.sleepFn(ctx, d)
	}
	return sleep(ctx, d)
}

// earliest is when the next request may start. Callers hold p.mu.
func (p *Pacer) earliest() time.Time {
	at := p.next
	if p.pause.After(at) {
		at = p.pause
	}
	if oldest := p.recent[p.head]; !oldest.IsZero() {
		if w := oldest.Add(p.window); w.After(at) {
			at = w
		}
	}
	return at
}

// start records a start at now, due at at (≤ now). A start less than an
// interval late keeps the grid; a later one (nobody was waiting) restarts
// it from now. Callers hold p.mu.
func (p *Pacer) start(now, at time.Time) {
	if now.Sub(at) < p.interval {
		p.next = at.Add(p.interval)
	} else {
		p.next = now.Add(p.interval)
	}
	p.recent[p.head] = now
	p.head = (p.head + 1) % len(p.recent)
}

// PauseUntil holds every request until t (a store-wide Retry-After).
func (p *Pacer) PauseUntil(t time.Time) {
	p.mu.Lock()
	if t.After(p.pause) {
		p.pause = t
	}
	p.mu.Unlock()
}
