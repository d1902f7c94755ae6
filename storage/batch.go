package storage

import (
	"context"

	"github.com/rankpulse/rankpulse/chart"
)

// SaveGroup stores snapshots as SaveSnapshots does, each on its own terms,
// but in one transaction while they all go in: a sweep's snapshots arrive
// faster than one commit per snapshot can follow. When the transaction fails
// (one snapshot invalid, a full disk, a damaged page) the group is saved
// again one transaction per snapshot, so that each snapshot gets its own
// verdict as before and a bad one does not take the others with it. errs[i]
// is snapshot i's error.
func (d *DB) SaveGroup(ctx context.Context, snaps []chart.Snapshot) (errs []error) {
	errs = make([]error, len(snaps))
	if len(snaps) == 0 {
		return errs
	}
	if len(snaps) > 1 && d.SaveSnapshots(ctx, snaps) == nil {
		return errs
	}
	for i := range snaps {
		errs[i] = d.SaveSnapshots(ctx, snaps[i:i+1])
	}
	return errs
}
