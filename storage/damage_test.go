package storage

// Damage at chosen places of a database file — its header, its schema, an
// interior b-tree page, the apps table, an index, a blob — and at random
// ones: reads skip what cannot be decoded and keep the rest, never read a
// wrong rank, check says the file is damaged, and recover copies
// everything readable into a file that checks clean. The database and the
// damage are generated from fixed seeds.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

var damageT0 = time.Date(2026, 11, 2, 0, 7, 0, 0, time.UTC)

// damageWorld is a 12-slot store: 14 charts a slot (7 countries × 2
// categories, some read short or with gaps), 1,500 apps, alerts and an
// outbox for two receivers.
type damageWorld struct {
	snaps  map[string]chart.Snapshot // by snapKey
	alerts int
	outbox int
}

func snapKey(s *chart.Snapshot) string { return s.Time.Format(time.RFC3339) + " " + s.Key().String() }

func buildDamageWorld(t *testing.T, path string, seed uint64) *damageWorld {
	t.Helper()
	ctx := context.Background()
	db, err := openFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(seed, 99))
	w := &damageWorld{snaps: map[string]chart.Snapshot{}}
	for slot := range 12 {
		var batch []chart.Snapshot
		for _, cc := range []string{"us", "gb", "de", "tr", "br", "in", "jp"} {
			for _, cat := range []string{"all", "6005"} {
				s := chart.Snapshot{Time: damageT0.Add(time.Duration(slot) * time.Hour), Store: "appstore", Country: cc, Chart: "top-free",
					Category: cat, Source: "charts", Complete: true, Depth: 200, DurationMS: int64(rng.IntN(900))}
				perm := rng.Perm(1500)
				n := 200
				switch rng.IntN(10) {
				case 0: // read short
					n, s.Complete, s.Source, s.Error = 40+rng.IntN(100), false, "rss", "charts: HTTP 503"
				case 1: // gaps
					s.Complete, s.Error = false, "lookup: truncated"
				}
				for r := 1; r <= n; r++ {
					if !s.Complete && s.Error == "lookup: truncated" && r%7 == 0 {
						continue
					}
					id := perm[r-1]
					s.Entries = append(s.Entries, chart.Entry{Rank: r, AppID: fmt.Sprint(1400000000 + id*7919), Name: fmt.Sprintf("App %d", id), Developer: fmt.Sprintf("Developer %d", id%97)})
				}
				batch = append(batch, s)
			}
		}
		if err := db.save(ctx, batch, slot%3 == 0); err != nil {
			t.Fatal(err)
		}
		for _, s := range batch {
			w.snaps[snapKey(&s)] = s
		}
		a := chart.Alert{ID: fmt.Sprintf("alert-%02d", slot), Kind: "surge", Severity: "warning", Time: batch[0].Time, Store: "appstore",
			Country: chart.Ptr("us"), Chart: "top-free", Category: "all", AppID: batch[0].Entries[0].AppID, Summary: "surged"}
		err := db.WithTx(ctx, func(tx *Tx) error {
			if _, err := tx.SaveAlert(ctx, &a); err != nil {
				return err
			}
			for _, hook := range []string{"ops", "team"} {
				if err := tx.Enqueue(ctx, hook, &a, int64(slot)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		w.alerts++
		w.outbox += 2
	}
	if err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

// judge says what a snapshot read from a damaged file is against the one
// stored: "same", "degraded" (entries or names lost, and said so: marked
// incomplete where entries are lost), or a reason it is bogus.
func (w *damageWorld) judge(s *chart.Snapshot) (string, error) {
	o, ok := w.snaps[snapKey(s)]
	if !ok {
		return "", fmt.Errorf("%s: no such snapshot was stored", snapKey(s))
	}
	if s.Source != o.Source || s.Depth != o.Depth || s.DurationMS != o.DurationMS || (s.Complete && !o.Complete) {
		return "", fmt.Errorf("%s: facts changed: %+v, stored %+v", snapKey(s), *s, o)
	}
	byRank := map[int]chart.Entry{}
	for _, e := range o.Entries {
		byRank[e.Rank] = e
	}
	verdict := "same"
	for _, e := range s.Entries {
		oe, ok := byRank[e.Rank]
		switch {
		case !ok || oe.AppID != e.AppID:
			return "", fmt.Errorf("%s: rank %d is app %s, stored %s: a wrong rank", snapKey(s), e.Rank, e.AppID, oe.AppID)
		case e.Name == "" && e.Developer == "" && oe.Name != "":
			verdict = "degraded" // the name is lost, the rank is not
		case e.Name != oe.Name || e.Developer != oe.Developer:
			return "", fmt.Errorf("%s: rank %d is named %q, stored %q", snapKey(s), e.Rank, e.Name, oe.Name)
		}
	}
	if len(s.Entries) < len(o.Entries) {
		if s.Complete || !strings.Contains(s.Error, "lost") {
			return "", fmt.Errorf("%s: %d of %d entries, and not marked as lost (complete %v, error %q)", snapKey(s), len(s.Entries), len(o.Entries), s.Complete, s.Error)
		}
		verdict = "degraded"
	}
	return verdict, nil
}

// readAll reads a database as export does; it fails the test on a bogus
// snapshot and returns how many read the same and degraded.
func (w *damageWorld) readAll(t *testing.T, path string) (same, degraded, skipped int, err error) {
	t.Helper()
	ctx := context.Background()
	db, err := openFile(ctx, path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer db.Close()
	q := Query{OnCorrupt: func(ce *CorruptError) error {
		if !ce.Partial {
			skipped++
		}
		return nil
	}}
	err = db.Snapshots(ctx, q, func(s chart.Snapshot) error {
		v, err := w.judge(&s)
		if err != nil {
			t.Error(err)
		}
		if v == "same" {
			same++
		} else {
			degraded++
		}
		return nil
	})
	return same, degraded, skipped, err
}

// pages returns the pages of each b-tree of the file.
func pageMap(t *testing.T, path string) map[string]*tree {
	t.Helper()
	sv, err := salvageFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer sv.Close()
	return sv.trees
}

func scribble(t *testing.T, path string, off int64, n int, seed uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, uint64(off)))
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

const pageSize = 4096

func pageOffset(no uint32) int64 { return int64(no-1) * pageSize }

// damageCase damages a copy of the world's file; want* bound what must
// survive (-1: no bound beyond "nothing bogus").
type damageCase struct {
	name   string
	damage func(t *testing.T, path string, trees map[string]*tree)
	// wantRead: snapshots an export reads (same or degraded); wantRecovered
	// likewise after a recovery; -1: no bound.
	wantRead, wantRecovered int
	wantAlerts              bool // recover keeps every alert and outbox row
	// mayLookFine: random bytes may land where nothing is stored (free
	// space in a page), and the file is then as good as before.
	mayLookFine bool
}

func TestDamagedDatabaseKeepsWhatIsReadable(t *testing.T) {
	ctx := context.Background()
	world := t.TempDir()
	orig := filepath.Join(world, FileName)
	w := buildDamageWorld(t, orig, 1)
	trees := pageMap(t, orig)
	if trees["snapshots"].root == 0 || len(trees["snapshots"].leaves) < 8 || len(trees["apps"].leaves) < 8 {
		t.Fatalf("the world is too small to damage interior pages: %d snapshot leaves, %d app leaves", len(trees["snapshots"].leaves), len(trees["apps"].leaves))
	}
	total := len(w.snaps)
	cases := []damageCase{
		{name: "header", wantRead: -1, wantRecovered: total, wantAlerts: true, damage: func(t *testing.T, p string, _ map[string]*tree) {
			scribble(t, p, 0, 100, 1)
		}},
		{name: "schema", wantRead: -1, wantRecovered: total, wantAlerts: true, damage: func(t *testing.T, p string, _ map[string]*tree) {
			scribble(t, p, 100, 2000, 2)
		}},
		{name: "snapshots interior page", wantRead: -1, wantRecovered: total, wantAlerts: true, damage: func(t *testing.T, p string, tr map[string]*tree) {
			scribble(t, p, pageOffset(tr["snapshots"].root), 2000, 3)
		}},
		{name: "apps table page", wantRead: total, wantRecovered: total, wantAlerts: true, damage: func(t *testing.T, p string, tr map[string]*tree) {
			scribble(t, p, pageOffset(tr["apps"].leaves[3].no), 2000, 4)
		}},
		{name: "apps table and its unique index", wantRead: total, wantRecovered: total, wantAlerts: true, damage: func(t *testing.T, p string, tr map[string]*tree) {
			scribble(t, p, pageOffset(tr["apps"].leaves[5].no), pageSize, 5)
			for _, pg := range tr["sqlite_autoindex_apps_1"].leaves {
				scribble(t, p, pageOffset(pg.no), pageSize, uint64(pg.no))
			}
		}},
		{name: "snapshots leaf page", wantRead: -1, wantRecovered: -1, wantAlerts: true, damage: func(t *testing.T, p string, tr map[string]*tree) {
			scribble(t, p, pageOffset(tr["snapshots"].leaves[4].no)+200, 2000, 6)
		}},
		{name: "one blob", wantRead: total - 1, wantRecovered: total - 1, wantAlerts: true, damage: func(t *testing.T, p string, _ map[string]*tree) {
			db, err := openFile(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// One byte of one snapshot's entries, in place: the row still
			// parses, its refs are other apps.
			if _, err := db.db.Exec(`UPDATE snapshots SET entries = substr(entries, 1, 9) || x'07' || substr(entries, 11) WHERE rowid = 77`); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for seed := uint64(1); seed <= 5; seed++ {
		cases = append(cases, damageCase{name: fmt.Sprintf("2000 random bytes, seed %d", seed), wantRead: -1, wantRecovered: -1, mayLookFine: true, damage: func(t *testing.T, p string, _ map[string]*tree) {
			fi, _ := os.Stat(p)
			off := rand.New(rand.NewPCG(seed, 7)).Int64N(fi.Size() - 2000)
			t.Logf("offset %d of %d", off, fi.Size())
			scribble(t, p, off, 2000, seed)
		}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			copyFile(t, orig, path)
			tc.damage(t, path, trees)

			same, degraded, skipped, err := w.readAll(t, path)
			t.Logf("read: %d same, %d degraded, %d skipped, error %v", same, degraded, skipped, err)
			if err != nil && !errors.Is(err, ErrDamaged) {
				t.Fatalf("a read of a damaged file failed without saying it is damaged: %v", err)
			}
			if err != nil && !strings.Contains(err.Error(), "rankpulse db recover") {
				t.Errorf("the error does not say what to do: %v", err)
			}
			if tc.wantRead >= 0 && same+degraded < tc.wantRead {
				t.Errorf("read %d snapshots, want at least %d", same+degraded, tc.wantRead)
			}

			rep, err := Check(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case !rep.Damaged() && !tc.mayLookFine:
				t.Errorf("check found nothing wrong: %+v", rep)
			case !rep.Damaged():
				if same+degraded != total {
					t.Errorf("check found nothing wrong, but a read gets %d of %d snapshots", same+degraded, total)
				}
				t.Log("the damage hit no stored byte: check finds the file fine")
				rep.Salvage, err = Recover(ctx, path, "")
				if err != nil {
					t.Fatal(err)
				}
			case rep.Salvage == nil:
				t.Fatal("check of a damaged file gave no estimate of a recovery")
			}

			out := filepath.Join(dir, "recovered.db")
			rrep, err := Recover(ctx, path, out)
			if err != nil {
				t.Fatal(err)
			}
			same, degraded, skipped, err = w.readAll(t, out)
			t.Logf("recovered: %d same, %d degraded, %d skipped, error %v; report %+v", same, degraded, skipped, err, rrep.Tables)
			if err != nil || skipped > 0 {
				t.Fatalf("the recovered file reads with errors: %v, %d skipped", err, skipped)
			}
			if got := rrep.Table("snapshots").Recovered; got != same+degraded || got != rep.Salvage.Table("snapshots").Recovered {
				t.Errorf("recover says %d snapshots, the file has %d, the dry run said %d", got, same+degraded, rep.Salvage.Table("snapshots").Recovered)
			}
			if tc.wantRecovered >= 0 && same+degraded < tc.wantRecovered {
				t.Errorf("recovered %d snapshots, want at least %d", same+degraded, tc.wantRecovered)
			}
			if tc.wantAlerts && (rrep.Table("alerts").Recovered != w.alerts || rrep.Table("outbox").Recovered != w.outbox) {
				t.Errorf("recovered %d alerts, %d outbox rows; want %d, %d", rrep.Table("alerts").Recovered, rrep.Table("outbox").Recovered, w.alerts, w.outbox)
			}
			if rrep.Lossless() != (same == len(w.snaps) && rrep.Table("alerts").Recovered == w.alerts && rrep.Table("outbox").Recovered == w.outbox && rrep.Table("apps").Lost == 0 && rrep.Table("apps").PagesLost == 0) {
				t.Logf("lossless %v", rrep.Lossless())
			}
			again, err := Check(ctx, out)
			if err != nil || again.Damaged() {
				t.Fatalf("the recovered file does not check clean: %v %+v", err, again)
			}
		})
	}
}

func TestAHealthyFileChecksCleanAndRecoversWhole(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	w := buildDamageWorld(t, path, 2)
	rep, err := Check(ctx, path)
	if err != nil || rep.Damaged() {
		t.Fatalf("a healthy file: %v %+v", err, rep)
	}
	if got := rep.Table("snapshots"); got.Recovered != len(w.snaps) || got.Lost != 0 {
		t.Fatalf("check read %+v of %d snapshots", got, len(w.snaps))
	}
	out := filepath.Join(dir, "copy.db")
	rrep, err := Recover(ctx, path, out)
	if err != nil {
		t.Fatal(err)
	}
	if !rrep.Lossless() {
		t.Fatalf("a healthy file recovers with losses: %+v", rrep)
	}
	if same, degraded, skipped, err := w.readAll(t, out); err != nil || same != len(w.snaps) || degraded+skipped > 0 {
		t.Fatalf("the copy: %d same, %d degraded, %d skipped, %v", same, degraded, skipped, err)
	}
	// The outbox keeps its order and states, and its sequence goes on.
	db, err := openFile(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var seq int64
	if err := db.db.QueryRow(`SELECT seq FROM sqlite_sequence WHERE name = 'outbox'`).Scan(&seq); err != nil || seq != int64(w.outbox) {
		t.Fatalf("outbox sequence %d (%v), want %d", seq, err, w.outbox)
	}
	if _, err := Recover(ctx, path, out); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("recover over an existing file: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
