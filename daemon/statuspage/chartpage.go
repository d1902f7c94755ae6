package statuspage

import (
	"bytes"
	"context"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

// chartRowsShown are the ranks a chart page shows before the rest collapse;
// leftShown the apps listed as having left since 24 hours ago.
const (
	chartRowsShown = 25
	leftShown      = 20
)

type chartView struct {
	PageHead
	Heading  string
	Key      chart.Key
	Meta     string
	Problem  string // why the newest read is incomplete
	Compare  string // what the change column compares with
	Rows     []chartRow
	More     []chartRow
	Left     []chartRow
	LeftMore int
	Empty    string
}

type chartRow struct {
	Rank                   string
	Name, Developer, AppID string
	Watch, WatchHref       string
	Change, ChangeClass    string
	ChangeTitle            string
}

func (p *Page) serveChart(w http.ResponseWriter, r *http.Request) {
	k := chart.Key{Store: r.PathValue("store"), Country: r.PathValue("country"), Chart: r.PathValue("chart"), Category: r.PathValue("category")}
	if !chart.ValidStore(k.Store) || !chart.ValidCountry(k.Country) || !chart.ValidChart(k.Chart) || !chart.ValidCategory(k.Category) {
		p.serveError(w, r, http.StatusNotFound, "There is no chart "+strconv.Quote(k.String())+": the address is /chart/store/country/chart/category, e.g. /chart/appstore/us/top-free/all.", []link{{"status", "/"}})
		return
	}
	p.m.mu.RLock()
	c, known := p.m.charts[k]
	key := "unknown"
	if known {
		key = strconv.FormatUint(uint64(c.latest), 10)
	}
	p.m.mu.RUnlock()
	p.cached(w, r, &p.charts, k.String(), key, func(now time.Time) *rendered {
		v, status := p.chartView(r.Context(), k, now)
		var buf bytes.Buffer
		if err := templates.ExecuteTemplate(&buf, "chart", v); err != nil {
			p.log.Error("chart page not rendered", "chart", k.String(), "error", err)
			return newRendered([]byte("chart page: "+template.HTMLEscapeString(err.Error())), key, now, http.StatusInternalServerError)
		}
		return newRendered(buf.Bytes(), key, now, status)
	})
}

// chartView reads the chart's newest snapshot and the one 24 hours before
// it (two reads through the chart's index) and compares them.
func (p *Page) chartView(ctx context.Context, k chart.Key, now time.Time) (chartView, int) {
	v := chartView{PageHead: p.head(k.Describe()+" · rankpulse", now), Key: k,
		Heading: chart.CountryName(k.Country) + " · " + k.ChartTitle() + " · " + chart.StoreName(k.Store)}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cur, ok, err := p.db.SnapshotBefore(ctx, k, now.Add(time.Hour))
	if err != nil {
		v.Empty = "The chart could not be read from the embedded store: " + err.Error()
		return v, http.StatusInternalServerError
	}
	if !ok {
		v.Empty = "rankpulse has stored no snapshot of this chart."
		if next := nextRun(p.info.Jobs()); !next.IsZero() {
			v.Empty += " If a job sweeps it, it appears after the next sweep at " + clock(next, now) + " UTC, " + ago(next, now) + "."
		}
		return v, http.StatusNotFound
	}
	v.Meta = "Read at " + clock(cur.Time, now) + " UTC (" + ago(cur.Time, now) + ") from " + cur.Source + ": " + strconv.Itoa(len(cur.Entries)) + " entries"
	if cur.Complete {
		v.Meta += ", in full to #" + strconv.Itoa(cur.Depth) + "."
	} else {
		v.Meta += "."
		v.Problem = "This read is incomplete: apps missing from it are not known, not below the chart. " + truncate(cur.Error, 600)
	}
	prev, ok, err := p.db.SnapshotBefore(ctx, k, cur.Time.Add(-24*time.Hour+time.Second))
	switch {
	case err != nil:
		v.Compare = "The snapshot of 24 hours before could not be read: " + err.Error()
	case ok:
		v.Compare = "Change against " + clock(prev.Time, now) + " UTC, 24 hours before"
	default:
		prev, ok, err = p.db.SnapshotAfter(ctx, k, time.Time{})
		switch {
		case err != nil:
			v.Compare = "The oldest snapshot could not be read: " + err.Error()
		case ok && prev.Time.Before(cur.Time):
			v.Compare = "Change against " + clock(prev.Time, now) + " UTC, the oldest snapshot (24 hours of history are not stored yet)"
		default:
			ok = false
			v.Compare = "No earlier snapshot to compare with yet."
		}
	}
	var before map[string]int
	if ok && err == nil {
		before = make(map[string]int, len(prev.Entries))
		for _, e := range prev.Entries {
			before[e.AppID] = e.Rank
		}
	}
	watch := p.cfg.WatchIndex()[k.Store]
	now24 := map[string]bool{}
	for i, e := range cur.Entries {
		row := chartRow{Rank: strconv.Itoa(e.Rank), Name: cmpOr(e.Name, "app "+e.AppID), Developer: e.Developer, AppID: e.AppID, Watch: watch[e.AppID]}
		if row.Watch != "" {
			row.WatchHref = appHref(row.Watch, "", groupID(groupKey{k.Store, k.Chart, k.Category}))
		}
		now24[e.AppID] = true
		if before != nil {
			row.Change, row.ChangeClass, row.ChangeTitle = change(e.AppID, e.Rank, before, &prev)
		}
		if i < chartRowsShown {
			v.Rows = append(v.Rows, row)
		} else {
			v.More = append(v.More, row)
		}
	}
	if before != nil && cur.Complete {
		for _, e := range prev.Entries {
			if now24[e.AppID] {
				continue
			}
			if len(v.Left) == leftShown {
				v.LeftMore++
				continue
			}
			v.Left = append(v.Left, chartRow{Rank: "was #" + strconv.Itoa(e.Rank), Name: cmpOr(e.Name, "app "+e.AppID), AppID: e.AppID, Watch: watch[e.AppID]})
		}
	}
	return v, http.StatusOK
}

// change is an app's move since the earlier snapshot: up, down, level,
// new in the chart, or not known (the earlier read was incomplete).
func change(appID string, rank int, before map[string]int, prev *chart.Snapshot) (text, class, title string) {
	was, ok := before[appID]
	at := prev.Time.UTC().Format(timeLayout)
	switch {
	case ok && was > rank:
		return "▲ " + strconv.Itoa(was-rank), "up", "#" + strconv.Itoa(was) + " at " + at
	case ok && was < rank:
		return "▼ " + strconv.Itoa(rank-was), "down", "#" + strconv.Itoa(was) + " at " + at
	case ok:
		return "=", "level", "#" + strconv.Itoa(was) + " at " + at
	case prev.Complete:
		return "new", "new", "below the top " + strconv.Itoa(prev.Depth) + " at " + at
	}
	return "?", "unknown", "not known at " + at + ": that read was incomplete"
}
