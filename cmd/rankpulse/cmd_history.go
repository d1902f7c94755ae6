package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/storage"
)

func (c *cli) historyCmd(ctx context.Context, args []string) error {
	fs := c.flags("history")
	cfgPath := fs.String("config", "", "config file (data_dir, watch list)")
	app := fs.String("app", "", "app id: an App Store id or a Google Play package")
	watch := fs.String("watch", "", "a watch-list name (e.g. telegram)")
	store := fs.String("store", "", "appstore or googleplay (default: every store the app is known in)")
	country := fs.String("country", "", "countries, comma-separated (default: all)")
	chartName := fs.String("chart", "", "top-free, top-paid or top-grossing (default: all)")
	category := fs.String("category", "", "category (default: all categories)")
	since := fs.String("since", "7d", "how far back: a duration (7d, 36h) or a date (2026-02-17)")
	format := fs.String("format", "table", "table, jsonl or csv")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*app == "") == (*watch == "") {
		return usagef("give exactly one of --app ID or --watch NAME")
	}
	if *format != "table" && *format != "jsonl" && *format != "csv" {
		return usagef("--format %q: want table, jsonl or csv", *format)
	}
	if *store != "" && !chart.ValidStore(*store) {
		return usagef("--store %q: want appstore or googleplay", *store)
	}
	if *chartName != "" && !chart.ValidChart(*chartName) {
		return usagef("--chart %q: want top-free, top-paid or top-grossing", *chartName)
	}
	for _, cc := range splitList(*country) {
		if !chart.HasCountry(chart.AppStore, cc) && !chart.HasCountry(chart.GooglePlay, cc) {
			return usagef("--country %q: not a country code either store serves (two lowercase letters, e.g. us, tr)%s", cc, didYouMean(cc))
		}
	}
	from, err := parseSince(*since, time.Now())
	if err != nil {
		return usagef("--since: %v", err)
	}
	cfg, err := c.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	ids, err := historyIDs(cfg, *app, *watch, *store)
	if err != nil {
		return err
	}
	db, err := c.openExisting(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	q := storage.Query{Since: from, Countries: splitList(*country), Chart: *chartName, Category: *category}
	var points []storage.Point
	for _, s := range chart.Stores {
		id, ok := ids[s]
		if !ok {
			continue
		}
		pts, err := db.History(ctx, s, id, q)
		if err != nil {
			return err
		}
		points = append(points, pts...)
	}
	// Rows of the same time (several charts, both stores) in a fixed
	// order; the store returns them in the order their charts were first
	// stored.
	slices.SortStableFunc(points, func(a, b storage.Point) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Key.Store, b.Key.Store), cmp.Compare(a.Key.Country, b.Key.Country),
			cmp.Compare(slices.Index(chart.Charts, a.Key.Chart), slices.Index(chart.Charts, b.Key.Chart)), compareCategory(a.Key.Category, b.Key.Category))
	})
	if len(points) == 0 {
		what := *app
		if *watch != "" {
			what = *watch
		}
		return fmt.Errorf("no stored snapshots for %s since %s matching these filters", what, from.Format(time.RFC3339))
	}
	return writeHistory(c, *format, points, ids)
}

// historyIDs returns the app's id in each store history reads: --app's in
// every store, or --watch's ids; with --store, that store's alone.
func historyIDs(cfg *config.Config, app, watch, store string) (map[string]string, error) {
	ids := map[string]string{} // store → id
	if watch != "" {
		var found *config.Watch
		for i := range cfg.Watch {
			if cfg.Watch[i].Name == watch {
				found = &cfg.Watch[i]
			}
		}
		if found == nil {
			return nil, usagef("--watch %q is not in the watch list (%s)", watch, watchNames(cfg))
		}
		for _, s := range chart.Stores {
			if id := found.ID(s); id != "" {
				ids[s] = id
			}
		}
	} else {
		for _, s := range chart.Stores {
			ids[s] = app
		}
	}
	if store != "" {
		ids = map[string]string{store: ids[store]}
		if ids[store] == "" {
			return nil, usagef("--watch %s has no %s id", watch, store)
		}
	}
	return ids, nil
}

// compareCategory orders "all" first, then the store's ids.
func compareCategory(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == chart.All:
		return -1
	case b == chart.All:
		return 1
	}
	return cmp.Compare(a, b)
}

func watchNames(cfg *config.Config) string {
	var names []string
	for _, w := range cfg.Watch {
		names = append(names, w.Name)
	}
	return strings.Join(names, ", ")
}

// openExisting opens the store: the cluster's PostgreSQL with
// storage.url, else the embedded file, refusing to create an empty one.
func (c *cli) openExisting(ctx context.Context, cfg *config.Config) (storage.Store, error) {
	if cfg.Clustered() {
		return daemon.OpenStore(ctx, cfg)
	}
	path := filepath.Join(cfg.DataDir, storage.FileName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no embedded store at %s: run `rankpulse run` (or `rankpulse import`) first, or point data_dir at the right directory", path)
	}
	return storage.Open(ctx, cfg.DataDir)
}

// parseSince reads "7d", "36h" or a date/time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := config.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (7d, 36h) nor a date (2026-02-17, RFC 3339)", s)
}

// rankText shows a rank, "below" for absent from a complete chart and "?"
// for absent from an incomplete one.
func rankText(p storage.Point) string {
	switch {
	case p.Rank > 0:
		return "#" + strconv.Itoa(p.Rank)
	case p.Complete:
		return ">" + strconv.Itoa(p.Depth)
	default:
		return "?"
	}
}

type historyRow struct {
	Time     time.Time `json:"time"`
	Store    string    `json:"store"`
	Country  string    `json:"country"`
	Chart    string    `json:"chart"`
	Category string    `json:"category"`
	AppID    string    `json:"app_id"`
	Name     string    `json:"name,omitempty"`
	Rank     *int      `json:"rank"` // null: not in the chart
	Complete bool      `json:"complete"`
	Depth    int       `json:"depth"`
}

func writeHistory(c *cli, format string, points []storage.Point, ids map[string]string) error {
	switch format {
	case "jsonl":
		enc := json.NewEncoder(c.stdout)
		enc.SetEscapeHTML(false)
		for _, p := range points {
			r := historyRow{Time: p.Time, Store: p.Key.Store, Country: p.Key.Country, Chart: p.Key.Chart, Category: p.Key.Category,
				AppID: ids[p.Key.Store], Name: p.Name, Complete: p.Complete, Depth: p.Depth}
			if p.Rank > 0 {
				r.Rank = &p.Rank
			}
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	case "csv":
		w := csv.NewWriter(c.stdout)
		w.Write([]string{"time", "store", "country", "chart", "category", "app_id", "rank", "complete", "depth"})
		for _, p := range points {
			rank := ""
			if p.Rank > 0 {
				rank = strconv.Itoa(p.Rank)
			}
			w.Write([]string{p.Time.Format(time.RFC3339), p.Key.Store, p.Key.Country, p.Key.Chart, p.Key.Category, ids[p.Key.Store], rank, strconv.FormatBool(p.Complete), strconv.Itoa(p.Depth)})
		}
		w.Flush()
		return w.Error()
	default:
		tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tSTORE\tCOUNTRY\tCHART\tCATEGORY\tRANK")
		for _, p := range points {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Time.Format("2006-01-02 15:04"), p.Key.Store, p.Key.Country, p.Key.Chart, p.Key.Category, rankText(p))
		}
		return tw.Flush()
	}
	return nil
}
