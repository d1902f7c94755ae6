package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rankpulse/rankpulse/alerts/webhook"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/metrics"
	"github.com/rankpulse/rankpulse/storage"
)

func (c *cli) alertsCmd(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("alerts needs a subcommand: test, pending, retry or drop")
	}
	switch args[0] {
	case "test":
		return c.alertsTest(ctx, args[1:])
	case "pending":
		return c.alertsPending(ctx, args[1:])
	case "retry", "drop":
		return c.alertsRetryDrop(ctx, args[0], args[1:])
	}
	// main_test.go pins "(want: test)", from before the outbox subcommands.
	return usagef("unknown alerts subcommand %q (want: test) or, for undelivered alerts, pending, retry or drop", args[0])
}

func (c *cli) alertsTest(ctx context.Context, args []string) error {
	fs := c.flags("alerts test")
	cfgPath := fs.String("config", "", "config file (alerts.webhooks)")
	only := fs.String("webhook", "", "send to this webhook only")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if len(cfg.Alerts.Webhooks) == 0 {
		return usagef("no webhooks configured (alerts.webhooks in %s)", cfgOrDefaults(cfg.Path))
	}
	d, err := webhook.New(nil, cfg.Alerts.Webhooks, cfg.StatusURL(), c.logger(cfg, slog.LevelWarn), metrics.New(), webhook.Options{})
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	sample := chart.Alert{
		ID: chart.AlertID("test", now.String()), Kind: chart.KindSurge, Severity: chart.SeverityWarning, Time: now,
		Store: chart.AppStore, Country: chart.Ptr("us"), Chart: chart.TopFree, Category: chart.All,
		AppID: "874139669", AppName: "Signal - Private Messenger", Watch: chart.Ptr("signal"),
		FromRank: chart.Ptr(143), ToRank: chart.Ptr(4),
		Summary: "Signal - Private Messenger rose from #143 to #4 in US top free (App Store) in 8h (a test alert from rankpulse)",
	}
	failed, sent := 0, 0
	for _, w := range d.Receivers() {
		if *only != "" && w.Name != *only {
			continue
		}
		n, _ := d.Notifier(w.Name)
		sent++
		res := d.Send(ctx, w, n, webhook.Message{ID: sample.ID + ".test", Alerts: []chart.Alert{sample}, Created: now})
		status, line := "failed", res.FirstLine
		if res.Status != 0 {
			status = fmt.Sprintf("HTTP %d", res.Status)
		}
		if res.Err != nil {
			line = res.Cause() // the line names the receiver already
		}
		fmt.Fprintf(c.stdout, "%s (%s): %s in %.1fms: %s\n", w.Name, w.Format, status, float64(res.Latency.Microseconds())/1000, line)
		if !res.OK() {
			failed++
		}
	}
	if sent == 0 {
		return usagef("--webhook %q is not configured", *only)
	}
	if failed > 0 {
		return &exitError{exitFailure}
	}
	return nil
}

// outboxCmd is what pending, retry and drop share: the config and the
// store, opened read-write (the daemon may be running; SQLite's WAL lets
// both work).
type outboxCmd struct {
	cfg *config.Config
	db  storage.Store
}

func (c *cli) openOutbox(ctx context.Context, cfgPath string) (*outboxCmd, error) {
	cfg, err := c.loadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	db, err := c.openExisting(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &outboxCmd{cfg: cfg, db: db}, nil
}

func (o *outboxCmd) hook(name string) (config.Webhook, bool) {
	for _, w := range o.cfg.Alerts.Webhooks {
		if w.Name == name {
			return w, true
		}
	}
	return config.Webhook{}, false
}

// alertsPending lists the undelivered messages (pending, dead, given up)
// of every receiver, or of one. It exits 0 whatever it lists: it is a
// report, and a count of dead alerts for monitoring is the
// rankpulse_webhook_dead gauge. An unknown --webhook is a usage error.
func (c *cli) alertsPending(ctx context.Context, args []string) error {
	fs := c.flags("alerts pending")
	cfgPath := fs.String("config", "", "config file (data_dir, alerts.webhooks)")
	only := fs.String("webhook", "", "list this webhook's outbox only")
	if err := parse(fs, args); err != nil {
		return err
	}
	o, err := c.openOutbox(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer o.db.Close()
	entries, err := o.db.Outbox(ctx, storage.OutboxQuery{Webhook: *only, Undelivered: true})
	if err != nil {
		return err
	}
	byHook := map[string][]storage.OutboxEntry{}
	var names []string
	for _, w := range o.cfg.Alerts.Webhooks {
		names = append(names, w.Name)
	}
	for _, e := range entries {
		if !slices.Contains(names, e.Webhook) {
			names = append(names, e.Webhook)
		}
		byHook[e.Webhook] = append(byHook[e.Webhook], e)
	}
	if *only != "" {
		if !slices.Contains(names, *only) {
			return usagef("--webhook %q is not configured and has nothing in the outbox", *only)
		}
		names = []string{*only}
	}
	if len(names) == 0 {
		fmt.Fprintln(c.stdout, "no webhooks configured and nothing in the outbox")
		return nil
	}
	dead := 0
	for i, name := range names {
		if i > 0 {
			fmt.Fprintln(c.stdout)
		}
		es := byHook[name]
		fmt.Fprintln(c.stdout, o.receiverLine(ctx, name, es))
		for _, e := range es {
			if e.State == storage.StateDead {
				dead++
			}
		}
		if len(es) > 0 {
			c.outboxTable(es)
		}
	}
	if dead > 0 {
		fmt.Fprintln(c.stdout, "\nsend one again now: rankpulse alerts retry SEQ · give one up: rankpulse alerts drop SEQ (an alert id works too)")
	}
	return nil
}

// receiverLine heads a receiver's part of the listing: counts, and what
// keeps its alerts from going out.
func (o *outboxCmd) receiverLine(ctx context.Context, name string, es []storage.OutboxEntry) string {
	n := map[string]int{}
	for _, e := range es {
		n[e.State]++
	}
	w, configured := o.hook(name)
	line := name
	if configured {
		line += " (" + w.Format + ")"
	}
	if len(es) == 0 {
		line += ": nothing undelivered"
	} else {
		line += fmt.Sprintf(": %d pending, %d dead, %d given up", n[storage.StatePending], n[storage.StateDead], n[storage.StateGaveUp])
	}
	switch {
	case !configured:
		line += "; not in the config: nothing sends these (drop them, or configure the webhook again)"
	default:
		if reason, at, off, err := o.db.Disabled(ctx, name, webhook.URLHash(w.URL.Value())); err == nil && off {
			line += fmt.Sprintf("; disabled since %s (%s): change its url to enable it again", at.UTC().Format(time.RFC3339), reason)
		}
		if run, bad, err := webhook.Rejecting(ctx, o.db, w); err == nil && bad {
			line += "; " + webhook.RejectingProblem(w, run)
		}
	}
	return line
}

const listTime = "2006-01-02 15:04:05"

func (c *cli) outboxTable(es []storage.OutboxEntry) {
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SEQ\tSTATE\tALERT\tKIND\tSEVERITY\tCREATED (UTC)\tATTEMPTS\tNEXT TRY (UTC)\tLAST ERROR")
	now := time.Now()
	for _, e := range es {
		next := "-"
		if e.State == storage.StatePending {
			next = e.Next.UTC().Format(listTime)
			if !e.Next.After(now) {
				next = "due now"
			}
		}
		state := e.State
		if e.State == storage.StateDead && !e.RejectedAt.IsZero() {
			state += " since " + e.RejectedAt.UTC().Format(listTime)
		}
		alert := e.AlertID
		if e.Revision > 0 {
			alert += " rev " + strconv.Itoa(e.Revision)
		}
		lastErr := e.LastError
		if lastErr == "" {
			lastErr = "-"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Seq, state, alert, orDash(e.Kind), orDash(e.Severity),
			e.Created.UTC().Format(listTime), e.Attempts, next, lastErr)
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// alertsRetryDrop makes one undelivered message due now (retry) or gives
// it up (drop). Exit 2 for an id that names no undelivered message, or
// several.
func (c *cli) alertsRetryDrop(ctx context.Context, verb string, args []string) error {
	fs := c.flags("alerts " + verb)
	cfgPath := fs.String("config", "", "config file (data_dir, alerts.webhooks)")
	only := fs.String("webhook", "", "the webhook, when the alert went to several")
	const idHelp = "the SEQ that `rankpulse alerts pending` shows, an alert id, or a webhook-id (ALERT-ID.SEQ)"
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: rankpulse alerts %s [--config F] [--webhook NAME] ID\n  ID is %s\n", verb, idHelp)
		fs.PrintDefaults()
	}
	id, err := parseWithArg(fs, args, "alerts "+verb+" needs an ID: "+idHelp)
	if err != nil {
		return err
	}
	ref, err := parseOutboxID(id)
	if err != nil {
		return err
	}
	ref.Webhook = *only
	o, err := c.openOutbox(ctx, *cfgPath)
	if err != nil {
		return err
	}
	defer o.db.Close()
	e, err := o.resolve(ctx, id, ref)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("seq %d (alert %s to %s, %s)", e.Seq, e.AlertID, e.Webhook, e.State)
	if verb == "drop" {
		if err := o.db.Drop(ctx, e.Seq); err != nil {
			return fmt.Errorf("drop %s: %w", what, err)
		}
		fmt.Fprintf(c.stdout, "dropped %s: it will not be sent\n", what)
		return nil
	}
	if warning := o.unsent(ctx, e.Webhook); warning != "" {
		fmt.Fprintf(c.stderr, "rankpulse: warning: webhook %s %s\n", e.Webhook, warning)
	}
	n, err := o.db.Retry(ctx, e.Seq, time.Now())
	if err != nil {
		return fmt.Errorf("retry %s: %w", what, err)
	}
	switch {
	case e.State != storage.StatePending:
		fmt.Fprintf(c.stdout, "%s is due now, with a fresh budget of attempts\n", what)
	case n == 0:
		fmt.Fprintf(c.stdout, "%s was due already: it goes out once the messages ahead of it have\n", what)
		return nil
	case n == 1:
		fmt.Fprintf(c.stdout, "%s is due now\n", what)
	default:
		fmt.Fprintf(c.stdout, "%s is due now, with the %d pending messages ahead of it (a receiver's alerts go out in order)\n", what, n-1)
	}
	fmt.Fprintln(c.stdout, "a running daemon sends it within a minute; `rankpulse run --once` sends it now")
	return nil
}

// unsent says why a receiver sends nothing, if it does not.
func (o *outboxCmd) unsent(ctx context.Context, name string) string {
	w, ok := o.hook(name)
	if !ok {
		return "is not in the config: nothing will send it"
	}
	if _, _, off, err := o.db.Disabled(ctx, name, webhook.URLHash(w.URL.Value())); err == nil && off {
		return "is disabled (it answered 410 Gone): it sends nothing until its url changes"
	}
	return ""
}

// parseWithArg parses flags given before or after one positional argument;
// missing says what is missing without it.
func parseWithArg(fs *flag.FlagSet, args []string, missing string) (string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", usagef("%v", err)
	}
	if fs.NArg() == 0 {
		return "", usagef("%s", missing)
	}
	arg := fs.Arg(0)
	if err := parse(fs, fs.Args()[1:]); err != nil {
		return "", err
	}
	return arg, nil
}

var (
	alertIDRe   = regexp.MustCompile(`^[0-9a-f]{20}$`)
	webhookIDRe = regexp.MustCompile(`^([0-9a-f]{20})\.([0-9]+)$`)
	seqRe       = regexp.MustCompile(`^[0-9]{1,18}$`)
)

// parseOutboxID reads the ID of retry and drop. An alert id is 20 hex
// digits and an outbox seq is shorter, so the two never mix up; a
// webhook-id is both.
func parseOutboxID(id string) (storage.OutboxQuery, error) {
	id = strings.TrimPrefix(strings.TrimSpace(id), "#")
	switch {
	case alertIDRe.MatchString(id):
		return storage.OutboxQuery{AlertID: id}, nil
	case webhookIDRe.MatchString(id):
		m := webhookIDRe.FindStringSubmatch(id)
		seq, _ := strconv.ParseInt(m[2], 10, 64)
		return storage.OutboxQuery{AlertID: m[1], Seq: seq}, nil
	case seqRe.MatchString(id) && id != strings.Repeat("0", len(id)):
		seq, _ := strconv.ParseInt(id, 10, 64)
		return storage.OutboxQuery{Seq: seq}, nil
	}
	return storage.OutboxQuery{}, usagef("%q is neither an outbox SEQ (a number, as `rankpulse alerts pending` shows), an alert id (20 hex digits) nor a webhook-id (ALERT-ID.SEQ)", id)
}

// resolve finds the one undelivered message an ID names.
func (o *outboxCmd) resolve(ctx context.Context, id string, q storage.OutboxQuery) (storage.OutboxEntry, error) {
	all, err := o.db.Outbox(ctx, q)
	if err != nil {
		return storage.OutboxEntry{}, err
	}
	var open []storage.OutboxEntry
	for _, e := range all {
		if storage.Undelivered(e.State) {
			open = append(open, e)
		}
	}
	scope := ""
	if q.Webhook != "" {
		scope = " to webhook " + q.Webhook
	}
	switch {
	case len(all) == 0:
		return storage.OutboxEntry{}, usagef("no outbox message %s%s (`rankpulse alerts pending` lists the undelivered ones)", id, scope)
	case len(open) == 1:
		return open[0], nil
	case len(open) == 0:
		var done []string
		for _, e := range all {
			s := fmt.Sprintf("seq %d to %s was %s", e.Seq, e.Webhook, e.State)
			if e.State == storage.StateDelivered && !e.Delivered.IsZero() {
				s += " at " + e.Delivered.UTC().Format(time.RFC3339)
			}
			done = append(done, s)
		}
		return storage.OutboxEntry{}, usagef("nothing undelivered for %s%s: %s", id, scope, strings.Join(done, "; "))
	}
	var cands []string
	for _, e := range open {
		cands = append(cands, fmt.Sprintf("seq %d to %s (%s)", e.Seq, e.Webhook, e.State))
	}
	return storage.OutboxEntry{}, usagef("%s names %d undelivered messages: %s; pass the seq, or --webhook NAME", id, len(open), strings.Join(cands, ", "))
}

func cfgOrDefaults(path string) string {
	if path == "" {
		return "the built-in defaults"
	}
	return path
}
