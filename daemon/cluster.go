package daemon

// This file is the daemon as one instance of a cluster (storage.url set;
// the design is in package cluster): sweeps that claim their fetches, and
// joining and leaving the cluster. The evaluator is in evaluator.go, what an
// instance shows of the cluster in clusterstatus.go.

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/cluster"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/scheduler"
	"github.com/rankpulse/rankpulse/scrapers"
	"github.com/rankpulse/rankpulse/storage"
)

// leaderState is this instance's view of its leadership.
type leaderState struct {
	mu   sync.Mutex
	l    *cluster.Leadership
	last map[string]time.Time // per store, the latest slot this engine evaluated

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
	q := storage.Query{Since: slot, Until: slot.Add(time.Second), OnCorrupt: func(*storage.CorruptError) error { return nil }}
	err := d.db.Snapshots(ctx, q, func(s chart.Snapshot) error { // streamed: a slot can be large
		if !mine[s.Key()] {
			d.annotate(&s)
			d.status.Snapshot(&s)
		}
		return nil
	})
	if err != nil {
		d.log.Warn("the status page misses the slot's charts fetched by other instances", "slot", slot, "error", err)
	}
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
