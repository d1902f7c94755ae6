package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/metrics"
	"github.com/rankpulse/rankpulse/storage"
)

// Schedule is the wait before each retry (after that, the last one repeats
// until the receiver's retry window ends), each jittered by ±20 %: seconds,
// then minutes, then hours, as Standard Webhooks suggests.
var Schedule = []time.Duration{
	5 * time.Second, 30 * time.Second, 2 * time.Minute, 5 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour,
}

// Dispatcher delivers the outbox. Start it once; Stop it before closing the
// store.
type Dispatcher struct {
	db  storage.Outbox
	rcv []*receiver
	log *slog.Logger
	m   *metrics.Metrics

	client         *http.Client
	schedule       []time.Duration
	rejectSchedule []time.Duration
	poll           time.Duration

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type receiver struct {
	cfg     config.Webhook
	n       Notifier
	urlHash string
	fp      string // Fingerprint(cfg)
	wake    chan struct{}
	last    time.Time // last request, for Slack's one message a second

	// Only the receiver's sender touches these.
	inRun     bool      // a run of permanent rejections is recorded
	rejecting bool      // and it spans the retry window
	counted   time.Time // when countOutbox last counted
}

// Options tune a dispatcher (tests).
type Options struct {
	Schedule []time.Duration
	// RejectSchedule replaces DefaultRejectSchedule; empty: a message is
	// dead at its first permanent rejection.
	RejectSchedule []time.Duration
	// Poll is how often a sender rereads its outbox when nothing woke it
	// (default 1 minute): what `rankpulse alerts retry` did from another
	// process is seen within that time.
	Poll time.Duration
}

// New returns a dispatcher for the configured receivers.
func New(db storage.Outbox, hooks []config.Webhook, statusURL string, log *slog.Logger, m *metrics.Metrics, opts Options) (*Dispatcher, error) {
	if log == nil {
		log = slog.Default()
	}
	d := &Dispatcher{
		db: db, log: log.With("component", "webhooks"), m: metrics.OrNew(m),
		schedule: Schedule, rejectSchedule: DefaultRejectSchedule, poll: time.Minute,
		client: &http.Client{
			// A redirect is not an acknowledgement; it is not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	if opts.Schedule != nil {
		d.schedule = opts.Schedule
	}
	if opts.RejectSchedule != nil {
		d.rejectSchedule = opts.RejectSchedule
	}
	if opts.Poll > 0 {
		d.poll = opts.Poll
	}
	for _, w := range hooks {
		n, err := NewNotifier(w, statusURL)
		if err != nil {
			return nil, err
		}
		d.rcv = append(d.rcv, &receiver{cfg: w, n: n, urlHash: URLHash(w.URL.Value()), fp: Fingerprint(w), wake: make(chan struct{}, 1)})
	}
	return d, nil
}

// URLHash identifies a receiver's URL without keeping it: a receiver
// disabled by a 410 is enabled again when its URL changes.
func URLHash(u string) string {
	h := sha256.Sum256([]byte(u))
	return hex.EncodeToString(h[:8])
}

// Matches reports whether a receiver's filter lets the alert through.
func Matches(f config.WebhookFilter, a *chart.Alert) bool {
	in := func(list []string, v ...string) bool {
		if len(list) == 0 {
			return true
		}
		for _, x := range v {
			if slices.Contains(list, x) {
				return true
			}
		}
		return false
	}
	countries := a.Countries
	if a.Country != nil {
		countries = []string{*a.Country}
	}
	return in(f.Kinds, a.Kind) && in(f.Severities, a.Severity) && in(f.Stores, a.Store) &&
		in(f.Countries, countries...) && in(f.Watch, a.WatchName())
}

// Enqueue puts new alerts in the outbox of every receiver whose filter
// takes them, in the transaction that stores them.
func (d *Dispatcher) Enqueue(ctx context.Context, tx storage.WriteTx, alerts []chart.Alert) error {
	if d == nil {
		return nil
	}
	batch := time.Now().UnixNano()
	for i := range alerts {
		for _, r := range d.rcv {
			if Matches(r.cfg.Filter, &alerts[i]) {
				if err := tx.Enqueue(ctx, r.cfg.Name, &alerts[i], batch); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Notify wakes the senders after alerts were enqueued.
func (d *Dispatcher) Notify() {
	if d == nil {
		return
	}
	for _, r := range d.rcv {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// Start runs one sender per receiver until Stop.
func (d *Dispatcher) Start(ctx context.Context) {
	if d == nil {
		return
	}
	ctx, d.cancel = context.WithCancel(ctx)
	for _, r := range d.rcv {
		d.wg.Go(func() { d.loop(ctx, r) })
	}
}

// Stop stops the senders; an attempt in flight ends at its timeout at most.
// Undelivered messages stay in the outbox for the next start.
func (d *Dispatcher) Stop() {
	if d == nil || d.cancel == nil {
		return
	}
	d.cancel()
	d.wg.Wait()
}

// Flush makes one pass over every receiver's outbox, sending what is due
// now (for run --once), until nothing due is left or ctx ends. A rejected
// head's few quick retries are waited for (about a minute at most), so
// that it ends dead and the messages behind it go out in this pass rather
// than waiting for the next run.
func (d *Dispatcher) Flush(ctx context.Context) {
	if d == nil {
		return
	}
	var wg sync.WaitGroup
	for _, r := range d.rcv {
		wg.Go(func() {
			d.prepare(ctx, r)
			for ctx.Err() == nil {
				if d.disabled(ctx, r) {
					return
				}
				msgs, err := d.db.NextMessages(ctx, r.cfg.Name, r.n.MaxBatch())
				if err != nil || len(msgs) == 0 {
					return
				}
				if wait := time.Until(msgs[0].Next); wait > 0 {
					if msgs[0].Rejections == 0 || wait > d.maxRejectWait() {
						return
					}
					sleep(ctx, nil, wait)
					continue
				}
				d.deliver(ctx, r, msgs)
			}
		})
	}
	wg.Wait()
}

// maxRejectWait is the longest wait before a rejected message's retry.
func (d *Dispatcher) maxRejectWait() time.Duration {
	var m time.Duration
	for _, w := range d.rejectSchedule {
		m = max(m, w+w/5)
	}
	return m
}

func (d *Dispatcher) disabled(ctx context.Context, r *receiver) bool {
	reason, at, off, err := d.db.Disabled(ctx, r.cfg.Name, r.urlHash)
	if err != nil || !off {
		d.m.WebhookDisabled.WithLabelValues(r.cfg.Name).Set(0)
		return false
	}
	d.m.WebhookDisabled.WithLabelValues(r.cfg.Name).Set(1)
	d.log.Error("webhook disabled: it answered 410 Gone; change its url to enable it again", "webhook", r.cfg.Name, "since", at, "reason", reason)
	return true
}

func (d *Dispatcher) loop(ctx context.Context, r *receiver) {
	if d.disabled(ctx, r) {
		return
	}
	d.prepare(ctx, r)
	for ctx.Err() == nil {
		msgs, err := d.db.NextMessages(ctx, r.cfg.Name, r.n.MaxBatch())
		if err != nil {
			d.log.Error("reading the outbox failed", "webhook", r.cfg.Name, "error", err)
			sleep(ctx, r.wake, d.poll)
			continue
		}
		if len(msgs) == 0 {
			d.m.WebhookPending.WithLabelValues(r.cfg.Name).Set(0)
			d.countOutbox(ctx, r, false)
			sleep(ctx, r.wake, d.poll)
			continue
		}
		if wait := time.Until(msgs[0].Next); wait > 0 {
			d.countOutbox(ctx, r, false)
			// In order: nothing overtakes the head. The outbox is read
			// again within d.poll, for a message made due by `alerts
			// retry` (another process) that now comes first.
			sleep(ctx, nil, min(wait, d.poll))
			continue
		}
		if !d.deliver(ctx, r, msgs) {
			return // disabled
		}
	}
}

// countOutbox sets the receiver's gauges of pending and dead messages; at
// most once per poll unless forced (what another process retried or dropped
// shows within that time).
func (d *Dispatcher) countOutbox(ctx context.Context, r *receiver, force bool) {
	if !force && time.Since(r.counted) < d.poll {
		return
	}
	r.counted = time.Now()
	if stats, err := d.db.OutboxStats(ctx, r.cfg.Name); err == nil {
		d.m.WebhookPending.WithLabelValues(r.cfg.Name).Set(float64(stats[storage.StatePending]))
		d.m.WebhookDeadNow.WithLabelValues(r.cfg.Name).Set(float64(stats[storage.StateDead]))
	}
}

func sleep(ctx context.Context, wake <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}

// deliver makes one attempt for a batch of messages and records the
// outcome. It returns false when the receiver got disabled.
func (d *Dispatcher) deliver(ctx context.Context, r *receiver, msgs []storage.Message) bool {
	msgs = alone(msgs)
	name := r.cfg.Name
	if r.cfg.Format == "slack" && time.Since(r.last) < time.Second { // Slack: about 1 message/s
		sleep(ctx, nil, time.Second-time.Since(r.last))
	}
	m := Message{ID: msgs[0].Alert.ID + "." + strconv.FormatInt(msgs[0].Seq, 10), Created: msgs[0].Created}
	for _, x := range msgs {
		m.Alerts = append(m.Alerts, x.Alert)
	}
	r.last = time.Now()
	res := d.Send(ctx, r.cfg, r.n, m)
	wctx := context.WithoutCancel(ctx)
	switch {
	case res.OK():
		if err := d.db.MarkDelivered(wctx, msgs); err != nil {
			d.log.Error("delivered, but not recorded: it may be sent again with the same webhook-id", "webhook", name, "error", err)
		}
		for _, x := range msgs {
			d.m.WebhookLatency.WithLabelValues(name).Observe(time.Since(x.Created).Seconds())
		}
		d.m.WebhookDeliveries.WithLabelValues(name, "ok").Add(float64(len(msgs)))
		d.log.Debug("alert delivered", "webhook", name, "alerts", len(msgs), "status", res.Status, "latency", res.Latency)
		d.endRun(wctx, r)
		return true
	case res.Status == http.StatusGone:
		reason := fmt.Sprintf("410 Gone: %s", res.FirstLine)
		if err := d.db.Disable(wctx, name, r.urlHash, reason); err != nil {
			d.log.Error("could not record the disabled webhook", "webhook", name, "error", err)
		}
		d.m.WebhookDeliveries.WithLabelValues(name, "disabled").Add(float64(len(msgs)))
		d.m.WebhookDisabled.WithLabelValues(name).Set(1)
		d.log.Error("webhook answered 410 Gone and is disabled; its alerts stay in the outbox; change its url to enable it again", "webhook", name, "answer", res.FirstLine)
		return false
	case Permanent(res.Status):
		d.reject(wctx, r, msgs, res)
		return true
	}
	d.endRun(wctx, r)
	why := res.Cause()
	attempts := msgs[0].Attempts + 1
	delay := d.backoff(attempts)
	if res.RetryAfter > delay {
		delay = res.RetryAfter
	}
	if time.Now().Add(delay).After(msgs[0].Created.Add(r.cfg.RetryWindow.D())) {
		if err := d.db.MarkGaveUp(wctx, msgs, why); err != nil {
			d.log.Error("could not record a delivery given up", "webhook", name, "error", err)
		}
		d.m.WebhookGivenUp.WithLabelValues(name).Add(float64(len(msgs)))
		d.m.WebhookDeliveries.WithLabelValues(name, "gave_up").Add(float64(len(msgs)))
		d.log.Error("gave up delivering an alert after its retry window", "webhook", name, "alert", msgs[0].Alert.ID,
			"attempts", attempts, "retry_window", r.cfg.RetryWindow, "error", why)
		return true
	}
	if err := d.db.MarkRetry(wctx, msgs, time.Now().Add(delay), why); err != nil {
		d.log.Error("could not schedule a retry", "webhook", name, "error", err)
	}
	d.m.WebhookDeliveries.WithLabelValues(name, "retry").Add(float64(len(msgs)))
	d.log.Warn("webhook delivery failed; retrying", "webhook", name, "alert", msgs[0].Alert.ID, "attempt", attempts, "retry_in", delay.Round(time.Millisecond), "error", why)
	return true
}

// alone cuts a batch before its first message that was rejected before: a
// rejected message is sent on its own, so that one a receiver refuses
// takes no other down with it.
func alone(msgs []storage.Message) []storage.Message {
	for i, m := range msgs {
		if m.Rejections > 0 {
			return msgs[:max(i, 1)]
		}
	}
	return msgs
}

// backoff returns the jittered wait before retry n (n ≥ 1).
func (d *Dispatcher) backoff(n int) time.Duration {
	return jitter(d.schedule[min(n, len(d.schedule))-1])
}

// jitter returns base ±20 %.
func jitter(base time.Duration) time.Duration {
	j := base / 5
	return base - j + rand.N(2*j+1)
}

// Receivers returns the configured receivers' names.
func (d *Dispatcher) Receivers() []config.Webhook {
	if d == nil {
		return nil
	}
	out := make([]config.Webhook, len(d.rcv))
	for i, r := range d.rcv {
		out[i] = r.cfg
	}
	return out
}

// Notifier returns a receiver's notifier.
func (d *Dispatcher) Notifier(name string) (Notifier, bool) {
	for _, r := range d.rcv {
		if r.cfg.Name == name {
			return r.n, true
		}
	}
	return nil, false
}
