package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rankpulse/rankpulse/internal/pgtest"
	"github.com/rankpulse/rankpulse/storage"
	"github.com/rankpulse/rankpulse/storage/postgres"
	"github.com/rankpulse/rankpulse/storage/storagetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// The conformance suite on a real PostgreSQL server, a database per test.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return open(t, pgtest.Database(t)) })
}

// Migrations are applied once, a second Open changes nothing, and a
// database written by a newer rankpulse is refused untouched.
func TestMigrationsAndANewerSchemaIsRefused(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	db := open(t, url)
	db.Close()
	open(t, url).Close()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var v string
	if err := c.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v); err != nil || v != "3" {
		t.Fatalf("schema_version %q, %v", v, err)
	}
	if _, err := c.Exec(ctx, `UPDATE meta SET value = '99' WHERE key = 'schema_version'`); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(ctx, url)
	if err == nil || !strings.Contains(err.Error(), "schema version 99 and this rankpulse reads up to 3") || !strings.Contains(err.Error(), "newer rankpulse") {
		t.Fatalf("a newer schema: %v", err)
	}
	if _, err := c.Exec(ctx, `UPDATE meta SET value = 'x' WHERE key = 'schema_version'`); err != nil {
		t.Fatal(err)
	}
	if _, err = postgres.Open(ctx, url); err == nil || !strings.Contains(err.Error(), `schema version "x"`) {
		t.Fatalf("a garbled version: %v", err)
	}
}

// A password never shows in an error or a location.
func TestPasswordsStayOutOfMessages(t *testing.T) {
	url := "postgres://rp:s3cretpw@127.0.0.1:1/rankpulse?sslmode=disable&connect_timeout=2"
	_, err := postgres.Open(context.Background(), url)
	if err == nil || strings.Contains(err.Error(), "s3cretpw") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("error for an unreachable server: %v", err)
	}
	if r := postgres.Redact(url); strings.Contains(r, "s3cretpw") {
		t.Fatal(r)
	}
}

// Fetch tasks are kept two days whatever the retention; snapshots follow
// the retention.
func TestPruneKeepsFetchTasksTwoDays(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	db := open(t, url)
	now := time.Now().Unix()
	for _, slot := range []int64{now - 3*24*3600, now - 3600} {
		if _, err := db.Pool().Exec(ctx, `INSERT INTO fetch_tasks (slot, store, country, chart, category, depth, job, expires) VALUES ($1, 'appstore', 'us', 'top-free', 'all', 200, 'j', $1)`, slot); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Prune(ctx, time.Now().Add(-90*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	var n int
	var left int64
	if err := db.Pool().QueryRow(ctx, `SELECT count(*), max(slot) FROM fetch_tasks`).Scan(&n, &left); err != nil || n != 1 || left != now-3600 {
		t.Fatalf("%d tasks left (newest %d), %v; want the recent one", n, left, err)
	}
}
