package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/scrapers"
	"github.com/rankpulse/rankpulse/scrapers/appstore"
)

// telegrafConfig writes the do-it-yourself equivalent of a rankpulse sweep:
// one inputs.http per chart URL (the same URLs rankpulse reads first), its
// store/country/chart/category as tags, and json_v2 turning the body into
// one app_rank point per entry (tags app_id, app_name; field rank, an
// integer) for outputs.influxdb_v2. json_v2 has no array index, so the rank
// comes from a gjson multipath that zips the entries with the literal list
// 1..depth (@group).
//
// The legacy RSS feed carries names, so those points match rankpulse's
// (except the watch tag, which Telegraf has no way to add). ws/charts
// carries ids only, and Telegraf cannot join the lookup answers to them:
// for the default sources it also reads the lookup URLs rankpulse read
// (lookups), parsing each answer into one metric per app as rankpulse
// does, and drops those metrics before the output (namedrop), so that both
// fetch and parse the same bodies and write the same number of app_rank
// points (Telegraf's without app_name).
func (w *world) telegrafConfig(run string, s sweepSpec, db string, lookups []string) (string, error) {
	dir := filepath.Join(w.dir, run)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `[agent]
  interval = "1h"
  round_interval = false
  metric_batch_size = 5000
  metric_buffer_limit = 1000000
  collection_jitter = "0s"
  flush_interval = "1s"
  flush_jitter = "0s"
  precision = "1s"
  omit_hostname = true
  quiet = true

[[outputs.influxdb_v2]]
  urls = [%q]
  token = ""
  organization = "rankpulse"
  bucket = %q
  timeout = "30s"
  namedrop = ["app_lookup"]

`, w.influx, db)
	for _, u := range lookups {
		fmt.Fprintf(&b, `[[inputs.http]]
  urls = [%q]
  timeout = "30s"
  data_format = "json_v2"
  [[inputs.http.json_v2]]
    measurement_name = "app_lookup"
    [[inputs.http.json_v2.object]]
      path = "results"
      included_keys = ["trackId", "trackName", "artistName", "sellerName", "kind"]
      tags = ["trackId"]

`, u)
	}
	ranks := make([]string, min(s.depth, 200))
	for i := range ranks {
		ranks[i] = fmt.Sprint(i + 1)
	}
	lit := strings.Join(ranks, ",")
	var path string
	if s.sources == "rss" {
		path = `{"app_id":feed.entry.#.id.attributes.im:id,"app_name":feed.entry.#.im:name.label,"rank":![` + lit + `]}|@group`
	} else {
		path = `{"app_id":resultIds,"rank":![` + lit + `]}|@group`
	}
	tags := `["app_id", "app_name"]`
	if s.sources != "rss" {
		tags = `["app_id"]`
	}
	for _, cc := range s.countries {
		for _, ch := range []string{chart.TopFree, chart.TopPaid, chart.TopGrossing} {
			for _, cat := range s.categories {
				r := scrapers.Request{Key: chart.Key{Store: chart.AppStore, Country: cc, Chart: ch, Category: cat}, Depth: s.depth}
				u := appstore.ChartsURL(w.fake.URL, r)
				if s.sources == "rss" {
					u = appstore.RSSURL(w.fake.URL, r)
				}
				fmt.Fprintf(&b, `[[inputs.http]]
  urls = [%q]
  timeout = "30s"
  data_format = "json_v2"
  [inputs.http.tags]
    store = "appstore"
    country = %q
    chart = %q
    category = %q
  [[inputs.http.json_v2]]
    measurement_name = "app_rank"
    [[inputs.http.json_v2.object]]
      path = '%s'
      tags = %s
      [inputs.http.json_v2.object.fields]
        rank = "int"

`, u, cc, ch, cat, path, tags)
			}
		}
	}
	p := filepath.Join(dir, "telegraf.conf")
	return p, os.WriteFile(p, []byte(b.String()), 0o644)
}

// runTelegraf runs `telegraf --once` over the sweep's URLs into a fresh
// database and returns its cost and the app_rank points it wrote.
func (w *world) runTelegraf(ctx context.Context, bin, run string, s sweepSpec, lookups []string) (usage, int, error) {
	db, err := w.newDB(ctx, "telegraf")
	if err != nil {
		return usage{}, 0, err
	}
	cfg, err := w.telegrafConfig(run, s, db, lookups)
	if err != nil {
		return usage{}, 0, err
	}
	u, err := runChild(exec.CommandContext(ctx, bin, "--config", cfg, "--once"))
	if err != nil {
		return u, 0, err
	}
	n, err := w.count(ctx, db, "app_rank", "rank")
	return u, n, err
}
