package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

// This file holds the queries behind the status page: each reads only what
// the page shows, so that a page view costs a bounded amount of work.

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
		SELECT c.store, c.country, c.chart, c.category, s.slot, s.source, s.complete, s.depth, s.duration_ms, s.error, s.entries
		FROM latest l
		JOIN snapshots s ON s.chart_id = l.chart_id AND s.slot = l.slot
		JOIN charts c ON c.id = s.chart_id
		ORDER BY c.store, c.country, c.chart, c.category`, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: latest snapshots: %w", err)
	}
	// Read every row before decoding: decoding may query the apps table.
	var page []snapshotRow
	for rows.Next() {
		var r snapshotRow
		if err := rows.Scan(&r.key.Store, &r.key.Country, &r.key.Chart, &r.key.Category, &r.slot, &r.source, &r.complete, &r.depth, &r.durationMS, &r.errText, &r.blob); err != nil {
			rows.Close()
			return nil, fmt.Errorf("storage: latest snapshots: %w", err)
		}
		page = append(page, r)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("storage: latest snapshots: %w", err)
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

// SourceHealth is how one source of one store fared over a period.
type SourceHealth struct {
	Store  string
	Source string
	// Charts is how many snapshots the source produced; Complete of them
	// were read in full and Failed had no entry at all.
	Charts   int
	Complete int
	Failed   int
	// Newest is the newest slot of the source.
	Newest time.Time
	// MeanFetch is the mean fetch time, retries and fallbacks included.
	MeanFetch time.Duration
	// Errors are the newest incomplete snapshots' reasons, newest first.
	Errors []FetchError
}

// CompletePercent is the share of complete snapshots, 0–100.
func (h SourceHealth) CompletePercent() float64 {
	if h.Charts == 0 {
		return 0
	}
	return 100 * float64(h.Complete) / float64(h.Charts)
}

// FetchError is the reason one snapshot is incomplete.
type FetchError struct {
	Time  time.Time
	Key   chart.Key
	Error string
}

// emptyEntries is the length of the entries blob of a snapshot without
// entries: the version and layout bytes alone.
const emptyEntries = 2

// Health summarises the snapshots matching q per store and source, with the
// reasons of at most maxErrors of the newest incomplete snapshots of each.
// It reads no entries.
func (d *DB) Health(ctx context.Context, q Query, maxErrors int) ([]SourceHealth, error) {
	where, args := q.where()
	rows, err := d.db.QueryContext(ctx, `
		SELECT c.store, s.source, count(*), coalesce(sum(s.complete), 0),
			coalesce(sum(s.complete = 0 AND length(s.entries) <= ?), 0), max(s.slot), coalesce(avg(s.duration_ms), 0)
		FROM snapshots s JOIN charts c ON c.id = s.chart_id
		WHERE `+where+`
		GROUP BY c.store, s.source
		ORDER BY c.store, s.source`, append([]any{emptyEntries}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("storage: scrape health: %w", err)
	}
	var out []SourceHealth
	index := map[[2]string]int{}
	for rows.Next() {
		var h SourceHealth
		var newest int64
		var meanMS float64
		if err := rows.Scan(&h.Store, &h.Source, &h.Charts, &h.Complete, &h.Failed, &newest, &meanMS); err != nil {
			rows.Close()
			return nil, fmt.Errorf("storage: scrape health: %w", err)
		}
		h.Newest = time.Unix(newest, 0).UTC()
		h.MeanFetch = time.Duration(meanMS * float64(time.Millisecond))
		index[[2]string{h.Store, h.Source}] = len(out)
		out = append(out, h)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("storage: scrape health: %w", err)
	}
	if maxErrors <= 0 || len(out) == 0 {
		return out, nil
	}
	rows, err = d.db.QueryContext(ctx, `
		SELECT store, country, chart, category, source, slot, error FROM (
			SELECT c.store, c.country, c.chart, c.category, s.source, s.slot, s.error,
				row_number() OVER (PARTITION BY c.store, s.source ORDER BY s.slot DESC, s.chart_id) AS n
			FROM snapshots s JOIN charts c ON c.id = s.chart_id
			WHERE `+where+` AND s.complete = 0)
		WHERE n <= ?
		ORDER BY store, source, slot DESC, n`, append(args, maxErrors)...)
	if err != nil {
		return nil, fmt.Errorf("storage: scrape errors: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e FetchError
		var source string
		var slot int64
		if err := rows.Scan(&e.Key.Store, &e.Key.Country, &e.Key.Chart, &e.Key.Category, &source, &slot, &e.Error); err != nil {
			return nil, fmt.Errorf("storage: scrape errors: %w", err)
		}
		e.Time = time.Unix(slot, 0).UTC()
		if i, ok := index[[2]string{e.Key.Store, source}]; ok {
			out[i].Errors = append(out[i].Errors, e)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: scrape errors: %w", err)
	}
	return out, nil
}

// AppRef is one app of one store.
type AppRef struct {
	Store string
	AppID string
}

// Histories is History for several apps in one scan: it calls fn with each
// app's Point in every stored snapshot of the app's store matching q, in
// time order (then by chart). An app missing from a snapshot has Rank 0
// there.
func (d *DB) Histories(ctx context.Context, apps []AppRef, q Query, fn func(AppRef, Point) error) error {
	byStore := map[string][]AppRef{}
	seen := map[AppRef]bool{}
	for _, a := range apps {
		if seen[a] || (q.Store != "" && a.Store != q.Store) {
			continue
		}
		seen[a] = true
		byStore[a.Store] = append(byStore[a.Store], a)
	}
	if len(byStore) == 0 {
		return nil
	}
	if len(byStore) == 1 {
		for store := range byStore {
			q.Store = store
		}
	}
	// refs maps every interned row of a wanted app (one per name and
	// developer it was seen with) to the app and that name.
	type ref struct {
		app  int // index in byStore[store]
		name string
	}
	refs := map[int64]ref{}
	for store, list := range byStore {
		args := []any{store}
		pos := map[string]int{}
		for i, a := range list {
			args = append(args, a.AppID)
			pos[a.AppID] = i
		}
		rows, err := d.db.QueryContext(ctx, `SELECT id, app_id, name FROM apps WHERE store = ? AND app_id IN (?`+strings.Repeat(",?", len(list)-1)+`)`, args...)
		if err != nil {
			return fmt.Errorf("storage: histories: %w", err)
		}
		for rows.Next() {
			var id int64
			var appID, name string
			if err := rows.Scan(&id, &appID, &name); err != nil {
				rows.Close()
				return fmt.Errorf("storage: histories: %w", err)
			}
			refs[id] = ref{app: pos[appID], name: name}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("storage: histories: %w", err)
		}
	}
	var ranks []int
	var names []string
	return d.scan(ctx, q, func(r snapshotRow) error {
		list := byStore[r.key.Store]
		if len(list) == 0 {
			return nil
		}
		packed, err := unpack(r.blob)
		if err != nil {
			return q.corrupt(r, err)
		}
		ranks = append(ranks[:0], make([]int, len(list))...)
		names = append(names[:0], make([]string, len(list))...)
		for _, e := range packed {
			// Every ref is of the store of its snapshot, so a match is an
			// app of this store.
			if x, ok := refs[e.ref]; ok && ranks[x.app] == 0 {
				ranks[x.app], names[x.app] = e.rank, x.name
			}
		}
		t := time.Unix(r.slot, 0).UTC()
		for i, a := range list {
			p := Point{Time: t, Key: r.key, Rank: ranks[i], Name: names[i], Complete: r.complete, Depth: r.depth}
			if err := fn(a, p); err != nil {
				return err
			}
		}
		return nil
	})
}
