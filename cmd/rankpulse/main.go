// Command rankpulse watches app-store top charts country by country and
// raises the alarm when an app's rank moves suddenly. See README.md and
// `rankpulse help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rankpulse/rankpulse/internal/gcfloor"
)

// gcFloor is the heap below which the collector does not run (see package
// gcfloor; GOGC or GOMEMLIMIT in the environment turn it off).
const gcFloor = 32 << 20

func main() {
	gcfloor.Start(gcFloor) // for the life of the process
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		signal.Reset(os.Interrupt, syscall.SIGTERM) // a second signal kills the process
		cancel(&stopSignal{s})
	}()
	os.Exit(profiled(os.Stderr, func() int { return run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr) }))
}
