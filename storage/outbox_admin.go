package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Outbox states.
const (
	StatePending   = "pending"
	StateDelivered = "delivered"
	StateGaveUp    = "gave_up" // its retry window ended
	StateDead      = "dead"    // permanently rejected; set aside
	StateDropped   = "dropped" // given up by hand
)

// Undelivered reports whether a message in this state can still be
// delivered (by its sender, or after Retry).
func Undelivered(state string) bool {
	return state == StatePending || state == StateDead || state == StateGaveUp
}

// OutboxEntry is an outbox row as `rankpulse alerts pending` shows it.
type OutboxEntry struct {
	Seq      int64
	Webhook  string
	AlertID  string
	Revision int
	Kind     string
	Severity string
	State    string
	Created  time.Time
	Attempts int
	// Next is the next attempt of a pending message.
	Next      time.Time
	LastError string
	// Rejections counts the message's permanent rejections; RejectedAt is
	// the last one (for a dead message, when it was set aside) and Status
	// its HTTP status.
	Rejections int
	Status     int
	RejectedAt time.Time
	Delivered  time.Time
}

// OutboxQuery selects outbox rows; zero fields match everything.
type OutboxQuery struct {
	Webhook string
	Seq     int64
	AlertID string
	// Undelivered keeps pending, dead and given-up messages only.
	Undelivered bool
}

// Outbox returns the outbox rows a query selects, by receiver, oldest
// first.
func (d *DB) Outbox(ctx context.Context, q OutboxQuery) ([]OutboxEntry, error) {
	var conds []string
	var args []any
	if q.Webhook != "" {
		conds, args = append(conds, "o.webhook = ?"), append(args, q.Webhook)
	}
	if q.Seq != 0 {
		conds, args = append(conds, "o.seq = ?"), append(args, q.Seq)
	}
	if q.AlertID != "" {
		conds, args = append(conds, "o.alert_id = ?"), append(args, q.AlertID)
	}
	if q.Undelivered {
		conds, args = append(conds, "o.state IN (?, ?, ?)"), append(args, StatePending, StateDead, StateGaveUp)
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	rows, err := d.db.QueryContext(ctx, `
		SELECT o.seq, o.webhook, o.alert_id, o.revision, COALESCE(a.kind, ''), COALESCE(a.severity, ''), o.state, o.created,
			o.attempts, o.next_attempt, o.last_error, o.delivered, COALESCE(r.count, 0), COALESCE(r.status, 0), r.last_at
		FROM outbox o
		LEFT JOIN alerts a ON a.id = o.alert_id AND a.revision = o.revision
		LEFT JOIN outbox_rejections r ON r.seq = o.seq
		`+where+` ORDER BY o.webhook, o.seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("storage: outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxEntry
	for rows.Next() {
		var e OutboxEntry
		var created, next int64
		var delivered, rejected sql.NullInt64
		if err := rows.Scan(&e.Seq, &e.Webhook, &e.AlertID, &e.Revision, &e.Kind, &e.Severity, &e.State, &created,
			&e.Attempts, &next, &e.LastError, &delivered, &e.Rejections, &e.Status, &rejected); err != nil {
			return nil, fmt.Errorf("storage: outbox: %w", err)
		}
		e.Created, e.Next = time.UnixMilli(created), time.UnixMilli(next)
		if delivered.Valid {
			e.Delivered = time.UnixMilli(delivered.Int64)
		}
		if rejected.Valid {
			e.RejectedAt = time.UnixMilli(rejected.Int64)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ErrOutboxChanged is returned by Retry and Drop when the message was
// delivered, dropped or otherwise changed since it was read.
var ErrOutboxChanged = errors.New("the message changed meanwhile (delivered or dropped)")

// Retry makes an undelivered message due at time at (now, usually); a
// running sender picks it up when it next reads its outbox. A dead or
// given-up message becomes pending again with a fresh rejection budget; it
// keeps its place in the receiver's order. A pending message goes out in
// order, so it and every pending message ahead of it become due. Retry
// returns how many messages it made due.
func (d *DB) Retry(ctx context.Context, seq int64, at time.Time) (int, error) {
	ms := at.UnixMilli()
	var n int64
	err := d.WithTx(ctx, func(tx *Tx) error {
		var webhook, state string
		err := tx.QueryRowContext(ctx, `SELECT webhook, state FROM outbox WHERE seq = ?`, seq).Scan(&webhook, &state)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrOutboxChanged
		}
		if err != nil {
			return err
		}
		var res sql.Result
		switch state {
		case StateDead, StateGaveUp:
			if _, err := tx.ExecContext(ctx, `DELETE FROM outbox_rejections WHERE seq = ?`, seq); err != nil {
				return err
			}
			res, err = tx.ExecContext(ctx, `UPDATE outbox SET state = 'pending', next_attempt = ? WHERE seq = ?`, ms, seq)
		case StatePending:
			res, err = tx.ExecContext(ctx, `UPDATE outbox SET next_attempt = ?
				WHERE webhook = ? AND state = 'pending' AND seq <= ? AND next_attempt > ?`, ms, webhook, seq, ms)
		default:
			return ErrOutboxChanged
		}
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if errors.Is(err, ErrOutboxChanged) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("storage: retry outbox message %d: %w", seq, err)
	}
	return int(n), nil
}

// Drop gives up an undelivered message for good: it stays in the outbox
// as dropped (so that a replayed evaluation does not queue it again) until
// it is pruned with the alerts.
func (d *DB) Drop(ctx context.Context, seq int64) error {
	res, err := d.db.ExecContext(ctx, `UPDATE outbox SET state = 'dropped' WHERE seq = ? AND state IN (?, ?, ?)`,
		seq, StatePending, StateDead, StateGaveUp)
	if err != nil {
		return fmt.Errorf("storage: drop outbox message %d: %w", seq, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrOutboxChanged
	}
	return nil
}
