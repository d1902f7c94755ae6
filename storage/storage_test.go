package storage_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/internal/fixtures"
	"github.com/rankpulse/rankpulse/storage"
)

func open(t testing.TB, dir string) *storage.DB {
	t.Helper()
	db, err := storage.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
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

func all(t testing.TB, db *storage.DB, q storage.Query) []chart.Snapshot {
	t.Helper()
	var out []chart.Snapshot
	if err := db.Snapshots(context.Background(), q, func(s chart.Snapshot) error {
		out = append(out, s)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTripRealHistory(t *testing.T) {
	db := open(t, t.TempDir())
	in := history(t)
	if err := db.SaveSnapshots(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	out := all(t, db, storage.Query{})
	if len(out) != len(in) {
		t.Fatalf("read %d snapshots, stored %d", len(out), len(in))
	}
	want := map[string]chart.Snapshot{}
	for _, s := range in {
		want[s.Key().String()+s.Time.String()] = s
	}
	for i, s := range out {
		w := want[s.Key().String()+s.Time.String()]
		if !reflect.DeepEqual(s, w) {
			t.Fatalf("snapshot %d (%s %s) differs after the round trip:\n got %+v\nwant %+v", i, s.Key(), s.Time, s.Entries[:2], w.Entries[:2])
		}
		if i > 0 && s.Time.Before(out[i-1].Time) {
			t.Fatal("snapshots not in time order")
		}
	}
	// Filters.
	us := all(t, db, storage.Query{Countries: []string{"us"}, Chart: "top-free", Category: "6014"})
	for _, s := range us {
		if s.Country != "us" || s.Chart != "top-free" || s.Category != "6014" {
			t.Fatalf("filter leaked %s", s.Key())
		}
	}
	if len(us) != 19 {
		t.Fatalf("%d US top-free games snapshots, want 19", len(us))
	}
}

func snap(at time.Time, complete bool, ids ...string) chart.Snapshot {
	s := chart.Snapshot{Time: at, Store: "appstore", Country: "us", Chart: "top-free", Category: "all", Source: "charts", Complete: complete, Depth: len(ids)}
	if !complete {
		s.Error = "short chart"
		s.Depth = 200
	}
	for i, id := range ids {
		s.Entries = append(s.Entries, chart.Entry{Rank: i + 1, AppID: id, Name: "App " + id, Developer: "Dev"})
	}
	return s
}

func TestSlotRewriteKeepsOneSnapshotAndNeverLosesACompleteOne(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	at := time.Date(2021, 1, 7, 18, 7, 0, 0, time.UTC)
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(at, true, "1", "2", "3")}))
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(at, true, "3", "2", "1")}))
	got := all(t, db, storage.Query{})
	if len(got) != 1 || got[0].Entries[0].AppID != "3" {
		t.Fatalf("after rewriting the slot: %+v", got)
	}
	// A failed re-run of the slot does not replace what was read.
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(at, false, "9")}))
	got = all(t, db, storage.Query{})
	if len(got) != 1 || !got[0].Complete || got[0].Entries[0].AppID != "3" {
		t.Fatalf("an incomplete snapshot replaced a complete one: %+v", got)
	}
	// Nor does a shallower read of the chart (two jobs sharing it at
	// different depths).
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(at, true, "7", "6")}))
	got = all(t, db, storage.Query{})
	if len(got) != 1 || got[0].Depth != 3 || got[0].Entries[0].AppID != "3" {
		t.Fatalf("a 2-deep complete snapshot replaced a 3-deep one: %+v", got)
	}
	// The other way round is fine.
	at2 := at.Add(time.Hour)
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(at2, false, "9")}))
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(at2, true, "8")}))
	got = all(t, db, storage.Query{Since: at2})
	if len(got) != 1 || !got[0].Complete || got[0].Entries[0].AppID != "8" {
		t.Fatalf("a complete snapshot did not replace an incomplete one: %+v", got)
	}
}

func TestBatchIsAtomic(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	at := time.Date(2021, 1, 7, 18, 7, 0, 0, time.UTC)
	bad := snap(at.Add(time.Hour), true, "1", "1") // duplicate app
	err := db.SaveSnapshots(ctx, []chart.Snapshot{snap(at, true, "1", "2"), bad})
	if err == nil {
		t.Fatal("saved a snapshot listing an app twice")
	}
	if got := all(t, db, storage.Query{}); len(got) != 0 {
		t.Fatalf("a failed batch left %d snapshots behind", len(got))
	}
	// The intern cache must not keep ids of the rolled-back rows.
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(at, true, "1", "2")}))
	if got := all(t, db, storage.Query{}); len(got) != 1 || got[0].Entries[1].Name != "App 2" {
		t.Fatalf("after a rollback: %+v", got)
	}
}

func TestHistoryTellsAbsentFromUnknown(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	t0 := time.Date(2021, 1, 7, 0, 0, 0, 0, time.UTC)
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{
		snap(t0, true, "1", "2", "874139669"),
		snap(t0.Add(time.Hour), true, "874139669", "1", "2"),
		snap(t0.Add(2*time.Hour), true, "1", "2", "3"),
		snap(t0.Add(3*time.Hour), false, "1"),
	}))
	pts, err := db.History(ctx, "appstore", "874139669", storage.Query{})
	must(t, err)
	if len(pts) != 4 {
		t.Fatalf("%d points, want 4", len(pts))
	}
	want := []struct {
		rank  int
		known bool
	}{{3, true}, {1, true}, {0, true}, {0, false}}
	for i, w := range want {
		if pts[i].Rank != w.rank || pts[i].Known() != w.known {
			t.Errorf("point %d = rank %d known %v, want %d %v", i, pts[i].Rank, pts[i].Known(), w.rank, w.known)
		}
	}
	none, err := db.History(ctx, "appstore", "12345", storage.Query{})
	if err != nil || len(none) != 4 || none[0].Rank != 0 || !none[0].Known() || none[3].Known() {
		t.Fatalf("history of an app never seen = %+v, %v", none, err)
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	t0 := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	var snaps []chart.Snapshot
	for d := range 10 {
		snaps = append(snaps, snap(t0.Add(time.Duration(d)*24*time.Hour), true, "old"+strconv.Itoa(d), "keep"))
	}
	must(t, db.SaveSnapshots(ctx, snaps))
	n, err := db.Prune(ctx, t0.Add(5*24*time.Hour))
	must(t, err)
	if n != 5 {
		t.Fatalf("pruned %d snapshots, want 5", n)
	}
	left := all(t, db, storage.Query{})
	if len(left) != 5 || left[0].Time != t0.Add(5*24*time.Hour) || left[0].Entries[1].AppID != "keep" {
		t.Fatalf("left: %d snapshots, first %v", len(left), left[0].Time)
	}
	st, err := db.Stats(ctx)
	must(t, err)
	// "old0".."old2" are gone with their snapshots; later ones are kept
	// within the last_seen margin.
	if st.Apps >= 11 || st.Apps < 6 {
		t.Fatalf("%d interned apps after pruning, want fewer than 11 and at least 6", st.Apps)
	}
}

// TestCrashNeverLeavesHalfASnapshot kills a writer with SIGKILL mid-stream
// and checks every snapshot that made it to disk is whole.
func TestCrashNeverLeavesHalfASnapshot(t *testing.T) {
	if os.Getenv("RANKPULSE_CRASH_WRITER") != "" {
		crashWriter(os.Getenv("RANKPULSE_CRASH_WRITER"))
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashNeverLeavesHalfASnapshot$")
	cmd.Env = append(os.Environ(), "RANKPULSE_CRASH_WRITER="+dir)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	// Kill it mid-batch once it has committed a few batches.
	sc := bufio.NewScanner(stdout)
	for n := 0; n < 3 && sc.Scan(); {
		if strings.HasPrefix(sc.Text(), "committed") {
			n++
		}
	}
	time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()

	db := open(t, dir)
	got := all(t, db, storage.Query{})
	if len(got) == 0 {
		t.Fatal("the writer stored nothing before it was killed")
	}
	for _, s := range got {
		if len(s.Entries) != 200 || s.Depth != 200 {
			t.Fatalf("%s at %s has %d entries: a torn write", s.Key(), s.Time, len(s.Entries))
		}
	}
	t.Logf("%d whole snapshots survived SIGKILL", len(got))
}

func crashWriter(dir string) {
	db, err := storage.Open(context.Background(), dir)
	if err != nil {
		panic(err)
	}
	t0 := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; ; i++ {
		batch := make([]chart.Snapshot, 10)
		for j := range batch {
			batch[j] = synthetic(t0.Add(time.Duration(i)*time.Hour), "c"+strconv.Itoa(j), i*10+j)
		}
		if err := db.SaveSnapshots(context.Background(), batch); err != nil {
			panic(err)
		}
		fmt.Println("committed", i)
	}
}

// synthetic returns a 200-deep snapshot drawn from a pool of 2,000 apps.
func synthetic(at time.Time, category string, seed int) chart.Snapshot {
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	s := chart.Snapshot{Time: at, Store: "appstore", Country: "us", Chart: "top-free", Category: category, Source: "charts", Complete: true, Depth: 200}
	for i, p := range rng.Perm(2000)[:200] {
		id := strconv.Itoa(1400000000 + p)
		s.Entries = append(s.Entries, chart.Entry{Rank: i + 1, AppID: id, Name: "Some App Name " + id, Developer: "Some Developer, Inc."})
	}
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// damage overwrites the entries of the newest stored snapshot with bytes
// that do not decode, as a damaged file or a newer layout would.
func damage(t *testing.T, dir string) {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, storage.FileName))
	must(t, err)
	defer raw.Close()
	_, err = raw.Exec(`UPDATE snapshots SET entries = x'02000102' WHERE rowid = (SELECT max(rowid) FROM snapshots)`)
	must(t, err)
}

func TestAnUnreadableSnapshotIsNamedAndCanBeSkipped(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	t1 := time.Date(2021, 1, 7, 10, 0, 0, 0, time.UTC)
	must(t, db.SaveSnapshots(context.Background(), []chart.Snapshot{snap(t1, true, "a", "b"), snap(t1.Add(time.Hour), true, "b", "a")}))
	damage(t, dir)

	ctx := context.Background()
	err := db.Snapshots(ctx, storage.Query{}, func(chart.Snapshot) error { return nil })
	var ce *storage.CorruptError
	if !errors.As(err, &ce) || !ce.Time.Equal(t1.Add(time.Hour)) || !strings.Contains(err.Error(), "cannot be read") || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("reading a damaged snapshot: %v", err)
	}

	var skipped []*storage.CorruptError
	q := storage.Query{OnCorrupt: func(ce *storage.CorruptError) error { skipped = append(skipped, ce); return nil }}
	if got := all(t, db, q); len(got) != 1 || !got[0].Time.Equal(t1) || len(skipped) != 1 {
		t.Fatalf("with OnCorrupt: %d snapshots, %d skipped; want the readable one and one skipped", len(got), len(skipped))
	}
	skipped = nil
	points, err := db.History(ctx, "appstore", "a", q)
	if err != nil || len(points) != 1 || points[0].Rank != 1 || len(skipped) != 1 {
		t.Fatalf("history with OnCorrupt: %v, %v, %d skipped", points, err, len(skipped))
	}
	if _, err := db.History(ctx, "appstore", "a", storage.Query{}); !errors.As(err, &ce) {
		t.Fatalf("history without OnCorrupt: %v", err)
	}
	latest, err := db.Latest(ctx, q)
	if err != nil || len(latest) != 0 || len(skipped) != 2 {
		t.Fatalf("latest with OnCorrupt: %d snapshots, %v, %d skipped in all", len(latest), err, len(skipped))
	}
}

func TestANewerSchemaIsRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := storage.Open(context.Background(), dir)
	must(t, err)
	db.Close()
	exec := func(q string) {
		raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, storage.FileName))
		must(t, err)
		defer raw.Close()
		_, err = raw.Exec(q)
		must(t, err)
	}
	// A newer layout: version 7, and a table this build would create.
	exec(`UPDATE meta SET value = '7' WHERE key = 'schema_version'; DROP TABLE alerts`)
	_, err = storage.Open(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), "schema version 7 and this rankpulse reads up to 2") || !strings.Contains(err.Error(), "newer rankpulse") {
		t.Fatalf("opening a newer store: %v", err)
	}
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, storage.FileName))
	must(t, err)
	var n int
	must(t, raw.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'alerts'`).Scan(&n))
	raw.Close()
	if n != 0 {
		t.Fatal("the refused newer file was changed: the alerts table was created again")
	}
	exec(`UPDATE meta SET value = 'x' WHERE key = 'schema_version'`)
	if _, err = storage.Open(context.Background(), dir); err == nil || !strings.Contains(err.Error(), `schema version "x", which no rankpulse writes`) {
		t.Fatalf("opening a store with a garbled version: %v", err)
	}
}

// A retry is stored as "not before t", rounded up: it never comes due
// before the time given (a receiver's Retry-After is a minimum).
func TestRetryIsNeverDueEarly(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	a := chart.Alert{ID: chart.AlertID("retry", "1"), Kind: chart.KindSurge, Severity: chart.SeverityWarning, Time: time.Now().UTC().Truncate(time.Second),
		Store: chart.AppStore, Country: chart.Ptr("us"), Chart: chart.TopFree, Category: chart.All, AppID: "1", AppName: "One", Summary: "s"}
	must(t, db.WithTx(ctx, func(tx *storage.Tx) error {
		if _, err := tx.SaveAlert(ctx, &a); err != nil {
			return err
		}
		return tx.Enqueue(ctx, "ops", &a, 0)
	}))
	msgs, err := db.NextMessages(ctx, "ops", 10)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	next := time.Now().Add(time.Second).Add(400 * time.Microsecond) // not on a millisecond
	if next.Nanosecond()%int(time.Millisecond) == 0 {
		next = next.Add(time.Microsecond)
	}
	must(t, db.MarkRetry(ctx, msgs, next, "HTTP 429"))
	msgs, err = db.NextMessages(ctx, "ops", 10)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	if msgs[0].Next.Before(next) {
		t.Fatalf("retry due at %s, before the %s asked for", msgs[0].Next.Format(time.StampMicro), next.Format(time.StampMicro))
	}
}
