package daemon

// The alert engine's life in the daemon: evaluating each sweep in one
// transaction with its alerts, outbox and evaluated flags; checkpointing its
// state with an evaluation now and then; and restoring it at start from the
// checkpoint plus the evaluations after it — in the background, with
// /healthz answering at once and /readyz not ready until it is done —
// rather than replaying days of history before anything listens.

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/sinks"
	"github.com/rankpulse/rankpulse/storage"
)

const defaultCheckpointEvery = 10 * time.Minute

// engineState is the bookkeeping around d.engine; the fields below once
// are guarded by d.emu.
type engineState struct {
	fingerprint string
	every       time.Duration

	once     sync.Once
	err      error        // the restore's outcome, set once
	started  atomic.Bool  // a restore was asked for
	done     atomic.Bool  // restored (or failed)
	progress atomic.Int64 // evaluations replayed so far
	total    atomic.Int64 // evaluations to replay

	lastSeq        int64 // the newest evaluation folded into the engine
	checkpointSeq  int64 // the evaluation of the stored checkpoint
	lastCheckpoint time.Time
	// diverged: an evaluation moved the engine but its transaction
	// failed, so the engine is ahead of the store and must not be
	// checkpointed; the next start replays from the store.
	diverged bool
}

func (s *engineState) init(cfg *config.Config, every time.Duration) {
	s.fingerprint = alerts.Fingerprint(cfg.Alerts, cfg.WatchIndex())
	s.every = every
	if s.every <= 0 {
		s.every = defaultCheckpointEvery
	}
}

// RestoreAlerts restores the alert engine from the embedded store, once: the
// first caller does it, later ones wait for it. Run starts it in the
// background at start; every evaluation waits for it.
func (d *Daemon) RestoreAlerts(ctx context.Context) error {
	d.alerts.started.Store(true)
	d.alerts.once.Do(func() {
		d.alerts.err = d.restore(ctx)
		if d.alerts.err != nil {
			d.log.Error("the alert engine could not be restored; sweeps are stored but not evaluated until a restart", "error", d.alerts.err)
		}
		d.alerts.done.Store(true)
	})
	return d.alerts.err
}

// restoring describes a restore under way or failed ("" when done, or
// never asked for).
func (d *Daemon) restoring() string {
	switch {
	case !d.alerts.started.Load():
	case !d.alerts.done.Load():
		return "alert engine: restoring its state from the embedded store (" + strconv.FormatInt(d.alerts.progress.Load(), 10) + " of " + strconv.FormatInt(d.alerts.total.Load(), 10) + " evaluations)"
	case d.alerts.err != nil:
		return "alert engine: restore failed: " + d.alerts.err.Error()
	}
	return ""
}

// restore loads the checkpoint when it was written under the same settings
// and replays the evaluations after it; without one it replays the engine's
// horizon, evaluated slots silently. Then it evaluates, for real, the slots
// stored but never evaluated (the process stopped in between), and writes a
// checkpoint when it had to replay much.
func (d *Daemon) restore(ctx context.Context) error {
	start := time.Now()
	st, ok, err := d.db.EngineState(ctx)
	if err != nil {
		return err
	}
	d.emu.Lock()
	mode := "replay of the horizon"
	switch {
	case !ok:
	case st.Fingerprint != d.alerts.fingerprint:
		d.log.Info("the alert settings changed since the last checkpoint: the engine is rebuilt from the history")
	default:
		if err := d.engine.UnmarshalBinary(st.State); err != nil {
			d.log.Warn("the alert engine's checkpoint cannot be read; the engine is rebuilt from the history", "error", err)
		} else {
			mode = "checkpoint"
			d.alerts.lastSeq, d.alerts.checkpointSeq, d.alerts.lastCheckpoint = st.Seq, st.Seq, st.Saved
		}
	}
	d.emu.Unlock()
	corrupt := 0
	onCorrupt := func(ce *storage.CorruptError) error {
		corrupt++
		d.log.Error("a stored snapshot cannot be read; the alert engine goes on without it", "error", ce)
		return nil
	}
	replayed := 0
	if mode == "checkpoint" {
		replayed, err = d.replayAfter(ctx, st.Seq, onCorrupt)
	} else {
		replayed, err = d.replayHorizon(ctx, onCorrupt)
	}
	if err != nil {
		return err
	}
	pending, raised, err := d.evaluatePending(ctx, onCorrupt)
	if err != nil {
		return err
	}
	if mode != "checkpoint" || replayed > 0 {
		d.checkpoint(ctx) // the next start needs no replay
	}
	d.log.Info("alert engine restored", "from", mode, "evaluations_replayed", replayed, "slots_evaluated_now", pending,
		"alerts_raised", raised, "unreadable_snapshots", corrupt, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// replayAfter feeds the engine, silently, the evaluations numbered after
// seq, as they were made.
func (d *Daemon) replayAfter(ctx context.Context, seq int64, onCorrupt func(*storage.CorruptError) error) (int, error) {
	last, err := d.db.LastEvalSeq(ctx)
	if err != nil {
		return 0, err
	}
	d.alerts.total.Store(max(last-seq, 0))
	n := 0
	err = d.db.EvaluatedAfter(ctx, seq, onCorrupt, func(ev storage.Evaluation) error {
		for i := range ev.Snapshots {
			d.annotate(&ev.Snapshots[i])
		}
		d.emu.Lock()
		d.engine.Evaluate(ev.Slot, ev.Snapshots)
		d.alerts.lastSeq = ev.Seq
		d.emu.Unlock()
		n++
		d.alerts.progress.Store(ev.Seq - seq)
		return ctx.Err()
	})
	return n, err
}

// horizon is how far back a rebuild without a checkpoint replays.
func (d *Daemon) horizon() time.Time {
	a := d.cfg.Alerts
	return time.Now().Add(-a.Window.D() - a.Lookback.D() - a.Cooldown.D() - a.MultiCountry.Window.D())
}

// replayHorizon feeds the engine, silently and in slot order, every
// evaluated slot of its horizon.
func (d *Daemon) replayHorizon(ctx context.Context, onCorrupt func(*storage.CorruptError) error) (int, error) {
	slots, err := d.db.Slots(ctx, d.horizon())
	if err != nil {
		return 0, err
	}
	last, err := d.db.LastEvalSeq(ctx)
	if err != nil {
		return 0, err
	}
	d.alerts.total.Store(int64(len(slots)))
	n := 0
	for i, si := range slots {
		if si.Pending {
			continue
		}
		snaps, _, err := d.slotSnapshots(ctx, si.Slot, onCorrupt)
		if err != nil {
			return n, err
		}
		d.emu.Lock()
		d.engine.Evaluate(si.Slot, snaps)
		d.emu.Unlock()
		n++
		d.alerts.progress.Store(int64(i + 1))
		if err := ctx.Err(); err != nil {
			return n, err
		}
	}
	d.emu.Lock()
	d.alerts.lastSeq = last
	d.emu.Unlock()
	return n, nil
}

// evaluatePending evaluates, for real, the slots of the horizon stored but
// never evaluated, and sends their alerts on.
func (d *Daemon) evaluatePending(ctx context.Context, onCorrupt func(*storage.CorruptError) error) (slots, raisedTotal int, err error) {
	all, err := d.db.Slots(ctx, d.horizon())
	if err != nil {
		return 0, 0, err
	}
	for _, si := range all {
		if !si.Pending || d.sweeping(si.Slot) {
			continue // a sweep under way evaluates its own slot
		}
		snaps, unreadable, err := d.slotSnapshots(ctx, si.Slot, onCorrupt)
		if err != nil {
			return slots, raisedTotal, err
		}
		slots++
		raised, err := d.evaluateRestored(ctx, si.Slot, snaps)
		if err != nil {
			return slots, raisedTotal, err
		}
		raisedTotal += len(raised)
		d.writeSinks(ctx, sinks.Batch{Alerts: raised})
		// An unreadable snapshot will not become readable: done with it,
		// or its slot would be evaluated again at every start.
		if len(unreadable) > 0 {
			if err := d.db.Update(ctx, func(tx storage.WriteTx) error {
				_, err := tx.MarkEvaluated(ctx, si.Slot, unreadable)
				return err
			}); err != nil {
				return slots, raisedTotal, err
			}
		}
	}
	return slots, raisedTotal, nil
}

// slotSnapshots reads one slot's stored snapshots, annotated, and the keys
// of those that cannot be read.
func (d *Daemon) slotSnapshots(ctx context.Context, slot time.Time, onCorrupt func(*storage.CorruptError) error) ([]chart.Snapshot, []chart.Key, error) {
	var snaps []chart.Snapshot
	var unreadable []chart.Key
	q := storage.Query{Since: slot, Until: slot.Add(time.Second), OnCorrupt: func(ce *storage.CorruptError) error {
		unreadable = append(unreadable, ce.Key)
		return onCorrupt(ce)
	}}
	err := d.db.Snapshots(ctx, q, func(s chart.Snapshot) error {
		d.annotate(&s)
		snaps = append(snaps, s)
		return nil
	})
	return snaps, unreadable, err
}

// evaluate runs the alert engine over a slot's snapshots (once it is
// restored) and, in one transaction, stores the alerts it raised (an alert
// already stored, from an evaluation replayed after a restart, is not raised
// again), enqueues them for the webhooks and marks the snapshots evaluated.
// It returns the new alerts.
func (d *Daemon) evaluate(ctx context.Context, slot time.Time, snaps []chart.Snapshot) ([]chart.Alert, error) {
	if len(snaps) == 0 {
		return nil, nil
	}
	if err := d.RestoreAlerts(ctx); err != nil {
		return nil, err
	}
	return d.evaluateRestored(ctx, slot, snaps)
}

func (d *Daemon) evaluateRestored(ctx context.Context, slot time.Time, snaps []chart.Snapshot) ([]chart.Alert, error) {
	d.emu.Lock()
	defer d.emu.Unlock()
	ev := evaluation{slot: slot, found: d.engine.Evaluate(slot, snaps), keys: make([]chart.Key, len(snaps))}
	for i := range snaps {
		ev.keys[i] = snaps[i].Key()
	}
	return d.pending.record(ctx, ev) // or held behind writes the store refused (pending.go)
}

// record writes an evaluation in one transaction, then hands its new
// alerts to the webhooks and the status page. The caller holds d.emu; with
// checkpoint set, the evaluation is the engine's newest and its state may
// be written with it. On an error the caller marks the engine diverged, or
// holds the evaluation to write it later (pending.go).
func (d *Daemon) record(ctx context.Context, ev evaluation, checkpoint bool) ([]chart.Alert, error) {
	found, keys, slot := ev.found, ev.keys, ev.slot
	var raised []chart.Alert
	var seq int64
	err := d.db.Update(ctx, func(tx storage.WriteTx) error {
		raised = raised[:0]
		for i := range found {
			isNew, err := tx.SaveAlert(ctx, &found[i])
			if err != nil {
				return err
			}
			if isNew {
				raised = append(raised, found[i])
			}
		}
		if err := d.hooks.Enqueue(ctx, tx, raised); err != nil {
			return err
		}
		var err error
		if seq, err = tx.MarkEvaluated(ctx, slot, keys); err != nil {
			return err
		}
		if checkpoint && !d.alerts.diverged && time.Since(d.alerts.lastCheckpoint) >= d.alerts.every {
			return d.saveState(ctx, tx, seq)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.alerts.lastSeq = seq
	d.announce(ctx, raised)
	return raised, nil
}

// saveState writes the engine's state as of evaluation seq in tx. The
// caller holds d.emu.
func (d *Daemon) saveState(ctx context.Context, tx storage.WriteTx, seq int64) error {
	now := time.Now()
	// Written in parts as it is encoded: the state of a few thousand
	// charts is megabytes, and held whole (and copied into SQLite whole)
	// it was the biggest moment of a sweep's memory.
	if err := tx.SaveEngineState(ctx, storage.EngineState{Seq: seq, Fingerprint: d.alerts.fingerprint, Saved: now, Write: d.engine.WriteState}); err != nil {
		return err
	}
	d.alerts.lastCheckpoint, d.alerts.checkpointSeq = now, seq
	return nil
}

// checkpoint writes the engine's state now, when it has moved since the
// stored one (Close, and the end of a restore).
func (d *Daemon) checkpoint(ctx context.Context) {
	d.emu.Lock()
	defer d.emu.Unlock()
	if d.alerts.err != nil || d.alerts.diverged || d.alerts.lastSeq == 0 || d.alerts.lastSeq == d.alerts.checkpointSeq {
		return
	}
	err := d.db.Update(ctx, func(tx storage.WriteTx) error { return d.saveState(ctx, tx, d.alerts.lastSeq) })
	if err != nil && !errors.Is(err, context.Canceled) {
		d.log.Warn("the alert engine's state was not checkpointed; the next start replays more", "error", err)
	}
}

// sweepStarted and sweepDone track the sweeps under way: their slots,
// whose snapshots each sweep evaluates itself once they are in, and their
// jobs, for the status page.
func (d *Daemon) sweepStarted(job string, slot time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inflight == nil {
		d.inflight, d.running = map[int64]int{}, map[string]int{}
	}
	d.inflight[slot.Unix()]++
	d.running[job]++
}

func (d *Daemon) sweepDone(job string, slot time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inflight[slot.Unix()]--; d.inflight[slot.Unix()] <= 0 {
		delete(d.inflight, slot.Unix())
	}
	if d.running[job]--; d.running[job] <= 0 {
		delete(d.running, job)
	}
}

func (d *Daemon) sweeping(slot time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inflight[slot.Unix()] > 0
}

func (d *Daemon) jobSweeping(job string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running[job] > 0
}
