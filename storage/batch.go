package storage

import (
	"context"
	"database/sql"

	"github.com/rankpulse/rankpulse/chart"
)

// SaveGroup stores snapshots in st as SaveSnapshots does, each on its own terms,
// but in one transaction while they all go in: a sweep's snapshots arrive
// faster than one commit per snapshot can follow. When the transaction fails
// (one snapshot invalid, a full disk, a damaged page) the group is saved
// again one transaction per snapshot, so that each snapshot gets its own
// verdict as before and a bad one does not take the others with it. errs[i]
// is snapshot i's error.
func SaveGroup(ctx context.Context, st Store, snaps []chart.Snapshot) (errs []error) {
	errs = make([]error, len(snaps))
	if len(snaps) == 0 {
		return errs
	}
	if len(snaps) > 1 && st.SaveSnapshots(ctx, snaps) == nil {
		return errs
	}
	for i := range snaps {
		errs[i] = st.SaveSnapshots(ctx, snaps[i:i+1])
	}
	return errs
}

// stmt returns query prepared for the transaction. SQLite parses a
// statement at every prepare, and database/sql with this driver prepares at
// every Exec; a sweep runs the same three statements thousands of times. So
// the database keeps each prepared (per connection, by database/sql) and a
// transaction takes it from there.
func (tx *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := tx.stmts[query]; ok {
		return st, nil
	}
	parent, err := tx.d.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	st := tx.StmtContext(ctx, parent)
	if tx.stmts == nil {
		tx.stmts = map[string]*sql.Stmt{}
	}
	tx.stmts[query] = st
	return st, nil
}

// exec is ExecContext through a prepared statement.
func (tx *Tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// queryRow is QueryRowContext through a prepared statement.
func (tx *Tx) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	st, err := tx.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

type rowScanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// prepare returns query prepared on the database, preparing it once.
func (d *DB) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := d.prepared.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := d.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := d.prepared.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}
