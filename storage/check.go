package storage

// This file is `rankpulse db check`: SQLite's own integrity check of the
// file, then a decode of every stored row the way the daemon and export
// read them, and — when something is damaged — a dry run of the recovery,
// to say how much `rankpulse db recover` would keep.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/rankpulse/rankpulse/chart"
)

// maxNamed bounds the damaged rows a check names one by one.
const maxNamed = 20

// CheckReport is what Check found.
type CheckReport struct {
	Path string
	// OpenError is set when SQLite could not read the file at all.
	OpenError error
	// Integrity lists what PRAGMA integrity_check found wrong (at most 50).
	Integrity []string
	// Tables: per table, the rows that read (Recovered), damaged (Lost)
	// and, of those read, snapshots without some entries (Degraded).
	Tables []TableReport
	// Problems names damaged rows (at most maxNamed); ProblemCount counts
	// them all.
	Problems     []string
	ProblemCount int
	// Salvage is, for a damaged file, what a recovery would keep.
	Salvage *RecoverReport
}

// Damaged reports whether the check found anything wrong.
func (r *CheckReport) Damaged() bool {
	return r.OpenError != nil || len(r.Integrity) > 0 || r.ProblemCount > 0
}

func (r *CheckReport) problem(format string, args ...any) {
	r.ProblemCount++
	if len(r.Problems) < maxNamed {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// Check checks the database file at path. It only reads; it can run while
// the daemon runs (the recovery's dry run then sees the file mid-write and
// may count a page or two as lost: run it again with the daemon stopped).
func Check(ctx context.Context, path string) (*CheckReport, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("storage: check: %w (is data_dir right?)", err)
	}
	rep := &CheckReport{Path: path}
	sqlDB, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("storage: check %s: %w", path, err)
	}
	defer sqlDB.Close()
	d := &DB{db: sqlDB, path: path, charts: map[chart.Key]int64{}, apps: map[appKey]appRef{}, byRef: map[int64]appKey{}}
	if err := rep.integrity(ctx, d); err != nil {
		if Classify(err) == FaultNotADB || len(rep.Integrity) == 0 {
			rep.OpenError = OpenError(path, err)
		} else {
			rep.Integrity = append(rep.Integrity, "the check stopped: "+err.Error())
		}
	}
	if rep.OpenError == nil {
		rep.decodeAll(ctx, d)
	}
	if rep.Damaged() {
		if rep.Salvage, err = Recover(ctx, path, ""); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func (r *CheckReport) integrity(ctx context.Context, d *DB) error {
	rows, err := d.db.QueryContext(ctx, `PRAGMA integrity_check(50)`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var msg string
		if err := rows.Scan(&msg); err != nil {
			return err
		}
		for _, line := range strings.Split(msg, "\n") {
			if line != "ok" && line != "*** in database main ***" && len(r.Integrity) < 50 {
				r.Integrity = append(r.Integrity, line)
			}
		}
	}
	return rows.Err()
}

// decodeAll reads every row of the tables rankpulse reads.
func (r *CheckReport) decodeAll(ctx context.Context, d *DB) {
	r.Tables = append(r.Tables, r.rowsOf(ctx, d, "meta", `SELECT key, value FROM meta`, func(vals []any) error {
		if vals[0] == "schema_version" {
			var v int
			if s, _ := vals[1].(string); !scanInt(s, &v) || v < 1 || v > schemaVersion {
				return fmt.Errorf("schema_version %v", vals[1])
			}
		}
		return nil
	}))
	r.Tables = append(r.Tables, r.rowsOf(ctx, d, "charts", `SELECT id, store, country, chart, category FROM charts`, func(vals []any) error {
		k := chart.Key{}
		k.Store, _ = text(vals[1])
		k.Country, _ = text(vals[2])
		k.Chart, _ = text(vals[3])
		k.Category, _ = text(vals[4])
		if !validKey(k) {
			return errors.New("not a chart key")
		}
		return nil
	}))
	r.Tables = append(r.Tables, r.rowsOf(ctx, d, "apps", strings.Replace(appsVerified, "WHERE a.id IN (%s)", "", 1), func(vals []any) error {
		k := appKey{}
		k.store, _ = text(vals[1])
		k.appID, _ = text(vals[2])
		k.name, _ = text(vals[3])
		k.developer, _ = text(vals[4])
		switch {
		case !validApp(k):
			return errors.New("not an app")
		case vals[6] != vals[0]:
			return fmt.Errorf("its index holds its key under id %v", vals[6])
		}
		return nil
	}))
	r.Tables = append(r.Tables, r.snapshots(ctx, d))
	r.Tables = append(r.Tables, r.rowsOf(ctx, d, "alerts", `SELECT id, body FROM alerts`, func(vals []any) error {
		body, _ := text(vals[1])
		var a chart.Alert
		if err := json.Unmarshal([]byte(body), &a); err != nil || a.ID != vals[0] {
			return errors.New("its body is not the alert")
		}
		return nil
	}))
	r.Tables = append(r.Tables, r.rowsOf(ctx, d, "outbox", `SELECT o.seq, a.id FROM outbox o LEFT JOIN alerts a ON a.id = o.alert_id AND a.revision = o.revision`, func(vals []any) error {
		if vals[1] == nil {
			return errors.New("its alert is not stored")
		}
		return nil
	}))
}

// rowsOf runs query and checks each row with ok; the first column names
// the row.
func (r *CheckReport) rowsOf(ctx context.Context, d *DB, table, query string, ok func([]any) error) TableReport {
	t := TableReport{Table: table, Claimed: -1}
	d.db.QueryRowContext(ctx, `SELECT count(*) FROM "`+table+`"`).Scan(&t.Claimed)
	rows, err := d.db.QueryContext(ctx, query)
	if err != nil {
		r.problem("%s: cannot be read: %v", table, err)
		return t
	}
	defer rows.Close()
	for rows.Next() {
		vals, err := scanAny(rows)
		if err == nil {
			err = ok(vals)
		}
		if err != nil {
			t.Lost++
			r.problem("%s row %v is damaged: %v", table, vals[0], err)
			continue
		}
		t.Recovered++
	}
	if err := rows.Err(); err != nil {
		r.problem("%s: reading stopped after %d rows: %v", table, t.Recovered+t.Lost, err)
	}
	return t
}

func scanAny(rows *sql.Rows) ([]any, error) {
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	return vals, rows.Scan(ptrs...)
}

func (r *CheckReport) snapshots(ctx context.Context, d *DB) TableReport {
	t := TableReport{Table: "snapshots", Claimed: -1}
	d.db.QueryRowContext(ctx, `SELECT count(*) FROM snapshots`).Scan(&t.Claimed)
	q := Query{OnCorrupt: func(ce *CorruptError) error {
		if ce.Partial {
			t.Degraded++
		} else {
			t.Lost++
		}
		r.problem("%v", ce)
		return nil
	}}
	err := d.Snapshots(ctx, q, func(chart.Snapshot) error {
		t.Recovered++
		return nil
	})
	if err != nil {
		r.problem("snapshots: reading stopped after %d rows: %v", t.Recovered+t.Lost, err)
	}
	return t
}

// Table returns the check of one table.
func (r *CheckReport) Table(name string) TableReport {
	for _, t := range r.Tables {
		if t.Table == name {
			return t
		}
	}
	return TableReport{Table: name, Claimed: -1}
}
