// Package daemon wires the configuration into a running rankpulse: the store
// scrapers, the embedded store, the sinks, the scheduler and the HTTP
// server. A sweep's snapshots flow through one at a time: scraper →
// embedded store → status page, alert engine and sinks (in batches of a few
// thousand points), never all held at once.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/rankpulse/rankpulse/alerts"
	"github.com/rankpulse/rankpulse/alerts/webhook"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/cluster"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/daemon/statuspage"
	"github.com/rankpulse/rankpulse/metrics"
	"github.com/rankpulse/rankpulse/scheduler"
	"github.com/rankpulse/rankpulse/scrapers"
	"github.com/rankpulse/rankpulse/scrapers/appstore"
	"github.com/rankpulse/rankpulse/scrapers/googleplay"
	"github.com/rankpulse/rankpulse/sinks"
	"github.com/rankpulse/rankpulse/sinks/influx"
	"github.com/rankpulse/rankpulse/storage"
	"github.com/rankpulse/rankpulse/storage/postgres"
)

// Options are the daemon's non-config dependencies.
type Options struct {
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	Version string
	// CheckpointEvery is how often the alert engine's state is written
	// with an evaluation (default 10 minutes; Close writes it too).
	CheckpointEvery time.Duration
	// PendingMaxBytes bounds the memory held for writes the embedded store
	// refuses (0: pendingMaxBytes).
	PendingMaxBytes int
}

// Daemon is a configured rankpulse.
type Daemon struct {
	cfg     *config.Config
	log     *slog.Logger
	m       *metrics.Metrics
	version string
	db      storage.Store
	// With storage.url: the PostgreSQL store and this instance's
	// membership of the cluster (nil otherwise).
	pg       *postgres.DB
	cl       *cluster.Cluster
	leader   leaderState
	scrapers map[string]scrapers.Scraper
	sinks    []sinks.Sink
	watch    map[string]map[string]string
	started  time.Time

	// emu serialises the alert engine, which sweeps of several jobs share;
	// alerts is how it is restored and checkpointed (engine.go).
	emu    sync.Mutex
	engine *alerts.Engine
	alerts engineState
	hooks  *webhook.Dispatcher // nil without webhooks
	status *statuspage.Page
	// pending holds the writes the embedded store refused (pending.go).
	pending *pending

	mu        sync.Mutex
	inflight  map[int64]int  // slots being swept (engine.go)
	running   map[string]int // jobs sweeping
	addr      string
	last      map[string]Summary
	lastPrune time.Time
	sched     *scheduler.Scheduler
}

// NewScrapers builds one scraper per store from the config.
func NewScrapers(cfg *config.Config, log *slog.Logger, m *metrics.Metrics) (map[string]scrapers.Scraper, error) {
	return newScrapers(cfg, log, m, nil)
}

// newScrapers is NewScrapers with the names already stored, for App Store
// lookups that fail (nil: none).
func newScrapers(cfg *config.Config, log *slog.Logger, m *metrics.Metrics, names appstore.NameSource) (map[string]scrapers.Scraper, error) {
	as := cfg.Stores.AppStore
	a, err := appstore.New(appstore.Config{
		ITunesURL:    as.Endpoints.ITunes,
		MarketingURL: as.Endpoints.Marketing,
		Sources:      as.Sources,
		Fetch:        fetchConfig("stores.appstore", as.Fetch),
		Names:        names,
	}, log, m)
	if err != nil {
		return nil, err
	}
	gp := cfg.Stores.GooglePlay
	g := googleplay.New(googleplay.Config{
		PlayURL:        gp.Endpoints.Play,
		Language:       gp.Language,
		BlockedBackoff: gp.BlockedBackoff.D(),
		Fetch:          fetchConfig("stores.googleplay", gp.Fetch),
	}, log, m)
	return map[string]scrapers.Scraper{chart.AppStore: a, chart.GooglePlay: g}, nil
}

func fetchConfig(prefix string, f config.Fetch) scrapers.FetchConfig {
	return scrapers.FetchConfig{Rate: f.Rate, Concurrency: f.Concurrency, Timeout: f.Timeout.D(), Retries: f.Retries, UserAgent: f.UserAgent,
		MaxBodyBytes: f.MaxBodyBytes, MaxBodyKey: prefix + ".max_body_bytes"}
}

// InfluxConfig returns the InfluxDB sink settings of cfg (nil when absent).
func InfluxConfig(cfg *config.Config) *influx.Config {
	in := cfg.Sinks.InfluxDB
	if in == nil {
		return nil
	}
	return &influx.Config{
		URL: in.URL, Token: in.Token.Value(), Org: in.Org, Bucket: in.Bucket,
		Timeout: in.Timeout.D(), BatchSize: in.BatchSize,
		SpoolDir: filepath.Join(cfg.DataDir, "spool", "influxdb"), SpoolMaxBytes: in.SpoolMaxBytes,
		Watch: cfg.WatchIndex(),
	}
}

// New opens the embedded store and the sinks. A sink whose server is
// unreachable is fine (it spools); one that answers but lacks its database
// is an error.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Daemon, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	m := metrics.OrNew(opts.Metrics)
	d := &Daemon{
		cfg: cfg, log: log, m: m, version: opts.Version,
		watch: cfg.WatchIndex(), last: map[string]Summary{}, started: time.Now(),
		engine: alerts.New(cfg.Alerts, cfg.WatchIndex()),
	}
	d.alerts.init(cfg, opts.CheckpointEvery)
	d.pending = newPending(d, opts.PendingMaxBytes)
	var err error
	if d.db, err = OpenStore(ctx, cfg); err != nil {
		return nil, err
	}
	if pg, ok := d.db.(*postgres.DB); ok {
		d.pg = pg
		cc := cfg.Cluster
		d.cl = cluster.New(pg, cluster.Config{Name: cc.Name, Version: opts.Version, Stores: cc.Stores, Countries: cc.Countries,
			Lease: cc.Lease.D(), Heartbeat: cc.Heartbeat.D()}, log)
	}
	if d.scrapers, err = newScrapers(cfg, log, m, d.db); err != nil {
		d.db.Close()
		return nil, err
	}
	if ic := InfluxConfig(cfg); ic != nil {
		if err := influx.Check(ctx, *ic); err != nil {
			if !errors.Is(err, influx.ErrUnreachable) {
				d.db.Close()
				return nil, fmt.Errorf("sinks.influxdb: %w", err)
			}
			log.Warn("influxdb is not answering; sweeps will be spooled until it does", "url", influx.RedactURL(ic.URL), "error", err)
		}
		s, err := influx.New(*ic, log, m)
		if err != nil {
			d.db.Close()
			return nil, err
		}
		d.sinks = append(d.sinks, s)
	}
	if len(cfg.Alerts.Webhooks) > 0 {
		if d.hooks, err = webhook.New(d.db, cfg.Alerts.Webhooks, cfg.StatusURL(), log, m, webhook.Options{}); err != nil {
			d.Close(ctx)
			return nil, err
		}
	}
	d.status = d.newStatusPage()
	return d, nil
}

// DB returns the store.
func (d *Daemon) DB() storage.Store { return d.db }

// Cluster returns this instance's membership of a cluster (nil without
// storage.url).
func (d *Daemon) Cluster() *cluster.Cluster { return d.cl }

// Close flushes nothing new: it stops the sinks (whatever they hold stays
// spooled) and closes the store.
func (d *Daemon) Close(ctx context.Context) error {
	d.pending.close(ctx) // what the store refused: a last try, or said lost
	if d.alerts.done.Load() {
		d.checkpoint(ctx)
	}
	d.status.Close()
	var errs []error
	for _, s := range d.sinks {
		errs = append(errs, s.Close(ctx))
	}
	errs = append(errs, d.db.Close())
	return errors.Join(errs...)
}

// Summary describes one sweep.
type Summary struct {
	Job        string
	Slot       time.Time
	Started    time.Time
	Duration   time.Duration
	Charts     int // charts of the sweep, fetched or not
	Complete   int
	Incomplete int // read in part
	Failed     int // nothing read, NotFetched included
	Points     int // app_rank points (entries) in the sweep
	StoreErrs  int // snapshots the embedded store could not take
	Alerts     int // alerts raised
	Errors     []string

	// NotFetched counts the charts never requested: the sweep was stopped
	// first (Interrupted). They have no snapshot, not even an empty one:
	// nothing about them is known, and the next run (or the catch-up at
	// the next start) fetches them.
	NotFetched  int
	Interrupted bool
}

// AllFailed reports whether not a single chart could be read.
func (s Summary) AllFailed() bool { return s.Charts > 0 && s.Failed == s.Charts }

// OK reports whether every chart was read in full.
func (s Summary) OK() bool { return s.Incomplete == 0 && s.Failed == 0 && s.StoreErrs == 0 }

const maxExampleErrors = 3

// Requests expands a job into per-store requests.
func Requests(job config.Job) map[string][]scrapers.Request {
	out := map[string][]scrapers.Request{}
	for _, store := range job.Stores {
		for _, k := range job.Keys(store) {
			out[store] = append(out[store], scrapers.Request{Key: k, Depth: job.Depth})
		}
	}
	return out
}

// Sweep runs one slot of a job: every store of the job at once, each at its
// own rate. Snapshots flow through as they arrive: stored, shown, read by
// the alert engine and sent to the sinks in batches (stream.go). When ctx is cancelled the sweep starts no new
// fetch, and what was fetched is still stored and sent; the charts it never
// fetched count as failed (Summary.NotFetched) and get no snapshot.
// progress, when set, sees each snapshot.
func (d *Daemon) Sweep(ctx context.Context, job config.Job, slot time.Time, progress func(chart.Snapshot)) Summary {
	if d.cl != nil {
		return d.clusterSweep(ctx, job, slot, progress)
	}
	return d.sweep(ctx, job, slot, Requests(job), progress)
}

// sweep runs the requests of one slot of a job (Sweep: all of them; a
// catch-up: those the slot lacks); see stream.go.
func (d *Daemon) sweep(ctx context.Context, job config.Job, slot time.Time, requests map[string][]scrapers.Request, progress func(chart.Snapshot)) Summary {
	return d.sweepFlow(ctx, job, slot, requests, progress)
}

func (s *Summary) count(snap *chart.Snapshot) {
	s.Charts++
	s.Points += len(snap.Entries)
	switch {
	case snap.Complete:
		s.Complete++
		return
	case len(snap.Entries) > 0:
		s.Incomplete++
	default:
		s.Failed++
	}
	if len(s.Errors) < maxExampleErrors {
		s.Errors = append(s.Errors, snap.Key().String()+": "+snap.Error)
	}
}

func (d *Daemon) annotate(s *chart.Snapshot) {
	ids := d.watch[s.Store]
	for i := range s.Entries {
		if w, ok := ids[s.Entries[i].AppID]; ok {
			s.Entries[i].Watch = w
		}
	}
}

func (d *Daemon) finish(ctx context.Context, sum Summary) {
	d.m.SweepDuration.WithLabelValues(sum.Job).Observe(sum.Duration.Seconds())
	d.m.LastSweep.WithLabelValues(sum.Job).Set(float64(time.Now().Unix()))
	d.m.LastSweepFails.WithLabelValues(sum.Job).Set(float64(sum.Incomplete + sum.Failed))
	attrs := []any{"job", sum.Job, "slot", sum.Slot, "charts", sum.Charts, "complete", sum.Complete,
		"incomplete", sum.Incomplete, "failed", sum.Failed, "not_fetched", sum.NotFetched, "store_failed", sum.StoreErrs, "entries", sum.Points, "alerts", sum.Alerts, "duration", sum.Duration.Round(time.Millisecond)}
	if held := d.Held(); held > 0 {
		attrs = append(attrs, "held_in_memory", held)
	}
	switch {
	case sum.Interrupted:
		d.log.Warn("sweep interrupted: the charts not fetched are not stored; the next run fetches them", append(attrs, "examples", sum.Errors)...)
	case sum.AllFailed():
		d.log.Error("sweep failed: no chart could be read", append(attrs, "examples", sum.Errors)...)
	case !sum.OK():
		d.log.Warn("sweep done with failures", append(attrs, "examples", sum.Errors)...)
	default:
		d.log.Info("sweep done", attrs...)
	}
	d.mu.Lock()
	d.last[sum.Job] = sum
	prune := time.Since(d.lastPrune) > time.Hour
	if prune {
		d.lastPrune = time.Now()
	}
	d.mu.Unlock()
	if prune {
		d.prune(ctx)
	}
}

// prune drops snapshots older than the retention. Shutting down cancels it
// (it is one transaction, so nothing is half done); the next sweep retries.
func (d *Daemon) prune(ctx context.Context) {
	if d.cl != nil && !d.leader.leading() {
		return // on a cluster the evaluator prunes: one pruner, no lock contention
	}
	before := time.Now().Add(-d.cfg.Retention.D())
	n, err := d.db.Prune(ctx, before)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("pruning the embedded store failed; retried after the next sweep", "error", err)
		}
		d.mu.Lock()
		d.lastPrune = time.Time{}
		d.mu.Unlock()
		return
	}
	if n > 0 {
		d.log.Info("pruned old snapshots", "snapshots", n, "before", before.Format(time.RFC3339))
	}
}

// LastSweeps returns the last summary of each job that has run.
func (d *Daemon) LastSweeps() []Summary {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Summary, 0, len(d.last))
	for _, s := range d.last {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Job < out[j].Job })
	return out
}

// flushTimeout bounds how long --once and shutdown wait for sinks.
const flushTimeout = 60 * time.Second

// Once runs every job's sweep now (slot: the start of the run, whole
// seconds), waits for the sinks to take what was written, and returns the
// summaries.
func (d *Daemon) Once(ctx context.Context) []Summary {
	if d.cl != nil {
		out := d.clusterOnce(ctx)
		sort.Slice(out, func(i, j int) bool { return out[i].Job < out[j].Job })
		return out
	}
	slot := chart.SlotTime(time.Now())
	// The engine is restored from what the store held before this run
	// (its failure is logged; the sweeps are stored all the same).
	d.RestoreAlerts(ctx)
	var mu sync.Mutex
	var out []Summary
	var wg sync.WaitGroup
	for _, job := range d.cfg.Jobs {
		wg.Go(func() {
			s := d.Sweep(ctx, job, slot, nil)
			mu.Lock()
			out = append(out, s)
			mu.Unlock()
		})
	}
	wg.Wait()
	d.pending.drain(context.WithoutCancel(ctx)) // a last try for what the store refused
	d.flush(context.WithoutCancel(ctx))
	sort.Slice(out, func(i, j int) bool { return out[i].Job < out[j].Job })
	return out
}

// Hooks returns the webhook dispatcher (nil without webhooks).
func (d *Daemon) Hooks() *webhook.Dispatcher { return d.hooks }

func (d *Daemon) flush(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	for _, s := range d.sinks {
		if err := s.Flush(ctx); err != nil {
			d.log.Warn("sink not flushed; what it holds stays spooled for the next start", "sink", s.Name(), "error", err)
		}
	}
	d.hooks.Flush(ctx) // one attempt each; failures stay in the outbox
}

// shutdownTimeout bounds a graceful stop: sweeps finish their in-flight
// requests (each bounded by the store timeout) and their writes.
const shutdownTimeout = 90 * time.Second

// Run schedules every job and serves HTTP until ctx is cancelled, then stops
// taking new work, lets in-flight fetches and writes finish, and returns.
func (d *Daemon) Run(ctx context.Context) error {
	srv, err := d.listen()
	if err != nil {
		return err
	}
	var restore sync.WaitGroup
	defer restore.Wait()
	if d.cl == nil { // a cluster's evaluator restores its engine when it takes the lock
		d.alerts.started.Store(true)                // not ready until it is done
		restore.Go(func() { d.RestoreAlerts(ctx) }) // /healthz answers meanwhile
	}
	d.prune(ctx)
	sched := scheduler.New(d.log)
	for _, job := range d.cfg.Jobs {
		sj := scheduler.Job{Name: job.Name, Spec: job.Schedule, Run: func(ctx context.Context, slot time.Time) {
			d.Sweep(ctx, job, slot, nil)
		}}
		if job.CatchUp {
			sj.CatchUp = func(ctx context.Context, slot time.Time) { d.catchUp(ctx, job, slot) }
		}
		if err := sched.Add(sj); err != nil {
			srv.close()
			return err
		}
	}
	d.mu.Lock()
	d.sched = sched
	d.mu.Unlock()
	stopCluster, err := d.startCluster(ctx, srv.addr)
	if err != nil {
		srv.close()
		return err
	}
	if d.cl == nil {
		d.hooks.Start(ctx) // on a cluster, the evaluator delivers
	}
	d.pending.start()
	sched.Start()
	for _, job := range d.cfg.Jobs {
		reqs := Requests(job)
		n := 0
		for _, r := range reqs {
			n += len(r)
		}
		d.log.Info("job scheduled", "job", job.Name, "schedule", job.Schedule, "charts", n, "next", sched.Next(job.Name))
	}
	<-ctx.Done()
	d.log.Info("shutting down: finishing in-flight fetches and writes")
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err = sched.Stop(stopCtx)
	if err != nil {
		d.log.Error("shutdown deadline reached with sweeps still running", "error", err)
	}
	stopCluster()
	d.hooks.Stop()
	srv.close()
	return nil
}

// Import stores snapshots read from a file in the embedded store and sends
// them to the sinks as one batch. Imported history is marked evaluated: it
// raises no alerts (backtest replays history through the engine).
func (d *Daemon) Import(ctx context.Context, snaps []chart.Snapshot) error {
	for i := range snaps {
		d.annotate(&snaps[i])
	}
	if err := d.db.SaveImported(ctx, snaps); err != nil {
		return err
	}
	for _, s := range d.sinks {
		if err := s.Write(ctx, sinks.Batch{Snapshots: snaps}); err != nil {
			return fmt.Errorf("the batch is in the embedded store, but sink %s refused it: %w", s.Name(), err)
		}
	}
	return nil
}

// Flush waits, up to a minute, for the sinks to deliver what they hold.
func (d *Daemon) Flush(ctx context.Context) { d.flush(context.WithoutCancel(ctx)) }

func (d *Daemon) writeSinks(ctx context.Context, b sinks.Batch) {
	if len(b.Snapshots) == 0 && len(b.Alerts) == 0 {
		return
	}
	for _, s := range d.sinks {
		if err := s.Write(ctx, b); err != nil {
			d.log.Error("sink write failed", "sink", s.Name(), "error", err)
		}
	}
}
