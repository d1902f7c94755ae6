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
	"io"
	"reflect"
	"strconv"
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
