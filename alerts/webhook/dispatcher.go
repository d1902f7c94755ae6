package webhook

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/metrics"
	"github.com/rankpulse/rankpulse/scrapers"
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
	db  *storage.DB
	rcv []*receiver
	log *slog.Logger
	m   *metrics.Metrics

	client   *http.Client
	schedule []time.Duration

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type receiver struct {
	cfg     config.Webhook
	n       Notifier
	urlHash string
	wake    chan struct{}
	last    time.Time // last request, for Slack's one message a second
}

// Options tune a dispatcher (tests).
type Options struct {
	Schedule []time.Duration
}

// New returns a dispatcher for the configured receivers.
func New(db *storage.DB, hooks []config.Webhook, statusURL string, log *slog.Logger, m *metrics.Metrics, opts Options) (*Dispatcher, error) {
	if log == nil {
		log = slog.Default()
	}
	d := &Dispatcher{
		db: db, log: log.With("component", "webhooks"), m: metrics.OrNew(m),
		schedule: Schedule,
		client: &http.Client{
			// A redirect is not an acknowledgement; it is not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	if opts.Schedule != nil {
		d.schedule = opts.Schedule
	}
	for _, w := range hooks {
		n, err := NewNotifier(w, statusURL)
		if err != nil {
			return nil, err
		}
		d.rcv = append(d.rcv, &receiver{cfg: w, n: n, urlHash: URLHash(w.URL.Value()), wake: make(chan struct{}, 1)})
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
func (d *Dispatcher) Enqueue(ctx context.Context, tx *storage.Tx, alerts []chart.Alert) error {
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
// now (for run --once), until nothing due is left or ctx ends.
func (d *Dispatcher) Flush(ctx context.Context) {
	if d == nil {
		return
	}
	var wg sync.WaitGroup
	for _, r := range d.rcv {
		wg.Go(func() {
			for ctx.Err() == nil {
				if d.disabled(ctx, r) {
					return
				}
				msgs, err := d.db.NextMessages(ctx, r.cfg.Name, r.n.MaxBatch())
				if err != nil || len(msgs) == 0 || msgs[0].Next.After(time.Now()) {
					return
				}
				d.deliver(ctx, r, msgs)
			}
		})
	}
	wg.Wait()
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

// poll is how often an idle sender looks at its outbox without being woken.
const poll = time.Minute

func (d *Dispatcher) loop(ctx context.Context, r *receiver) {
	if d.disabled(ctx, r) {
		return
	}
	for ctx.Err() == nil {
		msgs, err := d.db.NextMessages(ctx, r.cfg.Name, r.n.MaxBatch())
		if err != nil {
			d.log.Error("reading the outbox failed", "webhook", r.cfg.Name, "error", err)
			sleep(ctx, r.wake, poll)
			continue
		}
		if len(msgs) == 0 {
			d.m.WebhookPending.WithLabelValues(r.cfg.Name).Set(0)
			sleep(ctx, r.wake, poll)
			continue
		}
		if wait := time.Until(msgs[0].Next); wait > 0 {
			if stats, err := d.db.OutboxStats(ctx, r.cfg.Name); err == nil {
				d.m.WebhookPending.WithLabelValues(r.cfg.Name).Set(float64(stats["pending"]))
			}
			sleep(ctx, nil, wait) // in order: nothing overtakes the head
			continue
		}
		if !d.deliver(ctx, r, msgs) {
			return // disabled
		}
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

// Result is one delivery attempt.
type Result struct {
	Status     int
	Latency    time.Duration
	FirstLine  string
	RetryAfter time.Duration
	Err        error
}

// OK reports a 2xx answer.
func (r Result) OK() bool { return r.Err == nil && r.Status >= 200 && r.Status < 300 }

// Send makes one attempt to deliver m to a receiver.
func (d *Dispatcher) Send(ctx context.Context, w config.Webhook, n Notifier, m Message) Result {
	ctx, cancel := context.WithTimeoutCause(ctx, w.Timeout.D(), fmt.Errorf("no answer within its %s timeout", w.Timeout))
	defer cancel()
	req, err := n.Request(ctx, m)
	if err != nil {
		return Result{Err: err}
	}
	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && errors.Is(err, context.DeadlineExceeded) {
			err = cause
		}
		return Result{Latency: time.Since(start), Err: sendError(err, w)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	res := Result{Status: resp.StatusCode, Latency: time.Since(start), FirstLine: answerLine(body, w)}
	res.RetryAfter = scrapers.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	if res.RetryAfter == 0 && resp.StatusCode == http.StatusTooManyRequests {
		var v struct {
			RetryAfter float64 `json:"retry_after"` // Discord: seconds
		}
		if json.Unmarshal(body, &v) == nil && v.RetryAfter > 0 {
			res.RetryAfter = time.Duration(v.RetryAfter * float64(time.Second))
		}
	}
	return res
}

// sendError is what Send reports when a request got no answer: the
// receiver's name and the cause, never the URL (a secret for Slack and
// Discord). The HTTP client's *url.Error spells the URL its own way (its
// password as ***, its path escaped), so it is dropped for its cause rather
// than redacted; redact then catches any secret still in the text.
func sendError(err error, w config.Webhook) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	err = fmt.Errorf("POST to receiver %q: %w", w.Name, err)
	if msg := redact(err.Error(), w); msg != err.Error() {
		return errors.New(msg) // the chain holds a secret: keep only the text
	}
	return err
}

// redact replaces every spelling of a receiver's secrets in s: its URL as
// configured, as net/url and net/http print it, without user info, its
// path, user info and query values, and its header values and signing
// secret. Strings shorter than 4 bytes are left alone: they would garble
// the message more than they hide.
func redact(s string, w config.Webhook) string {
	if s == "" {
		return s
	}
	repl := map[string]string{}
	add := func(with string, olds ...string) {
		for _, old := range olds {
			if len(old) >= 4 {
				repl[old] = with
				if q := strconv.Quote(old); q[1:len(q)-1] != old { // url.Error quotes the URL
					repl[q[1:len(q)-1]] = with
				}
			}
		}
	}
	raw := w.URL.Value()
	named := "<url of webhook " + w.Name + ">"
	add(named, raw)
	if u, err := url.Parse(raw); err == nil {
		add(named, u.String())
		v := *u
		v.User = nil
		add(named, v.String())
		if u.User != nil {
			v.User = url.UserPassword(u.User.Username(), "***") // as net/http prints it
			add(named, v.String(), u.Redacted())
			pw, _ := u.User.Password()
			add("REDACTED", u.User.String(), pw)
		}
		// A long path is the secret of Slack and Discord URLs; a short one
		// (/api/v2/alerts) is not, and hiding it would garble answers. A
		// segment that looks like a token is hidden either way.
		if len(u.Path) >= 16 {
			add("REDACTED", u.Path, u.EscapedPath())
		}
		for seg := range strings.SplitSeq(u.Path, "/") {
			if len(seg) >= 8 && strings.ContainsAny(seg, "0123456789") {
				add("REDACTED", seg, url.PathEscape(seg))
			}
		}
		add("REDACTED", u.RawQuery)
		for _, vs := range u.Query() {
			for _, x := range vs {
				add("REDACTED", x, url.QueryEscape(x))
			}
		}
	}
	add("REDACTED", w.Secret.Value())
	for name, h := range w.Headers {
		if plainHeaders[http.CanonicalHeaderKey(name)] {
			continue
		}
		add("REDACTED", h.Value())
		for _, word := range strings.Fields(h.Value()) { // "Bearer <token>"
			if !authSchemes[strings.ToLower(word)] {
				add("REDACTED", word)
			}
		}
	}
	olds := slices.Collect(maps.Keys(repl))
	// At each position strings.Replacer tries the old strings in order:
	// longest first, so a whole URL goes before the parts it contains.
	slices.SortFunc(olds, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(olds))
	for _, old := range olds {
		pairs = append(pairs, old, repl[old])
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// answerLine is the first line of a receiver's answer, redacted as a whole
// before it is cut short: a cut secret would no longer match.
func answerLine(body []byte, w config.Webhook) string {
	return firstLine([]byte(redact(string(body), w)))
}

// plainHeaders carry no secret; hiding their values would garble answers
// that quote them.
var plainHeaders = map[string]bool{"Content-Type": true, "Accept": true, "User-Agent": true}

// authSchemes are the words before a credential in an Authorization header.
var authSchemes = map[string]bool{"bearer": true, "basic": true, "token": true, "bot": true, "digest": true}

func firstLine(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			if len(l) > 200 {
				l = strings.ToValidUTF8(l[:200], "") + "…"
			}
			return l
		}
	}
	return ""
}

// deliver makes one attempt for a batch of messages and records the
// outcome. It returns false when the receiver got disabled.
func (d *Dispatcher) deliver(ctx context.Context, r *receiver, msgs []storage.Message) bool {
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
	}
	why := res.describe()
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
			"attempts", attempts, "retry_window", r.cfg.RetryWindow, "last_error", why)
		return true
	}
	if err := d.db.MarkRetry(wctx, msgs, time.Now().Add(delay), why); err != nil {
		d.log.Error("could not schedule a retry", "webhook", name, "error", err)
	}
	d.m.WebhookDeliveries.WithLabelValues(name, "retry").Add(float64(len(msgs)))
	d.log.Warn("webhook delivery failed; retrying", "webhook", name, "alert", msgs[0].Alert.ID, "attempt", attempts, "retry_in", delay.Round(time.Millisecond), "error", why)
	return true
}

func (r Result) describe() string {
	if r.Err != nil {
		return r.Err.Error()
	}
	s := fmt.Sprintf("HTTP %d %s", r.Status, http.StatusText(r.Status))
	if r.FirstLine != "" {
		s += ": " + r.FirstLine
	}
	return s
}

// backoff returns the jittered wait before retry n (n ≥ 1).
func (d *Dispatcher) backoff(n int) time.Duration {
	base := d.schedule[min(n, len(d.schedule))-1]
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
