package scrapers

import (
	"context"
	"sync"
	"time"
)

// Pacer spaces requests evenly at a rate, with no bursts: a request may start
// only one interval after the one before it actually started. It is shared
// by every host of a store and by concurrent sweeps.
type Pacer struct {
	interval time.Duration
	turn     chan struct{} // one waiter at a time

	mu   sync.Mutex
	next time.Time // earliest start of the next request
}

// pacingMargin keeps the spacing a hair above 1/rate so that a server, which
// sees arrivals jittered by the network, still never counts more than rate
// requests in any one-second window.
const pacingMargin = 1.01

// NewPacer returns a pacer for rate requests per second.
func NewPacer(rate float64) *Pacer {
	iv := time.Duration(float64(time.Second) / rate * pacingMargin)
	return &Pacer{interval: iv, turn: make(chan struct{}, 1)}
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
		if !now.Before(p.next) {
			p.next = now.Add(p.interval)
			p.mu.Unlock()
			return nil
		}
		wait := p.next.Sub(now)
		p.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// PauseUntil holds every request until t (a store-wide Retry-After).
func (p *Pacer) PauseUntil(t time.Time) {
	p.mu.Lock()
	if t.After(p.next) {
		p.next = t
	}
	p.mu.Unlock()
}
