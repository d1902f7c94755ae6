package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rankpulse/rankpulse/alerts/webhook"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/internal/syncbuf"
	"github.com/rankpulse/rankpulse/metrics"
	"github.com/rankpulse/rankpulse/storage"
)

// received is one request a test receiver got.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is an httptest webhook receiver whose answers the test scripts.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	answers []func(w http.ResponseWriter) // one per request; the last repeats
}

func newReceiver(t *testing.T, answers ...func(w http.ResponseWriter)) *receiver {
	r := &receiver{answers: answers}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{header: req.Header.Clone(), body: body, at: time.Now()})
		answer := func(w http.ResponseWriter) { w.WriteHeader(200); fmt.Fprintln(w, "ok") }
		if n := len(r.answers); n > 0 {
			answer = r.answers[min(len(r.got)-1, n-1)]
		}
		r.mu.Unlock()
		answer(w)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func status(code int, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { w.WriteHeader(code); fmt.Fprint(w, body) }
}

var at = time.Date(2021, 1, 8, 2, 7, 0, 0, time.UTC)

func alert(i int, kind string) chart.Alert {
	a := chart.Alert{
		ID: fmt.Sprintf("alert%02d", i), Kind: kind, Severity: "warning", Time: at, Store: "appstore", Country: chart.Ptr("us"),
		Chart: "top-free", Category: "all", AppID: "874139669", AppName: "Signal - Private Messenger", Watch: chart.Ptr("signal"),
		FromRank: chart.Ptr(143), ToRank: chart.Ptr(4), Summary: fmt.Sprintf("Signal - Private Messenger rose from #143 to #4 in US top free (App Store) in 8h [%d]", i),
	}
	if kind == chart.KindMultiCountry {
		a.Country, a.FromRank, a.ToRank, a.Severity = nil, nil, nil, "critical"
		a.Countries = []string{"br", "in", "tr"}
	}
	return a
}

func hook(name, url, format string) config.Webhook {
	return config.Webhook{Name: name, URL: config.Secret(url), Format: format, Timeout: config.Duration(2 * time.Second), RetryWindow: config.Duration(time.Hour)}
}

// verify checks a Standard Webhooks signature the way a receiver would,
// written from the spec, not with the package's signer.
func verify(t *testing.T, secret string, h http.Header, body []byte) {
	t.Helper()
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		t.Fatalf("missing Standard Webhooks headers: %v", h)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		t.Fatalf("webhook-timestamp %q is not a current Unix time", ts)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) { // a space-separated list of "v1,<base64>"
		version, sig, _ := strings.Cut(s, ",")
		got, err := base64.StdEncoding.DecodeString(sig)
		if version == "v1" && err == nil && hmac.Equal(got, want) {
			return
		}
	}
	t.Fatalf("no valid v1 signature in %q", sigs)
}

// testOptions are short schedules: retries after 20 and 40 ms, a rejected
// message retried after 30 and 60 ms, the outbox reread every 50 ms.
var testOptions = webhook.Options{
	Schedule:       []time.Duration{20 * time.Millisecond, 40 * time.Millisecond},
	RejectSchedule: []time.Duration{30 * time.Millisecond, 60 * time.Millisecond},
	Poll:           50 * time.Millisecond,
}

func newDispatcher(t testing.TB, hooks ...config.Webhook) (*webhook.Dispatcher, *storage.DB, *metrics.Metrics, *syncbuf.Buffer) {
	t.Helper()
	db, err := storage.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d, m, logs := dispatcherOn(t, db, testOptions, hooks...)
	return d, db, m, logs
}

// dispatcherOn makes a dispatcher on db that logs (debug and up) to a
// buffer.
func dispatcherOn(t testing.TB, db *storage.DB, opts webhook.Options, hooks ...config.Webhook) (*webhook.Dispatcher, *metrics.Metrics, *syncbuf.Buffer) {
	t.Helper()
	m := metrics.New()
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := webhook.New(db, hooks, "https://rankpulse.example/status", log, m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return d, m, logs
}

// raise stores alerts and enqueues them in one transaction, as the daemon
// does.
func raise(t testing.TB, d *webhook.Dispatcher, db *storage.DB, as ...chart.Alert) {
	t.Helper()
	err := db.WithTx(context.Background(), func(tx *storage.Tx) error {
		for i := range as {
			if _, err := tx.SaveAlert(context.Background(), &as[i]); err != nil {
				return err
			}
		}
		return d.Enqueue(context.Background(), tx, as)
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Notify()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestJSONPayloadAndSignature(t *testing.T) {
	r := newReceiver(t)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	w := hook("ops", r.URL, "json")
	w.Secret = secret
	w.Headers = map[string]config.Secret{"Authorization": "Bearer t0k3n"}
	d, db, _, _ := newDispatcher(t, w)
	a := alert(1, chart.KindSurge)
	raise(t, d, db, a)
	d.Flush(context.Background())
	got := r.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	req := got[0]
	verify(t, secret, req.header, req.body)
	if req.header.Get("Content-Type") != "application/json" || req.header.Get("Authorization") != "Bearer t0k3n" {
		t.Fatalf("headers %v", req.header)
	}
	if id := req.header.Get("webhook-id"); !strings.HasPrefix(id, a.ID+".") {
		t.Fatalf("webhook-id %q does not carry the alert id", id)
	}
	var ev struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(req.body, &ev); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(a)
	if ev.Type != "rank.alert" || ev.Timestamp.IsZero() || string(ev.Data) != string(want) {
		t.Fatalf("body %s", req.body)
	}
	var fields map[string]any
	json.Unmarshal(ev.Data, &fields)
	for _, k := range []string{"id", "kind", "severity", "time", "store", "country", "chart", "category", "app_id", "app_name", "watch", "from_rank", "to_rank", "countries", "summary"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("data lacks %q", k)
		}
	}
}

func TestSlackBatchesOneSweepIntoOneMessage(t *testing.T) {
	r := newReceiver(t)
	d, db, _, _ := newDispatcher(t, hook("team", r.URL, "slack"))
	raise(t, d, db, alert(1, chart.KindSurge), alert(2, chart.KindSurge), alert(3, chart.KindMultiCountry))
	d.Flush(context.Background())
	got := r.requests()
	if len(got) != 1 {
		t.Fatalf("%d Slack messages for one sweep, want 1", len(got))
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type, Text string
			} `json:"text"`
			Elements []struct{ Type, Text string } `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(got[0].body, &msg); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg.Text, "Signal - Private Messenger rose from #143 to #4 · 🇺🇸 United States · top free · App Store") || !strings.HasSuffix(msg.Text, "(and 2 more)") {
		t.Fatalf("text %q", msg.Text)
	}
	if len(msg.Blocks) != 4 || msg.Blocks[0].Type != "section" || msg.Blocks[0].Text.Type != "mrkdwn" {
		t.Fatalf("blocks %s", got[0].body)
	}
	if !strings.Contains(msg.Blocks[2].Text.Text, "surged in 3 countries: 🇧🇷 🇮🇳 🇹🇷") {
		t.Fatalf("multi-country line %q", msg.Blocks[2].Text.Text)
	}
	if ctx := msg.Blocks[3]; ctx.Type != "context" || !strings.Contains(ctx.Elements[0].Text, "<https://rankpulse.example/status|rankpulse status>") {
		t.Fatalf("no link to the status page: %+v", ctx)
	}
}

func TestDiscordStaysWithinItsLimitsAndHonoursRetryAfter(t *testing.T) {
	r := newReceiver(t, status(429, `{"message": "You are being rate limited.", "retry_after": 0.3, "global": false}`), status(204, ""))
	d, db, _, _ := newDispatcher(t, hook("chat", r.URL, "discord"))
	var as []chart.Alert
	for i := range 10 {
		a := alert(i, chart.KindSurge)
		a.AppName = strings.Repeat("A very long app name ", 20)
		as = append(as, a)
	}
	raise(t, d, db, as...)
	d.Start(context.Background())
	defer d.Stop()
	waitFor(t, "the retry", func() bool { return len(r.requests()) == 2 })
	got := r.requests()
	if gap := got[1].at.Sub(got[0].at); gap < 300*time.Millisecond {
		t.Fatalf("retried %s after a 429 with retry_after 0.3", gap)
	}
	var msg struct {
		Content string `json:"content"`
		Embeds  []struct {
			Title, Description, URL, Timestamp string
			Color                              int
		} `json:"embeds"`
	}
	if err := json.Unmarshal(got[1].body, &msg); err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(msg.Content); n > 2000 || n < 1000 {
		t.Fatalf("content is %d characters (limit 2000)", n)
	}
	if len(msg.Embeds) != 10 || msg.Embeds[0].URL != "https://rankpulse.example/status" || msg.Embeds[0].Timestamp != "2021-01-08T02:07:00Z" || msg.Embeds[0].Color == 0 {
		t.Fatalf("embeds %+v", msg.Embeds)
	}
}

func TestAlertmanagerPayload(t *testing.T) {
	r := newReceiver(t)
	d, db, _, _ := newDispatcher(t, hook("am", r.URL, "alertmanager"))
	raise(t, d, db, alert(1, chart.KindSurge), alert(2, chart.KindMultiCountry))
	d.Flush(context.Background())
	got := r.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	var p struct {
		Version, GroupKey, Status, Receiver, ExternalURL string
		TruncatedAlerts                                  int
		GroupLabels, CommonLabels, CommonAnnotations     map[string]string
		Alerts                                           []struct {
			Status              string
			Labels, Annotations map[string]string
			StartsAt, EndsAt    string
			GeneratorURL        string
			Fingerp             string `json:"fingerprint"`
		}
	}
	if err := json.Unmarshal(got[0].body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Version != "4" || p.Status != "firing" || p.Receiver != "am" || p.GroupKey == "" || p.ExternalURL != "https://rankpulse.example/status" || len(p.Alerts) != 2 {
		t.Fatalf("payload %s", got[0].body)
	}
	a := p.Alerts[0]
	wantLabels := map[string]string{"alertname": "RankSurge", "kind": "surge", "severity": "warning", "store": "appstore", "country": "us",
		"chart": "top-free", "category": "all", "app_id": "874139669", "app_name": "Signal - Private Messenger", "watch": "signal"}
	for k, v := range wantLabels {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, a.Labels[k], v)
		}
	}
	if a.Status != "firing" || a.Annotations["summary"] == "" || a.StartsAt != "2021-01-08T02:07:00Z" || a.EndsAt != "0001-01-01T00:00:00Z" || a.Fingerp != "alert01" {
		t.Fatalf("alert %+v", a)
	}
	if p.Alerts[1].Labels["alertname"] != "MultiCountrySurge" || p.Alerts[1].Labels["countries"] != "br,in,tr" || p.Alerts[1].Labels["country"] != "" {
		t.Fatalf("multi labels %v", p.Alerts[1].Labels)
	}
	if p.CommonLabels["app_id"] != "874139669" || p.CommonLabels["kind"] != "" {
		t.Fatalf("common labels %v", p.CommonLabels)
	}
}

func TestRetriesDeliverEveryAlertOnceInOrderWithTheSameID(t *testing.T) {
	r := newReceiver(t, status(500, "down"), status(500, "down"), status(503, "still down"), status(200, "ok"))
	d, db, m, _ := newDispatcher(t, hook("ops", r.URL, "json"))
	raise(t, d, db, alert(1, chart.KindSurge))
	raise(t, d, db, alert(2, chart.KindSurge))
	raise(t, d, db, alert(3, chart.KindSurge))
	d.Start(context.Background())
	defer d.Stop()
	waitFor(t, "every delivery", func() bool {
		st, _ := db.OutboxStats(context.Background(), "ops")
		return st["delivered"] == 3
	})
	got := r.requests()
	if len(got) != 6 { // 3 failures of the first, then one each
		t.Fatalf("%d requests, want 6", len(got))
	}
	var order []string
	idsOf := map[string]map[string]bool{}
	for _, q := range got {
		var ev webhook.JSONEvent
		json.Unmarshal(q.body, &ev)
		order = append(order, ev.Data.ID)
		if idsOf[ev.Data.ID] == nil {
			idsOf[ev.Data.ID] = map[string]bool{}
		}
		idsOf[ev.Data.ID][q.header.Get("webhook-id")] = true
	}
	if strings.Join(order, ",") != "alert01,alert01,alert01,alert01,alert02,alert03" {
		t.Fatalf("delivery order %v", order)
	}
	for id, whIDs := range idsOf {
		if len(whIDs) != 1 {
			t.Fatalf("%s was sent with webhook-ids %v: retries must reuse one", id, whIDs)
		}
	}
	if n := testutil.ToFloat64(m.WebhookDeliveries.WithLabelValues("ops", "retry")); n != 3 {
		t.Fatalf("retries counted %v", n)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	r := newReceiver(t, func(w http.ResponseWriter) { w.Header().Set("Retry-After", "1"); w.WriteHeader(429) }, status(200, "ok"))
	d, db, _, _ := newDispatcher(t, hook("ops", r.URL, "json"))
	raise(t, d, db, alert(1, chart.KindSurge))
	d.Start(context.Background())
	defer d.Stop()
	waitFor(t, "the retry", func() bool { return len(r.requests()) == 2 })
	got := r.requests()
	if gap := got[1].at.Sub(got[0].at); gap < time.Second {
		t.Fatalf("retried %s after Retry-After: 1", gap)
	}
}

func TestGoneDisablesTheReceiver(t *testing.T) {
	r := newReceiver(t, status(410, "this hook was deleted"))
	w := hook("old", r.URL, "json")
	d, db, m, logs := newDispatcher(t, w)
	raise(t, d, db, alert(1, chart.KindSurge), alert(2, chart.KindSurge))
	d.Start(context.Background())
	waitFor(t, "the receiver to be disabled", func() bool {
		_, _, off, _ := db.Disabled(context.Background(), "old", webhook.URLHash(w.URL.Value()))
		return off
	})
	d.Stop()
	if n := len(r.requests()); n != 1 {
		t.Fatalf("%d requests after a 410, want 1", n)
	}
	if testutil.ToFloat64(m.WebhookDisabled.WithLabelValues("old")) != 1 || !strings.Contains(logs.String(), "410 Gone") {
		t.Fatalf("disabling not visible: %s", logs.String())
	}
	// A restart keeps it disabled; a new URL enables it again.
	d2, err := webhook.New(db, []config.Webhook{w}, "", slog.New(slog.DiscardHandler), nil, webhook.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d2.Flush(context.Background())
	if n := len(r.requests()); n != 1 {
		t.Fatalf("a disabled receiver was sent %d requests after a restart", n-1)
	}
	r2 := newReceiver(t)
	w.URL = config.Secret(r2.URL)
	d3, _ := webhook.New(db, []config.Webhook{w}, "", slog.New(slog.DiscardHandler), nil, webhook.Options{})
	d3.Flush(context.Background())
	if n := len(r2.requests()); n != 2 {
		t.Fatalf("the new URL got %d of the 2 waiting alerts", n)
	}
}

func TestHangingReceiverBlocksNobodyElse(t *testing.T) {
	release := make(chan struct{})
	slow := newReceiver(t, func(w http.ResponseWriter) { <-release })
	defer close(release)
	fast := newReceiver(t)
	hs, hf := hook("slow", slow.URL, "json"), hook("fast", fast.URL, "json")
	hs.Timeout = config.Duration(300 * time.Millisecond)
	d, db, _, _ := newDispatcher(t, hs, hf)
	for i := range 5 {
		raise(t, d, db, alert(i, chart.KindSurge))
	}
	d.Start(context.Background())
	defer d.Stop()
	waitFor(t, "the fast receiver's five alerts", func() bool { return len(fast.requests()) == 5 })
	waitFor(t, "the slow receiver's timeout to be recorded", func() bool {
		msgs, _ := db.NextMessages(context.Background(), "slow", 1)
		return len(msgs) == 1 && msgs[0].Attempts > 0
	})
	st, _ := db.OutboxStats(context.Background(), "slow")
	if st["delivered"] != 0 || st["pending"] != 5 {
		t.Fatalf("slow receiver outbox %v", st)
	}
}

func TestGivesUpAfterTheRetryWindow(t *testing.T) {
	r := newReceiver(t, status(500, "broken"))
	w := hook("ops", r.URL, "json")
	w.RetryWindow = config.Duration(150 * time.Millisecond)
	d, db, m, logs := newDispatcher(t, w)
	raise(t, d, db, alert(1, chart.KindSurge))
	d.Start(context.Background())
	defer d.Stop()
	waitFor(t, "giving up", func() bool {
		st, _ := db.OutboxStats(context.Background(), "ops")
		return st["gave_up"] == 1 && strings.Contains(logs.String(), "gave up delivering")
	})
	if testutil.ToFloat64(m.WebhookGivenUp.WithLabelValues("ops")) != 1 || !strings.Contains(logs.String(), "gave up delivering an alert after its retry window") {
		t.Fatalf("giving up is not visible:\n%s", logs.String())
	}
}

func TestFilters(t *testing.T) {
	a1, a2 := alert(1, chart.KindSurge), alert(2, chart.KindMultiCountry)
	a3 := alert(3, chart.KindExited)
	a3.Store = "googleplay"
	for _, tt := range []struct {
		f    config.WebhookFilter
		want string
	}{
		{config.WebhookFilter{}, "alert01,alert02,alert03"},
		{config.WebhookFilter{Kinds: []string{"surge", "exited"}}, "alert01,alert03"},
		{config.WebhookFilter{Severities: []string{"critical"}}, "alert02"},
		{config.WebhookFilter{Stores: []string{"googleplay"}}, "alert03"},
		{config.WebhookFilter{Countries: []string{"tr"}}, "alert02"}, // a multi-country alert matches any of its countries
		{config.WebhookFilter{Watch: []string{"telegram"}}, ""},
	} {
		var got []string
		for _, a := range []chart.Alert{a1, a2, a3} {
			if webhook.Matches(tt.f, &a) {
				got = append(got, a.ID)
			}
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("filter %+v let %v through, want %s", tt.f, got, tt.want)
		}
	}
}

// TestSecretsStayOutOfLogsAndErrors sends to a receiver whose URL carries
// secrets in its user info, its path (one that needs escaping) and its
// query, and whose headers and signing secret are secrets too, when it is
// down and when it answers 500 echoing what it got. No secret may reach the
// retry log, the outbox's last_error or the error of a direct send (as
// `rankpulse alerts test` makes).
func TestSecretsStayOutOfLogsAndErrors(t *testing.T) {
	const (
		password, pathSecret, queryToken = "hunter2pw", "hidden path", "qt0ken-SECRET"
		token, signing                   = "s3cr3t-t0k3n", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		fmt.Fprintf(w, "no route for %s (auth %s)\n", r.RequestURI, r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	for _, tc := range []struct {
		name, addr string
		check      func(t *testing.T, res webhook.Result)
	}{
		{"closed port", closed, func(t *testing.T, res webhook.Result) {
			var op *net.OpError
			if res.Err == nil || !strings.HasPrefix(res.Err.Error(), `POST to receiver "ops": dial tcp `) || !errors.As(res.Err, &op) {
				t.Fatalf("error %v: want the receiver's name and the wrapped dial error", res.Err)
			}
		}},
		{"answers 500", echo.Listener.Addr().String(), func(t *testing.T, res webhook.Result) {
			if res.Status != 500 || !strings.Contains(res.FirstLine, "no route for REDACTED") {
				t.Fatalf("status %d, first line %q", res.Status, res.FirstLine)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := hook("ops", "http://bob:"+password+"@"+tc.addr+"/services/T0001/B0001/"+pathSecret+"?token="+queryToken, "json")
			w.Secret = signing
			w.Headers = map[string]config.Secret{"Authorization": "Bearer " + token}
			d, db, _, logs := newDispatcher(t, w)
			raise(t, d, db, alert(1, chart.KindSurge))
			d.Flush(context.Background()) // one attempt, then a retry is due later
			res := d.Send(context.Background(), w, mustNotifier(t, d, "ops"), webhook.Message{ID: "x", Alerts: []chart.Alert{alert(2, chart.KindSurge)}, Created: at})
			tc.check(t, res)
			var lastErr string
			if err := db.SQL().QueryRow(`SELECT last_error FROM outbox WHERE webhook = 'ops'`).Scan(&lastErr); err != nil || lastErr == "" {
				t.Fatalf("outbox last_error %q, %v", lastErr, err)
			}
			if !strings.Contains(logs.String(), "webhook delivery failed; retrying") {
				t.Fatalf("no retry logged:\n%s", logs)
			}
			everything := strings.Join([]string{logs.String(), lastErr, fmt.Sprint(res.Err), res.FirstLine, fmt.Sprint(w), fmt.Sprintf("%+v", w)}, "\n")
			for _, secret := range []string{password, "hidden", queryToken, token, signing[6:], "/services/"} {
				if strings.Contains(everything, secret) {
					t.Errorf("%q leaked:\n%s", secret, everything)
				}
			}
		})
	}
}

func mustNotifier(t *testing.T, d *webhook.Dispatcher, name string) webhook.Notifier {
	n, ok := d.Notifier(name)
	if !ok {
		t.Fatalf("no notifier %s", name)
	}
	return n
}
