package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// influxdModule is the InfluxDB the tests and benches run against (as
// internal/cmd/testrun installs it).
const influxdModule = "github.com/influxdata/influxdb/cmd/influxd@v1.8.10"

// telegrafVersion is the Telegraf the CPU comparison builds, with only the
// plugins it uses (Telegraf's custom builds: the "custom" tag plus one tag
// per plugin).
const (
	telegrafVersion = "v1.37.2"
	telegrafModule  = "github.com/influxdata/telegraf/cmd/telegraf@" + telegrafVersion
	telegrafTags    = "custom,inputs.http,outputs.influxdb_v2,parsers.json_v2"
)

// influxd returns the influxd binary: $RANKPULSE_INFLUXD, else
// .cache/bin/influxd, installed there from the Go module proxy first when
// missing (about two minutes).
func influxd(ctx context.Context) (string, error) {
	if p := os.Getenv("RANKPULSE_INFLUXD"); p != "" {
		return p, nil
	}
	return goInstall(ctx, filepath.Join(".cache", "bin"), "influxd", influxdModule, "")
}

// telegraf returns the custom-built Telegraf, building it into
// .cache/telegraf-<version> first when missing (about two minutes).
func telegraf(ctx context.Context) (string, error) {
	return goInstall(ctx, filepath.Join(".cache", "telegraf-"+telegrafVersion), "telegraf", telegrafModule, telegrafTags)
}

func goInstall(ctx context.Context, dir, name, module, tags string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	args := []string{"install"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, module)
	fmt.Fprintf(os.Stderr, "==> go %v (first run only, a few minutes)\n", args)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("install %s: %w", name, err)
	}
	return bin, nil
}
