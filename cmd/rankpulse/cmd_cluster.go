package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/rankpulse/rankpulse/cluster"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/storage/postgres"
)

// clusterCmd is `rankpulse cluster status`.
func (c *cli) clusterCmd(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "status" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return c.helpCmd(ctx, []string{"cluster"})
		}
		return usagef("usage: rankpulse cluster status [--config F] [--format text|json]")
	}
	fs := c.flags("cluster status")
	cfgPath := fs.String("config", "", "config file (storage.url)")
	format := fs.String("format", "text", "text or json")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usagef("--format %q: want text or json", *format)
	}
	cfg, err := c.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if !cfg.Clustered() {
		return usagef("no cluster: %s has no storage.url (a single rankpulse keeps the embedded store in %s; set storage.url to a PostgreSQL server to run several)", configName(cfg.Path), cfg.DataDir)
	}
	db, err := postgres.Open(ctx, cfg.Storage.URL.Value())
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := cluster.ReadStatus(ctx, db.Pool(), cfg.Cluster.Lease.D(), 5)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return st.WriteText(c.stdout)
}

func configName(path string) string {
	if path == "" {
		return "the built-in config"
	}
	return fmt.Sprintf("%q", path)
}

// clusterName is how an instance will name itself.
func clusterName(cfg *config.Config) string {
	if cfg.Cluster.Name != "" {
		return fmt.Sprintf("%q", cfg.Cluster.Name)
	}
	return "named hostname-pid (cluster.name is not set)"
}
