package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rankpulse/rankpulse/storage"
)

func (c *cli) dbCmd(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("db needs a subcommand: check or recover")
	}
	switch args[0] {
	case "check":
		return c.dbCheck(ctx, args[1:])
	case "recover":
		return c.dbRecover(ctx, args[1:])
	}
	return usagef("unknown db subcommand %q: want check or recover", args[0])
}

// dbPath is the embedded store's file of the config, which must exist.
func (c *cli) dbPath(cfgPath string) (string, error) {
	cfg, err := c.loadConfig(cfgPath)
	if err != nil {
		return "", err
	}
	if cfg.Clustered() {
		return "", fmt.Errorf("db check and db recover work on the embedded SQLite file, and this config stores in PostgreSQL (storage.url): check that with PostgreSQL's own tools (the amcheck extension, pg_dump to a file)")
	}
	path := filepath.Join(cfg.DataDir, storage.FileName)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("no embedded store at %s: point data_dir (or --config) at the directory the daemon writes to", path)
	}
	return path, nil
}

// dbCheck is `rankpulse db check`: SQLite's integrity check and a decode
// of every stored row; exit 1 when anything is damaged.
func (c *cli) dbCheck(ctx context.Context, args []string) error {
	fs := c.flags("db check")
	cfgPath := fs.String("config", "", "config file (data_dir)")
	if err := parse(fs, args); err != nil {
		return err
	}
	path, err := c.dbPath(*cfgPath)
	if err != nil {
		return err
	}
	rep, err := storage.Check(ctx, path)
	if err != nil {
		return err
	}
	w := c.stdout
	if !rep.Damaged() {
		fmt.Fprintf(w, "%s: ok (integrity check ok; every stored row decodes)\n", path)
		for _, t := range rep.Tables {
			fmt.Fprintf(w, "  %-10s %s rows\n", t.Table, count(int64(t.Recovered)))
		}
		return nil
	}
	fmt.Fprintf(w, "%s: damaged\n", path)
	if rep.OpenError != nil {
		fmt.Fprintf(w, "  SQLite cannot read it: %v\n", rep.OpenError)
	}
	if n := len(rep.Integrity); n > 0 {
		fmt.Fprintf(w, "  integrity check: %d finding(s)%s\n", n, map[bool]string{true: " (the first 50)", false: ""}[n == 50])
		for _, p := range rep.Integrity[:min(n, 5)] {
			fmt.Fprintf(w, "    %s\n", p)
		}
	}
	for _, t := range rep.Tables {
		fmt.Fprintf(w, "  %-10s %s\n", t.Table, tableLine(t, "readable"))
	}
	if rep.ProblemCount > 0 {
		fmt.Fprintf(w, "  damaged rows (%d):\n", rep.ProblemCount)
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "    %s\n", p)
		}
		if rep.ProblemCount > len(rep.Problems) {
			fmt.Fprintf(w, "    … and %d more\n", rep.ProblemCount-len(rep.Problems))
		}
	}
	if s := rep.Salvage; s != nil {
		fmt.Fprintln(w, "  `rankpulse db recover --output F` would copy into a fresh file:")
		writeRecovered(w, s)
	}
	fmt.Fprintf(c.stderr, "rankpulse: %s is damaged; stop rankpulse, then `rankpulse db recover --output F` copies everything readable into a fresh database F (the damaged file is only read)\n", path)
	return &exitError{exitFailure}
}

// dbRecover is `rankpulse db recover --output F`.
func (c *cli) dbRecover(ctx context.Context, args []string) error {
	fs := c.flags("db recover")
	cfgPath := fs.String("config", "", "config file (data_dir)")
	output := fs.String("output", "", "the fresh database file to write (must not exist)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *output == "" {
		return usagef("--output is required: the file to write the recovered database to (it must not exist)")
	}
	path, err := c.dbPath(*cfgPath)
	if err != nil {
		return err
	}
	if abs, _ := filepath.Abs(*output); abs == path {
		return usagef("--output %s is the damaged file itself: give a new file", *output)
	}
	rep, err := storage.Recover(ctx, path, *output)
	if err != nil {
		return err
	}
	w := c.stdout
	fmt.Fprintf(w, "recovered %s into %s:\n", path, *output)
	writeRecovered(w, rep)
	if rep.Lossless() {
		fmt.Fprintln(w, "nothing was lost.")
	}
	fmt.Fprintf(w, "To use it: stop rankpulse, move %s aside (keep it until you are satisfied), move %s to %s, and start rankpulse.\n", path, *output, path)
	return nil
}

// writeRecovered prints a recovery's report, one line per table that had
// rows.
func writeRecovered(w io.Writer, rep *storage.RecoverReport) {
	for _, note := range rep.Notes {
		fmt.Fprintf(w, "    note: %s\n", note)
	}
	for _, t := range rep.Tables {
		if t.Recovered == 0 && t.Lost == 0 && t.PagesLost == 0 && t.Claimed <= 0 {
			continue
		}
		fmt.Fprintf(w, "    %-18s %s\n", t.Table, tableLine(t, "recovered"))
	}
	if rep.OrphanPages > 0 {
		fmt.Fprintf(w, "    %d page(s) no b-tree reached (damage above them) were read by the shape of their rows\n", rep.OrphanPages)
	}
	if rep.LostPages > 0 {
		fmt.Fprintf(w, "    %d page(s) of rows belong to no known table: their rows are lost\n", rep.LostPages)
	}
	for _, u := range rep.Unknown {
		fmt.Fprintf(w, "    table %s is unknown to this rankpulse and not copied\n", u)
	}
}

// tableLine says what became of a table's rows.
func tableLine(t storage.TableReport, verb string) string {
	line := count(int64(t.Recovered)) + " " + verb
	if t.Claimed >= 0 && t.Claimed != int64(t.Recovered+t.Lost) {
		line += " of the " + count(t.Claimed) + " the file counts"
	}
	var lost []string
	if t.Degraded > 0 {
		lost = append(lost, fmt.Sprintf("%s of them lost entries (marked incomplete) or app names", count(int64(t.Degraded))))
	}
	if t.Lost > 0 {
		lost = append(lost, count(int64(t.Lost))+" damaged (lost)")
	}
	if t.PagesLost > 0 {
		lost = append(lost, fmt.Sprintf("%d unreadable page(s): their rows are lost", t.PagesLost))
	}
	if len(lost) > 0 {
		line += "; " + strings.Join(lost, "; ")
	}
	return line
}

// count formats n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
