// Package storage is rankpulse's embedded store: a single SQLite file
// (pure-Go driver, no server) in the data directory that holds every chart
// snapshot, and later the alerts and the webhook outbox.
//
// Snapshots are stored compactly: one row per chart per slot, whose entries
// are a varint-packed list of references into an interned table of
// (store, app id, name, developer). An hourly sweep of 2,000 charts × 200
// entries adds 2,000 rows of about 0.5 KB, not 400,000 rows of repeated
// strings. Every write is one transaction: a crash never leaves half a
// snapshot.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/rankpulse/rankpulse/chart"
)

// FileName is the database file in the data directory.
const FileName = "rankpulse.db"

// DB is the embedded store. It is safe for concurrent use.
type DB struct {
	db   *sql.DB
	path string

	// wmu serialises writers, so the intern caches below change only after
	// the transaction that made their rows has committed.
	wmu    sync.Mutex
	cmu    sync.RWMutex
	charts map[chart.Key]int64
	apps   map[appKey]appRef
	byRef  map[int64]appKey
	// chartIndex is the charts table's unique index, read the first time
	// a chart row is found lost or damaged (see fixKey).
	chartIndex map[int64]chart.Key

	prepared sync.Map // query → *sql.Stmt, the writers' statements (batch.go)
}

type appKey struct {
	store, appID, name, developer string
	// nameLost marks a key read from the apps_by_app index, which holds
	// no name: the app's row is lost (see decode.go). Such a key is never
	// cached or written.
	nameLost bool
}

type appRef struct {
	id       int64
	lastSeen int64 // unix seconds, as stored
}

const schema = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS charts (
	id       INTEGER PRIMARY KEY,
	store    TEXT NOT NULL,
	country  TEXT NOT NULL,
	chart    TEXT NOT NULL,
	category TEXT NOT NULL,
	UNIQUE (store, country, chart, category)
);
-- One row per distinct (store, app, name, developer): a rename is a new row.
CREATE TABLE IF NOT EXISTS apps (
	id        INTEGER PRIMARY KEY,
	store     TEXT NOT NULL,
	app_id    TEXT NOT NULL,
	name      TEXT NOT NULL,
	developer TEXT NOT NULL,
	last_seen INTEGER NOT NULL,
	UNIQUE (store, app_id, name, developer)
);
CREATE INDEX IF NOT EXISTS apps_by_app ON apps (store, app_id);
CREATE TABLE IF NOT EXISTS snapshots (
	slot        INTEGER NOT NULL,
	chart_id    INTEGER NOT NULL REFERENCES charts (id),
	source      TEXT NOT NULL,
	complete    INTEGER NOT NULL,
	depth       INTEGER NOT NULL,
	duration_ms INTEGER NOT NULL,
	error       TEXT NOT NULL,
	entries     BLOB NOT NULL,
	-- 0 until the alert engine has evaluated the snapshot (1 for imports:
	-- backfilled history does not alert).
	evaluated   INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (slot, chart_id)
);
CREATE INDEX IF NOT EXISTS snapshots_by_chart ON snapshots (chart_id, slot);
CREATE INDEX IF NOT EXISTS snapshots_pending ON snapshots (slot) WHERE evaluated = 0;
CREATE TABLE IF NOT EXISTS alerts (
	id       TEXT NOT NULL,
	revision INTEGER NOT NULL,
	time     INTEGER NOT NULL,
	kind     TEXT NOT NULL,
	severity TEXT NOT NULL,
	store    TEXT NOT NULL,
	country  TEXT NOT NULL,
	app_id   TEXT NOT NULL,
	body     TEXT NOT NULL, -- the alert JSON (SPEC §4)
	stored   INTEGER NOT NULL,
	PRIMARY KEY (id, revision)
);
CREATE INDEX IF NOT EXISTS alerts_by_time ON alerts (time);
`

// schemaVersion is the layout this build writes and the newest it reads
// (migrate.go brings older files up to it).
const schemaVersion = 2

// Open opens (creating if needed) the store in dir.
func Open(ctx context.Context, dir string) (*DB, error) {
	path := filepath.Join(dir, FileName)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, OpenError(path, fmt.Errorf("create data directory: %w", err))
	}
	return openFile(ctx, path)
}

// openFile opens (creating if needed) the store in the file at path.
func openFile(ctx context.Context, path string) (*DB, error) {
	if err := precheck(ctx, path); err != nil {
		return nil, err
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	// A newer rankpulse's file is refused before anything is written to it.
	if err := checkVersion(ctx, db, path); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := db.ExecContext(ctx, schema+outboxSchema); err != nil {
		db.Close()
		return nil, OpenError(path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, OpenError(path, err)
	}
	return &DB{
		db: db, path: path,
		charts: map[chart.Key]int64{},
		apps:   map[appKey]appRef{},
		byRef:  map[int64]appKey{},
	}, nil
}

// checkVersion refuses a database whose schema_version this build does not
// read. A new file, or one without the meta table yet, is fine.
func checkVersion(ctx context.Context, db *sql.DB, path string) error {
	var version string
	err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil && strings.Contains(err.Error(), "no such table"):
		return checkForeign(ctx, db, path)
	case err != nil:
		return OpenError(path, err)
	}
	v, err := strconv.Atoi(version)
	switch {
	case err != nil || v < 1:
		return fmt.Errorf("storage: %s has schema version %q, which no rankpulse writes: %w; restore it from a backup, or %s", path, version, ErrDamaged, recoverHint)
	case v > schemaVersion:
		return fmt.Errorf("storage: %s has schema version %d and this rankpulse reads up to %d: it was written by a newer rankpulse; run that version, or point data_dir elsewhere", path, v, schemaVersion)
	}
	return nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Path returns the database file.
func (d *DB) Path() string { return d.path }

// SQL returns the underlying database for packages that keep their own
// tables in the same file (alerts, outbox).
func (d *DB) SQL() *sql.DB { return d.db }

// Ping checks the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// SaveSnapshots stores snapshots in one transaction. A snapshot replaces
// the stored one of the same chart and slot, except that neither an
// incomplete snapshot nor a shallower complete one replaces a complete one:
// a failed re-run of a slot, or a second job reading the chart less deep,
// does not lose what was read.
func (d *DB) SaveSnapshots(ctx context.Context, snaps []chart.Snapshot) error {
	return d.save(ctx, snaps, false)
}

// SaveImported stores backfilled snapshots: like SaveSnapshots, but marked
// as evaluated, so that history imported into a running system does not
// raise alerts (use backtest for that).
func (d *DB) SaveImported(ctx context.Context, snaps []chart.Snapshot) error {
	return d.save(ctx, snaps, true)
}

func (d *DB) save(ctx context.Context, snaps []chart.Snapshot, evaluated bool) error {
	if len(snaps) == 0 {
		return nil
	}
	return d.WithTx(ctx, func(tx *Tx) error {
		for i := range snaps {
			if err := tx.saveSnapshot(ctx, &snaps[i], evaluated); err != nil {
				return err
			}
		}
		return nil
	})
}

// Tx is a write transaction. Packages that store rows tied to snapshots
// (alerts and their outbox) write them in the same Tx.
type Tx struct {
	*sql.Tx
	d         *DB
	newCharts map[chart.Key]int64
	newApps   map[appKey]appRef
	stmts     map[string]*sql.Stmt // prepared once per transaction (batch.go)
}

// WithTx runs fn in a write transaction and commits it if fn returns nil.
func (d *DB) WithTx(ctx context.Context, fn func(*Tx) error) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	sqlTx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storage: begin: %w", err)
	}
	tx := &Tx{Tx: sqlTx, d: d, newCharts: map[chart.Key]int64{}, newApps: map[appKey]appRef{}}
	if err := fn(tx); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("storage: commit: %w", err)
	}
	d.cmu.Lock()
	for k, id := range tx.newCharts {
		d.charts[k] = id
	}
	for k, r := range tx.newApps {
		d.apps[k] = r
		d.byRef[r.id] = k
	}
	d.cmu.Unlock()
	return nil
}

// SaveSnapshot stores one snapshot in the transaction, not yet evaluated.
func (tx *Tx) SaveSnapshot(ctx context.Context, s *chart.Snapshot) error {
	return tx.saveSnapshot(ctx, s, false)
}

func (tx *Tx) saveSnapshot(ctx context.Context, s *chart.Snapshot, evaluated bool) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("storage: %s at %s: %w", s.Key(), s.Time.Format(time.RFC3339), err)
	}
	chartID, err := tx.chartID(ctx, s.Key())
	if err != nil {
		return err
	}
	slot := s.Time.Unix()
	refs := make([]int64, len(s.Entries))
	for i, e := range s.Entries {
		if refs[i], err = tx.appRef(ctx, appKey{store: s.Store, appID: e.AppID, name: e.Name, developer: e.Developer}, slot); err != nil {
			return err
		}
	}
	blob := seal(Pack(s.Entries, refs), s, slot)
	_, err = tx.exec(ctx, `
		INSERT INTO snapshots (slot, chart_id, source, complete, depth, duration_ms, error, entries, evaluated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (slot, chart_id) DO UPDATE SET
			source = excluded.source, complete = excluded.complete, depth = excluded.depth,
			duration_ms = excluded.duration_ms, error = excluded.error, entries = excluded.entries,
			evaluated = excluded.evaluated, eval_seq = NULL
		WHERE NOT (snapshots.complete = 1 AND (excluded.complete = 0 OR excluded.depth < snapshots.depth))`,
		slot, chartID, s.Source, s.Complete, s.Depth, s.DurationMS, s.Error, blob, evaluated)
	if err != nil {
		return fmt.Errorf("storage: save %s at %s: %w", s.Key(), s.Time.Format(time.RFC3339), err)
	}
	return nil
}

func (tx *Tx) chartID(ctx context.Context, k chart.Key) (int64, error) {
	if id, ok := tx.newCharts[k]; ok {
		return id, nil
	}
	tx.d.cmu.RLock()
	id, ok := tx.d.charts[k]
	tx.d.cmu.RUnlock()
	if ok {
		return id, nil
	}
	err := tx.queryRow(ctx, `
		INSERT INTO charts (store, country, chart, category) VALUES (?, ?, ?, ?)
		ON CONFLICT (store, country, chart, category) DO UPDATE SET store = excluded.store
		RETURNING id`, k.Store, k.Country, k.Chart, k.Category).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("storage: chart %s: %w", k, err)
	}
	tx.newCharts[k] = id
	return id, nil
}

// lastSeenGranularity bounds how often an app's last_seen is rewritten.
const lastSeenGranularity = 24 * 60 * 60

func (tx *Tx) appRef(ctx context.Context, k appKey, slot int64) (int64, error) {
	r, ok := tx.newApps[k]
	if !ok {
		tx.d.cmu.RLock()
		r, ok = tx.d.apps[k]
		tx.d.cmu.RUnlock()
	}
	if ok && slot < r.lastSeen+lastSeenGranularity {
		return r.id, nil
	}
	var lastSeen int64
	err := tx.queryRow(ctx, `
		INSERT INTO apps (store, app_id, name, developer, last_seen) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (store, app_id, name, developer) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)
		RETURNING id, last_seen`, k.store, k.appID, k.name, k.developer, slot).Scan(&r.id, &lastSeen)
	if err != nil {
		return 0, fmt.Errorf("storage: app %s/%s: %w", k.store, k.appID, err)
	}
	r.lastSeen = lastSeen
	tx.newApps[k] = r
	return r.id, nil
}
