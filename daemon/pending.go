package daemon

// This file keeps what the embedded store refused — a full disk, an I/O
// error, a lock held too long — instead of losing it. Snapshots and alert
// evaluations the store did not take are held in memory, in order, bounded
// (pendingMaxBytes: past it the oldest held snapshot is dropped, with an
// error line and rankpulse_store_held_dropped_total), and written as soon
// as the store takes writes again: at the next snapshot of a sweep, and
// every retry interval from a goroutine of the running daemon. While it
// holds anything /readyz is not ready. An evaluation waits behind the
// snapshots before it, so that marking them evaluated never comes first;
// its alerts reach the outbox, the webhooks and the sinks once it is
// written. What is still held when the process stops is lost, and said so.

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/sinks"
	"github.com/rankpulse/rankpulse/storage"
)

// pendingMaxBytes bounds the memory held for refused writes: about 2,000
// snapshots of 200 entries (a day of the default job, or an hour of a
// sweep of every storefront).
const pendingMaxBytes = 64 << 20

// Retries while the store refuses writes: first after pendingRetryMin,
// doubling to pendingRetryMax.
const (
	pendingRetryMin = 5 * time.Second
	pendingRetryMax = time.Minute
)

// evaluation is the outcome of one run of the alert engine over a slot,
// to be recorded in one transaction (see Daemon.record).
//
// Locks: d.emu before p.mu, always — recording an evaluation needs d.emu
// (the engine's bookkeeping), so every path that may record one (record,
// drain) takes d.emu first. An evaluation that is held, or dropped, leaves
// the engine ahead of the store; while one is held no checkpoint is
// written with a late one, and one dropped (or lost at exit) marks the
// engine diverged, so that no checkpoint claims what the store lacks.
type evaluation struct {
	slot  time.Time
	found []chart.Alert
	keys  []chart.Key
}

type heldWrite struct {
	snap *chart.Snapshot // a snapshot to store, or
	eval *evaluation     // an evaluation to record
	size int
}

// pending holds the writes the store refused, in order.
type pending struct {
	d   *Daemon
	max int

	mu     sync.Mutex
	held   []heldWrite
	bytes  int
	snaps  int
	since  time.Time // when the store first refused the writes held now
	reason error     // its last refusal
	fault  storage.Fault
	// lostEval: an evaluation was dropped (see holdLocked).
	lostEval bool
	closed   bool

	kick chan struct{}
	// The retry goroutine (start, close), under lmu.
	lmu     sync.Mutex
	stop    context.CancelFunc
	done    chan struct{}
	stopped bool
}

func newPending(d *Daemon, max int) *pending {
	if max <= 0 {
		max = pendingMaxBytes
	}
	d.m.StoreWritable.Set(1)
	return &pending{d: d, max: max, kick: make(chan struct{}, 1)}
}

// storeSnapshot stores one snapshot of a sweep, or holds it while the
// store refuses writes. A held snapshot still reaches the status page and
// the sinks. It returns an error (counted by the sweep) when the store did
// not take it now.
func (d *Daemon) storeSnapshot(ctx context.Context, s *chart.Snapshot) error {
	stored, err := d.pending.save(ctx, s)
	switch {
	case stored:
		d.m.SnapshotsStored.Inc()
		d.status.Snapshot(s)
		return nil
	case err != nil:
		d.m.StoreWriteFailures.WithLabelValues(d.classify(err).String()).Inc()
		d.log.Error("embedded store refused a snapshot; it still goes to the sinks", "chart", s.Key().String(), "error", err)
		return err
	}
	d.status.Snapshot(s)
	return fmt.Errorf("held in memory: %w", d.pending.refusal())
}

// storeGroup is storeSnapshot for a group of a sweep's snapshots, stored
// in one transaction while they all go in (storage.SaveGroup). errs[i] is
// snapshot i's outcome: nil when stored, an error when refused for good or
// held in memory.
func (d *Daemon) storeGroup(ctx context.Context, group []chart.Snapshot) []error {
	stored, errs := d.pending.saveGroup(ctx, group)
	var heldErr error
	for i := range group {
		s := &group[i]
		switch {
		case stored[i]:
			d.m.SnapshotsStored.Inc()
			d.status.Snapshot(s)
		case errs[i] != nil:
			d.m.StoreWriteFailures.WithLabelValues(d.classify(errs[i]).String()).Inc()
			d.log.Error("embedded store refused a snapshot; it still goes to the sinks", "chart", s.Key().String(), "error", errs[i])
		default:
			d.status.Snapshot(s)
			if heldErr == nil {
				heldErr = fmt.Errorf("held in memory: %w", d.pending.refusal())
			}
			errs[i] = heldErr
		}
	}
	return errs
}

func (p *pending) refusal() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reason
}

// save stores s unless writes are held already, in which case, or when the
// store refuses it for a cause that may pass, s is held (stored false, err
// nil). An error is a refusal for good (an invalid snapshot).
func (p *pending) save(ctx context.Context, s *chart.Snapshot) (stored bool, err error) {
	if n, _ := p.counts(); n > 0 {
		p.drainBefore(ctx) // what is held goes first
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.saveLocked(ctx, s)
}

// saveGroup is save for a group: stored[i] and errs[i] are snapshot i's
// outcome, as save's.
func (p *pending) saveGroup(ctx context.Context, group []chart.Snapshot) (stored []bool, errs []error) {
	if n, _ := p.counts(); n > 0 {
		p.drainBefore(ctx) // what is held goes first
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	stored, errs = make([]bool, len(group)), make([]error, len(group))
	direct := len(p.held) == 0 // else the group waits behind what is held
	if direct {
		errs = storage.SaveGroup(ctx, p.d.db, group)
	}
	for i := range group {
		switch {
		case direct && errs[i] == nil:
			stored[i] = true
		case !direct || p.refused(errs[i]):
			// Behind a held write, or refused for a cause that may pass.
			s := group[i]
			p.holdLocked(heldWrite{snap: &s, size: snapshotSize(&s)})
			errs[i] = nil
		}
	}
	return stored, errs
}

func (p *pending) saveLocked(ctx context.Context, s *chart.Snapshot) (stored bool, err error) {
	if len(p.held) == 0 {
		err := p.d.db.SaveSnapshots(ctx, []chart.Snapshot{*s})
		if err == nil {
			return true, nil
		}
		if !p.refused(err) {
			return false, err
		}
	}
	p.holdLocked(heldWrite{snap: s, size: snapshotSize(s)})
	return false, nil
}

// record stores an evaluation (see Daemon.record), or holds it behind the
// writes held before it. Held, it returns no alerts and no error: they go
// out when it is written. The caller holds d.emu.
func (p *pending) record(ctx context.Context, ev evaluation) ([]chart.Alert, error) {
	p.mu.Lock()
	alerts := p.drainLocked(ctx)
	raised, err := p.recordLocked(ctx, ev)
	p.mu.Unlock()
	p.d.deliver(ctx, alerts)
	return raised, err
}

func (p *pending) recordLocked(ctx context.Context, ev evaluation) ([]chart.Alert, error) {
	if p.lostEval {
		p.d.alerts.diverged = true
	}
	if len(p.held) == 0 {
		raised, err := p.d.record(ctx, ev, !p.d.alerts.diverged)
		if err == nil {
			return raised, nil
		}
		if !p.refused(err) {
			p.d.alerts.diverged = true // the engine moved, the store did not
			return nil, err
		}
	}
	p.holdLocked(heldWrite{eval: &ev, size: 256 + 1024*len(ev.found) + 64*len(ev.keys)})
	p.d.log.Warn("alert evaluation held in memory: the embedded store refuses writes; its alerts go out once it is written", "slot", ev.slot, "alerts", len(ev.found))
	return nil, nil
}

// refused notes a refusal that may pass (the store is full, failing or
// busy), and reports whether err is one.
func (p *pending) refused(err error) bool {
	f := p.d.classify(err)
	if !f.Transient() {
		return false
	}
	p.d.m.StoreWriteFailures.WithLabelValues(f.String()).Inc()
	p.reason, p.fault = err, f
	if p.since.IsZero() {
		p.since = time.Now()
		p.d.m.StoreWritable.Set(0)
		p.d.log.Error("the embedded store refuses writes; holding them in memory until it takes them again: "+Advice(f), "reason", f.String(), "error", err, "data_dir", p.d.cfg.DataDir, "max_held", storage.Bytes(uint64(p.max)))
	}
	return true
}

func (p *pending) holdLocked(w heldWrite) {
	p.held = append(p.held, w)
	p.bytes += w.size
	if w.snap != nil {
		p.snaps++
	}
	for p.bytes > p.max && len(p.held) > 1 {
		i := 0
		for i < len(p.held)-1 && p.held[i].snap == nil {
			i++ // evaluations are small: drop snapshots first
		}
		old := p.held[i]
		p.held = append(p.held[:i], p.held[i+1:]...)
		p.bytes -= old.size
		p.d.m.StoreHeldDropped.Inc()
		if old.snap != nil {
			p.snaps--
			p.d.log.Error("snapshot lost: the embedded store still refuses writes and the memory held for them is full; the oldest held snapshot is dropped",
				"chart", old.snap.Key().String(), "slot", old.snap.Time, "max_held", storage.Bytes(uint64(p.max)))
		} else {
			p.lostEval = true
			p.d.log.Error("alert evaluation lost: the memory held for refused writes is full", "slot", old.eval.slot)
		}
	}
	p.gauges()
	p.wake()
}

// drainLocked writes the held writes in order until the store refuses one
// again, and returns the alerts of the evaluations it recorded (for the
// caller to deliver once the lock is released). The caller holds d.emu.
func (p *pending) drainLocked(ctx context.Context) []chart.Alert {
	return p.drainHeld(ctx, false)
}

// drainHeld is drainLocked; with snapshotsOnly it stops at the first held
// evaluation, and the caller need not hold d.emu.
func (p *pending) drainHeld(ctx context.Context, snapshotsOnly bool) []chart.Alert {
	var alerts []chart.Alert
	for len(p.held) > 0 {
		w := p.held[0]
		if snapshotsOnly && w.eval != nil {
			break
		}
		var err error
		if w.snap != nil {
			err = p.d.db.SaveSnapshots(ctx, []chart.Snapshot{*w.snap})
		} else {
			var raised []chart.Alert
			raised, err = p.d.record(ctx, *w.eval, false) // the engine is past it: no checkpoint
			alerts = append(alerts, raised...)
		}
		if err != nil && p.refused(err) {
			break
		}
		if err != nil {
			p.d.log.Error("a held write was refused for good; dropped", "error", err)
			p.d.m.StoreHeldDropped.Inc()
			if w.eval != nil {
				p.lostEval = true
				p.d.alerts.diverged = true
			}
		} else if w.snap != nil {
			p.d.m.SnapshotsStored.Inc()
		}
		p.held = p.held[1:]
		p.bytes -= w.size
		if w.snap != nil {
			p.snaps--
		}
	}
	if len(p.held) == 0 && !p.since.IsZero() {
		p.d.log.Info("the embedded store takes writes again; everything held is written", "refused_for", time.Since(p.since).Round(time.Second))
		p.since, p.reason = time.Time{}, nil
		p.d.m.StoreWritable.Set(1)
	}
	p.gauges()
	return alerts
}

func (p *pending) gauges() {
	p.d.m.StoreHeld.WithLabelValues("snapshots").Set(float64(p.snaps))
	p.d.m.StoreHeld.WithLabelValues("evaluations").Set(float64(len(p.held) - p.snaps))
	p.d.m.StoreHeldBytes.Set(float64(p.bytes))
}

func (p *pending) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// deliver sends the alerts of evaluations recorded late to the sinks.
func (d *Daemon) deliver(ctx context.Context, alerts []chart.Alert) {
	if len(alerts) > 0 {
		d.writeSinks(context.WithoutCancel(ctx), sinks.Batch{Alerts: alerts})
	}
}

// drain writes what is held now.
func (p *pending) drain(ctx context.Context) {
	p.d.emu.Lock()
	p.mu.Lock()
	alerts := p.drainLocked(ctx)
	p.mu.Unlock()
	p.d.emu.Unlock()
	p.d.deliver(ctx, alerts)
}

// drainBefore writes what is held ahead of a new snapshot. A sweep's own
// evaluation may hold the engine from its first snapshot on (stream.go):
// then only the held snapshots before the first held evaluation go here,
// and the rest when that evaluation is recorded (record drains under the
// engine's lock). Waiting for the lock would wait for this very sweep.
func (p *pending) drainBefore(ctx context.Context) {
	if !p.d.emu.TryLock() {
		p.mu.Lock()
		p.drainHeld(ctx, true)
		p.mu.Unlock()
		return
	}
	p.mu.Lock()
	alerts := p.drainLocked(ctx)
	p.mu.Unlock()
	p.d.emu.Unlock()
	p.d.deliver(ctx, alerts)
}

// start retries the held writes in the background until close.
func (p *pending) start() {
	p.lmu.Lock()
	defer p.lmu.Unlock()
	if p.stop != nil || p.stopped {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.stop, p.done = cancel, done
	go func() {
		defer close(done)
		delay := pendingRetryMin
		var retry <-chan time.Time // set while something is held
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.kick: // something was held
				if retry == nil {
					retry = time.After(delay)
				}
				continue
			case <-retry:
			}
			p.drain(ctx)
			retry = nil
			if n, _ := p.counts(); n > 0 {
				delay = min(delay*2, pendingRetryMax)
				retry = time.After(delay)
			} else {
				delay = pendingRetryMin
			}
		}
	}()
}

// close stops the retries, makes a last attempt, and reports what is lost
// (Daemon.Close calls it, before the engine's last checkpoint). It is
// idempotent.
func (p *pending) close(ctx context.Context) {
	p.lmu.Lock()
	p.stopped = true
	stop, done := p.stop, p.done
	p.stop = nil
	p.lmu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	if n, _ := p.counts(); n > 0 {
		p.drain(context.WithoutCancel(ctx))
	}
	p.d.emu.Lock()
	defer p.d.emu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lostEval || len(p.held) > p.snaps {
		p.d.alerts.diverged = true // no checkpoint of an engine ahead of the store
	}
	if len(p.held) == 0 || p.closed {
		return
	}
	p.closed = true
	p.d.m.StoreHeldDropped.Add(float64(len(p.held)))
	p.d.log.Error("snapshots lost: the embedded store still refuses writes and rankpulse is stopping; they reached the sinks but are not stored",
		"snapshots", p.snaps, "evaluations", len(p.held)-p.snaps, "reason", p.fault.String(), "error", p.reason)
}

// counts returns the writes held and the snapshots among them.
func (p *pending) counts() (writes, snapshots int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.held), p.snaps
}

// problem is /readyz's line while writes are held, or "".
func (p *pending) problem() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.held) == 0 {
		return ""
	}
	room := ""
	if sp, err := storage.FreeSpace(filepath.Dir(p.d.db.Location())); err == nil {
		room = fmt.Sprintf(" (%s on %s)", sp, p.d.cfg.DataDir)
	}
	return fmt.Sprintf("embedded store: refuses writes since %s: %s%s; %d snapshot(s) and %d evaluation(s) held in memory (%s of %s), written once it takes writes again (%s): %v",
		p.since.UTC().Format(time.RFC3339), p.fault, room, p.snaps, len(p.held)-p.snaps, storage.Bytes(uint64(p.bytes)), storage.Bytes(uint64(p.max)), Advice(p.fault), p.reason)
}

// Advice says what to do about a store that refuses writes for f.
func Advice(f storage.Fault) string {
	switch f {
	case storage.FaultFull:
		return "free space in data_dir, or give it more room; `rankpulse config check` shows the free space"
	case storage.FaultDamaged, storage.FaultNotADB:
		return "the database file is damaged: stop rankpulse, see `rankpulse db check`, and `rankpulse db recover --output F` copies what is readable into a fresh file to put in its place"
	case storage.FaultIO:
		return "the disk or filesystem fails: check the kernel log (dmesg) and the disk"
	case storage.FaultReadOnly:
		return "give rankpulse write access to data_dir"
	case storage.FaultBusy:
		return "another process holds the database: is another rankpulse running with the same data_dir?"
	}
	return "see the error"
}

// StoreFault is why the embedded store refuses writes (FaultNone while it
// takes them).
func (d *Daemon) StoreFault() storage.Fault {
	d.pending.mu.Lock()
	defer d.pending.mu.Unlock()
	if len(d.pending.held) == 0 {
		return storage.FaultNone
	}
	return d.pending.fault
}

// Held returns the snapshots held in memory that the embedded store has
// not taken yet.
func (d *Daemon) Held() int {
	_, n := d.pending.counts()
	return n
}

// StoreProblem says why the embedded store refuses writes ("" while it
// takes them).
func (d *Daemon) StoreProblem() string { return d.pending.problem() }

// snapshotSize estimates the memory a held snapshot takes.
func snapshotSize(s *chart.Snapshot) int {
	n := 256 + len(s.Source) + len(s.Error)
	for _, e := range s.Entries {
		n += 80 + len(e.AppID) + len(e.Name) + len(e.Developer) + len(e.Watch)
	}
	return n
}

// classify names why the store refused a write: on the embedded file, with
// the free space of its volume to tell a full disk from an I/O error.
func (d *Daemon) classify(err error) storage.Fault {
	if db, ok := d.db.(*storage.DB); ok {
		return db.Classify(err)
	}
	return storage.Classify(err)
}
