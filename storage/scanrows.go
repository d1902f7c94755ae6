package storage

// This file is how a read gets past damaged pages: the snapshots it cannot
// read in one query it reads one by one, listed by the table's primary-key
// index (an index keeps pages of its own), and app rows likewise.

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// damaged reports whether err is SQLite finding the file malformed.
func damaged(err error) bool {
	f := Classify(err)
	return f == FaultDamaged || f == FaultNotADB
}

// scanRows goes on with scan past a damaged page: it lists the rows after
// (lastSlot, lastChart) from the primary-key index and reads each alone,
// without the charts join (its key comes from the charts index if need
// be). A row that cannot be read reaches fn as unreadable (r.bad), so that
// it is named, and the scan goes on.
func (d *DB) scanRows(ctx context.Context, q Query, lastSlot, lastChart any, fn func(snapshotRow) error) error {
	conds := []string{"(slot > ? OR (slot = ? AND chart_id > ?))"}
	var args []any
	if !q.Since.IsZero() {
		conds = append(conds, "slot >= ?")
		args = append(args, q.Since.Unix())
	}
	if !q.Until.IsZero() {
		conds = append(conds, "slot < ?")
		args = append(args, q.Until.Unix())
	}
	for {
		rows, err := d.db.QueryContext(ctx, `SELECT slot, chart_id, rowid FROM snapshots INDEXED BY sqlite_autoindex_snapshots_1
			WHERE `+strings.Join(conds, " AND ")+` ORDER BY slot, chart_id LIMIT ?`,
			append(append([]any{lastSlot, lastSlot, lastChart}, args...), scanPage)...)
		if err != nil {
			return d.readError("query snapshots", err)
		}
		type ref struct {
			slot, chart any
			rowid       int64
		}
		var page []ref
		for rows.Next() {
			var r ref
			if err := rows.Scan(&r.slot, &r.chart, &r.rowid); err != nil {
				rows.Close()
				return d.readError("read snapshots", err)
			}
			page = append(page, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return d.readError("read snapshots (their index is damaged too)", err)
		}
		for _, p := range page {
			r := d.readRow(ctx, p.rowid, p.slot, p.chart)
			lastSlot, lastChart = p.slot, p.chart
			if !q.matches(r) {
				continue
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < scanPage {
			return nil
		}
	}
}

// readRow reads one snapshot row by rowid; one that cannot be read comes
// back unreadable (r.bad), with its slot and chart as the index has them.
func (d *DB) readRow(ctx context.Context, rowid int64, slot, chartID any) snapshotRow {
	rows, err := d.db.QueryContext(ctx, `SELECT NULL, NULL, NULL, NULL, slot, chart_id, source, complete, depth, duration_ms, error, entries
		FROM snapshots WHERE rowid = ?`, rowid)
	var r snapshotRow
	if err == nil {
		if rows.Next() {
			var raw any
			r, raw, _, err = scanSnapshot(rows)
			if err == nil && raw != slot {
				r.bad = fmt.Errorf("its slot %v is not the one its index holds (%v)", raw, slot)
			}
		} else {
			err = rows.Err()
			if err == nil {
				err = fmt.Errorf("its row (rowid %d) is not in the table", rowid)
			}
		}
		rows.Close()
	}
	if err != nil {
		r = snapshotRow{lostChart: true, bad: fmt.Errorf("its row cannot be read: %w", err)}
		r.slot, _ = slot.(int64)
		r.chartID, _ = chartID.(int64)
	}
	r.lostChart = true
	if k, ok := d.indexedChart(ctx, r.chartID); ok {
		r.key, r.lostChart = k, false
	} else if r.bad == nil {
		r.bad = fmt.Errorf("its chart (row #%d of charts) is lost", r.chartID)
	}
	return r
}

// matches reports whether a row read without the charts join is one q
// asks for.
func (q Query) matches(r snapshotRow) bool {
	k := r.key
	if k.Store == "" {
		// Unknown chart: only an unfiltered read names it.
		return q.Store == "" && q.Chart == "" && q.Category == "" && len(q.Countries) == 0
	}
	return (q.Store == "" || q.Store == k.Store) && (q.Chart == "" || q.Chart == k.Chart) &&
		(q.Category == "" || q.Category == k.Category) && (len(q.Countries) == 0 || slices.Contains(q.Countries, k.Country))
}
