package scheduler_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rankpulse/rankpulse/scheduler"
)

type recorder struct {
	mu    sync.Mutex
	slots []time.Time
	ran   []time.Time
}

func (r *recorder) add(slot time.Time) {
	r.mu.Lock()
	r.slots = append(r.slots, slot)
	r.ran = append(r.ran, time.Now())
	r.mu.Unlock()
}

func (r *recorder) get() ([]time.Time, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.slots...), append([]time.Time(nil), r.ran...)
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestSlotIsTheScheduledFireTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(quiet())
		var r recorder
		if err := s.Add(scheduler.Job{Name: "every", Spec: "@every 10s", Run: func(ctx context.Context, slot time.Time) {
			time.Sleep(1500 * time.Millisecond) // the slot must not drift with run time
			r.add(slot)
		}}); err != nil {
			t.Fatal(err)
		}
		var c recorder
		if err := s.Add(scheduler.Job{Name: "cron", Spec: "*/20 * * * * *", Run: func(ctx context.Context, slot time.Time) { c.add(slot) }}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		s.Start()
		time.Sleep(65 * time.Second)
		if err := s.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		slots, ran := r.get()
		if len(slots) != 6 {
			t.Fatalf("@every 10s ran %d times in 65s, want 6", len(slots))
		}
		for i, sl := range slots {
			if sl.Nanosecond() != 0 || sl.Location() != time.UTC {
				t.Fatalf("slot %v is not whole UTC seconds", sl)
			}
			if want := start.Truncate(time.Second).Add(time.Duration(i+1) * 10 * time.Second); !sl.Equal(want) {
				t.Fatalf("slot %d = %v, want %v", i, sl, want)
			}
			if d := ran[i].Sub(sl); d < 1500*time.Millisecond || d > 1600*time.Millisecond {
				t.Fatalf("run finished %s after its slot", d)
			}
		}
		cslots, _ := c.get()
		if len(cslots) < 3 {
			t.Fatalf("*/20 seconds ran %d times", len(cslots))
		}
		for _, sl := range cslots {
			if sl.Second()%20 != 0 || sl.Nanosecond() != 0 {
				t.Fatalf("slot %v is not on the */20 seconds schedule", sl)
			}
		}
	})
}

func TestPanickingJobRunsAgainAtItsNextSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(quiet())
		var r recorder
		calls := 0
		s.Add(scheduler.Job{Name: "boom", Spec: "@every 1s", Run: func(ctx context.Context, slot time.Time) {
			calls++
			if calls == 1 {
				panic("first run fails")
			}
			r.add(slot)
		}})
		s.Start()
		time.Sleep(3500 * time.Millisecond)
		s.Stop(context.Background())
		if slots, _ := r.get(); len(slots) != 2 {
			t.Fatalf("after a panic the job ran %d more times in 2.5s, want 2", len(slots))
		}
	})
}

func TestOverlappingSlotIsSkipped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(quiet())
		var r recorder
		s.Add(scheduler.Job{Name: "slow", Spec: "@every 1s", Run: func(ctx context.Context, slot time.Time) {
			r.add(slot)
			time.Sleep(2500 * time.Millisecond)
		}})
		s.Start()
		time.Sleep(6200 * time.Millisecond)
		s.Stop(context.Background())
		slots, _ := r.get()
		// Fires at 1..6s; runs at 1s (until 3.5s) and 4s (until 6.5s).
		if len(slots) != 2 || slots[1].Sub(slots[0]) != 3*time.Second {
			t.Fatalf("slots = %v, want two runs 3s apart (overlaps skipped, not queued)", slots)
		}
	})
}

func TestStopCancelsAndWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := scheduler.New(quiet())
		finished := false
		s.Add(scheduler.Job{Name: "j", Spec: "@every 1s", Run: func(ctx context.Context, slot time.Time) {
			<-ctx.Done()                // stop taking new work...
			time.Sleep(2 * time.Second) // ...but finish what is in flight
			finished = true
		}})
		s.Start()
		time.Sleep(1500 * time.Millisecond)
		if err := s.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !finished {
			t.Fatal("Stop returned before the running job finished")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s2 := scheduler.New(quiet())
		release := make(chan struct{})
		s2.Add(scheduler.Job{Name: "stuck", Spec: "@every 1s", Run: func(context.Context, time.Time) { <-release }})
		s2.Start()
		time.Sleep(1100 * time.Millisecond)
		if err := s2.Stop(ctx); err != scheduler.ErrStopTimeout {
			t.Fatalf("Stop of a stuck job = %v, want ErrStopTimeout", err)
		}
		close(release)
		synctest.Wait()
	})
}

func TestCronTZ(t *testing.T) {
	sched, err := scheduler.ParseSchedule("CRON_TZ=Asia/Tokyo 0 9 * * *")
	if err != nil {
		t.Fatal(err)
	}
	next := sched.Next(time.Date(2021, 1, 7, 1, 0, 0, 0, time.UTC))
	if !next.Equal(time.Date(2021, 1, 8, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("9:00 in Tokyo = %v UTC, want 00:00", next.UTC())
	}
	plain, _ := scheduler.ParseSchedule("7 * * * *")
	if n := plain.Next(time.Date(2021, 1, 7, 1, 0, 0, 0, time.UTC)); !n.Equal(time.Date(2021, 1, 7, 1, 7, 0, 0, time.UTC)) {
		t.Fatalf("next = %v", n)
	}
}

func TestParseScheduleErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"":                    "empty schedule",
		"TZ=0 * * * *":        "use CRON_TZ=Zone",
		"CRON_TZ=UTC":         "must be followed by a space",
		"CRON_TZ=Nowhere/X *": "unknown time zone",
		"61 * * * *":          "above maximum",
		"@every 100ms":        "at least 1s",
		"* * *":               "expected 5 to 6 fields",
	} {
		_, err := scheduler.ParseSchedule(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSchedule(%q) = %v, want error containing %q", spec, err, want)
		}
	}
}

// at returns the time d after the start of a synctest bubble (midnight UTC).
func at(start time.Time, d time.Duration) time.Time { return start.Add(d).UTC() }

func TestCatchUpRunsTheCurrentSlotAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		midnight := time.Now().UTC()
		time.Sleep(25 * time.Minute) // start at 00:25: the 00:07 slot is current
		s := scheduler.New(quiet())
		var caught, ran recorder
		s.Add(scheduler.Job{Name: "hourly", Spec: "7 * * * *",
			Run:     func(ctx context.Context, slot time.Time) { ran.add(slot) },
			CatchUp: func(ctx context.Context, slot time.Time) { caught.add(slot) },
		})
		s.Start()
		time.Sleep(45 * time.Minute) // to 01:10
		s.Stop(context.Background())
		slots, when := caught.get()
		if len(slots) != 1 || !slots[0].Equal(at(midnight, 7*time.Minute)) || !when[0].Equal(at(midnight, 25*time.Minute)) {
			t.Fatalf("catch-up ran for slots %v at %v; want once, for 00:07, at the start (00:25)", slots, when)
		}
		if slots, _ := ran.get(); len(slots) != 1 || !slots[0].Equal(at(midnight, 67*time.Minute)) {
			t.Fatalf("scheduled runs %v, want one at 01:07", slots)
		}
	})
}

func TestCatchUpAndScheduledRunsNeverOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		midnight := time.Now().UTC()
		time.Sleep(10 * time.Second)
		s := scheduler.New(quiet())
		var mu sync.Mutex
		running, overlaps := 0, 0
		var r recorder
		work := func(ctx context.Context, slot time.Time) {
			mu.Lock()
			running++
			overlaps += running - 1
			mu.Unlock()
			r.add(slot)
			time.Sleep(90 * time.Second)
			mu.Lock()
			running--
			mu.Unlock()
		}
		s.Add(scheduler.Job{Name: "minutely", Spec: "@every 1m", Run: work, CatchUp: work})
		s.Start()
		time.Sleep(3*time.Minute + 20*time.Second)
		s.Stop(context.Background())
		slots, _ := r.get()
		// The catch-up of 00:00 runs 00:00:10-00:01:40, so the 00:01 slot
		// is skipped; 00:02 runs until 00:03:30, so 00:03 is skipped too.
		want := []time.Time{at(midnight, 0), at(midnight, 2*time.Minute)}
		if overlaps != 0 || len(slots) != len(want) || !slots[0].Equal(want[0]) || !slots[1].Equal(want[1]) {
			t.Fatalf("slots %v with %d overlaps; want %v, none overlapping", slots, overlaps, want)
		}
	})
}

func TestNoCatchUpWhenTheNextSlotIsDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		midnight := time.Now().UTC()
		time.Sleep(45 * time.Second) // the next minute is 15s away
		s := scheduler.New(quiet())
		var r recorder
		rec := func(ctx context.Context, slot time.Time) { r.add(slot) }
		s.Add(scheduler.Job{Name: "minutely", Spec: "@every 1m", Run: rec, CatchUp: rec})
		s.Start()
		time.Sleep(30 * time.Second)
		s.Stop(context.Background())
		if slots, _ := r.get(); len(slots) != 1 || !slots[0].Equal(at(midnight, time.Minute)) {
			t.Fatalf("slots %v, want only the scheduled 00:01", slots)
		}
	})
}

func TestPanickingCatchUpIsRecoveredAndStopWaitsForCatchUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(10 * time.Second)
		s := scheduler.New(quiet())
		var r recorder
		s.Add(scheduler.Job{Name: "boom", Spec: "@every 1m",
			Run:     func(ctx context.Context, slot time.Time) { r.add(slot) },
			CatchUp: func(ctx context.Context, slot time.Time) { panic("catch-up fails") },
		})
		s.Start()
		time.Sleep(2*time.Minute + time.Second)
		s.Stop(context.Background())
		if slots, _ := r.get(); len(slots) != 2 {
			t.Fatalf("after a panicking catch-up the job ran %d times in 2 minutes, want 2", len(slots))
		}

		s2 := scheduler.New(quiet())
		finished := false
		s2.Add(scheduler.Job{Name: "slow", Spec: "@every 1h", Run: func(context.Context, time.Time) {},
			CatchUp: func(ctx context.Context, slot time.Time) {
				<-ctx.Done()
				time.Sleep(5 * time.Second)
				finished = true
			}})
		s2.Start()
		time.Sleep(time.Second)
		if err := s2.Stop(context.Background()); err != nil || !finished {
			t.Fatalf("Stop = %v, catch-up finished = %v: Stop must wait for it", err, finished)
		}
	})
}
