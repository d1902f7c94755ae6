package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
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
	in, name, err := c.open(*input)
	if err != nil {
		return err
	}
	defer in.Close()
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

// open opens an --input: a file, or stdin for "-".
func (c *cli) open(input string) (io.ReadCloser, string, error) {
	if input == "-" {
		return io.NopCloser(c.stdin), "stdin", nil
	}
	f, err := openInput(input)
	if err != nil {
		return nil, "", err
	}
	return f, input, nil
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
	ex := &exporter{c: c, w: chart.NewWriter(c.stdout), watch: cfg.WatchIndex()}
	q.OnCorrupt = ex.corrupt
	db, err := c.openExisting(ctx, cfg)
	if errors.Is(err, storage.ErrDamaged) {
		// SQLite cannot read the file: what a recovery reads of it.
		fmt.Fprintf(c.stderr, "rankpulse: %v\nrankpulse: exporting what can be read of it page by page\n", err)
		err = ex.salvaged(ctx, filepath.Join(cfg.DataDir, storage.FileName), q, ex.after)
		return ex.done(err)
	}
	if err != nil {
		return err
	}
	defer db.Close()
	err = db.Snapshots(ctx, q, ex.write)
	switch {
	case errors.Is(err, storage.ErrDamaged):
		fmt.Fprintf(c.stderr, "rankpulse: %v\nrankpulse: exporting the rest page by page\n", err)
		err = ex.salvaged(ctx, db.Location(), q, ex.after)
	case err == nil && (len(ex.skipped) > 0 || len(ex.keyless) > 0):
		// What SQLite could not read may still be read page by page.
		fmt.Fprintf(c.stderr, "rankpulse: reading the %d skipped snapshot(s) page by page\n", ex.unreadable)
		err = ex.salvaged(ctx, db.Location(), q, ex.wasSkipped)
	}
	if err := ex.done(err); err != nil || ex.exported > 0 {
		return err
	}
	return nothingToExport(ctx, db, q, *since, *until)
}

// exporter writes an export, and where a damaged file stops SQLite, goes
// on with what a recovery reads of it.
type exporter struct {
	c                    *cli
	w                    *chart.Writer
	watch                map[string]map[string]string
	unreadable, exported int
	damaged              bool
	// last is the newest slot written, and at is what was written at it:
	// a salvaged export goes on after them (storage reads in slot order).
	last time.Time
	at   map[chart.Key]bool
	// skipped are the snapshots SQLite could not read; keyless, per slot
	// where one whose chart is lost was skipped, what was written there.
	skipped map[string]bool
	keyless map[int64]map[chart.Key]bool
}

func exportKey(t time.Time, k chart.Key) string { return t.Format(time.RFC3339) + " " + k.String() }

func (ex *exporter) corrupt(ce *storage.CorruptError) error {
	if ce.Partial {
		fmt.Fprintf(ex.c.stderr, "rankpulse: damaged: %v\n", ce)
		ex.damaged = true
		return nil
	}
	ex.unreadable++
	fmt.Fprintf(ex.c.stderr, "rankpulse: skipped: %v\n", ce)
	if ce.Key == (chart.Key{}) {
		if ex.keyless == nil {
			ex.keyless = map[int64]map[chart.Key]bool{}
		}
		if !ce.Time.Equal(ex.last) {
			ex.last, ex.at = ce.Time, map[chart.Key]bool{}
		}
		ex.keyless[ce.Time.Unix()] = ex.at
		return nil
	}
	if ex.skipped == nil {
		ex.skipped = map[string]bool{}
	}
	ex.skipped[exportKey(ce.Time, ce.Key)] = true
	return nil
}

// after takes, of a recovery, what comes after what was written.
func (ex *exporter) after(s *chart.Snapshot) bool {
	return s.Time.After(ex.last) || (s.Time.Equal(ex.last) && !ex.at[s.Key()])
}

// wasSkipped takes, of a recovery, what SQLite could not read.
func (ex *exporter) wasSkipped(s *chart.Snapshot) bool {
	if ex.skipped[exportKey(s.Time, s.Key())] {
		ex.unreadable--
		return true
	}
	if at, ok := ex.keyless[s.Time.Unix()]; ok && !at[s.Key()] {
		at[s.Key()] = true
		return true
	}
	return false
}

func (ex *exporter) write(s chart.Snapshot) error {
	for i, e := range s.Entries {
		s.Entries[i].Watch = ex.watch[s.Store][e.AppID]
	}
	if !s.Time.Equal(ex.last) {
		ex.last, ex.at = s.Time, map[chart.Key]bool{}
	}
	ex.at[s.Key()] = true
	ex.exported++
	return ex.w.Write(&s)
}

// salvaged exports, from a recovery of the file at path into a temporary
// file, the snapshots take picks: those not written yet.
func (ex *exporter) salvaged(ctx context.Context, path string, q storage.Query, take func(*chart.Snapshot) bool) error {
	ex.damaged = true
	tmp, err := os.MkdirTemp("", "rankpulse-export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	rep, err := storage.Recover(ctx, path, filepath.Join(tmp, storage.FileName))
	if err != nil {
		return err
	}
	if ex.skipped == nil && ex.keyless == nil {
		ex.unreadable += rep.Table("snapshots").Lost
	}
	db, err := storage.OpenFile(ctx, filepath.Join(tmp, storage.FileName))
	if err != nil {
		return err
	}
	defer db.Close()
	q.OnCorrupt = nil // a recovered file holds only what reads
	last, at := ex.last, ex.at
	return db.Snapshots(ctx, q, func(s chart.Snapshot) error {
		ex.last, ex.at = last, at // take judges by what the first pass wrote
		if !take(&s) {
			return nil
		}
		return ex.write(s)
	})
}

// done flushes the export and says what it could not export.
func (ex *exporter) done(err error) error {
	if ferr := ex.w.Flush(); err == nil {
		err = ferr
	}
	switch {
	case err != nil:
		return err
	case ex.unreadable > 0:
		return fmt.Errorf("%d stored snapshot(s) could not be read and were skipped (listed above); every other snapshot was exported; the database is damaged: see `rankpulse db check`", ex.unreadable)
	case ex.damaged:
		return fmt.Errorf("the database is damaged (see above); %d snapshot(s) were exported, those that lost entries marked incomplete, those that lost names without them: see `rankpulse db check`", ex.exported)
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
