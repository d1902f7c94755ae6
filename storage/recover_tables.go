package storage

// This file copies each table of a recovery (recover.go): charts and apps
// first, for the snapshots that refer to them; snapshots decoded and
// stored again; every other table row by row, with what its rows refer to
// checked.

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"context"
	"github.com/rankpulse/rankpulse/chart"
)

// salvageSource resolves what recovered snapshot rows refer to.
type salvageSource struct {
	charts   map[int64]chart.Key // from the charts table
	chartIdx map[int64]chart.Key // from its unique index
	apps     map[int64]appKey    // from the apps table, else its indexes
}

func (s *salvageSource) indexedChart(_ context.Context, id int64) (chart.Key, bool) {
	k, ok := s.chartIdx[id]
	return k, ok
}

func (s *salvageSource) resolve(_ context.Context, store string, packed []PackedEntry) (map[int64]appKey, error) {
	out := make(map[int64]appKey, len(packed))
	for _, p := range packed {
		if k, ok := s.apps[p.Ref]; ok && k.store == store {
			out[p.Ref] = k
		}
	}
	return out, nil
}

// text reads a TEXT column, which SQLite stores as a blob when it was
// given bytes (the alert bodies are).
func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}

func (rc *recovery) charts(t *TableReport) error {
	rc.src.charts, rc.src.chartIdx = map[int64]chart.Key{}, map[int64]chart.Key{}
	unreadable, err := rc.sv.rows(rc.ctx, "charts", func(r salvagedRow) error {
		var k chart.Key
		var ok [4]bool
		if len(r.vals) == 5 {
			k.Store, ok[0] = text(r.vals[1])
			k.Country, ok[1] = text(r.vals[2])
			k.Chart, ok[2] = text(r.vals[3])
			k.Category, ok[3] = text(r.vals[4])
		}
		if _, dup := rc.src.charts[r.rowid]; dup || ok != [4]bool{true, true, true, true} || !validKey(k) {
			if !dup {
				t.Lost++
			}
			return nil
		}
		rc.src.charts[r.rowid] = k
		t.Recovered++
		return rc.exec(`INSERT OR IGNORE INTO charts (store, country, chart, category) VALUES (?, ?, ?, ?)`, k.Store, k.Country, k.Chart, k.Category)
	})
	t.Lost += unreadable
	if err != nil {
		return err
	}
	_, err = rc.sv.rows(rc.ctx, "sqlite_autoindex_charts_1", func(r salvagedRow) error {
		if len(r.vals) == 5 {
			k := chart.Key{}
			k.Store, _ = text(r.vals[0])
			k.Country, _ = text(r.vals[1])
			k.Chart, _ = text(r.vals[2])
			k.Category, _ = text(r.vals[3])
			if id, ok := r.vals[4].(int64); ok && validKey(k) {
				if _, dup := rc.src.chartIdx[id]; !dup {
					rc.src.chartIdx[id] = k
				}
			}
		}
		return nil
	})
	return err
}

func (rc *recovery) apps(t *TableReport) error {
	rc.src.apps = map[int64]appKey{}
	unreadable, err := rc.sv.rows(rc.ctx, "apps", func(r salvagedRow) error {
		var k appKey
		var lastSeen int64
		ok := len(r.vals) == 6
		if ok {
			var o [4]bool
			k.store, o[0] = text(r.vals[1])
			k.appID, o[1] = text(r.vals[2])
			k.name, o[2] = text(r.vals[3])
			k.developer, o[3] = text(r.vals[4])
			var o5 bool
			lastSeen, o5 = r.vals[5].(int64)
			ok = o == [4]bool{true, true, true, true} && o5 && validApp(k)
		}
		if _, dup := rc.src.apps[r.rowid]; dup {
			return nil
		}
		if !ok {
			t.Lost++
			return nil
		}
		rc.src.apps[r.rowid] = k
		t.Recovered++
		return rc.exec(`INSERT INTO apps (store, app_id, name, developer, last_seen) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (store, app_id, name, developer) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)`,
			k.store, k.appID, k.name, k.developer, lastSeen)
	})
	t.Lost += unreadable
	if err != nil {
		return err
	}
	// Apps whose rows are lost, from the indexes: the whole key, else the
	// id alone (the name unknown).
	for _, idx := range []string{"sqlite_autoindex_apps_1", "apps_by_app"} {
		_, err := rc.sv.rows(rc.ctx, idx, func(r salvagedRow) error {
			var k appKey
			var id int64
			var ok bool
			switch {
			case idx == "apps_by_app" && len(r.vals) == 3:
				k.store, _ = text(r.vals[0])
				k.appID, _ = text(r.vals[1])
				k.nameLost = true
				id, ok = r.vals[2].(int64)
			case len(r.vals) == 5:
				k.store, _ = text(r.vals[0])
				k.appID, _ = text(r.vals[1])
				k.name, _ = text(r.vals[2])
				k.developer, _ = text(r.vals[3])
				id, ok = r.vals[4].(int64)
			}
			if _, dup := rc.src.apps[id]; ok && !dup && validApp(k) {
				rc.src.apps[id] = k
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// snapshotBatch is how many recovered snapshots one transaction stores.
const snapshotBatch = 500

func (rc *recovery) snapshots(t *TableReport) error {
	cols := rc.sv.tables["snapshots"]
	pos := map[string]int{}
	for i, c := range cols {
		pos[c.name] = i
	}
	var batches [2][]chart.Snapshot // by evaluated
	flush := func(evaluated int) error {
		b := batches[evaluated]
		batches[evaluated] = b[:0]
		if rc.out == nil || len(b) == 0 {
			return nil
		}
		return rc.out.save(rc.ctx, b, evaluated == 1)
	}
	q := Query{OnCorrupt: func(ce *CorruptError) error {
		if ce.Partial {
			t.Degraded++
		}
		return nil
	}}
	unreadable, err := rc.sv.rows(rc.ctx, "snapshots", func(r salvagedRow) error {
		get := func(name string) any {
			if i, ok := pos[name]; ok && i < len(r.vals) {
				return r.vals[i]
			}
			return nil
		}
		var v [12]any
		chartID, _ := get("chart_id").(int64)
		if k, ok := rc.src.charts[chartID]; ok {
			v[0], v[1], v[2], v[3] = k.Store, k.Country, k.Chart, k.Category
		}
		for i, name := range []string{"slot", "chart_id", "source", "complete", "depth", "duration_ms", "error", "entries"} {
			v[4+i] = get(name)
		}
		s, ok, _ := decodeRow(rc.ctx, &rc.src, q, rowFromValues(v))
		if ok {
			ok = s.Validate() == nil
		}
		if !ok {
			t.Lost++
			return nil
		}
		if r.orphan && rc.stored(&s) {
			return nil // a stale copy of a row already recovered
		}
		t.Recovered++
		evaluated := 0
		if e, _ := get("evaluated").(int64); e == 1 {
			evaluated = 1
		}
		batches[evaluated] = append(batches[evaluated], s)
		if len(batches[evaluated]) == snapshotBatch {
			return flush(evaluated)
		}
		return nil
	})
	t.Lost += unreadable
	if err != nil {
		return err
	}
	return errors.Join(flush(0), flush(1))
}

// stored reports whether the output holds a snapshot of s's chart and
// slot already.
func (rc *recovery) stored(s *chart.Snapshot) bool {
	if rc.out == nil {
		return false
	}
	var n int
	rc.out.db.QueryRowContext(rc.ctx, `SELECT count(*) FROM snapshots s JOIN charts c ON c.id = s.chart_id
		WHERE s.slot = ? AND c.store = ? AND c.country = ? AND c.chart = ? AND c.category = ?`,
		s.Time.Unix(), s.Store, s.Country, s.Chart, s.Category).Scan(&n)
	return n > 0
}

// generic copies a table's rows as they are, checking what rows of
// alerts and the outbox refer to.
func (rc *recovery) generic(t *TableReport) error {
	cols := rc.sv.tables[t.Table]
	unreadable, err := rc.sv.rows(rc.ctx, t.Table, func(r salvagedRow) error {
		if t.Table == "meta" && len(r.vals) == 2 && r.vals[0] == "schema_version" {
			t.Recovered++ // the fresh file has its own, the same
			return nil
		}
		if !fits(r.vals, cols) || !rc.valid(t.Table, r) {
			t.Lost++
			return nil
		}
		names := make([]string, len(r.vals))
		args := make([]any, len(r.vals))
		for i, v := range r.vals {
			names[i], args[i] = `"`+cols[i].name+`"`, v
			if cols[i].ipk {
				args[i] = r.rowid
			}
		}
		if rc.out == nil {
			t.Recovered++
			return nil
		}
		res, err := rc.out.db.ExecContext(rc.ctx, `INSERT OR IGNORE INTO "`+t.Table+`" (`+strings.Join(names, ", ")+`) VALUES (?`+strings.Repeat(", ?", len(args)-1)+`)`, args...)
		if err != nil {
			if Classify(err) == FaultOther || Classify(err) == FaultInvalid {
				t.Lost++ // a constraint: it refers to a row that is lost
				return nil
			}
			return fmt.Errorf("storage: recover %s: %w", t.Table, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			t.Recovered++
		}
		return nil
	})
	t.Lost += unreadable
	return err
}

// valid checks a row of a table whose rows refer to others, and notes
// what later rows may refer to.
func (rc *recovery) valid(table string, r salvagedRow) bool {
	switch table {
	case "alerts":
		id, _ := text(r.vals[0])
		body, _ := text(r.vals[8])
		var a chart.Alert
		if json.Unmarshal([]byte(body), &a) != nil || a.ID != id || id == "" {
			return false
		}
		rev, _ := r.vals[1].(int64)
		rc.alerts[fmt.Sprintf("%s/%d", id, rev)] = true
	case "outbox":
		id, _ := text(r.vals[2])
		rev, _ := r.vals[3].(int64)
		if !rc.alerts[fmt.Sprintf("%s/%d", id, rev)] || rc.outbox[r.rowid] {
			return false
		}
		rc.outbox[r.rowid] = true
	case "outbox_rejections":
		return rc.outbox[r.rowid]
	}
	return true
}

// sequence keeps the outbox's sequence past every seq the damaged file
// used, so that no new message reuses one (its webhook-id would look like
// a repeat to the receiver).
func (rc *recovery) sequence() error {
	seq, found := int64(0), false
	rc.sv.rows(rc.ctx, "sqlite_sequence", func(r salvagedRow) error {
		if len(r.vals) == 2 && r.vals[0] == "outbox" {
			if v, ok := r.vals[1].(int64); ok {
				seq, found = max(seq, v), true
			}
		}
		return nil
	})
	for s := range rc.outbox {
		seq = max(seq, s)
	}
	if !found && seq > 0 {
		seq += 1000 // the sequence row is lost: stay well past what was lost with it
		rc.rep.Notes = append(rc.rep.Notes, "the outbox's sequence was lost: new messages start 1,000 past the last one recovered")
	}
	if seq == 0 {
		return nil
	}
	if err := rc.exec(`INSERT INTO sqlite_sequence (name, seq) SELECT 'outbox', ? WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'outbox')`, seq); err != nil {
		return err
	}
	return rc.exec(`UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'outbox'`, seq)
}
