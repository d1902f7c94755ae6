package storage

// This file tells storage failures apart — a full disk, an I/O error, a
// damaged or foreign file, a lock — so that callers can keep what a full
// disk refused and retry it, and so that start-up errors give the advice
// that fits: free space (never "move the database aside", which would throw
// away a healthy file), check the disk, or recover a damaged file.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/rankpulse/rankpulse/chart"
)

// Fault is what kind of failure a storage error is.
type Fault int

// The faults Classify tells apart.
const (
	FaultNone     Fault = iota // no error
	FaultOther                 // anything else
	FaultFull                  // the disk or a quota is full (SQLITE_FULL, ENOSPC, EDQUOT)
	FaultIO                    // the disk or filesystem failed (SQLITE_IOERR, EIO)
	FaultReadOnly              // the file or filesystem is read-only
	FaultBusy                  // another process holds the lock
	FaultDamaged               // the file is damaged (SQLITE_CORRUPT)
	FaultNotADB                // not an SQLite database: a damaged header or a foreign file
	FaultInvalid               // the data was refused, not the store (chart.ErrInvalid)
)

func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultFull:
		return "disk_full"
	case FaultIO:
		return "io_error"
	case FaultReadOnly:
		return "read_only"
	case FaultBusy:
		return "busy"
	case FaultDamaged:
		return "damaged"
	case FaultNotADB:
		return "not_a_database"
	case FaultInvalid:
		return "invalid"
	}
	return "other"
}

// Transient reports whether the same write may succeed later, once the
// cause is gone (space freed, the disk back, the lock released, the file
// recovered): what a caller should keep and retry rather than drop. Any
// other failure is the write's own (an invalid snapshot, a constraint),
// and retrying it would only hold up the writes behind it.
func (f Fault) Transient() bool {
	switch f {
	case FaultFull, FaultIO, FaultReadOnly, FaultBusy, FaultDamaged, FaultNotADB:
		return true
	}
	return false
}

// Classify tells what kind of failure err is. An I/O error is not told
// from a full disk here; (*DB).Classify and OpenError look at the free
// space too.
func Classify(err error) Fault {
	if err == nil {
		return FaultNone
	}
	if errors.Is(err, chart.ErrInvalid) {
		return FaultInvalid
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_FULL:
			return FaultFull
		case sqlite3.SQLITE_IOERR:
			return FaultIO
		case sqlite3.SQLITE_READONLY:
			return FaultReadOnly
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return FaultBusy
		case sqlite3.SQLITE_CORRUPT:
			return FaultDamaged
		case sqlite3.SQLITE_NOTADB:
			return FaultNotADB
		}
	}
	if f := classifyErrno(err); f != FaultOther {
		return f
	}
	switch {
	case errors.Is(err, errNotADB):
		return FaultNotADB
	case errors.Is(err, ErrDamaged):
		return FaultDamaged
	}
	return FaultOther
}

// Classify is the package's Classify, except that an I/O error while the
// data directory's volume has (next to) no space left is a full disk:
// SQLite reports some writes a full disk refused (growing the WAL index,
// an fsync) as I/O errors.
func (d *DB) Classify(err error) Fault {
	return classifyAt(filepath.Dir(d.path), err)
}

func classifyAt(dir string, err error) Fault {
	f := Classify(err)
	if f == FaultIO {
		if sp, serr := FreeSpace(dir); serr == nil && sp.Full() {
			return FaultFull
		}
	}
	return f
}

// Space is the room on the volume of a directory.
type Space struct {
	Free  uint64 // bytes this process may still write
	Total uint64
}

// nearlyFull is less room than SQLite needs to grow by a few pages: below
// it, writes fail.
const nearlyFull = 256 << 10

// Full reports whether the volume has (next to) no room left.
func (s Space) Full() bool { return s.Free < nearlyFull }

func (s Space) String() string {
	return fmt.Sprintf("%s free of %s", Bytes(s.Free), Bytes(s.Total))
}

// Bytes formats a size for people: 0 B, 812 KiB, 3.4 GiB.
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	if v >= 100 {
		return fmt.Sprintf("%.0f %ciB", v, "KMGTP"[exp])
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[exp])
}

// ErrDamaged is wrapped by errors about a damaged database file: a read
// that SQLite could not complete because the file is malformed.
var ErrDamaged = errors.New("the database file is damaged")

// recoverHint is what to do about a damaged file.
const recoverHint = "`rankpulse db check` tells what is lost; `rankpulse db recover --output F` copies everything readable into a fresh database to put in its place (the damaged file is only read)"

// OpenError explains why the database at path could not be opened, with
// the advice that fits the cause. A full disk and an I/O error never get
// "move the database aside": the file is most likely healthy.
func OpenError(path string, err error) error {
	dir := filepath.Dir(path)
	switch classifyAt(dir, err) {
	case FaultFull:
		room := ""
		if sp, serr := FreeSpace(dir); serr == nil {
			room = " (" + sp.String() + ")"
		}
		return fmt.Errorf("storage: open %s: the disk holding %s is full%s: %w; free some space there (or give data_dir more room) and start again — the database file itself is fine: do not delete it or move it aside", path, dir, room, err)
	case FaultIO:
		return fmt.Errorf("storage: open %s: an I/O error: %w; the disk or filesystem failed to read or write it: check the kernel log (dmesg) and the disk, then start again — the file may well be intact: do not delete it; `rankpulse db check` tells whether it is damaged", path, err)
	case FaultReadOnly:
		return fmt.Errorf("storage: open %s: %w; the file or its filesystem is read-only: give rankpulse write access to data_dir", path, err)
	case FaultBusy:
		return fmt.Errorf("storage: open %s: %w; another process holds it (another rankpulse with the same data_dir?): stop it, or give this one another data_dir", path, err)
	case FaultNotADB:
		return fmt.Errorf("storage: open %s: %w: %w; its header is damaged, or it is another program's file. If it is rankpulse's, %s; if not, point data_dir elsewhere", path, ErrDamaged, err, recoverHint)
	case FaultDamaged:
		return fmt.Errorf("storage: open %s: %w: %w; %s", path, ErrDamaged, err, recoverHint)
	}
	return fmt.Errorf("storage: open %s: %w", path, err)
}

// readError wraps an error of a read: a damaged file says so, and what to
// do.
func (d *DB) readError(what string, err error) error {
	switch Classify(err) {
	case FaultDamaged, FaultNotADB:
		return fmt.Errorf("storage: %s: %w (%s): %w; %s", what, ErrDamaged, d.path, err, recoverHint)
	}
	return fmt.Errorf("storage: %s: %w", what, err)
}

// errNotADB is a file that does not start with SQLite's header.
var errNotADB = errors.New("file is not a database (its first bytes are not SQLite's header)")

// precheck refuses, before anything can write to it, a file that is no
// rankpulse database: one without SQLite's header, or one in rollback mode
// (rankpulse files are always in WAL mode), which opening it in WAL mode
// would change — it is checked through a read-only connection first.
func precheck(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // a new file (or one Open reports on)
	}
	defer f.Close()
	hdr := make([]byte, 100)
	n, _ := io.ReadFull(f, hdr)
	switch {
	case n == 0:
		return nil
	case n < 100 || !bytes.Equal(hdr[:16], sqliteMagic):
		return OpenError(path, errNotADB)
	case hdr[18] == 2 && hdr[19] == 2:
		return nil // WAL mode: opening it as rankpulse does changes nothing
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return OpenError(path, err)
	}
	defer db.Close()
	return checkVersion(ctx, db, path)
}

// checkForeign refuses a file that holds another program's tables: every
// rankpulse database has had a meta table from the first release, so a
// database with tables but no meta is not one, and nothing is written to
// it.
func checkForeign(ctx context.Context, db *sql.DB, path string) error {
	var n int
	var names string
	err := db.QueryRowContext(ctx, `SELECT count(*), coalesce(group_concat(name, ', '), '') FROM
		(SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name LIMIT 5)`).Scan(&n, &names)
	if err != nil {
		return OpenError(path, err)
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("storage: %s is not a rankpulse database: it holds tables of another program (%s) and no rankpulse meta table; point data_dir at another directory (nothing was written to this file)", path, names)
}
