package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/metrics"
	"github.com/rankpulse/rankpulse/sinks/influx"
)

func (c *cli) runCmd(ctx context.Context, args []string) error {
	fs := c.flags("run")
	cfgPath := fs.String("config", "", "config file (default $RANKPULSE_CONFIG, else ./rankpulse.yaml, else built-in defaults)")
	once := fs.Bool("once", false, "run every job's sweep now, wait for writes, and exit (3 if some charts failed)")
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
	code := exitOK
	for _, s := range d.Once(ctx) {
		fmt.Fprintf(c.stderr, "job %s: %d charts, %d complete, %d incomplete, %d failed, %d entries, %d alerts in %s\n",
			s.Job, s.Charts, s.Complete, s.Incomplete, s.Failed, s.Points, s.Alerts, s.Duration.Round(time.Millisecond))
		for _, e := range s.Errors {
			fmt.Fprintf(c.stderr, "  e.g. %s\n", e)
		}
		if !s.OK() {
			code = exitPartial
		}
	}
	if code != exitOK {
		return &exitError{code}
	}
	return nil
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
