package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

const outboxSchema = `
-- One row per alert and receiver, written in the transaction that stores the
-- alert; delivered in seq order per receiver.
CREATE TABLE IF NOT EXISTS outbox (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	webhook      TEXT NOT NULL,
	alert_id     TEXT NOT NULL,
	revision     INTEGER NOT NULL,
	batch        INTEGER NOT NULL, -- the evaluation that raised it
	created      INTEGER NOT NULL, -- unix ms
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL, -- unix ms
	-- pending | delivered | gave_up (its retry window ended) | dead (the
	-- receiver rejected it: set aside until retried or dropped) | dropped
	state        TEXT NOT NULL DEFAULT 'pending',
	last_error   TEXT NOT NULL DEFAULT '',
	delivered    INTEGER,
	UNIQUE (webhook, alert_id, revision)
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (webhook, seq) WHERE state = 'pending';
-- Receivers that answered 410 Gone, for the URL (hash) they had then.
CREATE TABLE IF NOT EXISTS webhook_disabled (
	name     TEXT PRIMARY KEY,
	url_hash TEXT NOT NULL,
	reason   TEXT NOT NULL,
	at       INTEGER NOT NULL
);
` + outboxRejectSchema

// Message is one outbox row with its alert.
type Message struct {
	Seq      int64
	Webhook  string
	Alert    chart.Alert
	Batch    int64
	Created  time.Time
	Attempts int
	Next     time.Time
	// Rejections counts the permanent rejections the message has had
	// (see MarkRejected).
	Rejections int
}

// Enqueue puts an alert in a receiver's outbox (a no-op if it is there
// already). batch groups the alerts of one evaluation.
func (tx *Tx) Enqueue(ctx context.Context, webhook string, a *chart.Alert, batch int64) error {
	now := time.Now().UnixMilli()
	_, err := tx.ExecContext(ctx, `
		INSERT INTO outbox (webhook, alert_id, revision, batch, created, next_attempt) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (webhook, alert_id, revision) DO NOTHING`, webhook, a.ID, a.Revision, batch, now, now)
	if err != nil {
		return fmt.Errorf("storage: enqueue alert %s for %s: %w", a.ID, webhook, err)
	}
	return nil
}

// NextMessages returns a receiver's oldest pending message and, after it,
// up to max-1 more pending messages of the same batch (to send together).
// It returns nothing when no message is pending.
func (d *DB) NextMessages(ctx context.Context, webhook string, max int) ([]Message, error) {
	rows, err := d.db.QueryContext(ctx, `
		SELECT o.seq, o.batch, o.created, o.attempts, o.next_attempt, COALESCE(r.count, 0), a.body
		FROM outbox o JOIN alerts a ON a.id = o.alert_id AND a.revision = o.revision
		LEFT JOIN outbox_rejections r ON r.seq = o.seq
		WHERE o.webhook = ? AND o.state = 'pending'
		ORDER BY o.seq LIMIT ?`, webhook, max)
	if err != nil {
		return nil, fmt.Errorf("storage: outbox of %s: %w", webhook, err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var created, next int64
		var body []byte
		if err := rows.Scan(&m.Seq, &m.Batch, &created, &m.Attempts, &next, &m.Rejections, &body); err != nil {
			return nil, fmt.Errorf("storage: outbox of %s: %w", webhook, err)
		}
		if len(out) > 0 && m.Batch != out[0].Batch {
			break
		}
		if err := json.Unmarshal(body, &m.Alert); err != nil {
			return nil, fmt.Errorf("storage: outbox alert: %w", err)
		}
		m.Webhook, m.Created, m.Next = webhook, time.UnixMilli(created), time.UnixMilli(next)
		out = append(out, m)
	}
	return out, rows.Err()
}

func seqList(msgs []Message) (string, []any) {
	args := make([]any, len(msgs))
	for i, m := range msgs {
		args[i] = m.Seq
	}
	return "(?" + strings.Repeat(",?", len(msgs)-1) + ")", args
}

// MarkDelivered records a receiver's acknowledgement (whatever state the
// message was in meanwhile: it was delivered), and forgets the rejections
// it had.
func (d *DB) MarkDelivered(ctx context.Context, msgs []Message) error {
	in, args := seqList(msgs)
	mark := func(ctx context.Context, ex execer) error {
		_, err := ex.ExecContext(ctx, `UPDATE outbox SET state = 'delivered', delivered = ?, attempts = attempts + 1, last_error = '' WHERE seq IN `+in,
			append([]any{time.Now().UnixMilli()}, args...)...)
		return err
	}
	var err error
	if !slices.ContainsFunc(msgs, func(m Message) bool { return m.Rejections > 0 }) {
		err = mark(ctx, d.db) // the common case: one statement
	} else {
		err = d.WithTx(ctx, func(tx *Tx) error {
			if err := mark(ctx, tx); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM outbox_rejections WHERE seq IN `+in, args...)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("storage: mark delivered: %w", err)
	}
	return nil
}

// execer is what *sql.DB and *Tx have in common for writes.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// MarkRetry schedules another attempt of messages still pending (one
// dropped meanwhile stays dropped).
func (d *DB) MarkRetry(ctx context.Context, msgs []Message, next time.Time, reason string) error {
	in, args := seqList(msgs)
	_, err := d.db.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE state = 'pending' AND seq IN `+in,
		append([]any{ceilMilli(next), reason}, args...)...)
	if err != nil {
		return fmt.Errorf("storage: mark retry: %w", err)
	}
	return nil
}

// ceilMilli is t in Unix milliseconds, rounded up: a retry stored for
// "not before t" must not come up to a millisecond early (a receiver's
// Retry-After is a minimum).
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// MarkGaveUp ends the delivery of messages still pending.
func (d *DB) MarkGaveUp(ctx context.Context, msgs []Message, reason string) error {
	in, args := seqList(msgs)
	_, err := d.db.ExecContext(ctx, `UPDATE outbox SET state = 'gave_up', attempts = attempts + 1, last_error = ? WHERE state = 'pending' AND seq IN `+in,
		append([]any{reason}, args...)...)
	if err != nil {
		return fmt.Errorf("storage: mark gave up: %w", err)
	}
	return nil
}

// OutboxStats counts a receiver's messages by state.
func (d *DB) OutboxStats(ctx context.Context, webhook string) (map[string]int, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT state, count(*) FROM outbox WHERE webhook = ? GROUP BY state`, webhook)
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

// Disabled reports whether a receiver was disabled (it answered 410 Gone)
// while it had this URL.
func (d *DB) Disabled(ctx context.Context, name, urlHash string) (reason string, at time.Time, disabled bool, err error) {
	var ms int64
	var h string
	err = d.db.QueryRowContext(ctx, `SELECT url_hash, reason, at FROM webhook_disabled WHERE name = ?`, name).Scan(&h, &reason, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("storage: webhook state: %w", err)
	}
	return reason, time.UnixMilli(ms), h == urlHash, nil
}

// Disable records that a receiver answered 410 Gone.
func (d *DB) Disable(ctx context.Context, name, urlHash, reason string) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO webhook_disabled (name, url_hash, reason, at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET url_hash = excluded.url_hash, reason = excluded.reason, at = excluded.at`,
		name, urlHash, reason, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("storage: disable webhook %s: %w", name, err)
	}
	return nil
}
