package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

// profiled runs fn under a CPU profile written to $RANKPULSE_CPUPROFILE,
// when set (the sweep bench's SWEEPBENCH_CPUPROFILE uses it); a profile
// that cannot be started is reported and fn runs anyway.
func profiled(stderr io.Writer, fn func() int) int {
	path := os.Getenv("RANKPULSE_CPUPROFILE")
	if path == "" {
		return fn()
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(stderr, "rankpulse: RANKPULSE_CPUPROFILE:", err)
		return fn()
	}
	defer f.Close()
	defer pprof.StopCPUProfile()
	return fn()
}

// heapProfile writes a heap profile of what is live now to
// $RANKPULSE_MEMPROFILE, when set: `run --once` calls it after its sweeps,
// with the daemon still open, to show what it keeps per chart.
func heapProfile(stderr io.Writer) {
	path := os.Getenv("RANKPULSE_MEMPROFILE")
	if path == "" {
		return
	}
	runtime.GC()
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "rankpulse: RANKPULSE_MEMPROFILE:", err)
	}
}
