package main

import (
	"fmt"
	"io"
	"os"
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
