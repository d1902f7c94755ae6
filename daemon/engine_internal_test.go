package daemon

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rankpulse/rankpulse/config"
)

// /readyz is not ready while the alert engine is being restored, and says
// so; /healthz does not wait for it (Run listens before it restores).
func TestReadyzWaitsForTheAlertEngine(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir, cfg.Listen = filepath.Join(t.TempDir(), "data"), ""
	d, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	d.alerts.started.Store(true) // as Run does before it starts the restore
	d.alerts.total.Store(40)
	d.alerts.progress.Store(12)
	r := d.Ready(context.Background())
	if r.Ready || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "restoring its state from the embedded store (12 of 40 evaluations)") {
		t.Fatalf("during the restore: %+v", r)
	}
	if err := d.RestoreAlerts(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := d.Ready(context.Background()); !r.Ready {
		t.Fatalf("after the restore: %+v", r)
	}
}
