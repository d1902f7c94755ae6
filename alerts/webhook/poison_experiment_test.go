package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/alerts/webhook"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/storage"
)

// TestPoisonReceiverExperiment is the issue-11 experiment with the
// production schedules: a receiver answers 400 to one alert, and 15 alerts
// (a critical removal among them) are queued behind it. It reports how many
// of the 15 the receiver has after 5 s, 30 s, 60 s, 90 s and 150 s, and when
// the last arrived. It takes up to 2.5 minutes, so it runs only when asked:
//
//	RANKPULSE_POISON_EXPERIMENT=1 go test -run TestPoisonReceiverExperiment -v ./alerts/webhook/
//
// TestPoisonHeadDoesNotHoldTheAlertsBehindIt checks the same behaviour
// with short schedules on every run. This experiment uses only APIs that
// predate the fix, so that it can be run on the old code for the "before"
// figure.
func TestPoisonReceiverExperiment(t *testing.T) {
	if os.Getenv("RANKPULSE_POISON_EXPERIMENT") == "" {
		t.Skip("the production-schedule experiment takes up to 2.5 min; set RANKPULSE_POISON_EXPERIMENT=1 (TestPoisonHeadDoesNotHoldTheAlertsBehindIt covers it on every run)")
	}
	var mu sync.Mutex
	arrived := map[string]time.Time{} // alert id → first 2xx
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Data chart.Alert `json:"data"`
		}
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &ev)
		if ev.Data.ID == "poison" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintln(w, `{"error": "summary: must be at most 100 characters"}`)
			return
		}
		mu.Lock()
		if _, ok := arrived[ev.Data.ID]; !ok {
			arrived[ev.Data.ID] = time.Now()
		}
		mu.Unlock()
	}))
	defer recv.Close()
	db, err := storage.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d, err := webhook.New(db, []config.Webhook{hook("ops", recv.URL, "json")}, "", slog.New(slog.DiscardHandler), nil, webhook.Options{})
	if err != nil {
		t.Fatal(err)
	}
	poison := alert(0, chart.KindSurge)
	poison.ID = "poison"
	raise(t, d, db, poison)
	for i := 1; i <= 15; i++ {
		a := alert(i, chart.KindSurge)
		if i == 8 {
			a = alert(i, chart.KindRemoved)
			a.Severity = chart.SeverityCritical
		}
		raise(t, d, db, a)
	}
	start := time.Now()
	d.Start(context.Background())
	defer d.Stop()
	count := func() (int, time.Duration, time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		var last, removed time.Duration
		for id, at := range arrived {
			last = max(last, at.Sub(start))
			if id == "alert08" {
				removed = at.Sub(start)
			}
		}
		return len(arrived), last, removed
	}
	for _, mark := range []time.Duration{5 * time.Second, 30 * time.Second, 60 * time.Second, 90 * time.Second, 150 * time.Second} {
		time.Sleep(time.Until(start.Add(mark)))
		n, _, _ := count()
		t.Logf("after %3.0fs: %2d of 15 delivered", mark.Seconds(), n)
		if n == 15 {
			break
		}
	}
	n, last, removed := count()
	st, _ := db.OutboxStats(context.Background(), "ops")
	t.Logf("result: %d of 15 delivered, the last %.1fs after start, the critical removal after %.1fs; outbox %v", n, last.Seconds(), removed.Seconds(), st)
}
