package storage

import (
	"context"
	"fmt"
	"strings"
)

// knownNamesBatch bounds the ids of one query (SQLite allows 32,766
// parameters; a chart has 200 apps at most).
const knownNamesBatch = 500

// KnownNames returns, for each of ids of a store that the embedded store has
// seen with a name, the name it was last seen with (in any storefront).
// Apps it never saw, or saw only without a name, are left out. The App
// Store scraper uses it when a lookup fails, so that a chart keeps the names
// of apps it has shown before. It only reads.
func (d *DB) KnownNames(ctx context.Context, store string, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	for start := 0; start < len(ids); start += knownNamesBatch {
		batch := ids[start:min(start+knownNamesBatch, len(ids))]
		args := make([]any, 0, len(batch)+1)
		args = append(args, store)
		for _, id := range batch {
			args = append(args, id)
		}
		// Oldest first, so that the newest row of an app wins; among rows
		// seen the same day, the one inserted last.
		rows, err := d.db.QueryContext(ctx, `
			SELECT app_id, name FROM apps
			WHERE store = ? AND name <> '' AND app_id IN (?`+strings.Repeat(",?", len(batch)-1)+`)
			ORDER BY last_seen, id`, args...)
		if err != nil {
			return nil, fmt.Errorf("storage: read known app names: %w", err)
		}
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return nil, fmt.Errorf("storage: read known app names: %w", err)
			}
			out[id] = name
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("storage: read known app names: %w", err)
		}
	}
	return out, nil
}
