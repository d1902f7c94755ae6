package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/daemon"
	"github.com/rankpulse/rankpulse/metrics"
)

func (c *cli) scrapeCmd(ctx context.Context, args []string) error {
	fs := c.flags("scrape")
	cfgPath := fs.String("config", "", "config file (store endpoints, rates, watch list)")
	stores := fs.String("store", "appstore", "stores, comma-separated: appstore, googleplay")
	countries := fs.String("country", "us", "countries, comma-separated, or all")
	charts := fs.String("chart", "top-free", "charts, comma-separated: top-free, top-paid, top-grossing")
	categories := fs.String("category", "all", "categories, comma-separated: all, or a store's ids (6005, COMMUNICATION)")
	depth := fs.Int("depth", 200, "entries per chart (1-200)")
	format := fs.String("format", "", "table or jsonl (default: table on a terminal, jsonl when piped)")
	save := fs.Bool("save", false, "also store the snapshots in the embedded store and sinks")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	job, err := scrapeJob(*stores, *countries, *charts, *categories, *depth)
	if err != nil {
		return err
	}
	if *format == "" {
		*format = "jsonl"
		if isTerminal(c.stdout) {
			*format = "table"
		}
	}
	if *format != "table" && *format != "jsonl" {
		return usagef("--format %q: want table or jsonl", *format)
	}
	log := c.logger(cfg, slog.LevelWarn)
	total := 0
	for _, r := range daemon.Requests(job) {
		total += len(r)
	}
	if total == 0 {
		return usagef("nothing to scrape: none of --country %s is served by --store %s", *countries, *stores)
	}
	prog := newProgress(c.stderr, total, isTerminal(c.stderr))
	slot := chart.SlotTime(time.Now())
	snaps, err := c.scrapeSweep(ctx, cfg, log, job, slot, *save, prog.add)
	if err != nil {
		return err
	}
	prog.finish()
	if err := c.printSnapshots(job, snaps, *format); err != nil {
		return err
	}
	failed := 0
	for _, s := range snaps {
		if !s.Complete {
			failed++
		}
	}
	if failed > 0 || len(snaps) < total {
		fmt.Fprintf(c.stderr, "rankpulse: %d of %d charts not read in full\n", failed+total-len(snaps), total)
		return &exitError{exitPartial}
	}
	return nil
}

// scrapeSweep reads job's charts, through the daemon (stored and written
// to the sinks) with save, else straight from the scrapers; each snapshot
// goes to seen as it comes.
func (c *cli) scrapeSweep(ctx context.Context, cfg *config.Config, log *slog.Logger, job config.Job, slot time.Time, save bool, seen func(chart.Snapshot)) ([]chart.Snapshot, error) {
	var mu sync.Mutex
	var snaps []chart.Snapshot
	collect := func(s chart.Snapshot) {
		mu.Lock()
		defer mu.Unlock()
		snaps = append(snaps, s)
		seen(s)
	}
	if save {
		d, err := c.openDaemon(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		defer d.Close(context.Background())
		d.Sweep(ctx, job, slot, collect)
		return snaps, nil
	}
	scr, err := daemon.NewScrapers(cfg, log, metrics.New())
	if err != nil {
		return nil, err
	}
	watch := cfg.WatchIndex()
	var wg sync.WaitGroup
	for store, reqs := range daemon.Requests(job) {
		if sc, ok := scr[store]; ok {
			wg.Go(func() {
				sc.Sweep(ctx, slot, reqs, func(s chart.Snapshot) {
					for i, e := range s.Entries {
						s.Entries[i].Watch = watch[s.Store][e.AppID]
					}
					collect(s)
				})
			})
		}
	}
	wg.Wait()
	return snaps, nil
}

// printSnapshots writes snaps in the job's order of charts, as tables or
// JSON lines.
func (c *cli) printSnapshots(job config.Job, snaps []chart.Snapshot, format string) error {
	order := map[chart.Key]int{}
	for i, k := range append(job.Keys(chart.AppStore), job.Keys(chart.GooglePlay)...) {
		order[k] = i
	}
	slices.SortFunc(snaps, func(a, b chart.Snapshot) int { return order[a.Key()] - order[b.Key()] })
	if format != "jsonl" {
		printTables(c.stdout, snaps)
		return nil
	}
	w := chart.NewWriter(c.stdout)
	for i := range snaps {
		if err := w.Write(&snaps[i]); err != nil {
			return err
		}
	}
	return w.Flush()
}

// scrapeJob turns scrape's flags into a job, checking each value.
func scrapeJob(stores, countries, charts, categories string, depth int) (config.Job, error) {
	job := config.Job{Name: "scrape", Stores: splitList(stores), Countries: splitList(countries), Charts: splitList(charts), Depth: depth}
	if depth < 1 || depth > config.MaxDepth {
		return job, usagef("--depth %d: want 1 to %d", depth, config.MaxDepth)
	}
	for _, s := range job.Stores {
		if !chart.ValidStore(s) {
			return job, usagef("--store %q: want appstore or googleplay", s)
		}
	}
	for _, ch := range job.Charts {
		if !chart.ValidChart(ch) {
			return job, usagef("--chart %q: want top-free, top-paid or top-grossing", ch)
		}
	}
	for _, cc := range job.Countries {
		if cc == "all" {
			if len(job.Countries) > 1 {
				return job, usagef("--country all must stand alone")
			}
			continue
		}
		known := false
		for _, s := range job.Stores {
			known = known || chart.HasCountry(s, cc)
		}
		if !known {
			return job, usagef("--country %q: not a country code %s serves%s", cc, stores, didYouMean(cc))
		}
	}
	cats := splitList(categories)
	for _, k := range cats {
		if !chart.ValidCategory(k) {
			return job, usagef("--category %q: want all or a store category id", k)
		}
	}
	// A category given for one store only (a number for the App Store, a
	// name for Google Play) goes to that store.
	for _, k := range cats {
		isGenre := strings.Trim(k, "0123456789") == ""
		if k == chart.All || isGenre {
			job.Categories.AppStore = append(job.Categories.AppStore, k)
		}
		if k == chart.All || !isGenre {
			job.Categories.GooglePlay = append(job.Categories.GooglePlay, k)
		}
	}
	if len(job.Stores) == 0 || len(job.Countries) == 0 || len(job.Charts) == 0 || len(cats) == 0 {
		return job, usagef("--store, --country, --chart and --category must not be empty")
	}
	return job, nil
}

// didYouMean suggests the country code cc was probably meant to be, as
// config check does.
func didYouMean(cc string) string {
	if s := config.SuggestCountry(cc); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// progress shows charts done/total on a terminal.
type progress struct {
	w        io.Writer
	tty      bool
	total, n int
	failed   int
	mu       sync.Mutex
}

func newProgress(w io.Writer, total int, tty bool) *progress {
	return &progress{w: w, total: total, tty: tty}
}

func (p *progress) add(s chart.Snapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if !s.Complete {
		p.failed++
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%d/%d charts, %d failed  %s", p.n, p.total, p.failed, s.Key())
	}
}

func (p *progress) finish() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func printTables(w io.Writer, snaps []chart.Snapshot) {
	for i, s := range snaps {
		if i > 0 {
			fmt.Fprintln(w)
		}
		state := "complete"
		if !s.Complete {
			state = "INCOMPLETE: " + s.Error
		}
		fmt.Fprintf(w, "%s · %s (%s) · %s · %s — %d entries from %s, %s\n",
			s.Store, strings.ToUpper(s.Country), chart.CountryName(s.Country), s.Chart, s.Category, len(s.Entries), s.Source, state)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "RANK\tAPP\tDEVELOPER\tID\tWATCH")
		for _, e := range s.Entries {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.Rank, trunc(e.Name, 40), trunc(e.Developer, 28), e.AppID, e.Watch)
		}
		tw.Flush()
	}
}

func trunc(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
