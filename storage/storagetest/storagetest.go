// Package storagetest is the conformance suite of rankpulse's stores: one
// set of tests that every storage.Store backend must pass, run by each
// backend's own tests with a function that opens a fresh, empty store
// (litestream-style: storage runs it on SQLite files, storage/postgres on
// databases of a real PostgreSQL server).
//
// It covers what the rest of rankpulse relies on whatever the backend:
// snapshots round-trip exactly (compact rows of interned apps), the save
// rules of a slot, transactions that commit or roll back whole (snapshots,
// alerts, outbox rows and evaluated flags together), the evaluated flags
// and slots, alerts, the webhook outbox with its states, retention, the
// name fallback, the status page's reads, import marking history evaluated
// and concurrent writers.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/internal/fixtures"
	"github.com/rankpulse/rankpulse/storage"
)

// Opener opens a fresh, empty store, closed when the test ends.
type Opener func(t *testing.T) storage.Store

// Run runs the whole suite against the stores open makes.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, storage.Store)
	}{
		{"RoundTripRealHistory", testRoundTrip},
		{"SlotRewriteKeepsTheFullerRead", testSlotRewrite},
		{"BatchIsAtomic", testBatchIsAtomic},
		{"UpdateCommitsOrRollsBackWhole", testUpdateIsWhole},
		{"EvaluatedFlagsAndSlots", testEvaluated},
		{"ImportIsEvaluated", testImportIsEvaluated},
		{"EvaluationsAreNumberedAndReplayed", testEvaluations},
		{"AlertsQuery", testAlerts},
		{"HistoryTellsAbsentFromUnknown", testHistory},
		{"LatestAndOneSnapshot", testLatest},
		{"Digests", testDigests},
		{"Prune", testPrune},
		{"KnownNames", testKnownNames},
		{"KnownNamesTakesManyIDs", testKnownNamesMany},
		{"OutboxOrderAndBatches", testOutboxOrder},
		{"RetryIsNeverDueEarly", testRetryNeverEarly},
		{"RetryAndDropOnlyTouchUndelivered", testRetryAndDrop},
		{"DeadMessagesAndRetry", testDead},
		{"RejectRuns", testRejectRuns},
		{"DisabledReceivers", testDisabled},
		{"PruneTakesDeadMessagesAlong", testPruneDead},
		{"ConcurrentWritersShareApps", testConcurrentWriters},
		{"UnreadableEntriesAreNamed", testNoCorruptionFromGoodRows},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func history(t testing.TB) []chart.Snapshot {
	t.Helper()
	r := chart.NewReader(bytes.NewReader(fixtures.Read(fixtures.History)))
	var out []chart.Snapshot
	for {
		s, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
}

func all(t testing.TB, db storage.Store, q storage.Query) []chart.Snapshot {
	t.Helper()
	var out []chart.Snapshot
	must(t, db.Snapshots(context.Background(), q, func(s chart.Snapshot) error {
		out = append(out, s)
		return nil
	}))
	return out
}

var t0 = time.Date(2021, 1, 7, 18, 7, 0, 0, time.UTC)

var usKey = chart.Key{Store: chart.AppStore, Country: "us", Chart: chart.TopFree, Category: chart.All}

func snap(at time.Time, complete bool, ids ...string) chart.Snapshot {
	return snapIn("us", at, complete, ids...)
}

func snapIn(cc string, at time.Time, complete bool, ids ...string) chart.Snapshot {
	s := chart.Snapshot{Time: at, Store: chart.AppStore, Country: cc, Chart: chart.TopFree, Category: chart.All, Source: "charts", Complete: complete, Depth: len(ids)}
	if !complete {
		s.Error = "short chart"
		s.Depth = 200
	}
	for i, id := range ids {
		s.Entries = append(s.Entries, chart.Entry{Rank: i + 1, AppID: id, Name: "App " + id, Developer: "Dev"})
	}
	return s
}

func testRoundTrip(t *testing.T, db storage.Store) {
	in := history(t)
	must(t, db.SaveSnapshots(context.Background(), in))
	out := all(t, db, storage.Query{})
	if len(out) != len(in) {
		t.Fatalf("read %d snapshots, stored %d", len(out), len(in))
	}
	want := map[string]chart.Snapshot{}
	for _, s := range in {
		want[s.Key().String()+s.Time.String()] = s
	}
	for i, s := range out {
		if w := want[s.Key().String()+s.Time.String()]; !reflect.DeepEqual(s, w) {
			t.Fatalf("snapshot %d (%s %s) differs after the round trip", i, s.Key(), s.Time)
		}
		if i > 0 && s.Time.Before(out[i-1].Time) {
			t.Fatal("snapshots not in time order")
		}
	}
	us := all(t, db, storage.Query{Countries: []string{"us"}, Chart: "top-free", Category: "6014"})
	for _, s := range us {
		if s.Country != "us" || s.Chart != "top-free" || s.Category != "6014" {
			t.Fatalf("filter leaked %s", s.Key())
		}
	}
	if len(us) != 19 {
		t.Fatalf("%d US top-free games snapshots, want 19", len(us))
	}
	st, err := db.Stats(context.Background())
	must(t, err)
	if st.Snapshots != int64(len(in)) || st.Apps == 0 || st.Oldest.After(st.Newest) || st.Bytes <= 0 {
		t.Fatalf("stats %+v", st)
	}
	// Interned: far fewer app rows than entries.
	entries := 0
	for _, s := range in {
		entries += len(s.Entries)
	}
	if st.Apps*5 > int64(entries) {
		t.Fatalf("%d app rows for %d entries: apps are not interned", st.Apps, entries)
	}
}

func testSlotRewrite(t *testing.T, db storage.Store) {
	ctx := context.Background()
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(t0, true, "1", "2", "3")}))
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(t0, true, "3", "2", "1")}))
	if got := all(t, db, storage.Query{}); len(got) != 1 || got[0].Entries[0].AppID != "3" {
		t.Fatalf("after rewriting the slot: %+v", got)
	}
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(t0, false, "9")}))
	if got := all(t, db, storage.Query{}); len(got) != 1 || !got[0].Complete || got[0].Entries[0].AppID != "3" {
		t.Fatalf("an incomplete snapshot replaced a complete one: %+v", got)
	}
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(t0, true, "7", "6")}))
	if got := all(t, db, storage.Query{}); len(got) != 1 || got[0].Depth != 3 || got[0].Entries[0].AppID != "3" {
		t.Fatalf("a 2-deep complete snapshot replaced a 3-deep one: %+v", got)
	}
	at2 := t0.Add(time.Hour)
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(at2, false, "9")}))
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(at2, true, "8")}))
	if got := all(t, db, storage.Query{Since: at2}); len(got) != 1 || !got[0].Complete || got[0].Entries[0].AppID != "8" {
		t.Fatalf("a complete snapshot did not replace an incomplete one: %+v", got)
	}
}

func testBatchIsAtomic(t *testing.T, db storage.Store) {
	ctx := context.Background()
	bad := snap(t0.Add(time.Hour), true, "1", "1") // an app listed twice
	if err := db.SaveSnapshots(ctx, []chart.Snapshot{snap(t0, true, "1", "2"), bad}); err == nil {
		t.Fatal("saved a snapshot listing an app twice")
	}
	if got := all(t, db, storage.Query{}); len(got) != 0 {
		t.Fatalf("a failed batch left %d snapshots behind", len(got))
	}
	// The intern caches must not keep ids of rolled-back rows.
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(t0, true, "1", "2")}))
	if got := all(t, db, storage.Query{}); len(got) != 1 || got[0].Entries[1].Name != "App 2" {
		t.Fatalf("after a rollback: %+v", got)
	}
}

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

func testHistory(t *testing.T, db storage.Store) {
	ctx := context.Background()
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{
		snap(t0, true, "1", "2", "874139669"),
		snap(t0.Add(time.Hour), true, "874139669", "1", "2"),
		snap(t0.Add(2*time.Hour), true, "1", "2", "3"),
		snap(t0.Add(3*time.Hour), false, "1"),
	}))
	pts, err := db.History(ctx, chart.AppStore, "874139669", storage.Query{})
	must(t, err)
	want := []struct {
		rank  int
		known bool
	}{{3, true}, {1, true}, {0, true}, {0, false}}
	if len(pts) != len(want) {
		t.Fatalf("%d points, want 4", len(pts))
	}
	for i, w := range want {
		if pts[i].Rank != w.rank || pts[i].Known() != w.known {
			t.Errorf("point %d = rank %d known %v, want %d %v", i, pts[i].Rank, pts[i].Known(), w.rank, w.known)
		}
	}
	if pts[0].Name != "App 874139669" {
		t.Errorf("name %q", pts[0].Name)
	}
}

func testLatest(t *testing.T, db storage.Store) {
	ctx := context.Background()
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{
		snap(t0, true, "1"), snap(t0.Add(time.Hour), true, "2"), snapIn("gb", t0, true, "3"),
	}))
	latest, err := db.Latest(ctx, storage.Query{})
	must(t, err)
	if len(latest) != 2 || latest[0].Country != "gb" || latest[1].Entries[0].AppID != "2" {
		t.Fatalf("latest %+v", latest)
	}
	if latest, _ = db.Latest(ctx, storage.Query{Since: t0.Add(time.Minute)}); len(latest) != 1 {
		t.Fatalf("latest since: %d", len(latest))
	}
	k := usKey
	s, ok, err := db.SnapshotBefore(ctx, k, t0.Add(time.Hour))
	if err != nil || !ok || !s.Time.Equal(t0) || s.Entries[0].AppID != "1" {
		t.Fatalf("before: %+v %v %v", s, ok, err)
	}
	s, ok, err = db.SnapshotAfter(ctx, k, t0.Add(time.Second))
	if err != nil || !ok || !s.Time.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after: %+v %v %v", s, ok, err)
	}
	if _, ok, err = db.SnapshotBefore(ctx, k, t0); ok || err != nil {
		t.Fatalf("before the first: %v %v", ok, err)
	}
}

func testDigests(t *testing.T, db storage.Store) {
	ctx := context.Background()
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(t0, true, "1", "2", "3"), snap(t0.Add(time.Hour), false, "3")}))
	apps := []storage.AppRef{{Store: chart.AppStore, AppID: "3"}, {Store: chart.GooglePlay, AppID: "3"}, {Store: chart.AppStore, AppID: "9"}}
	var got []string
	must(t, db.Digests(ctx, apps, storage.Query{}, func(d *storage.Digest) error {
		got = append(got, d.Time.Format("15")+" "+strconv.FormatBool(d.Complete)+" "+strconv.Itoa(d.Entries)+" "+strconv.Itoa(d.Ranks[0])+d.Names[0]+" "+strconv.Itoa(d.Ranks[1])+" "+strconv.Itoa(d.Ranks[2]))
		return nil
	}))
	want := []string{"18 true 3 3App 3 0 0", "19 false 1 1App 3 0 0"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("digests %q, want %q", got, want)
	}
}

func testPrune(t *testing.T, db storage.Store) {
	ctx := context.Background()
	start := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	var snaps []chart.Snapshot
	for d := range 10 {
		snaps = append(snaps, snap(start.Add(time.Duration(d)*24*time.Hour), true, "old"+strconv.Itoa(d), "keep"))
	}
	must(t, db.SaveSnapshots(ctx, snaps))
	a := alert(1, start)
	must(t, db.Update(ctx, func(tx storage.WriteTx) error { _, err := tx.SaveAlert(ctx, &a); return err }))
	n, err := db.Prune(ctx, start.Add(5*24*time.Hour))
	must(t, err)
	if n != 5 {
		t.Fatalf("pruned %d snapshots, want 5", n)
	}
	left := all(t, db, storage.Query{})
	if len(left) != 5 || !left[0].Time.Equal(start.Add(5*24*time.Hour)) || left[0].Entries[1].AppID != "keep" {
		t.Fatalf("left: %d snapshots", len(left))
	}
	st, err := db.Stats(ctx)
	must(t, err)
	if st.Apps >= 11 || st.Apps < 6 {
		t.Fatalf("%d interned apps after pruning, want fewer than 11 and at least 6", st.Apps)
	}
	if as, _ := db.Alerts(ctx, storage.AlertQuery{}); len(as) != 0 {
		t.Fatalf("an old alert outlived the retention: %v", as)
	}
	// Apps pruned from the caches are interned afresh.
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(start.Add(20*24*time.Hour), true, "old0", "keep")}))
	if got := all(t, db, storage.Query{Since: start.Add(20 * 24 * time.Hour)}); len(got) != 1 || got[0].Entries[0].Name != "App old0" {
		t.Fatalf("after pruning: %+v", got)
	}
}

func testKnownNames(t *testing.T, db storage.Store) {
	ctx := context.Background()
	save := func(at time.Time, store string, entries ...chart.Entry) {
		t.Helper()
		for i := range entries {
			entries[i].Rank = i + 1
		}
		s := chart.Snapshot{Time: at, Store: store, Country: "us", Chart: chart.TopFree, Category: chart.All, Source: "charts", Complete: true, Depth: len(entries), Entries: entries}
		must(t, db.SaveSnapshots(ctx, []chart.Snapshot{s}))
	}
	save(t0, chart.AppStore, chart.Entry{AppID: "1", Name: "Twitter", Developer: "X Corp."}, chart.Entry{AppID: "2"}, chart.Entry{AppID: "3", Name: "Three"})
	save(t0.Add(48*time.Hour), chart.AppStore, chart.Entry{AppID: "1", Name: "X", Developer: "X Corp."}, chart.Entry{AppID: "2"})
	save(t0.Add(72*time.Hour), chart.AppStore, chart.Entry{AppID: "3"})
	save(t0, chart.GooglePlay, chart.Entry{AppID: "4", Name: "Play only"})
	got, err := db.KnownNames(ctx, chart.AppStore, []string{"1", "2", "3", "4", "5"})
	must(t, err)
	if want := map[string]string{"1": "X", "3": "Three"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("KnownNames = %v, want %v", got, want)
	}
}

func testKnownNamesMany(t *testing.T, db storage.Store) {
	var entries []chart.Entry
	var ids []string
	for i := range 1200 {
		id := strconv.Itoa(1000 + i)
		ids = append(ids, id)
		if i < 200 {
			entries = append(entries, chart.Entry{Rank: i + 1, AppID: id, Name: "App " + id})
		}
	}
	s := chart.Snapshot{Time: t0, Store: chart.AppStore, Country: "us", Chart: chart.TopFree, Category: chart.All, Source: "charts", Complete: true, Depth: 200, Entries: entries}
	must(t, db.SaveSnapshots(context.Background(), []chart.Snapshot{s}))
	got, err := db.KnownNames(context.Background(), chart.AppStore, ids)
	must(t, err)
	if len(got) != 200 || got["1199"] != "App 1199" {
		t.Fatalf("%d names (1199: %q), want the 200 stored", len(got), got["1199"])
	}
}

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

// Writers saving charts that share apps at once (instances of a cluster,
// jobs of one instance) neither fail nor intern an app twice.
func testConcurrentWriters(t *testing.T, db storage.Store) {
	ctx := context.Background()
	countries := []string{"us", "gb", "de", "fr", "it", "es", "nl", "se"}
	var wg sync.WaitGroup
	errs := make(chan error, len(countries))
	for ci, cc := range countries {
		wg.Go(func() {
			for h := range 3 {
				ids := make([]string, 50)
				for i := range ids {
					ids[i] = strconv.Itoa((i*7 + ci*13 + h*3) % 80) // overlapping, in different orders
				}
				if err := db.SaveSnapshots(ctx, []chart.Snapshot{snapIn(cc, t0.Add(time.Duration(h)*time.Hour), true, dedupe(ids)...)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, err := db.Stats(ctx)
	must(t, err)
	if st.Snapshots != int64(3*len(countries)) || st.Apps > 80 {
		t.Fatalf("%d snapshots, %d apps (want %d, at most 80)", st.Snapshots, st.Apps, 3*len(countries))
	}
	for _, s := range all(t, db, storage.Query{}) {
		for _, e := range s.Entries {
			if e.Name != "App "+e.AppID {
				t.Fatalf("%s: %s named %q", s.Key(), e.AppID, e.Name)
			}
		}
	}
}

func dedupe(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// A read with OnCorrupt set sees no corruption in good rows, and gaps in
// ranks survive the round trip.
func testNoCorruptionFromGoodRows(t *testing.T, db storage.Store) {
	ctx := context.Background()
	s := snap(t0, false, "1", "2", "3")
	s.Entries[1].Rank, s.Entries[2].Rank = 5, 9
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{s}))
	n := 0
	q := storage.Query{OnCorrupt: func(*storage.CorruptError) error { n++; return nil }}
	got := all(t, db, q)
	if n != 0 || len(got) != 1 || !reflect.DeepEqual(got[0], s) {
		t.Fatalf("corrupt %d, got %+v", n, got)
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
