package alerts

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

func (e *Engine) alert(kind, severity string, key chart.Key, app, name string, t int64, from, to *int, summary string) chart.Alert {
	a := chart.Alert{
		ID:       chart.AlertID(kind, key.Store, key.Country, key.Chart, key.Category, app, fmt.Sprint(t)),
		Kind:     kind,
		Severity: severity,
		Time:     time.Unix(t, 0).UTC(),
		Store:    key.Store,
		Country:  chart.Ptr(key.Country),
		Chart:    key.Chart,
		Category: key.Category,
		AppID:    app,
		AppName:  name,
		FromRank: from,
		ToRank:   to,
		Summary:  summary,
	}
	if w, ok := e.watch[key.Store][app]; ok {
		a.Watch = chart.Ptr(w)
	}
	return a
}

// named is how a summary calls an app: its store name, or its id when the
// store gave no name (a failed App Store lookup leaves names empty).
func named(name, id string) string {
	if name == "" {
		return id
	}
	return name
}

func rankPtr(s sample) *int {
	if s.rank == 0 {
		return nil
	}
	return chart.Ptr(int(s.rank))
}

func rankText(s sample) string {
	if s.rank == 0 {
		return fmt.Sprintf("below #%d", s.depth)
	}
	return fmt.Sprintf("#%d", s.rank)
}

// since says how long a move took: " in 19h", " in 3d", " in 40m".
func since(from, t int64) string {
	d := time.Duration(t-from) * time.Second
	switch {
	case d <= 0:
		return ""
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf(" in %dd", d/(24*time.Hour))
	case d >= 72*time.Hour:
		return fmt.Sprintf(" in %.1fd", d.Hours()/24)
	case d >= time.Hour:
		return fmt.Sprintf(" in %dh", (d+30*time.Minute)/time.Hour)
	}
	return fmt.Sprintf(" in %dm", d/time.Minute)
}

// sortCandidates orders candidates by chart, then app: alerts come out in
// the same order whatever order the engine found them in.
func sortCandidates(cs []candidate) {
	slices.SortFunc(cs, func(a, b candidate) int {
		if c := strings.Compare(a.key.String(), b.key.String()); c != 0 {
			return c
		}
		return strings.Compare(a.a.AppID, b.a.AppID)
	})
}
