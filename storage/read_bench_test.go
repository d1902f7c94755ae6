package storage_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/storage"
)

// benchStore holds 2,000 snapshots of 200 entries (100 charts × 20 slots).
func benchStore(b *testing.B) *storage.DB {
	b.Helper()
	db, err := storage.Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 1, 1, 0, 7, 0, 0, time.UTC)
	countries := []string{"us", "gb", "de", "fr", "jp", "br", "in", "tr", "it", "es"}
	for slot := range 20 {
		var batch []chart.Snapshot
		for _, cc := range countries {
			for c := range 10 {
				s := chart.Snapshot{Time: t0.Add(time.Duration(slot) * time.Hour), Store: "appstore", Country: cc, Chart: "top-free",
					Category: fmt.Sprint(6000 + c), Source: "charts", Complete: true, Depth: 200}
				for r, i := range rng.Perm(5000)[:200] {
					s.Entries = append(s.Entries, chart.Entry{Rank: r + 1, AppID: fmt.Sprint(1400000000 + i), Name: fmt.Sprintf("App %d", i), Developer: fmt.Sprintf("Dev %d", i%300)})
				}
				batch = append(batch, s)
			}
		}
		if err := db.SaveSnapshots(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// BenchmarkReadDigests is the status page's rebuild: entries without names.
func BenchmarkReadDigests(b *testing.B) {
	db := benchStore(b)
	ctx := context.Background()
	apps := []storage.AppRef{{Store: "appstore", AppID: "1400000001"}, {Store: "appstore", AppID: "1400000002"}}
	b.ResetTimer()
	for range b.N {
		n := 0
		if err := db.Digests(ctx, apps, storage.Query{}, func(*storage.Digest) error { n++; return nil }); err != nil || n != 2000 {
			b.Fatal(err, n)
		}
	}
}
