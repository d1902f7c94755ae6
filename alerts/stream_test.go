package alerts_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/internal/scenario"
)

// TestStreamingMatchesEvaluate runs two engines side by side over generated
// worlds: one takes each slot whole (Evaluate), the other one snapshot at a
// time in a shuffled order (Begin, Add, Finish), each snapshot dropped once
// added. Every slot's alerts must be the same, in the same order.
func TestStreamingMatchesEvaluate(t *testing.T) {
	for _, watchOnly := range []bool{true, false} {
		t.Run(fmt.Sprintf("watch_only=%v", watchOnly), func(t *testing.T) {
			ac := config.DefaultAlerts()
			ac.WatchOnly = watchOnly
			c := scenario.DefaultConfig()
			c.Seed, c.Countries, c.Hours, c.Pool = scenario.EvalSeeds[3], 8, 6*24, 800
			c.SurgeRatio, c.DropRatio, c.MaxRank, c.DropFrom = ac.Surge.MinRatio, ac.Drop.MinRatio, ac.Surge.MaxRank, ac.Drop.MaxRank
			sc := scenario.New(c)
			whole, streamed := alerts.New(ac, sc.Watch), alerts.New(ac, sc.Watch)
			rng := rand.New(rand.NewPCG(7, 7))
			slots, raised, kinds := 0, 0, map[string]int{}
			sc.Run(func(slot time.Time, snaps []chart.Snapshot) []chart.Alert {
				want := whole.Evaluate(slot, snaps)
				order := rng.Perm(len(snaps))
				streamed.Begin(slot)
				for _, i := range order {
					s := snaps[i] // a copy, as a sweep hands it over
					streamed.Add(&s)
				}
				got := streamed.Finish()
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("slot %s: streamed %d alerts, whole %d:\n got %+v\nwant %+v", slot, len(got), len(want), got, want)
				}
				slots++
				raised += len(want)
				for _, a := range want {
					kinds[a.Kind]++
				}
				return want
			})
			if raised == 0 {
				t.Fatal("the world raised no alert: the comparison says nothing")
			}
			t.Logf("%d slots, %d alerts identical: %v", slots, raised, kinds)
			if kinds[chart.KindRemoved] == 0 || kinds[chart.KindMultiCountry] == 0 {
				t.Errorf("no removal or multi-country surge among %v: the slot-wide rules went untested", kinds)
			}
		})
	}
}
