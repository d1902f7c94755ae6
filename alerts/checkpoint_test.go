package alerts_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/internal/scenario"
)

// checkpointWorld is a small generated world with faults,
// climbs, slides, a ban and multi-country events under way.
func checkpointWorld(t testing.TB, countries, hours int) ([][]chart.Snapshot, map[string]map[string]string) {
	c := scenario.DefaultConfig()
	c.Seed, c.Countries, c.Hours, c.Pool = 7, countries, hours, 600
	sc := scenario.New(c)
	var slots [][]chart.Snapshot
	sc.Run(func(_ time.Time, snaps []chart.Snapshot) []chart.Alert {
		slots = append(slots, snaps)
		return nil
	})
	return slots, sc.Watch
}

// An engine restored from a checkpoint goes on exactly as the one that
// wrote it: the same alerts, with the same ids, for the rest of the world.
func TestCheckpointRestoresTheEngineExactly(t *testing.T) {
	slots, watch := checkpointWorld(t, 10, 9*24)
	for _, watchOnly := range []bool{true, false} {
		cfg := config.DefaultAlerts()
		cfg.WatchOnly = watchOnly
		a := alerts.New(cfg, watch)
		cut := len(slots) * 3 / 5 // the climbs are under way
		for _, s := range slots[:cut] {
			a.Evaluate(s[0].Time, s)
		}
		state, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		again, _ := a.MarshalBinary()
		if !bytes.Equal(state, again) {
			t.Fatal("two checkpoints of one state differ")
		}
		// WriteState writes the same bytes, in pieces.
		pieces := &countingWriter{}
		if err := a.WriteState(pieces); err != nil || !bytes.Equal(pieces.buf.Bytes(), state) {
			t.Fatalf("WriteState wrote %d bytes (err %v), MarshalBinary %d; not the same", pieces.buf.Len(), err, len(state))
		}
		if len(state) > 2*64<<10 && pieces.writes < 2 {
			t.Errorf("%d bytes of state in %d writes: WriteState holds the state whole", len(state), pieces.writes)
		}
		if err := a.WriteState(failingWriter{}); err == nil {
			t.Error("WriteState to a failing writer: no error")
		}
		b := alerts.New(cfg, watch)
		if err := b.UnmarshalBinary(state); err != nil {
			t.Fatal(err)
		}
		if round, _ := b.MarshalBinary(); !bytes.Equal(round, state) {
			t.Fatal("a restored state does not checkpoint to the same bytes")
		}
		var fromA, fromB []chart.Alert
		for _, s := range slots[cut:] {
			fromA = append(fromA, a.Evaluate(s[0].Time, s)...)
			fromB = append(fromB, b.Evaluate(s[0].Time, s)...)
		}
		ja, _ := json.Marshal(fromA)
		jb, _ := json.Marshal(fromB)
		if len(fromA) == 0 || !bytes.Equal(ja, jb) {
			t.Fatalf("watch_only=%v: after the checkpoint the engines differ (%d vs %d alerts)", watchOnly, len(fromA), len(fromB))
		}
		t.Logf("watch_only=%v: %d bytes of state, %d alerts after it, identical", watchOnly, len(state), len(fromA))
	}
}

// A damaged state is refused, naming what is wrong, and leaves the engine
// empty rather than half restored.
func TestADamagedCheckpointIsRefused(t *testing.T) {
	slots, watch := checkpointWorld(t, 10, 9*24)
	cfg := config.DefaultAlerts()
	e := alerts.New(cfg, watch)
	for _, s := range slots[:60] {
		e.Evaluate(s[0].Time, s)
	}
	state, _ := e.MarshalBinary()
	empty, _ := alerts.New(cfg, watch).MarshalBinary()
	for _, bad := range [][]byte{nil, {9}, state[:len(state)/2], state[:len(state)-1], append(append([]byte{}, state...), 0)} {
		f := alerts.New(cfg, watch)
		err := f.UnmarshalBinary(bad)
		if !errors.Is(err, alerts.ErrState) {
			t.Fatalf("%d bytes: err = %v, want ErrState", len(bad), err)
		}
		if got, _ := f.MarshalBinary(); !bytes.Equal(got, empty) {
			t.Fatalf("%d bytes: a refused state left something behind", len(bad))
		}
	}
}

func TestFingerprintFollowsTheSettings(t *testing.T) {
	watch := map[string]map[string]string{"appstore": {"1": "a"}}
	cfg := config.DefaultAlerts()
	fp := alerts.Fingerprint(cfg, watch)
	withHook := cfg
	withHook.Webhooks = []config.Webhook{{Name: "ops"}}
	if alerts.Fingerprint(withHook, watch) != fp {
		t.Fatal("a webhook changed the engine's fingerprint")
	}
	other := cfg
	other.Surge.MinRatio = 2.5
	if alerts.Fingerprint(other, watch) == fp || alerts.Fingerprint(cfg, map[string]map[string]string{"appstore": {"2": "b"}}) == fp {
		t.Fatal("other settings or another watch list gave the same fingerprint")
	}
}

func FuzzUnmarshalState(f *testing.F) {
	slots, watch := checkpointWorld(f, 2, 40)
	e := alerts.New(config.DefaultAlerts(), watch)
	for _, s := range slots[:30] {
		e.Evaluate(s[0].Time, s)
	}
	state, _ := e.MarshalBinary()
	f.Add(state[:min(len(state), 4096)])
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		g := alerts.New(config.DefaultAlerts(), watch)
		if err := g.UnmarshalBinary(b); err != nil {
			return
		}
		// Whatever it accepted, it must be able to go on evaluating.
		g.Evaluate(slots[30][0].Time, slots[30])
	})
}

type countingWriter struct {
	buf    bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.buf.Write(p)
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
