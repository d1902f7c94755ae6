package statuspage

import (
	"bytes"
	"cmp"
	"context"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

// homeView is what the home page template renders.
type homeView struct {
	PageHead
	Ready         bool
	ReadyProblems []string
	Loading       string
	Skipped       int
	Jobs          []jobLine
	Cluster       *Cluster
	FirstSweep    string // "first sweep at 16:07 UTC, in 3 min (job messaging)"
	Moved         []alertCard
	MovedMore     []alertCard
	MovedEmpty    string
	Grids         []template.HTML
	WhereEmpty    string
	Health        []healthLine
	HealthEmpty   string
}

// PageHead is what every page's header and footer show.
type PageHead struct {
	Title, Version, Built, Uptime string
}

type jobLine struct {
	Name, Schedule, Class string
	Swept, Sweeping       bool
	Slot, Ago, Counts     string
	Took, Next            string
	Errors                []string
}

// shownCards are the alerts drawn first; up to maxCards in all.
const (
	shownCards = 6
	maxCards   = 30
)

// RenderHome renders the home page as of now, bypassing the cache (the
// handler serves cached bytes; benchmarks time this, tests compare pages).
func (p *Page) RenderHome(ctx context.Context, now time.Time) []byte {
	return p.renderHome(ctx, now).body
}

func (p *Page) serveHome(w http.ResponseWriter, r *http.Request) {
	now := p.now()
	jobs := p.info.Jobs()
	// Everyone gets these bytes: a client that leaves does not cancel them.
	ctx := context.WithoutCancel(r.Context())
	out := p.home.get(p.homeKey(jobs), now, func() *rendered { return p.renderHome(ctx, now) })
	serve(w, r, out)
}

// homeKey changes whenever the home page would: the summaries, the jobs'
// sweeps and next runs, the rebuild.
func (p *Page) homeKey(jobs []Job) string {
	var b strings.Builder
	b.WriteString(strconv.FormatUint(p.m.version.Load(), 10))
	for _, j := range jobs {
		b.WriteString("|" + j.Name + "@" + strconv.FormatInt(j.Next.Unix(), 10) + strconv.FormatBool(j.Sweeping))
		if j.Last != nil {
			b.WriteString(":" + strconv.FormatInt(j.Last.Slot.Unix(), 10) + "/" + strconv.FormatInt(int64(j.Last.Duration), 10))
		}
	}
	pr := p.getProgress()
	b.WriteString("|" + strconv.FormatBool(pr.done) + strconv.Itoa(pr.read))
	b.WriteString(p.cluster().key())
	return b.String()
}

func (p *Page) head(title string, now time.Time) PageHead {
	return PageHead{Title: title, Version: p.version, Built: now.UTC().Format(timeLayout), Uptime: roughDuration(now.Sub(p.started))}
}

func (p *Page) renderHome(ctx context.Context, now time.Time) *rendered {
	jobs := p.info.Jobs()
	key := p.homeKey(jobs)
	v := homeView{PageHead: p.head("rankpulse · status", now)}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v.Ready, v.ReadyProblems = p.info.Ready(ctx)
	v.Loading = p.loadingNote(now)
	v.Jobs = jobLines(jobs, now)
	v.Cluster = p.cluster()
	v.FirstSweep = firstSweep(jobs, now)

	p.m.mu.RLock()
	v.Skipped = p.m.skipped
	cards := p.alertCards(now)
	grids := p.m.gridViews(now)
	v.Health = p.m.healthLines(now)
	empty := len(p.m.charts) == 0
	p.m.mu.RUnlock()

	v.Moved, v.MovedMore = cards[:min(len(cards), shownCards)], cards[min(len(cards), shownCards):]
	for i := range grids {
		v.Grids = append(v.Grids, grids[i].html())
	}
	when := "after the first sweep"
	if v.FirstSweep != "" {
		when = "after the " + v.FirstSweep
	}
	switch {
	case len(cards) > 0:
	case empty:
		v.MovedEmpty = "No alerts yet. Alerts compare each app with its own recent history, so the first can come about " +
			roughDuration(p.cfg.Alerts.MinSpan.D()) + " " + when + "."
	default:
		v.MovedEmpty = "No alerts yet: nothing moved suddenly. Each app is compared with its own last " +
			roughDuration(p.cfg.Alerts.MinSpan.D()) + " or more, so a new chart needs that much history before it can alert."
		if p.cfg.Alerts.WatchOnly {
			v.MovedEmpty += " Only watched apps alert (alerts.watch_only)."
		}
	}
	switch {
	case len(p.cfg.Watch) == 0:
		v.WhereEmpty = "No apps on the watch list: add some under watch: in the config."
	case empty:
		v.WhereEmpty = "Ranks appear here as the " + strings.TrimPrefix(when, "after the ") + " stores each chart."
	case len(grids) == 0:
		v.WhereEmpty = "No chart of a store with watched apps has been read in the last 48 hours."
	}
	if len(v.Health) == 0 {
		v.HealthEmpty = "Each source's share of charts read in full, and its last errors, appear here " + when + "."
		if !empty {
			v.HealthEmpty = "Nothing read in the last 24 hours."
		}
	}
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, "home", v); err != nil {
		p.log.Error("status page not rendered", "error", err)
		return newRendered([]byte("status page: "+template.HTMLEscapeString(err.Error())), key, now, http.StatusInternalServerError)
	}
	return newRendered(buf.Bytes(), key, now, http.StatusOK)
}

func (p *Page) loadingNote(now time.Time) string {
	pr := p.getProgress()
	switch {
	case !pr.started || (pr.done && pr.err == nil):
		return ""
	case pr.done:
		return "The history could not be read from the embedded store (" + pr.err.Error() + "); the pages show what was read and what arrives from now on."
	case !pr.week:
		return "Loading the last 7 days from the embedded store (" + loaded(pr) + "): the grid and plots fill in as it goes."
	default:
		return "The last 7 days are in; loading the rest of the last 30 days (" + loaded(pr) + ")."
	}
}

func loaded(pr progress) string {
	span := pr.to.Sub(pr.from)
	if span <= 0 || pr.reached.Before(pr.from) {
		return "starting"
	}
	pct := min(99, int(100*pr.reached.Sub(pr.from)/span))
	return strconv.Itoa(pct) + " %, " + thousands(pr.read) + " snapshots"
}

func jobLines(jobs []Job, now time.Time) []jobLine {
	var out []jobLine
	for _, j := range jobs {
		l := jobLine{Name: j.Name, Schedule: j.Schedule, Class: "muted", Sweeping: j.Sweeping}
		if !j.Next.IsZero() {
			l.Next = clock(j.Next, now) + " (" + ago(j.Next, now) + ")"
		}
		if s := j.Last; s != nil {
			l.Swept = true
			l.Slot, l.Ago, l.Took = clock(s.Slot, now), ago(s.Slot, now), fmtDuration(s.Duration)
			l.Counts = thousands(s.Complete) + " of " + thousands(s.Charts) + " charts read in full"
			if n := s.Incomplete + s.Failed; n > 0 {
				l.Counts += " (" + strconv.Itoa(s.Incomplete) + " partly, " + strconv.Itoa(s.Failed) + " not at all)"
			}
			if s.StoreErrs > 0 {
				l.Counts += ", " + strconv.Itoa(s.StoreErrs) + " not stored"
			}
			if s.Alerts > 0 {
				l.Counts += ", " + strconv.Itoa(s.Alerts) + " " + plural(s.Alerts, "alert", "alerts")
			}
			l.Errors = s.Errors
			switch {
			case s.Charts > 0 && s.Failed == s.Charts:
				l.Class = "bad"
			case s.Incomplete+s.Failed+s.StoreErrs > 0:
				l.Class = "warn"
			default:
				l.Class = "ok"
			}
		}
		out = append(out, l)
	}
	return out
}

// firstSweep names the sweep under way of a job that has not swept yet,
// or else the next run of one.
func firstSweep(jobs []Job, now time.Time) string {
	var next time.Time
	name := ""
	for _, j := range jobs {
		if j.Last == nil && j.Sweeping {
			return "first sweep under way (job " + j.Name + "): ranks appear as the charts come in"
		}
		if j.Last == nil && !j.Next.IsZero() && (next.IsZero() || j.Next.Before(next)) {
			next, name = j.Next, j.Name
		}
	}
	if next.IsZero() {
		return ""
	}
	return "first sweep at " + clock(next, now) + " UTC, " + ago(next, now) + " (job " + name + ")"
}

// healthLine is one source of one store over the last 24 hours.
type healthLine struct {
	Store, Source, Class string
	Percent              string
	Reads, Complete      string
	Partial, Failed      int
	Newest               string
	Errors               []errLine
}

type errLine struct {
	When, Chart, Text, Href string
}

// healthErrors is how many recent errors each source lists.
const healthErrors = 5

// healthLines counts, per store and source, the chart reads of the last
// 24 hours (each chart's newest read of every 5 minutes) and collects the
// newest errors. Callers hold m.mu (read).
func (m *model) healthLines(now time.Time) []healthLine {
	type key struct {
		store string
		src   uint8
	}
	type acc struct {
		reads, complete, partial, failed int
		newest                           uint32
		errs                             []*chartSum
	}
	since := now.Add(-24 * time.Hour).Unix()
	accs := map[key]*acc{}
	get := func(k key) *acc {
		a := accs[k]
		if a == nil {
			a = &acc{}
			accs[k] = a
		}
		return a
	}
	for _, c := range m.charts {
		r := &c.rings[tierDay]
		for p, s := range r.slot {
			if int64(s) < since {
				continue
			}
			st := r.state[p]
			a := get(key{c.key.Store, st >> stSourceBits})
			a.reads++
			a.newest = max(a.newest, s)
			switch {
			case st&stComplete != 0:
				a.complete++
			case st&stHasEntries != 0:
				a.partial++
			default:
				a.failed++
			}
		}
		if c.lastErrAt != 0 && int64(c.lastErrAt) >= since {
			a := get(key{c.key.Store, c.lastErrSource})
			a.errs = append(a.errs, c)
		}
	}
	keys := make([]key, 0, len(accs))
	for k := range accs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(slices.Index(chart.Stores, a.store), slices.Index(chart.Stores, b.store)), cmp.Compare(m.sourceName(a.src), m.sourceName(b.src)))
	})
	var out []healthLine
	for _, k := range keys {
		a := accs[k]
		h := healthLine{Store: chart.StoreName(k.store), Source: m.sourceName(k.src), Percent: percent(a.complete, a.reads),
			Reads: thousands(a.reads), Complete: thousands(a.complete), Partial: a.partial, Failed: a.failed}
		if a.newest != 0 {
			h.Newest = clock(time.Unix(int64(a.newest), 0), now)
		}
		switch {
		case a.reads == 0:
			h.Class = "muted"
		case a.complete == a.reads:
			h.Class = "ok"
		case a.complete*10 >= a.reads*9:
			h.Class = "warn"
		default:
			h.Class = "bad"
		}
		slices.SortFunc(a.errs, func(x, y *chartSum) int {
			return cmp.Or(cmp.Compare(y.lastErrAt, x.lastErrAt), cmp.Compare(x.key.String(), y.key.String()))
		})
		for _, c := range a.errs[:min(len(a.errs), healthErrors)] {
			h.Errors = append(h.Errors, errLine{When: clock(time.Unix(int64(c.lastErrAt), 0), now), Chart: c.key.Describe(),
				Text: truncate(c.lastErr, 600), Href: chartHref(c.key)})
		}
		out = append(out, h)
	}
	return out
}
