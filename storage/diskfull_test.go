package storage_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/internal/tmpfs"
	"github.com/rankpulse/rankpulse/storage"
)

// Start-up errors tell a foreign file and a damaged one apart, and write
// nothing to either.
func TestForeignAndDamagedFilesAreToldApart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, storage.FileName)
	raw, err := sql.Open("sqlite", "file:"+path)
	must(t, err)
	_, err = raw.Exec(`CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices VALUES (1, 9.5)`)
	must(t, err)
	raw.Close()
	before, _ := os.ReadFile(path)
	_, err = storage.Open(ctx, dir)
	if err == nil || !strings.Contains(err.Error(), "not a rankpulse database") || !strings.Contains(err.Error(), "invoices") || errors.Is(err, storage.ErrDamaged) {
		t.Fatalf("opening another program's database: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the foreign file was written to")
	}

	os.WriteFile(path, bytes.Repeat([]byte("not a database at all "), 500), 0o644)
	_, err = storage.Open(ctx, dir)
	if !errors.Is(err, storage.ErrDamaged) || !strings.Contains(err.Error(), "db recover --output") || strings.Contains(err.Error(), "move it aside to start afresh") {
		t.Fatalf("opening a file that is no database: %v", err)
	}
}

// On a full disk a write is classified as one, and so is the start-up
// error, which never advises moving the healthy file aside.
func TestAFullDiskIsNamedAsOne(t *testing.T) {
	mnt := tmpfs.Mount(t, 2<<20)
	ctx := context.Background()
	dir := filepath.Join(mnt, "data")
	db, err := storage.Open(ctx, dir)
	must(t, err)
	t1 := time.Date(2021, 1, 7, 10, 0, 0, 0, time.UTC)
	must(t, db.SaveSnapshots(ctx, []chart.Snapshot{snap(t1, true, "a", "b")}))
	must(t, db.Checkpoint(ctx))
	free := tmpfs.Fill(t, mnt)
	var werr error
	for i := range 50 { // the WAL may take a few writes before it must grow
		if werr = db.SaveSnapshots(ctx, []chart.Snapshot{snap(t1.Add(time.Duration(i+1)*time.Hour), true, "a", "b")}); werr != nil {
			break
		}
	}
	if f := db.Classify(werr); f != storage.FaultFull || !f.Transient() {
		t.Fatalf("a write on a full disk: %v, classified %v", werr, f)
	}
	db.Close()
	free()
	// Full again with the database closed (its WAL index gone): an open
	// needs room for that index.
	free = tmpfs.Fill(t, mnt)
	_, err = storage.Open(ctx, dir)
	if err == nil {
		t.Fatal("opened on a full disk: its WAL index needs room")
	}
	if msg := err.Error(); !strings.Contains(msg, "is full") || !strings.Contains(msg, "do not delete it or move it aside") || errors.Is(err, storage.ErrDamaged) {
		t.Fatalf("opening on a full disk: %v", err)
	}
	free()
	db, err = storage.Open(ctx, dir)
	must(t, err)
	defer db.Close()
	if got := all(t, db, storage.Query{}); len(got) == 0 {
		t.Fatal("the file lost its snapshot")
	}
}
