package storage

// This file reads stored snapshots defensively, so that a damaged file
// costs what is damaged and nothing more, and never reads as a wrong rank:
//
//   - Every snapshot row this build writes carries a CRC-32C of its stored
//     columns and of its chart's key (entries blob version 2). A row, or the
//     chart row it points at, that damage changed fails the check and is
//     skipped (named through Query.OnCorrupt), instead of being read as ranks.
//   - A value of the wrong type (a damaged record) makes its row unreadable,
//     not the whole read.
//   - A chart row or an app row that is lost or damaged is looked up in the
//     table's indexes, which SQLite keeps in their own pages: the unique
//     index of apps holds the whole (store, app, name, developer), the
//     apps_by_app index the app id alone (the entry then keeps its id with
//     its name unknown, as the scrapers mark an app whose name they could
//     not learn). An entry whose app is in neither is dropped, and its
//     snapshot is marked incomplete: that rank is unknown, never "fell out".
//   - Rows written before the checksum (version 1) are checked for the
//     facts every snapshot holds: ranks rising from 1, no app twice.

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rankpulse/rankpulse/chart"
)

// The entries blob on SQLite: Pack's blob (version packVersion) sealed with
// a checksum (version sealedVersion). Rows written before the checksum are
// packVersion.
const (
	blobV1        = packVersion
	sealedVersion = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// rowSum is the checksum a version-2 snapshot row carries: of every stored
// column but evaluated (which the alert engine updates), and of its chart's
// key rather than the chart row's id, so that damage to the chart row is
// caught too.
func rowSum(k chart.Key, slot int64, source string, complete bool, depth int, durationMS int64, errText string, entries []byte) uint32 {
	b := make([]byte, 0, 64+len(source)+len(errText))
	b = binary.AppendVarint(b, slot)
	for _, s := range [...]string{k.Store, k.Country, k.Chart, k.Category, source, errText} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if complete {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendVarint(b, int64(depth))
	b = binary.AppendVarint(b, durationMS)
	return crc32.Update(crc32.Checksum(b, castagnoli), castagnoli, entries)
}

// seal makes blob (version byte, layout byte, entries) the version-2 blob
// of snapshot s at slot: s must be validated, its depth final.
func seal(blob []byte, s *chart.Snapshot, slot int64) []byte {
	blob[0] = sealedVersion
	sum := rowSum(s.Key(), slot, s.Source, s.Complete, s.Depth, s.DurationMS, s.Error, blob)
	return binary.BigEndian.AppendUint32(blob, sum)
}

var errChecksum = errors.New("its checksum does not match: the row, or the row of its chart, was damaged")

// unpack decodes the row's entries, checking a version-2 row's checksum.
func (r *snapshotRow) unpack() ([]PackedEntry, error) {
	if r.bad != nil {
		return nil, r.bad
	}
	b := r.blob
	if len(b) > 0 && b[0] == sealedVersion {
		if len(b) < 2+4 {
			return nil, errors.New("its entries are cut short")
		}
		body := b[:len(b)-4]
		if rowSum(r.key, r.slot, r.source, r.complete, r.depth, r.durationMS, r.errText, body) != binary.BigEndian.Uint32(b[len(b)-4:]) {
			return nil, errChecksum
		}
		b = body
	}
	return Unpack(b)
}

// entries unpacks the row's entries; a row whose chart row is lost, or
// whose checksum fails with the chart row's key, gets the key of the
// charts index first (r.key changes).
func entries(ctx context.Context, src rowSource, r *snapshotRow) ([]PackedEntry, error) {
	if r.lostChart {
		fixKey(ctx, src, r)
	}
	packed, err := r.unpack()
	if errors.Is(err, errChecksum) && fixKey(ctx, src, r) {
		packed, err = r.unpack()
	}
	return packed, err
}

// rowSource is where decodeRow finds what a snapshot row refers to: the
// database (a DB), or the rows a page-by-page read found (recover).
type rowSource interface {
	// indexedChart returns the key the charts index holds for a chart row.
	indexedChart(ctx context.Context, id int64) (chart.Key, bool)
	// resolve maps app references of store to their keys, leaving out
	// those it cannot find.
	resolve(ctx context.Context, store string, packed []PackedEntry) (map[int64]appKey, error)
}

// decodeRow turns a row into a snapshot (see DB.decode).
func decodeRow(ctx context.Context, src rowSource, q Query, r snapshotRow) (s chart.Snapshot, ok bool, err error) {
	s = chart.Snapshot{
		Time: time.Unix(r.slot, 0).UTC(), Store: r.key.Store, Country: r.key.Country, Chart: r.key.Chart, Category: r.key.Category,
		Source: r.source, Complete: r.complete, Depth: r.depth, DurationMS: r.durationMS, Error: r.errText,
	}
	packed, err := entries(ctx, src, &r)
	s.Store, s.Country, s.Chart, s.Category = r.key.Store, r.key.Country, r.key.Chart, r.key.Category
	if err != nil {
		return s, false, q.corrupt(r, err)
	}
	keys, err := src.resolve(ctx, r.key.Store, packed)
	if err != nil {
		return s, false, err
	}
	s.Entries = make([]chart.Entry, 0, len(packed))
	var lost []PackedEntry
	nameless := 0
	for _, p := range packed {
		k, ok := keys[p.Ref]
		if !ok {
			lost = append(lost, p)
			continue
		}
		if k.nameLost {
			nameless++
		}
		s.Entries = append(s.Entries, chart.Entry{Rank: p.Rank, AppID: k.appID, Name: k.name, Developer: k.developer})
	}
	if nameless > 0 && q.OnCorrupt != nil {
		err := fmt.Errorf("the names of %d of its apps are lost from the damaged database; their ranks and ids are kept, without a name", nameless)
		if err := q.OnCorrupt(&CorruptError{Key: r.key, ChartID: r.chartID, Time: s.Time, Err: err, Partial: true}); err != nil {
			return s, false, err
		}
	}
	if r.legacy() {
		if err := checkLegacy(&s); err != nil {
			return s, false, q.corrupt(r, err)
		}
	}
	if len(lost) > 0 {
		if err := q.lostEntries(&s, r, lost); err != nil {
			return s, false, err
		}
	}
	return s, true, nil
}

// legacy reports whether the row has no checksum.
func (r *snapshotRow) legacy() bool { return len(r.blob) > 0 && r.blob[0] == blobV1 }

// snapshotColumns are the columns scanSnapshot reads, from snapshots s
// (left) joined with charts c.
const snapshotColumns = `c.store, c.country, c.chart, c.category, s.slot, s.chart_id, s.source, s.complete, s.depth, s.duration_ms, s.error, s.entries`

// scanSnapshot reads one row of snapshotColumns. A value of the wrong type
// makes the row bad (r.bad), not the read; a chart row the join did not
// find leaves the key empty (r.lostChart). rawSlot and rawChart are the
// values as stored, for paging past the row whatever their type.
func scanSnapshot(rows *sql.Rows) (r snapshotRow, rawSlot, rawChart any, err error) {
	var v [12]any
	p := make([]any, len(v))
	for i := range v {
		p[i] = &v[i]
	}
	if err := rows.Scan(p...); err != nil {
		return r, nil, nil, err
	}
	r = rowFromValues(v)
	return r, v[4], v[5], nil
}

// rowFromValues is scanSnapshot's reading of the values of one row.
func rowFromValues(v [12]any) (r snapshotRow) {
	var bad []string
	text := func(i int, name string, dst *string) {
		switch x := v[i].(type) {
		case string:
			*dst = x
		case []byte:
			*dst = string(x)
		default:
			bad = append(bad, name)
		}
	}
	integer := func(i int, name string) int64 {
		x, ok := v[i].(int64)
		if !ok {
			bad = append(bad, name)
		}
		return x
	}
	if v[0] == nil && v[1] == nil && v[2] == nil && v[3] == nil {
		r.lostChart = true
	} else {
		text(0, "store", &r.key.Store)
		text(1, "country", &r.key.Country)
		text(2, "chart", &r.key.Chart)
		text(3, "category", &r.key.Category)
	}
	r.slot = integer(4, "slot")
	r.chartID = integer(5, "chart_id")
	text(6, "source", &r.source)
	switch c := integer(7, "complete"); c {
	case 0, 1:
		r.complete = c == 1
	default:
		bad = append(bad, "complete")
	}
	r.depth = int(integer(8, "depth"))
	r.durationMS = integer(9, "duration_ms")
	text(10, "error", &r.errText)
	if b, ok := v[11].([]byte); ok {
		r.blob = b
	} else {
		bad = append(bad, "entries")
	}
	if len(bad) > 0 {
		r.bad = fmt.Errorf("its %s %s the wrong type (a damaged record)", strings.Join(bad, ", "), map[bool]string{true: "is", false: "are"}[len(bad) == 1])
	}
	return r
}

// fixKey gives a row whose chart row is lost, or whose checksum fails
// with the chart row's key, the key the charts index holds for its chart
// id. It reports whether it changed the key.
func fixKey(ctx context.Context, src rowSource, r *snapshotRow) bool {
	if r.bad != nil {
		return false
	}
	k, ok := src.indexedChart(ctx, r.chartID)
	if !ok || (k == r.key && !r.lostChart) {
		if r.lostChart {
			r.bad = fmt.Errorf("its chart (row #%d of charts) is lost", r.chartID)
		}
		return false
	}
	old := r.key
	r.key, r.lostChart = k, false
	if r.legacy() {
		return true
	}
	if _, err := r.unpack(); errors.Is(err, errChecksum) && old != (chart.Key{}) {
		r.key = old // the index did not help: the row itself is damaged
		return false
	}
	return true
}

// indexedChart returns the key of chart row id as the charts table's
// unique index holds it (SQLite keeps an index in pages of its own, so it
// outlives damage to the table's pages). The index is read once.
func (d *DB) indexedChart(ctx context.Context, id int64) (chart.Key, bool) {
	d.cmu.Lock()
	defer d.cmu.Unlock()
	if d.chartIndex == nil {
		d.chartIndex = map[int64]chart.Key{}
		rows, err := d.db.QueryContext(ctx, `SELECT id, store, country, chart, category FROM charts INDEXED BY sqlite_autoindex_charts_1`)
		if err == nil {
			for rows.Next() {
				var i int64
				var k chart.Key
				if rows.Scan(&i, &k.Store, &k.Country, &k.Chart, &k.Category) == nil && validKey(k) {
					d.chartIndex[i] = k
				}
			}
			rows.Close()
		}
	}
	k, ok := d.chartIndex[id]
	return k, ok
}

func validKey(k chart.Key) bool {
	return chart.ValidStore(k.Store) && chart.ValidCountry(k.Country) && chart.ValidChart(k.Chart) && chart.ValidCategory(k.Category)
}

// validApp reports whether an app row read from the table can be one this
// store wrote: of a store, with an id, in UTF-8 (random damage to its text
// is rarely valid UTF-8).
func validApp(k appKey) bool {
	if !chart.ValidStore(k.store) || k.appID == "" || !utf8.ValidString(k.appID) || !utf8.ValidString(k.name) || !utf8.ValidString(k.developer) {
		return false
	}
	for _, c := range k.appID {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// indexedApps looks up app rows the apps table did not give in its
// indexes: the unique index holds the whole key, apps_by_app the app id
// (the name is then unknown).
func (d *DB) indexedApps(ctx context.Context, store string, refs []int64, out map[int64]appKey) {
	for _, q := range []string{
		`SELECT id, store, app_id, name, developer FROM apps INDEXED BY sqlite_autoindex_apps_1 WHERE store = ? AND id IN (%s)`,
		`SELECT id, store, app_id, '', '' FROM apps INDEXED BY apps_by_app WHERE store = ? AND id IN (%s)`,
	} {
		byApp := strings.Contains(q, "apps_by_app")
		var missing []any
		for _, ref := range refs {
			if _, ok := out[ref]; !ok {
				missing = append(missing, ref)
			}
		}
		if len(missing) == 0 {
			return
		}
		rows, err := d.db.QueryContext(ctx, fmt.Sprintf(q, "?"+strings.Repeat(",?", len(missing)-1)), append([]any{store}, missing...)...)
		if err != nil {
			continue
		}
		for rows.Next() {
			var id int64
			var k appKey
			if rows.Scan(&id, &k.store, &k.appID, &k.name, &k.developer) == nil && validApp(k) {
				k.nameLost = byApp
				out[id] = k
			}
		}
		rows.Close()
	}
}

// lostEntries marks s incomplete for the entries whose app could not be
// read at all, and reports the damage through q.OnCorrupt (Partial).
func (q Query) lostEntries(s *chart.Snapshot, r snapshotRow, lost []PackedEntry) error {
	ranks := make([]string, 0, min(len(lost), 5))
	for i, p := range lost {
		if i == 5 {
			ranks = append(ranks, fmt.Sprintf("and %d more", len(lost)-5))
			break
		}
		ranks = append(ranks, fmt.Sprintf("#%d (app row %d)", p.Rank, p.Ref))
	}
	what := fmt.Sprintf("the app at rank %s is lost from the damaged database", strings.Join(ranks, ", "))
	s.Complete = false
	if s.Error != "" {
		s.Error += "; " + what
	} else {
		s.Error = what
	}
	ce := &CorruptError{Key: r.key, ChartID: r.chartID, Time: s.Time, Err: errors.New(what + "; the rest of the snapshot is kept, marked incomplete"), Partial: true}
	if q.OnCorrupt == nil {
		return nil
	}
	return q.OnCorrupt(ce)
}

// checkLegacy checks a snapshot decoded from a row without a checksum for
// what every stored snapshot holds.
func checkLegacy(s *chart.Snapshot) error {
	if !validKey(s.Key()) {
		return errors.New("its chart key is not one a store has")
	}
	if s.Depth < 0 || s.Depth > chart.MaxDepth {
		return fmt.Errorf("its depth %d is not a chart's", s.Depth)
	}
	seen := make(map[string]struct{}, len(s.Entries))
	prev := 0
	for _, e := range s.Entries {
		if e.Rank <= prev || e.Rank > s.Depth {
			return fmt.Errorf("its ranks do not rise from 1 to its depth %d", s.Depth)
		}
		if _, dup := seen[e.AppID]; dup {
			return fmt.Errorf("it lists app %s twice", e.AppID)
		}
		seen[e.AppID] = struct{}{}
		prev = e.Rank
	}
	return nil
}

// appsVerified reads app rows by id, each with the id the unique index
// holds for its key: a row that damage changed, or whose id is garbage,
// finds none or another. appsPlain reads them alone, for when the index
// itself cannot be read.
const (
	appsVerified = `SELECT a.id, a.store, a.app_id, a.name, a.developer, a.last_seen,
		(SELECT i.id FROM apps i INDEXED BY sqlite_autoindex_apps_1
		 WHERE i.store = a.store AND i.app_id = a.app_id AND i.name = a.name AND i.developer = a.developer)
		FROM apps a WHERE a.id IN (%s)`
	appsPlain = `SELECT id, store, app_id, name, developer, last_seen, id FROM apps WHERE id IN (%s)`
)

// readApps reads app rows into out (and the caches). A row that is not of
// store, or not one this store wrote, is left out; one its index does not
// confirm goes to doubtful, to be used only if the indexes know nothing
// better of its id.
func (d *DB) readApps(ctx context.Context, store string, ids []any, out, doubtful map[int64]appKey) error {
	marks := "?" + strings.Repeat(",?", len(ids)-1)
	err := d.readAppRows(ctx, fmt.Sprintf(appsVerified, marks), store, ids, out, doubtful)
	if damaged(err) {
		// One by one, unverified: the rows on damaged pages are left to
		// the indexes.
		clear(doubtful)
		err = nil
		for _, id := range ids {
			if e := d.readAppRows(ctx, fmt.Sprintf(appsPlain, "?"), store, []any{id}, out, doubtful); e != nil && !damaged(e) {
				err = e
				break
			}
		}
	}
	if err != nil {
		return d.readError("read apps", err)
	}
	return nil
}

func (d *DB) readAppRows(ctx context.Context, query, store string, ids []any, out, doubtful map[int64]appKey) error {
	rows, err := d.db.QueryContext(ctx, query, ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	d.cmu.Lock()
	defer d.cmu.Unlock()
	for rows.Next() {
		var id, lastSeen int64
		var indexed sql.NullInt64
		var k appKey
		if err := rows.Scan(&id, &k.store, &k.appID, &k.name, &k.developer, &lastSeen, &indexed); err != nil || k.store != store || !validApp(k) {
			continue // a damaged row: looked up in the indexes instead
		}
		if !indexed.Valid || indexed.Int64 != id {
			doubtful[id] = k
			continue
		}
		out[id] = k
		d.byRef[id] = k
		if _, ok := d.apps[k]; !ok {
			d.apps[k] = appRef{id: id, lastSeen: lastSeen}
		}
	}
	return rows.Err()
}
