package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

// Three instances each own a third of the countries; a surge spanning all
// three (Telegram entering at #1 in six countries in one slot) is one
// multi_country_surge naming every country, delivered once — not six
// entries, and not one alert per instance.
func TestMultiCountrySurgeAcrossThreeInstances(t *testing.T) {
	countries := []string{"us", "gb", "de", "fr", "it", "es"}
	every := 4 * time.Second
	w := newWorld(t, "@every 4s", countries, "all")
	for _, cc := range countries {
		w.placeAt(cc, chart.All, telegram, 0)
	}
	owners := map[string][]string{"a": {"us", "gb"}, "b": {"de", "fr"}, "c": {"it", "es"}}
	for _, name := range []string{"a", "b", "c"} {
		w.start(name, owners[name], "")
	}
	surgeSlot := w.afterEvaluation(len(countries), every, 1500*time.Millisecond, 1)
	for _, cc := range countries {
		w.placeAt(cc, chart.All, telegram, 1)
	}
	w.waitFor("the multi-country alert", 40*time.Second, func() bool { return len(w.delivered()) > 0 })
	w.afterEvaluation(len(countries), every, 0, len(w.evaluatedSlots(len(countries)))+1) // one more slot: nothing else comes
	ds := w.deliveredOnce()
	if len(ds) != 1 {
		t.Fatalf("%d deliveries, want one alert: %+v", len(ds), ds)
	}
	a := ds[0].alert
	got := slices.Clone(a.Countries)
	slices.Sort(got)
	want := slices.Clone(countries)
	slices.Sort(want)
	if a.Kind != chart.KindMultiCountry || a.AppID != telegram || !slices.Equal(got, want) || !a.Time.Equal(surgeSlot) {
		t.Fatalf("alert %s at %s naming %v, want %s at %s naming %v", a.Kind, a.Time, a.Countries, chart.KindMultiCountry, surgeSlot, want)
	}
	// Each instance fetched its own countries and only those.
	rows, err := w.conn.Query(context.Background(), `SELECT DISTINCT country, done_by FROM fetch_tasks WHERE state = 'done'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var cc, by string
		rows.Scan(&cc, &by)
		if !slices.Contains(owners[by], cc) {
			t.Errorf("%s fetched by %s, which owns %v", cc, by, owners[by])
		}
	}
}

// A ban seen by one instance (Telegram gone from every Turkish chart)
// while another still lists the app (in the US) is a `removed` alert: the
// evaluator sees both countries, whoever fetched them.
func TestBanSeenByOneInstanceWhileAnotherListsTheAppIsRemoved(t *testing.T) {
	countries := []string{"tr", "us"}
	every := 4 * time.Second
	w := newWorld(t, "@every 4s", countries, `all, "6005"`)
	for _, cc := range countries {
		for _, cat := range []string{chart.All, "6005"} {
			w.placeAt(cc, cat, telegram, 3)
		}
	}
	w.start("turkey", []string{"tr"}, "")
	w.start("usa", []string{"us"}, "")
	w.afterEvaluation(4, every, 1500*time.Millisecond, 2) // two slots with Telegram listed
	w.apple.Remove("tr", telegram)
	w.waitFor("the removed alert", 40*time.Second, func() bool {
		for _, d := range w.delivered() {
			if d.alert.Kind == chart.KindRemoved {
				return true
			}
		}
		return false
	})
	w.afterEvaluation(4, every, 0, len(w.evaluatedSlots(4))+1)
	var removed []chart.Alert
	for _, d := range w.deliveredOnce() {
		if d.alert.Kind == chart.KindRemoved {
			removed = append(removed, d.alert)
		}
		if d.alert.Kind == chart.KindExited {
			t.Errorf("an exit was not folded into the removal: %s", d.alert.Summary)
		}
	}
	if len(removed) != 1 || removed[0].CountryCode() != "tr" || removed[0].AppID != telegram || !strings.Contains(removed[0].Summary, "1 other countries") {
		t.Fatalf("removed alerts %+v", removed)
	}
	if n := w.queryInt(`SELECT count(DISTINCT done_by) FROM fetch_tasks WHERE state = 'done'`); n != 2 {
		t.Fatalf("%d instances fetched, want both", n)
	}
}

// One of three instances is killed with SIGKILL in the middle of a sweep,
// holding leases: the others finish its charts within the slot, every
// chart of the slot is stored once and complete, and the slot's alert is
// delivered exactly once.
func TestInstanceKilledMidSweep(t *testing.T) {
	countries := []string{"us", "gb", "de", "fr", "it", "es", "nl", "se", "no", "pl"}
	every := 8 * time.Second
	w := newWorld(t, "@every 8s", countries, `all, "6005"`)
	w.apple.Latency = 120 * time.Millisecond
	for _, cc := range countries {
		w.placeAt(cc, chart.All, telegram, 0)
	}
	slow := "    rate: 6\n    concurrency: 1\n"
	for _, name := range []string{"a", "b", "c"} {
		w.start(name, nil, slow)
	}
	n := 2 * len(countries)
	slot := w.afterEvaluation(n, every, 3*time.Second, 1)
	for _, cc := range countries[:4] {
		w.placeAt(cc, chart.All, telegram, 1)
	}
	// Kill a fetcher (not the evaluator) once it has fetched in the slot and
	// still holds leases.
	victim := ""
	w.waitFor("an instance mid-sweep", 30*time.Second, func() bool {
		rows, err := w.conn.Query(context.Background(), `
			SELECT i.id FROM instances i
			WHERE i.lock_pid = 0
				AND EXISTS (SELECT 1 FROM fetch_tasks t WHERE t.slot = $1 AND t.done_by = i.id)
				AND EXISTS (SELECT 1 FROM fetch_tasks t WHERE t.slot = $1 AND t.state = 'open' AND t.owner LIKE i.id || '/%')`, slot.Unix())
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		if rows.Next() {
			rows.Scan(&victim)
			return true
		}
		return false
	})
	w.kill(victim)
	w.waitFor("the slot evaluated", 30*time.Second, func() bool {
		return w.queryInt(`SELECT count(*) FROM snapshots WHERE slot = $1 AND evaluated AND complete`, slot.Unix()) == n
	})
	if got := w.queryInt(`SELECT count(*) FROM fetch_tasks WHERE slot = $1 AND state = 'done'`, slot.Unix()); got != n {
		t.Fatalf("%d of %d fetches done", got, n)
	}
	taken := w.queryInt(`SELECT count(*) FROM fetch_tasks WHERE slot = $1 AND attempts > 1 AND done_by <> $2`, slot.Unix(), victim)
	if taken == 0 {
		t.Fatalf("no fetch of %s was taken over", victim)
	}
	w.waitFor("the alert delivered", 30*time.Second, func() bool { return len(w.delivered()) > 0 })
	w.afterEvaluation(n, every, 0, len(w.evaluatedSlots(n))+1)
	ds := w.deliveredOnce()
	if len(ds) != 1 || ds[0].alert.Kind != chart.KindMultiCountry || len(ds[0].alert.Countries) != 4 {
		var got []string
		for _, d := range ds {
			got = append(got, fmt.Sprintf("%s %v", d.alert.Kind, d.alert.Countries))
		}
		t.Fatalf("deliveries %v, want one multi-country alert naming 4 countries", got)
	}
	t.Logf("killed %s mid-sweep; %d of its fetches were finished by others", victim, taken)
}

// The evaluator dies at the worst moment: it has written the slot's points
// and its alert to InfluxDB and is about to commit the evaluation
// (RANKPULSE_FAILPOINT kills it with SIGKILL there). Another instance takes
// the lock, evaluates the slot again and delivers: the alert is stored and
// delivered once, and InfluxDB holds one point per app of each chart of
// the slot and one rank_alert point — the rewrite overwrote, it added
// nothing.
func TestEvaluatorKilledBeforeCommitNothingDoubled(t *testing.T) {
	countries := []string{"us", "gb", "de"}
	every := 4 * time.Second
	w := newWorld(t, "@every 4s", countries, "all")
	influx, db := influxWorld(t)
	w.extra = fmt.Sprintf("sinks:\n  influxdb: {url: %s, bucket: %s}\n", influx.URL, db)
	for _, cc := range countries {
		w.placeAt(cc, chart.All, telegram, 0)
	}
	w.start("doomed", nil, "", "RANKPULSE_FAILPOINT=cluster.evaluate.before-commit")
	w.waitFor("doomed to hold the evaluator lock", 20*time.Second, func() bool {
		return w.queryInt(`SELECT count(*) FROM instances WHERE id = 'doomed' AND lock_pid <> 0`) == 1
	})
	w.start("heir", nil, "")
	slot := w.afterEvaluation(len(countries), every, 1500*time.Millisecond, 1)
	for _, cc := range countries {
		w.placeAt(cc, chart.All, telegram, 1)
	}
	w.mu.Lock()
	doomed := w.procs["doomed"]
	w.mu.Unlock()
	select {
	case <-doomed.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the evaluator did not reach the failpoint")
	}
	w.waitFor("the heir to evaluate the slot", 30*time.Second, func() bool {
		return w.queryInt(`SELECT count(*) FROM snapshots WHERE slot = $1 AND evaluated`, slot.Unix()) == len(countries)
	})
	w.waitFor("the alert delivered", 30*time.Second, func() bool { return len(w.delivered()) > 0 })
	w.afterEvaluation(len(countries), every, 0, len(w.evaluatedSlots(len(countries)))+1)
	ds := w.deliveredOnce()
	if len(ds) != 1 || ds[0].alert.Kind != chart.KindMultiCountry || !ds[0].alert.Time.Equal(slot) {
		t.Fatalf("deliveries %+v, want one multi-country alert at %s", ds, slot)
	}
	if !strings.Contains(doomed.log.String(), "now evaluates alerts") || strings.Contains(doomed.log.String(), "slot evaluated for the cluster\" slot="+slot.Format("2006-01-02T15:04:05.000Z")) {
		t.Fatalf("the doomed instance's log does not show it led and died before committing the slot:\n%s", lastLines(doomed.log.String(), 20))
	}
	at := fmt.Sprintf("time >= %ds AND time < %ds", slot.Unix(), slot.Unix()+1)
	res := influx.Query(t, db, `SELECT count("rank") FROM "app_rank" WHERE `+at+`; SELECT count("summary") FROM "rank_alert"; SELECT count("entries") FROM "chart_scrape" WHERE `+at)
	counts := make([]float64, 3)
	for i, r := range res.Results {
		if len(r.Series) > 0 {
			if n, ok := r.Series[0].Values[0][1].(json.Number); ok {
				counts[i], _ = n.Float64()
			}
		}
	}
	if counts[0] != float64(100*len(countries)) || counts[1] != 1 || counts[2] != float64(len(countries)) {
		t.Fatalf("InfluxDB at the slot: %v app_rank, %v rank_alert, %v chart_scrape points; want %d, 1, %d", counts[0], counts[1], counts[2], 100*len(countries), len(countries))
	}
}
