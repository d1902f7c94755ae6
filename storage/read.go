package storage

// This file reads snapshots back: a Query, pages of rows, and their
// entries decoded (decode.go) with their app rows resolved.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

// Query selects snapshots. Zero fields match everything; Until is exclusive.
type Query struct {
	Since, Until time.Time
	Store        string
	Countries    []string
	Chart        string
	Category     string
	// OnCorrupt, when set, is given each snapshot that cannot be decoded
	// instead of ending the read; the read goes on when it returns nil.
	OnCorrupt func(*CorruptError) error
}

// CorruptError is a stored snapshot whose entries cannot be decoded: the
// database file was damaged, or written by a newer rankpulse. With Partial
// set, only some entries were lost: the snapshot is read without them,
// marked incomplete.
type CorruptError struct {
	Key     chart.Key
	ChartID int64 // the chart's row, when Key is not known
	Time    time.Time
	Err     error
	Partial bool
}

func (e *CorruptError) Error() string {
	what := e.Key.String()
	if e.Key == (chart.Key{}) {
		what = fmt.Sprintf("chart #%d (its chart row is lost)", e.ChartID)
	}
	if e.Partial {
		return fmt.Sprintf("storage: the stored snapshot of %s at %s is damaged: %v (see `rankpulse db check`)", what, e.Time.Format(time.RFC3339), e.Err)
	}
	return fmt.Sprintf("storage: the stored snapshot of %s at %s cannot be read: %v (the database file is damaged or was written by a newer rankpulse; the other snapshots are unaffected)",
		what, e.Time.Format(time.RFC3339), e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// corrupt reports a snapshot that cannot be decoded: it ends the read
// unless q.OnCorrupt lets it go on.
func (q Query) corrupt(r snapshotRow, err error) error {
	ce := &CorruptError{Key: r.key, ChartID: r.chartID, Time: time.Unix(r.slot, 0).UTC(), Err: err}
	if q.OnCorrupt == nil {
		return ce
	}
	return q.OnCorrupt(ce)
}

func (q Query) where() (string, []any) {
	conds := []string{"1=1"}
	var args []any
	if !q.Since.IsZero() {
		conds = append(conds, "s.slot >= ?")
		args = append(args, q.Since.Unix())
	}
	if !q.Until.IsZero() {
		conds = append(conds, "s.slot < ?")
		args = append(args, q.Until.Unix())
	}
	for col, v := range map[string]string{"c.store": q.Store, "c.chart": q.Chart, "c.category": q.Category} {
		if v != "" {
			conds = append(conds, col+" = ?")
			args = append(args, v)
		}
	}
	if len(q.Countries) > 0 {
		conds = append(conds, "c.country IN (?"+strings.Repeat(",?", len(q.Countries)-1)+")")
		for _, cc := range q.Countries {
			args = append(args, cc)
		}
	}
	return strings.Join(conds, " AND "), args
}

// Snapshots calls fn for each stored snapshot matching q, in time order
// (then by chart). It streams: memory use does not grow with the range.
func (d *DB) Snapshots(ctx context.Context, q Query, fn func(chart.Snapshot) error) error {
	return d.scan(ctx, q, func(row snapshotRow) error {
		s, ok, err := d.decode(ctx, q, row)
		if !ok {
			return err
		}
		return fn(s)
	})
}

type snapshotRow struct {
	key        chart.Key
	chartID    int64
	lostChart  bool  // the charts row was not found (see fixKey)
	bad        error // a value of the wrong type: the row cannot be read
	slot       int64
	source     string
	complete   bool
	depth      int
	durationMS int64
	errText    string
	blob       []byte
}

// scanPage bounds how many rows one query reads, so that a long scan does
// not hold a read transaction (and the WAL) for its whole length.
const scanPage = 2000

func (d *DB) scan(ctx context.Context, q Query, fn func(snapshotRow) error) error {
	where, args := q.where()
	// The paging values are kept as stored: a damaged row's slot may not
	// even be an integer, and the next page must still start after it.
	var lastSlot, lastChart any = int64(-1 << 62), int64(-1)
	for {
		pageArgs := append(append([]any{}, args...), lastSlot, lastSlot, lastChart, scanPage)
		rows, err := d.db.QueryContext(ctx, `
			SELECT `+snapshotColumns+`
			FROM snapshots s LEFT JOIN charts c ON c.id = s.chart_id
			WHERE `+where+` AND (s.slot > ? OR (s.slot = ? AND s.chart_id > ?))
			ORDER BY s.slot, s.chart_id LIMIT ?`, pageArgs...)
		if damaged(err) {
			return d.scanRows(ctx, q, lastSlot, lastChart, fn)
		}
		if err != nil {
			return d.readError("query snapshots", err)
		}
		var page []snapshotRow
		for rows.Next() {
			r, rawSlot, rawChart, err := scanSnapshot(rows)
			if err != nil {
				rows.Close()
				return d.readError("read snapshot", err)
			}
			page = append(page, r)
			lastSlot, lastChart = rawSlot, rawChart
		}
		err = rows.Err()
		rows.Close()
		if err != nil && !damaged(err) {
			return d.readError("read snapshots", err)
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		if err != nil { // a damaged page: the rest row by row
			return d.scanRows(ctx, q, lastSlot, lastChart, fn)
		}
		if len(page) < scanPage {
			return nil
		}
	}
}

// decode turns a row into a snapshot. ok is false for a row that cannot be
// decoded, with q.corrupt's verdict as the error: nil when q.OnCorrupt lets
// the read go on without it.
func (d *DB) decode(ctx context.Context, q Query, r snapshotRow) (s chart.Snapshot, ok bool, err error) {
	return decodeRow(ctx, d, q, r)
}

// resolve maps app references to their keys, reading unknown ones: from
// the apps table, else (a lost or damaged row) from its indexes. A
// reference found in neither is left out.
func (d *DB) resolve(ctx context.Context, store string, packed []PackedEntry) (map[int64]appKey, error) {
	out := make(map[int64]appKey, len(packed))
	var missing []any
	d.cmu.RLock()
	for _, p := range packed {
		if k, ok := d.byRef[p.Ref]; ok && k.store == store {
			out[p.Ref] = k
		} else {
			missing = append(missing, p.Ref)
		}
	}
	d.cmu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	doubtful := map[int64]appKey{}
	if err := d.readApps(ctx, store, missing, out, doubtful); err != nil {
		return nil, err
	}
	var lost []int64
	for _, m := range missing {
		if _, ok := out[m.(int64)]; !ok {
			lost = append(lost, m.(int64))
		}
	}
	if len(lost) > 0 {
		d.indexedApps(ctx, store, lost, out)
		for id, k := range doubtful {
			if _, ok := out[id]; !ok {
				out[id] = k // the indexes know nothing of it: the table's row it is
			}
		}
	}
	return out, nil
}
