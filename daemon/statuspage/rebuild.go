package statuspage

import (
	"context"
	"errors"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/storage"
)

// progress is how far the rebuild at start has come.
type progress struct {
	started bool
	done    bool          // the whole month is in
	week    bool          // the last 7 days are in
	reached time.Time     // the newest slot read in the current pass
	from    time.Time     // the start of the current pass
	to      time.Time     // its end
	read    int           // snapshots read
	took    time.Duration //
	err     error
}

// Start rebuilds the summaries from the embedded store in the background:
// the last 7 days first, so the pages are whole soon, then the rest of the
// month. It returns at once; calling it again does nothing. Close stops it.
func (p *Page) Start() {
	p.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		p.cancel = cancel
		p.pmu.Lock()
		p.progress.started = true
		p.pmu.Unlock()
		go func() {
			defer close(p.done)
			p.rebuild(ctx)
		}()
	})
}

// Close stops the rebuild and waits for it. The Page still serves what it
// has.
func (p *Page) Close() {
	if p == nil {
		return
	}
	p.stopOnce.Do(func() {
		p.startOnce.Do(func() { close(p.done) }) // never started
		if p.cancel != nil {
			p.cancel()
		}
		<-p.done
	})
}

// Rebuilt returns a channel closed when the rebuild has ended (done or
// stopped).
func (p *Page) Rebuilt() <-chan struct{} { return p.done }

// monthSpan is the longest range the pages draw.
const monthSpan = 30 * 24 * time.Hour

func (p *Page) rebuild(ctx context.Context) {
	start := time.Now()
	now := p.now()
	as, err := p.db.Alerts(ctx, storage.AlertQuery{Since: now.Add(-monthSpan), Limit: 2 * maxAlerts})
	if err == nil {
		p.m.addAlerts(as)
		week := now.Add(-7 * 24 * time.Hour)
		if err = p.rebuildRange(ctx, week, time.Time{}); err == nil {
			p.setProgress(func(pr *progress) { pr.week = true })
			err = p.rebuildRange(ctx, now.Add(-monthSpan), week)
		}
	}
	p.setProgress(func(pr *progress) { pr.done, pr.err, pr.took = true, err, time.Since(start) })
	p.m.version.Add(1)
	switch {
	case errors.Is(err, context.Canceled):
		p.log.Info("status page: rebuild stopped")
	case err != nil:
		p.log.Error("status page: history not rebuilt from the embedded store; pages show what arrives from now on", "error", err)
	default:
		p.pmu.Lock()
		read := p.progress.read
		p.pmu.Unlock()
		p.m.mu.RLock()
		charts, skipped := len(p.m.charts), p.m.skipped
		p.m.mu.RUnlock()
		p.log.Info("status page: summaries rebuilt from the embedded store", "snapshots", read, "charts", charts,
			"unreadable_skipped", skipped, "took", time.Since(start).Round(time.Millisecond))
	}
}

// rebuildRange reads every stored snapshot in [from, to) (to zero: no end)
// into the summaries.
func (p *Page) rebuildRange(ctx context.Context, from, to time.Time) error {
	var refs []storage.AppRef
	type at struct {
		store string
		app   int
	}
	var where []at
	for _, s := range chart.Stores {
		for i, a := range p.m.apps[s] {
			refs = append(refs, storage.AppRef{Store: s, AppID: a.id})
			where = append(where, at{s, i})
		}
	}
	end := to
	if end.IsZero() {
		end = p.now()
	}
	p.setProgress(func(pr *progress) { pr.from, pr.to, pr.reached = from, end, from })
	q := storage.Query{Since: from, Until: to, OnCorrupt: func(ce *storage.CorruptError) error {
		p.log.Warn("status page: a stored snapshot cannot be read; left out", "error", ce)
		p.m.mu.Lock()
		p.m.skipped++
		p.m.mu.Unlock()
		return nil
	}}
	n := 0
	defer func() { p.setProgress(func(pr *progress) { pr.read += n % 1000 }) }()
	return p.db.Digests(ctx, refs, q, func(d *storage.Digest) error {
		o := obs{key: d.Key, slot: d.Time.Unix(), complete: d.Complete, depth: d.Depth, entries: d.Entries, source: d.Source, err: d.Error,
			ranks: make([]int, len(p.m.apps[d.Key.Store])), names: make([]string, len(p.m.apps[d.Key.Store]))}
		for i, w := range where {
			if w.store == d.Key.Store && d.Ranks[i] > 0 {
				o.ranks[w.app], o.names[w.app] = d.Ranks[i], d.Names[i]
			}
		}
		p.m.apply(o)
		if n++; n%1000 == 0 {
			p.setProgress(func(pr *progress) { pr.reached, pr.read = d.Time, pr.read+1000 })
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return nil
	})
}

func (p *Page) setProgress(f func(*progress)) {
	p.pmu.Lock()
	f(&p.progress)
	p.pmu.Unlock()
}

func (p *Page) getProgress() progress {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	return p.progress
}
