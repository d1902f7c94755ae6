package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/metrics"
	"github.com/rankpulse/rankpulse/sinks/influx"
)

func (c *cli) runCmd(ctx context.Context, args []string) error {
	fs := c.flags("run")
	cfgPath := fs.String("config", "", "config file (default $RANKPULSE_CONFIG, else ./rankpulse.yaml, else built-in defaults)")
	once := fs.Bool("once", false, "run every job's sweep now, wait for writes, and exit (3 if some charts failed; 130/143 if SIGINT/SIGTERM stopped it before every chart was fetched)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := c.logger(cfg, noFloor)
	d, err := c.openDaemon(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close(context.Background())
	if cfg.Path == "" {
		log.Info("no config file: using the built-in defaults (see `rankpulse config example`)")
	}
	if !*once {
		return d.Run(ctx)
	}
	code, notFetched := exitOK, 0
	for _, s := range d.Once(ctx) {
		failed := strconv.Itoa(s.Failed)
		if s.NotFetched > 0 {
			failed += fmt.Sprintf(" failed (%d not fetched)", s.NotFetched)
		} else {
			failed += " failed"
		}
		if s.StoreErrs > 0 {
			failed += fmt.Sprintf(", %d not stored at first", s.StoreErrs)
		}
		fmt.Fprintf(c.stderr, "job %s: %d charts, %d complete, %d incomplete, %s, %d entries, %d alerts in %s\n",
			s.Job, s.Charts, s.Complete, s.Incomplete, failed, s.Points, s.Alerts, s.Duration.Round(time.Millisecond))
		for _, e := range s.Errors {
			fmt.Fprintf(c.stderr, "  e.g. %s\n", e)
		}
		if !s.OK() {
			code = exitPartial
		}
		if s.Interrupted {
			notFetched += s.NotFetched
		}
	}
	heapProfile(c.stderr)
	if held := d.Held(); held > 0 {
		fmt.Fprintf(c.stderr, "rankpulse: the embedded store in %s refused %d snapshot(s) to the end (%s): they reached the sinks but are not stored, and are lost with this process; %s, then run again\n",
			cfg.DataDir, held, d.StoreFault(), daemon.Advice(d.StoreFault()))
		code = exitFailure
	}
	if notFetched > 0 {
		fmt.Fprintf(c.stderr, "rankpulse: run --once interrupted (%v): %d charts were not fetched and count as failed; nothing is stored for them (what was fetched is stored); run it again to fetch them\n",
			context.Cause(ctx), notFetched)
		code = interruptedCode(ctx)
	}
	if code != exitOK {
		return &exitError{code}
	}
	return nil
}

// stopSignal is the cause of the context main cancels on SIGINT or
// SIGTERM.
type stopSignal struct{ sig os.Signal }

func (s *stopSignal) Error() string { return s.sig.String() + " signal received" }

// interruptedCode is the exit code of a `run --once` stopped by a signal
// before it fetched every chart: 128 + the signal's number, as a shell
// reports a process killed by it (130 for SIGINT, 143 for SIGTERM); 130
// when the cause is not a signal.
func interruptedCode(ctx context.Context) int {
	var s *stopSignal
	if errors.As(context.Cause(ctx), &s) {
		if n, ok := s.sig.(syscall.Signal); ok {
			return 128 + int(n)
		}
	}
	return 128 + int(syscall.SIGINT)
}

// openDaemon opens storage and sinks; a missing InfluxDB database is a
// config error.
func (c *cli) openDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger) (*daemon.Daemon, error) {
	d, err := daemon.New(ctx, cfg, daemon.Options{Logger: log, Metrics: metrics.New(), Version: version})
	if errors.Is(err, influx.ErrNoDatabase) {
		return nil, usagef("%v", err)
	}
	return d, err
}
