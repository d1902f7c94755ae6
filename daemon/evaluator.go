package daemon

// The evaluator of a cluster: the instance holding the evaluator lock
// rebuilds the alert engine, evaluates each slot once its fetches are in,
// writes the sinks and delivers the webhooks (see package cluster).

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/cluster"
	"github.com/rankpulse/rankpulse/sinks"
	"github.com/rankpulse/rankpulse/storage"
	"github.com/rankpulse/rankpulse/storage/postgres"
)

// lead campaigns for the evaluator lock until ctx ends, and evaluates
// while it holds it.
func (d *Daemon) lead(ctx context.Context) {
	for ctx.Err() == nil {
		l, err := d.cl.Campaign(ctx, d.cfg.Cluster.Heartbeat.D())
		if err != nil {
			return
		}
		d.log.Info("this instance now evaluates alerts, writes the sinks and delivers webhooks for the cluster")
		d.m.ClusterLeader.Set(1)
		err = d.whileLeading(ctx, l)
		d.m.ClusterLeader.Set(0)
		l.Close(ctx)
		if ctx.Err() == nil {
			d.log.Warn("evaluator lock lost; campaigning again", "error", err)
		}
	}
}

func (d *Daemon) whileLeading(ctx context.Context, l *cluster.Leadership) error {
	d.leader.mu.Lock()
	d.leader.l = l
	d.leader.mu.Unlock()
	defer func() {
		d.leader.mu.Lock()
		d.leader.l = nil
		d.leader.mu.Unlock()
	}()
	if err := d.rebuildClusterEngine(ctx); err != nil {
		return err
	}
	d.hooks.Start(ctx)
	defer d.hooks.Stop()
	tick := time.NewTicker(d.cfg.Cluster.Heartbeat.D())
	defer tick.Stop()
	for {
		if err := l.Check(ctx); err != nil {
			return err
		}
		if err := d.evaluateReady(ctx, l); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// rebuildClusterEngine gives the new evaluator the engine its
// predecessor had: a fresh engine loaded from the stored checkpoint (when
// it was written under the same settings) and fed, silently and in the
// order they were made, the evaluations numbered after it — or, without a
// usable checkpoint, every evaluated slot of the engine's horizon.
func (d *Daemon) rebuildClusterEngine(ctx context.Context) error {
	start := time.Now()
	d.emu.Lock()
	defer d.emu.Unlock()
	d.engine = alerts.New(d.cfg.Alerts, d.cfg.WatchIndex())
	d.leader.last = map[string]time.Time{}
	d.alerts.lastSeq, d.alerts.checkpointSeq, d.alerts.lastCheckpoint, d.alerts.diverged = 0, 0, time.Time{}, false
	onCorrupt := func(ce *storage.CorruptError) error {
		d.log.Error("a stored snapshot cannot be read; the alert engine goes on without it", "error", ce)
		return nil
	}
	feed := func(slot time.Time, snaps []chart.Snapshot) {
		for _, store := range chart.Stores {
			var of []chart.Snapshot
			for i := range snaps {
				if snaps[i].Store == store {
					d.annotate(&snaps[i])
					of = append(of, snaps[i])
				}
			}
			// A late read was not fed by its evaluator either (see
			// evaluateSlot).
			if len(of) == 0 || slot.Before(d.leader.last[store]) {
				continue
			}
			d.engine.Evaluate(slot, of)
			d.leader.last[store] = slot
		}
	}
	st, ok, err := d.db.EngineState(ctx)
	if err != nil {
		return err
	}
	from, mode := int64(0), "replay of the horizon"
	if ok && st.Fingerprint == d.alerts.fingerprint {
		if err := d.engine.UnmarshalBinary(st.State); err == nil {
			from, mode = st.Seq, "checkpoint"
			d.alerts.lastSeq, d.alerts.checkpointSeq, d.alerts.lastCheckpoint = st.Seq, st.Seq, time.Now()
		} else {
			d.log.Warn("the alert engine's checkpoint cannot be read; the engine is rebuilt from the history", "error", err)
			d.engine = alerts.New(d.cfg.Alerts, d.cfg.WatchIndex())
		}
	}
	replayed := 0
	if mode == "checkpoint" {
		err = d.db.EvaluatedAfter(ctx, from, onCorrupt, func(ev storage.Evaluation) error {
			feed(ev.Slot, ev.Snapshots)
			d.alerts.lastSeq = ev.Seq
			replayed++
			return ctx.Err()
		})
	} else {
		var slots []storage.SlotInfo
		if slots, err = d.db.Slots(ctx, d.horizon()); err == nil {
			for _, si := range slots {
				evaluated, _, err := d.pg.SlotSnapshots(ctx, si.Slot, "")
				if err != nil {
					return err
				}
				if len(evaluated) > 0 {
					feed(si.Slot, evaluated)
					replayed++
				}
			}
			d.alerts.lastSeq, err = d.db.LastEvalSeq(ctx)
		}
	}
	if err != nil {
		return err
	}
	d.log.Info("alert engine rebuilt from the cluster's store", "from", mode, "evaluations_replayed", replayed, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// evaluateReady evaluates, store by store and in slot order, every slot
// whose fetches of the store are all in (or whose time ran out); a store
// stops at its first slot still being fetched, the other goes on (an hour
// of Google Play at 1 request a second does not hold back the App Store's
// alerts). What the engine judges across charts — multi-country surges,
// removals — is within a store, and one store at a time is half the
// memory.
func (d *Daemon) evaluateReady(ctx context.Context, l *cluster.Leadership) error {
	slots, err := cluster.SlotsToEvaluate(ctx, d.pg.Pool())
	if err != nil {
		return err
	}
	d.m.AlertEvaluationLag.Set(float64(len(slots)))
	blocked := map[string]bool{}
	for _, slot := range slots {
		for _, store := range chart.Stores {
			if blocked[store] {
				continue
			}
			st, err := cluster.ReadySlot(ctx, d.pg.Pool(), slot, store)
			if err != nil {
				return err
			}
			if st.Open > 0 {
				blocked[store] = true
				continue
			}
			if err := d.evaluateSlot(ctx, l, slot, store); err != nil {
				return err
			}
		}
	}
	return nil
}

// evaluateSlot evaluates a slot's snapshots of a store not yet evaluated
// and, in one
// transaction on the lock's connection, stores the alerts, queues them,
// marks the snapshots evaluated and expires the slot's unfetched tasks;
// the snapshots and alerts go to the sinks just before the commit (see
// package cluster). A slot older than one this engine already evaluated
// (a late read) is written and marked, not fed to the engine, which reads
// each chart in time order.
func (d *Daemon) evaluateSlot(ctx context.Context, l *cluster.Leadership, slot time.Time, store string) error {
	_, pending, err := d.pg.SlotSnapshots(ctx, slot, store)
	if err != nil {
		return err
	}
	if len(pending) == 0 { // nothing to evaluate: only its unfetched tasks to expire
		return pgx.BeginFunc(ctx, l.Conn, func(tx pgx.Tx) error {
			n, err := cluster.ExpireSlot(ctx, tx, slot, store)
			if n > 0 {
				d.log.Warn("slot ended with charts nobody fetched", "slot", slot, "store", store, "expired_unfetched", n)
			}
			return err
		})
	}
	for i := range pending {
		d.annotate(&pending[i])
	}
	d.emu.Lock()
	defer d.emu.Unlock()
	var found []chart.Alert
	late := slot.Before(d.leader.last[store])
	if !late {
		found = d.engine.Evaluate(slot, pending)
		d.leader.last[store] = slot
	}
	var raised []chart.Alert
	var expired, seq int64
	err = d.pg.UpdateOn(ctx, l.Conn, func(tx *postgres.Tx) error {
		var err error
		if raised, seq, err = d.recordIn(ctx, tx, slot, found, pending); err != nil {
			return err
		}
		if !late && !d.alerts.diverged && time.Since(d.alerts.lastCheckpoint) >= d.alerts.every {
			if err := d.saveState(ctx, tx, seq); err != nil {
				return err
			}
		}
		if expired, err = cluster.ExpireSlot(ctx, tx.PgTx(), slot, store); err != nil {
			return err
		}
		d.writeSinks(ctx, sinks.Batch{Snapshots: pending, Alerts: raised})
		if len(raised) > 0 {
			failpoint("cluster.evaluate.before-commit")
		}
		return nil
	})
	if err != nil {
		d.alerts.diverged = true // the engine moved, the store did not: rebuilt at the next lead
		return err
	}
	if !late {
		d.alerts.lastSeq = seq
	}
	d.announce(ctx, raised)
	d.log.Info("slot evaluated for the cluster", "slot", slot, "store", store, "charts", len(pending), "alerts", len(raised), "expired_unfetched", expired, "late", late)
	return nil
}

// recordIn stores an evaluation's alerts (returning those not stored
// before), queues them for the webhooks and marks the snapshots evaluated
// as one evaluation (returning its number), in the caller's transaction.
func (d *Daemon) recordIn(ctx context.Context, tx storage.WriteTx, slot time.Time, found []chart.Alert, snaps []chart.Snapshot) ([]chart.Alert, int64, error) {
	var raised []chart.Alert
	for i := range found {
		isNew, err := tx.SaveAlert(ctx, &found[i])
		if err != nil {
			return nil, 0, err
		}
		if isNew {
			raised = append(raised, found[i])
		}
	}
	if err := d.hooks.Enqueue(ctx, tx, raised); err != nil {
		return nil, 0, err
	}
	keys := make([]chart.Key, len(snaps))
	for i := range snaps {
		keys[i] = snaps[i].Key()
	}
	seq, err := tx.MarkEvaluated(ctx, slot, keys)
	return raised, seq, err
}

// announce tells the webhooks, the status page, the metrics and the log
// about committed alerts.
func (d *Daemon) announce(ctx context.Context, raised []chart.Alert) {
	if len(raised) > 0 {
		d.hooks.Notify()
	}
	d.status.Alerts(raised)
	for _, a := range raised {
		d.m.Alerts.WithLabelValues(a.Kind, a.Severity).Inc()
		level := slog.LevelWarn
		if a.Severity == chart.SeverityCritical {
			level = slog.LevelError
		}
		d.log.Log(ctx, level, "alert: "+a.Summary, "kind", a.Kind, "id", a.ID, "store", a.Store, "country", a.CountryCode(), "app_id", a.AppID, "watch", a.WatchName())
	}
}
