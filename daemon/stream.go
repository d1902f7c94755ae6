package daemon

// A sweep's snapshots flow through: each is stored, shown on the status
// page, read by the alert engine and queued for the sinks as it arrives,
// and then dropped. Nothing holds the whole sweep, so a sweep's memory does
// not grow with its size.
//
//   - The scrapers hand snapshots to one consumer goroutine (flow.run)
//     through a short queue. It stores them in groups: what arrives within
//     groupWait of a group's first snapshot goes in one transaction
//     (storage.SaveGroup), so a fast sweep commits dozens at a time and a
//     slow one each snapshot as it comes.
//   - The alert engine reads each snapshot as it comes (Engine.Begin, Add,
//     Finish), holding the engine from the sweep's first snapshot to its
//     evaluation. A sweep that finds the engine busy (another job's sweep)
//     or not yet restored (engine.go) keeps its snapshots until it is free,
//     then goes on streaming; a sweep that lists a chart twice keeps them
//     all and evaluates the slot whole, as Evaluate does (the fullest read
//     of a chart counts).
//   - The sinks get the snapshots in batches of about sinkChunk points,
//     written by a goroutine of the sweep in order, the last batch with the
//     sweep's alerts. Each batch is all-or-nothing in the InfluxDB spool;
//     points are keyed by slot time, so a replay or a rewrite overwrites.

import (
	"context"
	"sync"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/scrapers"
	"github.com/rankpulse/rankpulse/sinks"
)

const (
	// flowQueue is how many snapshots may wait for the consumer before the
	// scrapers wait for it.
	flowQueue = 64
	// maxGroup bounds the snapshots stored in one transaction, and
	// groupWait how long the first of them waits for the others: a fast
	// sweep commits a few dozen at a time, a slow one (a snapshot every
	// 250 ms at 4 requests a second) each as it comes.
	maxGroup  = 64
	groupWait = 100 * time.Millisecond
	// defaultSinkChunk is the points of a sink batch without an InfluxDB
	// batch size to follow.
	defaultSinkChunk = 5000
)

// flow is one sweep's way from the scrapers to the store, the engine and
// the sinks.
type flow struct {
	d        *Daemon
	ctx      context.Context // writes: not cancelled by a stop
	slot     time.Time
	progress func(chart.Snapshot)
	pmu      sync.Mutex // one progress call at a time
	sum      *Summary
	fetched  map[chart.Key]bool
	ids      map[string]string // the sweep's app ids, one copy each

	in   chan chart.Snapshot
	done chan struct{}

	eval evalFlow

	sinkQ    chan sinks.Batch // nil without sinks
	sinkDone chan struct{}
	chunk    []chart.Snapshot
	points   int
	maxChunk int
}

// newFlow starts the consumer (and the sink writer, with sinks).
func (d *Daemon) newFlow(ctx context.Context, slot time.Time, requests map[string][]scrapers.Request, sum *Summary, progress func(chart.Snapshot)) *flow {
	f := &flow{
		d: d, ctx: ctx, slot: slot, progress: progress, sum: sum, fetched: map[chart.Key]bool{}, ids: map[string]string{},
		in: make(chan chart.Snapshot, flowQueue), done: make(chan struct{}),
		eval:     evalFlow{d: d, slot: slot, whole: repeats(requests)},
		maxChunk: defaultSinkChunk,
	}
	if ic := InfluxConfig(d.cfg); ic != nil && ic.BatchSize > 0 {
		f.maxChunk = ic.BatchSize
	}
	if len(d.sinks) > 0 {
		f.sinkQ, f.sinkDone = make(chan sinks.Batch, 1), make(chan struct{})
		go func() {
			defer close(f.sinkDone)
			for b := range f.sinkQ {
				d.writeSinks(ctx, b)
			}
		}()
	}
	go f.run()
	return f
}

// repeats reports whether a chart is requested twice in the sweep.
func repeats(requests map[string][]scrapers.Request) bool {
	seen := map[chart.Key]bool{}
	for _, reqs := range requests {
		for _, r := range reqs {
			if seen[r.Key] {
				return true
			}
			seen[r.Key] = true
		}
	}
	return false
}

// emit is the scrapers' callback. progress sees the snapshot here, before
// the scraper goes on (a progress that cancels the sweep stops it before
// its next fetch), one call at a time.
func (f *flow) emit(s chart.Snapshot) {
	if scrapers.IsNotFetched(&s) {
		return // never asked for: counted by notFetched, not stored
	}
	f.d.annotate(&s)
	if f.progress != nil {
		f.pmu.Lock()
		f.progress(s)
		f.pmu.Unlock()
	}
	f.in <- s
}

func (f *flow) run() {
	defer close(f.done)
	group := make([]chart.Snapshot, 0, maxGroup)
	wait := time.NewTimer(groupWait)
	for s := range f.in {
		group = append(group[:0], s)
		wait.Reset(groupWait)
	more:
		for len(group) < maxGroup {
			select {
			case s, ok := <-f.in:
				if !ok {
					break more
				}
				group = append(group, s)
			case <-wait.C:
				break more
			}
		}
		f.take(group)
		clear(group) // drop the snapshots' entries
	}
	wait.Stop()
}

// take stores a group and passes each snapshot on.
func (f *flow) take(group []chart.Snapshot) {
	d := f.d
	for i := range group {
		f.intern(&group[i])
	}
	errs := d.storeGroup(f.ctx, group) // or held in memory while the store refuses writes (pending.go)
	for i := range group {
		s := &group[i]
		if errs[i] != nil {
			f.sum.StoreErrs++
			if len(f.sum.Errors) < maxExampleErrors {
				f.sum.Errors = append(f.sum.Errors, s.Key().String()+": not stored: "+errs[i].Error())
			}
		}
		f.sum.count(s)
		f.fetched[s.Key()] = true
		f.eval.add(s)
		f.toSinks(s)
	}
}

// intern makes the sweep's app ids share one copy per app: the alert
// engine keeps every chart's last ranks by app id, and the same few
// thousand apps fill every chart.
func (f *flow) intern(s *chart.Snapshot) {
	for i := range s.Entries {
		e := &s.Entries[i]
		if id, ok := f.ids[e.AppID]; ok {
			e.AppID = id
		} else {
			f.ids[e.AppID] = e.AppID
		}
	}
}

func (f *flow) toSinks(s *chart.Snapshot) {
	if f.sinkQ == nil {
		return
	}
	f.chunk = append(f.chunk, *s)
	f.points += len(s.Entries) + 1
	if f.points >= f.maxChunk {
		f.sinkQ <- sinks.Batch{Snapshots: f.chunk}
		f.chunk, f.points = nil, 0
	}
}

// finish waits for the snapshots in flight, evaluates the slot, and hands
// the last batch, with the alerts, to the sinks; it returns once the sinks
// have taken everything.
func (f *flow) finish() []chart.Alert {
	close(f.in)
	<-f.done
	raised, err := f.eval.finish(f.ctx)
	if err != nil {
		f.d.log.Error("alert evaluation not recorded; it is retried at the next start", "job", f.sum.Job, "slot", f.slot, "error", err)
	}
	if f.sinkQ != nil {
		f.sinkQ <- sinks.Batch{Snapshots: f.chunk, Alerts: raised}
		close(f.sinkQ)
		<-f.sinkDone
	}
	return raised
}

// evalFlow feeds one sweep's snapshots to the alert engine.
type evalFlow struct {
	d       *Daemon
	slot    time.Time
	whole   bool             // a chart is requested twice: evaluate the slot whole
	open    bool             // this sweep holds the engine (d.emu) and has begun
	pending []chart.Snapshot // waiting for the engine (or, whole, all of them)
	keys    []chart.Key
}

func (e *evalFlow) add(s *chart.Snapshot) {
	e.keys = append(e.keys, s.Key())
	restored := e.d.alerts.done.Load()
	if restored && e.d.alerts.err != nil {
		return // the engine could not be restored: nothing is evaluated
	}
	if !e.open && !e.whole && restored && e.d.emu.TryLock() {
		e.open = true
		e.d.engine.Begin(e.slot)
		for i := range e.pending {
			e.d.engine.Add(&e.pending[i])
		}
		e.pending = nil
	}
	if e.open {
		e.d.engine.Add(s)
		return
	}
	e.pending = append(e.pending, *s)
}

// finish evaluates the slot and records its alerts (see Daemon.record).
func (e *evalFlow) finish(ctx context.Context) ([]chart.Alert, error) {
	if len(e.keys) == 0 {
		return nil, nil
	}
	if !e.open {
		if err := e.d.RestoreAlerts(ctx); err != nil {
			return nil, err
		}
		e.d.emu.Lock()
	}
	defer e.d.emu.Unlock()
	var found []chart.Alert
	switch {
	case e.whole:
		found = e.d.engine.Evaluate(e.slot, e.pending)
	case !e.open:
		e.d.engine.Begin(e.slot)
		for i := range e.pending {
			e.d.engine.Add(&e.pending[i])
		}
		fallthrough
	default:
		found = e.d.engine.Finish()
	}
	e.pending = nil
	return e.d.pending.record(ctx, evaluation{slot: e.slot, found: found, keys: e.keys}) // or held behind writes the store refused (pending.go)
}

// sweepFlow runs a sweep's scrapers into a flow and returns the summary.
func (d *Daemon) sweepFlow(ctx context.Context, job config.Job, slot time.Time, requests map[string][]scrapers.Request, progress func(chart.Snapshot)) Summary {
	slot = chart.SlotTime(slot)
	d.sweepStarted(job.Name, slot)
	defer d.sweepDone(job.Name, slot)
	sum := Summary{Job: job.Name, Slot: slot, Started: time.Now()}
	f := d.newFlow(context.WithoutCancel(ctx), slot, requests, &sum, progress) // writes finish even while shutting down
	done := make(chan struct{})
	n := 0
	for store, reqs := range requests {
		sc, ok := d.scrapers[store]
		if !ok {
			continue
		}
		n++
		go func() {
			defer func() { done <- struct{}{} }()
			sc.Sweep(ctx, slot, reqs, f.emit)
		}()
	}
	for range n {
		<-done
	}
	raised := f.finish()
	sum.notFetched(ctx, requests, f.fetched)
	sum.Alerts = len(raised)
	sum.Duration = time.Since(sum.Started)
	d.finish(ctx, sum)
	return sum
}
