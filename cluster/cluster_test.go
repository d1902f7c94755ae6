package cluster_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/cluster"
	"github.com/rankpulse/rankpulse/internal/influxtest"
	"github.com/rankpulse/rankpulse/internal/pgtest"
	"github.com/rankpulse/rankpulse/scrapers"
	"github.com/rankpulse/rankpulse/storage"
	"github.com/rankpulse/rankpulse/storage/postgres"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopShared()
	influxtest.StopShared()
	os.Exit(code)
}

func openDB(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func requests(countries ...string) []scrapers.Request {
	var out []scrapers.Request
	for _, cc := range countries {
		for _, cat := range []string{chart.All, "6005"} {
			out = append(out, scrapers.Request{Key: chart.Key{Store: chart.AppStore, Country: cc, Chart: chart.TopFree, Category: cat}, Depth: 100})
		}
	}
	return out
}

func snapOf(slot time.Time, r scrapers.Request, n int) chart.Snapshot {
	s := scrapers.NewSnapshot(slot, r)
	s.Source = "charts"
	for i := range n {
		s.Entries = append(s.Entries, chart.Entry{Rank: i + 1, AppID: fmt.Sprint(100 + i), Name: "App"})
	}
	s.Depth, s.Complete = n, true
	return s
}

// Members claiming at once never get the same fetch; a member that stops
// renewing loses its claims when the lease runs out, and another claims
// them; cluster.countries limits what a member claims.
func TestClaimsAreExclusiveLeasesRunOutAndCountriesLimit(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	db := openDB(t, url)
	slot := time.Now().UTC().Truncate(time.Second)
	reqs := requests("us", "gb", "de", "fr", "it", "es", "nl", "se", "no", "pl")
	lease := 1500 * time.Millisecond
	var members []*cluster.Cluster
	for i := range 4 {
		c := cluster.New(openDB(t, url), cluster.Config{Name: fmt.Sprintf("m%d", i), Lease: lease, Heartbeat: 500 * time.Millisecond}, nil)
		if err := c.Seed(ctx, "j", slot, slot.Add(time.Hour), reqs); err != nil { // every member seeds: no-ops after the first
			t.Fatal(err)
		}
		members = append(members, c)
	}
	var mu sync.Mutex
	claimed := map[chart.Key]string{}
	var wg sync.WaitGroup
	for _, c := range members[:3] {
		wg.Go(func() {
			for {
				ts, err := c.Claim(ctx, chart.AppStore, slot, 2)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ts) == 0 {
					return
				}
				mu.Lock()
				for _, tk := range ts {
					if prev, dup := claimed[tk.Key]; dup {
						t.Errorf("%s claimed by %s and %s", tk.Key, prev, c.Name())
					}
					claimed[tk.Key] = c.Name()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != len(reqs) {
		t.Fatalf("%d of %d fetches claimed", len(claimed), len(reqs))
	}
	// Nobody renewed (no heartbeat): after the lease, they are free again.
	if ts, _ := members[3].Claim(ctx, chart.AppStore, slot, 100); len(ts) != 0 {
		t.Fatalf("claimed %d leased fetches", len(ts))
	}
	open, next, err := members[3].Remaining(ctx, chart.AppStore, slot)
	if err != nil || open != len(reqs) || next.IsZero() {
		t.Fatalf("remaining %d, next free %v, %v", open, next, err)
	}
	time.Sleep(lease + 200*time.Millisecond)
	limited := cluster.New(db, cluster.Config{Name: "gb-only", Countries: []string{"gb"}, Lease: lease}, nil)
	ts, err := limited.Claim(ctx, chart.AppStore, slot, 100)
	if err != nil || len(ts) != 2 {
		t.Fatalf("a gb-only member claimed %d (%v)", len(ts), err)
	}
	for _, tk := range ts {
		if tk.Country != "gb" || tk.Attempts != 2 {
			t.Fatalf("claimed %s (attempt %d)", tk.Key, tk.Attempts)
		}
	}
	if ts, _ = members[3].Claim(ctx, chart.AppStore, slot, 100); len(ts) != len(reqs)-2 {
		t.Fatalf("after the leases ran out another member claimed %d, want %d", len(ts), len(reqs)-2)
	}
}

// The first read to finish completes a fetch; a second read of the chart
// (its first fetcher lost the lease) is saved by the store's rules and does
// not complete it again; a stopped member gives its claims back.
func TestCompleteIsIdempotentAndStopGivesClaimsBack(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	db := openDB(t, url)
	slot := time.Now().UTC().Truncate(time.Second)
	reqs := requests("us")
	a := cluster.New(db, cluster.Config{Name: "a", Lease: time.Minute, Heartbeat: time.Second}, nil)
	b := cluster.New(db, cluster.Config{Name: "b", Lease: time.Minute, Heartbeat: time.Second}, nil)
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Seed(ctx, "j", slot, slot.Add(time.Hour), reqs); err != nil {
		t.Fatal(err)
	}
	ts, err := a.Claim(ctx, chart.AppStore, slot, 2)
	if err != nil || len(ts) != 2 {
		t.Fatalf("claim: %d %v", len(ts), err)
	}
	full := snapOf(slot, ts[0].Request, 10)
	if done, err := b.Complete(ctx, &full); err != nil || !done {
		t.Fatalf("first read: %v %v", done, err)
	}
	short := snapOf(slot, ts[0].Request, 5)
	if done, err := a.Complete(ctx, &short); err != nil || done {
		t.Fatalf("second read completed the fetch again: %v %v", done, err)
	}
	latest, err := db.Latest(ctx, storageQuery())
	if err != nil || len(latest) != 1 || len(latest[0].Entries) != 10 {
		t.Fatalf("stored %+v, %v: the fuller read must stay", latest, err)
	}
	a.Stop(ctx) // gives back the second claim
	if ts, _ := b.Claim(ctx, chart.AppStore, slot, 10); len(ts) != 1 || ts[0].Category == full.Category {
		t.Fatalf("after a's stop b claims %+v", ts)
	}
	st, err := cluster.ReadStatus(ctx, db.Pool(), time.Minute, 3)
	if err != nil || len(st.Slots) != 1 || st.Slots[0].Done != 1 || st.Slots[0].Leased != 1 || st.Slots[0].ByInstance["b"] != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
	if len(st.Instances) != 1 || !st.Instances[0].Stopped || st.Instances[0].Alive {
		t.Fatalf("instances %+v", st.Instances)
	}
}

// One member at a time holds the evaluator lock; it passes on when the
// holder's session ends.
func TestOneEvaluatorAtATime(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	a := cluster.New(openDB(t, url), cluster.Config{Name: "a", Lease: 2 * time.Second}, nil)
	b := cluster.New(openDB(t, url), cluster.Config{Name: "b", Lease: 2 * time.Second}, nil)
	for _, c := range []*cluster.Cluster{a, b} {
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer c.Stop(ctx)
	}
	la, err := a.Campaign(ctx, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := la.Check(ctx); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 600*time.Millisecond)
	if _, err := b.Campaign(tctx, 100*time.Millisecond); err == nil {
		t.Fatal("two members hold the evaluator lock")
	}
	cancel()
	st, _ := cluster.ReadStatus(ctx, openDB(t, url).Pool(), time.Minute, 1)
	if st.Leader != "a" {
		t.Fatalf("leader %q, want a", st.Leader)
	}
	got := make(chan *cluster.Leadership)
	go func() {
		lb, err := b.Campaign(ctx, 100*time.Millisecond)
		if err != nil {
			t.Error(err)
		}
		got <- lb
	}()
	la.Conn.Close(ctx) // the session ends, as when an instance dies
	select {
	case lb := <-got:
		if err := lb.Check(ctx); err != nil {
			t.Fatal(err)
		}
		lb.Close(ctx)
	case <-time.After(10 * time.Second):
		t.Fatal("the lock did not pass on")
	}
	if err := la.Check(ctx); err == nil {
		t.Fatal("a closed session still passes its check")
	}
}

func storageQuery() storage.Query { return storage.Query{} }
