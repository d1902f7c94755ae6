// Package scheduler runs rankpulse's sweeps on robfig/cron schedules.
//
// Schedules are in UTC unless the spec starts with CRON_TZ=Zone; an optional
// leading seconds field and descriptors such as "@every 10s" are accepted
// ("@every D" fires at the multiples of D since the Unix epoch, so its slots
// survive a restart). Each run is given its slot: the scheduled fire time
// (whole seconds), not the moment the job started, so that a re-run of a
// slot rewrites the same points. A job still running when its next slot
// fires skips that slot; a job that panics is logged and runs again at its
// next slot.
//
// A job may also catch up at start: its current slot, the latest fire time
// at or before the start (see Prev), is offered to its CatchUp function at
// once, under the same no-overlap rule as its scheduled runs.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
)

// Job is one scheduled task.
type Job struct {
	Name string
	// Spec is a robfig/cron spec (see ParseSchedule).
	Spec string
	// Run does the work of one slot. ctx is cancelled when the scheduler
	// stops: Run should then start no new work and return once what is in
	// flight is finished.
	Run func(ctx context.Context, slot time.Time)
	// CatchUp, when set, is called once by Start with the job's current
	// slot (its latest fire time at or before the start), to do whatever
	// that slot still lacks. It runs under the same rule as Run: while it
	// runs, the job's scheduled slots are skipped, and it is skipped if a
	// scheduled run is under way. It is not called when the next slot fires
	// within CatchUpLead (or half the period, if shorter): that run comes
	// first.
	CatchUp func(ctx context.Context, slot time.Time)
}

// CatchUpLead is how close the next slot may be for a catch-up to be
// pointless: a catch-up that started then would make the scheduler skip the
// fresh slot in favour of a stale one.
const CatchUpLead = time.Minute

// Scheduler runs jobs on their schedules.
type Scheduler struct {
	log    *slog.Logger
	cron   *cron.Cron
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // catch-up runs

	mu   sync.Mutex
	jobs map[string]*entry
}

// entry is a scheduled job and its no-overlap guard.
type entry struct {
	job     Job
	sched   cron.Schedule
	id      cron.EntryID
	running atomic.Bool
}

// New returns a scheduler; add jobs, then Start it.
func New(log *slog.Logger) *Scheduler {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{
		log: log,
		// Overlaps and panics are handled by run, for scheduled runs and
		// catch-ups alike; robfig/cron's SkipIfStillRunning would not see
		// a catch-up (and v3.0.1's leaks its token on a panic).
		cron: cron.New(cron.WithParser(parser), cron.WithLocation(time.UTC), cron.WithLogger(cronLogger{log: log.With("component", "scheduler")})),
		ctx:  ctx, cancel: cancel,
		jobs: map[string]*entry{},
	}
}

// Add schedules a job.
func (s *Scheduler) Add(j Job) error {
	sched, err := ParseSchedule(j.Spec)
	if err != nil {
		return fmt.Errorf("job %s: %w", j.Name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.jobs[j.Name]; dup {
		return fmt.Errorf("job %s: already scheduled", j.Name)
	}
	e := &entry{job: j, sched: sched}
	e.id = s.cron.Schedule(sched, cron.FuncJob(func() {
		slot := s.cron.Entry(e.id).Prev // set by cron before it returns to its loop
		if slot.IsZero() {
			slot = time.Now()
		}
		s.run(e, slot.UTC().Truncate(time.Second), "scheduled", j.Run)
	}))
	s.jobs[j.Name] = e
	return nil
}

// run runs fn for a slot unless the job is already running, and recovers a
// panic so that the job runs again at its next slot.
func (s *Scheduler) run(e *entry, slot time.Time, kind string, fn func(context.Context, time.Time)) {
	log := s.log.With("job", e.job.Name, "slot", slot)
	if !e.running.CompareAndSwap(false, true) {
		log.Warn("previous sweep still running; this slot is skipped", "run", kind)
		return
	}
	defer e.running.Store(false)
	defer func() {
		if r := recover(); r != nil {
			log.Error("job panicked; it runs again at its next slot", "run", kind, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	log.Debug("job starting", "run", kind)
	fn(s.ctx, slot)
}

// Start starts firing jobs, and starts the catch-up of every job that has
// one.
func (s *Scheduler) Start() {
	s.cron.Start()
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.jobs {
		if e.job.CatchUp != nil {
			s.wg.Go(func() { s.catchUp(e, now) })
		}
	}
}

func (s *Scheduler) catchUp(e *entry, now time.Time) {
	slot := Prev(e.sched, now)
	if slot.IsZero() || s.ctx.Err() != nil {
		return
	}
	next := e.sched.Next(now)
	if lead := min(CatchUpLead, next.Sub(slot)/2); next.Sub(now) < lead {
		s.log.Info("next slot is due shortly; no catch-up of the current one", "job", e.job.Name, "slot", slot, "next", next.UTC())
		return
	}
	s.run(e, slot, "catch-up", e.job.CatchUp)
}

// Next returns a job's next fire time (zero before Start or if unknown).
func (s *Scheduler) Next(name string) time.Time {
	s.mu.Lock()
	e, ok := s.jobs[name]
	s.mu.Unlock()
	if !ok {
		return time.Time{}
	}
	return s.cron.Entry(e.id).Next
}

// ErrStopTimeout is returned by Stop when jobs were still running at its
// deadline.
var ErrStopTimeout = errors.New("scheduler: jobs still running at the shutdown deadline")

// Stop stops firing jobs, cancels the context of running ones (so they take
// no new work) and waits for them, catch-ups included, to return, or for
// ctx.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.cancel()
	cronDone := s.cron.Stop()
	done := make(chan struct{})
	go func() { // ends when the last job does, even after a timeout
		<-cronDone.Done()
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ErrStopTimeout
	}
}

// cronLogger adapts slog to cron's logger; cron's chatty Info events (wake,
// run, schedule) go to debug.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron "+msg, kv...) }

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron "+msg, append(kv, "error", err)...)
}
