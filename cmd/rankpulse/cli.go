package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/config"
)

// Exit codes (SPEC §1).
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure
	exitUsage   = 2 // usage or config error
	exitPartial = 3 // the sweep finished but some charts failed
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `rankpulse watches app-store top charts and alerts on sudden rank moves.

Usage:
  rankpulse run [--config F] [--once]       run the daemon (--once: one sweep of every job, then exit)
  rankpulse scrape [flags]                  one-off scrape printed to stdout (--save to store it)
  rankpulse history (--app ID|--watch NAME) [flags]
                                            rank history from the embedded store
  rankpulse backtest --input F.jsonl [--config F]
                                            replay snapshots through the alert engine; alert JSONL out
  rankpulse import --input F.jsonl          backfill snapshot JSONL into storage and sinks
  rankpulse export [--since D] [--until D]  dump storage as snapshot JSONL
  rankpulse config check [--config F]       validate the config and reach its sinks
  rankpulse config example                  print a complete commented config
  rankpulse alerts test [--webhook NAME]    send a sample alert to each webhook and report
  rankpulse alerts pending [--webhook NAME] list undelivered alerts (pending, dead, given up) per webhook
  rankpulse alerts retry|drop ID [--webhook NAME]
                                            send an undelivered alert again now / give it up
  rankpulse db check [--config F]           integrity check and a decode of every stored row (exit 1 on damage)
  rankpulse db recover --output F [--config F]
                                            copy everything readable into a fresh database F
  rankpulse cluster status [--format text|json]
                                            with storage.url: the instances, their leases and charts, the evaluator
  rankpulse version                         version, commit, Go version
  rankpulse help [COMMAND]                  this text, or one command's usage and flags

--config defaults to $RANKPULSE_CONFIG, else ./rankpulse.yaml if present,
else the built-in defaults. Run "rankpulse help COMMAND" (or "rankpulse
COMMAND -h") for a command's flags.

Exit codes: 0 success; 1 runtime failure; 2 usage or config error; 3 the
sweep finished but some charts failed (run --once, scrape); 130 or 143 a
run --once stopped by SIGINT or SIGTERM before it fetched every chart.
`

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitError carries an exit code for a failure already reported.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// cli is one invocation's I/O.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		err = c.runCmd(ctx, rest)
	case "scrape":
		err = c.scrapeCmd(ctx, rest)
	case "history":
		err = c.historyCmd(ctx, rest)
	case "backtest":
		err = c.backtestCmd(ctx, rest)
	case "import":
		err = c.importCmd(ctx, rest)
	case "export":
		err = c.exportCmd(ctx, rest)
	case "config":
		err = c.configCmd(ctx, rest)
	case "alerts":
		err = c.alertsCmd(ctx, rest)
	case "cluster":
		err = c.clusterCmd(ctx, rest)
	case "db":
		err = c.dbCmd(ctx, rest)
	case "version", "--version":
		c.versionCmd()
	case "help", "-h", "--help":
		err = c.helpCmd(ctx, rest)
	default:
		err = usagef("unknown command %q (see `rankpulse help`)", cmd)
	}
	return c.exitCode(err)
}

func (c *cli) exitCode(err error) int {
	var ue *usageError
	var ce config.Errors
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintln(c.stderr, "rankpulse:", ue.msg)
		return exitUsage
	case errors.As(err, &ce):
		for _, e := range ce {
			fmt.Fprintln(c.stderr, e.Error())
		}
		fmt.Fprintf(c.stderr, "rankpulse: %d config error(s); see `rankpulse config example` for every key\n", len(ce))
		return exitUsage
	default:
		fmt.Fprintln(c.stderr, "rankpulse:", err)
		return exitFailure
	}
}

// flags returns a flag set that reports errors as usage errors.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("rankpulse "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	setUsage(fs, name)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// loadConfig resolves and loads the config and prints its warnings.
func (c *cli) loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(config.Resolve(path))
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(c.stderr, "%s: warning: %s\n", cfg.Path, w)
	}
	return cfg, nil
}

// logger builds the process logger; floor raises the level for commands
// whose output is for a person at a terminal.
func (c *cli) logger(cfg *config.Config, floor slog.Level) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
		level = slog.LevelInfo
	}
	level = max(level, floor)
	if cfg.Log.Level == "debug" {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(c.stderr, opts)
	if cfg.Log.Format == "json" {
		h = slog.NewJSONHandler(c.stderr, opts)
	}
	return slog.New(h)
}

func (c *cli) versionCmd() {
	commit := "unknown"
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	fmt.Fprintf(c.stdout, "rankpulse %s (commit %s, %s)\n", version, commit, goVersion)
}

// isTerminal reports whether w is a character device.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// splitList splits a comma-separated flag value.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// noFloor keeps the configured log level.
const noFloor = slog.LevelDebug

func nowUTC() time.Time { return time.Now().UTC() }
