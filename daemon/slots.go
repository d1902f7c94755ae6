package daemon

// This file is about what a slot lacks: the charts a stopped sweep never
// fetched, and the catch-up that sweeps them (and a slot never swept) at
// the next start.

import (
	"context"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/scrapers"
	"github.com/rankpulse/rankpulse/storage"
)

// catchUp runs at start for a job's current slot (the schedule's latest
// fire time): it sweeps, at that slot, the job's charts the embedded store
// has no snapshot of at the slot or later. A chart stored at the slot —
// complete, incomplete or unreadable — counts as swept, so a restart within
// the slot sweeps nothing again, and a sweep stopped midway is finished. So
// does a later snapshot (a `run --once` since the slot, or another job
// reading the same chart): storing an older one after it would feed the
// alert engine out of order.
func (d *Daemon) catchUp(ctx context.Context, job config.Job, slot time.Time) {
	if d.cl != nil {
		// Seeding is idempotent and claims take only what is open: a slot
		// the cluster swept already costs two queries.
		d.log.Info("joining the current slot's sweep", "job", job.Name, "slot", slot)
		d.clusterSweep(ctx, job, slot, nil)
		return
	}
	all := Requests(job)
	missing, err := d.unswept(ctx, slot, all)
	if err != nil {
		d.log.Error("catch-up skipped: the embedded store could not say what the current slot holds; the job waits for its next slot", "job", job.Name, "slot", slot, "error", err)
		return
	}
	total, n := 0, 0
	for store := range all {
		total += len(all[store])
		n += len(missing[store])
	}
	if n == 0 {
		d.log.Info("current slot already swept; waiting for the next one", "job", job.Name, "slot", slot, "charts", total)
		return
	}
	d.log.Info("catching up: sweeping the current slot now", "job", job.Name, "slot", slot, "charts", n, "of", total)
	d.sweep(ctx, job, slot, missing, nil)
}

// unswept returns the requests whose chart has no stored snapshot at slot
// or later.
func (d *Daemon) unswept(ctx context.Context, slot time.Time, requests map[string][]scrapers.Request) (map[string][]scrapers.Request, error) {
	out := map[string][]scrapers.Request{}
	for store, reqs := range requests {
		have := map[chart.Key]bool{}
		countries := map[string]bool{}
		q := storage.Query{Since: slot, Store: store, OnCorrupt: func(ce *storage.CorruptError) error {
			have[ce.Key] = true
			return nil
		}}
		for _, r := range reqs {
			if !countries[r.Country] {
				countries[r.Country] = true
				q.Countries = append(q.Countries, r.Country)
			}
		}
		latest, err := d.db.Latest(ctx, q)
		if err != nil {
			return nil, err
		}
		for i := range latest {
			have[latest[i].Key()] = true
		}
		for _, r := range reqs {
			if !have[r.Key] {
				out[store] = append(out[store], r)
			}
		}
	}
	return out, nil
}

// notFetched counts the requests that got no snapshot as failed. They are
// not stored: an empty snapshot, even an incomplete one, would be a fetch
// that never happened (and scrape health would blame the store for it).
func (s *Summary) notFetched(ctx context.Context, requests map[string][]scrapers.Request, fetched map[chart.Key]bool) {
	reason := "not fetched: the scraper returned no snapshot for it"
	if ctx.Err() != nil {
		reason = "not fetched: interrupted (rankpulse was stopping); nothing stored, the next run fetches it"
	}
	for _, store := range chart.Stores {
		for _, r := range requests[store] {
			if fetched[r.Key] {
				continue
			}
			s.Charts++
			s.Failed++
			s.NotFetched++
			if len(s.Errors) < maxExampleErrors {
				s.Errors = append(s.Errors, r.Key.String()+": "+reason)
			}
		}
	}
	s.Interrupted = s.NotFetched > 0 && ctx.Err() != nil
}
