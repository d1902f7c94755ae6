package gcfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// limitNow reads the memory limit without changing it.
func limitNow() int64 { return debug.SetMemoryLimit(-1) }

// waitLimit collects until the limit satisfies ok (the cleanup that moves
// it runs a moment after a cycle).
func waitLimit(t *testing.T, ok func(int64) bool) int64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if l := limitNow(); ok(l) || time.Now().After(deadline) {
			return l
		}
	}
}

var keep [][]byte

// Below the floor the limit is the floor; a live heap above half of it
// raises the limit to twice the live heap, and freeing it lowers it again;
// stop restores GOGC=100 and no limit.
func TestTheLimitFollowsTheLiveHeapAboveTheFloor(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	const floor = 64 << 20
	stop := Start(floor)
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Fatalf("GOGC is %d after Start, want off", p)
	}
	l := waitLimit(t, func(l int64) bool { return l >= floor && l < floor+32<<20 })
	if l < floor || l >= floor+32<<20 {
		t.Fatalf("limit %d MiB with a small heap, want the floor (64 MiB) plus a little", l>>20)
	}
	for range 20 {
		keep = append(keep, make([]byte, 8<<20)) // 160 MiB live
	}
	l = waitLimit(t, func(l int64) bool { return l >= 2*160<<20 })
	if l < 2*160<<20 {
		t.Fatalf("limit %d MiB with 160 MiB live, want at least twice that", l>>20)
	}
	keep = nil
	l = waitLimit(t, func(l int64) bool { return l < floor+32<<20 })
	if l >= floor+32<<20 {
		t.Fatalf("limit %d MiB once the heap was freed, want back near the floor", l>>20)
	}
	stop()
	if p := debug.SetGCPercent(100); p != 100 || limitNow() != math.MaxInt64 {
		t.Fatalf("after stop: GOGC %d, limit %d", p, limitNow())
	}
}

// A user's GOGC or GOMEMLIMIT is left alone.
func TestTheEnvironmentWins(t *testing.T) {
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv("GOGC", "")
			t.Setenv("GOMEMLIMIT", "")
			t.Setenv(env, "200")
			stop := Start(64 << 20)
			defer stop()
			if p := debug.SetGCPercent(100); p != 100 || limitNow() != math.MaxInt64 {
				t.Errorf("with %s set: GOGC %d, limit %d; want both untouched", env, p, limitNow())
			}
		})
	}
}
