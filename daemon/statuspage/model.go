package statuspage

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
)

// code is one watched app's standing in one chart at one time, in a byte.
// "Below the chart" and "not known" stay apart, as everywhere.
type code uint8

const (
	codeNone    code = 0   // nothing stored for that time
	maxRank          = 252 // deeper ranks are codeDeep
	codeDeep    code = 253 // ranked, deeper than maxRank
	codeOut     code = 254 // absent from a complete snapshot: below the chart
	codeUnknown code = 255 // absent from an incomplete snapshot: not known
)

func rankCode(rank int) code {
	switch {
	case rank <= 0:
		return codeNone
	case rank > maxRank:
		return codeDeep
	}
	return code(rank)
}

// rank is the rank a ranked code stands for (maxRank+1 for codeDeep), 0 otherwise.
func (c code) rank() int {
	switch {
	case c == codeNone || c > codeDeep:
		return 0
	case c == codeDeep:
		return maxRank + 1
	}
	return int(c)
}

func (c code) ranked() bool { return c != codeNone && c <= codeDeep }
func (c code) known() bool  { return c != codeNone && c != codeUnknown }

// A tier keeps n buckets of width seconds: the 24-hour, 7-day and 30-day
// views. Each bucket holds one snapshot's codes per chart.
type tierID int

const (
	tierDay tierID = iota
	tierWeek
	tierMonth
	numTiers
)

var tiers = [numTiers]struct {
	width int64
	n     int
}{
	tierDay:   {5 * 60, 288},   // 24 h in 5-minute buckets
	tierWeek:  {3600, 168},     // 7 d in hours
	tierMonth: {4 * 3600, 180}, // 30 d in 4-hour buckets
}

// bucketsPerChart is how many buckets every chart keeps over all tiers.
var bucketsPerChart = func() int {
	n := 0
	for _, t := range tiers {
		n += t.n
	}
	return n
}()

// Bucket state bits; the source's index is in the bits above.
const (
	stComplete   = 1 << 0
	stHasEntries = 1 << 1
	stSourceBits = 2
	maxSources   = 1<<(8-stSourceBits) - 1
)

// ring is one tier of one chart: the buckets that hold a snapshot, oldest
// first, each with the slot of the snapshot kept, its state and a code per
// watched app. It is sparse: a chart read hourly fills 24 of the day tier's
// 288 buckets, and one read once (run --once, a fresh start) holds one
// bucket per tier, not 636.
type ring struct {
	head  int64    // absolute index (slot / width) of the newest bucket; -1: none
	slot  []uint32 // per kept bucket, ascending
	state []uint8
	codes []code // bucket-major: codes[i*apps + app]
}

// chartSum is what the status page keeps of one chart.
type chartSum struct {
	key  chart.Key
	apps int // watched apps of the store: len(model.apps[store])

	// The newest snapshot.
	latest   uint32
	complete bool
	depth    int
	entries  int
	source   uint8
	cur      []code // per app

	// Per app, the newest known standing (a rank or "below the chart") and
	// its slot: what a "?" was before.
	known   []code
	knownAt []uint32

	// The newest incomplete snapshot's reason.
	lastErr       string
	lastErrAt     uint32
	lastErrSource uint8

	rings [numTiers]ring
}

// watchApp is a watched app in one store.
type watchApp struct {
	watch string // watch-list name
	id    string
}

type groupKey struct {
	store, chart, category string
}

func (g groupKey) less(o groupKey) int {
	return cmp.Or(
		cmp.Compare(slices.Index(chart.Stores, g.store), slices.Index(chart.Stores, o.store)),
		cmp.Compare(slices.Index(chart.Charts, g.chart), slices.Index(chart.Charts, o.chart)),
		cmp.Compare(categoryOrder(g.category), categoryOrder(o.category)),
		cmp.Compare(g.category, o.category))
}

// categoryOrder puts the overall chart first.
func categoryOrder(category string) int {
	if category == chart.All {
		return 0
	}
	return 1
}

// obs is one stored snapshot as the summaries see it.
type obs struct {
	key      chart.Key
	slot     int64
	complete bool
	depth    int
	entries  int
	source   string
	err      string
	ranks    []int    // per watched app of the store; 0: absent
	names    []string // the store's name of each app found
}

// model holds the summaries behind every page. Its size is bounded by the
// charts seen and the watch list: see bytesPerChart.
type model struct {
	version atomic.Uint64 // bumped by every change

	mu      sync.RWMutex
	apps    map[string][]watchApp     // store → watched apps there, in config order
	index   map[string]map[string]int // store → app id → index in apps
	names   map[string][]string       // store → the store's name of each app, once seen
	charts  map[chart.Key]*chartSum   //
	groups  map[groupKey][]*chartSum  // by country
	sources []string                  // interned source names
	alerts  alertLog                  //
	skipped int                       // unreadable snapshots the rebuild left out
	first   uint32                    // the oldest slot seen
}

func newModel(watch []config.Watch) *model {
	m := &model{
		apps:   map[string][]watchApp{},
		index:  map[string]map[string]int{},
		names:  map[string][]string{},
		charts: map[chart.Key]*chartSum{},
		groups: map[groupKey][]*chartSum{},
		alerts: alertLog{byID: map[string]int{}},
	}
	for _, s := range chart.Stores {
		m.index[s] = map[string]int{}
		for _, w := range watch {
			if id := w.ID(s); id != "" {
				m.index[s][id] = len(m.apps[s])
				m.apps[s] = append(m.apps[s], watchApp{watch: w.Name, id: id})
			}
		}
		m.names[s] = make([]string, len(m.apps[s]))
	}
	return m
}

// bytesPerChart estimates what one chart costs at most: per bucket of every
// tier a slot, a state and a code per watched app (when every bucket holds
// a snapshot); plus the newest standing.
func bytesPerChart(apps int) int {
	return bucketsPerChart*(4+1+apps) + apps*(1+1+4) + 256
}

// observe turns a snapshot into what the summaries keep. It returns false
// for a store the page does not know.
func (m *model) observe(s *chart.Snapshot) (obs, bool) {
	idx, ok := m.index[s.Store]
	if !ok {
		return obs{}, false
	}
	o := obs{key: s.Key(), slot: s.Time.Unix(), complete: s.Complete, depth: s.Depth, entries: len(s.Entries),
		source: s.Source, err: s.Error, ranks: make([]int, len(m.apps[s.Store])), names: make([]string, len(m.apps[s.Store]))}
	for _, e := range s.Entries {
		if i, ok := idx[e.AppID]; ok && o.ranks[i] == 0 {
			o.ranks[i], o.names[i] = e.Rank, e.Name
		}
	}
	return o, true
}

// apply records one snapshot. Applying the same snapshot twice changes
// nothing, and snapshots may come in any order: the rebuild at start and
// the live sweeps overlap.
func (m *model) apply(o obs) {
	if o.slot <= 0 || o.slot > 1<<32-1 {
		return
	}
	slot := uint32(o.slot)
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.chart(o.key)
	if c == nil {
		return
	}
	codes := make([]code, c.apps)
	for i := range codes {
		switch r := o.ranks[i]; {
		case r > 0:
			codes[i] = rankCode(r)
		case o.complete:
			codes[i] = codeOut
		default:
			codes[i] = codeUnknown
		}
	}
	names := m.names[o.key.Store]
	for i, n := range o.names {
		if n != "" && (names[i] == "" || slot >= c.latest) {
			names[i] = n
		}
	}
	st := uint8(m.source(o.source)) << stSourceBits
	if o.complete {
		st |= stComplete
	}
	if o.entries > 0 {
		st |= stHasEntries
	}
	if m.first == 0 || slot < m.first {
		m.first = slot
	}
	if slot >= c.latest {
		c.latest, c.complete, c.depth, c.entries, c.source = slot, o.complete, o.depth, o.entries, st>>stSourceBits
		copy(c.cur, codes)
	}
	for i, cd := range codes {
		if cd.known() && slot >= c.knownAt[i] {
			c.known[i], c.knownAt[i] = cd, slot
		}
	}
	if !o.complete && slot >= c.lastErrAt {
		c.lastErr, c.lastErrAt, c.lastErrSource = o.err, slot, st>>stSourceBits
	}
	for t := range numTiers {
		// The day tier keeps each bucket's newest snapshot (scrape health
		// counts it); the longer ones prefer a complete one.
		c.rings[t].put(t, slot, st, codes, t != tierDay)
	}
	m.version.Add(1)
}

// chart returns the summary of k, creating it. Callers hold m.mu.
func (m *model) chart(k chart.Key) *chartSum {
	if c, ok := m.charts[k]; ok {
		return c
	}
	apps := len(m.apps[k.Store])
	c := &chartSum{key: k, apps: apps, cur: make([]code, apps), known: make([]code, apps), knownAt: make([]uint32, apps)}
	for t := range numTiers {
		c.rings[t] = ring{head: -1}
	}
	m.charts[k] = c
	g := groupKey{k.Store, k.Chart, k.Category}
	list := append(m.groups[g], c)
	slices.SortFunc(list, func(a, b *chartSum) int { return cmp.Compare(a.key.Country, b.key.Country) })
	m.groups[g] = list
	return c
}

func (m *model) source(name string) int {
	if i := slices.Index(m.sources, name); i >= 0 {
		return i
	}
	if len(m.sources) >= maxSources {
		return maxSources
	}
	m.sources = append(m.sources, name)
	return len(m.sources) - 1
}

func (m *model) sourceName(i uint8) string {
	if int(i) < len(m.sources) {
		return m.sources[i]
	}
	return "other"
}

// put stores a snapshot's codes in its bucket. A bucket keeps its newest
// snapshot; with preferComplete, a complete one beats any incomplete one.
func (r *ring) put(t tierID, slot uint32, st uint8, codes []code, preferComplete bool) {
	w, n := tiers[t].width, int64(tiers[t].n)
	idx := int64(slot) / w
	switch {
	case idx > r.head:
		r.head = idx
		r.evict(w, idx-n)
	case idx <= r.head-n:
		return // older than the tier keeps
	}
	apps := len(codes)
	i, found := slices.BinarySearchFunc(r.slot, idx, func(s uint32, idx int64) int { return cmp.Compare(int64(s)/w, idx) })
	if !found {
		r.slot = slices.Insert(r.slot, i, slot)
		r.state = slices.Insert(r.state, i, st)
		r.codes = slices.Insert(r.codes, i*apps, codes...)
		return
	}
	oldComplete, newComplete := r.state[i]&stComplete != 0, st&stComplete != 0
	switch {
	case preferComplete && oldComplete && !newComplete:
		return
	case preferComplete && newComplete && !oldComplete:
	case slot < r.slot[i]:
		return
	}
	r.slot[i], r.state[i] = slot, st
	copy(r.codes[i*apps:], codes)
}

// evict drops the buckets at index oldest and older.
func (r *ring) evict(w, oldest int64) {
	k := 0
	for k < len(r.slot) && int64(r.slot[k])/w <= oldest {
		k++
	}
	if k == 0 {
		return
	}
	apps := len(r.codes) / len(r.slot)
	r.slot = slices.Delete(r.slot, 0, k)
	r.state = slices.Delete(r.state, 0, k)
	r.codes = slices.Delete(r.codes, 0, k*apps)
}

// sample is one bucket of one app's series.
type sample struct {
	t int64 // the slot
	c code
}

// series returns app's samples in chart c from tier t between from and to
// (unix seconds), oldest first. Callers hold m.mu (read).
func (c *chartSum) series(t tierID, app int, from, to int64) []sample {
	r := &c.rings[t]
	var out []sample
	for i, s := range r.slot {
		if int64(s) >= from && int64(s) <= to {
			out = append(out, sample{t: int64(s), c: r.codes[i*c.apps+app]})
		}
	}
	return out
}

// alertLog keeps the newest alerts, one per id (its newest revision).
type alertLog struct {
	byID map[string]int // id → index in list
	list []chart.Alert  // newest first
}

// maxAlerts bounds the alerts the page keeps.
const maxAlerts = 500

func (l *alertLog) add(a chart.Alert) bool {
	if i, ok := l.byID[a.ID]; ok {
		if l.list[i].Revision >= a.Revision {
			return false
		}
		l.list[i] = a
	} else {
		if len(l.list) >= maxAlerts && !a.Time.After(l.list[len(l.list)-1].Time) {
			return false
		}
		l.list = append(l.list, a)
	}
	slices.SortStableFunc(l.list, func(x, y chart.Alert) int {
		return cmp.Or(y.Time.Compare(x.Time), cmp.Compare(x.ID, y.ID))
	})
	if len(l.list) > maxAlerts {
		l.list = l.list[:maxAlerts]
	}
	clear(l.byID)
	for i := range l.list {
		l.byID[l.list[i].ID] = i
	}
	return true
}

func (m *model) addAlerts(as []chart.Alert) {
	if len(as) == 0 {
		return
	}
	m.mu.Lock()
	changed := false
	for _, a := range as {
		changed = m.alerts.add(a) || changed
	}
	m.mu.Unlock()
	if changed {
		m.version.Add(1)
	}
}
