package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/storage"
)

// importBatch is how many snapshots one transaction and one sink batch hold.
const importBatch = 500

// maxReportedLines bounds the bad lines printed one by one.
const maxReportedLines = 20

// inputHelp says what --input of import and backtest takes.
const inputHelp = "a snapshot JSONL file, as `rankpulse export` writes, or - for stdin"

// openInput opens an --input file; one that cannot be opened is a usage
// error.
func openInput(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--input: %v (give %s)", err, inputHelp)
	}
	return f, nil
}

func (c *cli) importCmd(ctx context.Context, args []string) error {
	fs := c.flags("import")
	cfgPath := fs.String("config", "", "config file (data_dir, sinks, watch list)")
	input := fs.String("input", "", "snapshot JSONL file to import, or - for stdin")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *input == "" {
		return usagef("--input is required (%s)", inputHelp)
	}
	cfg, err := c.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	var in io.Reader = c.stdin
	name := "stdin"
	if *input != "-" {
		f, err := openInput(*input)
		if err != nil {
			return err
		}
		defer f.Close()
		in, name = f, *input
	}
	d, err := c.openDaemon(ctx, cfg, c.logger(cfg, slog.LevelWarn))
	if err != nil {
		return err
	}
	defer d.Close(context.Background())

	r := chart.NewReader(in)
	var batch []chart.Snapshot
	imported, entries, bad := 0, 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := d.Import(ctx, batch); err != nil {
			return fmt.Errorf("import %s (batch ending before line %d): %w; %d snapshots before this batch were fully imported; import the file again once fixed (nothing is duplicated: a stored snapshot is replaced unless it is complete and the new one is incomplete or shallower)", name, r.Line(), err, imported)
		}
		imported += len(batch)
		batch = batch[:0]
		return nil
	}
	for {
		s, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var le *chart.LineError
		if errors.As(err, &le) {
			bad++
			if bad <= maxReportedLines {
				fmt.Fprintf(c.stderr, "%s:%d: skipped: %v\n", name, le.Line, le.Err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("import %s: %w", name, err)
		}
		entries += len(s.Entries)
		batch = append(batch, s)
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err := flush(); err != nil {
		return err
	}
	d.Flush(ctx)
	fmt.Fprintf(c.stderr, "imported %d snapshots (%d entries) from %s", imported, entries, name)
	if bad > 0 {
		fmt.Fprintf(c.stderr, "; skipped %d bad lines (fix them and import the file again: nothing is duplicated; a stored snapshot is replaced unless it is complete and the new one is incomplete or shallower)\n", bad)
		return &exitError{exitFailure}
	}
	fmt.Fprintln(c.stderr)
	if imported == 0 {
		return fmt.Errorf("%s holds no snapshot: nothing was imported (is it the right file? `rankpulse export` writes the format)", name)
	}
	return nil
}

func (c *cli) exportCmd(ctx context.Context, args []string) error {
	fs := c.flags("export")
	cfgPath := fs.String("config", "", "config file (data_dir, watch list)")
	since := fs.String("since", "", "from: a duration back (7d) or a date (2026-02-17); default: everything")
	until := fs.String("until", "", "until (exclusive): a duration back or a date; default: now")
	if err := parse(fs, args); err != nil {
		return err
	}
	now := time.Now()
	var q storage.Query
	var err error
	if *since != "" {
		if q.Since, err = parseSince(*since, now); err != nil {
			return usagef("--since: %v", err)
		}
	}
	if *until != "" {
		if q.Until, err = parseSince(*until, now); err != nil {
			return usagef("--until: %v", err)
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return usagef("--since %s is not before --until %s: nothing to export", *since, *until)
	}
	cfg, err := c.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	db, err := c.openExisting(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	watch := cfg.WatchIndex()
	w := chart.NewWriter(c.stdout)
	unreadable, exported := 0, 0
	q.OnCorrupt = func(ce *storage.CorruptError) error {
		unreadable++
		fmt.Fprintf(c.stderr, "rankpulse: skipped: %v\n", ce)
		return nil
	}
	err = db.Snapshots(ctx, q, func(s chart.Snapshot) error {
		for i, e := range s.Entries {
			s.Entries[i].Watch = watch[s.Store][e.AppID]
		}
		exported++
		return w.Write(&s)
	})
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if unreadable > 0 {
		return fmt.Errorf("%d stored snapshot(s) could not be read and were skipped (listed above); every other snapshot was exported", unreadable)
	}
	if exported == 0 {
		return nothingToExport(ctx, db, q, *since, *until)
	}
	return nil
}

// nothingToExport explains an empty export: an empty store (often the
// wrong data_dir) or a range that holds nothing. It is an error (exit 1),
// so that a backup script notices.
func nothingToExport(ctx context.Context, db storage.Store, q storage.Query, since, until string) error {
	st, err := db.Stats(ctx)
	if err != nil {
		return err
	}
	if st.Snapshots == 0 {
		return fmt.Errorf("nothing to export: the embedded store %s holds no snapshot yet (run `rankpulse run` or `rankpulse import` first, or point data_dir at the directory the daemon writes to)", db.Location())
	}
	var flags []string
	if since != "" {
		flags = append(flags, "--since "+since)
	}
	if until != "" {
		flags = append(flags, "--until "+until)
	}
	asked := fmt.Sprintf("within %s (%s to %s)", strings.Join(flags, " "), rangeEnd(q.Since, "the start"), rangeEnd(q.Until, "now"))
	return fmt.Errorf("nothing to export: none of the %d stored snapshots (%s to %s) is %s", st.Snapshots, st.Oldest.Format(time.RFC3339), st.Newest.Format(time.RFC3339), asked)
}

func rangeEnd(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}
