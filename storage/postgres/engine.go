package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/rankpulse/rankpulse/storage"
)

// The alert engine's checkpoint, as storage/engine.go keeps it in the
// embedded store.

// EngineState returns the stored checkpoint, and false when there is none.
func (d *DB) EngineState(ctx context.Context) (storage.EngineState, bool, error) {
	var st storage.EngineState
	var saved int64
	err := d.pool.QueryRow(ctx, `SELECT seq, fingerprint, saved, state FROM engine_state WHERE id = 1`).Scan(&st.Seq, &st.Fingerprint, &saved, &st.State)
	switch {
	case isNoRows(err):
		return st, false, nil
	case err != nil:
		return st, false, fmt.Errorf("storage: read the alert engine's state: %w", err)
	}
	st.Saved = time.UnixMilli(saved).UTC()
	return st, true, nil
}

// LastEvalSeq returns the number of the newest evaluation (0: none).
func (d *DB) LastEvalSeq(ctx context.Context) (int64, error) {
	var seq int64
	var called bool
	if err := d.pool.QueryRow(ctx, `SELECT last_value, is_called FROM eval_seq`).Scan(&seq, &called); err != nil {
		return 0, fmt.Errorf("storage: read the evaluation number: %w", err)
	}
	if !called {
		return 0, nil
	}
	return seq, nil
}

// EvaluatedAfter calls fn with every evaluation numbered after seq, in
// order, with its snapshots still stored and readable.
func (d *DB) EvaluatedAfter(ctx context.Context, seq int64, onCorrupt func(*storage.CorruptError) error, fn func(storage.Evaluation) error) error {
	q := storage.Query{OnCorrupt: onCorrupt}
	var cur storage.Evaluation
	flush := func() error {
		if cur.Seq == 0 {
			return nil
		}
		err := fn(cur)
		cur = storage.Evaluation{}
		return err
	}
	lastSeq, lastChart := seq, int64(1<<62)
	for {
		rows, err := d.pool.Query(ctx, `
			SELECT c.store, c.country, c.chart, c.category, s.slot, s.chart_id, s.source, s.complete, s.depth, s.duration_ms, s.error, s.entries, s.eval_seq
			FROM snapshots s JOIN charts c ON c.id = s.chart_id
			WHERE s.eval_seq IS NOT NULL AND (s.eval_seq, s.chart_id) > ($1, $2)
			ORDER BY s.eval_seq, s.chart_id LIMIT $3`, lastSeq, lastChart, scanPage)
		if err != nil {
			return fmt.Errorf("storage: read evaluations: %w", err)
		}
		var page []snapshotRow
		var seqs []int64
		for rows.Next() {
			var r snapshotRow
			var es int64
			if err := rows.Scan(&r.key.Store, &r.key.Country, &r.key.Chart, &r.key.Category, &r.slot, &r.chartID, &r.source, &r.complete, &r.depth, &r.durationMS, &r.errText, &r.blob, &es); err != nil {
				rows.Close()
				return fmt.Errorf("storage: read evaluations: %w", err)
			}
			page, seqs = append(page, r), append(seqs, es)
			lastSeq, lastChart = es, r.chartID
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("storage: read evaluations: %w", err)
		}
		for i, r := range page {
			if seqs[i] != cur.Seq {
				if err := flush(); err != nil {
					return err
				}
				cur = storage.Evaluation{Seq: seqs[i], Slot: time.Unix(r.slot, 0).UTC()}
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
