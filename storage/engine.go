package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

// The alert engine's checkpoint: its state as of one numbered evaluation,
// stored with the evaluated flags so that a restart replays only the
// evaluations after it.

// nextEvalSeq numbers a new evaluation.
func (tx *Tx) nextEvalSeq(ctx context.Context) (int64, error) {
	var seq int64
	err := tx.QueryRowContext(ctx, `INSERT INTO meta (key, value) VALUES ('eval_seq', '1')
		ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1
		RETURNING CAST(value AS INTEGER)`).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("storage: number the evaluation: %w", err)
	}
	return seq, nil
}

// EngineState is a checkpoint of the alert engine.
type EngineState struct {
	Seq         int64  // the last evaluation it includes
	Fingerprint string // the settings it was built under
	Saved       time.Time
	State       []byte
}

// SaveEngineState stores the engine's checkpoint in the transaction that
// marks its last evaluation, replacing the one before.
func (tx *Tx) SaveEngineState(ctx context.Context, st EngineState) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO engine_state (id, seq, fingerprint, saved, state) VALUES (1, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, fingerprint = excluded.fingerprint, saved = excluded.saved, state = excluded.state`,
		st.Seq, st.Fingerprint, st.Saved.UnixMilli(), st.State)
	if err != nil {
		return fmt.Errorf("storage: save the alert engine's state: %w", err)
	}
	return nil
}

// EngineState returns the stored checkpoint, and false when there is none.
func (d *DB) EngineState(ctx context.Context) (EngineState, bool, error) {
	var st EngineState
	var saved int64
	err := d.db.QueryRowContext(ctx, `SELECT seq, fingerprint, saved, state FROM engine_state WHERE id = 1`).Scan(&st.Seq, &st.Fingerprint, &saved, &st.State)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return st, false, nil
	case err != nil:
		return st, false, fmt.Errorf("storage: read the alert engine's state: %w", err)
	}
	st.Saved = time.UnixMilli(saved).UTC()
	return st, true, nil
}

// LastEvalSeq returns the number of the newest evaluation (0: none).
func (d *DB) LastEvalSeq(ctx context.Context) (int64, error) {
	var v sql.NullInt64
	err := d.db.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'eval_seq'`).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("storage: read the evaluation number: %w", err)
	}
	return v.Int64, nil
}

// Evaluation is one evaluation replayed from the store: the snapshots it
// marked, still stored and readable.
type Evaluation struct {
	Seq       int64
	Slot      time.Time
	Snapshots []chart.Snapshot
}

// EvaluatedAfter calls fn with every evaluation numbered after seq, in
// order, with its snapshots (those the store still holds; a snapshot since
// replaced by a fuller read is pending again and not among them). An
// undecodable snapshot goes to onCorrupt, when set, and is left out.
func (d *DB) EvaluatedAfter(ctx context.Context, seq int64, onCorrupt func(*CorruptError) error, fn func(Evaluation) error) error {
	q := Query{OnCorrupt: onCorrupt}
	var cur Evaluation
	flush := func() error {
		if cur.Seq == 0 {
			return nil
		}
		err := fn(cur)
		cur = Evaluation{}
		return err
	}
	lastSeq, lastChart := seq, int64(math.MaxInt64) // everything after evaluation seq
	for {
		rows, err := d.db.QueryContext(ctx, `
			SELECT c.store, c.country, c.chart, c.category, s.slot, s.chart_id, s.source, s.complete, s.depth, s.duration_ms, s.error, s.entries, s.eval_seq
			FROM snapshots s JOIN charts c ON c.id = s.chart_id
			WHERE s.eval_seq IS NOT NULL AND (s.eval_seq > ? OR (s.eval_seq = ? AND s.chart_id > ?))
			ORDER BY s.eval_seq, s.chart_id LIMIT ?`, lastSeq, lastSeq, lastChart, scanPage)
		if err != nil {
			return fmt.Errorf("storage: read evaluations: %w", err)
		}
		var page []snapshotRow
		var seqs []int64
		for rows.Next() {
			var r snapshotRow
			var chartID, es int64
			if err := rows.Scan(&r.key.Store, &r.key.Country, &r.key.Chart, &r.key.Category, &r.slot, &chartID, &r.source, &r.complete, &r.depth, &r.durationMS, &r.errText, &r.blob, &es); err != nil {
				rows.Close()
				return fmt.Errorf("storage: read evaluations: %w", err)
			}
			page, seqs = append(page, r), append(seqs, es)
			lastSeq, lastChart = es, chartID
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("storage: read evaluations: %w", err)
		}
		for i, r := range page {
			if seqs[i] != cur.Seq {
				if err := flush(); err != nil {
					return err
				}
				cur = Evaluation{Seq: seqs[i], Slot: time.Unix(r.slot, 0).UTC()}
			}
			s, ok, err := d.decode(ctx, q, r)
			if !ok {
				if err != nil {
					return err
				}
				continue
			}
			cur.Snapshots = append(cur.Snapshots, s)
		}
		if len(page) < scanPage {
			return flush()
		}
	}
}
