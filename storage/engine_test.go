package storage_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/storage"
)

// Evaluations are numbered as they are marked, and EvaluatedAfter hands
// back exactly those after a number, in order, each with its snapshots; a
// snapshot replaced by a fuller read is pending again and not replayed.
func TestEvaluationsAreNumberedAndReplayed(t *testing.T) {
	ctx := context.Background()
	db, err := storage.Open(ctx, t.TempDir())
	must(t, err)
	defer db.Close()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var seqs []int64
	for h := range 4 {
		at := t0.Add(time.Duration(h) * time.Hour)
		a, b := snap(at, true, "x", "y"), snap(at, true, "y", "x")
		b.Country = "gb"
		must(t, db.SaveSnapshots(ctx, []chart.Snapshot{a, b}))
		must(t, db.WithTx(ctx, func(tx *storage.Tx) error {
			seq, err := tx.MarkEvaluated(ctx, at, []chart.Key{a.Key(), b.Key()})
			seqs = append(seqs, seq)
			return err
		}))
	}
	if seqs[0] != 1 || seqs[3] != 4 {
		t.Fatalf("evaluation numbers %v", seqs)
	}
	if last, err := db.LastEvalSeq(ctx); err != nil || last != 4 {
		t.Fatalf("last evaluation %d, %v", last, err)
	}
	// The 4th slot's US chart is read again, deeper: pending once more.
	again := snap(t0.Add(3*time.Hour), true, "x", "y", "z")
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{again}))

	var got []storage.Evaluation
	must(t, db.EvaluatedAfter(ctx, 2, nil, func(ev storage.Evaluation) error { got = append(got, ev); return nil }))
	if len(got) != 2 || got[0].Seq != 3 || got[1].Seq != 4 || !got[0].Slot.Equal(t0.Add(2*time.Hour)) ||
		len(got[0].Snapshots) != 2 || len(got[1].Snapshots) != 1 || got[1].Snapshots[0].Country != "gb" {
		t.Fatalf("evaluations after 2: %+v", got)
	}
	var none int
	must(t, db.EvaluatedAfter(ctx, 4, nil, func(storage.Evaluation) error { none++; return nil }))
	if none != 0 {
		t.Fatalf("%d evaluations after the last one", none)
	}
}

func TestEngineStateRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := storage.Open(ctx, dir)
	must(t, err)
	if _, ok, err := db.EngineState(ctx); ok || err != nil {
		t.Fatalf("a new store has a state: %v %v", ok, err)
	}
	for i, blob := range [][]byte{[]byte("first"), bytes.Repeat([]byte{7}, 1<<20)} {
		must(t, db.WithTx(ctx, func(tx *storage.Tx) error {
			return tx.SaveEngineState(ctx, storage.EngineState{Seq: int64(10 + i), Fingerprint: "fp", Saved: time.UnixMilli(1e12), State: blob})
		}))
	}
	db.Close()
	db, err = storage.Open(ctx, dir)
	must(t, err)
	defer db.Close()
	st, ok, err := db.EngineState(ctx)
	if !ok || err != nil || st.Seq != 11 || st.Fingerprint != "fp" || len(st.State) != 1<<20 || st.Saved.UnixMilli() != 1e12 {
		t.Fatalf("state read back: seq %d %q %d bytes %v %v", st.Seq, st.Fingerprint, len(st.State), ok, err)
	}
}
