package storage

// This file finds the rows of a database file page by page (pages.go),
// for recover and check. It walks each b-tree of the file's schema from
// its root; a leaf page that no walk reached — an interior page above it
// is damaged, or the schema itself — and that the freelist does not hold
// is attributed to a table by the shape of its records (column count and
// types, as this build's schema declares them). Rows found in the walk come
// first, so a stale copy never replaces a live one.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/rankpulse/rankpulse/chart"
)

// column is one column of a table this build knows.
type column struct {
	name     string
	affinity byte // 'I', 'T', 'B' (as declared)
	notNull  bool
	ipk      bool // INTEGER PRIMARY KEY: stored as NULL, the rowid is the value
}

// layouts returns the columns of every table (and the indexed columns of
// every index, then the rowid) of this build's schema, migrations
// included.
func layouts(ctx context.Context) (tables, indexes map[string][]column, err error) {
	db, err := sql.Open("sqlite", "file:layouts?mode=memory")
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema+outboxSchema); err != nil {
		return nil, nil, err
	}
	if err := migrate(ctx, db); err != nil {
		return nil, nil, err
	}
	type object struct{ typ, name, table string }
	var objs []object
	rows, err := db.QueryContext(ctx, `SELECT type, name, tbl_name FROM sqlite_schema WHERE type IN ('table', 'index') ORDER BY name`)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var o object
		if err := rows.Scan(&o.typ, &o.name, &o.table); err != nil {
			rows.Close()
			return nil, nil, err
		}
		objs = append(objs, o)
	}
	rows.Close()
	tables, indexes = map[string][]column{}, map[string][]column{}
	for _, o := range objs {
		if o.typ == "table" {
			cols, err := tableColumns(ctx, db, o.name)
			if err != nil {
				return nil, nil, err
			}
			tables[o.name] = cols
		}
	}
	// SQLite declares no types for its own tables.
	tables["sqlite_sequence"] = []column{{name: "name", affinity: 'T'}, {name: "seq", affinity: 'I'}}
	tables["sqlite_schema"] = []column{{name: "type", affinity: 'T'}, {name: "name", affinity: 'T'}, {name: "tbl_name", affinity: 'T'}, {name: "rootpage", affinity: 'I'}, {name: "sql", affinity: 'T'}}
	for _, o := range objs {
		if o.typ != "index" {
			continue
		}
		rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, o.name)
		if err != nil {
			return nil, nil, err
		}
		var cols []column
		for rows.Next() {
			var name string
			rows.Scan(&name)
			for _, c := range tables[o.table] {
				if c.name == name {
					cols = append(cols, column{name: name, affinity: c.affinity, notNull: c.notNull})
				}
			}
		}
		rows.Close()
		indexes[o.name] = append(cols, column{name: "rowid", affinity: 'I', notNull: true})
	}
	return tables, indexes, nil
}

func tableColumns(ctx context.Context, db *sql.DB, table string) ([]column, error) {
	rows, err := db.QueryContext(ctx, `SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []column
	npk := 0
	for rows.Next() {
		var name, typ string
		var notNull, pk int
		if err := rows.Scan(&name, &typ, &notNull, &pk); err != nil {
			return nil, err
		}
		c := column{name: name, affinity: 'T', notNull: notNull == 1}
		switch t := strings.ToUpper(typ); {
		case strings.Contains(t, "INT"):
			c.affinity = 'I'
		case strings.Contains(t, "BLOB"):
			c.affinity = 'B'
		}
		if pk > 0 {
			npk++
		}
		c.ipk = pk == 1 && strings.ToUpper(typ) == "INTEGER"
		cols = append(cols, c)
	}
	if npk != 1 {
		for i := range cols {
			cols[i].ipk = false
		}
	}
	return cols, rows.Err()
}

// fits reports whether a record can be a row of cols: no more values than
// columns (rows older than an added column have fewer), each of its
// column's type or NULL where that is allowed.
func fits(vals []any, cols []column) bool {
	if len(vals) > len(cols) || len(vals) < len(cols)-2 || len(vals) == 0 {
		return false
	}
	for i, v := range vals {
		c := cols[i]
		if c.ipk {
			if v != nil {
				return false
			}
			continue
		}
		switch v.(type) {
		case nil:
			if c.notNull {
				return false
			}
		case int64:
			if c.affinity != 'I' {
				return false
			}
		case string:
			if c.affinity != 'T' {
				return false
			}
		case []byte: // a blob: in a BLOB column, or bytes given to a TEXT one
			if c.affinity == 'I' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// salvage is what a page-by-page read of a database file found: for each
// table and index, its pages.
type salvage struct {
	im      *image
	tables  map[string][]column // this build's
	indexes map[string][]column
	trees   map[string]*tree // by name, tables and indexes of the file
	// schemaRead is false when the file's schema could not be read (then
	// every leaf page is attributed by shape).
	schemaRead bool
	unknown    []string // tables of the file this build does not know
	// orphans counts leaf pages no walk reached, attributed by shape;
	// lost counts pages that could not be attributed or read.
	orphans, lost int
}

// tree is one b-tree's pages: its leaves reached from the root, and those
// attributed to it by shape.
type tree struct {
	name    string
	index   bool
	root    uint32
	leaves  []*btreePage // walked, in key order
	orphans []*btreePage // attributed by shape
	bad     int          // pages of the walk that did not parse
}

// salvageFile reads the database file at path page by page.
func salvageFile(ctx context.Context, path string) (*salvage, error) {
	tables, indexes, err := layouts(ctx)
	if err != nil {
		return nil, fmt.Errorf("storage: schema: %w", err)
	}
	im, err := openImage(path)
	if err != nil {
		return nil, err
	}
	s := &salvage{im: im, tables: tables, indexes: indexes, trees: map[string]*tree{}}
	owned := map[uint32]bool{}
	s.readSchema(owned)
	for _, t := range s.sortedTrees() {
		s.walk(t, t.root, owned, 0)
	}
	s.attributeOrphans(owned)
	return s, nil
}

func (s *salvage) Close() error { return s.im.Close() }

func (s *salvage) sortedTrees() []*tree {
	out := make([]*tree, 0, len(s.trees))
	for _, t := range s.trees {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// readSchema walks sqlite_schema (rooted at page 1) for the root page of
// every table and index this build knows.
func (s *salvage) readSchema(owned map[uint32]bool) {
	schemaTree := &tree{name: "sqlite_schema", root: 1}
	s.walk(schemaTree, 1, owned, 0)
	for _, p := range schemaTree.leaves {
		for _, c := range p.cells {
			_, payload, err := s.im.tableCell(p, c)
			if err != nil {
				continue
			}
			vals, err := decodeRecord(payload)
			if err != nil || len(vals) != 5 {
				continue
			}
			typ, _ := vals[0].(string)
			name, _ := vals[1].(string)
			root, _ := vals[3].(int64)
			if root <= 1 || root > int64(s.im.pages) || (typ != "table" && typ != "index") {
				continue
			}
			s.schemaRead = true
			_, knownT := s.tables[name]
			_, knownI := s.indexes[name]
			switch {
			case typ == "table" && knownT, typ == "index" && knownI:
				s.trees[name] = &tree{name: name, index: typ == "index", root: uint32(root)}
			case typ == "table" && !strings.HasPrefix(name, "sqlite_"):
				s.unknown = append(s.unknown, name)
			}
		}
	}
	// A known table the schema did not give still gets its orphans.
	for name := range s.tables {
		if s.trees[name] == nil {
			s.trees[name] = &tree{name: name}
		}
	}
	for name := range s.indexes {
		if s.trees[name] == nil {
			s.trees[name] = &tree{name: name, index: true}
		}
	}
}

// walk collects the leaf pages (for an index, every page: interior cells
// of an index hold entries too) of the b-tree under page no.
func (s *salvage) walk(t *tree, no uint32, owned map[uint32]bool, depth int) {
	if no == 0 || depth > 20 || owned[no] || s.im.freelist[no] {
		return
	}
	p := s.im.parsePage(no)
	wantLeaf, wantInterior := byte(pageTableLeaf), byte(pageTableInterior)
	if t.index {
		wantLeaf, wantInterior = pageIndexLeaf, pageIndexInterior
	}
	if p == nil || (p.typ != wantLeaf && p.typ != wantInterior) || (p.typ == wantLeaf && !s.belongs(t, p)) {
		t.bad++ // a damaged page, or a damaged pointer to another tree's page
		return
	}
	owned[no] = true
	if p.typ == wantLeaf || t.index {
		t.leaves = append(t.leaves, p)
	}
	if p.typ == wantInterior {
		for _, c := range p.cells {
			s.walk(t, p.child(c), owned, depth+1)
		}
		s.walk(t, p.right, owned, depth+1)
	}
}

// belongs reports whether the first readable record of leaf page p fits
// t's layout (a tree this build does not know, like sqlite_schema, takes
// any page).
func (s *salvage) belongs(t *tree, p *btreePage) bool {
	cols, ok := s.tables[t.name]
	if t.index {
		cols, ok = s.indexes[t.name]
	}
	if !ok {
		return true
	}
	for _, c := range p.cells {
		if vals, err := s.record(t, p, c); err == nil {
			return fits(vals, cols)
		}
	}
	return true
}

// attributeOrphans gives each leaf page no walk reached (and not on the
// freelist) to the one table, or index, whose columns its records fit.
func (s *salvage) attributeOrphans(owned map[uint32]bool) {
	for no := uint32(2); no <= s.im.pages; no++ {
		if owned[no] || s.im.freelist[no] {
			continue
		}
		p := s.im.parsePage(no)
		if p == nil || len(p.cells) == 0 {
			continue // an overflow page, an empty one, or one beyond reading
		}
		if p.typ == pageTableInterior {
			continue // its leaves are attributed one by one
		}
		if t := s.fitPage(p); t != nil {
			t.orphans = append(t.orphans, p)
			s.orphans++
		} else if p.typ == pageTableLeaf {
			s.lost++ // (an index page no walk reached costs no row)
		}
	}
}

// fitPage returns the tree whose layout every decodable record of p fits,
// if exactly one does: a layout with as many columns as the records
// before one with more (rows older than an added column), and, among
// tables of the same shape, the one whose contents it is (a chart key, an
// app).
func (s *salvage) fitPage(p *btreePage) *tree {
	for _, exact := range []bool{true, false} {
		var match []*tree
		for _, t := range s.sortedTrees() {
			if t.index != (p.typ == pageIndexLeaf || p.typ == pageIndexInterior) {
				continue
			}
			cols := s.tables[t.name]
			if t.index {
				cols = s.indexes[t.name]
			}
			n, ok := 0, true
			for _, c := range p.cells {
				vals, err := s.record(t, p, c)
				if err != nil {
					continue
				}
				n++
				if !fits(vals, cols) || (exact && len(vals) != len(cols)) || !looksLike(t.name, vals) {
					ok = false
					break
				}
			}
			if ok && n > 0 {
				match = append(match, t)
			}
		}
		switch len(match) {
		case 0:
			continue
		case 1:
			return match[0]
		}
		return nil // ambiguous
	}
	return nil
}

// looksLike tells apart tables and indexes of the same shape by what they
// hold.
func looksLike(name string, vals []any) bool {
	str := func(i int) string {
		if i < len(vals) {
			s, _ := vals[i].(string)
			return s
		}
		return ""
	}
	switch name {
	case "charts":
		return validKey(chart.Key{Store: str(1), Country: str(2), Chart: str(3), Category: str(4)})
	case "sqlite_autoindex_charts_1":
		return validKey(chart.Key{Store: str(0), Country: str(1), Chart: str(2), Category: str(3)})
	case "apps":
		return validApp(appKey{store: str(1), appID: str(2), name: str(3), developer: str(4)})
	case "sqlite_autoindex_apps_1":
		return validApp(appKey{store: str(0), appID: str(1), name: str(2), developer: str(3)})
	case "apps_by_app":
		return validApp(appKey{store: str(0), appID: str(1)})
	}
	return true
}

// record decodes cell c of page p of tree t (an index entry ends with the
// rowid).
func (s *salvage) record(t *tree, p *btreePage, c int) ([]any, error) {
	if t.index {
		payload, err := s.im.indexCell(p, c)
		if err != nil {
			return nil, err
		}
		return decodeRecord(payload)
	}
	_, payload, err := s.im.tableCell(p, c)
	if err != nil {
		return nil, err
	}
	return decodeRecord(payload)
}

// salvagedRow is one row found: its rowid and values, and whether it came
// from a page no walk reached.
type salvagedRow struct {
	rowid  int64
	vals   []any
	orphan bool
}

// rows calls fn with every row of a table (walked pages first), and
// returns how many cells could not be read.
func (s *salvage) rows(ctx context.Context, table string, fn func(salvagedRow) error) (unreadable int, err error) {
	t := s.trees[table]
	if t == nil {
		return 0, nil
	}
	for i, pages := range [][]*btreePage{t.leaves, t.orphans} {
		for _, p := range pages {
			if err := ctx.Err(); err != nil {
				return unreadable, err
			}
			for _, c := range p.cells {
				var r salvagedRow
				var payload []byte
				var err error
				if t.index {
					payload, err = s.im.indexCell(p, c)
				} else {
					r.rowid, payload, err = s.im.tableCell(p, c)
				}
				if err == nil {
					r.vals, err = decodeRecord(payload)
				}
				if err != nil {
					unreadable++
					continue
				}
				r.orphan = i == 1
				if err := fn(r); err != nil {
					return unreadable, err
				}
			}
		}
	}
	return unreadable, nil
}

// errStop ends a rows walk early.
var errStop = errors.New("stop")
