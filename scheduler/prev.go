package scheduler

import (
	"time"

	"github.com/robfig/cron/v3"
)

// prevHorizon is how far back Prev looks: robfig/cron's Next itself gives
// up after five years.
const prevHorizon = 5 * 366 * 24 * time.Hour

// Prev returns the latest time at or before t at which sched fires: the
// slot a job on that schedule is in at t. It is the zero time when sched
// has not fired in the five years before t.
//
// robfig/cron only computes forward (Next), so Prev searches for the last
// second s before t whose Next is still at or before t; that Next is the
// answer. Next never decreases as s grows, so a binary search over the
// seconds of the horizon needs about 28 calls of Next, however dense or
// sparse the schedule. Time zones and daylight saving come out as the
// scheduler sees them, because the answer is always one of Next's: a time
// skipped by a spring-forward is never a slot, and the wall-clock time
// repeated by a fall-back is two slots, as cron fires it twice.
func Prev(sched cron.Schedule, t time.Time) time.Time {
	t = t.UTC()
	if e, ok := sched.(every); ok {
		return e.prev(t)
	}
	t = t.Truncate(time.Second) // fire times are whole seconds
	firesBy := func(s time.Time) bool {
		n := sched.Next(s)
		return !n.IsZero() && !n.After(t)
	}
	lo, hi := t.Add(-prevHorizon), t // firesBy(lo) must hold; firesBy(hi) never does
	if !firesBy(lo) {
		return time.Time{}
	}
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2).Truncate(time.Second)
		if firesBy(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	slot := sched.Next(lo)
	// Should Next ever not be monotonic (robfig/cron around a DST change),
	// walk forward so that the slot is the one whose Next is after t, as
	// the running scheduler would have it.
	for range 1000 {
		n := sched.Next(slot)
		if n.IsZero() || n.After(t) {
			break
		}
		slot = n
	}
	return slot.UTC()
}
