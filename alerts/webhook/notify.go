// Package webhook delivers alerts to receivers: signed JSON (Standard
// Webhooks), Slack and Discord incoming webhooks, and the Alertmanager
// webhook payload.
//
// Every alert is written to a durable outbox in the transaction that stores
// it. A Dispatcher then delivers each receiver's outbox in order, one
// goroutine per receiver (so a receiver that hangs delays nobody else).
// A receiver that is down holds its queue: the failed message is retried
// with jittered backoff for the receiver's retry window, honouring
// Retry-After. A permanent rejection (a 4xx but 408, 425 and 429) gets a
// short budget of attempts, then the message is set aside as dead, so that
// it holds nothing behind it; a 410 Gone disables the receiver. A message
// is marked delivered only on a 2xx answer, so a crash can at worst resend
// one, with the same webhook-id.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
)

// Message is what one request delivers: one or more alerts of one sweep.
type Message struct {
	// ID identifies the delivery: the webhook-id, the same on every retry.
	ID      string
	Alerts  []chart.Alert
	Created time.Time
}

// Notifier turns messages into HTTP requests in one receiver's format.
type Notifier interface {
	// Request builds the POST that delivers m.
	Request(ctx context.Context, m Message) (*http.Request, error)
	// MaxBatch is how many alerts of one sweep a request may carry.
	MaxBatch() int
}

// formats are the payload formats, by config name.
var formats = map[string]func(w config.Webhook, statusURL string) (Notifier, error){
	"json":         newJSON,
	"slack":        newSlack,
	"discord":      newDiscord,
	"alertmanager": newAlertmanager,
}

// NewNotifier returns the notifier for a receiver.
func NewNotifier(w config.Webhook, statusURL string) (Notifier, error) {
	f, ok := formats[w.Format]
	if !ok {
		return nil, fmt.Errorf("webhook %s: unknown format %q", w.Name, w.Format)
	}
	return f(w, statusURL)
}

func post(ctx context.Context, w config.Webhook, body []byte, contentType string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL.Value(), strings.NewReader(string(body)))
	if err != nil {
		return nil, errors.New("its url is not valid") // never the URL itself; Send names the receiver
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "rankpulse-webhook/1")
	for k, v := range w.Headers {
		req.Header.Set(k, v.Value())
	}
	return req, nil
}

// Sign returns the Standard Webhooks signature header value of a delivery:
// "v1," + base64 HMAC-SHA256 over "id.timestamp.body". A secret with the
// "whsec_" prefix is base64 after it, as the spec defines; any other secret
// is used as it is.
func Sign(secret, id string, ts int64, body []byte) (string, error) {
	key := []byte(secret)
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		k, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", fmt.Errorf("the whsec_ secret is not base64: %w", err)
		}
		key = k
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// flag returns a country's flag emoji ("" when there is none).
func flag(cc string) string {
	if len(cc) != 2 || cc == "xk" {
		return ""
	}
	cc = strings.ToUpper(cc)
	return string(rune(0x1F1E6+rune(cc[0]-'A'))) + string(rune(0x1F1E6+rune(cc[1]-'A')))
}

// Line is an alert as one readable line: what happened, where, in which
// store and chart.
func Line(a chart.Alert) string {
	app := a.AppName
	if app == "" {
		app = a.AppID
	}
	rank := func(p *int) string {
		if p == nil {
			return "below the chart"
		}
		return "#" + strconv.Itoa(*p)
	}
	key := chart.Key{Store: a.Store, Country: a.CountryCode(), Chart: a.Chart, Category: a.Category}
	var what string
	switch a.Kind {
	case chart.KindSurge:
		what = fmt.Sprintf("rose from %s to %s", rank(a.FromRank), rank(a.ToRank))
	case chart.KindDrop:
		what = fmt.Sprintf("fell from %s to %s", rank(a.FromRank), rank(a.ToRank))
	case chart.KindEntered:
		what = "entered at " + rank(a.ToRank)
	case chart.KindExited:
		what = fmt.Sprintf("left the chart (was %s)", rank(a.FromRank))
	case chart.KindRemoved:
		what = fmt.Sprintf("disappeared from every chart (was %s): possible ban or takedown", rank(a.FromRank))
	case chart.KindMultiCountry:
		flags := make([]string, 0, len(a.Countries))
		for _, cc := range a.Countries {
			if f := flag(cc); f != "" {
				flags = append(flags, f)
			} else {
				flags = append(flags, strings.ToUpper(cc))
			}
		}
		return fmt.Sprintf("%s surged in %d countries: %s · %s · %s", app, len(a.Countries), strings.Join(flags, " "), key.ChartTitle(), chart.StoreName(a.Store))
	default:
		what = a.Kind
	}
	where := strings.TrimSpace(flag(a.CountryCode()) + " " + chart.CountryName(a.CountryCode()))
	return fmt.Sprintf("%s %s · %s · %s · %s", app, what, where, key.ChartTitle(), chart.StoreName(a.Store))
}

func icon(a chart.Alert) string {
	switch a.Kind {
	case chart.KindSurge, chart.KindEntered, chart.KindMultiCountry:
		return "📈"
	case chart.KindDrop, chart.KindExited:
		return "📉"
	case chart.KindRemoved:
		return "🚫"
	}
	return "🔔"
}
