package cluster_test

// A world for the cluster's integration tests: real rankpulse processes
// sharing a database of a real PostgreSQL, the fake App Store, a webhook
// receiver and (when asked) a real InfluxDB.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/internal/influxtest"
	"github.com/rankpulse/rankpulse/internal/pgtest"
	"github.com/rankpulse/rankpulse/internal/syncbuf"
)

const telegram = "686449807"

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds rankpulse once per test binary.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rankpulse-cluster-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "rankpulse")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/rankpulse").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// delivery is one webhook request the receiver acknowledged.
type delivery struct {
	id    string // webhook-id
	alert chart.Alert
}

type world struct {
	t        *testing.T
	bin      string
	dir      string
	dbURL    string
	apple    *fakestore.Apple
	store    *httptest.Server
	hook     *httptest.Server
	schedule string
	extra    string // more config (sinks, stores)
	job      string // the jobs: section

	mu         sync.Mutex
	deliveries []delivery
	procs      map[string]*proc
	conn       *pgx.Conn
}

type proc struct {
	cmd  *exec.Cmd
	log  *syncbuf.Buffer
	done chan struct{}
}

func newWorld(t *testing.T, schedule string, countries []string, categories string) *world {
	t.Helper()
	w := &world{t: t, bin: binary(t), dir: t.TempDir(), dbURL: pgtest.Database(t), apple: fakestore.NewApple(300), schedule: schedule, procs: map[string]*proc{}}
	w.store = httptest.NewServer(w.apple)
	t.Cleanup(w.store.Close)
	w.hook = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Data chart.Alert `json:"data"`
		}
		json.Unmarshal(body, &ev)
		w.mu.Lock()
		w.deliveries = append(w.deliveries, delivery{r.Header.Get("webhook-id"), ev.Data})
		w.mu.Unlock()
	}))
	t.Cleanup(w.hook.Close)
	w.job = fmt.Sprintf(`jobs:
  - name: j
    schedule: "%s"
    stores: [appstore]
    countries: [%s]
    charts: [top-free]
    categories: {appstore: [%s]}
    depth: 100
`, schedule, strings.Join(countries, ", "), categories)
	openDB(t, w.dbURL) // the schema, before the instances and the queries below
	c, err := pgx.Connect(context.Background(), w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	w.conn = c
	t.Cleanup(func() {
		w.stopAll()
		c.Close(context.Background())
	})
	return w
}

// start runs an instance limited to countries (nil: any), with the
// environment additions env.
func (w *world) start(name string, countries []string, stores string, env ...string) *proc {
	w.t.Helper()
	cl := fmt.Sprintf("cluster: {name: %s, lease: 2s, heartbeat: 400ms, batch: %d", name, 2)
	if len(countries) > 0 {
		cl += ", countries: [" + strings.Join(countries, ", ") + "]"
	}
	cl += "}\n"
	if stores == "" {
		stores = "    rate: 50\n"
	}
	cfg := fmt.Sprintf(`data_dir: %s
listen: ""
log: {level: info}
storage: {url: "%s"}
%sstores:
  appstore:
    endpoints: {itunes: %s, marketing: %s}
%s%s%salerts:
  webhooks:
    - name: ops
      url: %s/hook
      secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
`, filepath.Join(w.dir, name), w.dbURL, cl, w.store.URL, w.store.URL, stores, w.job, w.extra, w.hook.URL)
	path := filepath.Join(w.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		w.t.Fatal(err)
	}
	cmd := exec.Command(w.bin, "run", "--config", path)
	cmd.Env = append(append(os.Environ(), "HTTPS_PROXY=http://127.0.0.1:1", "HTTP_PROXY=http://127.0.0.1:1", "NO_PROXY=127.0.0.1"), env...)
	p := &proc{cmd: cmd, log: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	w.mu.Lock()
	w.procs[name] = p
	w.mu.Unlock()
	return p
}

func (w *world) stopAll() {
	w.mu.Lock()
	procs := w.procs
	w.mu.Unlock()
	for name, p := range procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if w.t.Failed() {
			w.t.Logf("--- log of %s:\n%s", name, lastLines(p.log.String(), 40))
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (w *world) kill(name string) {
	w.t.Helper()
	w.mu.Lock()
	p := w.procs[name]
	w.mu.Unlock()
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// waitFor polls cond until it holds or the timeout passes.
func (w *world) waitFor(what string, timeout time.Duration, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *world) queryInt(q string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		w.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// evaluatedSlots lists the slots whose charts (n of them) are all stored
// and evaluated, oldest first.
func (w *world) evaluatedSlots(n int) []time.Time {
	w.t.Helper()
	rows, err := w.conn.Query(context.Background(), `SELECT slot FROM snapshots GROUP BY slot HAVING count(*) = $1 AND bool_and(evaluated) ORDER BY slot`, n)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var s int64
		rows.Scan(&s)
		out = append(out, time.Unix(s, 0).UTC())
	}
	return out
}

// afterEvaluation waits until a slot of n charts is evaluated and the
// next slot is at least margin away, so that a change to the fake store
// made now is seen whole by the next slot.
func (w *world) afterEvaluation(n int, every, margin time.Duration, minSlots int) time.Time {
	w.t.Helper()
	var last time.Time
	w.waitFor(fmt.Sprintf("%d evaluated slots of %d charts", minSlots, n), 60*time.Second, func() bool {
		ev := w.evaluatedSlots(n)
		if len(ev) < minSlots {
			return false
		}
		last = ev[len(ev)-1]
		return time.Until(last.Add(every)) > margin
	})
	return last.Add(every)
}

func (w *world) delivered() []delivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]delivery(nil), w.deliveries...)
}

// deliveredOnce checks that every alert revision was acknowledged exactly
// once, under one webhook-id, and returns the deliveries.
func (w *world) deliveredOnce() []delivery {
	w.t.Helper()
	seen := map[string]int{}
	for _, d := range w.delivered() {
		seen[d.alert.ID+"/"+strconv.Itoa(d.alert.Revision)]++
	}
	for k, n := range seen {
		if n != 1 {
			w.t.Errorf("alert %s delivered %d times", k, n)
		}
	}
	var stored int
	stored = w.queryInt(`SELECT count(*) FROM alerts`)
	if stored != len(seen) {
		w.t.Errorf("%d alert revisions stored, %d delivered", stored, len(seen))
	}
	return w.delivered()
}

func without(ids []string, id string) []string {
	var out []string
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// genre is the fake's genre of a category ("all" is 36).
func genre(cat string) string {
	if cat == chart.All {
		return "36"
	}
	return cat
}

// placeAt puts app at rank r (1-based) of a chart, or takes it out (r 0).
func (w *world) placeAt(cc, cat, app string, r int) {
	ids := without(w.apple.Ranking(cc, chart.TopFree, genre(cat)), app)
	if r > 0 {
		ids = append(ids[:r-1], append([]string{app}, ids[r-1:]...)...)
	}
	w.apple.SetChart(cc, chart.TopFree, genre(cat), ids[:min(len(ids), 200)])
}

func influxWorld(t *testing.T) (*influxtest.Server, string) {
	srv := influxtest.Shared(t)
	return srv, srv.CreateDB(t)
}
