package daemon

// What a cluster instance shows of the cluster: its status for /readyz,
// /metrics and the status page, and the alerts another instance raised.

import (
	"context"
	"strconv"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/cluster"
	"github.com/rankpulse/rankpulse/storage"
)

// statusSlots is how many recent slots the cluster status covers.
const statusSlots = 3

// watchCluster reads the cluster's status every heartbeat for /metrics,
// /readyz and the status page, and hands the status page the alerts the
// evaluator (maybe another instance) raised.
func (d *Daemon) watchCluster(ctx context.Context) {
	seen := map[string]bool{}
	// The status reads the latest slots' tasks: every 15 s at most, per
	// instance (/readyz reads it afresh when asked).
	t := time.NewTicker(max(d.cfg.Cluster.Heartbeat.D(), 15*time.Second))
	defer t.Stop()
	for {
		d.ClusterStatus(ctx) // a failure shows on /readyz
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

// ClusterStatus reads the cluster's status (nil without a cluster), for
// the status page and /metrics too.
func (d *Daemon) ClusterStatus(ctx context.Context) (*cluster.Status, error) {
	if d.cl == nil {
		return nil, nil
	}
	st, err := cluster.ReadStatus(ctx, d.pg.Pool(), d.cfg.Cluster.Lease.D(), statusSlots)
	if err != nil {
		return nil, err
	}
	d.leader.smu.Lock()
	defer d.leader.smu.Unlock()
	d.leader.status, d.leader.read = &st, time.Now()
	d.exportCluster(&st) // under smu: one export at a time
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
