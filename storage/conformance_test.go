package storage_test

import (
	"context"
	"testing"

	"github.com/rankpulse/rankpulse/storage"
	"github.com/rankpulse/rankpulse/storage/storagetest"
)

// The conformance suite on the embedded SQLite store.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		db, err := storage.Open(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
