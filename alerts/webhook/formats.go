package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
)

// jsonNotifier posts {"type":"rank.alert","timestamp":…,"data":<alert>}
// (SPEC §6), one alert a request, signed as Standard Webhooks says when the
// receiver has a secret.
type jsonNotifier struct{ w config.Webhook }

func newJSON(w config.Webhook, _ string) (Notifier, error) {
	if s := w.Secret.Value(); s != "" {
		if _, err := Sign(s, "check", 0, nil); err != nil {
			return nil, fmt.Errorf("webhook %s: secret: %w", w.Name, err)
		}
	}
	return jsonNotifier{w}, nil
}

func (n jsonNotifier) MaxBatch() int { return 1 }

// JSONEvent is the json format's body.
type JSONEvent struct {
	Type      string      `json:"type"`
	Timestamp time.Time   `json:"timestamp"`
	Data      chart.Alert `json:"data"`
}

func (n jsonNotifier) Request(ctx context.Context, m Message) (*http.Request, error) {
	body, err := json.Marshal(JSONEvent{Type: "rank.alert", Timestamp: m.Created.UTC().Truncate(time.Second), Data: m.Alerts[0]})
	if err != nil {
		return nil, err
	}
	req, err := post(ctx, n.w, body, "application/json")
	if err != nil {
		return nil, err
	}
	ts := time.Now().Unix()
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	if s := n.w.Secret.Value(); s != "" {
		sig, err := Sign(s, m.ID, ts, body)
		if err != nil {
			return nil, err // Send names the receiver
		}
		req.Header.Set("webhook-signature", sig)
	}
	return req, nil
}

// slackNotifier posts an incoming-webhook message: a text fallback and one
// block per alert, several alerts of one sweep per message (Slack takes
// about one message a second per webhook).
type slackNotifier struct {
	w         config.Webhook
	statusURL string
}

func newSlack(w config.Webhook, statusURL string) (Notifier, error) {
	return slackNotifier{w, statusURL}, nil
}

func (n slackNotifier) MaxBatch() int { return 20 }

// SlackMessage is the slack format's body.
type SlackMessage struct {
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is a Block Kit block (section or context).
type SlackBlock struct {
	Type     string      `json:"type"`
	Text     *SlackText  `json:"text,omitempty"`
	Elements []SlackText `json:"elements,omitempty"`
}

// SlackText is a Block Kit text object.
type SlackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func (n slackNotifier) Request(ctx context.Context, m Message) (*http.Request, error) {
	var msg SlackMessage
	for i, a := range m.Alerts {
		line := slackEscape(Line(a))
		if i == 0 {
			msg.Text = line
		}
		msg.Blocks = append(msg.Blocks, SlackBlock{Type: "section", Text: &SlackText{Type: "mrkdwn", Text: icon(a) + " " + line}})
	}
	if len(m.Alerts) > 1 {
		msg.Text = fmt.Sprintf("%s (and %d more)", msg.Text, len(m.Alerts)-1)
	}
	ctxText := "rankpulse · " + m.Alerts[0].Time.UTC().Format("2006-01-02 15:04 UTC")
	if n.statusURL != "" {
		ctxText = fmt.Sprintf("<%s|rankpulse status> · %s", n.statusURL, m.Alerts[0].Time.UTC().Format("2006-01-02 15:04 UTC"))
	}
	msg.Blocks = append(msg.Blocks, SlackBlock{Type: "context", Elements: []SlackText{{Type: "mrkdwn", Text: ctxText}}})
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return post(ctx, n.w, body, "application/json")
}

// discordNotifier posts an execute-webhook message: content of at most 2,000
// characters and one embed per alert (at most 10).
type discordNotifier struct {
	w         config.Webhook
	statusURL string
}

func newDiscord(w config.Webhook, statusURL string) (Notifier, error) {
	return discordNotifier{w, statusURL}, nil
}

func (n discordNotifier) MaxBatch() int { return 10 }

// DiscordMessage is the discord format's body.
type DiscordMessage struct {
	Content string         `json:"content"`
	Embeds  []DiscordEmbed `json:"embeds"`
}

// DiscordEmbed is one alert.
type DiscordEmbed struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	URL         string `json:"url,omitempty"`
	Color       int    `json:"color"`
	Timestamp   string `json:"timestamp"`
}

// DiscordContentLimit is the most characters Discord takes in content.
const DiscordContentLimit = 2000

func (n discordNotifier) Request(ctx context.Context, m Message) (*http.Request, error) {
	var msg DiscordMessage
	var lines []string
	for _, a := range m.Alerts {
		lines = append(lines, icon(a)+" "+Line(a))
		color := 0xF0A020 // warning
		if a.Severity == chart.SeverityCritical {
			color = 0xD03030
		}
		msg.Embeds = append(msg.Embeds, DiscordEmbed{
			Title:       truncateRunes(a.AppName+" · "+strings.ReplaceAll(a.Kind, "_", " "), 256),
			Description: truncateRunes(a.Summary, 4096),
			URL:         n.statusURL,
			Color:       color,
			Timestamp:   a.Time.UTC().Format(time.RFC3339),
		})
	}
	msg.Content = truncateRunes(strings.Join(lines, "\n"), DiscordContentLimit)
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return post(ctx, n.w, body, "application/json")
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// alertmanagerNotifier posts the Alertmanager webhook payload (version 4),
// so anything that takes Alertmanager webhooks takes rankpulse alerts.
type alertmanagerNotifier struct {
	w         config.Webhook
	statusURL string
}

func newAlertmanager(w config.Webhook, statusURL string) (Notifier, error) {
	return alertmanagerNotifier{w, statusURL}, nil
}

func (n alertmanagerNotifier) MaxBatch() int { return 50 }

// AMPayload is Alertmanager's webhook body.
type AMPayload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []AMAlert         `json:"alerts"`
}

// AMAlert is one alert of the payload.
type AMAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// alertName is the Alertmanager alertname of each kind.
var alertName = map[string]string{
	chart.KindSurge: "RankSurge", chart.KindDrop: "RankDrop", chart.KindEntered: "ChartEntered",
	chart.KindExited: "ChartExited", chart.KindRemoved: "AppRemoved", chart.KindMultiCountry: "MultiCountrySurge",
}

// AMLabels are an alert's labels: its tags (SPEC §5) and its chart.
func AMLabels(a chart.Alert) map[string]string {
	l := map[string]string{
		"alertname": alertName[a.Kind], "kind": a.Kind, "severity": a.Severity, "store": a.Store,
		"country": a.CountryCode(), "chart": a.Chart, "category": a.Category, "app_id": a.AppID,
		"app_name": a.AppName, "watch": a.WatchName(),
	}
	if a.Kind == chart.KindMultiCountry {
		l["countries"] = strings.Join(a.Countries, ",")
	}
	for k, v := range l {
		if v == "" {
			delete(l, k)
		}
	}
	return l
}

func (n alertmanagerNotifier) Request(ctx context.Context, m Message) (*http.Request, error) {
	p := AMPayload{
		Version: "4", Status: "firing", Receiver: n.w.Name, GroupLabels: map[string]string{},
		CommonAnnotations: map[string]string{}, ExternalURL: n.statusURL,
	}
	var common map[string]string
	for _, a := range m.Alerts {
		labels := AMLabels(a)
		p.Alerts = append(p.Alerts, AMAlert{
			Status: "firing", Labels: labels,
			Annotations:  map[string]string{"summary": a.Summary, "description": Line(a)},
			StartsAt:     a.Time.UTC(),
			GeneratorURL: n.statusURL,
			Fingerprint:  a.ID,
		})
		if common == nil {
			common = map[string]string{}
			for k, v := range labels {
				common[k] = v
			}
		} else {
			for k, v := range common {
				if labels[k] != v {
					delete(common, k)
				}
			}
		}
	}
	p.CommonLabels = common
	p.GroupKey = fmt.Sprintf("{}:{receiver=%q}/%s", n.w.Name, m.ID)
	body, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return post(ctx, n.w, body, "application/json")
}
