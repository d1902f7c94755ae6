package storage

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

func groupSnap(cc string, at time.Time, ids ...string) chart.Snapshot {
	s := chart.Snapshot{Time: at, Store: chart.AppStore, Country: cc, Chart: chart.TopFree, Category: chart.All, Source: "charts", Complete: true, Depth: len(ids), DurationMS: 7}
	for i, id := range ids {
		s.Entries = append(s.Entries, chart.Entry{Rank: i + 1, AppID: id, Name: "App " + id, Developer: "Dev"})
	}
	return s
}

func readAll(t *testing.T, d *DB) []chart.Snapshot {
	t.Helper()
	var out []chart.Snapshot
	if err := d.Snapshots(context.Background(), Query{}, func(s chart.Snapshot) error { out = append(out, s); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSaveGroupStoresWhatOneByOneStores: a group in one transaction leaves
// the same rows as one transaction per snapshot, and an invalid snapshot
// fails alone.
func TestSaveGroupStoresWhatOneByOneStores(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	snaps := []chart.Snapshot{
		groupSnap("us", at, "1", "2", "3"),
		groupSnap("gb", at, "3", "2", "1"),
		groupSnap("de", at, "4"),
	}
	bad := groupSnap("fr", at, "5")
	bad.Entries[0].Rank = 0 // invalid
	withBad := []chart.Snapshot{snaps[0], bad, snaps[1], snaps[2]}

	one, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	var wantErrs int
	for i := range withBad {
		if one.SaveSnapshots(ctx, withBad[i:i+1]) != nil {
			wantErrs++
		}
	}
	group, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	errs := SaveGroup(ctx, group, withBad)
	for i, err := range errs {
		if (err != nil) != (i == 1) {
			t.Errorf("snapshot %d: err %v", i, err)
		}
	}
	if wantErrs != 1 {
		t.Fatalf("one by one: %d errors, want 1", wantErrs)
	}
	if got, want := readAll(t, group), readAll(t, one); !reflect.DeepEqual(got, want) || len(got) != 3 {
		t.Fatalf("group stored %+v\none by one %+v", got, want)
	}
	if errs := SaveGroup(ctx, group, snaps); errs[0] != nil || errs[1] != nil || errs[2] != nil {
		t.Fatalf("a valid group again: %v", errs)
	}
}
