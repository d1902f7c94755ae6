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
	"github.com/rankpulse/rankpulse/storage"
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
	// data_dir must be writable, with room to write.
	switch room, warn, err := checkDataDir(cfg.DataDir); {
	case err != nil:
		problems = append(problems, fmt.Sprintf("data_dir: %v", err))
	case warn != "":
		fmt.Fprintf(c.stdout, "  data_dir %s: writable, %s\n", cfg.DataDir, room)
		fmt.Fprintf(c.stderr, "%s: warning: data_dir %s: %s\n", name, cfg.DataDir, warn)
	default:
		fmt.Fprintf(c.stdout, "  data_dir %s: writable, %s\n", cfg.DataDir, room)
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
	problems = append(problems, c.checkWebhooks(ctx, cfg)...)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(c.stderr, "%s: %s\n", name, p)
		}
		return &exitError{exitUsage}
	}
	return nil
}

// checkWebhooks prints each webhook with its outbox and returns the
// problems of those disabled or rejecting.
func (c *cli) checkWebhooks(ctx context.Context, cfg *config.Config) []string {
	var problems []string
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
	return problems
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host
	}
	return "?"
}

// Free space below minFree is a problem: rankpulse cannot store a sweep;
// below lowFree, a warning.
const (
	minFree = 16 << 20
	lowFree = 256 << 20
)

// checkDataDir checks that dir takes a write — real bytes, synced, not
// just a new empty file, which a full disk still allows — and reports the
// room on its volume (statfs).
func checkDataDir(dir string) (room, warn string, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", "", fmt.Errorf("%s cannot be created: %w", dir, err)
	}
	sp, serr := storage.FreeSpace(dir)
	if serr == nil {
		room = sp.String()
	}
	f, err := os.CreateTemp(dir, ".check-*")
	if err != nil {
		return "", "", fmt.Errorf("%s is not writable: %w", dir, err)
	}
	defer os.Remove(filepath.Join(dir, filepath.Base(f.Name())))
	_, err = f.Write(make([]byte, 64<<10))
	err = errors.Join(err, f.Sync(), f.Close())
	switch {
	case err != nil && storage.Classify(err) == storage.FaultFull:
		return room, "", fmt.Errorf("%s is full (%s): rankpulse cannot store what it scrapes; free space there or give data_dir more room", dir, room)
	case err != nil:
		return room, "", fmt.Errorf("%s does not take a write: %w", dir, err)
	case serr != nil:
		return "free space unknown (" + serr.Error() + ")", "", nil
	case sp.Free < minFree:
		return room, "", fmt.Errorf("%s has %s: too little to store a sweep (%s at least); free space there or give data_dir more room", dir, room, storage.Bytes(minFree))
	case sp.Free < lowFree:
		return room, fmt.Sprintf("only %s: rankpulse holds what it cannot store in memory for a while, then loses it", room), nil
	}
	return room, "", nil
}
