package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/storage"
)

type snapshotRow struct {
	key        chart.Key
	slot       int64
	chartID    int64
	source     string
	complete   bool
	depth      int
	durationMS int64
	errText    string
	blob       []byte
}

// args builds numbered placeholders.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

func where(q storage.Query, a *args) string {
	conds := []string{"true"}
	if !q.Since.IsZero() {
		conds = append(conds, "s.slot >= "+a.add(q.Since.Unix()))
	}
	if !q.Until.IsZero() {
		conds = append(conds, "s.slot < "+a.add(q.Until.Unix()))
	}
	if q.Store != "" {
		conds = append(conds, "c.store = "+a.add(q.Store))
	}
	if q.Chart != "" {
		conds = append(conds, "c.chart = "+a.add(q.Chart))
	}
	if q.Category != "" {
		conds = append(conds, "c.category = "+a.add(q.Category))
	}
	if len(q.Countries) > 0 {
		conds = append(conds, "c.country = ANY("+a.add(q.Countries)+")")
	}
	return strings.Join(conds, " AND ")
}

// scanPage bounds the rows of one query of a long scan.
const scanPage = 2000

func (d *DB) scan(ctx context.Context, q storage.Query, fn func(snapshotRow) error) error {
	lastSlot, lastChart := int64(-1<<62), int64(-1)
	for {
		var a args
		w := where(q, &a)
		ls, lc := a.add(lastSlot), a.add(lastChart)
		lim := a.add(scanPage)
		rows, err := d.pool.Query(ctx, `
			SELECT c.store, c.country, c.chart, c.category, s.slot, s.chart_id, s.source, s.complete, s.depth, s.duration_ms, s.error, s.entries
			FROM snapshots s JOIN charts c ON c.id = s.chart_id
			WHERE `+w+` AND (s.slot, s.chart_id) > (`+ls+`, `+lc+`)
			ORDER BY s.slot, s.chart_id LIMIT `+lim, a...)
		if err != nil {
			return fmt.Errorf("storage: query snapshots: %w", err)
		}
		var page []snapshotRow
		for rows.Next() {
			var r snapshotRow
			if err := rows.Scan(&r.key.Store, &r.key.Country, &r.key.Chart, &r.key.Category, &r.slot, &r.chartID, &r.source, &r.complete, &r.depth, &r.durationMS, &r.errText, &r.blob); err != nil {
				rows.Close()
				return fmt.Errorf("storage: read snapshot: %w", err)
			}
			page = append(page, r)
			lastSlot, lastChart = r.slot, r.chartID
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("storage: read snapshots: %w", err)
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < scanPage {
			return nil
		}
	}
}

// Snapshots calls fn for each stored snapshot matching q, in time order
// (then by chart), streaming.
func (d *DB) Snapshots(ctx context.Context, q storage.Query, fn func(chart.Snapshot) error) error {
	return d.scan(ctx, q, func(r snapshotRow) error {
		s, ok, err := d.decode(ctx, q, r)
		if !ok {
			return err
		}
		return fn(s)
	})
}

func (d *DB) decode(ctx context.Context, q storage.Query, r snapshotRow) (chart.Snapshot, bool, error) {
	s := chart.Snapshot{
		Time: time.Unix(r.slot, 0).UTC(), Store: r.key.Store, Country: r.key.Country, Chart: r.key.Chart, Category: r.key.Category,
		Source: r.source, Complete: r.complete, Depth: r.depth, DurationMS: r.durationMS, Error: r.errText,
	}
	packed, err := storage.Unpack(r.blob)
	if err != nil {
		return s, false, q.Corrupt(r.key, s.Time, err)
	}
	keys, err := d.resolve(ctx, packed)
	if err != nil {
		return s, false, err
	}
	s.Entries = make([]chart.Entry, len(packed))
	for i, p := range packed {
		k := keys[p.Ref]
		s.Entries[i] = chart.Entry{Rank: p.Rank, AppID: k.appID, Name: k.name, Developer: k.developer}
	}
	return s, true, nil
}

// resolve maps app references to their keys, reading unknown ones.
func (d *DB) resolve(ctx context.Context, packed []storage.PackedEntry) (map[int64]appKey, error) {
	out := make(map[int64]appKey, len(packed))
	var missing []int64
	d.cmu.RLock()
	for _, p := range packed {
		if k, ok := d.byRef[p.Ref]; ok {
			out[p.Ref] = k
		} else {
			missing = append(missing, p.Ref)
		}
	}
	d.cmu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := d.pool.Query(ctx, `SELECT id, store, app_id, name, developer, last_seen FROM apps WHERE id = ANY($1)`, missing)
	if err != nil {
		return nil, fmt.Errorf("storage: read apps: %w", err)
	}
	defer rows.Close()
	d.cmu.Lock()
	defer d.cmu.Unlock()
	for rows.Next() {
		var id, lastSeen int64
		var k appKey
		if err := rows.Scan(&id, &k.store, &k.appID, &k.name, &k.developer, &lastSeen); err != nil {
			return nil, fmt.Errorf("storage: read apps: %w", err)
		}
		out[id] = k
		d.byRef[id] = k
		if _, ok := d.apps[k]; !ok {
			d.apps[k] = appRef{id: id, lastSeen: lastSeen}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: read apps: %w", err)
	}
	for _, p := range packed {
		if _, ok := out[p.Ref]; !ok {
			return nil, fmt.Errorf("storage: entry refers to app #%d, which is not stored", p.Ref)
		}
	}
	return out, nil
}

// Latest returns the newest snapshot of each chart matching q, ordered by
// store, country, chart and category.
func (d *DB) Latest(ctx context.Context, q storage.Query) ([]chart.Snapshot, error) {
	var a args
	w := where(q, &a)
	rows, err := d.pool.Query(ctx, `
		WITH latest AS (
			SELECT s.chart_id AS chart_id, max(s.slot) AS slot
			FROM snapshots s JOIN charts c ON c.id = s.chart_id
			WHERE `+w+`
			GROUP BY s.chart_id)
		SELECT c.store, c.country, c.chart, c.category, s.slot, s.chart_id, s.source, s.complete, s.depth, s.duration_ms, s.error, s.entries
		FROM latest l
		JOIN snapshots s ON s.chart_id = l.chart_id AND s.slot = l.slot
		JOIN charts c ON c.id = s.chart_id
		ORDER BY c.store, c.country, c.chart, c.category`, a...)
	if err != nil {
		return nil, fmt.Errorf("storage: latest snapshots: %w", err)
	}
	page, err := collectRows(rows)
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

func collectRows(rows pgx.Rows) ([]snapshotRow, error) {
	defer rows.Close()
	var page []snapshotRow
	for rows.Next() {
		var r snapshotRow
		if err := rows.Scan(&r.key.Store, &r.key.Country, &r.key.Chart, &r.key.Category, &r.slot, &r.chartID, &r.source, &r.complete, &r.depth, &r.durationMS, &r.errText, &r.blob); err != nil {
			return nil, err
		}
		page = append(page, r)
	}
	return page, rows.Err()
}

// SnapshotBefore returns the newest snapshot of chart k before t.
func (d *DB) SnapshotBefore(ctx context.Context, k chart.Key, t time.Time) (chart.Snapshot, bool, error) {
	return d.oneSnapshot(ctx, k, `s.slot < $5 ORDER BY s.slot DESC`, t.Unix())
}

// SnapshotAfter returns the oldest snapshot of chart k at or after t.
func (d *DB) SnapshotAfter(ctx context.Context, k chart.Key, t time.Time) (chart.Snapshot, bool, error) {
	return d.oneSnapshot(ctx, k, `s.slot >= $5 ORDER BY s.slot`, t.Unix())
}

func (d *DB) oneSnapshot(ctx context.Context, k chart.Key, cond string, arg int64) (chart.Snapshot, bool, error) {
	rows, err := d.pool.Query(ctx, `
		SELECT c.store, c.country, c.chart, c.category, s.slot, s.chart_id, s.source, s.complete, s.depth, s.duration_ms, s.error, s.entries
		FROM snapshots s JOIN charts c ON c.id = s.chart_id
		WHERE c.store = $1 AND c.country = $2 AND c.chart = $3 AND c.category = $4 AND `+cond+` LIMIT 1`,
		k.Store, k.Country, k.Chart, k.Category, arg)
	if err != nil {
		return chart.Snapshot{}, false, fmt.Errorf("storage: snapshot of %s: %w", k, err)
	}
	page, err := collectRows(rows)
	if err != nil {
		return chart.Snapshot{}, false, fmt.Errorf("storage: snapshot of %s: %w", k, err)
	}
	if len(page) == 0 {
		return chart.Snapshot{}, false, nil
	}
	return d.decode(ctx, storage.Query{}, page[0])
}

// History returns an app's rank in every snapshot matching q (q.Store is
// set to store), in time order.
func (d *DB) History(ctx context.Context, store, appID string, q storage.Query) ([]storage.Point, error) {
	rows, err := d.pool.Query(ctx, `SELECT id, name FROM apps WHERE store = $1 AND app_id = $2`, store, appID)
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
	var out []storage.Point
	err = d.scan(ctx, q, func(r snapshotRow) error {
		t := time.Unix(r.slot, 0).UTC()
		packed, err := storage.Unpack(r.blob)
		if err != nil {
			return q.Corrupt(r.key, t, err)
		}
		p := storage.Point{Time: t, Key: r.key, Complete: r.complete, Depth: r.depth}
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

// Digests calls fn with a Digest of every snapshot matching q, resolving
// only the names of apps.
func (d *DB) Digests(ctx context.Context, apps []storage.AppRef, q storage.Query, fn func(*storage.Digest) error) error {
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
		ids := make([]string, 0, len(list))
		pos := map[string]int{}
		for _, i := range list {
			ids = append(ids, apps[i].AppID)
			pos[apps[i].AppID] = i
		}
		rows, err := d.pool.Query(ctx, `SELECT id, app_id, name FROM apps WHERE store = $1 AND app_id = ANY($2)`, store, ids)
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
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("storage: digests: %w", err)
		}
	}
	dg := &storage.Digest{Ranks: make([]int, len(apps)), Names: make([]string, len(apps))}
	return d.scan(ctx, q, func(r snapshotRow) error {
		t := time.Unix(r.slot, 0).UTC()
		packed, err := storage.Unpack(r.blob)
		if err != nil {
			return q.Corrupt(r.key, t, err)
		}
		*dg = storage.Digest{Key: r.key, Time: t, Source: r.source, Complete: r.complete, Depth: r.depth,
			Entries: len(packed), Error: r.errText, Ranks: dg.Ranks, Names: dg.Names}
		clear(dg.Ranks)
		clear(dg.Names)
		for _, e := range packed {
			if x, ok := refs[e.Ref]; ok && dg.Ranks[x.app] == 0 {
				dg.Ranks[x.app], dg.Names[x.app] = e.Rank, x.name
			}
		}
		return fn(dg)
	})
}

// Slots lists the stored slots since a time, oldest first.
func (d *DB) Slots(ctx context.Context, since time.Time) ([]storage.SlotInfo, error) {
	rows, err := d.pool.Query(ctx, `SELECT slot, bool_and(evaluated) FROM snapshots WHERE slot >= $1 GROUP BY slot ORDER BY slot`, since.Unix())
	if err != nil {
		return nil, fmt.Errorf("storage: slots: %w", err)
	}
	defer rows.Close()
	var out []storage.SlotInfo
	for rows.Next() {
		var slot int64
		var evaluated bool
		if err := rows.Scan(&slot, &evaluated); err != nil {
			return nil, fmt.Errorf("storage: slots: %w", err)
		}
		out = append(out, storage.SlotInfo{Slot: time.Unix(slot, 0).UTC(), Pending: !evaluated})
	}
	return out, rows.Err()
}

// Alerts returns stored alerts (every revision), oldest first, or the
// newest Limit ones.
func (d *DB) Alerts(ctx context.Context, q storage.AlertQuery) ([]chart.Alert, error) {
	var a args
	conds := []string{"time >= " + a.add(q.Since.Unix())}
	if q.Kind != "" {
		conds = append(conds, "kind = "+a.add(q.Kind))
	}
	order := "time, id, revision"
	limit := ""
	if q.Limit > 0 {
		order = "time DESC, id, revision DESC"
		limit = " LIMIT " + a.add(q.Limit)
	}
	rows, err := d.pool.Query(ctx, `SELECT body FROM alerts WHERE `+strings.Join(conds, " AND ")+` ORDER BY `+order+limit, a...)
	if err != nil {
		return nil, fmt.Errorf("storage: alerts: %w", err)
	}
	defer rows.Close()
	var out []chart.Alert
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("storage: alerts: %w", err)
		}
		var al chart.Alert
		if err := json.Unmarshal([]byte(body), &al); err != nil {
			return nil, fmt.Errorf("storage: alert: %w", err)
		}
		out = append(out, al)
	}
	return out, rows.Err()
}

// KnownNames returns, for each of ids of a store seen with a name, the
// name it was last seen with (in any storefront).
func (d *DB) KnownNames(ctx context.Context, store string, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := d.pool.Query(ctx, `
		SELECT app_id, name FROM apps
		WHERE store = $1 AND name <> '' AND app_id = ANY($2)
		ORDER BY last_seen, id`, store, ids)
	if err != nil {
		return nil, fmt.Errorf("storage: read known app names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("storage: read known app names: %w", err)
		}
		out[id] = name
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: read known app names: %w", err)
	}
	return out, nil
}

var errNoRows = pgx.ErrNoRows

func isNoRows(err error) bool { return errors.Is(err, errNoRows) }

// SlotSnapshots returns a slot's snapshots of one store ("": every
// store), split into those the alert engine has evaluated and those it has
// not, each in chart order.
func (d *DB) SlotSnapshots(ctx context.Context, slot time.Time, store string) (evaluated, pending []chart.Snapshot, err error) {
	rows, err := d.pool.Query(ctx, `
		SELECT c.store, c.country, c.chart, c.category, s.slot, s.chart_id, s.source, s.complete, s.depth, s.duration_ms, s.error, s.entries, s.evaluated
		FROM snapshots s JOIN charts c ON c.id = s.chart_id
		WHERE s.slot = $1 AND ($2 = '' OR c.store = $2) ORDER BY s.chart_id`, slot.Unix(), store)
	if err != nil {
		return nil, nil, fmt.Errorf("storage: snapshots of %s: %w", slot.Format(time.RFC3339), err)
	}
	var page []snapshotRow
	var flags []bool
	for rows.Next() {
		var r snapshotRow
		var ev bool
		if err := rows.Scan(&r.key.Store, &r.key.Country, &r.key.Chart, &r.key.Category, &r.slot, &r.chartID, &r.source, &r.complete, &r.depth, &r.durationMS, &r.errText, &r.blob, &ev); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("storage: snapshots of %s: %w", slot.Format(time.RFC3339), err)
		}
		page = append(page, r)
		flags = append(flags, ev)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("storage: snapshots of %s: %w", slot.Format(time.RFC3339), err)
	}
	// An unreadable row is left out: it stays as it is for `db check`.
	q := storage.Query{OnCorrupt: func(*storage.CorruptError) error { return nil }}
	for i, r := range page {
		s, ok, err := d.decode(ctx, q, r)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		if flags[i] {
			evaluated = append(evaluated, s)
		} else {
			pending = append(pending, s)
		}
	}
	return evaluated, pending, nil
}
