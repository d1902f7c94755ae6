package daemon_test

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/internal/syncbuf"
)

// openLogged opens a daemon whose log the test reads.
func (e *env) openLogged(t *testing.T, every time.Duration) (*daemon.Daemon, *syncbuf.Buffer) {
	t.Helper()
	var buf syncbuf.Buffer
	d, err := daemon.New(context.Background(), e.cfg, daemon.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil)), CheckpointEvery: every})
	if err != nil {
		t.Fatal(err)
	}
	return d, &buf
}

var restoredRe = regexp.MustCompile(`msg="alert engine restored" from="?([a-z ]+)"? evaluations_replayed=(\d+)`)

// restored returns how the last restore logged it went: from where, and how
// many evaluations it replayed.
func restored(t *testing.T, log *syncbuf.Buffer) (from, replayed string) {
	t.Helper()
	m := restoredRe.FindAllStringSubmatch(log.String(), -1)
	if len(m) == 0 {
		t.Fatalf("no restore logged:\n%s", log)
	}
	return m[len(m)-1][1], m[len(m)-1][2]
}

func (e *env) sweeps(t *testing.T, d *daemon.Daemon, from, to int) (alerts int) {
	t.Helper()
	for h := from; h < to; h++ {
		s := d.Sweep(context.Background(), e.cfg.Jobs[0], t0.Add(time.Duration(h)*time.Hour), nil)
		if !s.OK() {
			t.Fatalf("hour %d: %+v", h, s)
		}
		alerts += s.Alerts
	}
	return alerts
}

// A restart reads the engine's checkpoint and replays only the evaluations
// made after it — none after a clean stop, the ones since the last
// checkpoint after a crash — and goes on exactly where it stopped.
func TestARestartStartsFromTheCheckpoint(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d, log := e.openLogged(t, time.Hour)
	e.sweeps(t, d, 0, 24)
	if from, n := restored(t, log); from != "replay of the horizon" || n != "0" {
		t.Fatalf("first start: restored from %q after %s replays", from, n)
	}
	// Signal surges; read hourly, it alerts on the second read.
	e.apple.SetChart("us", "top-free", "36", rankedAt(e.apple.Ranking("us", "top-free", "36"), "874139669", 3))
	if n := e.sweeps(t, d, 24, 26); n != 1 {
		t.Fatalf("the surge raised %d alerts, want 1", n)
	}
	// A crash: the store closes under the daemon, no checkpoint is written.
	// The only checkpoint is the one of the first evaluation.
	d.DB().Close()

	d, log = e.openLogged(t, time.Hour)
	if err := d.RestoreAlerts(ctx); err != nil {
		t.Fatal(err)
	}
	if from, n := restored(t, log); from != "checkpoint" || n != "25" {
		t.Fatalf("after a crash: restored from %q after %s replays, want the checkpoint and the 25 evaluations after it", from, n)
	}
	// It knows the surge: holding at #3 is not news again.
	if n := e.sweeps(t, d, 26, 28); n != 0 {
		t.Fatalf("after the restart the held surge alerted again (%d)", n)
	}
	if err := d.Close(ctx); err != nil { // a clean stop writes a checkpoint
		t.Fatal(err)
	}

	d, log = e.openLogged(t, time.Hour)
	defer d.Close(ctx)
	if err := d.RestoreAlerts(ctx); err != nil {
		t.Fatal(err)
	}
	if from, n := restored(t, log); from != "checkpoint" || n != "0" {
		t.Fatalf("after a clean stop: restored from %q after %s replays, want the checkpoint alone", from, n)
	}
	// And it still sees the next country's surge.
	e.apple.SetChart("gb", "top-free", "36", rankedAt(e.apple.Ranking("gb", "top-free", "36"), "874139669", 2))
	if n := e.sweeps(t, d, 28, 30); n != 1 {
		t.Fatalf("a new surge after the restore raised %d alerts, want 1", n)
	}
}

// A checkpoint written under other alert settings is not used: the engine
// is rebuilt from the history, and checkpointed again.
func TestChangedSettingsRebuildTheEngine(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d, _ := e.openLogged(t, time.Hour)
	e.sweeps(t, d, 0, 10)
	d.Close(ctx)

	e.cfg.Alerts.Surge.MinRatio = 2.5
	d, log := e.openLogged(t, time.Hour)
	if err := d.RestoreAlerts(ctx); err != nil {
		t.Fatal(err)
	}
	d.Close(ctx)
	if from, _ := restored(t, log); from != "replay of the horizon" || !strings.Contains(log.String(), "alert settings changed") {
		t.Fatalf("with other settings: restored from %q\n%s", from, log)
	}
	d, log = e.openLogged(t, time.Hour)
	defer d.Close(ctx)
	if err := d.RestoreAlerts(ctx); err != nil {
		t.Fatal(err)
	}
	if from, n := restored(t, log); from != "checkpoint" || n != "0" {
		t.Fatalf("the rebuild was not checkpointed: restored from %q after %s replays", from, n)
	}
}
