package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/storage"
)

func outboxAlert(i int) chart.Alert {
	return chart.Alert{ID: chart.AlertID("outbox", string(rune('a'+i))), Kind: chart.KindSurge, Severity: chart.SeverityWarning,
		Time: time.Now().UTC().Truncate(time.Second), Store: chart.AppStore, Country: chart.Ptr("us"), Chart: chart.TopFree,
		Category: chart.All, AppID: "1", AppName: "One", Summary: "s"}
}

// enqueue stores alerts and queues each for the receivers, one batch each.
func enqueue(t *testing.T, db *storage.DB, as []chart.Alert, webhooks ...string) {
	t.Helper()
	ctx := context.Background()
	for i := range as {
		must(t, db.WithTx(ctx, func(tx *storage.Tx) error {
			if _, err := tx.SaveAlert(ctx, &as[i]); err != nil {
				return err
			}
			for _, w := range webhooks {
				if err := tx.Enqueue(ctx, w, &as[i], int64(i)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
}

func head(t *testing.T, db *storage.DB, webhook string) storage.Message {
	t.Helper()
	msgs, err := db.NextMessages(context.Background(), webhook, 1)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("outbox of %s: %d messages, %v", webhook, len(msgs), err)
	}
	return msgs[0]
}

func states(t *testing.T, db *storage.DB, q storage.OutboxQuery) string {
	t.Helper()
	es, err := db.Outbox(context.Background(), q)
	must(t, err)
	var out []string
	for _, e := range es {
		out = append(out, e.AlertID[:4]+":"+e.State)
	}
	return strings.Join(out, " ")
}

// A file of schema version 1 (before dead messages) opens as it is: its
// pending messages keep their order, they can be rejected, set aside, listed,
// retried and dropped, and the file stays version 1 (the new tables are
// additive, so an older rankpulse still reads it).
func TestAVersion1OutboxOpensAndGainsDeadMessages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ddl, err := os.ReadFile("testdata/schema-v1.sql")
	must(t, err)
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, storage.FileName))
	must(t, err)
	_, err = raw.Exec(string(ddl))
	must(t, err)
	as := []chart.Alert{outboxAlert(0), outboxAlert(1), outboxAlert(2), outboxAlert(3)}
	now := time.Now().UnixMilli()
	for i, a := range as {
		_, err := raw.Exec(`INSERT INTO alerts (id, revision, time, kind, severity, store, country, app_id, body, stored) VALUES (?, 0, ?, 'surge', 'warning', 'appstore', 'us', '1', ?, ?)`,
			a.ID, a.Time.Unix(), `{"id":"`+a.ID+`","kind":"surge"}`, now)
		must(t, err)
		state := []string{"delivered", "pending", "pending", "gave_up"}[i]
		_, err = raw.Exec(`INSERT INTO outbox (webhook, alert_id, revision, batch, created, next_attempt, state, attempts, last_error) VALUES ('ops', ?, 0, ?, ?, ?, ?, 2, 'HTTP 500')`,
			a.ID, i, now, now, state)
		must(t, err)
	}
	raw.Close()

	db := open(t, dir)
	m := head(t, db, "ops")
	if m.Alert.ID != as[1].ID || m.Rejections != 0 || m.Attempts != 2 {
		t.Fatalf("head %+v", m)
	}
	must(t, db.MarkRejected(ctx, []storage.Message{m}, storage.Rejection{Status: 400, Reason: "HTTP 400 Bad Request: no", At: time.Now(), Dead: true}))
	if got := head(t, db, "ops").Alert.ID; got != as[2].ID {
		t.Fatalf("after the head died, the next one is %s, want %s", got, as[2].ID)
	}
	ids := func(i int) string { return as[i].ID[:4] }
	if got, want := states(t, db, storage.OutboxQuery{Webhook: "ops", Undelivered: true}), ids(1)+":dead "+ids(2)+":pending "+ids(3)+":gave_up"; got != want {
		t.Fatalf("undelivered: %s, want %s", got, want)
	}
	es, err := db.Outbox(ctx, storage.OutboxQuery{Seq: m.Seq})
	must(t, err)
	if len(es) != 1 || es[0].Status != 400 || es[0].Rejections != 1 || es[0].LastError != "HTTP 400 Bad Request: no" || es[0].RejectedAt.IsZero() || es[0].Attempts != 3 {
		t.Fatalf("dead entry %+v", es)
	}
	// Retry puts it back at its place, with a fresh budget.
	if n, err := db.Retry(ctx, m.Seq, time.Now()); err != nil || n != 1 {
		t.Fatalf("retry: %d, %v", n, err)
	}
	if h := head(t, db, "ops"); h.Alert.ID != as[1].ID || h.Rejections != 0 {
		t.Fatalf("after retry the head is %+v", h)
	}
	must(t, db.Drop(ctx, m.Seq))
	if got := states(t, db, storage.OutboxQuery{Undelivered: true}); got != ids(2)+":pending "+ids(3)+":gave_up" {
		t.Fatalf("after drop: %s", got)
	}
	var v string
	must(t, db.SQL().QueryRow(`SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v))
	if v != "2" { // migrated: evaluations are numbered
		t.Fatalf("schema_version %s", v)
	}
}

func TestRetryAndDropOnlyTouchUndeliveredMessages(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	enqueue(t, db, []chart.Alert{outboxAlert(0), outboxAlert(1), outboxAlert(2)}, "ops")
	msgs, err := db.NextMessages(ctx, "ops", 1)
	must(t, err)
	later := time.Now().Add(time.Hour)
	must(t, db.MarkRetry(ctx, msgs, later, "HTTP 503 Service Unavailable"))
	es, err := db.Outbox(ctx, storage.OutboxQuery{Webhook: "ops"})
	must(t, err)
	// Retrying the third (never tried, so due already) makes the head, which
	// goes out before it, due as well.
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
	// A dropped message is not put back by a sender's late bookkeeping.
	must(t, db.MarkGaveUp(ctx, []storage.Message{{Seq: es[1].Seq}}, "late"))
	must(t, db.MarkRejected(ctx, []storage.Message{{Seq: es[1].Seq}}, storage.Rejection{Status: 400, At: time.Now(), Dead: true}))
	if got := states(t, db, storage.OutboxQuery{Seq: es[1].Seq}); !strings.HasSuffix(got, ":dropped") {
		t.Fatalf("dropped message is now %s", got)
	}
	if _, err := db.Retry(ctx, 999, time.Now()); !errors.Is(err, storage.ErrOutboxChanged) {
		t.Fatalf("retry of an unknown seq: %v", err)
	}
}

func TestRejectRuns(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	t0 := time.Now().Add(-time.Hour)
	if _, ok, err := db.RejectRunOf(ctx, "ops"); ok || err != nil {
		t.Fatalf("a run before any rejection: %v %v", ok, err)
	}
	_, err := db.NoteRejection(ctx, "ops", "fp1", "HTTP 401 Unauthorized", t0)
	must(t, err)
	run, err := db.NoteRejection(ctx, "ops", "fp1", "HTTP 403 Forbidden", t0.Add(time.Minute))
	must(t, err)
	if run.Count != 2 || !run.First.Equal(t0.Truncate(time.Millisecond)) || run.Last.Sub(run.First) != time.Minute || run.LastError != "HTTP 403 Forbidden" {
		t.Fatalf("run %+v", run)
	}
	run, err = db.NoteRejection(ctx, "ops", "fp2", "HTTP 404 Not Found", t0.Add(2*time.Minute))
	must(t, err)
	if run.Count != 1 || run.First != run.Last || run.Fingerprint != "fp2" {
		t.Fatalf("new settings did not start a new run: %+v", run)
	}
	must(t, db.EndRejectRun(ctx, "ops"))
	if _, ok, _ := db.RejectRunOf(ctx, "ops"); ok {
		t.Fatal("the run was not ended")
	}
}

// Pruning old messages takes their rejection records along (the foreign
// key would refuse otherwise).
func TestPruneTakesDeadMessagesAlong(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	enqueue(t, db, []chart.Alert{outboxAlert(0)}, "ops")
	must(t, db.MarkRejected(ctx, []storage.Message{head(t, db, "ops")}, storage.Rejection{Status: 422, At: time.Now(), Dead: true}))
	if _, err := db.Prune(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("prune with a dead message: %v", err)
	}
	var n int
	must(t, db.SQL().QueryRow(`SELECT count(*) FROM outbox_rejections`).Scan(&n))
	if n != 0 {
		t.Fatalf("%d rejection records outlived their messages", n)
	}
}
