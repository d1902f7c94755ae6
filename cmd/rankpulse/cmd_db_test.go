package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rankpulse/rankpulse/storage"
)

// scribble overwrites n bytes of a file at off with a fixed pattern.
func scribble(t *testing.T, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*131 + 7)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// A database whose header is gone: SQLite cannot open it, check says so
// and what recover would keep, export and recover keep every snapshot, and
// the recovered file, put in place, runs.
func TestDBCheckAndRecoverOfADamagedHeader(t *testing.T) {
	e := newEnv(t, false, "")
	if code, _, stderr := invoke(t, "", "run", "--once", "--config", e.cfgPath); code != exitOK {
		t.Fatalf("run --once: %d %s", code, stderr)
	}
	code, before, stderr := invoke(t, "", "export", "--config", e.cfgPath)
	if code != exitOK {
		t.Fatalf("export: %d %s", code, stderr)
	}
	if code, out, _ := invoke(t, "", "db", "check", "--config", e.cfgPath); code != exitOK || !strings.Contains(out, ": ok (") || !strings.Contains(out, "snapshots  12 rows") {
		t.Fatalf("db check of a healthy store: exit %d\n%s", code, out)
	}
	path := filepath.Join(e.dir, "data", storage.FileName)
	scribble(t, path, 0, 100)

	code, out, stderr := invoke(t, "", "db", "check", "--config", e.cfgPath)
	if code != exitFailure || !strings.Contains(out, "damaged") || !strings.Contains(out, "snapshots          12 recovered") || !strings.Contains(stderr, "db recover --output F") {
		t.Fatalf("db check of a damaged header: exit %d\n%s%s", code, out, stderr)
	}
	code, after, stderr := invoke(t, "", "export", "--config", e.cfgPath)
	if code != exitFailure || len(readSnapshots(t, after)) != 12 || !strings.Contains(stderr, "page by page") {
		t.Fatalf("export of a damaged header: exit %d, %d snapshots\n%s", code, len(readSnapshots(t, after)), stderr)
	}
	if code, _, stderr := invoke(t, "", "run", "--once", "--config", e.cfgPath); code != exitFailure || !strings.Contains(stderr, "db recover") || strings.Contains(stderr, "move it aside to start afresh") {
		t.Fatalf("run --once on a damaged header: exit %d\n%s", code, stderr)
	}

	if code, _, stderr := invoke(t, "", "db", "recover", "--config", e.cfgPath); code != exitUsage || !strings.Contains(stderr, "--output is required") {
		t.Fatalf("recover without --output: %d %s", code, stderr)
	}
	fresh := filepath.Join(e.dir, "recovered.db")
	code, out, stderr = invoke(t, "", "db", "recover", "--config", e.cfgPath, "--output", fresh)
	if code != exitOK || !strings.Contains(out, "snapshots          12 recovered") || !strings.Contains(out, "To use it") {
		t.Fatalf("db recover: exit %d\n%s%s", code, out, stderr)
	}
	if code, _, stderr := invoke(t, "", "db", "recover", "--config", e.cfgPath, "--output", fresh); code != exitFailure || !strings.Contains(stderr, "exists") {
		t.Fatalf("recover onto an existing file: %d %s", code, stderr)
	}
	if err := os.Rename(fresh, path); err != nil {
		t.Fatal(err)
	}
	code, again, stderr := invoke(t, "", "export", "--config", e.cfgPath)
	if code != exitOK || again != before {
		t.Fatalf("export of the recovered file: exit %d, same as before the damage: %v\n%s", code, again == before, stderr)
	}
	if code, _, stderr := invoke(t, "", "run", "--once", "--config", e.cfgPath); code != exitOK {
		t.Fatalf("run --once on the recovered file: %d %s", code, stderr)
	}
}

func TestConfigCheckReportsFreeSpace(t *testing.T) {
	e := newEnv(t, false, "")
	code, out, stderr := invoke(t, "", "config", "check", "--config", e.cfgPath)
	if code != exitOK || !strings.Contains(out, "writable, ") || !strings.Contains(out, " free of ") {
		t.Fatalf("config check: exit %d\n%s%s", code, out, stderr)
	}
}
