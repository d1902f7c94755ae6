package storagetest

// Alerts, transactions and the alert engine's bookkeeping: evaluated
// flags, numbered evaluations and the checkpoint.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/storage"
)

func alert(i int, at time.Time) chart.Alert {
	return chart.Alert{ID: chart.AlertID("conformance", strconv.Itoa(i)), Kind: chart.KindSurge, Severity: chart.SeverityWarning,
		Time: at.UTC().Truncate(time.Second), Store: chart.AppStore, Country: chart.Ptr("us"), Chart: chart.TopFree,
		Category: chart.All, AppID: strconv.Itoa(i), AppName: "App", Summary: "s" + strconv.Itoa(i)}
}

// An evaluation's writes (alerts, outbox rows, evaluated flags, a
// snapshot) commit together or not at all.
func testUpdateIsWhole(t *testing.T, db storage.Store) {
	ctx := context.Background()
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(t0, true, "1", "2")}))
	a := alert(1, t0)
	boom := errors.New("boom")
	err := db.Update(ctx, func(tx storage.WriteTx) error {
		if _, err := tx.SaveAlert(ctx, &a); err != nil {
			return err
		}
		if err := tx.Enqueue(ctx, "ops", &a, 1); err != nil {
			return err
		}
		s := snapIn("gb", t0, true, "5")
		if err := tx.SaveSnapshot(ctx, &s); err != nil {
			return err
		}
		if _, err := tx.MarkEvaluated(ctx, t0, []chart.Key{usKey}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	if as, _ := db.Alerts(ctx, storage.AlertQuery{}); len(as) != 0 {
		t.Fatalf("a rolled-back alert is stored: %v", as)
	}
	if msgs, _ := db.NextMessages(ctx, "ops", 10); len(msgs) != 0 {
		t.Fatal("a rolled-back outbox row is queued")
	}
	if got := all(t, db, storage.Query{}); len(got) != 1 {
		t.Fatalf("%d snapshots after the rollback, want 1", len(got))
	}
	slots, err := db.Slots(ctx, time.Time{})
	must(t, err)
	if len(slots) != 1 || !slots[0].Pending {
		t.Fatalf("slots after the rollback %+v: the evaluated flag must roll back", slots)
	}
	must(t, db.Update(ctx, func(tx storage.WriteTx) error {
		isNew, err := tx.SaveAlert(ctx, &a)
		if err != nil || !isNew {
			return errors.Join(err, errors.New("the alert is not new"))
		}
		if err := tx.Enqueue(ctx, "ops", &a, 1); err != nil {
			return err
		}
		_, err = tx.MarkEvaluated(ctx, t0, []chart.Key{usKey})
		return err
	}))
	if msgs, _ := db.NextMessages(ctx, "ops", 10); len(msgs) != 1 || msgs[0].Alert.ID != a.ID {
		t.Fatalf("outbox after commit: %+v", msgs)
	}
	// A replayed evaluation stores nothing twice.
	must(t, db.Update(ctx, func(tx storage.WriteTx) error {
		isNew, err := tx.SaveAlert(ctx, &a)
		if err == nil && isNew {
			err = errors.New("the replayed alert is new again")
		}
		if err != nil {
			return err
		}
		return tx.Enqueue(ctx, "ops", &a, 2)
	}))
	if es, _ := db.Outbox(ctx, storage.OutboxQuery{}); len(es) != 1 {
		t.Fatalf("%d outbox rows after a replay, want 1", len(es))
	}
}

func testEvaluated(t *testing.T, db storage.Store) {
	ctx := context.Background()
	s1, s2 := snap(t0, true, "1"), snapIn("gb", t0, true, "1")
	s3 := snap(t0.Add(time.Hour), true, "1")
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{s1, s2, s3}))
	must(t, db.Update(ctx, func(tx storage.WriteTx) error { _, err := tx.MarkEvaluated(ctx, t0, []chart.Key{s1.Key()}); return err }))
	slots, err := db.Slots(ctx, time.Time{})
	must(t, err)
	if len(slots) != 2 || !slots[0].Slot.Equal(t0) || !slots[0].Pending || !slots[1].Pending {
		t.Fatalf("slots %+v: the first is pending while gb is not evaluated", slots)
	}
	must(t, db.Update(ctx, func(tx storage.WriteTx) error {
		_, err := tx.MarkEvaluated(ctx, t0, []chart.Key{s1.Key(), s2.Key()})
		return err
	}))
	slots, _ = db.Slots(ctx, time.Time{})
	if slots[0].Pending || !slots[1].Pending {
		t.Fatalf("slots %+v", slots)
	}
	if slots, _ = db.Slots(ctx, t0.Add(time.Minute)); len(slots) != 1 {
		t.Fatalf("Slots(since) %+v", slots)
	}
	// A new read of an evaluated slot is evaluated again.
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(t0, true, "2", "1")}))
	if slots, _ = db.Slots(ctx, time.Time{}); !slots[0].Pending {
		t.Fatal("a rewritten snapshot kept its evaluated flag")
	}
}

func testImportIsEvaluated(t *testing.T, db storage.Store) {
	ctx := context.Background()
	must(t, db.SaveImported(ctx, []chart.Snapshot{snap(t0, true, "1"), snapIn("gb", t0, false, "2")}))
	slots, err := db.Slots(ctx, time.Time{})
	must(t, err)
	if len(slots) != 1 || slots[0].Pending {
		t.Fatalf("imported history awaits the alert engine: %+v", slots)
	}
}

func testAlerts(t *testing.T, db storage.Store) {
	ctx := context.Background()
	as := []chart.Alert{alert(1, t0), alert(2, t0.Add(time.Hour)), alert(3, t0.Add(2*time.Hour))}
	as[2].Kind = chart.KindDrop
	rev := as[1]
	rev.Revision = 1
	rev.Summary = "revised"
	must(t, db.Update(ctx, func(tx storage.WriteTx) error {
		for _, a := range append(as, rev) {
			if _, err := tx.SaveAlert(ctx, &a); err != nil {
				return err
			}
		}
		return nil
	}))
	got, err := db.Alerts(ctx, storage.AlertQuery{})
	must(t, err)
	if len(got) != 4 || got[0].ID != as[0].ID || got[3].ID != as[2].ID || !reflect.DeepEqual(got[0], as[0]) {
		t.Fatalf("alerts %+v", got)
	}
	got, _ = db.Alerts(ctx, storage.AlertQuery{Kind: chart.KindDrop})
	if len(got) != 1 || got[0].ID != as[2].ID {
		t.Fatalf("by kind: %+v", got)
	}
	got, _ = db.Alerts(ctx, storage.AlertQuery{Limit: 2})
	if len(got) != 2 || got[0].ID != as[2].ID || got[1].Revision != 1 {
		t.Fatalf("newest two: %+v", got)
	}
	got, _ = db.Alerts(ctx, storage.AlertQuery{Since: t0.Add(time.Minute)})
	if len(got) != 3 {
		t.Fatalf("since: %d alerts", len(got))
	}
}

// Evaluations are numbered in order; EvaluatedAfter replays those after a
// number with the snapshots each marked (not one since replaced by a new
// read); the engine's checkpoint round-trips.
func testEvaluations(t *testing.T, db storage.Store) {
	ctx := context.Background()
	if seq, err := db.LastEvalSeq(ctx); err != nil || seq != 0 {
		t.Fatalf("a fresh store's last evaluation: %d %v", seq, err)
	}
	if _, ok, err := db.EngineState(ctx); ok || err != nil {
		t.Fatalf("a fresh store's checkpoint: %v %v", ok, err)
	}
	gb := chart.Key{Store: chart.AppStore, Country: "gb", Chart: chart.TopFree, Category: chart.All}
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(t0, true, "1"), snapIn("gb", t0, true, "2"), snap(t0.Add(time.Hour), true, "3")}))
	var seqs []int64
	for _, ev := range []struct {
		slot time.Time
		keys []chart.Key
	}{{t0, []chart.Key{usKey}}, {t0, []chart.Key{gb}}, {t0.Add(time.Hour), []chart.Key{usKey}}} {
		must(t, db.Update(ctx, func(tx storage.WriteTx) error {
			seq, err := tx.MarkEvaluated(ctx, ev.slot, ev.keys)
			seqs = append(seqs, seq)
			return err
		}))
	}
	if seqs[0] <= 0 || seqs[1] <= seqs[0] || seqs[2] <= seqs[1] {
		t.Fatalf("evaluation numbers %v do not grow", seqs)
	}
	if last, err := db.LastEvalSeq(ctx); err != nil || last != seqs[2] {
		t.Fatalf("last evaluation %d %v, want %d", last, err, seqs[2])
	}
	state := storage.EngineState{Seq: seqs[1], Fingerprint: "fp", Saved: time.UnixMilli(time.Now().UnixMilli()).UTC(), State: []byte{1, 2, 3}}
	must(t, db.Update(ctx, func(tx storage.WriteTx) error { return tx.SaveEngineState(ctx, state) }))
	got, ok, err := db.EngineState(ctx)
	if err != nil || !ok || got.Seq != state.Seq || got.Fingerprint != "fp" || !got.Saved.Equal(state.Saved) || string(got.State) != string(state.State) {
		t.Fatalf("checkpoint %+v %v %v, want %+v", got, ok, err, state)
	}
	// A state written in pieces (Write) reads back whole, and replaces
	// the one before, parts and all; a smaller one after it leaves
	// nothing of the bigger one behind.
	for _, size := range []int{3<<20 + 12345, 1000} {
		big := make([]byte, size)
		for i := range big {
			big[i] = byte(i*7 + i/4096)
		}
		streamed := storage.EngineState{Seq: seqs[2], Fingerprint: "fp2", Saved: state.Saved, Write: func(w io.Writer) error {
			for rest := big; len(rest) > 0; {
				n := min(len(rest), 64<<10+17)
				if _, err := w.Write(rest[:n]); err != nil {
					return err
				}
				rest = rest[n:]
			}
			return nil
		}}
		must(t, db.Update(ctx, func(tx storage.WriteTx) error { return tx.SaveEngineState(ctx, streamed) }))
		got, ok, err = db.EngineState(ctx)
		if err != nil || !ok || got.Seq != seqs[2] || got.Fingerprint != "fp2" || !bytes.Equal(got.State, big) {
			t.Fatalf("streamed checkpoint of %d bytes: %d bytes back, seq %d, %v %v", size, len(got.State), got.Seq, ok, err)
		}
	}
	// A Write that fails fails the save, and the transaction with it.
	failed := db.Update(ctx, func(tx storage.WriteTx) error {
		return tx.SaveEngineState(ctx, storage.EngineState{Seq: 1, Fingerprint: "x", Saved: state.Saved, Write: func(io.Writer) error { return errors.New("encoder broke") }})
	})
	if got, _, _ := db.EngineState(ctx); failed == nil || got.Fingerprint != "fp2" {
		t.Fatalf("a failing Write: error %v, stored fingerprint %q", failed, got.Fingerprint)
	}
	must(t, db.Update(ctx, func(tx storage.WriteTx) error { return tx.SaveEngineState(ctx, state) }))
	replay := func(after int64) []string {
		var out []string
		must(t, db.EvaluatedAfter(ctx, after, nil, func(ev storage.Evaluation) error {
			for _, s := range ev.Snapshots {
				out = append(out, strconv.FormatInt(ev.Seq-seqs[0], 10)+":"+ev.Slot.Format("15")+":"+s.Country)
			}
			return nil
		}))
		return out
	}
	if got, want := replay(0), []string{"0:18:us", "1:18:gb", "2:19:us"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("replay from the start %v, want %v", got, want)
	}
	if got, want := replay(seqs[0]), []string{"1:18:gb", "2:19:us"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("replay after the first %v, want %v", got, want)
	}
	// A new read of gb at t0 is not evaluated: it leaves the replay.
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snapIn("gb", t0, true, "9", "2")}))
	if got, want := replay(0), []string{"0:18:us", "2:19:us"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("replay after a rewrite %v, want %v", got, want)
	}
}
