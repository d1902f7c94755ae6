package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/rankpulse/rankpulse/storage/postgres"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/alerts/webhook"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/scheduler"
	"github.com/rankpulse/rankpulse/sinks/influx"
)

func (c *cli) configCmd(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("config needs a subcommand: check or example")
	}
	switch args[0] {
	case "example":
		if err := parse(c.flags("config example"), args[1:]); err != nil {
			return err
		}
		_, err := c.stdout.Write(config.Example)
		return err
	case "check":
		return c.configCheck(ctx, args[1:])
	}
	return usagef("unknown config subcommand %q: want check or example", args[0])
}

func (c *cli) configCheck(ctx context.Context, args []string) error {
	fs := c.flags("config check")
	cfgPath := fs.String("config", "", "config file (default $RANKPULSE_CONFIG, else ./rankpulse.yaml)")
	if err := parse(fs, args); err != nil {
		return err
	}
	path := config.Resolve(*cfgPath)
	name := path
	if path == "" {
		name = "built-in defaults"
	}
	cfg, err := c.loadConfig(path)
	if err != nil {
		return err
	}
	var problems []string
	fmt.Fprintf(c.stdout, "%s: valid\n", name)
	for _, n := range cfg.Notes {
		fmt.Fprintf(c.stdout, "  note: %s\n", n)
	}
	// data_dir must be writable.
	if err := checkWritable(cfg.DataDir); err != nil {
		problems = append(problems, fmt.Sprintf("data_dir: %v", err))
	} else {
		fmt.Fprintf(c.stdout, "  data_dir %s: writable\n", cfg.DataDir)
	}
	if cfg.Clustered() {
		// Opening applies the schema the database lacks and refuses a newer one.
		if db, err := postgres.Open(ctx, cfg.Storage.URL.Value()); err != nil {
			problems = append(problems, "storage.url: "+err.Error())
		} else {
			fmt.Fprintf(c.stdout, "  storage %s: reachable, schema version %d; this instance is %s\n", db.Location(), postgres.SchemaVersion(), clusterName(cfg))
			db.Close()
		}
	}
	for _, job := range cfg.Jobs {
		sched, _ := scheduler.ParseSchedule(job.Schedule)
		var parts []string
		n := 0
		for store, reqs := range daemon.Requests(job) {
			parts = append(parts, fmt.Sprintf("%s %d", store, len(reqs)))
			n += len(reqs)
		}
		fmt.Fprintf(c.stdout, "  job %s: %q, %d charts per sweep (%s), next %s\n", job.Name, job.Schedule, n, strings.Join(parts, ", "), sched.Next(nowUTC()).Format("2006-01-02 15:04 MST"))
	}
	if ic := daemon.InfluxConfig(cfg); ic != nil {
		switch err := influx.Check(ctx, *ic); {
		case err == nil:
			fmt.Fprintf(c.stdout, "  sinks.influxdb %s: reachable, %q exists\n", influx.RedactURL(ic.URL), ic.Bucket)
		case errors.Is(err, influx.ErrUnreachable):
			fmt.Fprintf(c.stderr, "%s: warning: sinks.influxdb: %v (rankpulse will spool until it answers)\n", name, err)
		default:
			problems = append(problems, "sinks.influxdb: "+err.Error())
		}
	} else {
		fmt.Fprintln(c.stdout, "  sinks: embedded store only")
	}
	for _, w := range cfg.Alerts.Webhooks {
		line := fmt.Sprintf("  webhook %s: %s to %s", w.Name, w.Format, hostOf(w.URL.Value()))
		if db, err := c.openExisting(ctx, cfg); err == nil {
			if reason, at, off, err := db.Disabled(ctx, w.Name, webhook.URLHash(w.URL.Value())); err == nil && off {
				problems = append(problems, fmt.Sprintf("alerts.webhooks %s: disabled since %s (%s); change its url to enable it again", w.Name, at.Format(time.RFC3339), reason))
			}
			if run, bad, err := webhook.Rejecting(ctx, db, w); err == nil && bad {
				problems = append(problems, fmt.Sprintf("alerts.webhooks %s: %s", w.Name, webhook.RejectingProblem(w, run)))
			}
			if st, err := db.OutboxStats(ctx, w.Name); err == nil {
				line += fmt.Sprintf("; outbox: %d pending, %d delivered, %d given up, %d dead", st["pending"], st["delivered"], st["gave_up"], st["dead"])
				if st["dead"] > 0 {
					line += " (`rankpulse alerts pending` lists them)"
				}
			}
			db.Close()
		}
		fmt.Fprintln(c.stdout, line)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(c.stderr, "%s: %s\n", name, p)
		}
		return &exitError{exitUsage}
	}
	return nil
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host
	}
	return "?"
}

func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".check-*")
	if err != nil {
		return fmt.Errorf("%s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(filepath.Join(dir, filepath.Base(f.Name())))
}
