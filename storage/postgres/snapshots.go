package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/storage"
)

// Tx is a write transaction.
type Tx struct {
	tx        pgx.Tx
	d         *DB
	newCharts map[chart.Key]int64
	newApps   map[appKey]appRef
}

var _ storage.WriteTx = (*Tx)(nil)

// Update runs fn in a write transaction from the pool.
func (d *DB) Update(ctx context.Context, fn func(storage.WriteTx) error) error {
	return d.update(ctx, d.pool, func(tx *Tx) error { return fn(tx) })
}

// beginner is what a pool and a single connection have in common.
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Transact is Update with the PostgreSQL transaction at hand, for rows
// written with a snapshot (a fetch task marked done).
func (d *DB) Transact(ctx context.Context, fn func(*Tx) error) error {
	return d.update(ctx, d.pool, fn)
}

// UpdateOn is Update on one connection (the evaluator's, which holds its
// advisory lock: a write by an instance that lost the lock cannot commit).
func (d *DB) UpdateOn(ctx context.Context, c *pgx.Conn, fn func(*Tx) error) error {
	return d.update(ctx, c, fn)
}

func (d *DB) update(ctx context.Context, b beginner, fn func(*Tx) error) error {
	ptx, err := b.Begin(ctx)
	if err != nil {
		return fmt.Errorf("storage: begin: %w", err)
	}
	tx := &Tx{tx: ptx, d: d, newCharts: map[chart.Key]int64{}, newApps: map[appKey]appRef{}}
	if err := fn(tx); err != nil {
		ptx.Rollback(ctx)
		return err
	}
	if err := ptx.Commit(ctx); err != nil {
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

// PgTx returns the underlying transaction, for rows the cluster writes in
// the same transaction (a fetch task marked done with its snapshot).
func (tx *Tx) PgTx() pgx.Tx { return tx.tx }

// SaveSnapshots stores snapshots in one transaction (storage.Store).
func (d *DB) SaveSnapshots(ctx context.Context, snaps []chart.Snapshot) error {
	return d.save(ctx, snaps, false)
}

// SaveImported stores backfilled snapshots marked evaluated.
func (d *DB) SaveImported(ctx context.Context, snaps []chart.Snapshot) error {
	return d.save(ctx, snaps, true)
}

func (d *DB) save(ctx context.Context, snaps []chart.Snapshot, evaluated bool) error {
	if len(snaps) == 0 {
		return nil
	}
	return d.update(ctx, d.pool, func(tx *Tx) error {
		for i := range snaps {
			if err := tx.saveSnapshot(ctx, &snaps[i], evaluated); err != nil {
				return err
			}
		}
		return nil
	})
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
	refs, err := tx.appRefs(ctx, s, slot)
	if err != nil {
		return err
	}
	_, err = tx.tx.Exec(ctx, `
		INSERT INTO snapshots (slot, chart_id, source, complete, depth, duration_ms, error, entries, evaluated)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (slot, chart_id) DO UPDATE SET
			source = excluded.source, complete = excluded.complete, depth = excluded.depth,
			duration_ms = excluded.duration_ms, error = excluded.error, entries = excluded.entries,
			evaluated = excluded.evaluated, eval_seq = NULL
		WHERE NOT (snapshots.complete AND (NOT excluded.complete OR excluded.depth < snapshots.depth))`,
		slot, chartID, s.Source, s.Complete, s.Depth, s.DurationMS, s.Error, storage.Pack(s.Entries, refs), evaluated)
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
	err := tx.tx.QueryRow(ctx, `
		INSERT INTO charts (store, country, chart, category) VALUES ($1, $2, $3, $4)
		ON CONFLICT (store, country, chart, category) DO UPDATE SET store = excluded.store
		RETURNING id`, k.Store, k.Country, k.Chart, k.Category).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("storage: chart %s: %w", k, err)
	}
	tx.newCharts[k] = id
	return id, nil
}

// appRefs interns the apps of a snapshot: those not cached (or whose
// last_seen is due for a rewrite) in one upsert, in key order.
func (tx *Tx) appRefs(ctx context.Context, s *chart.Snapshot, slot int64) ([]int64, error) {
	refs := make([]int64, len(s.Entries))
	var need []appKey
	pos := map[appKey][]int{}
	tx.d.cmu.RLock()
	for i, e := range s.Entries {
		k := appKey{s.Store, e.AppID, e.Name, e.Developer}
		r, ok := tx.newApps[k]
		if !ok {
			r, ok = tx.d.apps[k]
		}
		if ok && slot < r.lastSeen+lastSeenGranularity {
			refs[i] = r.id
			continue
		}
		if _, dup := pos[k]; !dup {
			need = append(need, k)
		}
		pos[k] = append(pos[k], i)
	}
	tx.d.cmu.RUnlock()
	if len(need) == 0 {
		return refs, nil
	}
	slices.SortFunc(need, func(a, b appKey) int {
		return strings.Compare(a.appID+"\x00"+a.name+"\x00"+a.developer, b.appID+"\x00"+b.name+"\x00"+b.developer)
	})
	ids, names, devs := make([]string, len(need)), make([]string, len(need)), make([]string, len(need))
	for i, k := range need {
		ids[i], names[i], devs[i] = k.appID, k.name, k.developer
	}
	rows, err := tx.tx.Query(ctx, `
		INSERT INTO apps (store, app_id, name, developer, last_seen)
		SELECT $1, a, n, d, $5 FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u(a, n, d, o) ORDER BY o
		ON CONFLICT (store, app_id, name, developer) DO UPDATE SET last_seen = GREATEST(apps.last_seen, excluded.last_seen)
		RETURNING id, app_id, name, developer, last_seen`, s.Store, ids, names, devs, slot)
	if err != nil {
		return nil, fmt.Errorf("storage: apps of %s: %w", s.Key(), err)
	}
	defer rows.Close()
	for rows.Next() {
		k := appKey{store: s.Store}
		var r appRef
		if err := rows.Scan(&r.id, &k.appID, &k.name, &k.developer, &r.lastSeen); err != nil {
			return nil, fmt.Errorf("storage: apps of %s: %w", s.Key(), err)
		}
		tx.newApps[k] = r
		for _, i := range pos[k] {
			refs[i] = r.id
		}
		delete(pos, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: apps of %s: %w", s.Key(), err)
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("storage: apps of %s: %d not interned", s.Key(), len(pos))
	}
	return refs, nil
}

// SaveAlert stores an alert unless one with the same id and revision is
// stored, and reports whether it was new.
func (tx *Tx) SaveAlert(ctx context.Context, a *chart.Alert) (bool, error) {
	body, err := json.Marshal(a)
	if err != nil {
		return false, fmt.Errorf("storage: alert %s: %w", a.ID, err)
	}
	tag, err := tx.tx.Exec(ctx, `
		INSERT INTO alerts (id, revision, time, kind, severity, store, country, app_id, body, stored)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id, revision) DO NOTHING`,
		a.ID, a.Revision, a.Time.Unix(), a.Kind, a.Severity, a.Store, a.CountryCode(), a.AppID, string(body), time.Now().UnixMilli())
	if err != nil {
		return false, fmt.Errorf("storage: save alert %s: %w", a.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// MarkEvaluated records that the alert engine has read these snapshots,
// as one evaluation, and returns its number (from a sequence: numbers
// grow in the order evaluations commit under the evaluator lock, which
// serialises them).
func (tx *Tx) MarkEvaluated(ctx context.Context, slot time.Time, keys []chart.Key) (int64, error) {
	ids := make([]int64, 0, len(keys))
	for _, k := range keys {
		id, err := tx.chartID(ctx, k)
		if err != nil {
			return 0, err
		}
		ids = append(ids, id)
	}
	var seq int64
	if err := tx.tx.QueryRow(ctx, `SELECT nextval('eval_seq')`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("storage: number the evaluation: %w", err)
	}
	if _, err := tx.tx.Exec(ctx, `UPDATE snapshots SET evaluated = true, eval_seq = $3 WHERE slot = $1 AND chart_id = ANY($2)`, slot.Unix(), ids, seq); err != nil {
		return 0, fmt.Errorf("storage: mark the snapshots of %s evaluated: %w", slot.Format(time.RFC3339), err)
	}
	return seq, nil
}

// SaveEngineState stores the engine's checkpoint, replacing the one before.
func (tx *Tx) SaveEngineState(ctx context.Context, st storage.EngineState) error {
	if st.Write != nil {
		// pgx sends a parameter whole: the state is built here first.
		var b bytes.Buffer
		if err := st.Write(&b); err != nil {
			return fmt.Errorf("storage: save the alert engine's state: %w", err)
		}
		st.State = b.Bytes()
	}
	_, err := tx.tx.Exec(ctx, `INSERT INTO engine_state (id, seq, fingerprint, saved, state) VALUES (1, $1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, fingerprint = excluded.fingerprint, saved = excluded.saved, state = excluded.state`,
		st.Seq, st.Fingerprint, st.Saved.UnixMilli(), st.State)
	if err != nil {
		return fmt.Errorf("storage: save the alert engine's state: %w", err)
	}
	return nil
}

// Enqueue puts an alert in a receiver's outbox (a no-op if it is there).
func (tx *Tx) Enqueue(ctx context.Context, webhook string, a *chart.Alert, batch int64) error {
	now := time.Now().UnixMilli()
	_, err := tx.tx.Exec(ctx, `
		INSERT INTO outbox (webhook, alert_id, revision, batch, created, next_attempt) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (webhook, alert_id, revision) DO NOTHING`, webhook, a.ID, a.Revision, batch, now, now)
	if err != nil {
		return fmt.Errorf("storage: enqueue alert %s for %s: %w", a.ID, webhook, err)
	}
	return nil
}
