// Package scheduler runs rankpulse's sweeps on robfig/cron schedules.
//
// Schedules are in UTC unless the spec starts with CRON_TZ=Zone; an optional
// leading seconds field and descriptors such as "@every 10s" are accepted.
// Each run is given its slot: the scheduled fire time (whole seconds), not
// the moment the job started, so that a re-run of a slot rewrites the same
// points. A job still running when its next slot fires skips that slot; a
// job that panics is logged and runs again at its next slot.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
}

// Scheduler runs jobs on their schedules.
type Scheduler struct {
	log    *slog.Logger
	cron   *cron.Cron
	ctx    context.Context
	cancel context.CancelFunc

	mu  sync.Mutex
	ids map[string]cron.EntryID
}

// New returns a scheduler; add jobs, then Start it.
func New(log *slog.Logger) *Scheduler {
	if log == nil {
		log = slog.Default()
	}
	l := cronLogger{log: log.With("component", "scheduler")}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{
		log: log,
		cron: cron.New(
			cron.WithParser(parser),
			cron.WithLocation(time.UTC),
			cron.WithLogger(l),
			// SkipIfStillRunning must wrap Recover: robfig/cron v3.0.1's
			// SkipIfStillRunning releases its token without a defer, so a
			// panic escaping it would skip the job forever.
			cron.WithChain(cron.SkipIfStillRunning(l), cron.Recover(l)),
		),
		ctx: ctx, cancel: cancel,
		ids: map[string]cron.EntryID{},
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
	if _, dup := s.ids[j.Name]; dup {
		return fmt.Errorf("job %s: already scheduled", j.Name)
	}
	var id cron.EntryID
	id = s.cron.Schedule(sched, cron.FuncJob(func() {
		slot := s.cron.Entry(id).Prev // set by cron before it returns to its loop
		if slot.IsZero() {
			slot = time.Now()
		}
		slot = slot.UTC().Truncate(time.Second)
		s.log.Debug("job starting", "job", j.Name, "slot", slot)
		j.Run(s.ctx, slot)
	}))
	s.ids[j.Name] = id
	return nil
}

// Start starts firing jobs.
func (s *Scheduler) Start() { s.cron.Start() }

// Next returns a job's next fire time (zero before Start or if unknown).
func (s *Scheduler) Next(name string) time.Time {
	s.mu.Lock()
	id, ok := s.ids[name]
	s.mu.Unlock()
	if !ok {
		return time.Time{}
	}
	return s.cron.Entry(id).Next
}

// ErrStopTimeout is returned by Stop when jobs were still running at its
// deadline.
var ErrStopTimeout = errors.New("scheduler: jobs still running at the shutdown deadline")

// Stop stops firing jobs, cancels the context of running ones (so they take
// no new work) and waits for them to return, or for ctx.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.cancel()
	done := s.cron.Stop()
	select {
	case <-done.Done():
		return nil
	case <-ctx.Done():
		return ErrStopTimeout
	}
}

// cronLogger adapts slog to cron's logger. cron's chatty Info events (wake,
// run, schedule) go to debug; a skipped slot is a warning.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) {
	if msg == "skip" {
		l.log.Warn("previous sweep still running; this slot is skipped")
		return
	}
	l.log.Debug("cron "+msg, kv...)
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron "+msg, append(kv, "error", err)...)
}
