package daemon

// This file is the daemon as one instance of a cluster (storage.url set;
// the design is in package cluster): sweeps that claim their fetches, and
// the evaluator loop of the instance holding the evaluator lock.

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/cluster"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/scheduler"
	"github.com/rankpulse/rankpulse/scrapers"
	"github.com/rankpulse/rankpulse/sinks"
	"github.com/rankpulse/rankpulse/storage"
	"github.com/rankpulse/rankpulse/storage/postgres"
)

// leaderState is this instance's view of its leadership.
type leaderState struct {
	mu   sync.Mutex
	l    *cluster.Leadership
	last time.Time // the latest slot this engine evaluated

	smu    sync.Mutex
	status *cluster.Status // the last status read, for /readyz and the page
	read   time.Time
}

func (s *leaderState) leading() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.l != nil
}

// slotEnd is when a job's slot ends for the cluster: claims stop and the
// evaluator evaluates what is in. It is the job's next slot (or
// cluster.evaluate_after, if sooner), less a margin so that a sweep ends
// before its next slot fires (the scheduler skips a slot whose job is
// still running).
func (d *Daemon) slotEnd(job config.Job, slot time.Time) time.Time {
	next := slot.Add(time.Hour)
	if sched, err := scheduler.ParseSchedule(job.Schedule); err == nil {
		next = sched.Next(slot)
	}
	end := next
	if ea := d.cfg.Cluster.EvaluateAfter.D(); ea > 0 && slot.Add(ea).Before(end) {
		end = slot.Add(ea)
	}
	margin := min(next.Sub(slot)/20, 30*time.Second)
	return end.Add(-margin)
}

// batchSize is how many fetches of a store an instance claims at once:
// about a second and a half of its rate, at least two rounds of its
// concurrency. Small batches spread a slot over the instances and leave
// little to take over when one dies; each costs one claim query.
func (d *Daemon) batchSize(store string) int {
	if d.cfg.Cluster.Batch > 0 {
		return d.cfg.Cluster.Batch
	}
	f := d.cfg.Stores.AppStore.Fetch
	if store == chart.GooglePlay {
		f = d.cfg.Stores.GooglePlay.Fetch
	}
	return max(int(math.Ceil(f.Rate*1.5)), 2*f.Concurrency, 2)
}

// clusterSweep is Sweep on a cluster: it seeds the slot's fetches (a no-op
// when another instance did) and claims and fetches batches of them until
// none that this instance may claim is left open — those leased by others
// included, so that it finishes the charts of an instance that dies. The
// summary counts the charts this instance fetched. The evaluator
// evaluates the slot and writes the sinks.
func (d *Daemon) clusterSweep(ctx context.Context, job config.Job, slot time.Time, progress func(chart.Snapshot)) Summary {
	slot = chart.SlotTime(slot)
	sum := Summary{Job: job.Name, Slot: slot, Started: time.Now()}
	wctx := context.WithoutCancel(ctx)
	all := Requests(job)
	expires := d.slotEnd(job, slot)
	for store, reqs := range all {
		if err := d.cl.Seed(wctx, job.Name, slot, expires, reqs); err != nil {
			d.log.Error("cannot seed the slot's fetches; the other instances may have; claiming what is there", "job", job.Name, "store", store, "error", err)
			sum.StoreErrs++
		}
	}
	var mu sync.Mutex
	mine := map[chart.Key]bool{}
	var wg sync.WaitGroup
	for store := range all {
		sc, ok := d.scrapers[store]
		if !ok || !d.cl.MayClaimStore(store) {
			continue
		}
		wg.Go(func() {
			d.claimLoop(ctx, sc, slot, expires, func(s *chart.Snapshot, stored bool) {
				mu.Lock()
				defer mu.Unlock()
				if !stored {
					sum.StoreErrs++
				} else {
					mine[s.Key()] = true
				}
				sum.count(s)
				if progress != nil {
					progress(*s)
				}
			}, func(n int, reason string) {
				mu.Lock()
				defer mu.Unlock()
				sum.Charts += n
				sum.Failed += n
				sum.NotFetched += n
				if len(sum.Errors) < maxExampleErrors {
					sum.Errors = append(sum.Errors, reason)
				}
			})
		})
	}
	wg.Wait()
	sum.Interrupted = sum.NotFetched > 0 && ctx.Err() != nil
	sum.Duration = time.Since(sum.Started)
	d.feedStatus(wctx, slot, mine)
	d.finish(ctx, sum)
	return sum
}

// claimLoop claims and fetches one store's fetches of a slot until none
// this instance may claim is open, the slot ends or ctx is cancelled (the
// claims not fetched then are given back).
func (d *Daemon) claimLoop(ctx context.Context, sc scrapers.Scraper, slot, expires time.Time, got func(*chart.Snapshot, bool), gaveBack func(int, string)) {
	store := sc.Store()
	wctx := context.WithoutCancel(ctx)
	poll := d.cfg.Cluster.Heartbeat.D()
	for ctx.Err() == nil && time.Now().Before(expires) {
		tasks, err := d.cl.Claim(ctx, store, slot, d.batchSize(store))
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("claiming failed; retrying", "store", store, "error", err)
				sleep(ctx, poll)
			}
			continue
		}
		if len(tasks) == 0 {
			open, nextFree, err := d.cl.Remaining(ctx, store, slot)
			if err == nil && open == 0 {
				return
			}
			wait := poll
			if !nextFree.IsZero() {
				wait = min(wait, time.Until(nextFree)+50*time.Millisecond)
			}
			sleep(ctx, min(max(wait, 50*time.Millisecond), time.Until(expires)))
			continue
		}
		reqs := make([]scrapers.Request, len(tasks))
		for i, t := range tasks {
			reqs[i] = t.Request
		}
		fetched := map[chart.Key]bool{}
		sc.Sweep(ctx, slot, reqs, func(s chart.Snapshot) {
			if scrapers.IsNotFetched(&s) {
				return
			}
			d.annotate(&s)
			_, err := d.cl.Complete(wctx, &s)
			fetched[s.Key()] = true
			if err != nil {
				d.log.Error("the store refused a fetched chart; its claim runs out and another instance fetches it", "chart", s.Key().String(), "error", err)
			} else {
				d.m.SnapshotsStored.Inc()
				d.m.ClusterClaimed.WithLabelValues(store).Inc()
				d.status.Snapshot(&s)
			}
			got(&s, err == nil)
		})
		var left []scrapers.Request
		for _, r := range reqs {
			if !fetched[r.Key] {
				left = append(left, r)
			}
		}
		if len(left) > 0 {
			if err := d.cl.Release(wctx, slot, left); err != nil {
				d.log.Warn("claims not given back; they are free once their leases run out", "error", err)
			}
			gaveBack(len(left), left[0].Key.String()+": not fetched: interrupted (rankpulse was stopping); given back to the cluster")
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// feedStatus hands the status page the slot's charts that other instances
// fetched, once the slot is done, so that every instance's page shows the
// whole cluster.
func (d *Daemon) feedStatus(ctx context.Context, slot time.Time, mine map[chart.Key]bool) {
	evaluated, pending, err := d.pg.SlotSnapshots(ctx, slot)
	if err != nil {
		d.log.Warn("the status page misses the slot's charts fetched by other instances", "slot", slot, "error", err)
		return
	}
	for _, list := range [][]chart.Snapshot{evaluated, pending} {
		for i := range list {
			if !mine[list[i].Key()] {
				d.annotate(&list[i])
				d.status.Snapshot(&list[i])
			}
		}
	}
}

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
	d.leader.last = time.Time{}
	d.alerts.lastSeq, d.alerts.checkpointSeq, d.alerts.lastCheckpoint, d.alerts.diverged = 0, 0, time.Time{}, false
	onCorrupt := func(ce *storage.CorruptError) error {
		d.log.Error("a stored snapshot cannot be read; the alert engine goes on without it", "error", ce)
		return nil
	}
	feed := func(slot time.Time, snaps []chart.Snapshot) {
		if slot.Before(d.leader.last) {
			return // a late read: its evaluator did not feed it either (see evaluateSlot)
		}
		for i := range snaps {
			d.annotate(&snaps[i])
		}
		d.engine.Evaluate(slot, snaps)
		if slot.After(d.leader.last) {
			d.leader.last = slot
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
				evaluated, _, err := d.pg.SlotSnapshots(ctx, si.Slot)
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

// evaluateReady evaluates, in slot order, every slot whose fetches are
// all in (or whose time ran out), stopping at the first still being
// fetched.
func (d *Daemon) evaluateReady(ctx context.Context, l *cluster.Leadership) error {
	slots, err := cluster.SlotsToEvaluate(ctx, d.pg.Pool())
	if err != nil {
		return err
	}
	d.m.AlertEvaluationLag.Set(float64(len(slots)))
	for _, slot := range slots {
		st, err := cluster.ReadySlot(ctx, d.pg.Pool(), slot)
		if err != nil {
			return err
		}
		if st.Open > 0 {
			return nil
		}
		if err := d.evaluateSlot(ctx, l, slot); err != nil {
			return err
		}
	}
	return nil
}

// evaluateSlot evaluates a slot's snapshots not yet evaluated and, in one
// transaction on the lock's connection, stores the alerts, queues them,
// marks the snapshots evaluated and expires the slot's unfetched tasks;
// the snapshots and alerts go to the sinks just before the commit (see
// package cluster). A slot older than one this engine already evaluated
// (a late read) is written and marked, not fed to the engine, which reads
// each chart in time order.
func (d *Daemon) evaluateSlot(ctx context.Context, l *cluster.Leadership, slot time.Time) error {
	_, pending, err := d.pg.SlotSnapshots(ctx, slot)
	if err != nil {
		return err
	}
	for i := range pending {
		d.annotate(&pending[i])
	}
	d.emu.Lock()
	defer d.emu.Unlock()
	var found []chart.Alert
	late := slot.Before(d.leader.last)
	if !late && len(pending) > 0 {
		found = d.engine.Evaluate(slot, pending)
		d.leader.last = slot
	}
	var raised []chart.Alert
	var expired, seq int64
	err = d.pg.UpdateOn(ctx, l.Conn, func(tx *postgres.Tx) error {
		var err error
		if raised, seq, err = d.record(ctx, tx, slot, found, pending); err != nil {
			return err
		}
		if !late && !d.alerts.diverged && time.Since(d.alerts.lastCheckpoint) >= d.alerts.every {
			if err := d.saveState(ctx, tx, seq); err != nil {
				return err
			}
		}
		if expired, err = cluster.ExpireSlot(ctx, tx.PgTx(), slot); err != nil {
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
	d.log.Info("slot evaluated for the cluster", "slot", slot, "charts", len(pending), "alerts", len(raised), "expired_unfetched", expired, "late", late)
	return nil
}

// clusterOnce is Once on a cluster: each job's current slot (the latest
// fire time of its schedule, which every instance agrees on) is swept by
// claiming; then, if no other instance holds the evaluator lock, this one
// evaluates what is ready and makes one delivery pass.
func (d *Daemon) clusterOnce(ctx context.Context) []Summary {
	if err := d.cl.Start(ctx); err != nil {
		d.log.Error("cannot join the cluster", "error", err)
		return nil
	}
	defer d.cl.Stop(context.WithoutCancel(ctx))
	var mu sync.Mutex
	var out []Summary
	var wg sync.WaitGroup
	for _, job := range d.cfg.Jobs {
		slot := chart.SlotTime(time.Now())
		if sched, err := scheduler.ParseSchedule(job.Schedule); err == nil {
			slot = scheduler.Prev(sched, time.Now())
		}
		wg.Go(func() {
			s := d.clusterSweep(ctx, job, slot, nil)
			mu.Lock()
			out = append(out, s)
			mu.Unlock()
		})
	}
	wg.Wait()
	wctx := context.WithoutCancel(ctx)
	tctx, cancel := context.WithTimeout(wctx, 2*d.cfg.Cluster.Heartbeat.D())
	l, err := d.cl.Campaign(tctx, d.cfg.Cluster.Heartbeat.D())
	cancel()
	if err == nil {
		if err := d.rebuildClusterEngine(wctx); err == nil {
			if err := d.evaluateReady(wctx, l); err != nil {
				d.log.Error("evaluation not recorded; the next evaluator retries it", "error", err)
			}
		}
		d.flush(wctx)
		l.Close(wctx)
	} else {
		d.log.Info("another instance evaluates the cluster's alerts; not evaluating here")
		for _, s := range d.sinks {
			s.Flush(wctx)
		}
	}
	return out
}

// startCluster joins the cluster (its heartbeat), starts campaigning for
// the evaluator lock and keeps the cluster's status fresh; the function it
// returns stops all three, giving back the claims not fetched.
func (d *Daemon) startCluster(ctx context.Context, addr string) (stop func(), err error) {
	if d.cl == nil {
		return func() {}, nil
	}
	if err := d.cl.Start(ctx); err != nil {
		return nil, err
	}
	if addr != "" {
		d.cl.SetAddr(ctx, addr)
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { d.lead(lctx) })
	wg.Go(func() { d.watchCluster(lctx) })
	return func() {
		cancel()
		wg.Wait()
		d.cl.Stop(context.WithoutCancel(ctx))
	}, nil
}

// statusSlots is how many recent slots the cluster status covers.
const statusSlots = 3

// watchCluster reads the cluster's status every heartbeat for /metrics,
// /readyz and the status page, and hands the status page the alerts the
// evaluator (maybe another instance) raised.
func (d *Daemon) watchCluster(ctx context.Context) {
	seen := map[string]bool{}
	t := time.NewTicker(d.cfg.Cluster.Heartbeat.D())
	defer t.Stop()
	for {
		if st, err := d.ClusterStatus(ctx); err == nil {
			d.exportCluster(st)
		}
		if !d.leader.leading() {
			if as, err := d.db.Alerts(ctx, storage.AlertQuery{Limit: 50}); err == nil {
				var fresh []chart.Alert
				for _, a := range as {
					if id := a.ID + "/" + strconv.Itoa(a.Revision); !seen[id] {
						seen[id] = true
						fresh = append(fresh, a)
					}
				}
				d.status.Alerts(fresh)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ClusterStatus reads the cluster's status (nil without a cluster).
func (d *Daemon) ClusterStatus(ctx context.Context) (*cluster.Status, error) {
	if d.cl == nil {
		return nil, nil
	}
	st, err := cluster.ReadStatus(ctx, d.pg.Pool(), d.cfg.Cluster.Lease.D(), statusSlots)
	if err != nil {
		return nil, err
	}
	d.leader.smu.Lock()
	d.leader.status, d.leader.read = &st, time.Now()
	d.leader.smu.Unlock()
	return &st, nil
}

// lastClusterStatus is the status read last (nil if none yet).
func (d *Daemon) lastClusterStatus() *cluster.Status {
	d.leader.smu.Lock()
	defer d.leader.smu.Unlock()
	return d.leader.status
}

func (d *Daemon) exportCluster(st *cluster.Status) {
	m := d.m
	counts := map[string]float64{"alive": 0, "dead": 0, "stopped": 0}
	m.ClusterLeases.Reset()
	m.ClusterFetched.Reset()
	for _, in := range st.Instances {
		switch {
		case in.Stopped:
			counts["stopped"]++
		case in.Alive:
			counts["alive"]++
		default:
			counts["dead"]++
		}
		if !in.Stopped {
			m.ClusterLeases.WithLabelValues(in.Name).Set(float64(in.Leases))
			m.ClusterFetched.WithLabelValues(in.Name).Set(float64(in.Fetched))
		}
	}
	for k, v := range counts {
		m.ClusterInstances.WithLabelValues(k).Set(v)
	}
	if len(st.Slots) > 0 {
		s := st.Slots[0]
		for k, v := range map[string]int{"open": s.Open, "leased": s.Leased, "done": s.Done, "expired": s.Expired} {
			m.ClusterSlot.WithLabelValues(k).Set(float64(v))
		}
	}
}

// clusterReady adds the cluster to a readiness answer: its status, and a
// problem when no instance has held the evaluator lock for a while (alerts
// then wait) or this instance's heartbeat is not being recorded.
func (d *Daemon) clusterReady(ctx context.Context, r *Readiness) {
	st, err := d.ClusterStatus(ctx)
	if err != nil {
		r.Ready = false
		r.Problems = append(r.Problems, "cluster: "+err.Error())
		return
	}
	r.Cluster = st
	grace := 2 * d.cfg.Cluster.Lease.D()
	if st.Leader == "" && time.Since(d.started) > grace {
		r.Ready = false
		r.Problems = append(r.Problems, "cluster: no instance holds the evaluator lock: alerts are not evaluated and webhooks not delivered until one does")
	}
	for _, in := range st.Instances {
		if in.Name == d.cl.Name() && !in.Alive && time.Since(d.started) > grace {
			r.Ready = false
			r.Problems = append(r.Problems, "cluster: this instance's heartbeat is not recorded: its claims run out and others take them")
		}
	}
}

// record stores an evaluation's alerts (returning those not stored
// before), queues them for the webhooks and marks the snapshots evaluated
// as one evaluation (returning its number), in the caller's transaction.
func (d *Daemon) record(ctx context.Context, tx storage.WriteTx, slot time.Time, found []chart.Alert, snaps []chart.Snapshot) ([]chart.Alert, int64, error) {
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
