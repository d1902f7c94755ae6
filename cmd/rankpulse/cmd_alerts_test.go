package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/alerts/webhook"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/storage"
)

// outboxEnv is a data directory with a config of json receivers, and a
// sender running on it in this process, as a daemon would (short
// schedules; it rereads its outbox every 50 ms). The CLI commands open the
// store on their own, as from another process.
type outboxEnv struct {
	cfgPath string
	db      *storage.DB
	d       *webhook.Dispatcher
}

func newOutboxEnv(t *testing.T, receivers map[string]string) *outboxEnv {
	t.Helper()
	dir := t.TempDir()
	var hooks strings.Builder
	names := make([]string, 0, len(receivers))
	for name := range receivers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(&hooks, "    - {name: %s, url: '%s/hook', retry_window: 1m}\n", name, receivers[name])
	}
	e := &outboxEnv{cfgPath: filepath.Join(dir, "rankpulse.yaml")}
	if err := os.WriteFile(e.cfgPath, []byte(fmt.Sprintf("data_dir: %s\nalerts:\n  webhooks:\n%s", filepath.Join(dir, "data"), hooks.String())), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if e.db, err = storage.Open(context.Background(), cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	e.d, err = webhook.New(e.db, cfg.Alerts.Webhooks, "", slog.New(slog.DiscardHandler), nil, webhook.Options{
		Schedule:       []time.Duration{20 * time.Millisecond},
		RejectSchedule: []time.Duration{30 * time.Millisecond, 60 * time.Millisecond},
		Poll:           50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *outboxEnv) raise(t *testing.T, as ...chart.Alert) {
	t.Helper()
	err := e.db.WithTx(context.Background(), func(tx *storage.Tx) error {
		for i := range as {
			if _, err := tx.SaveAlert(context.Background(), &as[i]); err != nil {
				return err
			}
		}
		return e.d.Enqueue(context.Background(), tx, as)
	})
	if err != nil {
		t.Fatal(err)
	}
	e.d.Notify()
}

func (e *outboxEnv) start(t *testing.T) {
	e.d.Start(context.Background())
	t.Cleanup(e.d.Stop)
}

func testAlert(name, kind string) chart.Alert {
	sev := chart.SeverityWarning
	if kind == chart.KindRemoved {
		sev = chart.SeverityCritical
	}
	return chart.Alert{ID: chart.AlertID("cli", name), Kind: kind, Severity: sev, Time: time.Now().UTC().Truncate(time.Second),
		Store: chart.AppStore, Country: chart.Ptr("us"), Chart: chart.TopFree, Category: chart.All,
		AppID: "874139669", AppName: name, Summary: name + " moved"}
}

// verdicts is a json receiver that answers each alert by its id.
type verdicts struct {
	mu     sync.Mutex
	reject map[string]bool
	got    []string // alert ids answered 2xx, in order
}

func (v *verdicts) serve(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev webhook.JSONEvent
		json.Unmarshal(body, &ev)
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.reject[ev.Data.ID] {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintln(w, "invalid payload: app_name rejected")
			return
		}
		v.got = append(v.got, ev.Data.ID)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (v *verdicts) set(id string, reject bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.reject[id] = reject
}

func (v *verdicts) delivered() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.got)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestPendingRetryAndDropOfADeadAlert: a receiver answers 400 to one alert
// with 15 behind it, a critical removal among them. The 15 arrive; the
// rejected one is dead, listed by `alerts pending`, sent again by `alerts
// retry` (the running sender sees it), and another given up by `alerts
// drop`.
func TestPendingRetryAndDropOfADeadAlert(t *testing.T) {
	poison := testAlert("Poison", chart.KindSurge)
	v := &verdicts{reject: map[string]bool{poison.ID: true}}
	e := newOutboxEnv(t, map[string]string{"ops": v.serve(t)})
	e.raise(t, poison)
	var behind []string
	for i := range 15 {
		kind := chart.KindSurge
		if i == 7 {
			kind = chart.KindRemoved
		}
		a := testAlert("App "+strconv.Itoa(i), kind)
		e.raise(t, a)
		behind = append(behind, a.ID)
	}
	e.start(t)
	eventually(t, "the 15 alerts behind the rejected one", func() bool { return len(v.delivered()) == 15 })
	if got := v.delivered(); !slices.Equal(got, behind) {
		t.Fatalf("delivered %v, want in order %v", got, behind)
	}
	eventually(t, "the rejected alert to be dead", func() bool {
		st, _ := e.db.OutboxStats(context.Background(), "ops")
		return st["dead"] == 1
	})

	code, out, stderr := invoke(t, "", "alerts", "pending", "--config", e.cfgPath)
	if code != exitOK {
		t.Fatalf("alerts pending: exit %d: %s", code, stderr)
	}
	row := regexp.MustCompile(`(?m)^  (\d+) +dead since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d +` + poison.ID + ` +surge +warning +\S+ \S+ +3 +- +HTTP 400 Bad Request: invalid payload: app_name rejected$`)
	m := row.FindStringSubmatch(out)
	if !strings.Contains(out, "ops (json): 0 pending, 1 dead, 0 given up\n") || m == nil || !strings.Contains(out, "rankpulse alerts retry SEQ") {
		t.Fatalf("alerts pending:\n%s", out)
	}
	seq := m[1]

	// Fixed on the receiver's side; retried from "another process".
	v.set(poison.ID, false)
	code, out, stderr = invoke(t, "", "alerts", "retry", seq, "--config", e.cfgPath)
	if code != exitOK || !strings.Contains(out, "seq "+seq+" (alert "+poison.ID+" to ops, dead) is due now") {
		t.Fatalf("alerts retry: exit %d\n%s%s", code, out, stderr)
	}
	eventually(t, "the retried alert to be delivered", func() bool { return slices.Contains(v.delivered(), poison.ID) })
	if code, out, _ := invoke(t, "", "alerts", "pending", "--config", e.cfgPath); code != exitOK || !strings.Contains(out, "ops (json): nothing undelivered") {
		t.Fatalf("after the retry, alerts pending: exit %d\n%s", code, out)
	}
	if code, _, stderr := invoke(t, "", "alerts", "retry", poison.ID, "--config", e.cfgPath); code != exitUsage ||
		!regexp.MustCompile(`nothing undelivered for `+poison.ID+`: seq \d+ to ops was delivered at `).MatchString(stderr) {
		t.Fatalf("retry of a delivered alert: exit %d %s", code, stderr)
	}

	// Another one goes dead and is dropped by its alert id.
	other := testAlert("Poison 2", chart.KindSurge)
	v.set(other.ID, true)
	e.raise(t, other)
	eventually(t, "the second rejected alert to be dead", func() bool {
		st, _ := e.db.OutboxStats(context.Background(), "ops")
		return st["dead"] == 1
	})
	code, out, stderr = invoke(t, "", "alerts", "drop", "--config", e.cfgPath, other.ID)
	if code != exitOK || !strings.Contains(out, "dropped seq ") || !strings.Contains(out, "it will not be sent") {
		t.Fatalf("alerts drop: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, _ := invoke(t, "", "alerts", "pending", "--config", e.cfgPath, "--webhook", "ops"); code != exitOK || !strings.Contains(out, "ops (json): nothing undelivered") {
		t.Fatalf("after the drop, alerts pending: exit %d\n%s", code, out)
	}
	v.set(other.ID, false)
	time.Sleep(200 * time.Millisecond) // four polls of the sender: a dropped alert must stay unsent
	if slices.Contains(v.delivered(), other.ID) {
		t.Fatal("a dropped alert was sent")
	}
}

// One alert that went to two receivers needs the seq or --webhook; bad,
// unknown and missing ids are usage errors that say what to pass.
func TestRetryAndDropIDsAreUnambiguous(t *testing.T) {
	a := testAlert("Poison", chart.KindSurge)
	v := &verdicts{reject: map[string]bool{a.ID: true}}
	url := v.serve(t)
	e := newOutboxEnv(t, map[string]string{"ops": url, "team": url})
	e.raise(t, a)
	e.d.Flush(context.Background())
	eventually(t, "both messages dead", func() bool {
		e.d.Flush(context.Background())
		es, _ := e.db.Outbox(context.Background(), storage.OutboxQuery{AlertID: a.ID})
		return len(es) == 2 && es[0].State == storage.StateDead && es[1].State == storage.StateDead
	})
	es, _ := e.db.Outbox(context.Background(), storage.OutboxQuery{AlertID: a.ID})
	code, _, stderr := invoke(t, "", "alerts", "retry", "--config", e.cfgPath, a.ID)
	want := fmt.Sprintf("%s names 2 undelivered messages: seq %d to ops (dead), seq %d to team (dead); pass the seq, or --webhook NAME", a.ID, es[0].Seq, es[1].Seq)
	if code != exitUsage || !strings.Contains(stderr, want) {
		t.Fatalf("ambiguous id: exit %d\n%s\nwant %s", code, stderr, want)
	}
	code, out, stderr := invoke(t, "", "alerts", "retry", "--config", e.cfgPath, "--webhook", "team", a.ID)
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("seq %d (alert %s to team, dead) is due now", es[1].Seq, a.ID)) {
		t.Fatalf("--webhook team: exit %d\n%s%s", code, out, stderr)
	}
	// The webhook-id a receiver saw names one message.
	code, out, _ = invoke(t, "", "alerts", "drop", "--config", e.cfgPath, fmt.Sprintf("%s.%d", a.ID, es[0].Seq))
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("dropped seq %d (alert %s to ops, dead)", es[0].Seq, a.ID)) {
		t.Fatalf("drop by webhook-id: exit %d\n%s", code, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"retry", "99999"}, "no outbox message 99999 (`rankpulse alerts pending` lists the undelivered ones)"},
		{[]string{"drop", "--webhook", "nope", a.ID}, "no outbox message " + a.ID + " to webhook nope"},
		{[]string{"drop", a.ID + ".99"}, "no outbox message " + a.ID + ".99"}, // no such seq
		{[]string{"retry", "bogus"}, `"bogus" is neither an outbox SEQ`},
		{[]string{"retry", "0"}, `"0" is neither an outbox SEQ`},
		{[]string{"drop"}, "alerts drop needs an ID: the SEQ that `rankpulse alerts pending` shows"},
		{[]string{"retry", "1", "2"}, `unexpected argument "2"`},
		{[]string{"pending", "--webhook", "nope"}, `--webhook "nope" is not configured and has nothing in the outbox`},
		{[]string{"resend"}, `unknown alerts subcommand "resend"`},
	} {
		code, _, stderr := invoke(t, "", append(append([]string{"alerts"}, tc.args...), "--config", e.cfgPath)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("alerts %v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// A receiver that rejects everything for its retry window is a problem for
// `config check` (exit 2) and is named by `alerts pending`.
func TestConfigCheckReportsAReceiverThatRejectsEverything(t *testing.T) {
	v := &verdicts{reject: map[string]bool{}}
	e := newOutboxEnv(t, map[string]string{"ops": v.serve(t)})
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Alerts.Webhooks[0]
	ctx := context.Background()
	code, out, stderr := invoke(t, "", "config", "check", "--config", e.cfgPath)
	if code != exitOK || !strings.Contains(out, "outbox: 0 pending, 0 delivered, 0 given up, 0 dead") {
		t.Fatalf("config check before: exit %d\n%s%s", code, out, stderr)
	}
	// Two rejections 61 s apart: its retry window (1m) is spanned.
	start := time.Now().Add(-2 * time.Minute)
	for _, at := range []time.Time{start, start.Add(61 * time.Second)} {
		if _, err := e.db.NoteRejection(ctx, "ops", webhook.Fingerprint(w), "HTTP 401 Unauthorized: bad token", at); err != nil {
			t.Fatal(err)
		}
	}
	code, _, stderr = invoke(t, "", "config", "check", "--config", e.cfgPath)
	if code != exitUsage || !strings.Contains(stderr, "alerts.webhooks ops: rejected every attempt for at least its retry_window (1m0s): 2 rejections") {
		t.Fatalf("config check: exit %d\n%s", code, stderr)
	}
	if code, out, _ := invoke(t, "", "alerts", "pending", "--config", e.cfgPath); code != exitOK || !strings.Contains(out, "ops (json): nothing undelivered; rejected every attempt") {
		t.Fatalf("alerts pending: exit %d\n%s", code, out)
	}
}

// `alerts test` names the receiver once, then the cause, never the URL.
func TestAlertsTestErrorLine(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("data_dir: %s\nalerts:\n  webhooks:\n    - {name: pager-7, url: 'http://127.0.0.1:1/hook/T0001secret'}\n", dir)), 0o644)
	code, out, _ := invoke(t, "", "alerts", "test", "--config", cfg)
	line := regexp.MustCompile(`^pager-7 \(json\): failed in [0-9.]+ms: dial tcp 127\.0\.0\.1:1: connect: connection refused\n$`)
	if code != exitFailure || !line.MatchString(out) {
		t.Fatalf("alerts test: exit %d\n%q", code, out)
	}
}
