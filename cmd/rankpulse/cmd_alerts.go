package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/rankpulse/rankpulse/alerts/webhook"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/metrics"
)

func (c *cli) alertsCmd(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("alerts needs a subcommand: test")
	}
	if args[0] != "test" {
		return usagef("unknown alerts subcommand %q (want: test)", args[0])
	}
	fs := c.flags("alerts test")
	cfgPath := fs.String("config", "", "config file (alerts.webhooks)")
	only := fs.String("webhook", "", "send to this webhook only")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if len(cfg.Alerts.Webhooks) == 0 {
		return usagef("no webhooks configured (alerts.webhooks in %s)", cfgOrDefaults(cfg.Path))
	}
	d, err := webhook.New(nil, cfg.Alerts.Webhooks, cfg.StatusURL(), c.logger(cfg, slog.LevelWarn), metrics.New(), webhook.Options{})
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	sample := chart.Alert{
		ID: chart.AlertID("test", now.String()), Kind: chart.KindSurge, Severity: chart.SeverityWarning, Time: now,
		Store: chart.AppStore, Country: chart.Ptr("us"), Chart: chart.TopFree, Category: chart.All,
		AppID: "874139669", AppName: "Signal - Private Messenger", Watch: chart.Ptr("signal"),
		FromRank: chart.Ptr(143), ToRank: chart.Ptr(4),
		Summary: "Signal - Private Messenger rose from #143 to #4 in US top free (App Store) in 8h (a test alert from rankpulse)",
	}
	failed, sent := 0, 0
	for _, w := range d.Receivers() {
		if *only != "" && w.Name != *only {
			continue
		}
		n, _ := d.Notifier(w.Name)
		sent++
		res := d.Send(ctx, w, n, webhook.Message{ID: sample.ID + ".test", Alerts: []chart.Alert{sample}, Created: now})
		status := "failed"
		if res.Status != 0 {
			status = fmt.Sprintf("HTTP %d", res.Status)
		}
		line := res.FirstLine
		if res.Err != nil {
			line = res.Err.Error()
		}
		fmt.Fprintf(c.stdout, "%s (%s): %s in %.1fms: %s\n", w.Name, w.Format, status, float64(res.Latency.Microseconds())/1000, line)
		if !res.OK() {
			failed++
		}
	}
	if sent == 0 {
		return usagef("--webhook %q is not configured", *only)
	}
	if failed > 0 {
		return &exitError{exitFailure}
	}
	return nil
}

func cfgOrDefaults(path string) string {
	if path == "" {
		return "the built-in defaults"
	}
	return path
}
