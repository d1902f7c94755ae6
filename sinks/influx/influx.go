// Package influx is the InfluxDB sink: it writes each sweep as the
// app_rank and chart_scrape series of SPEC §5 through influxdb-client-go's
// blocking write API, with the slot as the point time (seconds), so that a
// rewritten slot overwrites its points instead of duplicating them.
//
// The client's own retry queue lives in memory and drops data after three
// minutes, so it is not used. When InfluxDB does not take a batch the batch
// goes to a bounded on-disk spool in the data directory, and a background
// drainer replays the spool in order once the server answers again.
// Batches InfluxDB refuses as malformed (HTTP 400) are moved aside to
// spool/rejected instead of blocking the queue.
//
// # One point per app and slot
//
// InfluxDB (1.8 and 2.x alike) identifies a point by measurement, tag set
// and time, and app_name is a tag of app_rank (SPEC §5). A slot rewritten
// with a different app_name (unknown at the first write after a failed
// lookup, known at the rewrite) is therefore a second series with a second
// point at that time, not an overwrite: 400 points for a 200-app chart.
//
// Two ways out were weighed. Deleting the stale point before the rewrite
// heals the name, but InfluxDB 1.8 has no /api/v2/delete (it answers 404;
// only InfluxQL DELETE), deletes are slow on both versions (influxdb issues
// #10218, #23741: seconds to minutes, even for data that does not exist)
// and would stall this sink's single write path, and a delete that fails
// would have to be spooled in order with the writes. So instead the tag is a
// stable function of what the first write knew: an app without a name is
// tagged UnknownName ("(unknown) <id>", never an empty or missing tag), and
// the sink remembers those points (spool/unnamed-points.jsonl, bounded by
// maxPins) and writes them with the same tag whenever the slot is written
// again, even once the name is known. The name then shows from the next slot
// on; the embedded store and export have it for the rewritten slot too.
// Names that change between writes for other reasons (an app renamed
// between a slot's first write and a re-import of it) are not covered.
package influx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"

	"github.com/rankpulse/rankpulse/metrics"
	"github.com/rankpulse/rankpulse/sinks"
)

// Config configures the sink.
type Config struct {
	URL    string
	Token  string // InfluxDB 1.8: "user:password" or ""
	Org    string
	Bucket string // InfluxDB 1.8: "db" or "db/rp"
	// Timeout bounds one write request.
	Timeout time.Duration
	// BatchSize is the number of points per write request.
	BatchSize int
	// SpoolDir holds batches not yet delivered.
	SpoolDir      string
	SpoolMaxBytes int64
	// Watch maps store → app id → watch name, for the watch tag.
	Watch map[string]map[string]string
	// RetryMin and RetryMax bound the drainer's backoff (default 5s, 5m).
	RetryMin, RetryMax time.Duration
}

// Sink writes to InfluxDB. It is safe for concurrent use.
type Sink struct {
	cfg    Config
	client influxdb2.Client
	writer api.WriteAPIBlocking
	spool  *spool
	pins   *pinned // app_rank points written with UnknownName
	log    *slog.Logger
	m      *metrics.Metrics

	mu   sync.Mutex // one sender at a time: sweeps and the drainer
	body []byte     // the request buffer, reused by the next Write

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

var _ sinks.Sink = (*Sink)(nil)

// maxKeptBody bounds the request buffer kept between writes.
const maxKeptBody = 4 << 20

// Name is the sink's name in logs and metrics.
const Name = "influxdb"

// New opens the spool and starts the drainer. It does not contact the
// server; Check does.
func New(cfg Config, log *slog.Logger, m *metrics.Metrics) (*Sink, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	if cfg.SpoolMaxBytes <= 0 {
		cfg.SpoolMaxBytes = 1 << 30
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 5 * time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 5 * time.Minute
	}
	if log == nil {
		log = slog.Default()
	}
	sp, err := openSpool(cfg.SpoolDir, cfg.SpoolMaxBytes)
	if err != nil {
		return nil, err
	}
	sp.log = log.With("sink", Name)
	pins, err := openPins(cfg.SpoolDir)
	if err != nil {
		return nil, err
	}
	opts := influxdb2.DefaultOptions().
		SetPrecision(time.Second).
		SetHTTPRequestTimeout(uint(max(1, cfg.Timeout/time.Second))).
		SetApplicationName("rankpulse").
		SetMaxRetries(0)
	client := influxdb2.NewClientWithOptions(strings.TrimRight(cfg.URL, "/"), cfg.Token, opts)
	s := &Sink{
		cfg: cfg, client: client, writer: client.WriteAPIBlocking(cfg.Org, cfg.Bucket), spool: sp, pins: pins,
		log: log.With("sink", Name), m: metrics.OrNew(m),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	s.updateGauges()
	go s.drainLoop()
	if n, _, _ := sp.stats(); n > 0 {
		s.log.Info("replaying spooled batches", "batches", n)
		s.wake()
	}
	return s, nil
}

// Name returns "influxdb".
func (s *Sink) Name() string { return Name }

// Write sends the batch now, BatchSize points a request, if nothing is
// waiting in the spool; else, or from the first request that fails, it
// streams the rest into the spool for the drainer. An error means the batch
// could neither be sent nor spooled.
func (s *Sink) Write(ctx context.Context, b sinks.Batch) error {
	return s.write(ctx, func(fn func([]byte)) {
		if err := s.pins.record(b.Snapshots); err != nil {
			s.log.Warn("could not keep the list of points written without an app name; after a restart, a rewrite of those slots with names may add a second point", "error", err)
		}
		eachLine(b, s.cfg.Watch, s.pins.tag, fn)
	})
}

// WriteLines is Write for line protocol already built.
func (s *Sink) WriteLines(ctx context.Context, lines []string) error {
	return s.write(ctx, func(fn func([]byte)) {
		for _, l := range lines {
			fn([]byte(l))
		}
	})
}

func (s *Sink) write(ctx context.Context, each func(func([]byte))) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Behind batches already spooled, a batch waits its turn.
	direct := true
	if n, _, _ := s.spool.stats(); n > 0 {
		direct = false
	}
	var (
		body     = s.body[:0] // the request being built: lines joined by newlines
		lines    int          // in body
		spooling *spoolWriter
		failure  error // the spool could not be written
		refused  error // InfluxDB refused the data itself
		points   int
	)
	flush := func() {
		if lines == 0 {
			return
		}
		if direct {
			if err := s.sendBody(ctx, body, lines); err != nil {
				direct = false
				if rejected(err) {
					refused = err
				} else {
					s.log.Warn("influxdb write failed; the rest of the batch is spooled for replay", "error", err)
				}
			}
		}
		if !direct && refused == nil {
			if spooling == nil && failure == nil {
				spooling, failure = s.spool.begin()
			}
			if spooling != nil {
				spooling.addLines(body, lines)
			}
		}
		body, lines = body[:0], 0
	}
	each(func(l []byte) {
		points++
		if refused != nil {
			return
		}
		if lines > 0 {
			body = append(body, '\n')
		}
		body = append(body, l...)
		lines++
		if lines == s.cfg.BatchSize {
			flush()
		}
	})
	flush()
	if cap(body) <= maxKeptBody {
		s.body = body[:0] // kept for the next batch (under s.mu)
	}
	return s.settle(points, refused, failure, spooling)
}

// settle ends a write: counts it, and commits or aborts what it spooled.
// The caller holds s.mu.
func (s *Sink) settle(points int, refused, failure error, spooling *spoolWriter) error {
	switch {
	case refused != nil:
		if spooling != nil {
			spooling.abort()
		}
		s.m.SinkWrites.WithLabelValues(Name, "error").Inc()
		s.m.SpoolDropped.WithLabelValues(Name).Inc()
		return fmt.Errorf("influxdb refused a request of this %d-point batch (requests before it were written; fix the cause and re-send with `rankpulse export | rankpulse import --input -`): %w", points, refused)
	case failure != nil:
		s.m.SinkWrites.WithLabelValues(Name, "error").Inc()
		return failure
	case spooling == nil:
		s.m.SinkWrites.WithLabelValues(Name, "ok").Inc()
		return nil
	}
	dropped, err := spooling.commit()
	for _, n := range dropped {
		s.m.SpoolDropped.WithLabelValues(Name).Inc()
		s.log.Error("influxdb spool is full: dropped its oldest batch", "points", n, "spool_max_bytes", s.cfg.SpoolMaxBytes)
	}
	s.updateGauges()
	if err != nil {
		s.m.SinkWrites.WithLabelValues(Name, "error").Inc()
		return err
	}
	s.m.SinkWrites.WithLabelValues(Name, "spooled").Inc()
	s.wake()
	return nil
}

// sendBody writes one request of n lines.
func (s *Sink) sendBody(ctx context.Context, body []byte, n int) error {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := s.writer.WriteRecord(wctx, string(body)); err != nil {
		return describe(err, s.cfg)
	}
	s.m.SinkPoints.WithLabelValues(Name).Add(float64(n))
	return nil
}

// send writes lines in requests of BatchSize points and returns how many
// were written before an error.
func (s *Sink) send(ctx context.Context, lines []string) (int, error) {
	for start := 0; start < len(lines); start += s.cfg.BatchSize {
		end := min(start+s.cfg.BatchSize, len(lines))
		wctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		err := s.writer.WriteRecord(wctx, lines[start:end]...)
		cancel()
		if err != nil {
			return start, describe(err, s.cfg)
		}
		s.m.SinkPoints.WithLabelValues(Name).Add(float64(end - start))
	}
	return len(lines), nil
}

func (s *Sink) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Sink) updateGauges() {
	n, bytes, _ := s.spool.stats()
	s.m.SpoolBatches.WithLabelValues(Name).Set(float64(n))
	s.m.SpoolBytes.WithLabelValues(Name).Set(float64(bytes))
	s.m.SpoolMemory.WithLabelValues(Name).Set(float64(s.spool.memory()))
}

// drainLoop replays the spool whenever woken, and with backoff while the
// server is away.
func (s *Sink) drainLoop() {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	delay := s.cfg.RetryMin
	var timer <-chan time.Time
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		case <-timer:
		}
		timer = nil
		err := s.drain(ctx)
		switch {
		case err == nil:
			delay = s.cfg.RetryMin
		case ctx.Err() != nil:
			return
		default:
			s.log.Warn("influxdb still unreachable; spooled batches kept", "retry_in", delay, "error", err)
			timer = time.After(delay)
			delay = min(delay*2, s.cfg.RetryMax)
		}
	}
}

// drain sends spooled batches oldest first until the spool is empty or a
// send fails.
func (s *Sink) drain(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.drainOne(ctx); err != nil {
			if errors.Is(err, errSpoolEmpty) {
				return nil
			}
			return err
		}
	}
}

var errSpoolEmpty = errors.New("spool empty")

func (s *Sink) drainOne(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.updateGauges()
	s.spool.persist() // batches held in memory, to disk if it takes them now
	f, ok := s.spool.oldest()
	if !ok {
		return errSpoolEmpty
	}
	lines, err := s.spool.read(f)
	if err != nil {
		s.log.Error("unreadable spool file moved aside", "error", err)
		return s.spool.remove(f, s.rejectDir())
	}
	sent, err := s.send(ctx, lines)
	switch {
	case err == nil:
		s.log.Info("spooled batch delivered", "points", len(lines))
		return s.spool.remove(f, "")
	case rejected(err):
		s.m.SpoolDropped.WithLabelValues(Name).Inc()
		s.log.Error("influxdb refused a spooled batch; moved to "+s.rejectDir(), "points", len(lines)-sent, "error", err)
		return s.spool.remove(f, s.rejectDir())
	}
	if sent > 0 {
		if _, rerr := s.spool.replace(f, lines[sent:]); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	return err
}

func (s *Sink) rejectDir() string { return filepath.Join(s.cfg.SpoolDir, "rejected") }

// Flush replays the spool now, until it is empty or ctx is done.
func (s *Sink) Flush(ctx context.Context) error {
	return s.drain(ctx)
}

// Pending returns the batches and points waiting in the spool.
func (s *Sink) Pending() (batches, points int) {
	b, _, p := s.spool.stats()
	return b, p
}

// Close stops the drainer and the client. Spooled batches stay on disk for
// the next start.
func (s *Sink) Close(ctx context.Context) error {
	s.once.Do(func() { close(s.stop) })
	select {
	case <-s.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	s.spool.close() // what is held in memory, to disk or reported lost
	s.mu.Unlock()
	s.client.Close()
	return nil
}
