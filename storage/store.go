package storage

import (
	"context"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

// The interfaces below are the seam between rankpulse and its store. *DB
// (the embedded SQLite file) implements them; storage/postgres implements
// them on a PostgreSQL server shared by the instances of a cluster. The
// conformance suite in storage/storagetest runs the same tests against
// both. What only one backend can do (SQLite's Checkpoint and WithTx on
// *sql.Tx, PostgreSQL's claims and leases) stays on the concrete types.

// WriteTx is a write transaction: a slot's alerts, their outbox rows and
// the evaluated flags of its snapshots commit together or not at all.
type WriteTx interface {
	// SaveSnapshot stores one snapshot, not yet evaluated, by the rules of
	// SaveSnapshots.
	SaveSnapshot(ctx context.Context, s *chart.Snapshot) error
	// SaveAlert stores an alert unless one with the same id and revision
	// is stored, and reports whether it was new.
	SaveAlert(ctx context.Context, a *chart.Alert) (bool, error)
	// Enqueue puts an alert in a receiver's outbox (a no-op if it is there).
	Enqueue(ctx context.Context, webhook string, a *chart.Alert, batch int64) error
	// MarkEvaluated records that the alert engine has read these
	// snapshots, as one evaluation, and returns its sequence number.
	MarkEvaluated(ctx context.Context, slot time.Time, keys []chart.Key) (int64, error)
	// SaveEngineState stores the engine's checkpoint, replacing the one
	// before.
	SaveEngineState(ctx context.Context, st EngineState) error
}

// Reader is what the status pages and the exporters read.
type Reader interface {
	// Snapshots calls fn for each stored snapshot matching q, in time
	// order (then by chart), streaming.
	Snapshots(ctx context.Context, q Query, fn func(chart.Snapshot) error) error
	// Latest returns the newest snapshot of each chart matching q.
	Latest(ctx context.Context, q Query) ([]chart.Snapshot, error)
	// Digests calls fn with a Digest of every snapshot matching q.
	Digests(ctx context.Context, apps []AppRef, q Query, fn func(*Digest) error) error
	// SnapshotBefore / SnapshotAfter read one snapshot of one chart.
	SnapshotBefore(ctx context.Context, k chart.Key, t time.Time) (chart.Snapshot, bool, error)
	SnapshotAfter(ctx context.Context, k chart.Key, t time.Time) (chart.Snapshot, bool, error)
	// History returns an app's rank in every snapshot matching q.
	History(ctx context.Context, store, appID string, q Query) ([]Point, error)
	// Alerts returns stored alerts.
	Alerts(ctx context.Context, q AlertQuery) ([]chart.Alert, error)
	// Slots lists the stored slots since a time, oldest first.
	Slots(ctx context.Context, since time.Time) ([]SlotInfo, error)
	// KnownNames returns the last name each of ids was seen with.
	KnownNames(ctx context.Context, store string, ids []string) (map[string]string, error)
}

// Outbox is the webhook outbox as its dispatcher and `rankpulse alerts`
// use it.
type Outbox interface {
	NextMessages(ctx context.Context, webhook string, max int) ([]Message, error)
	MarkDelivered(ctx context.Context, msgs []Message) error
	MarkRetry(ctx context.Context, msgs []Message, next time.Time, reason string) error
	MarkGaveUp(ctx context.Context, msgs []Message, reason string) error
	MarkRejected(ctx context.Context, msgs []Message, r Rejection) error
	OutboxStats(ctx context.Context, webhook string) (map[string]int, error)
	Outbox(ctx context.Context, q OutboxQuery) ([]OutboxEntry, error)
	Retry(ctx context.Context, seq int64, at time.Time) (int, error)
	Drop(ctx context.Context, seq int64) error
	Disabled(ctx context.Context, name, urlHash string) (reason string, at time.Time, disabled bool, err error)
	Disable(ctx context.Context, name, urlHash, reason string) error
	NoteRejection(ctx context.Context, name, fingerprint, reason string, at time.Time) (RejectRun, error)
	EndRejectRun(ctx context.Context, name string) error
	RejectRunOf(ctx context.Context, name string) (RejectRun, bool, error)
}

// Store is a whole rankpulse store.
type Store interface {
	Reader
	Outbox
	// SaveSnapshots stores snapshots in one transaction. A snapshot
	// replaces the stored one of the same chart and slot, except that
	// neither an incomplete snapshot nor a shallower complete one replaces
	// a complete one.
	SaveSnapshots(ctx context.Context, snaps []chart.Snapshot) error
	// SaveImported is SaveSnapshots with the snapshots marked evaluated.
	SaveImported(ctx context.Context, snaps []chart.Snapshot) error
	// Update runs fn in a write transaction, committed if fn returns nil.
	Update(ctx context.Context, fn func(WriteTx) error) error
	// Prune deletes snapshots older than before (and what only they used).
	Prune(ctx context.Context, before time.Time) (int64, error)
	// Stats reads the store's size and range.
	Stats(ctx context.Context) (Stats, error)
	// EngineState returns the alert engine's checkpoint (false: none).
	EngineState(ctx context.Context) (EngineState, bool, error)
	// LastEvalSeq returns the number of the newest evaluation (0: none).
	LastEvalSeq(ctx context.Context) (int64, error)
	// EvaluatedAfter calls fn with every evaluation numbered after seq, in
	// order, with the snapshots it marked that are still stored.
	EvaluatedAfter(ctx context.Context, seq int64, onCorrupt func(*CorruptError) error, fn func(Evaluation) error) error
	// Ping checks the store answers.
	Ping(ctx context.Context) error
	// Location names the store in messages: a file, or a server and
	// database (never a password).
	Location() string
	Close() error
}

var _ Store = (*DB)(nil)

// Update runs fn in a write transaction (WithTx with the WriteTx seam).
func (d *DB) Update(ctx context.Context, fn func(WriteTx) error) error {
	return d.WithTx(ctx, func(tx *Tx) error { return fn(tx) })
}

// Location is the database file.
func (d *DB) Location() string { return d.path }

// Corrupt reports a snapshot that cannot be decoded, for a backend's
// readers: it ends the read unless q.OnCorrupt lets it go on (nil).
func (q Query) Corrupt(k chart.Key, slot time.Time, err error) error {
	ce := &CorruptError{Key: k, Time: slot.UTC(), Err: err}
	if q.OnCorrupt == nil {
		return ce
	}
	return q.OnCorrupt(ce)
}
