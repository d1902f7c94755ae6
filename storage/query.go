package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

// Point is one app's standing in one stored snapshot.
type Point struct {
	Time     time.Time
	Key      chart.Key
	Rank     int // 0: not in the snapshot
	Name     string
	Complete bool
	Depth    int
}

// Known reports what Rank means: a rank, "below Depth" (absent from a
// complete snapshot) or unknown (absent from an incomplete one).
func (p Point) Known() bool { return p.Rank > 0 || p.Complete }

// History returns an app's rank in every stored snapshot matching q (q.Store
// is set to store), in time order; an app never seen ranks 0 throughout.
func (d *DB) History(ctx context.Context, store, appID string, q Query) ([]Point, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, name FROM apps WHERE store = ? AND app_id = ?`, store, appID)
	if err != nil {
		return nil, fmt.Errorf("storage: history of %s: %w", appID, err)
	}
	names := map[int64]string{}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("storage: history of %s: %w", appID, err)
		}
		names[id] = name
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: history of %s: %w", appID, err)
	}
	q.Store = store
	var out []Point
	err = d.scan(ctx, q, func(r snapshotRow) error {
		packed, err := entries(ctx, d, &r)
		if err != nil {
			return q.corrupt(r, err)
		}
		p := Point{Time: time.Unix(r.slot, 0).UTC(), Key: r.key, Complete: r.complete, Depth: r.depth}
		for _, e := range packed {
			if name, ok := names[e.Ref]; ok {
				p.Rank, p.Name = e.Rank, name
				break
			}
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// Prune deletes snapshots older than before, and the interned apps no
// snapshot left refers to. It returns how many snapshots it deleted.
func (d *DB) Prune(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := d.WithTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM snapshots WHERE slot < ?`, before.Unix())
		if err != nil {
			return fmt.Errorf("storage: prune snapshots: %w", err)
		}
		n, _ = res.RowsAffected()
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE state != 'pending' AND created < ?`, before.UnixMilli()); err != nil {
			return fmt.Errorf("storage: prune outbox: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM alerts WHERE time < ? AND NOT EXISTS
			(SELECT 1 FROM outbox o WHERE o.alert_id = alerts.id AND o.revision = alerts.revision)`, before.Unix()); err != nil {
			return fmt.Errorf("storage: prune alerts: %w", err)
		}
		// An app's last_seen trails its newest reference by at most
		// lastSeenGranularity; keep a day more.
		if _, err := tx.ExecContext(ctx, `DELETE FROM apps WHERE last_seen < ?`, before.Unix()-2*lastSeenGranularity); err != nil {
			return fmt.Errorf("storage: prune apps: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	d.cmu.Lock()
	d.apps = map[appKey]appRef{}
	d.byRef = map[int64]appKey{}
	d.cmu.Unlock()
	return n, nil
}

// Stats describes what the store holds.
type Stats struct {
	Snapshots      int64
	Charts         int64
	Apps           int64
	Bytes          int64 // database file, WAL excluded
	Oldest, Newest time.Time
}

// Stats reads the store's size and range.
func (d *DB) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	var oldest, newest *int64
	var pages, pageSize int64
	err := d.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM snapshots), (SELECT count(*) FROM charts), (SELECT count(*) FROM apps),
		(SELECT min(slot) FROM snapshots), (SELECT max(slot) FROM snapshots)`).Scan(&st.Snapshots, &st.Charts, &st.Apps, &oldest, &newest)
	if err == nil {
		err = d.db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages)
	}
	if err == nil {
		err = d.db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize)
	}
	if err != nil {
		return st, fmt.Errorf("storage: stats: %w", err)
	}
	st.Bytes = pages * pageSize
	if oldest != nil {
		st.Oldest = time.Unix(*oldest, 0).UTC()
		st.Newest = time.Unix(*newest, 0).UTC()
	}
	return st, nil
}

// Checkpoint folds the WAL into the database file (for size measurements
// and before backups).
func (d *DB) Checkpoint(ctx context.Context) error {
	if _, err := d.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("storage: checkpoint: %w", err)
	}
	return nil
}
