package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// outboxRejectSchema keeps what permanent rejections (a 4xx that retrying
// does not fix) need: each message's count, for its short retry budget and
// to show a dead one, and each receiver's current run of them. Both tables
// are additive: a file without them is the same schema version, and an
// older rankpulse ignores them.
const outboxRejectSchema = `
CREATE TABLE IF NOT EXISTS outbox_rejections (
	seq      INTEGER PRIMARY KEY REFERENCES outbox (seq) ON DELETE CASCADE,
	count    INTEGER NOT NULL, -- permanent rejections of this message
	status   INTEGER NOT NULL, -- the HTTP status of the last one
	first_at INTEGER NOT NULL, -- unix ms
	last_at  INTEGER NOT NULL  -- unix ms; for a dead message, when it was set aside
);
-- A receiver's current run of attempts that were all permanent rejections,
-- for the receiver's settings (fingerprint) of that time. Any other outcome
-- ends the run (the row is deleted).
CREATE TABLE IF NOT EXISTS webhook_rejecting (
	name        TEXT PRIMARY KEY,
	fingerprint TEXT NOT NULL,
	first_at    INTEGER NOT NULL, -- unix ms
	last_at     INTEGER NOT NULL, -- unix ms
	count       INTEGER NOT NULL,
	last_error  TEXT NOT NULL
);
`

// Rejection is the outcome of an attempt the receiver rejected
// permanently.
type Rejection struct {
	Status int
	Reason string    // e.g. "HTTP 400 Bad Request: <first line of the answer>"
	At     time.Time // when the answer came
	// Dead sets the messages aside; otherwise they are retried at Next.
	Dead bool
	Next time.Time
}

// MarkRejected records a permanent rejection of messages still pending:
// it counts it against each message and either schedules the next attempt
// or sets the messages aside as dead. A dead message is not delivered
// again until Retry makes it pending.
func (d *DB) MarkRejected(ctx context.Context, msgs []Message, r Rejection) error {
	in, args := seqList(msgs)
	at := r.At.UnixMilli()
	err := d.WithTx(ctx, func(tx *Tx) error {
		for _, m := range msgs {
			if _, err := tx.ExecContext(ctx, `
				INSERT INTO outbox_rejections (seq, count, status, first_at, last_at) VALUES (?, 1, ?, ?, ?)
				ON CONFLICT (seq) DO UPDATE SET count = outbox_rejections.count + 1, status = excluded.status, last_at = excluded.last_at`,
				m.Seq, r.Status, at, at); err != nil {
				return err
			}
		}
		var err error
		if r.Dead {
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ? WHERE state = 'pending' AND seq IN `+in,
				append([]any{r.Reason}, args...)...)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE state = 'pending' AND seq IN `+in,
				append([]any{ceilMilli(r.Next), r.Reason}, args...)...)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("storage: mark rejected: %w", err)
	}
	return nil
}

// RejectRun is a receiver's current run of permanent rejections.
type RejectRun struct {
	Fingerprint string
	First, Last time.Time
	Count       int
	LastError   string
}

// NoteRejection extends a receiver's run of permanent rejections by one at
// time at, or starts a new run when there is none or it was for other
// settings, and returns the run.
func (d *DB) NoteRejection(ctx context.Context, name, fingerprint, reason string, at time.Time) (RejectRun, error) {
	ms := at.UnixMilli()
	var run RejectRun
	err := d.WithTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO webhook_rejecting (name, fingerprint, first_at, last_at, count, last_error) VALUES (?, ?, ?, ?, 1, ?)
			ON CONFLICT (name) DO UPDATE SET
				first_at = CASE WHEN webhook_rejecting.fingerprint = excluded.fingerprint THEN webhook_rejecting.first_at ELSE excluded.first_at END,
				count = CASE WHEN webhook_rejecting.fingerprint = excluded.fingerprint THEN webhook_rejecting.count + 1 ELSE 1 END,
				fingerprint = excluded.fingerprint, last_at = excluded.last_at, last_error = excluded.last_error`,
			name, fingerprint, ms, ms, reason); err != nil {
			return err
		}
		var err error
		run, err = scanRun(tx.QueryRowContext(ctx, `SELECT fingerprint, first_at, last_at, count, last_error FROM webhook_rejecting WHERE name = ?`, name))
		return err
	})
	if err != nil {
		return RejectRun{}, fmt.Errorf("storage: record a rejection by %s: %w", name, err)
	}
	return run, nil
}

// EndRejectRun ends a receiver's run of permanent rejections: it answered
// something else.
func (d *DB) EndRejectRun(ctx context.Context, name string) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM webhook_rejecting WHERE name = ?`, name); err != nil {
		return fmt.Errorf("storage: webhook state of %s: %w", name, err)
	}
	return nil
}

// RejectRunOf returns a receiver's current run of permanent rejections,
// if it has one.
func (d *DB) RejectRunOf(ctx context.Context, name string) (RejectRun, bool, error) {
	run, err := scanRun(d.db.QueryRowContext(ctx, `SELECT fingerprint, first_at, last_at, count, last_error FROM webhook_rejecting WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return RejectRun{}, false, nil
	}
	if err != nil {
		return RejectRun{}, false, fmt.Errorf("storage: webhook state of %s: %w", name, err)
	}
	return run, true, nil
}

func scanRun(row *sql.Row) (RejectRun, error) {
	var run RejectRun
	var first, last int64
	if err := row.Scan(&run.Fingerprint, &first, &last, &run.Count, &run.LastError); err != nil {
		return RejectRun{}, err
	}
	run.First, run.Last = time.UnixMilli(first), time.UnixMilli(last)
	return run, nil
}
