package appstore_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/scrapers/appstore"
)

// TestLookupsOfACountryRunSideBySide: the charts of one country look up
// their names at once, not one after the other, and still no app is looked
// up twice in the sweep; every entry is named.
func TestLookupsOfACountryRunSideBySide(t *testing.T) {
	e := newEnvWith(t, func(c *appstore.Config) {
		c.Fetch.Rate, c.Fetch.Concurrency, c.Sources = 100, 6, []string{"charts"}
	})
	e.fake.Latency = 100 * time.Millisecond
	rs := reqs([]string{"us", "gb"}, []string{"top-free", "top-paid", "top-grossing"}, []string{"all", "6005"}, 200)
	got := e.sweep(context.Background(), rs)
	if len(got) != len(rs) {
		t.Fatalf("%d snapshots, want %d", len(got), len(rs))
	}
	for k, s := range got {
		if !s.Complete {
			t.Fatalf("%s incomplete: %s", k, s.Error)
		}
		for _, en := range s.Entries {
			if en.Name == "" {
				t.Fatalf("%s: app %s unnamed", k, en.AppID)
			}
		}
	}
	seen := map[string]bool{}
	var lookups []fakestore.Hit
	for _, h := range e.fake.Hits() {
		if h.Endpoint != fakestore.EPLookup {
			continue
		}
		lookups = append(lookups, h)
		u, err := url.Parse(h.URL)
		if err != nil {
			t.Fatal(err)
		}
		cc := u.Query().Get("country")
		for _, id := range strings.Split(u.Query().Get("id"), ",") {
			if seen[cc+"/"+id] {
				t.Fatalf("app %s looked up twice in %s", id, cc)
			}
			seen[cc+"/"+id] = true
		}
	}
	// Two lookups of the same country in flight at once: one started
	// before the one before it was answered (the fake takes 100 ms).
	overlap := false
	for i := 1; i < len(lookups); i++ {
		if lookups[i].Time.Sub(lookups[i-1].Time) < 80*time.Millisecond && sameCountry(lookups[i], lookups[i-1]) {
			overlap = true
		}
	}
	if !overlap {
		t.Fatalf("the %d lookups of a country ran one after the other", len(lookups))
	}
}

func sameCountry(a, b fakestore.Hit) bool {
	ua, _ := url.Parse(a.URL)
	ub, _ := url.Parse(b.URL)
	return ua.Query().Get("country") == ub.Query().Get("country")
}
