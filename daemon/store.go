package daemon

import (
	"context"

	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/storage"
	"github.com/rankpulse/rankpulse/storage/postgres"
)

// OpenStore opens the configured store: the PostgreSQL server of
// storage.url (a cluster's shared store), else the embedded SQLite file in
// data_dir.
func OpenStore(ctx context.Context, cfg *config.Config) (storage.Store, error) {
	if cfg.Clustered() {
		return postgres.Open(ctx, cfg.Storage.URL.Value())
	}
	return storage.Open(ctx, cfg.DataDir)
}
