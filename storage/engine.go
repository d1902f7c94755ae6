package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
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
	// Write, when set, writes the state instead of State: a state of
	// megabytes (thousands of charts) then goes to the store in parts,
	// never whole in memory (alerts.Engine.WriteState). EngineState reads
	// it back into State.
	Write func(io.Writer) error
}

// statePart is the most one row of engine_state_parts holds.
const statePart = 256 << 10

// SaveEngineState stores the engine's checkpoint in the transaction that
// marks its last evaluation, replacing the one before. A state given as
// Write goes in parts of statePart bytes (engine_state.state is then
// empty).
func (tx *Tx) SaveEngineState(ctx context.Context, st EngineState) error {
	state := st.State
	if st.Write != nil {
		state = []byte{}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO engine_state (id, seq, fingerprint, saved, state) VALUES (1, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, fingerprint = excluded.fingerprint, saved = excluded.saved, state = excluded.state`,
		st.Seq, st.Fingerprint, st.Saved.UnixMilli(), state)
	if err == nil {
		_, err = tx.ExecContext(ctx, `DELETE FROM engine_state_parts`)
	}
	if err == nil && st.Write != nil {
		pw := &partWriter{ctx: ctx, tx: tx, buf: make([]byte, 0, statePart)}
		if err = st.Write(pw); err == nil {
			err = pw.flush()
		}
	}
	if err != nil {
		return fmt.Errorf("storage: save the alert engine's state: %w", err)
	}
	return nil
}

// partWriter stores what is written to it as rows of engine_state_parts.
type partWriter struct {
	ctx  context.Context
	tx   *Tx
	buf  []byte
	part int
	err  error
}

func (w *partWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && w.err == nil {
		k := min(len(p), statePart-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == statePart {
			w.err = w.flush()
		}
	}
	if w.err != nil {
		return 0, w.err
	}
	return n, nil
}

func (w *partWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.tx.ExecContext(w.ctx, `INSERT INTO engine_state_parts (part, data) VALUES (?, ?)`, w.part, w.buf)
	w.part++
	w.buf = w.buf[:0]
	return err
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
	if len(st.State) == 0 {
		if st.State, err = d.stateParts(ctx); err != nil {
			return st, false, fmt.Errorf("storage: read the alert engine's state: %w", err)
		}
	}
	return st, true, nil
}

// stateParts reads a state stored in parts, in order.
func (d *DB) stateParts(ctx context.Context) ([]byte, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT part, data FROM engine_state_parts ORDER BY part`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var state []byte
	for want := 0; rows.Next(); want++ {
		var part int
		var data []byte
		if err := rows.Scan(&part, &data); err != nil {
			return nil, err
		}
		if part != want {
			return nil, fmt.Errorf("part %d of the state is missing", want)
		}
		state = append(state, data...)
	}
	return state, rows.Err()
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
			return d.readError("read evaluations", err)
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
			r.chartID = chartID
			page, seqs = append(page, r), append(seqs, es)
			lastSeq, lastChart = es, chartID
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return d.readError("read evaluations", err)
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
