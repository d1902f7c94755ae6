package scheduler_test

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/scheduler"
)

// fires lists the times sched fires in (from, to], as the running scheduler
// reaches them: Next after Next.
func fires(t *testing.T, spec string, from, to time.Time) []time.Time {
	t.Helper()
	sched, err := scheduler.ParseSchedule(spec)
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for at := sched.Next(from); !at.IsZero() && !at.After(to); at = sched.Next(at) {
		out = append(out, at.UTC())
	}
	return out
}

// Prev agrees with the fire times the scheduler walks through, at random
// moments and right at, just before and just after each fire time, across
// both daylight-saving changes of 2026 in Berlin and New York.
func TestPrevIsTheLatestFireTime(t *testing.T) {
	from := time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC)
	for _, spec := range []string{
		"7 * * * *",
		"*/20 * * * * *",                   // seconds field
		"0 9 * * 1-5",                      // weekdays
		"CRON_TZ=Asia/Tokyo 0 9 * * *",     // no DST
		"CRON_TZ=Europe/Berlin 30 2 * * *", // skipped in spring, twice in autumn
		"CRON_TZ=Europe/Berlin */30 1-3 * * *",
		"CRON_TZ=America/New_York 30 1 * * *",
		"CRON_TZ=America/New_York 0 * * * *",
		"@every 7m",
		"@every 1h30m",
		"@daily",
	} {
		t.Run(spec, func(t *testing.T) {
			sched, _ := scheduler.ParseSchedule(spec)
			from, to := from, to
			if spec == "*/20 * * * * *" {
				from, to = time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 30, 0, 0, 0, 0, time.UTC)
			}
			all := fires(t, spec, from.Add(-30*24*time.Hour), to)
			if len(all) < 3 {
				t.Fatalf("only %d fire times", len(all))
			}
			// expect: the last fire time at or before at.
			expect := func(at time.Time) time.Time {
				i := sort.Search(len(all), func(i int) bool { return all[i].After(at) })
				if i == 0 {
					return time.Time{}
				}
				return all[i-1]
			}
			check := func(at time.Time) {
				t.Helper()
				got, want := scheduler.Prev(sched, at), expect(at)
				if !got.Equal(want) {
					t.Fatalf("Prev(%s) = %s, want %s", at.Format(time.RFC3339Nano), got, want)
				}
				if next := sched.Next(at); !next.After(at) || !got.Before(next) {
					t.Fatalf("Prev(%s) = %s is not before Next = %s", at, got, next)
				}
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(spec))))
			for range 300 {
				check(from.Add(time.Duration(rng.Int64N(int64(to.Sub(from))))))
			}
			for i, f := range all {
				if f.Before(from) || i%97 != 0 && !dstDay(f) {
					continue
				}
				check(f)
				check(f.Add(-time.Nanosecond))
				check(f.Add(-time.Second))
				check(f.Add(999 * time.Millisecond))
			}
		})
	}
}

func dstDay(t time.Time) bool {
	d := t.Format("01-02")
	return d == "03-29" || d == "03-08" || d == "10-25" || d == "11-01"
}

func TestPrevAcrossDaylightSaving(t *testing.T) {
	berlin, _ := scheduler.ParseSchedule("CRON_TZ=Europe/Berlin 30 2 * * *")
	// 2026-03-29 02:30 does not exist in Berlin: the slot at 03:30 CEST
	// is the day before's.
	if got := scheduler.Prev(berlin, time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 3, 28, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("spring forward: Prev = %s, want 2026-03-28 01:30 UTC (02:30 CET)", got)
	}
	// 2026-10-25 02:30 happens twice (CEST, then CET): both are slots.
	if got := scheduler.Prev(berlin, time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC)) {
		t.Errorf("fall back, first 02:30: Prev = %s, want 00:30 UTC", got)
	}
	if got := scheduler.Prev(berlin, time.Date(2026, 10, 25, 2, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("fall back, second 02:30: Prev = %s, want 01:30 UTC", got)
	}
}

func TestPrevOfSparseAndImpossibleSchedules(t *testing.T) {
	leap, _ := scheduler.ParseSchedule("0 0 29 2 *")
	if got := scheduler.Prev(leap, time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("leap day: Prev = %s, want 2024-02-29", got)
	}
	never, _ := scheduler.ParseSchedule("0 0 30 2 *")
	if got := scheduler.Prev(never, time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)); !got.IsZero() {
		t.Errorf("30 February: Prev = %s, want the zero time", got)
	}
}

// "@every" fires on the multiples of its interval since the epoch, so its
// slots do not move when the scheduler restarts.
func TestEveryIsAlignedToTheEpoch(t *testing.T) {
	hourly, _ := scheduler.ParseSchedule("@every 1h")
	at := time.Date(2026, 5, 4, 10, 23, 45, 500, time.UTC)
	if n := hourly.Next(at); !n.Equal(time.Date(2026, 5, 4, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("@every 1h: Next(10:23:45) = %s, want 11:00", n)
	}
	if p := scheduler.Prev(hourly, at); !p.Equal(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("@every 1h: Prev(10:23:45) = %s, want 10:00", p)
	}
	on := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	if p, n := scheduler.Prev(hourly, on), hourly.Next(on); !p.Equal(on) || !n.Equal(on.Add(time.Hour)) {
		t.Errorf("@every 1h at 10:00: Prev %s, Next %s", p, n)
	}
	tz, _ := scheduler.ParseSchedule("CRON_TZ=Asia/Kolkata @every 15m")
	if n := tz.Next(time.Date(2026, 5, 4, 10, 1, 0, 0, time.UTC)); !n.Equal(time.Date(2026, 5, 4, 10, 15, 0, 0, time.UTC)) {
		t.Errorf("@every 15m: Next = %s, want 10:15 UTC", n)
	}
}
