package webhook_test

// The poison-receiver part of the fault suite: a receiver that rejects one
// alert, or everything, must not hold the alerts behind the rejected one;
// a receiver that is down still holds them, in order.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rankpulse/rankpulse/alerts/webhook"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/storage"
)

// judge is a receiver that answers each json delivery by its alert id.
type judge struct {
	*httptest.Server
	mu     sync.Mutex
	answer func(id string, n int) (int, string) // n: how many times this id came
	seen   map[string]int
	order  []string // alert ids in arrival order, every request
	ok     []string // alert ids answered 2xx
}

func newJudge(t *testing.T, answer func(id string, n int) (int, string)) *judge {
	j := &judge{answer: answer, seen: map[string]int{}}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev webhook.JSONEvent
		json.Unmarshal(body, &ev)
		j.mu.Lock()
		j.seen[ev.Data.ID]++
		code, text := j.answer(ev.Data.ID, j.seen[ev.Data.ID])
		j.order = append(j.order, ev.Data.ID)
		if code/100 == 2 {
			j.ok = append(j.ok, ev.Data.ID)
		}
		j.mu.Unlock()
		if code == -1 { // a broken connection: no answer at all
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		w.WriteHeader(code)
		fmt.Fprint(w, text)
	}))
	t.Cleanup(j.Close)
	return j
}

func (j *judge) delivered() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.ok)
}

func (j *judge) requests() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.order)
}

// fifteen are the alerts queued behind the head: surges, and a critical
// removal in the middle.
func fifteen() []chart.Alert {
	var out []chart.Alert
	for i := 1; i <= 15; i++ {
		a := alert(i, chart.KindSurge)
		if i == 8 {
			a = alert(i, chart.KindRemoved)
			a.Severity = chart.SeverityCritical
		}
		out = append(out, a)
	}
	return out
}

func ids(as []chart.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

func entries(t *testing.T, db *storage.DB, q storage.OutboxQuery) []storage.OutboxEntry {
	t.Helper()
	es, err := db.Outbox(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestPoisonHeadDoesNotHoldTheAlertsBehindIt is issue 11's first failure:
// one alert the receiver answers 400 to, 15 behind it. The rejected one is
// tried three times (its short budget), set aside as dead, logged and
// counted; the 15 then go out, in order.
func TestPoisonHeadDoesNotHoldTheAlertsBehindIt(t *testing.T) {
	j := newJudge(t, func(id string, _ int) (int, string) {
		if id == "poison" {
			return 400, "invalid payload: summary is too long\nsecond line"
		}
		return 200, "ok"
	})
	d, db, m, logs := newDispatcher(t, hook("ops", j.URL, "json"))
	poison := alert(0, chart.KindSurge)
	poison.ID = "poison"
	raise(t, d, db, poison)
	behind := fifteen()
	for _, a := range behind {
		raise(t, d, db, a)
	}
	d.Start(context.Background())
	defer d.Stop()
	waitFor(t, "the 15 alerts behind the rejected one", func() bool { return len(j.delivered()) == 15 })
	// The receiver has answered; the sender records the last delivery
	// right after.
	waitFor(t, "the outbox to record the deliveries", func() bool {
		return len(entries(t, db, storage.OutboxQuery{Webhook: "ops", Undelivered: true})) == 1
	})

	if got, want := j.delivered(), ids(behind); !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want in order %v", got, want)
	}
	if got := j.requests(); !slices.Equal(got[:3], []string{"poison", "poison", "poison"}) || slices.Contains(got[3:], "poison") {
		t.Fatalf("requests %v: want the rejected alert three times (its budget), then never again", got)
	}
	es := entries(t, db, storage.OutboxQuery{Webhook: "ops", Undelivered: true})
	if len(es) != 1 || es[0].AlertID != "poison" || es[0].State != storage.StateDead || es[0].Status != 400 ||
		es[0].LastError != "HTTP 400 Bad Request: invalid payload: summary is too long" || es[0].Attempts != 3 {
		t.Fatalf("undelivered %+v, want the rejected alert dead", es)
	}
	if testutil.ToFloat64(m.WebhookDead.WithLabelValues("ops")) != 1 || testutil.ToFloat64(m.WebhookDeadNow.WithLabelValues("ops")) != 1 {
		t.Fatal("the dead alert is not counted")
	}
	line := logLine(t, logs.String(), "set aside as dead")
	for _, want := range []string{"level=ERROR", "webhook=ops", "alert=poison", "status=400", `answer="invalid payload: summary is too long"`} {
		if !strings.Contains(line, want) {
			t.Errorf("the dead alert's log line lacks %s:\n%s", want, line)
		}
	}
	// One bad alert is not a receiver that rejects everything.
	if testutil.ToFloat64(m.WebhookRejecting.WithLabelValues("ops")) != 0 || len(d.Problems(context.Background())) != 0 {
		t.Fatal("one rejected alert made the receiver a problem")
	}
}

func logLine(t *testing.T, logs, substr string) string {
	t.Helper()
	for l := range strings.Lines(logs) {
		if strings.Contains(l, substr) {
			return l
		}
	}
	t.Fatalf("no log line with %q in:\n%s", substr, logs)
	return ""
}

// A batch (here Alertmanager's: the alerts of one sweep in one request)
// that holds a poison alert is rejected as a whole; its alerts are then
// sent one by one, so that only the poison one ends dead.
func TestARejectedBatchIsSplitSoOnlyThePoisonDies(t *testing.T) {
	var mu sync.Mutex
	var sizes []int // alerts per request
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p webhook.AMPayload
		json.Unmarshal(body, &p)
		mu.Lock()
		sizes = append(sizes, len(p.Alerts))
		mu.Unlock()
		if strings.Contains(string(body), "Poison") {
			w.WriteHeader(400)
			fmt.Fprint(w, "bad label value")
		}
	}))
	defer recv.Close()
	d, db, _, _ := newDispatcher(t, hook("am", recv.URL, "alertmanager"))
	sweep := []chart.Alert{alert(1, chart.KindSurge), alert(2, chart.KindSurge), alert(3, chart.KindSurge), alert(4, chart.KindSurge)}
	sweep[2].AppName = "Poison"
	raise(t, d, db, sweep...)
	d.Start(context.Background())
	defer d.Stop()
	waitFor(t, "the batch to be settled", func() bool {
		st, _ := db.OutboxStats(context.Background(), "am")
		return st["delivered"] == 3 && st["dead"] == 1
	})
	es := entries(t, db, storage.OutboxQuery{Webhook: "am", Undelivered: true})
	if len(es) != 1 || es[0].AlertID != sweep[2].ID || es[0].Attempts != 3 {
		t.Fatalf("undelivered %+v, want only %s, dead after 3 attempts", es, sweep[2].ID)
	}
	mu.Lock()
	defer mu.Unlock()
	// The batch, then one at a time: two good ones, the poison twice more,
	// the last good one.
	if want := []int{4, 1, 1, 1, 1, 1}; !slices.Equal(sizes, want) {
		t.Fatalf("alerts per request %v, want %v", sizes, want)
	}
}

// A receiver that is down (no answer, 5xx, 429, 408, 425) holds the
// alerts behind the one it fails, in order, and nothing goes dead. (This
// holds on the code before dead messages too: it guards against the fix
// overreaching.)
func TestADownReceiverStillHoldsOrder(t *testing.T) {
	fails := []int{503, -1, 429, 408, 425, 500} // -1: the connection is closed unanswered
	j := newJudge(t, func(id string, n int) (int, string) {
		if id == "alert01" && n <= len(fails) {
			return fails[n-1], "later"
		}
		return 200, "ok"
	})
	d, db, m, _ := newDispatcher(t, hook("ops", j.URL, "json"))
	as := []chart.Alert{alert(1, chart.KindSurge), alert(2, chart.KindRemoved), alert(3, chart.KindSurge), alert(4, chart.KindSurge)}
	for _, a := range as {
		raise(t, d, db, a)
	}
	d.Start(context.Background())
	defer d.Stop()
	waitFor(t, "every delivery", func() bool { return len(j.delivered()) == 4 })
	want := []string{"alert01", "alert01", "alert01", "alert01", "alert01", "alert01", "alert01", "alert02", "alert03", "alert04"}
	if got := j.requests(); !slices.Equal(got, want) {
		t.Fatalf("requests %v, want %v: a failing head must hold the others", got, want)
	}
	if n := testutil.ToFloat64(m.WebhookDead.WithLabelValues("ops")); n != 0 {
		t.Fatalf("%v alerts dead behind a receiver that was only down", n)
	}
}

func TestPermanentStatuses(t *testing.T) {
	for status, want := range map[int]bool{400: true, 401: true, 403: true, 404: true, 413: true, 422: true, 499: true,
		408: false, 410: false, 425: false, 429: false, 500: false, 503: false, 302: false, 200: false} {
		if webhook.Permanent(status) != want {
			t.Errorf("Permanent(%d) = %v, want %v", status, !want, want)
		}
	}
}

// TestARejectingReceiverIsReported: a receiver that rejects every attempt
// for its retry window is a problem (/readyz, config check) and sets
// rankpulse_webhook_rejecting; any other answer, or new settings, end
// that.
func TestARejectingReceiverIsReported(t *testing.T) {
	var mu sync.Mutex
	answer := 401
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(answer)
		fmt.Fprint(w, "bad token")
	}))
	defer recv.Close()
	setAnswer := func(code int) { mu.Lock(); answer = code; mu.Unlock() }
	w := hook("ops", recv.URL, "json")
	w.RetryWindow = config.Duration(400 * time.Millisecond)
	db, err := storage.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	opts := testOptions
	opts.RejectSchedule = []time.Duration{} // dead at the first rejection
	ctx := context.Background()
	d, m, logs := dispatcherOn(t, db, opts, w)
	rejecting := func() float64 { return testutil.ToFloat64(m.WebhookRejecting.WithLabelValues("ops")) }
	// flushed sends what is due until n alerts are dead.
	flushed := func(n int) func() bool {
		return func() bool {
			d.Flush(ctx)
			st, _ := db.OutboxStats(ctx, "ops")
			return st["dead"] == n
		}
	}
	raise(t, d, db, alert(1, chart.KindSurge))
	waitFor(t, "the first dead alert", flushed(1))
	if rejecting() != 0 || len(d.Problems(ctx)) != 0 {
		t.Fatal("one rejection is not yet rejecting everything")
	}
	// A 503 in between starts the run again.
	time.Sleep(450 * time.Millisecond) // let the retry window pass (not an assertion)
	setAnswer(503)
	raise(t, d, db, alert(2, chart.KindSurge))
	d.Flush(ctx)
	setAnswer(401)
	waitFor(t, "the second dead alert", flushed(2))
	if rejecting() != 0 || len(d.Problems(ctx)) != 0 {
		t.Fatal("a run broken by a 503 counted as rejecting everything")
	}
	time.Sleep(450 * time.Millisecond)
	raise(t, d, db, alert(3, chart.KindSurge))
	waitFor(t, "the third dead alert", flushed(3))
	if rejecting() != 1 {
		t.Fatal("rankpulse_webhook_rejecting is not set")
	}
	probs := d.Problems(ctx)
	if len(probs) != 1 || !strings.HasPrefix(probs[0], "webhook ops: rejected every attempt for at least its retry_window (400ms): 2 rejections") ||
		!strings.Contains(probs[0], "the last HTTP 401 Unauthorized: bad token") {
		t.Fatalf("problems %q", probs)
	}
	if !strings.Contains(logLine(t, logs.String(), "webhook rejects everything"), "level=ERROR") {
		t.Fatal("the receiver rejecting everything is not logged as an error")
	}
	// A restart with the same settings still knows; new settings end it.
	d2, m2, _ := dispatcherOn(t, db, opts, w)
	d2.Flush(ctx)
	if testutil.ToFloat64(m2.WebhookRejecting.WithLabelValues("ops")) != 1 || len(d2.Problems(ctx)) != 1 {
		t.Fatal("a restart forgot that the receiver rejects everything")
	}
	w2 := w
	w2.Headers = map[string]config.Secret{"Authorization": "Bearer new-token"}
	d3, m3, _ := dispatcherOn(t, db, opts, w2)
	d3.Flush(ctx)
	if testutil.ToFloat64(m3.WebhookRejecting.WithLabelValues("ops")) != 0 || len(d3.Problems(ctx)) != 0 {
		t.Fatal("new settings did not end the run")
	}
	// Under the old settings again, a delivery ends it too.
	d4, m4, _ := dispatcherOn(t, db, opts, w)
	raise(t, d4, db, alert(9, chart.KindSurge))
	d4.Flush(ctx)
	time.Sleep(450 * time.Millisecond)
	raise(t, d4, db, alert(10, chart.KindSurge))
	d4.Flush(ctx)
	if testutil.ToFloat64(m4.WebhookRejecting.WithLabelValues("ops")) != 1 {
		t.Fatal("the run did not start again")
	}
	setAnswer(200)
	raise(t, d4, db, alert(11, chart.KindSurge))
	d4.Flush(ctx)
	if testutil.ToFloat64(m4.WebhookRejecting.WithLabelValues("ops")) != 0 || len(d4.Problems(ctx)) != 0 {
		t.Fatal("a delivery did not end the run")
	}
}

// TestARetriedMessageIsPickedUpByARunningSender: `rankpulse alerts retry`
// runs in another process, which cannot wake the daemon's sender. The
// sender rereads its outbox, also while its head waits out a long backoff,
// so a dead message made due goes out soon, before the waiting head (it is
// older).
func TestARetriedMessageIsPickedUpByARunningSender(t *testing.T) {
	var mu sync.Mutex
	fixed := false
	j := newJudge(t, func(id string, _ int) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case id == "alert01" && !fixed:
			return 422, "unprocessable"
		case id == "alert02" && !fixed:
			return 503, "down"
		}
		return 200, "ok"
	})
	dir := t.TempDir()
	db, err := storage.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	opts := testOptions
	opts.Schedule = []time.Duration{time.Hour} // the head, once failed, waits an hour
	d, _, _ := dispatcherOn(t, db, opts, hook("ops", j.URL, "json"))
	raise(t, d, db, alert(1, chart.KindSurge), alert(2, chart.KindSurge))
	d.Start(context.Background())
	defer d.Stop()
	waitFor(t, "alert01 dead and alert02 waiting", func() bool {
		es := entries(t, db, storage.OutboxQuery{Webhook: "ops", Undelivered: true})
		return len(es) == 2 && es[0].State == storage.StateDead && es[1].Attempts == 1
	})
	mu.Lock()
	fixed = true
	mu.Unlock()
	// Another handle on the file, as another process has.
	other, err := storage.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	es := entries(t, other, storage.OutboxQuery{AlertID: "alert01"})
	if n, err := other.Retry(context.Background(), es[0].Seq, time.Now()); err != nil || n != 1 {
		t.Fatalf("retry: %d %v", n, err)
	}
	waitFor(t, "the retried alert to be delivered", func() bool { return slices.Contains(j.delivered(), "alert01") })
	if slices.Contains(j.delivered(), "alert02") {
		t.Fatal("alert02 went out before its backoff ended")
	}
}

// TestErrorLinesNameTheReceiverAndTheCauseOnce: a failed attempt's log
// line, its outbox last_error and a direct send's error each say who and
// why once, and never the URL (issue 11: `POST http://…: Post "http://…":
// dial tcp …`).
func TestErrorLinesNameTheReceiverAndTheCauseOnce(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer hang.Close()
	defer close(release)
	reject := newJudge(t, func(string, int) (int, string) { return 403, "forbidden: bad signature" })
	down, slow, picky := hook("pager-7", "http://"+closed+"/hook/a1b2c3d4e5", "json"), hook("pager-8", hang.URL+"/hook", "json"), hook("pager-9", reject.URL+"/hook", "json")
	slow.Timeout = config.Duration(100 * time.Millisecond)
	d, db, _, logs := newDispatcher(t, down, slow, picky)
	raise(t, d, db, alert(1, chart.KindSurge))
	d.Flush(context.Background())

	for _, tc := range []struct{ name, want string }{
		{"pager-7", `^time=\S+ level=WARN msg="webhook delivery failed; retrying" component=webhooks webhook=pager-7 alert=alert01 attempt=1 retry_in=\S+ error="dial tcp 127\.0\.0\.1:\d+: connect: connection refused"\n$`},
		{"pager-8", `^time=\S+ level=WARN msg="webhook delivery failed; retrying" component=webhooks webhook=pager-8 alert=alert01 attempt=1 retry_in=\S+ error="no answer within its 100ms timeout"\n$`},
		{"pager-9", `^time=\S+ level=WARN msg="webhook rejected a delivery; retrying it a few times before setting it aside" component=webhooks webhook=pager-9 alert=alert01 alerts=1 rejections=1 retry_in=\S+ status=403 answer="forbidden: bad signature"\n$`},
	} {
		line := logLine(t, logs.String(), "webhook="+tc.name+" ")
		if !regexp.MustCompile(tc.want).MatchString(line) {
			t.Errorf("log line\n%s\ndoes not match\n%s", line, tc.want)
		}
		if strings.Count(line, tc.name) != 1 || strings.Contains(line, "http") || strings.Contains(line, "/hook") || strings.Contains(line, "POST") {
			t.Errorf("the line names the receiver more than once, or the URL or method:\n%s", line)
		}
	}
	es := entries(t, db, storage.OutboxQuery{Webhook: "pager-7"})
	if len(es) != 1 || !regexp.MustCompile(`^dial tcp 127\.0\.0\.1:\d+: connect: connection refused$`).MatchString(es[0].LastError) {
		t.Fatalf("outbox last_error %q", es[0].LastError)
	}
	res := d.Send(context.Background(), down, mustNotifier(t, d, "pager-7"), webhook.Message{ID: "x", Alerts: []chart.Alert{alert(2, chart.KindSurge)}, Created: at})
	if msg := res.Err.Error(); !regexp.MustCompile(`^POST to receiver "pager-7": dial tcp 127\.0\.0\.1:\d+: connect: connection refused$`).MatchString(msg) {
		t.Fatalf("send error %q", msg)
	}
	if c := res.Cause(); strings.Contains(c, "pager-7") || !strings.HasSuffix(c, "connection refused") {
		t.Fatalf("cause %q", c)
	}
}

// `run --once` (Flush) waits out a rejected head's few quick retries, so
// that the alerts behind it go out in the same run, not at the next one.
func TestOnePassSettlesARejectedHead(t *testing.T) {
	j := newJudge(t, func(id string, _ int) (int, string) {
		if id == "alert01" {
			return 404, "no such channel"
		}
		return 200, "ok"
	})
	d, db, _, _ := newDispatcher(t, hook("ops", j.URL, "json"))
	raise(t, d, db, alert(1, chart.KindSurge), alert(2, chart.KindRemoved), alert(3, chart.KindSurge))
	d.Flush(context.Background())
	if got := j.delivered(); !slices.Equal(got, []string{"alert02", "alert03"}) {
		t.Fatalf("one pass delivered %v, want the two behind the rejected one", got)
	}
	if st, _ := db.OutboxStats(context.Background(), "ops"); st["dead"] != 1 {
		t.Fatalf("outbox %v", st)
	}
}
