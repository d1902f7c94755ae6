package storage_test

import (
	"context"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/storage"
)

func TestKnownNamesGivesTheLatestNameOfAppsSeenWithOne(t *testing.T) {
	db, err := storage.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	day := time.Date(2021, 1, 7, 18, 7, 0, 0, time.UTC)
	save := func(at time.Time, store string, entries ...chart.Entry) {
		t.Helper()
		for i := range entries {
			entries[i].Rank = i + 1
		}
		s := chart.Snapshot{Time: at, Store: store, Country: "us", Chart: chart.TopFree, Category: chart.All, Source: "charts", Complete: true, Depth: len(entries), Entries: entries}
		if err := db.SaveSnapshots(context.Background(), []chart.Snapshot{s}); err != nil {
			t.Fatal(err)
		}
	}
	save(day, chart.AppStore, chart.Entry{AppID: "1", Name: "Twitter", Developer: "X Corp."}, chart.Entry{AppID: "2"}, chart.Entry{AppID: "3", Name: "Three"})
	save(day.Add(48*time.Hour), chart.AppStore, chart.Entry{AppID: "1", Name: "X", Developer: "X Corp."}, chart.Entry{AppID: "2"})
	save(day.Add(72*time.Hour), chart.AppStore, chart.Entry{AppID: "3"}) // seen unnamed after its name: the name stays known
	save(day, chart.GooglePlay, chart.Entry{AppID: "4", Name: "Play only"})

	got, err := db.KnownNames(context.Background(), chart.AppStore, []string{"1", "2", "3", "4", "5"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"1": "X", "3": "Three"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("KnownNames = %v, want %v (latest name; never an empty one; never another store's)", got, want)
	}
}

func TestKnownNamesTakesManyIDs(t *testing.T) {
	db, err := storage.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var entries []chart.Entry
	var ids []string
	for i := range 1200 {
		id := strconv.Itoa(1000 + i)
		ids = append(ids, id)
		if i < 200 {
			entries = append(entries, chart.Entry{Rank: i + 1, AppID: id, Name: "App " + id})
		}
	}
	s := chart.Snapshot{Time: time.Unix(1610042820, 0).UTC(), Store: chart.AppStore, Country: "us", Chart: chart.TopFree, Category: chart.All, Source: "charts", Complete: true, Depth: 200, Entries: entries}
	if err := db.SaveSnapshots(context.Background(), []chart.Snapshot{s}); err != nil {
		t.Fatal(err)
	}
	got, err := db.KnownNames(context.Background(), chart.AppStore, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 200 || got["1199"] != "App 1199" {
		t.Fatalf("%d names (1199: %q), want the 200 stored", len(got), got["1199"])
	}
}
