package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/scrapers"
)

// Result is one delivery attempt.
type Result struct {
	Status     int
	Latency    time.Duration
	FirstLine  string // of the answer, redacted
	RetryAfter time.Duration
	Err        error // a *SendError: no answer (or no request)
}

// OK reports a 2xx answer.
func (r Result) OK() bool { return r.Err == nil && r.Status >= 200 && r.Status < 300 }

// Cause is why an attempt failed, without the receiver's name, for lines
// that name the receiver apart (log lines, the outbox, `alerts test`): the
// network error, or the HTTP status and the first line of the answer.
func (r Result) Cause() string {
	var se *SendError
	switch {
	case errors.As(r.Err, &se):
		return se.Err.Error()
	case r.Err != nil:
		return r.Err.Error()
	}
	s := fmt.Sprintf("HTTP %d %s", r.Status, http.StatusText(r.Status))
	if r.FirstLine != "" {
		s += ": " + r.FirstLine
	}
	return s
}

// SendError is an attempt that got no answer: the receiver's name and the
// cause, never the URL (a secret for Slack and Discord).
type SendError struct {
	Webhook string
	Err     error
}

func (e *SendError) Error() string {
	return "POST to receiver " + strconv.Quote(e.Webhook) + ": " + e.Err.Error()
}

func (e *SendError) Unwrap() error { return e.Err }

// Send makes one attempt to deliver m to a receiver.
func (d *Dispatcher) Send(ctx context.Context, w config.Webhook, n Notifier, m Message) Result {
	ctx, cancel := context.WithTimeoutCause(ctx, w.Timeout.D(), fmt.Errorf("no answer within its %s timeout", w.Timeout))
	defer cancel()
	req, err := n.Request(ctx, m)
	if err != nil {
		return Result{Err: sendError(err, w)}
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

// sendError is what Send reports when a request got no answer. The HTTP
// client's *url.Error spells the URL its own way (its password as ***, its
// path escaped) and repeats the method, so it is dropped for its cause
// rather than redacted; redact then catches any secret still in the text.
func sendError(err error, w config.Webhook) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if msg := redact(err.Error(), w); msg != err.Error() {
		err = errors.New(msg) // the chain holds a secret: keep only the text
	}
	return &SendError{Webhook: w.Name, Err: err}
}
