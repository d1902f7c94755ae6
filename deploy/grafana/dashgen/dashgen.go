// Package dashgen defines rankpulse's Grafana dashboards in Go and writes
// them as the JSON files under deploy/grafana/dashboards (go generate in
// deploy/). Queries use only the InfluxDB schema of SPEC §5; the deploy
// tests run each of them against a real InfluxDB 1.8.
package dashgen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Datasource uids, as provisioned in deploy/grafana/provisioning.
const (
	InfluxQL = "rankpulse-influxql"
	Flux     = "rankpulse-flux"
)

// M is a JSON object.
type M = map[string]any

func ds(uid string) M { return M{"type": "influxdb", "uid": uid} }

// variable is a query template variable. A single-value variable starts
// unset (Grafana picks the first value); a multi-value one on All.
func variable(uid, name, label, query string, multi bool) M {
	v := M{
		"name": name, "label": label, "type": "query", "datasource": ds(uid),
		"query": query, "definition": query, "refresh": 2, "sort": 1,
		"multi": multi, "includeAll": multi, "current": M{"text": "", "value": ""},
	}
	if multi {
		v["allValue"] = ".*"
		v["current"] = M{"text": []string{"All"}, "value": []string{"$__all"}}
	}
	return v
}

func influxqlTarget(query, alias string) M {
	return M{"refId": "A", "datasource": ds(InfluxQL), "query": query, "rawQuery": true, "resultFormat": "time_series", "alias": alias}
}

// tableOptions are a table panel's options, sorted by a column.
func tableOptions(sortBy string, desc bool) M {
	o := M{"showHeader": true, "frameIndex": 0}
	if sortBy != "" {
		o["sortBy"] = []M{{"displayName": sortBy, "desc": desc}}
	}
	return o
}

// legendTable is a time series' legend: a table on the right.
func legendTable() M {
	return M{"legend": M{"showLegend": true, "displayMode": "table", "placement": "right", "calcs": []string{"lastNotNull", "min"}}, "tooltip": M{"mode": "multi", "sort": "asc"}}
}

func tableTarget(ref, query string) M {
	return M{"refId": ref, "datasource": ds(InfluxQL), "query": query, "rawQuery": true, "resultFormat": "table"}
}

func fluxTarget(query string) M {
	return M{"refId": "A", "datasource": ds(Flux), "query": query}
}

func gridPos(x, y, w, h int) M { return M{"x": x, "y": y, "w": w, "h": h} }

// rankAxis draws rank 1 at the top: Grafana has no inverted axis, so the
// numbers are plotted negated (negative-Y); tooltips and legends keep the
// real ranks.
func rankAxis() M {
	return M{
		"defaults": M{
			"decimals": 0, "unit": "none",
			"custom": M{"lineInterpolation": "stepAfter", "spanNulls": false, "showPoints": "auto", "lineWidth": 2, "axisLabel": "rank (1 at the top)"},
		},
		"overrides": []M{{
			"matcher":    M{"id": "byType", "options": "number"},
			"properties": []M{{"id": "custom.transform", "value": "negative-Y"}},
		}},
	}
}

func dashboard(uid, title string, vars []M, panels []M, annotations []M) M {
	for i, p := range panels {
		p["id"] = i + 1
	}
	if annotations == nil {
		annotations = []M{}
	}
	return M{
		"uid": uid, "title": title, "tags": []string{"rankpulse"}, "timezone": "utc",
		"editable": true, "graphTooltip": 1, "schemaVersion": 39, "version": 1, "refresh": "5m",
		"time":        M{"from": "now-7d", "to": "now"},
		"templating":  M{"list": vars},
		"annotations": M{"list": annotations},
		"panels":      panels,
	}
}

// The WHERE clause the chart variables make (InfluxQL).
const chartFilter = `"store" =~ /^$store$/ AND "country" =~ /^$country$/ AND "chart" =~ /^$chart$/ AND "category" =~ /^$category$/`

func chartVars(countryMulti bool) []M {
	return []M{
		variable(InfluxQL, "store", "Store", `SHOW TAG VALUES FROM "app_rank" WITH KEY = "store"`, false),
		variable(InfluxQL, "country", "Country", `SHOW TAG VALUES FROM "app_rank" WITH KEY = "country" WHERE "store" =~ /^$store$/`, countryMulti),
		variable(InfluxQL, "chart", "Chart", `SHOW TAG VALUES FROM "app_rank" WITH KEY = "chart" WHERE "store" =~ /^$store$/`, false),
		variable(InfluxQL, "category", "Category", `SHOW TAG VALUES FROM "app_rank" WITH KEY = "category" WHERE "store" =~ /^$store$/`, false),
	}
}

// alertAnnotations marks rank_alert events on time series. The query is
// the annotation's target, as Grafana's InfluxDB data source stores it
// (it migrates the older top-level query, textColumn and tagsColumn there).
func alertAnnotations() []M {
	return []M{{
		"name": "rankpulse alerts", "datasource": ds(InfluxQL), "enable": true, "iconColor": "red",
		"target": M{
			"refId": "Anno", "fromAnnotations": true, "rawQuery": true,
			"query":      `SELECT "summary" FROM "rank_alert" WHERE "store" =~ /^$store$/ AND $timeFilter`,
			"textColumn": "summary", "tagsColumn": "kind,app_name,country",
		},
	}}
}

// Ranks is the ranks dashboard on the InfluxQL datasource.
func Ranks() M {
	vars := append(chartVars(true),
		variable(InfluxQL, "watch", "Watched app", `SHOW TAG VALUES FROM "app_rank" WITH KEY = "watch" WHERE "store" =~ /^$store$/`, true),
		variable(InfluxQL, "app", "App", `SHOW TAG VALUES FROM "app_rank" WITH KEY = "app_name" WHERE `+chartFilter+` AND "watch" =~ /^$watch$/`, true),
	)
	where := chartFilter + ` AND "app_name" =~ /^$app$/ AND "watch" =~ /^$watch$/`
	return dashboard("rankpulse-ranks", "rankpulse · Ranks", vars, []M{
		{
			"type": "timeseries", "title": "Rank over time", "gridPos": gridPos(0, 0, 24, 12),
			"description": "Rank of the selected apps per country; rank 1 is at the top. Red marks are rankpulse alerts.",
			"datasource":  ds(InfluxQL),
			"targets": []M{influxqlTarget(`SELECT last("rank") FROM "app_rank" WHERE `+where+` AND $timeFilter GROUP BY time($__interval), "app_name", "country" fill(none)`,
				"$tag_app_name · $tag_country")},
			"fieldConfig": rankAxis(),
			"options":     legendTable(),
		},
		{
			"type": "table", "title": "Latest rank", "gridPos": gridPos(0, 12, 24, 10), "datasource": ds(InfluxQL),
			"targets":     []M{tableTarget("A", `SELECT last("rank") AS "rank" FROM "app_rank" WHERE `+where+` AND $timeFilter GROUP BY "app_name", "country"`)},
			"fieldConfig": M{"defaults": M{"decimals": 0}, "overrides": []M{}},
			"options":     tableOptions("rank", false),
		},
	}, alertAnnotations())
}

// fluxChartFilter filters on the chart variables (Flux).
const fluxChartFilter = `r.store =~ /^${store:regex}$/ and r.country =~ /^${country:regex}$/ and r.chart =~ /^${chart:regex}$/ and r.category =~ /^${category:regex}$/`

// fluxVariable lists a tag's values within the dashboard's time range.
// (InfluxDB 1.8's Flux 0.65 has v1.tagValues, but only with a relative
// start.)
func fluxVariable(name, label, tag, predicate string, multi bool) M {
	q := fmt.Sprintf(`from(bucket: v.defaultBucket)
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> filter(fn: (r) => %s)
  |> keep(columns: [%q])
  |> group()
  |> distinct(column: %q)`, predicate, tag, tag)
	return variable(Flux, name, label, q, multi)
}

// RanksFlux is the ranks dashboard on the Flux datasource.
func RanksFlux() M {
	vars := []M{
		fluxVariable("store", "Store", "store", `r._measurement == "app_rank"`, false),
		fluxVariable("country", "Country", "country", `r._measurement == "app_rank" and r.store == "${store}"`, true),
		fluxVariable("chart", "Chart", "chart", `r._measurement == "app_rank" and r.store == "${store}"`, false),
		fluxVariable("category", "Category", "category", `r._measurement == "app_rank" and r.store == "${store}"`, false),
		fluxVariable("app", "App", "app_name", `r._measurement == "app_rank" and r.store == "${store}"`, true),
	}
	query := `from(bucket: v.defaultBucket)
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> filter(fn: (r) => r._measurement == "app_rank" and r._field == "rank")
  |> filter(fn: (r) => ` + fluxChartFilter + ` and r.app_name =~ /^${app:regex}$/)
  |> group(columns: ["app_name", "country"])
  |> aggregateWindow(every: v.windowPeriod, fn: last, createEmpty: false)
  |> map(fn: (r) => ({_time: r._time, _value: r._value, app_name: r.app_name, country: r.country}))
  |> group(columns: ["app_name", "country"])`
	return dashboard("rankpulse-ranks-flux", "rankpulse · Ranks (Flux)", vars, []M{
		{
			"type": "timeseries", "title": "Rank over time", "gridPos": gridPos(0, 0, 24, 14),
			"description": "Rank of the selected apps per country; rank 1 is at the top.",
			"datasource":  ds(Flux), "targets": []M{fluxTarget(query)},
			"fieldConfig": rankAxis(),
			"options":     legendTable(),
		},
	}, nil)
}

// Countries shows one app across every country at once.
func Countries() M {
	vars := []M{
		variable(InfluxQL, "watch", "Watched app", `SHOW TAG VALUES FROM "app_rank" WITH KEY = "watch"`, false),
		variable(InfluxQL, "store", "Store", `SHOW TAG VALUES FROM "app_rank" WITH KEY = "store" WHERE "watch" = '$watch'`, false),
		variable(InfluxQL, "chart", "Chart", `SHOW TAG VALUES FROM "app_rank" WITH KEY = "chart" WHERE "watch" = '$watch'`, false),
		variable(InfluxQL, "category", "Category", `SHOW TAG VALUES FROM "app_rank" WITH KEY = "category" WHERE "watch" = '$watch' AND "store" =~ /^$store$/`, false),
	}
	where := `"watch" = '$watch' AND "store" =~ /^$store$/ AND "chart" =~ /^$chart$/ AND "category" =~ /^$category$/`
	colour := M{"mode": "absolute", "steps": []M{
		{"color": "green", "value": nil}, {"color": "#8AB8FF", "value": 4}, {"color": "yellow", "value": 11},
		{"color": "orange", "value": 51}, {"color": "red", "value": 101},
	}}
	return dashboard("rankpulse-countries", "rankpulse · Countries at a glance", vars, []M{
		{
			"type": "table", "title": "Rank by country", "gridPos": gridPos(0, 0, 10, 20), "datasource": ds(InfluxQL),
			"description": "Latest rank of the app in every country, and its change over the last 24 hours of the range (negative: it rose).",
			"targets": []M{
				tableTarget("A", `SELECT last("rank") AS "rank" FROM "app_rank" WHERE `+where+` AND $timeFilter GROUP BY "country"`),
				tableTarget("B", `SELECT last("rank") - first("rank") AS "change_24h" FROM "app_rank" WHERE `+where+` AND time >= ${__to}ms - 24h AND time <= ${__to}ms GROUP BY "country"`),
			},
			"transformations": []M{
				{"id": "merge", "options": M{}},
				{"id": "organize", "options": M{"excludeByName": M{"Time": true}}},
			},
			"fieldConfig": M{
				"defaults": M{"decimals": 0},
				"overrides": []M{{
					"matcher": M{"id": "byName", "options": "rank"},
					"properties": []M{
						{"id": "thresholds", "value": colour},
						{"id": "custom.cellOptions", "value": M{"type": "color-background"}},
					},
				}},
			},
			"options": tableOptions("rank", false),
		},
		{
			"type": "geomap", "title": "Rank on the map", "gridPos": gridPos(10, 0, 14, 20), "datasource": ds(Flux),
			"description": "Latest rank per country (ISO codes upper-cased for the countries gazetteer).",
			"targets": []M{fluxTarget(`import "strings"
from(bucket: v.defaultBucket)
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> filter(fn: (r) => r._measurement == "app_rank" and r._field == "rank" and r.watch == "${watch}" and r.store == "${store}" and r.chart == "${chart}" and r.category == "${category}")
  |> group(columns: ["country"])
  |> last()
  |> map(fn: (r) => ({code: strings.toUpper(v: r.country), rank: r._value}))
  |> group()`)},
			"fieldConfig": M{"defaults": M{"thresholds": colour, "color": M{"mode": "thresholds"}}, "overrides": []M{}},
			"options": M{
				"view":     M{"id": "zero", "zoom": 1},
				"controls": M{"showZoom": true, "mouseWheelZoom": true},
				"basemap":  M{"type": "default", "name": "Basemap"},
				"tooltip":  M{"mode": "details"},
				"layers": []M{{
					"type": "markers", "name": "rank",
					"location": M{"mode": "lookup", "lookup": "code", "gazetteer": "public/gazetteer/countries.json"},
					"config":   M{"color": M{"field": "rank", "fixed": "green"}, "size": M{"fixed": 8}, "showLegend": true},
				}},
			},
		},
	}, nil)
}

// Movers lists the biggest risers and fallers of the last 24 hours.
func Movers() M {
	inner := `SELECT last("rank") - first("rank") AS "delta" FROM "app_rank" WHERE "store" =~ /^$store$/ AND "country" =~ /^$country$/ AND "chart" =~ /^$chart$/ AND "category" =~ /^$category$/ AND time >= ${__to}ms - 24h AND time <= ${__to}ms GROUP BY "app_name"`
	table := func(title, fn string, x int, desc bool) M {
		return M{
			"type": "table", "title": title, "gridPos": gridPos(x, 0, 12, 16), "datasource": ds(InfluxQL),
			"description": "Change of rank between the first and the last snapshot of the last 24 hours of the range (negative: it rose).",
			"targets":     []M{tableTarget("A", `SELECT `+fn+`("delta", "app_name", 15) AS "change" FROM (`+inner+`)`)},
			"transformations": []M{
				{"id": "organize", "options": M{"excludeByName": M{"Time": true}}},
				{"id": "sortBy", "options": M{"sort": []M{{"field": "change", "desc": desc}}}},
			},
			"fieldConfig": M{"defaults": M{"decimals": 0}, "overrides": []M{}},
			"options":     tableOptions("", false),
		}
	}
	return dashboard("rankpulse-movers", "rankpulse · Movers (24 h)", chartVars(false), []M{
		table("Biggest risers", "bottom", 0, false),
		table("Biggest fallers", "top", 12, true),
	}, nil)
}

// Health shows how the scraping goes, per store and source.
func Health() M {
	vars := []M{variable(InfluxQL, "store", "Store", `SHOW TAG VALUES FROM "chart_scrape" WITH KEY = "store"`, true)}
	ts := func(title, query, alias, unit string, x, y int) M {
		return M{
			"type": "timeseries", "title": title, "gridPos": gridPos(x, y, 12, 8), "datasource": ds(InfluxQL),
			"targets":     []M{influxqlTarget(query, alias)},
			"fieldConfig": M{"defaults": M{"unit": unit, "custom": M{"drawStyle": "bars", "fillOpacity": 60, "stacking": M{"mode": "normal"}}}, "overrides": []M{}},
		}
	}
	return dashboard("rankpulse-health", "rankpulse · Scrape health", vars, []M{
		ts("Charts fetched", `SELECT count("entries") FROM "chart_scrape" WHERE "store" =~ /^$store$/ AND $timeFilter GROUP BY time($__interval), "store", "source" fill(none)`,
			"$tag_store · $tag_source", "none", 0, 0),
		ts("Charts not read in full", `SELECT count("entries") FROM "chart_scrape" WHERE "store" =~ /^$store$/ AND "complete" = false AND $timeFilter GROUP BY time($__interval), "store", "source" fill(none)`,
			"$tag_store · $tag_source", "none", 12, 0),
		{
			"type": "timeseries", "title": "Fetch duration", "gridPos": gridPos(0, 8, 12, 8), "datasource": ds(InfluxQL),
			"targets":     []M{influxqlTarget(`SELECT mean("duration_ms") FROM "chart_scrape" WHERE "store" =~ /^$store$/ AND $timeFilter GROUP BY time($__interval), "store", "source" fill(none)`, "$tag_store · $tag_source")},
			"fieldConfig": M{"defaults": M{"unit": "ms"}, "overrides": []M{}},
		},
		{
			"type": "table", "title": "Errors", "gridPos": gridPos(12, 8, 12, 8), "datasource": ds(InfluxQL),
			"description": "Charts that failed or came back short, newest first.",
			"targets":     []M{tableTarget("A", `SELECT "error", "entries" FROM "chart_scrape" WHERE "store" =~ /^$store$/ AND "complete" = false AND $timeFilter GROUP BY "store", "country", "chart", "category", "source" ORDER BY time DESC LIMIT 50`)},
			"options":     tableOptions("", false),
		},
	}, nil)
}

// All returns every dashboard by file name.
func All() map[string]M {
	return map[string]M{
		"ranks.json":      Ranks(),
		"ranks-flux.json": RanksFlux(),
		"countries.json":  Countries(),
		"movers.json":     Movers(),
		"health.json":     Health(),
	}
}

// Encode renders a dashboard as indented JSON.
func Encode(d M) ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Write writes every dashboard into dir.
func Write(dir string) error {
	for name, d := range All() {
		b, err := Encode(d)
		if err != nil {
			return fmt.Errorf("dashgen: %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("dashgen: %w", err)
		}
	}
	return nil
}
