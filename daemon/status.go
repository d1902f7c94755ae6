package daemon

import (
	"context"
	"fmt"
	"strings"

	"github.com/rankpulse/rankpulse/daemon/statuspage"
)

// The status pages (SPEC §7 `/`) live in daemon/statuspage. The daemon
// hands them every snapshot it stores and every alert it raises; they ask
// the daemon for its jobs and readiness through statusInfo.

func (d *Daemon) newStatusPage() *statuspage.Page {
	return statuspage.New(d.cfg, d.db, statusInfo{d}, statuspage.Options{Version: d.version, Started: d.started, Logger: d.log})
}

// StatusPage returns the status pages.
func (d *Daemon) StatusPage() *statuspage.Page { return d.status }

type statusInfo struct{ d *Daemon }

// Jobs reports each configured job's last sweep and next run.
func (s statusInfo) Jobs() []statuspage.Job {
	last := map[string]Summary{}
	for _, sum := range s.d.LastSweeps() {
		last[sum.Job] = sum
	}
	s.d.mu.Lock()
	sched := s.d.sched
	s.d.mu.Unlock()
	out := make([]statuspage.Job, 0, len(s.d.cfg.Jobs))
	for _, job := range s.d.cfg.Jobs {
		j := statuspage.Job{Name: job.Name, Schedule: job.Schedule, Sweeping: s.d.jobSweeping(job.Name)}
		if sched != nil {
			j.Next = sched.Next(job.Name)
		}
		if sum, ok := last[job.Name]; ok {
			j.Last = &statuspage.Sweep{Slot: sum.Slot, Duration: sum.Duration, Charts: sum.Charts, Complete: sum.Complete,
				Incomplete: sum.Incomplete, Failed: sum.Failed, StoreErrs: sum.StoreErrs, Alerts: sum.Alerts,
				Errors: sum.Errors[:min(len(sum.Errors), maxExampleErrors)]}
		}
		out = append(out, j)
	}
	return out
}

func (s statusInfo) Ready(ctx context.Context) (bool, []string) {
	r := s.d.Ready(ctx)
	return r.Ready, r.Problems
}

// Cluster is the cluster as the status page's header shows it (nil without
// storage.url): the status the daemon read last.
func (s statusInfo) Cluster() *statuspage.Cluster {
	if s.d.cl == nil {
		return nil
	}
	st := s.d.lastClusterStatus()
	if st == nil {
		return &statuspage.Cluster{}
	}
	out := &statuspage.Cluster{Leader: st.Leader}
	for _, in := range st.Instances {
		claims := "any"
		if len(in.Stores)+len(in.Countries) > 0 {
			claims = strings.Join(append(append([]string{}, in.Stores...), in.Countries...), ", ")
		}
		out.Instances = append(out.Instances, statuspage.ClusterInstance{Name: in.Name, State: in.State(), Role: in.Role(), Claims: claims,
			Leases: in.Leases, Fetched: in.Fetched, Self: in.Name == s.d.cl.Name()})
	}
	if len(st.Slots) > 0 {
		sl := st.Slots[0]
		out.Slot = fmt.Sprintf("latest slot %s: %d of %d charts done, %d leased, %d open, %d expired",
			sl.Slot.Format("15:04:05 UTC"), sl.Done, sl.Total(), sl.Leased, sl.Open, sl.Expired)
	}
	return out
}
