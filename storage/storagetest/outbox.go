package storagetest

// The webhook outbox: order and batches, retries never early, retry and
// drop, dead messages, reject runs, disabled receivers, pruning.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/storage"
)

// enqueue stores alerts and queues each for the receivers, one batch each.
func enqueue(t *testing.T, db storage.Store, as []chart.Alert, batch func(i int) int64, webhooks ...string) {
	t.Helper()
	ctx := context.Background()
	for i := range as {
		must(t, db.Update(ctx, func(tx storage.WriteTx) error {
			if _, err := tx.SaveAlert(ctx, &as[i]); err != nil {
				return err
			}
			for _, w := range webhooks {
				if err := tx.Enqueue(ctx, w, &as[i], batch(i)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
}

func each(i int) int64 { return int64(i) }

func head(t *testing.T, db storage.Store, webhook string) storage.Message {
	t.Helper()
	msgs, err := db.NextMessages(context.Background(), webhook, 1)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("outbox of %s: %d messages, %v", webhook, len(msgs), err)
	}
	return msgs[0]
}

func states(t *testing.T, db storage.Store, q storage.OutboxQuery) string {
	t.Helper()
	es, err := db.Outbox(context.Background(), q)
	must(t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.AlertID[:4]+":"+e.State)
	}
	return strings.Join(out, " ")
}

func testOutboxOrder(t *testing.T, db storage.Store) {
	ctx := context.Background()
	as := []chart.Alert{alert(1, t0), alert(2, t0), alert(3, t0)}
	enqueue(t, db, as, func(i int) int64 { return int64(i / 2) }, "ops", "chat")
	msgs, err := db.NextMessages(ctx, "ops", 10)
	must(t, err)
	if len(msgs) != 2 || msgs[0].Alert.ID != as[0].ID || msgs[1].Alert.ID != as[1].ID || msgs[0].Batch != 0 {
		t.Fatalf("the first batch: %+v", msgs)
	}
	must(t, db.MarkDelivered(ctx, msgs))
	msgs, _ = db.NextMessages(ctx, "ops", 10)
	if len(msgs) != 1 || msgs[0].Alert.ID != as[2].ID {
		t.Fatalf("after delivery: %+v", msgs)
	}
	st, err := db.OutboxStats(ctx, "ops")
	must(t, err)
	if st[storage.StateDelivered] != 2 || st[storage.StatePending] != 1 {
		t.Fatalf("stats %v", st)
	}
	if st, _ = db.OutboxStats(ctx, "chat"); st[storage.StatePending] != 3 {
		t.Fatalf("the other receiver's outbox: %v", st)
	}
	m := head(t, db, "chat")
	must(t, db.MarkGaveUp(ctx, []storage.Message{m}, "window over"))
	es, _ := db.Outbox(ctx, storage.OutboxQuery{Seq: m.Seq})
	if len(es) != 1 || es[0].State != storage.StateGaveUp || es[0].LastError != "window over" || es[0].Attempts != 1 || es[0].Kind != chart.KindSurge {
		t.Fatalf("gave up: %+v", es)
	}
	if es, _ = db.Outbox(ctx, storage.OutboxQuery{AlertID: as[0].ID}); len(es) != 2 {
		t.Fatalf("by alert: %d rows", len(es))
	}
}

func testRetryNeverEarly(t *testing.T, db storage.Store) {
	ctx := context.Background()
	enqueue(t, db, []chart.Alert{alert(1, time.Now())}, each, "ops")
	msgs, err := db.NextMessages(ctx, "ops", 10)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	next := time.Now().Add(time.Second).Add(400 * time.Microsecond)
	if next.Nanosecond()%int(time.Millisecond) == 0 {
		next = next.Add(time.Microsecond)
	}
	must(t, db.MarkRetry(ctx, msgs, next, "HTTP 429"))
	msgs, _ = db.NextMessages(ctx, "ops", 10)
	if len(msgs) != 1 || msgs[0].Next.Before(next) || msgs[0].Attempts != 1 {
		t.Fatalf("retry due at %s, before the %s asked for", msgs[0].Next.Format(time.StampMicro), next.Format(time.StampMicro))
	}
}

func testRetryAndDrop(t *testing.T, db storage.Store) {
	ctx := context.Background()
	enqueue(t, db, []chart.Alert{alert(1, t0), alert(2, t0), alert(3, t0)}, each, "ops")
	msgs, err := db.NextMessages(ctx, "ops", 1)
	must(t, err)
	must(t, db.MarkRetry(ctx, msgs, time.Now().Add(time.Hour), "HTTP 503 Service Unavailable"))
	es, err := db.Outbox(ctx, storage.OutboxQuery{Webhook: "ops"})
	must(t, err)
	if n, err := db.Retry(ctx, es[2].Seq, time.Now()); err != nil || n != 1 {
		t.Fatalf("retry of a pending message behind a waiting head: %d, %v", n, err)
	}
	if h := head(t, db, "ops"); h.Next.After(time.Now()) {
		t.Fatalf("the head is still due at %s", h.Next)
	}
	must(t, db.MarkDelivered(ctx, []storage.Message{head(t, db, "ops")}))
	if _, err := db.Retry(ctx, es[0].Seq, time.Now()); !errors.Is(err, storage.ErrOutboxChanged) {
		t.Fatalf("retry of a delivered message: %v", err)
	}
	if err := db.Drop(ctx, es[0].Seq); !errors.Is(err, storage.ErrOutboxChanged) {
		t.Fatalf("drop of a delivered message: %v", err)
	}
	must(t, db.Drop(ctx, es[1].Seq))
	if err := db.Drop(ctx, es[1].Seq); !errors.Is(err, storage.ErrOutboxChanged) {
		t.Fatalf("second drop: %v", err)
	}
	must(t, db.MarkGaveUp(ctx, []storage.Message{{Seq: es[1].Seq}}, "late"))
	must(t, db.MarkRejected(ctx, []storage.Message{{Seq: es[1].Seq}}, storage.Rejection{Status: 400, At: time.Now(), Dead: true}))
	if got := states(t, db, storage.OutboxQuery{Seq: es[1].Seq}); !strings.HasSuffix(got, ":dropped") {
		t.Fatalf("dropped message is now %s", got)
	}
	if _, err := db.Retry(ctx, 999999, time.Now()); !errors.Is(err, storage.ErrOutboxChanged) {
		t.Fatalf("retry of an unknown seq: %v", err)
	}
}

func testDead(t *testing.T, db storage.Store) {
	ctx := context.Background()
	as := []chart.Alert{alert(1, t0), alert(2, t0)}
	enqueue(t, db, as, each, "ops")
	m := head(t, db, "ops")
	next := time.Now().Add(time.Minute)
	must(t, db.MarkRejected(ctx, []storage.Message{m}, storage.Rejection{Status: 400, Reason: "HTTP 400 Bad Request: no", At: time.Now(), Next: next}))
	if h := head(t, db, "ops"); h.Seq != m.Seq || h.Rejections != 1 || h.Next.Before(next) {
		t.Fatalf("after one rejection: %+v", h)
	}
	must(t, db.MarkRejected(ctx, []storage.Message{m}, storage.Rejection{Status: 422, Reason: "HTTP 422", At: time.Now(), Dead: true}))
	if h := head(t, db, "ops"); h.Alert.ID != as[1].ID {
		t.Fatalf("a dead message still heads the outbox: %+v", h)
	}
	es, _ := db.Outbox(ctx, storage.OutboxQuery{Seq: m.Seq})
	if len(es) != 1 || es[0].State != storage.StateDead || es[0].Rejections != 2 || es[0].Status != 422 || es[0].RejectedAt.IsZero() || es[0].LastError != "HTTP 422" {
		t.Fatalf("dead: %+v", es)
	}
	if got := states(t, db, storage.OutboxQuery{Undelivered: true}); got != as[0].ID[:4]+":dead "+as[1].ID[:4]+":pending" {
		t.Fatalf("undelivered: %s", got)
	}
	if n, err := db.Retry(ctx, m.Seq, time.Now()); err != nil || n != 1 {
		t.Fatalf("retry of a dead message: %d %v", n, err)
	}
	h := head(t, db, "ops")
	if h.Seq != m.Seq || h.Rejections != 0 {
		t.Fatalf("a retried dead message keeps its place with a fresh budget: %+v", h)
	}
	must(t, db.MarkDelivered(ctx, []storage.Message{h}))
	if es, _ = db.Outbox(ctx, storage.OutboxQuery{Seq: m.Seq}); es[0].State != storage.StateDelivered || es[0].Delivered.IsZero() || es[0].Rejections != 0 {
		t.Fatalf("delivered: %+v", es)
	}
}

func testRejectRuns(t *testing.T, db storage.Store) {
	ctx := context.Background()
	start := time.Now().Add(-time.Hour)
	if _, ok, err := db.RejectRunOf(ctx, "ops"); ok || err != nil {
		t.Fatalf("a run before any rejection: %v %v", ok, err)
	}
	_, err := db.NoteRejection(ctx, "ops", "fp1", "HTTP 401 Unauthorized", start)
	must(t, err)
	run, err := db.NoteRejection(ctx, "ops", "fp1", "HTTP 403 Forbidden", start.Add(time.Minute))
	must(t, err)
	if run.Count != 2 || !run.First.Equal(start.Truncate(time.Millisecond)) || run.Last.Sub(run.First) != time.Minute || run.LastError != "HTTP 403 Forbidden" {
		t.Fatalf("run %+v", run)
	}
	run, err = db.NoteRejection(ctx, "ops", "fp2", "HTTP 404 Not Found", start.Add(2*time.Minute))
	must(t, err)
	if run.Count != 1 || run.First != run.Last || run.Fingerprint != "fp2" {
		t.Fatalf("new settings did not start a new run: %+v", run)
	}
	if got, ok, err := db.RejectRunOf(ctx, "ops"); !ok || err != nil || got != run {
		t.Fatalf("RejectRunOf = %+v %v %v, want %+v", got, ok, err, run)
	}
	must(t, db.EndRejectRun(ctx, "ops"))
	if _, ok, _ := db.RejectRunOf(ctx, "ops"); ok {
		t.Fatal("the run was not ended")
	}
}

func testDisabled(t *testing.T, db storage.Store) {
	ctx := context.Background()
	if _, _, off, err := db.Disabled(ctx, "ops", "h1"); off || err != nil {
		t.Fatalf("disabled before anything: %v %v", off, err)
	}
	must(t, db.Disable(ctx, "ops", "h1", "HTTP 410 Gone"))
	reason, at, off, err := db.Disabled(ctx, "ops", "h1")
	if !off || err != nil || reason != "HTTP 410 Gone" || time.Since(at) > time.Minute {
		t.Fatalf("disabled: %q %v %v %v", reason, at, off, err)
	}
	if _, _, off, _ := db.Disabled(ctx, "ops", "h2"); off {
		t.Fatal("a receiver with a new URL is still disabled")
	}
}

func testPruneDead(t *testing.T, db storage.Store) {
	ctx := context.Background()
	enqueue(t, db, []chart.Alert{alert(1, time.Now().Add(-48*time.Hour))}, each, "ops")
	must(t, db.MarkRejected(ctx, []storage.Message{head(t, db, "ops")}, storage.Rejection{Status: 422, At: time.Now(), Dead: true}))
	if _, err := db.Prune(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("prune with a dead message: %v", err)
	}
	if es, _ := db.Outbox(ctx, storage.OutboxQuery{}); len(es) != 0 {
		t.Fatalf("%d outbox rows outlived the retention", len(es))
	}
}
