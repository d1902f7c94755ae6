package storage

// This file is `rankpulse db recover`: everything readable of a damaged
// database file, copied into a fresh one. The damaged file is read page by
// page (salvage.go), without SQLite (which only counts, where it still can,
// the rows it sees), and never written to; each row is checked the way a
// read checks it (decode.go) —
// snapshots are decoded and stored again through SaveSnapshots, so the
// fresh file is consistent by construction — and what could not be read is
// counted, table by table.

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// TableReport is what a recovery (or a check) found of one table.
type TableReport struct {
	Table     string
	Recovered int // rows copied (for a dry run: that would be), Degraded included
	Lost      int // rows found but unreadable, or refused as damaged
	// Degraded counts snapshots kept without the entries whose app was
	// lost (marked incomplete).
	Degraded int
	// PagesLost counts pages of the table's b-tree that could not be read
	// at all: their rows are lost, and not counted in Lost.
	PagesLost int
	// Claimed is how many rows SQLite counts in the damaged file, -1 when
	// it cannot count them.
	Claimed int64
}

// RecoverReport says what Recover copied and what it could not.
type RecoverReport struct {
	Source, Output string
	DryRun         bool
	SchemaRead     bool // the damaged file's schema could be read
	Tables         []TableReport
	// OrphanPages were reached by no b-tree (a damaged interior page or
	// schema above them) and attributed to a table by their records;
	// LostPages could be attributed to no table, or not read at all.
	OrphanPages, LostPages int
	Unknown                []string // tables this rankpulse does not know: not copied
	Notes                  []string
}

// Table returns the report of one table.
func (r *RecoverReport) Table(name string) TableReport {
	for _, t := range r.Tables {
		if t.Table == name {
			return t
		}
	}
	return TableReport{Table: name, Claimed: -1}
}

// Lossless reports whether every row found was copied whole.
func (r *RecoverReport) Lossless() bool {
	if r.LostPages > 0 || len(r.Unknown) > 0 {
		return false
	}
	for _, t := range r.Tables {
		if t.Lost > 0 || t.Degraded > 0 || t.PagesLost > 0 || (t.Claimed >= 0 && int64(t.Recovered) < t.Claimed) {
			return false
		}
	}
	return true
}

// Recover copies everything readable of the database file at source into
// a fresh database at output, which must not exist. source is only read.
// With output "" it is a dry run: everything is read and checked, nothing
// is written.
func Recover(ctx context.Context, source, output string) (*RecoverReport, error) {
	rep := &RecoverReport{Source: source, Output: output, DryRun: output == ""}
	if _, err := os.Stat(source); err != nil {
		return nil, fmt.Errorf("storage: recover: %w", err)
	}
	var out *DB
	partial := output + ".partial"
	if output != "" {
		if _, err := os.Stat(output); err == nil {
			return nil, fmt.Errorf("storage: recover: %s exists: give a new file for the recovered database (nothing is overwritten)", output)
		}
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(partial + suffix) // a recovery cut short before
		}
		var err error
		if out, err = openFile(ctx, partial); err != nil {
			return nil, err
		}
		defer func() {
			if out != nil {
				out.Close()
				for _, suffix := range []string{"", "-wal", "-shm"} {
					os.Remove(partial + suffix)
				}
			}
		}()
	}
	sv, err := salvageFile(ctx, source)
	if err != nil {
		return nil, fmt.Errorf("storage: recover %s: %w", source, err)
	}
	defer sv.Close()
	rep.SchemaRead, rep.OrphanPages, rep.LostPages, rep.Unknown = sv.schemaRead, sv.orphans, sv.lost, sv.unknown
	if !sv.im.headerOK {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the file header is damaged: read with %d-byte pages", sv.im.pageSize))
	}
	if !sv.schemaRead {
		rep.Notes = append(rep.Notes, "the schema could not be read: every page was attributed by the shape of its rows")
	}
	rc := &recovery{ctx: ctx, sv: sv, out: out, rep: rep, claimed: claimedRows(ctx, source)}
	if err := rc.run(); err != nil {
		return nil, err
	}
	if out != nil {
		if err := out.Checkpoint(ctx); err != nil {
			return nil, err
		}
		if err := out.Close(); err != nil {
			return nil, fmt.Errorf("storage: recover: %w", err)
		}
		out = nil
		if err := os.Rename(partial, output); err != nil {
			return nil, fmt.Errorf("storage: recover: %w", err)
		}
	}
	return rep, nil
}

// claimedRows asks SQLite how many rows each table of the damaged file
// holds, where it still can.
func claimedRows(ctx context.Context, path string) func(table string) int64 {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	return func(table string) int64 {
		if err != nil {
			return -1
		}
		var n int64
		if db.QueryRowContext(ctx, `SELECT count(*) FROM "`+table+`"`).Scan(&n) != nil {
			return -1
		}
		return n
	}
}

// recovery is one run of Recover.
type recovery struct {
	ctx     context.Context
	sv      *salvage
	out     *DB // nil: a dry run
	rep     *RecoverReport
	claimed func(string) int64
	src     salvageSource
	alerts  map[string]bool // "id/revision" of the alerts recovered
	outbox  map[int64]bool
}

// order is the order tables are copied in: what later rows refer to first.
var order = []string{"meta", "charts", "apps", "snapshots", "alerts", "outbox"}

// notCopied are tables a recovery leaves out: the alert engine's
// checkpoint describes the file as it was, not what was recovered of it.
var notCopied = []string{"engine_state", "engine_state_parts"}

func (rc *recovery) run() error {
	if err := rc.checkVersion(); err != nil {
		return err
	}
	names := make([]string, 0, len(rc.sv.tables))
	for name := range rc.sv.tables {
		if !strings.HasPrefix(name, "sqlite_") && !contains(order, name) && !contains(notCopied, name) {
			names = append(names, name)
		}
	}
	if n := rc.claimed("engine_state"); n != 0 {
		rc.rep.Notes = append(rc.rep.Notes, "the alert engine's checkpoint is not copied: at its first start on the recovered file the engine rebuilds its state from the snapshots")
	}
	sort.Strings(names)
	rc.alerts, rc.outbox = map[string]bool{}, map[int64]bool{}
	for _, name := range append(append([]string{}, order...), names...) {
		t := TableReport{Table: name, Claimed: rc.claimed(name)}
		if tr := rc.sv.trees[name]; tr != nil {
			t.PagesLost = tr.bad
		}
		var err error
		switch name {
		case "charts":
			err = rc.charts(&t)
		case "apps":
			err = rc.apps(&t)
		case "snapshots":
			err = rc.snapshots(&t)
		default:
			err = rc.generic(&t)
		}
		if err != nil {
			return err
		}
		rc.rep.Tables = append(rc.rep.Tables, t)
	}
	if err := rc.sequence(); err != nil {
		return err
	}
	return rc.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('recovered', ?)`,
		fmt.Sprintf("from %s at %s", rc.rep.Source, time.Now().UTC().Format(time.RFC3339)))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkVersion refuses a file written by a newer rankpulse: its rows may
// mean more than this build knows.
func (rc *recovery) checkVersion() error {
	var found error
	rc.sv.rows(rc.ctx, "meta", func(r salvagedRow) error {
		if len(r.vals) == 2 && r.vals[0] == "schema_version" {
			var v int
			if s, ok := r.vals[1].(string); ok && scanInt(s, &v) && v > schemaVersion {
				found = fmt.Errorf("storage: recover: %s has schema version %d and this rankpulse reads up to %d: recover it with the rankpulse that wrote it", rc.rep.Source, v, schemaVersion)
				return errStop
			}
		}
		return nil
	})
	return found
}

func (rc *recovery) exec(query string, args ...any) error {
	if rc.out == nil {
		return nil
	}
	if _, err := rc.out.db.ExecContext(rc.ctx, query, args...); err != nil {
		return fmt.Errorf("storage: recover: %w", err)
	}
	return nil
}

func scanInt(s string, v *int) bool {
	_, err := fmt.Sscan(s, v)
	return err == nil
}

// OpenFile opens the store in the database file at path (a recovered
// file, say) rather than in a data directory.
func OpenFile(ctx context.Context, path string) (*DB, error) { return openFile(ctx, path) }
