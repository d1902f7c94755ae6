// Package gcfloor runs Go's garbage collector like GOGC=100, except that
// it does not collect while the heap is below a floor.
//
// A sweep allocates far more than it keeps: every chart answer is read
// whole (a legacy feed is 450 KB) and dropped a moment later, while what
// the daemon keeps between sweeps is a few MB. With GOGC=100 the heap goal
// is twice that small live heap, so the collector ran every few feeds: a
// 1,050-feed sweep made 229 cycles, and they, with the pages returned to
// the kernel and faulted in again between them, cost a fifth of its CPU.
// With a floor the collector waits until the heap reaches it, and above it
// keeps GOGC=100's goal of twice the live heap. Memory stays bounded by
// max(floor, 2 × live) plus what the runtime needs beside the heap, which
// is what the peak RSS of a large sweep was already.
//
// It sets GOGC=off and moves the memory limit (debug.SetMemoryLimit) after
// every collection. A user's own GOGC or GOMEMLIMIT wins: with either set in
// the environment, Start does nothing.
package gcfloor

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// tuner moves the memory limit after each collection.
type tuner struct {
	floor   int64
	stopped atomic.Bool
	mu      sync.Mutex
	samples []metrics.Sample
}

const (
	liveHeap = "/gc/heap/live:bytes"
	total    = "/memory/classes/total:bytes"
	heapObj  = "/memory/classes/heap/objects:bytes"
	heapFree = "/memory/classes/heap/free:bytes"
	heapRel  = "/memory/classes/heap/released:bytes"
	heapUnu  = "/memory/classes/heap/unused:bytes"
)

// Start puts the floor in place and returns the function that takes it
// away again (GOGC=100, no memory limit). Without a floor (floor <= 0), or
// with GOGC or GOMEMLIMIT set, it changes nothing.
func Start(floor int64) (stop func()) {
	if floor <= 0 || os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	t := &tuner{floor: floor}
	for _, name := range []string{liveHeap, total, heapObj, heapFree, heapRel, heapUnu} {
		t.samples = append(t.samples, metrics.Sample{Name: name})
	}
	t.adjust()
	debug.SetGCPercent(-1)
	t.arm()
	return func() {
		t.stopped.Store(true)
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
	}
}

// limit is the memory limit the floor would set now: max(floor, 2 × the
// live heap) plus the runtime's memory beside the heap.
func (t *tuner) limit() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	metrics.Read(t.samples)
	v := func(i int) int64 {
		if t.samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(t.samples[i].Value.Uint64())
	}
	live := v(0)
	beside := v(1) - v(2) - v(3) - v(4) - v(5) // stacks, GC metadata, buffers
	return max(t.floor, 2*live) + max(beside, 0)
}

func (t *tuner) adjust() { debug.SetMemoryLimit(t.limit()) }

// arm asks to be called after the next collection: the cleanup of an
// object nothing refers to runs once a cycle has found it unreachable.
func (t *tuner) arm() {
	p := new([16]byte)
	runtime.AddCleanup(p, func(t *tuner) {
		if t.stopped.Load() {
			return
		}
		t.adjust()
		t.arm()
	}, t)
}
