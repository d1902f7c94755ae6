package daemon

import (
	"os"
	"strings"
	"syscall"
)

// EnvFailpoint names failpoints at which the process kills itself with
// SIGKILL, for the crash tests of a cluster (a comma-separated list). It
// is for tests only; unset, a failpoint costs one environment lookup.
const EnvFailpoint = "RANKPULSE_FAILPOINT"

// failpoint kills the process outright if name is listed in
// RANKPULSE_FAILPOINT: the crash a test needs at the worst moment, with
// nothing flushed or closed.
func failpoint(name string) {
	v := os.Getenv(EnvFailpoint)
	if v == "" {
		return
	}
	for _, f := range strings.Split(v, ",") {
		if f == name {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
}
