package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rankpulse/rankpulse/internal/fixtures"
)

// TestBacktestDecodesOnceAndReportsEachBadLineOnce: input that turns out of
// order half way (after alerts were already found) is replayed sorted, from
// stdin and from a file alike; the alerts are those of the ordered input,
// and each bad line, before and after the point where the order broke, is
// reported once.
func TestBacktestDecodesOnceAndReportsEachBadLineOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "all.yaml")
	os.WriteFile(cfg, []byte("alerts:\n  watch_only: false\n"), 0o644)
	lines := strings.Split(strings.TrimSpace(string(fixtures.Read(fixtures.History))), "\n")
	_, want, _ := invoke(t, strings.Join(lines, "\n")+"\n", "backtest", "--config", cfg, "--input", "-")
	if strings.Count(want, "\n") < 5 {
		t.Fatalf("the history raises %d alerts: too few to compare", strings.Count(want, "\n"))
	}
	// The last fifth moved to the front of the second half: the order breaks
	// at about 60%.
	n := len(lines)
	mixed := slices.Concat(lines[:n/2], lines[4*n/5:], lines[n/2:4*n/5])
	mixed = slices.Insert(mixed, 3, `{"time":"yesterday"}`)
	mixed = slices.Insert(mixed, len(mixed)-2, `not json`)
	in := strings.Join(mixed, "\n") + "\n"
	file := filepath.Join(dir, "mixed.jsonl")
	os.WriteFile(file, []byte(in), 0o644)
	for name, args := range map[string][]string{
		"stdin": {"backtest", "--config", cfg, "--input", "-"},
		"file":  {"backtest", "--config", cfg, "--input", file},
	} {
		code, got, stderr := invoke(t, in, args...)
		if code != exitFailure {
			t.Fatalf("%s: exit %d, want %d for bad lines: %s", name, code, exitFailure, stderr)
		}
		if got != want {
			t.Errorf("%s: the alerts of the out-of-order input differ from the ordered input's", name)
		}
		if c := strings.Count(stderr, ": skipped: "); c != 2 || !strings.Contains(stderr, ":4: skipped") ||
			!strings.Contains(stderr, ":"+strconv.Itoa(len(mixed)-2)+": skipped") || !strings.Contains(stderr, "skipped 2 bad lines") {
			t.Errorf("%s: want the two bad lines reported once each:\n%s", name, stderr)
		}
	}
}
