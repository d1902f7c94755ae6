package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

// This file holds the queries behind the status page. The page keeps its
// own summaries: Digests rebuilds them at start in one scan that decodes no
// names, and SnapshotBefore/SnapshotAfter read one snapshot of one chart
// through the (chart, slot) index for the per-chart page.

// Latest returns the newest snapshot of each chart matching q (only
// snapshots within q's time range count), ordered by store, country, chart
// and category.
func (d *DB) Latest(ctx context.Context, q Query) ([]chart.Snapshot, error) {
	where, args := q.where()
	rows, err := d.db.QueryContext(ctx, `
		WITH latest AS (
			SELECT s.chart_id AS chart_id, max(s.slot) AS slot
			FROM snapshots s JOIN charts c ON c.id = s.chart_id
			WHERE `+where+`
			GROUP BY s.chart_id)
		SELECT `+snapshotColumns+`
		FROM latest l
		JOIN snapshots s ON s.chart_id = l.chart_id AND s.slot = l.slot
		JOIN charts c ON c.id = s.chart_id
		ORDER BY c.store, c.country, c.chart, c.category`, args...)
	if err != nil {
		return nil, d.readError("latest snapshots", err)
	}
	// Read every row before decoding: decoding may query the apps table.
	var page []snapshotRow
	for rows.Next() {
		r, _, _, err := scanSnapshot(rows)
		if err != nil {
			rows.Close()
			return nil, d.readError("latest snapshots", err)
		}
		page = append(page, r)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, d.readError("latest snapshots", err)
	}
	out := make([]chart.Snapshot, 0, len(page))
	for _, r := range page {
		s, ok, err := d.decode(ctx, q, r)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// AppRef is one app of one store.
type AppRef struct {
	Store string
	AppID string
}

// Digest is what the status page keeps of one stored snapshot: its facts
// and the ranks of a few apps.
type Digest struct {
	Key      chart.Key
	Time     time.Time
	Source   string
	Complete bool
	Depth    int
	Entries  int
	Error    string
	// Ranks and Names hold, per app given to Digests, its rank in the
	// snapshot (0: absent, or an app of another store) and its name there.
	Ranks []int
	Names []string
}

// Digests calls fn with a Digest of every stored snapshot matching q, in
// time order (then by chart). It decodes entries but resolves no name
// beyond the apps asked for. fn must not keep the Digest: it is reused.
func (d *DB) Digests(ctx context.Context, apps []AppRef, q Query, fn func(*Digest) error) error {
	// refs maps every interned row of a wanted app (one per name and
	// developer it was seen with) to the app and that name.
	type ref struct {
		app  int
		name string
	}
	refs := map[int64]ref{}
	byStore := map[string][]int{}
	for i, a := range apps {
		byStore[a.Store] = append(byStore[a.Store], i)
	}
	for store, list := range byStore {
		args := []any{store}
		pos := map[string]int{}
		for _, i := range list {
			args = append(args, apps[i].AppID)
			pos[apps[i].AppID] = i
		}
		rows, err := d.db.QueryContext(ctx, `SELECT id, app_id, name FROM apps WHERE store = ? AND app_id IN (?`+strings.Repeat(",?", len(list)-1)+`)`, args...)
		if err != nil {
			return fmt.Errorf("storage: digests: %w", err)
		}
		for rows.Next() {
			var id int64
			var appID, name string
			if err := rows.Scan(&id, &appID, &name); err != nil {
				rows.Close()
				return fmt.Errorf("storage: digests: %w", err)
			}
			refs[id] = ref{app: pos[appID], name: name}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("storage: digests: %w", err)
		}
	}
	dg := &Digest{Ranks: make([]int, len(apps)), Names: make([]string, len(apps))}
	return d.scan(ctx, q, func(r snapshotRow) error {
		packed, err := entries(ctx, d, &r)
		if err != nil {
			return q.corrupt(r, err)
		}
		*dg = Digest{Key: r.key, Time: time.Unix(r.slot, 0).UTC(), Source: r.source, Complete: r.complete, Depth: r.depth,
			Entries: len(packed), Error: r.errText, Ranks: dg.Ranks, Names: dg.Names}
		clear(dg.Ranks)
		clear(dg.Names)
		for _, e := range packed {
			// Every ref is of the store of its snapshot.
			if x, ok := refs[e.Ref]; ok && dg.Ranks[x.app] == 0 {
				dg.Ranks[x.app], dg.Names[x.app] = e.Rank, x.name
			}
		}
		return fn(dg)
	})
}

// SnapshotBefore returns the newest stored snapshot of chart k with a slot
// before t; ok is false when there is none.
func (d *DB) SnapshotBefore(ctx context.Context, k chart.Key, t time.Time) (s chart.Snapshot, ok bool, err error) {
	return d.oneSnapshot(ctx, k, `s.slot < ? ORDER BY s.slot DESC`, t.Unix())
}

// SnapshotAfter returns the oldest stored snapshot of chart k with a slot
// at or after t; ok is false when there is none.
func (d *DB) SnapshotAfter(ctx context.Context, k chart.Key, t time.Time) (s chart.Snapshot, ok bool, err error) {
	return d.oneSnapshot(ctx, k, `s.slot >= ? ORDER BY s.slot`, t.Unix())
}

func (d *DB) oneSnapshot(ctx context.Context, k chart.Key, cond string, arg int64) (chart.Snapshot, bool, error) {
	rows, err := d.db.QueryContext(ctx, `
		SELECT `+snapshotColumns+`
		FROM snapshots s JOIN charts c ON c.id = s.chart_id
		WHERE c.store = ? AND c.country = ? AND c.chart = ? AND c.category = ? AND `+cond+` LIMIT 1`,
		k.Store, k.Country, k.Chart, k.Category, arg)
	if err != nil {
		return chart.Snapshot{}, false, d.readError("snapshot of "+k.String(), err)
	}
	var r snapshotRow
	found := rows.Next()
	if found {
		r, _, _, err = scanSnapshot(rows)
	}
	err = errors.Join(err, rows.Err())
	rows.Close()
	if err != nil {
		return chart.Snapshot{}, false, d.readError("snapshot of "+k.String(), err)
	}
	if !found {
		return chart.Snapshot{}, false, nil
	}
	s, ok, err := d.decode(ctx, Query{}, r)
	return s, ok, err
}
