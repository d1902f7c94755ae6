package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rankpulse/rankpulse/storage"
)

// The webhook outbox, as storage/outbox*.go keeps it in the embedded
// store: the same states, the same order and the same answers.

// NextMessages returns a receiver's oldest pending message and up to max-1
// more pending messages of the same batch.
func (d *DB) NextMessages(ctx context.Context, webhook string, max int) ([]storage.Message, error) {
	rows, err := d.pool.Query(ctx, `
		SELECT o.seq, o.batch, o.created, o.attempts, o.next_attempt, COALESCE(r.count, 0), a.body
		FROM outbox o JOIN alerts a ON a.id = o.alert_id AND a.revision = o.revision
		LEFT JOIN outbox_rejections r ON r.seq = o.seq
		WHERE o.webhook = $1 AND o.state = 'pending'
		ORDER BY o.seq LIMIT $2`, webhook, max)
	if err != nil {
		return nil, fmt.Errorf("storage: outbox of %s: %w", webhook, err)
	}
	defer rows.Close()
	var out []storage.Message
	for rows.Next() {
		var m storage.Message
		var created, next int64
		var body string
		if err := rows.Scan(&m.Seq, &m.Batch, &created, &m.Attempts, &next, &m.Rejections, &body); err != nil {
			return nil, fmt.Errorf("storage: outbox of %s: %w", webhook, err)
		}
		if len(out) > 0 && m.Batch != out[0].Batch {
			break
		}
		if err := json.Unmarshal([]byte(body), &m.Alert); err != nil {
			return nil, fmt.Errorf("storage: outbox alert: %w", err)
		}
		m.Webhook, m.Created, m.Next = webhook, time.UnixMilli(created), time.UnixMilli(next)
		out = append(out, m)
	}
	return out, rows.Err()
}

func seqs(msgs []storage.Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Seq
	}
	return out
}

// MarkDelivered records a receiver's acknowledgement and forgets the
// rejections the messages had.
func (d *DB) MarkDelivered(ctx context.Context, msgs []storage.Message) error {
	ids := seqs(msgs)
	now := time.Now().UnixMilli()
	var err error
	if !slices.ContainsFunc(msgs, func(m storage.Message) bool { return m.Rejections > 0 }) {
		_, err = d.pool.Exec(ctx, `UPDATE outbox SET state = 'delivered', delivered = $1, attempts = attempts + 1, last_error = '' WHERE seq = ANY($2)`, now, ids)
	} else {
		err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE outbox SET state = 'delivered', delivered = $1, attempts = attempts + 1, last_error = '' WHERE seq = ANY($2)`, now, ids); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DELETE FROM outbox_rejections WHERE seq = ANY($1)`, ids)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("storage: mark delivered: %w", err)
	}
	return nil
}

// ceilMilli is t in Unix milliseconds, rounded up (a Retry-After is a
// minimum).
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// MarkRetry schedules another attempt of messages still pending.
func (d *DB) MarkRetry(ctx context.Context, msgs []storage.Message, next time.Time, reason string) error {
	_, err := d.pool.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt = $1, last_error = $2 WHERE state = 'pending' AND seq = ANY($3)`,
		ceilMilli(next), reason, seqs(msgs))
	if err != nil {
		return fmt.Errorf("storage: mark retry: %w", err)
	}
	return nil
}

// MarkGaveUp ends the delivery of messages still pending.
func (d *DB) MarkGaveUp(ctx context.Context, msgs []storage.Message, reason string) error {
	_, err := d.pool.Exec(ctx, `UPDATE outbox SET state = 'gave_up', attempts = attempts + 1, last_error = $1 WHERE state = 'pending' AND seq = ANY($2)`,
		reason, seqs(msgs))
	if err != nil {
		return fmt.Errorf("storage: mark gave up: %w", err)
	}
	return nil
}

// MarkRejected records a permanent rejection of messages still pending.
func (d *DB) MarkRejected(ctx context.Context, msgs []storage.Message, r storage.Rejection) error {
	at := r.At.UnixMilli()
	ids := seqs(msgs)
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		for _, m := range msgs {
			if _, err := tx.Exec(ctx, `
				INSERT INTO outbox_rejections (seq, count, status, first_at, last_at) VALUES ($1, 1, $2, $3, $3)
				ON CONFLICT (seq) DO UPDATE SET count = outbox_rejections.count + 1, status = excluded.status, last_at = excluded.last_at`,
				m.Seq, r.Status, at); err != nil {
				return err
			}
		}
		var err error
		if r.Dead {
			_, err = tx.Exec(ctx, `UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = $1 WHERE state = 'pending' AND seq = ANY($2)`, r.Reason, ids)
		} else {
			_, err = tx.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt = $1, last_error = $2 WHERE state = 'pending' AND seq = ANY($3)`,
				ceilMilli(r.Next), r.Reason, ids)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("storage: mark rejected: %w", err)
	}
	return nil
}

// OutboxStats counts a receiver's messages by state.
func (d *DB) OutboxStats(ctx context.Context, webhook string) (map[string]int, error) {
	rows, err := d.pool.Query(ctx, `SELECT state, count(*) FROM outbox WHERE webhook = $1 GROUP BY state`, webhook)
	if err != nil {
		return nil, fmt.Errorf("storage: outbox stats: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, err
		}
		out[state] = n
	}
	return out, rows.Err()
}

// Outbox returns the outbox rows a query selects, by receiver, oldest
// first.
func (d *DB) Outbox(ctx context.Context, q storage.OutboxQuery) ([]storage.OutboxEntry, error) {
	var a args
	var conds []string
	if q.Webhook != "" {
		conds = append(conds, "o.webhook = "+a.add(q.Webhook))
	}
	if q.Seq != 0 {
		conds = append(conds, "o.seq = "+a.add(q.Seq))
	}
	if q.AlertID != "" {
		conds = append(conds, "o.alert_id = "+a.add(q.AlertID))
	}
	if q.Undelivered {
		conds = append(conds, "o.state = ANY("+a.add([]string{storage.StatePending, storage.StateDead, storage.StateGaveUp})+")")
	}
	w := ""
	if len(conds) > 0 {
		w = "WHERE " + strings.Join(conds, " AND ")
	}
	rows, err := d.pool.Query(ctx, `
		SELECT o.seq, o.webhook, o.alert_id, o.revision, COALESCE(al.kind, ''), COALESCE(al.severity, ''), o.state, o.created,
			o.attempts, o.next_attempt, o.last_error, o.delivered, COALESCE(r.count, 0), COALESCE(r.status, 0), r.last_at
		FROM outbox o
		LEFT JOIN alerts al ON al.id = o.alert_id AND al.revision = o.revision
		LEFT JOIN outbox_rejections r ON r.seq = o.seq
		`+w+` ORDER BY o.webhook, o.seq`, a...)
	if err != nil {
		return nil, fmt.Errorf("storage: outbox: %w", err)
	}
	defer rows.Close()
	var out []storage.OutboxEntry
	for rows.Next() {
		var e storage.OutboxEntry
		var created, next int64
		var delivered, rejected *int64
		if err := rows.Scan(&e.Seq, &e.Webhook, &e.AlertID, &e.Revision, &e.Kind, &e.Severity, &e.State, &created,
			&e.Attempts, &next, &e.LastError, &delivered, &e.Rejections, &e.Status, &rejected); err != nil {
			return nil, fmt.Errorf("storage: outbox: %w", err)
		}
		e.Created, e.Next = time.UnixMilli(created), time.UnixMilli(next)
		if delivered != nil {
			e.Delivered = time.UnixMilli(*delivered)
		}
		if rejected != nil {
			e.RejectedAt = time.UnixMilli(*rejected)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Retry makes an undelivered message due at time at (see storage.DB.Retry).
func (d *DB) Retry(ctx context.Context, seq int64, at time.Time) (int, error) {
	ms := at.UnixMilli()
	var n int64
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		var webhook, state string
		err := tx.QueryRow(ctx, `SELECT webhook, state FROM outbox WHERE seq = $1 FOR UPDATE`, seq).Scan(&webhook, &state)
		if isNoRows(err) {
			return storage.ErrOutboxChanged
		}
		if err != nil {
			return err
		}
		switch state {
		case storage.StateDead, storage.StateGaveUp:
			if _, err := tx.Exec(ctx, `DELETE FROM outbox_rejections WHERE seq = $1`, seq); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `UPDATE outbox SET state = 'pending', next_attempt = $1 WHERE seq = $2`, ms, seq)
			n = tag.RowsAffected()
			return err
		case storage.StatePending:
			tag, err := tx.Exec(ctx, `UPDATE outbox SET next_attempt = $1
				WHERE webhook = $2 AND state = 'pending' AND seq <= $3 AND next_attempt > $1`, ms, webhook, seq)
			n = tag.RowsAffected()
			return err
		default:
			return storage.ErrOutboxChanged
		}
	})
	if errors.Is(err, storage.ErrOutboxChanged) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("storage: retry outbox message %d: %w", seq, err)
	}
	return int(n), nil
}

// Drop gives up an undelivered message for good.
func (d *DB) Drop(ctx context.Context, seq int64) error {
	tag, err := d.pool.Exec(ctx, `UPDATE outbox SET state = 'dropped' WHERE seq = $1 AND state = ANY($2)`,
		seq, []string{storage.StatePending, storage.StateDead, storage.StateGaveUp})
	if err != nil {
		return fmt.Errorf("storage: drop outbox message %d: %w", seq, err)
	}
	if tag.RowsAffected() == 0 {
		return storage.ErrOutboxChanged
	}
	return nil
}

// Disabled reports whether a receiver was disabled (410 Gone) while it had
// this URL.
func (d *DB) Disabled(ctx context.Context, name, urlHash string) (reason string, at time.Time, disabled bool, err error) {
	var ms int64
	var h string
	err = d.pool.QueryRow(ctx, `SELECT url_hash, reason, at FROM webhook_disabled WHERE name = $1`, name).Scan(&h, &reason, &ms)
	if isNoRows(err) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("storage: webhook state: %w", err)
	}
	return reason, time.UnixMilli(ms), h == urlHash, nil
}

// Disable records that a receiver answered 410 Gone.
func (d *DB) Disable(ctx context.Context, name, urlHash, reason string) error {
	_, err := d.pool.Exec(ctx, `INSERT INTO webhook_disabled (name, url_hash, reason, at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET url_hash = excluded.url_hash, reason = excluded.reason, at = excluded.at`,
		name, urlHash, reason, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("storage: disable webhook %s: %w", name, err)
	}
	return nil
}

// NoteRejection extends a receiver's run of permanent rejections by one.
func (d *DB) NoteRejection(ctx context.Context, name, fingerprint, reason string, at time.Time) (storage.RejectRun, error) {
	ms := at.UnixMilli()
	var run storage.RejectRun
	var first, last int64
	err := d.pool.QueryRow(ctx, `
		INSERT INTO webhook_rejecting (name, fingerprint, first_at, last_at, count, last_error) VALUES ($1, $2, $3, $3, 1, $4)
		ON CONFLICT (name) DO UPDATE SET
			first_at = CASE WHEN webhook_rejecting.fingerprint = excluded.fingerprint THEN webhook_rejecting.first_at ELSE excluded.first_at END,
			count = CASE WHEN webhook_rejecting.fingerprint = excluded.fingerprint THEN webhook_rejecting.count + 1 ELSE 1 END,
			fingerprint = excluded.fingerprint, last_at = excluded.last_at, last_error = excluded.last_error
		RETURNING fingerprint, first_at, last_at, count, last_error`,
		name, fingerprint, ms, reason).Scan(&run.Fingerprint, &first, &last, &run.Count, &run.LastError)
	if err != nil {
		return storage.RejectRun{}, fmt.Errorf("storage: record a rejection by %s: %w", name, err)
	}
	run.First, run.Last = time.UnixMilli(first), time.UnixMilli(last)
	return run, nil
}

// EndRejectRun ends a receiver's run of permanent rejections.
func (d *DB) EndRejectRun(ctx context.Context, name string) error {
	if _, err := d.pool.Exec(ctx, `DELETE FROM webhook_rejecting WHERE name = $1`, name); err != nil {
		return fmt.Errorf("storage: webhook state of %s: %w", name, err)
	}
	return nil
}

// RejectRunOf returns a receiver's current run of permanent rejections.
func (d *DB) RejectRunOf(ctx context.Context, name string) (storage.RejectRun, bool, error) {
	var run storage.RejectRun
	var first, last int64
	err := d.pool.QueryRow(ctx, `SELECT fingerprint, first_at, last_at, count, last_error FROM webhook_rejecting WHERE name = $1`, name).
		Scan(&run.Fingerprint, &first, &last, &run.Count, &run.LastError)
	if isNoRows(err) {
		return storage.RejectRun{}, false, nil
	}
	if err != nil {
		return storage.RejectRun{}, false, fmt.Errorf("storage: webhook state of %s: %w", name, err)
	}
	run.First, run.Last = time.UnixMilli(first), time.UnixMilli(last)
	return run, true, nil
}
