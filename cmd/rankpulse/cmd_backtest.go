package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/storage"
)

func (c *cli) backtestCmd(ctx context.Context, args []string) error {
	fs := c.flags("backtest")
	cfgPath := fs.String("config", "", "config file (alert settings and watch list)")
	input := fs.String("input", "", "snapshot JSONL to replay, or - for stdin")
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
	// The input is read twice (is it in time order?), so stdin goes to a
	// temporary file first.
	name := *input
	var f *os.File
	if *input == "-" {
		name = "stdin"
		if f, err = os.CreateTemp("", "rankpulse-backtest-*.jsonl"); err != nil {
			return fmt.Errorf("backtest: %w", err)
		}
		defer os.Remove(f.Name())
		if _, err := io.Copy(f, c.stdin); err != nil {
			return fmt.Errorf("backtest: read stdin: %w", err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("backtest: %w", err)
		}
	} else if f, err = openInput(*input); err != nil {
		return err
	}
	defer f.Close()

	eng := alerts.New(cfg.Alerts, cfg.WatchIndex())
	enc := json.NewEncoder(c.stdout)
	enc.SetEscapeHTML(false)
	n, watched := 0, 0
	watch := cfg.WatchIndex()
	evaluate := func(slot time.Time, snaps []chart.Snapshot) error {
		for _, s := range snaps {
			for _, e := range s.Entries {
				if _, ok := watch[s.Store][e.AppID]; ok {
					watched++
				}
			}
		}
		for _, a := range eng.Evaluate(slot, snaps) {
			n++
			if err := enc.Encode(a); err != nil {
				return err
			}
		}
		return nil
	}

	ordered, bad, err := inTimeOrder(f, name, c)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	if ordered {
		err = replayStream(f, evaluate)
	} else {
		err = replaySorted(ctx, f, evaluate)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "backtest: %d alerts from %s\n", n, name)
	if n == 0 && cfg.Alerts.WatchOnly {
		why := "the watched apps in it did not move enough to alert"
		if watched == 0 {
			why = fmt.Sprintf("none of the %d apps of the watch list is in it", len(cfg.Watch))
		}
		fmt.Fprintf(c.stderr, "backtest: note: alerts.watch_only is on, so only the watch list can alert, and %s; set alerts.watch_only: false (or add the apps to watch) in the --config file to let any app in the charts alert\n", why)
	}
	if bad > 0 {
		fmt.Fprintf(c.stderr, "backtest: skipped %d bad lines\n", bad)
		return &exitError{exitFailure}
	}
	return nil
}

// inTimeOrder reads the input once, reporting bad lines, and says whether
// its snapshots come in time order.
func inTimeOrder(r io.Reader, name string, c *cli) (bool, int, error) {
	jr := chart.NewReader(r)
	var last time.Time
	ordered, bad := true, 0
	for {
		s, err := jr.Next()
		if errors.Is(err, io.EOF) {
			return ordered, bad, nil
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
			return false, bad, fmt.Errorf("backtest: %w", err)
		}
		if s.Time.Before(last) {
			ordered = false
		}
		last = s.Time
	}
}

// eachSnapshot calls fn for each good line of the input; bad lines were
// reported by the first pass.
func eachSnapshot(r io.Reader, fn func(chart.Snapshot) error) error {
	jr := chart.NewReader(r)
	for {
		s, err := jr.Next()
		var le *chart.LineError
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.As(err, &le):
			continue
		case err != nil:
			return fmt.Errorf("backtest: %w", err)
		}
		if err := fn(s); err != nil {
			return err
		}
	}
}

// bySlot feeds time-ordered snapshots to evaluate one slot at a time,
// holding one slot in memory.
func bySlot(each func(func(chart.Snapshot) error) error, evaluate func(time.Time, []chart.Snapshot) error) error {
	var slot []chart.Snapshot
	err := each(func(s chart.Snapshot) error {
		if len(slot) > 0 && !s.Time.Equal(slot[0].Time) {
			if err := evaluate(slot[0].Time, slot); err != nil {
				return err
			}
			slot = slot[:0]
		}
		slot = append(slot, s)
		return nil
	})
	if err != nil || len(slot) == 0 {
		return err
	}
	return evaluate(slot[0].Time, slot)
}

// replayStream evaluates time-ordered input slot by slot.
func replayStream(r io.Reader, evaluate func(time.Time, []chart.Snapshot) error) error {
	return bySlot(func(fn func(chart.Snapshot) error) error { return eachSnapshot(r, fn) }, evaluate)
}

// replaySorted puts unordered input through a temporary embedded store,
// which hands it back in time order without holding it all in memory.
func replaySorted(ctx context.Context, r io.Reader, evaluate func(time.Time, []chart.Snapshot) error) error {
	dir, err := os.MkdirTemp("", "rankpulse-backtest-")
	if err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	defer os.RemoveAll(dir)
	db, err := storage.Open(ctx, dir)
	if err != nil {
		return err
	}
	defer db.Close()
	var batch []chart.Snapshot
	err = eachSnapshot(r, func(s chart.Snapshot) error {
		batch = append(batch, s)
		if len(batch) < importBatch {
			return nil
		}
		err := db.SaveImported(ctx, batch)
		batch = batch[:0]
		return err
	})
	if err == nil {
		err = db.SaveImported(ctx, batch)
	}
	if err != nil {
		return err
	}
	return bySlot(func(fn func(chart.Snapshot) error) error { return db.Snapshots(ctx, storage.Query{}, fn) }, evaluate)
}
