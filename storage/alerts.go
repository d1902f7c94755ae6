package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

// SaveAlert stores an alert unless one with the same id and revision is
// already stored (a replayed evaluation), and reports whether it was new.
func (tx *Tx) SaveAlert(ctx context.Context, a *chart.Alert) (bool, error) {
	body, err := json.Marshal(a)
	if err != nil {
		return false, fmt.Errorf("storage: alert %s: %w", a.ID, err)
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO alerts (id, revision, time, kind, severity, store, country, app_id, body, stored)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id, revision) DO NOTHING`,
		a.ID, a.Revision, a.Time.Unix(), a.Kind, a.Severity, a.Store, a.CountryCode(), a.AppID, body, time.Now().UnixMilli())
	if err != nil {
		return false, fmt.Errorf("storage: save alert %s: %w", a.ID, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// MarkEvaluated records that the alert engine has read these snapshots, as
// one evaluation, and returns its sequence number: evaluations are numbered
// in the order they happened, so that an engine restarted from a state
// checkpointed at evaluation n replays exactly those after it
// (EvaluatedAfter).
func (tx *Tx) MarkEvaluated(ctx context.Context, slot time.Time, keys []chart.Key) (int64, error) {
	seq, err := tx.nextEvalSeq(ctx)
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		id, err := tx.chartID(ctx, k)
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE snapshots SET evaluated = 1, eval_seq = ? WHERE slot = ? AND chart_id = ?`, seq, slot.Unix(), id); err != nil {
			return 0, fmt.Errorf("storage: mark %s at %s evaluated: %w", k, slot.Format(time.RFC3339), err)
		}
	}
	return seq, nil
}

// SlotInfo is a stored slot and whether any of its snapshots awaits the
// alert engine.
type SlotInfo struct {
	Slot    time.Time
	Pending bool
}

// Slots lists the stored slots since a time, oldest first.
func (d *DB) Slots(ctx context.Context, since time.Time) ([]SlotInfo, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT slot, min(evaluated) FROM snapshots WHERE slot >= ? GROUP BY slot ORDER BY slot`, since.Unix())
	if err != nil {
		return nil, fmt.Errorf("storage: slots: %w", err)
	}
	defer rows.Close()
	var out []SlotInfo
	for rows.Next() {
		var slot int64
		var evaluated bool
		if err := rows.Scan(&slot, &evaluated); err != nil {
			return nil, fmt.Errorf("storage: slots: %w", err)
		}
		out = append(out, SlotInfo{Slot: time.Unix(slot, 0).UTC(), Pending: !evaluated})
	}
	return out, rows.Err()
}

// AlertQuery selects stored alerts; zero fields match everything.
type AlertQuery struct {
	Since time.Time
	Kind  string
	Limit int // newest first when set
}

// Alerts returns stored alerts (every revision), oldest first, or the
// newest Limit ones.
func (d *DB) Alerts(ctx context.Context, q AlertQuery) ([]chart.Alert, error) {
	conds := []string{"time >= ?"}
	args := []any{q.Since.Unix()}
	if q.Kind != "" {
		conds = append(conds, "kind = ?")
		args = append(args, q.Kind)
	}
	order := "time, id, revision"
	limit := ""
	if q.Limit > 0 {
		order = "time DESC, id, revision DESC"
		limit = fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT body FROM alerts WHERE `+strings.Join(conds, " AND ")+` ORDER BY `+order+limit, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: alerts: %w", err)
	}
	defer rows.Close()
	var out []chart.Alert
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("storage: alerts: %w", err)
		}
		var a chart.Alert
		if err := json.Unmarshal(body, &a); err != nil {
			return nil, fmt.Errorf("storage: alert: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
