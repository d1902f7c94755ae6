package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/storage"
)

// DefaultRejectSchedule is the wait before each retry of a message the
// receiver rejected permanently (each jittered by ±20 %): three attempts in
// about a minute, for a receiver that refused by mistake. One more
// rejection after the last wait sets the message aside as dead, and the
// messages behind it go on. A rejection's Retry-After is not honoured: it
// would hold the messages behind.
var DefaultRejectSchedule = []time.Duration{10 * time.Second, 45 * time.Second}

// Permanent reports whether an HTTP status rejects a message for good:
// retrying the same request will not help. That is a 4xx other than 408
// Request Timeout, 425 Too Early and 429 Too Many Requests (which ask to
// retry later) and 410 Gone (which disables the receiver).
func Permanent(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests, http.StatusGone:
		return false
	}
	return status >= 400 && status < 500
}

// Fingerprint identifies the settings a receiver's answers depend on (its
// url, format, signing secret and headers) without keeping them: a run of
// rejections recorded under other settings does not count.
func Fingerprint(w config.Webhook) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", w.URL.Value(), w.Format, w.Secret.Value())
	headers := make([]string, 0, len(w.Headers))
	for k, v := range w.Headers {
		headers = append(headers, http.CanonicalHeaderKey(k)+"\x00"+v.Value()+"\x00")
	}
	slices.Sort(headers)
	for _, kv := range headers {
		h.Write([]byte(kv))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// RejectsEverything is the rule for a receiver that rejects everything:
// its current run of attempts that were all permanent rejections, with
// nothing delivered and no other answer in between, was made with its
// present settings and spans at least its retry window (from the run's
// first rejection to its last). A single bad alert does not make a run that
// long: its few attempts take a minute. Any other answer, or new settings,
// ends the run.
func RejectsEverything(run storage.RejectRun, w config.Webhook) bool {
	return run.Fingerprint == Fingerprint(w) && run.Last.Sub(run.First) >= w.RetryWindow.D()
}

// Rejecting returns a receiver's run of permanent rejections when it
// rejects everything (see RejectsEverything).
func Rejecting(ctx context.Context, db storage.Outbox, w config.Webhook) (storage.RejectRun, bool, error) {
	run, ok, err := db.RejectRunOf(ctx, w.Name)
	if err != nil || !ok {
		return storage.RejectRun{}, false, err
	}
	return run, RejectsEverything(run, w), nil
}

// RejectingProblem describes a receiver that rejects everything, for
// `config check` and /readyz, which name the receiver before it.
func RejectingProblem(w config.Webhook, run storage.RejectRun) string {
	return fmt.Sprintf("rejected every attempt for at least its retry_window (%s): %d rejections from %s to %s, the last %s; "+
		"fix the receiver or its settings, then `rankpulse alerts retry` its dead alerts (`rankpulse alerts pending` lists them)",
		w.RetryWindow, run.Count, run.First.UTC().Format(time.RFC3339), run.Last.UTC().Format(time.RFC3339), run.LastError)
}

// Problems lists the receivers that reject everything, for /readyz.
func (d *Dispatcher) Problems(ctx context.Context) []string {
	if d == nil {
		return nil
	}
	var out []string
	for _, r := range d.rcv {
		run, bad, err := Rejecting(ctx, d.db, r.cfg)
		switch {
		case err != nil:
			out = append(out, err.Error()) // it names the receiver
		case bad:
			out = append(out, "webhook "+r.cfg.Name+": "+RejectingProblem(r.cfg, run))
		}
	}
	return out
}

// prepare loads a receiver's run of rejections when its sender starts; a
// run recorded under other settings is over.
func (d *Dispatcher) prepare(ctx context.Context, r *receiver) {
	run, ok, err := d.db.RejectRunOf(ctx, r.cfg.Name)
	if err != nil {
		d.log.Error("reading the webhook state failed", "webhook", r.cfg.Name, "error", err)
	}
	if ok && run.Fingerprint != r.fp {
		if err := d.db.EndRejectRun(ctx, r.cfg.Name); err != nil {
			d.log.Error("could not reset the webhook state", "webhook", r.cfg.Name, "error", err)
		}
		ok = false
	}
	r.inRun, r.rejecting = ok, ok && RejectsEverything(run, r.cfg)
	d.setRejecting(r)
	d.countOutbox(ctx, r, true)
}

func (d *Dispatcher) setRejecting(r *receiver) {
	v := 0.0
	if r.rejecting {
		v = 1
	}
	d.m.WebhookRejecting.WithLabelValues(r.cfg.Name).Set(v)
}

// endRun records an answer that was not a permanent rejection.
func (d *Dispatcher) endRun(ctx context.Context, r *receiver) {
	if !r.inRun {
		return
	}
	if err := d.db.EndRejectRun(ctx, r.cfg.Name); err != nil {
		d.log.Error("could not record the webhook state", "webhook", r.cfg.Name, "error", err)
		return
	}
	if r.rejecting {
		d.log.Info("webhook no longer rejects everything", "webhook", r.cfg.Name)
	}
	r.inRun, r.rejecting = false, false
	d.setRejecting(r)
}

// reject records a permanent rejection of msgs: a retry soon while the
// message has budget left, else it is set aside as dead and no longer
// holds the messages behind it. A batch of several is never dead at once:
// its messages are tried one by one next (see alone).
func (d *Dispatcher) reject(ctx context.Context, r *receiver, msgs []storage.Message, res Result) {
	name, why, now := r.cfg.Name, res.Cause(), time.Now()
	n := msgs[0].Rejections + 1 // more than one message: none was rejected before
	rj := storage.Rejection{Status: res.Status, Reason: why, At: now}
	if n <= len(d.rejectSchedule) {
		rj.Next = now.Add(jitter(d.rejectSchedule[n-1]))
	} else if rj.Dead = len(msgs) == 1; !rj.Dead {
		rj.Next = now
	}
	if !rj.Dead && rj.Next.After(msgs[0].Created.Add(r.cfg.RetryWindow.D())) && len(msgs) == 1 {
		rj.Dead = true // its retry window ends first
	}
	if err := d.db.MarkRejected(ctx, msgs, rj); err != nil {
		d.log.Error("could not record a rejected delivery", "webhook", name, "error", err)
	}
	if rj.Dead {
		d.m.WebhookDead.WithLabelValues(name).Inc()
		d.m.WebhookDeliveries.WithLabelValues(name, "dead").Inc()
		d.log.Error("webhook rejected an alert; it is set aside as dead and no longer holds the alerts behind it "+
			"(`rankpulse alerts pending` lists it; `rankpulse alerts retry|drop` it)",
			"webhook", name, "alert", msgs[0].Alert.ID, "seq", msgs[0].Seq, "status", res.Status, "answer", res.FirstLine, "attempts", msgs[0].Attempts+1)
	} else {
		d.m.WebhookDeliveries.WithLabelValues(name, "rejected").Add(float64(len(msgs)))
		d.log.Warn("webhook rejected a delivery; retrying it a few times before setting it aside",
			"webhook", name, "alert", msgs[0].Alert.ID, "alerts", len(msgs), "rejections", n, "retry_in", rj.Next.Sub(now).Round(time.Millisecond),
			"status", res.Status, "answer", res.FirstLine)
	}
	d.countOutbox(ctx, r, true)
	run, err := d.db.NoteRejection(ctx, name, r.fp, why, now)
	if err != nil {
		d.log.Error("could not record the webhook state", "webhook", name, "error", err)
		return
	}
	was := r.rejecting
	r.inRun, r.rejecting = true, RejectsEverything(run, r.cfg)
	d.setRejecting(r)
	if r.rejecting && !was {
		d.log.Error("webhook rejects everything", "webhook", name, "problem", RejectingProblem(r.cfg, run))
	}
}
