// Package postgres is rankpulse's store on a PostgreSQL server
// (`storage: {url: postgres://…}`), shared by the instances of a cluster.
//
// It keeps what the embedded SQLite store keeps, with the same semantics
// (storage.Store; storage/storagetest runs one suite against both): one
// row per chart per slot whose entries are the same varint-packed blob of
// references into an interned apps table, the same save rules (neither an
// incomplete nor a shallower read replaces a complete one), alerts, the
// webhook outbox with its dead/retry/drop states, retention and the name
// fallback. Times are stored as the same integers (unix seconds for slots
// and alerts, milliseconds for the outbox).
//
// # Concurrency
//
// Several instances write at once. Interning is race-free by construction:
// a chart or app row is upserted (INSERT … ON CONFLICT … RETURNING id), and
// an instance caches an id only after the transaction that read it has
// committed. One snapshot's new apps are upserted in one statement in a
// fixed key order, so two instances interning overlapping apps wait for
// each other instead of deadlocking.
//
// # Schema
//
// The schema is a list of numbered migrations (migrations.go), applied at
// Open in one transaction under an advisory lock, so that instances
// starting together apply each migration once. A database whose schema is
// newer than this build's is refused before anything is written to it.
//
// The cluster's own tables (instances, fetch tasks) are part of the schema;
// the cluster package works them.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/storage"
)

// DB is the PostgreSQL store. It is safe for concurrent use.
type DB struct {
	pool     *pgxpool.Pool
	location string

	cmu    sync.RWMutex
	charts map[chart.Key]int64
	apps   map[appKey]appRef
	byRef  map[int64]appKey
}

var _ storage.Store = (*DB)(nil)

type appKey struct {
	store, appID, name, developer string
}

type appRef struct {
	id       int64
	lastSeen int64
}

// Open connects to the server at rawURL, applies the migrations this
// database lacks and refuses one written by a newer rankpulse.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	loc := Redact(rawURL)
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("storage.url: %s is not a PostgreSQL URL: %w", loc, redactErr(err, rawURL))
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	// A server that is down is reported at once, not after a minute.
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("storage: %s: %w", loc, redactErr(err, rawURL))
	}
	d := &DB{pool: pool, location: loc, charts: map[chart.Key]int64{}, apps: map[appKey]appRef{}, byRef: map[int64]appKey{}}
	if err := d.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return d, nil
}

// Redact returns the URL without its password, for messages.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redactErr keeps a password out of an error that quotes the URL.
func redactErr(err error, rawURL string) error {
	if u, perr := url.Parse(rawURL); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
		}
	}
	return err
}

// Pool returns the connection pool (for the cluster's tables).
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

// Close closes every connection.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

// Location is the server and database, without a password.
func (d *DB) Location() string { return d.location }

// Ping checks the server answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.pool.Ping(ctx); err != nil {
		return fmt.Errorf("storage: %s: %w", d.location, err)
	}
	return nil
}

// SchemaVersion is the layout this build writes and the newest it reads.
func SchemaVersion() int { return len(migrations) }

// migrate applies the missing migrations in one transaction, under a
// transaction-level advisory lock so that instances starting together do
// not race.
func (d *DB) migrate(ctx context.Context) error {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("storage: %s: %w (is the server up and the database created? `createdb rankpulse`)", d.location, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockMigrate); err != nil {
		return fmt.Errorf("storage: %s: lock the schema: %w", d.location, err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("storage: %s: %w", d.location, err)
	}
	version := 0
	var v string
	err = tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return fmt.Errorf("storage: %s: %w", d.location, err)
	default:
		if version, err = strconv.Atoi(v); err != nil || version < 1 {
			return fmt.Errorf("storage: %s has schema version %q, which no rankpulse writes: the database is damaged or not rankpulse's; point storage.url at another database", d.location, v)
		}
	}
	if version > len(migrations) {
		return fmt.Errorf("storage: %s has schema version %d and this rankpulse reads up to %d: it was written by a newer rankpulse; run that version on every instance, or point storage.url elsewhere", d.location, version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.Exec(ctx, migrations[i]); err != nil {
			return fmt.Errorf("storage: %s: migration %d: %w", d.location, i+1, err)
		}
	}
	if version < len(migrations) {
		if _, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ('schema_version', $1)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, strconv.Itoa(len(migrations))); err != nil {
			return fmt.Errorf("storage: %s: %w", d.location, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("storage: %s: apply the schema: %w", d.location, err)
	}
	return nil
}

// Advisory lock keys (one 64-bit space per database).
const (
	lockMigrate = 0x72616e6b00000001 // "rank" · 1
	// LockEvaluator is held, for its session, by the instance that
	// evaluates alerts and delivers webhooks.
	LockEvaluator = 0x72616e6b00000002
)

// Stats reads the store's size and range; Bytes is the database's size.
func (d *DB) Stats(ctx context.Context) (storage.Stats, error) {
	var st storage.Stats
	var oldest, newest *int64
	err := d.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM snapshots), (SELECT count(*) FROM charts), (SELECT count(*) FROM apps),
		(SELECT min(slot) FROM snapshots), (SELECT max(slot) FROM snapshots), pg_database_size(current_database())`).
		Scan(&st.Snapshots, &st.Charts, &st.Apps, &oldest, &newest, &st.Bytes)
	if err != nil {
		return st, fmt.Errorf("storage: stats: %w", err)
	}
	if oldest != nil {
		st.Oldest = time.Unix(*oldest, 0).UTC()
		st.Newest = time.Unix(*newest, 0).UTC()
	}
	return st, nil
}

// TableBytes is the size of the snapshot rows, interned apps and charts
// with their indexes and TOAST: the store's own footprint, without the
// database's fixed overhead.
func (d *DB) TableBytes(ctx context.Context) (int64, error) {
	var n int64
	err := d.pool.QueryRow(ctx, `SELECT pg_total_relation_size('snapshots') + pg_total_relation_size('apps') + pg_total_relation_size('charts')`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("storage: table sizes: %w", err)
	}
	return n, nil
}

// SnapshotBytes is the size of the snapshots table with its indexes and
// TOAST: what each stored chart adds, apps and charts interned apart.
func (d *DB) SnapshotBytes(ctx context.Context) (int64, error) {
	var n int64
	if err := d.pool.QueryRow(ctx, `SELECT pg_total_relation_size('snapshots')`).Scan(&n); err != nil {
		return 0, fmt.Errorf("storage: table sizes: %w", err)
	}
	return n, nil
}

// taskRetention is how long the cluster's fetch tasks are kept.
const taskRetention = 48 * time.Hour

// lastSeenGranularity bounds how often an app's last_seen is rewritten
// (as in the embedded store).
const lastSeenGranularity = 24 * 60 * 60

// Prune deletes snapshots older than before, the outbox rows and alerts
// of that age that are done with, the interned apps no snapshot left
// refers to, and the cluster's fetch tasks of that age or older than two
// days.
func (d *DB) Prune(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM snapshots WHERE slot < $1`, before.Unix())
		if err != nil {
			return fmt.Errorf("storage: prune snapshots: %w", err)
		}
		n = tag.RowsAffected()
		steps := []struct {
			what, sql string
			arg       int64
		}{
			{"outbox", `DELETE FROM outbox WHERE state != 'pending' AND created < $1`, before.UnixMilli()},
			{"alerts", `DELETE FROM alerts WHERE time < $1 AND NOT EXISTS
				(SELECT 1 FROM outbox o WHERE o.alert_id = alerts.id AND o.revision = alerts.revision)`, before.Unix()},
			{"apps", `DELETE FROM apps WHERE last_seen < $1`, before.Unix() - 2*lastSeenGranularity},
			// A slot's fetch tasks matter while it is swept and for the
			// status of the last few slots: two days, whatever the retention.
			{"fetch tasks", `DELETE FROM fetch_tasks WHERE slot < $1`, max(before.Unix(), time.Now().Add(-taskRetention).Unix())},
		}
		for _, s := range steps {
			if _, err := tx.Exec(ctx, s.sql, s.arg); err != nil {
				return fmt.Errorf("storage: prune %s: %w", s.what, err)
			}
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

// IsConnLost reports whether err means the server or the connection went
// away (as opposed to a refused statement).
func IsConnLost(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01..03: admin shutdown.
		return len(pe.Code) == 5 && (pe.Code[:2] == "08" || pe.Code[:3] == "57P")
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// Connect opens a connection of its own, outside the pool (the
// evaluator's advisory lock lives as long as its session).
func (d *DB) Connect(ctx context.Context) (*pgx.Conn, error) {
	c, err := pgx.ConnectConfig(ctx, d.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("storage: %s: %w", d.location, err)
	}
	return c, nil
}
