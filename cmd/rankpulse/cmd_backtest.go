package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
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
	// The input is decoded once: it is replayed as it is read, as long as it
	// comes in time order (the alerts wait in out). A snapshot older than
	// the one before it ends that: the alerts so far are dropped, and the
	// input is read again from the start into a temporary store, which
	// hands it back in time order (bad lines from there on are reported
	// then). Stdin is kept in a temporary file as it is read, for that.
	name, src, rewind, closeInput, err := c.backtestInput(*input)
	if err != nil {
		return err
	}
	defer closeInput()

	watch := cfg.WatchIndex()
	var (
		eng        *alerts.Engine
		out        bytes.Buffer
		enc        = json.NewEncoder(&out)
		n, watched int
	)
	enc.SetEscapeHTML(false)
	reset := func() {
		eng, n, watched = alerts.New(cfg.Alerts, watch), 0, 0
		out.Reset()
	}
	reset()
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
	bad := 0
	report := func(le *chart.LineError) {
		bad++
		if bad <= maxReportedLines {
			fmt.Fprintf(c.stderr, "%s:%d: skipped: %v\n", name, le.Line, le.Err)
		}
	}
	disorder, err := replayStream(src, report, evaluate)
	if err != nil {
		return err
	}
	if disorder > 0 {
		reset()
		r, err := rewind()
		if err != nil {
			return fmt.Errorf("backtest: %w", err)
		}
		if err := replaySorted(ctx, r, disorder, report, evaluate); err != nil {
			return err
		}
	}
	if _, err := c.stdout.Write(out.Bytes()); err != nil {
		return err
	}
	return c.backtestSummary(cfg, name, n, watched, bad)
}

// backtestSummary tells stderr what backtest found, and why it may have
// found nothing; bad lines make it fail.
func (c *cli) backtestSummary(cfg *config.Config, name string, n, watched, bad int) error {
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

// backtestInput opens the input of backtest (a file, or - for stdin) and
// returns it with a way to read it again from the start: stdin is kept in
// a temporary file as it is read. closeInput removes what it made.
func (c *cli) backtestInput(input string) (name string, src io.Reader, rewind func() (io.Reader, error), closeInput func(), err error) {
	if input != "-" {
		f, err := openInput(input)
		if err != nil {
			return "", nil, nil, nil, err
		}
		rewind = func() (io.Reader, error) {
			_, err := f.Seek(0, io.SeekStart)
			return f, err
		}
		return input, f, rewind, func() { f.Close() }, nil
	}
	tmp, err := os.CreateTemp("", "rankpulse-backtest-*.jsonl")
	if err != nil {
		return "", nil, nil, nil, fmt.Errorf("backtest: %w", err)
	}
	rewind = func() (io.Reader, error) {
		if _, err := io.Copy(tmp, c.stdin); err != nil {
			return nil, fmt.Errorf("backtest: read stdin: %w", err)
		}
		_, err := tmp.Seek(0, io.SeekStart)
		return tmp, err
	}
	closeInput = func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}
	return "stdin", io.TeeReader(c.stdin, tmp), rewind, closeInput, nil
}

// errDisorder stops a stream replay at a snapshot older than the one
// before it.
var errDisorder = errors.New("snapshots out of time order")

// eachSnapshot calls fn for each good line of the input, and bad for each
// bad line from line from on (those before were reported by an earlier
// pass).
func eachSnapshot(r io.Reader, from int, bad func(*chart.LineError), fn func(chart.Snapshot) error) error {
	jr := chart.NewReader(r)
	for {
		s, err := jr.Next()
		var le *chart.LineError
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.As(err, &le):
			if le.Line >= from {
				bad(le)
			}
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

// replayStream evaluates input slot by slot as it is read, reporting bad
// lines, until a snapshot older than the one before it: it then returns that
// snapshot's line (0: the input was in time order and is replayed whole).
func replayStream(r io.Reader, bad func(*chart.LineError), evaluate func(time.Time, []chart.Snapshot) error) (disorder int, err error) {
	jr := chart.NewReader(r)
	var last time.Time
	err = bySlot(func(fn func(chart.Snapshot) error) error {
		for {
			s, err := jr.Next()
			var le *chart.LineError
			switch {
			case errors.Is(err, io.EOF):
				return nil
			case errors.As(err, &le):
				bad(le)
				continue
			case err != nil:
				return fmt.Errorf("backtest: %w", err)
			}
			if s.Time.Before(last) {
				disorder = jr.Line()
				return errDisorder
			}
			last = s.Time
			if err := fn(s); err != nil {
				return err
			}
		}
	}, evaluate)
	if errors.Is(err, errDisorder) {
		return disorder, nil
	}
	return 0, err
}

// replaySorted puts unordered input through a temporary embedded store,
// which hands it back in time order without holding it all in memory. Bad
// lines from line from on are reported.
func replaySorted(ctx context.Context, r io.Reader, from int, bad func(*chart.LineError), evaluate func(time.Time, []chart.Snapshot) error) error {
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
	err = eachSnapshot(r, from, bad, func(s chart.Snapshot) error {
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
