package alerts

// Multi-country surges. The rule: when one app surges or enters in
// multi_country.min_countries countries of a store within
// multi_country.window, the engine raises one critical multi_country_surge
// naming every one of those countries — all the countries of the
// evaluation that opens it go into the first notice — and folds their
// per-country alerts into it. Countries that join while it is open update
// it: the same id, the next revision, every country named, at most one
// update per evaluation. The event closes when a whole window passes
// without a rise of the app in any country.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

type event struct {
	open     bool
	id       string
	start    int64
	last     int64            // the newest rise folded into the open event
	members  map[string]int64 // country → when it joined
	revision int
	chartKey chart.Key
}

// lastActivity is the newest rise or join.
func (ev *event) lastActivity() int64 {
	last := ev.last
	for _, jt := range ev.members {
		last = max(last, jt)
	}
	return last
}

// foldMultiCountry passes an evaluation's rises through the multi-country
// grouping and returns the alerts to raise: per-country ones for apps below
// the threshold, one notice or update per event otherwise.
func (e *Engine) foldMultiCountry(ups []candidate, t int64) []chart.Alert {
	slices.SortStableFunc(ups, func(a, b candidate) int {
		return strings.Compare(a.a.Store+"\x00"+a.a.AppID+"\x00"+a.key.String(), b.a.Store+"\x00"+b.a.AppID+"\x00"+b.key.String())
	})
	var out []chart.Alert
	for i := 0; i < len(ups); {
		j := i + 1
		for j < len(ups) && ups[j].a.Store == ups[i].a.Store && ups[j].a.AppID == ups[i].a.AppID {
			j++
		}
		out = append(out, e.foldApp(ups[i:j], t)...)
		i = j
	}
	return out
}

// foldApp folds one app's rises of one evaluation.
func (e *Engine) foldApp(ups []candidate, t int64) []chart.Alert {
	window := int64(e.cfg.MultiCountry.Window.D() / time.Second)
	ek := eventKey{ups[0].a.Store, ups[0].a.AppID}
	ev := e.events[ek]
	if ev == nil {
		ev = &event{members: map[string]int64{}}
		e.events[ek] = ev
	}
	if ev.open && t-ev.last > window {
		*ev = event{members: map[string]int64{}} // a whole window without a rise: over
	}
	if !ev.open {
		for cc, jt := range ev.members {
			if t-jt > window {
				delete(ev.members, cc)
			}
		}
	}
	joined := false
	for _, c := range ups {
		if _, ok := ev.members[c.key.Country]; !ok {
			ev.members[c.key.Country] = t
			joined = true
		}
	}
	switch {
	case ev.open:
		ev.last = t
		if !joined {
			return nil // folded into the open event
		}
		ev.revision++
		return []chart.Alert{e.multiAlert(ev, ups[0].a, t)}
	case len(ev.members) < e.cfg.MultiCountry.MinCountries:
		return alertsOf(ups)
	}
	ev.open = true
	ev.start = t
	for _, jt := range ev.members {
		ev.start = min(ev.start, jt)
	}
	ev.id = chart.AlertID(chart.KindMultiCountry, ek.store, ek.app, fmt.Sprint(ev.start))
	ev.last, ev.revision, ev.chartKey = t, 0, ups[0].key
	return []chart.Alert{e.multiAlert(ev, ups[0].a, t)}
}

func (e *Engine) multiAlert(ev *event, trigger chart.Alert, t int64) chart.Alert {
	countries := make([]string, 0, len(ev.members))
	for cc := range ev.members {
		countries = append(countries, cc)
	}
	slices.Sort(countries)
	names := make([]string, len(countries))
	for i, cc := range countries {
		names[i] = strings.ToUpper(cc)
	}
	within := ""
	if t > ev.start {
		within = " within" + since(ev.start, t)[3:]
	}
	return chart.Alert{
		ID:        ev.id,
		Kind:      chart.KindMultiCountry,
		Severity:  chart.SeverityCritical,
		Time:      time.Unix(t, 0).UTC(),
		Store:     trigger.Store,
		Chart:     ev.chartKey.Chart,
		Category:  ev.chartKey.Category,
		AppID:     trigger.AppID,
		AppName:   trigger.AppName,
		Watch:     trigger.Watch,
		Countries: countries,
		Summary: fmt.Sprintf("%s surged in %d countries on %s%s: %s", named(trigger.AppName, trigger.AppID), len(countries),
			chart.StoreName(trigger.Store), within, strings.Join(names, ", ")),
		Revision: ev.revision,
	}
}
