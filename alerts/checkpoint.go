package alerts

// The engine's state as bytes: a daemon checkpoints it with the evaluated
// flags and restarts from it, replaying only what it evaluated after,
// instead of replaying days of history (which at 2,000 charts takes
// minutes). The encoding is compact, versioned and deterministic: maps are
// written in sorted order, so the same state gives the same bytes.

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
)

// stateVersion is the layout MarshalBinary writes. 2: a chart's last read
// is packed hashes and ranks (volatility.prev), not ids and ranks.
const stateVersion = 2

// Fingerprint identifies the settings an engine's state was built under: a
// state is only good for an engine with the same alert settings and watch
// list (webhooks do not count).
func Fingerprint(cfg config.Alerts, watch map[string]map[string]string) string {
	cfg.Webhooks = nil
	b, _ := json.Marshal(struct {
		Version int
		Alerts  config.Alerts
		Watch   map[string]map[string]string
	}{stateVersion, cfg, watch}) // json sorts map keys
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// MarshalBinary returns the engine's state.
func (e *Engine) MarshalBinary() ([]byte, error) {
	w := &writer{}
	e.writeState(w)
	return w.buf, nil
}

// WriteState writes the engine's state, the bytes MarshalBinary returns, to
// out in pieces of about stateChunk bytes: a daemon of thousands of charts
// checkpoints megabytes, which it need not hold whole.
func (e *Engine) WriteState(out io.Writer) error {
	w := &writer{out: out, buf: make([]byte, 0, stateChunk+stateChunk/4)}
	e.writeState(w)
	w.flush()
	return w.err
}

// stateChunk is how much WriteState buffers before it writes.
const stateChunk = 64 << 10

func (e *Engine) writeState(w *writer) {
	w.u(stateVersion)
	w.i(int64(e.evals))
	keys := make([]*chartState, 0, len(e.charts))
	for _, cs := range e.charts {
		keys = append(keys, cs)
	}
	slices.SortFunc(keys, func(a, b *chartState) int { return strings.Compare(a.name, b.name) })
	w.u(uint64(len(keys)))
	for _, cs := range keys {
		w.chart(cs)
		w.spill()
	}
	countries := sortedKeys(e.presence, func(c countryKey) string { return c.store + "/" + c.country })
	w.u(uint64(len(countries)))
	for _, c := range countries {
		w.s(c.store)
		w.s(c.country)
		apps := sortedKeys(e.presence[c], func(s string) string { return s })
		w.u(uint64(len(apps)))
		for _, app := range apps {
			p := e.presence[c][app]
			w.s(app)
			w.i(p.seenAt)
			w.i(p.lastPresent)
			w.i(int64(p.best))
			w.key(p.bestKey)
			w.i(int64(p.charts))
			w.s(p.name)
			w.i(int64(p.absent))
			w.b(p.alerted)
		}
		w.spill()
	}
	events := sortedKeys(e.events, func(k eventKey) string { return k.store + "/" + k.app })
	w.u(uint64(len(events)))
	for _, k := range events {
		ev := e.events[k]
		w.s(k.store)
		w.s(k.app)
		w.b(ev.open)
		w.s(ev.id)
		w.i(ev.start)
		w.i(ev.last)
		members := sortedKeys(ev.members, func(s string) string { return s })
		w.u(uint64(len(members)))
		for _, cc := range members {
			w.s(cc)
			w.i(ev.members[cc])
		}
		w.i(int64(ev.revision))
		w.key(ev.chartKey)
		w.spill()
	}
}

func (w *writer) chart(cs *chartState) {
	w.key(cs.key)
	for _, v := range []int64{cs.last, cs.interval, int64(cs.completes), cs.firstComplete, cs.prevComplete, cs.lastComplete, int64(cs.lastDepth)} {
		w.i(v)
	}
	for b := range cs.vol.step {
		for _, c := range cs.vol.step[b] {
			w.u(uint64(math.Float32bits(c)))
		}
	}
	w.u(uint64(len(cs.vol.prev)))
	for _, p := range cs.vol.prev {
		w.u(p)
	}
	apps := sortedKeys(cs.apps, func(s string) string { return s })
	w.u(uint64(len(apps)))
	for _, id := range apps {
		sr := cs.apps[id]
		w.s(id)
		w.u(uint64(len(sr.hist)))
		for _, h := range sr.hist {
			w.u(uint64(h.t))
			w.u(uint64(h.rank))
			w.u(uint64(h.depth))
		}
		w.s(sr.name)
		w.i(int64(sr.lastRank))
		w.u(uint64(sr.seen))
		w.i(int64(sr.absentStreak))
		w.b(sr.exitedAlerted)
		w.i(sr.up.t)
		w.i(int64(sr.up.rank))
		w.i(sr.down.t)
		w.i(int64(sr.down.rank))
	}
}

// ErrState is wrapped by every UnmarshalBinary error.
var ErrState = errors.New("alerts: unreadable engine state")

// UnmarshalBinary replaces the engine's state with one MarshalBinary wrote.
// On error the engine is left empty, as New made it.
func (e *Engine) UnmarshalBinary(b []byte) (err error) {
	fresh := New(e.cfg, e.watch)
	*e = *fresh
	defer func() {
		if err != nil {
			*e = *New(e.cfg, e.watch)
		}
	}()
	r := &reader{buf: b}
	if v := r.u(); v != stateVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrState, v, stateVersion)
	}
	e.evals = int(r.i())
	for n := r.n(); n > 0 && r.err == nil; n-- {
		cs := r.chart()
		if r.err != nil {
			break
		}
		e.charts[cs.key] = cs
		ck := countryKey{cs.key.Store, cs.key.Country}
		e.byCountry[ck] = append(e.byCountry[ck], cs) // in name order, as written
	}
	for n := r.n(); n > 0 && r.err == nil; n-- {
		c := countryKey{r.s(), r.s()}
		ps := e.presenceIn(c)
		for m := r.n(); m > 0 && r.err == nil; m-- {
			app := r.s()
			ps[app] = &presence{seenAt: r.i(), lastPresent: r.i(), best: int(r.i()), bestKey: r.key(), charts: int(r.i()),
				name: r.s(), absent: int(r.i()), alerted: r.b()}
		}
	}
	for n := r.n(); n > 0 && r.err == nil; n-- {
		k := eventKey{r.s(), r.s()}
		ev := &event{open: r.b(), id: r.s(), start: r.i(), last: r.i(), members: map[string]int64{}}
		for m := r.n(); m > 0 && r.err == nil; m-- {
			cc := r.s()
			ev.members[cc] = r.i()
		}
		ev.revision, ev.chartKey = int(r.i()), r.key()
		e.events[k] = ev
	}
	if r.err == nil && len(r.buf) != 0 {
		r.err = fmt.Errorf("%d bytes left over", len(r.buf))
	}
	if r.err != nil {
		return fmt.Errorf("%w: %w", ErrState, r.err)
	}
	return nil
}

func (r *reader) chart() *chartState {
	key := r.key()
	cs := &chartState{key: key, name: key.String(), apps: map[string]*series{}}
	vals := make([]int64, 7)
	for i := range vals {
		vals[i] = r.i()
	}
	cs.last, cs.interval, cs.completes, cs.firstComplete, cs.prevComplete, cs.lastComplete, cs.lastDepth =
		vals[0], vals[1], int(vals[2]), vals[3], vals[4], vals[5], int(vals[6])
	for b := range cs.vol.step {
		for i := range cs.vol.step[b] {
			cs.vol.step[b][i] = math.Float32frombits(uint32(r.u()))
		}
	}
	if n := r.n(); n > 0 {
		cs.vol.prev = make([]uint64, 0, n)
		for ; n > 0 && r.err == nil; n-- {
			cs.vol.prev = append(cs.vol.prev, r.u())
		}
		if r.err == nil && !slices.IsSorted(cs.vol.prev) {
			r.err = errors.New("a chart's last read is out of order")
		}
	}
	for n := r.n(); n > 0 && r.err == nil; n-- {
		id := r.s()
		sr := &series{}
		for m := r.n(); m > 0 && r.err == nil; m-- {
			sr.hist = append(sr.hist, sample{t: uint32(r.u()), rank: uint16(r.u()), depth: uint16(r.u())})
		}
		sr.name, sr.lastRank, sr.seen, sr.absentStreak, sr.exitedAlerted = r.s(), int(r.i()), uint32(r.u()), int(r.i()), r.b()
		sr.up = mark{t: r.i(), rank: int(r.i())}
		sr.down = mark{t: r.i(), rank: int(r.i())}
		cs.apps[id] = sr
	}
	return cs
}

func sortedKeys[K comparable, V any](m map[K]V, name func(K) string) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b K) int { return strings.Compare(name(a), name(b)) })
	return keys
}

// writer appends the state's numbers and strings to buf; with out set,
// spill and flush hand buf to out (the first write error sticks in err).
type writer struct {
	buf []byte
	out io.Writer
	err error
}

// spill writes buf to out once it holds stateChunk bytes.
func (w *writer) spill() {
	if w.out != nil && len(w.buf) >= stateChunk {
		w.flush()
	}
}

func (w *writer) flush() {
	if w.out == nil || len(w.buf) == 0 {
		return
	}
	if w.err == nil {
		_, w.err = w.out.Write(w.buf)
	}
	w.buf = w.buf[:0]
}

func (w *writer) u(v uint64) { w.buf = binary.AppendUvarint(w.buf, v) }
func (w *writer) i(v int64)  { w.buf = binary.AppendVarint(w.buf, v) }
func (w *writer) s(v string) { w.u(uint64(len(v))); w.buf = append(w.buf, v...) }
func (w *writer) b(v bool) {
	if v {
		w.u(1)
	} else {
		w.u(0)
	}
}
func (w *writer) key(k chart.Key) {
	w.s(k.Store)
	w.s(k.Country)
	w.s(k.Chart)
	w.s(k.Category)
}

// reader decodes what writer wrote; the first error sticks and every read
// after it returns zero values.
type reader struct {
	buf []byte
	err error
}

func (r *reader) u() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.err = errors.New("truncated or malformed number")
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) i() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.err = errors.New("truncated or malformed number")
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

// n reads a count, refusing one larger than the bytes left could hold.
func (r *reader) n() int {
	v := r.u()
	if v > uint64(len(r.buf)) {
		if r.err == nil {
			r.err = fmt.Errorf("count %d beyond the %d bytes left", v, len(r.buf))
		}
		return 0
	}
	return int(v)
}

func (r *reader) s() string {
	n := r.n()
	if r.err != nil {
		return ""
	}
	v := string(r.buf[:n])
	r.buf = r.buf[n:]
	return v
}

func (r *reader) b() bool { return r.u() != 0 }

func (r *reader) key() chart.Key {
	return chart.Key{Store: r.s(), Country: r.s(), Chart: r.s(), Category: r.s()}
}
