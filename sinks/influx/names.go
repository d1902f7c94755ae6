package influx

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rankpulse/rankpulse/chart"
)

// UnknownName is the app_name tag of an app whose name is not known (its
// lookup failed and the embedded store had never seen it): "(unknown)" and
// the app id, so that such apps stay apart in a GROUP BY app_name and a
// dashboard still says which app it is. A tag is never left out or empty.
func UnknownName(appID string) string { return "(unknown) " + appID }

// tagName is the app_name tag of an entry.
func tagName(e *chart.Entry) string {
	if e.Name == "" {
		return UnknownName(e.AppID)
	}
	return e.Name
}

// pinsFile, in the spool directory, lists the app_rank points written with
// UnknownName, one JSON line per chart and slot.
const pinsFile = "unnamed-points.jsonl"

// maxPins bounds the points remembered (about 10 MB in memory); past it the
// oldest are forgotten, and a rewrite of those slots with names would add a
// second point next to the unnamed one.
const maxPins = 200_000

// pinned remembers which app_rank points were written with UnknownName, so
// that a rewrite of the same slot writes them with the same tag: InfluxDB
// identifies a point by measurement, tag set and time, and a name learned
// later would otherwise start a second series at that slot. Callers
// serialise access (Sink.mu).
type pinned struct {
	path  string
	slots map[pinSlot]map[string]bool
	order []pinRecord // oldest first, as in the file
	n     int
}

type pinSlot struct {
	key  chart.Key
	slot int64
}

type pinRecord struct {
	Slot int64     `json:"slot"`
	Key  chart.Key `json:"chart"`
	Apps []string  `json:"apps"`
}

// openPins loads the pins kept in dir. A line that does not decode (a write
// cut short by a crash) is skipped.
func openPins(dir string) (*pinned, error) {
	p := &pinned{path: filepath.Join(dir, pinsFile), slots: map[pinSlot]map[string]bool{}}
	f, err := os.Open(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("influx: unnamed points: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var r pinRecord
		if json.Unmarshal(sc.Bytes(), &r) == nil && len(r.Apps) > 0 {
			p.add(r)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("influx: unnamed points: %s: %w", p.path, err)
	}
	p.trim()
	return p, nil
}

func (p *pinned) add(r pinRecord) {
	k := pinSlot{r.Key, r.Slot}
	set := p.slots[k]
	if set == nil {
		set = map[string]bool{}
		p.slots[k] = set
	}
	for _, a := range r.Apps {
		if !set[a] {
			set[a] = true
			p.n++
		}
	}
	p.order = append(p.order, r)
}

// trim forgets the oldest records once there are more than maxPins, down
// to nine tenths of it (so that the file is not rewritten at every sweep);
// it reports whether it did.
func (p *pinned) trim() bool {
	if p.n <= maxPins {
		return false
	}
	dropped := false
	for p.n > maxPins*9/10 && len(p.order) > 0 {
		r := p.order[0]
		p.order = p.order[1:]
		k := pinSlot{r.Key, r.Slot}
		for _, a := range r.Apps {
			if p.slots[k][a] {
				delete(p.slots[k], a)
				p.n--
			}
		}
		if len(p.slots[k]) == 0 {
			delete(p.slots, k)
		}
		dropped = true
	}
	return dropped
}

// record pins the unnamed entries of the batch's snapshots, before their
// points are written (a pin whose write then failed costs nothing: that
// point gets the unknown tag if it is ever written).
func (p *pinned) record(snaps []chart.Snapshot) error {
	var recs []pinRecord
	for i := range snaps {
		s := &snaps[i]
		k := pinSlot{s.Key(), chart.SlotTime(s.Time).Unix()}
		var apps []string
		for _, e := range s.Entries {
			if e.Name == "" && !p.slots[k][e.AppID] {
				apps = append(apps, e.AppID)
			}
		}
		if len(apps) > 0 {
			recs = append(recs, pinRecord{Slot: k.slot, Key: k.key, Apps: apps})
		}
	}
	if len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		p.add(r)
	}
	if p.trim() {
		return p.rewrite()
	}
	return p.append(recs)
}

// tag is the app_name tag of e in s: UnknownName when the point was first
// written without a name, else the name it has.
func (p *pinned) tag(s *chart.Snapshot, e *chart.Entry) string {
	if p.slots[pinSlot{s.Key(), chart.SlotTime(s.Time).Unix()}][e.AppID] {
		return UnknownName(e.AppID)
	}
	return tagName(e)
}

func (p *pinned) append(recs []pinRecord) error {
	f, err := os.OpenFile(p.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("influx: unnamed points: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return fmt.Errorf("influx: unnamed points: %w", err)
		}
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		return fmt.Errorf("influx: unnamed points: %s: %w", p.path, err)
	}
	return nil
}

// rewrite replaces the file with the records kept, through a temporary
// file, so that a crash leaves the old file or the new one.
func (p *pinned) rewrite() error {
	tmp := p.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("influx: unnamed points: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, r := range p.order {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return fmt.Errorf("influx: unnamed points: %w", err)
		}
	}
	if err := errors.Join(w.Flush(), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("influx: unnamed points: %s: %w", tmp, err)
	}
	return os.Rename(tmp, p.path)
}
