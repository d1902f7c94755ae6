package daemon_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/alerts/webhook"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/storage"
)

// A receiver that rejected every attempt for its retry window makes
// /readyz not ready, naming it; under new settings it is ready again.
func TestReadyzReportsAReceiverThatRejectsEverything(t *testing.T) {
	e := newEnv(t)
	w := config.Webhook{Name: "ops", URL: "http://127.0.0.1:1/hook", Format: "json", Timeout: config.Duration(time.Second), RetryWindow: config.Duration(time.Minute)}
	e.cfg.Alerts.Webhooks = []config.Webhook{w}
	db, err := storage.Open(context.Background(), e.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-5 * time.Minute)
	for _, at := range []time.Time{start, start.Add(2 * time.Minute)} {
		if _, err := db.NoteRejection(context.Background(), "ops", webhook.Fingerprint(w), "HTTP 403 Forbidden: no", at); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	d := e.open(t)
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var rd daemon.Readiness
	json.NewDecoder(resp.Body).Decode(&rd)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || rd.Ready || len(rd.Problems) != 1 ||
		!strings.HasPrefix(rd.Problems[0], "webhook ops: rejected every attempt for at least its retry_window (1m0s): 2 rejections") {
		t.Fatalf("/readyz %d %+v", resp.StatusCode, rd)
	}
	d.Close(context.Background())

	e.cfg.Alerts.Webhooks[0].Headers = map[string]config.Secret{"Authorization": "Bearer fixed"}
	d = e.open(t)
	defer d.Close(context.Background())
	if rd := d.Ready(context.Background()); !rd.Ready {
		t.Fatalf("under new settings: %+v", rd)
	}
}
