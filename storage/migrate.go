package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

// migrations bring a file from schema version i+1 to i+2, in one
// transaction each; a file is never left between two versions. Version 1
// is the layout `schema` creates (before any migration existed).
var migrations = []func(ctx context.Context, tx *sql.Tx) error{
	// 2: evaluations are numbered (snapshots.eval_seq), and the alert
	// engine's state is checkpointed with them (engine_state).
	func(ctx context.Context, tx *sql.Tx) error {
		if has, err := hasColumn(ctx, tx, "snapshots", "eval_seq"); err != nil || has {
			return err
		}
		_, err := tx.ExecContext(ctx, `ALTER TABLE snapshots ADD COLUMN eval_seq INTEGER`)
		return err
	},
}

// engineStateSchema is created by every build that has migration 2.
const engineStateSchema = `
CREATE TABLE IF NOT EXISTS engine_state (
	id          INTEGER PRIMARY KEY CHECK (id = 1),
	seq         INTEGER NOT NULL, -- the last evaluation folded into state
	fingerprint TEXT NOT NULL,    -- the alert settings it was built under
	saved       INTEGER NOT NULL, -- unix ms
	state       BLOB NOT NULL     -- empty: the state is in engine_state_parts
);
-- A large state in parts of 256 KiB, in order (Tx.SaveEngineState). Added
-- without a schema version of its own: an older build reads the empty
-- state as an unreadable checkpoint and rebuilds its engine from the
-- history, which is what it does with any checkpoint it cannot read.
CREATE TABLE IF NOT EXISTS engine_state_parts (
	part INTEGER PRIMARY KEY,
	data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots_by_eval ON snapshots (eval_seq) WHERE eval_seq IS NOT NULL;
`

// migrate brings a file at any older version (or a new, empty one) up to
// schemaVersion. checkVersion has already refused a newer one.
func migrate(ctx context.Context, db *sql.DB) error {
	var v string
	err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v)
	from := 1
	switch {
	case err == sql.ErrNoRows: // a new file: the schema just created is version 1
	case err != nil:
		return fmt.Errorf("read schema version: %w", err)
	default:
		if from, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("schema version %q: %w", v, err)
		}
	}
	for next := from + 1; next <= schemaVersion; next++ {
		if err := migrateTo(ctx, db, next); err != nil {
			return fmt.Errorf("migrate to schema version %d: %w", next, err)
		}
	}
	if _, err := db.ExecContext(ctx, engineStateSchema); err != nil {
		return fmt.Errorf("create engine_state: %w", err)
	}
	return nil
}

func migrateTo(ctx context.Context, db *sql.DB, version int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := migrations[version-2](ctx, tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('schema_version', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, strconv.Itoa(version)); err != nil {
		return err
	}
	return tx.Commit()
}

func hasColumn(ctx context.Context, tx *sql.Tx, table, column string) (bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return false, err
		}
		if name == column {
			return true, nil
		}
	}
	return false, rows.Err()
}
