package faults_test

// The kill -9 part of the fault suite: `rankpulse run` is killed at random
// points (seeded) while it sweeps every second, stores, raises alerts and
// delivers them; after each kill the file must pass SQLite's integrity
// check, hold every snapshot it held before unchanged and none twice, and
// at the end every alert must have reached the receiver under one
// webhook-id.

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/rankpulse/rankpulse/internal/fakestore"
)

// receiver records the webhook deliveries: alert → webhook-ids seen, and
// alerts acknowledged.
type receiver struct {
	mu    sync.Mutex
	ids   map[string]map[string]bool
	acked map[string]int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev struct {
		Data struct {
			ID       string `json:"id"`
			Revision int    `json:"revision"`
		} `json:"data"`
	}
	json.Unmarshal(body, &ev)
	a := fmt.Sprintf("%s/%d", ev.Data.ID, ev.Data.Revision)
	rc.mu.Lock()
	if rc.ids[a] == nil {
		rc.ids[a] = map[string]bool{}
	}
	rc.ids[a][r.Header.Get("webhook-id")] = true
	rc.acked[a]++
	rc.mu.Unlock()
}

// integrity runs SQLite's integrity check on the file.
func integrity(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		return err.Error()
	}
	return res
}

// exported returns the export's lines by slot and chart; a key twice is
// an error.
func exported(t *testing.T, cfg string) map[string]string {
	t.Helper()
	out, err := exec.Command(rankpulse(t), "export", "--config", cfg).Output()
	if err != nil && len(out) == 0 {
		return map[string]string{}
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var s struct{ Time, Store, Country, Chart, Category string }
		if json.Unmarshal([]byte(line), &s) != nil {
			t.Fatalf("export line: %q", line)
		}
		k := s.Time + " " + s.Store + "/" + s.Country + "/" + s.Chart + "/" + s.Category
		if _, dup := got[k]; dup {
			t.Errorf("%s exported twice", k)
		}
		got[k] = line
	}
	return got
}

func TestKill9AtRandomPointsLosesNothing(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("RANKPULSE_FAULTS_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (RANKPULSE_FAULTS_SEED=%d repeats this run)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 11))

	apple := fakestore.NewApple(400)
	store := httptest.NewServer(apple)
	defer store.Close()
	rc := &receiver{ids: map[string]map[string]bool{}, acked: map[string]int{}}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	// Each round a watched app enters every chart at #1: alerts to store
	// and deliver while the process is killed.
	countries := []string{"us", "gb", "de"}
	watched := []string{"310633997", "686449807", "874139669"}
	round := func(n int) {
		for _, cc := range countries {
			for _, genre := range []string{"36", "6005"} {
				var ids []string
				for _, id := range apple.Ranking(cc, "top-free", genre) {
					if !strings.Contains(strings.Join(watched, " "), id) {
						ids = append(ids, id)
					}
				}
				apple.SetChart(cc, "top-free", genre, append([]string{watched[n%3]}, ids[:199]...))
			}
		}
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "rankpulse.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir: %s
listen: ""
stores:
  appstore:
    endpoints: {itunes: %q, marketing: %q}
    rate: 100
    concurrency: 4
jobs:
  - name: kill
    schedule: "@every 1s"
    stores: [appstore]
    countries: [us, gb, de]
    charts: [top-free]
    categories: {appstore: [all, "6005"]}
alerts:
  watch_only: true
  webhooks:
    - {name: ops, url: "%s/hook"}
`, data, store.URL, store.URL, hook.URL)), 0o600)

	seen := map[string]string{}
	for kill := range 8 {
		round(kill)
		cmd := exec.Command(rankpulse(t), "run", "--config", cfg)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wait := time.Duration(300+rng.IntN(2700)) * time.Millisecond
		time.Sleep(wait)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		res := integrity(t, filepath.Join(data, "rankpulse.db"))
		now := exported(t, cfg)
		lost, changed := 0, 0
		for k, line := range seen {
			switch got, ok := now[k]; {
			case !ok:
				lost++
			case got != line:
				changed++
			}
		}
		t.Logf("kill %d after %s: integrity %s; %d snapshots (%d new), %d lost, %d changed", kill+1, wait, res, len(now), len(now)-len(seen)+lost, lost, changed)
		if res != "ok" || lost > 0 || changed > 0 {
			t.Errorf("kill %d: integrity %q, %d snapshots lost, %d changed", kill+1, res, lost, changed)
		}
		for k, line := range now {
			seen[k] = line
		}
	}
	// A last, clean run delivers what the kills left in the outbox. It
	// sweeps no more: an alert raised by a sweep of its own just before the
	// SIGTERM below would still be pending, rightly, and fail the count.
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	quiet := strings.Replace(string(raw), `schedule: "@every 1s"`, "schedule: \"0 0 1 1 *\"\n    catch_up: false", 1)
	if err := os.WriteFile(cfg, []byte(quiet), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rankpulse(t), "run", "--config", cfg)
	cmd.Start()
	// "0 pending" twice a second apart: the start's evaluation of the slots
	// a kill left unevaluated may enqueue alerts after a first look.
	deadline := time.Now().Add(60 * time.Second)
	for empty := 0; ; {
		out, _ := exec.Command(rankpulse(t), "config", "check", "--config", cfg).Output()
		if strings.Contains(string(out), "outbox: 0 pending") {
			empty++
		} else {
			empty = 0
		}
		if empty == 2 || time.Now().After(deadline) {
			t.Logf("%s", strings.TrimSpace(string(out)))
			break
		}
		time.Sleep(time.Second)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "rankpulse.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT alert_id || '/' || revision, state FROM outbox`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{}
	for rows.Next() {
		var a, state string
		rows.Scan(&a, &state)
		if _, dup := stored[a]; dup {
			t.Errorf("alert %s is in the outbox twice", a)
		}
		stored[a] = state
	}
	rows.Close()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	undelivered := 0
	for a, state := range stored {
		if rc.acked[a] == 0 || state != "delivered" {
			undelivered++
			t.Errorf("alert %s: %s in the outbox, %d deliveries", a, state, rc.acked[a])
		}
		if len(rc.ids[a]) > 1 {
			t.Errorf("alert %s was sent under %d webhook-ids: %v", a, len(rc.ids[a]), rc.ids[a])
		}
	}
	repeats := 0
	for _, n := range rc.acked {
		repeats += n - 1
	}
	t.Logf("%d alerts stored, %d delivered (%d repeats of an unacknowledged delivery, same webhook-id), %d undelivered", len(stored), len(stored)-undelivered, repeats, undelivered)
	if len(stored) == 0 {
		t.Error("no alert was raised: the test did not exercise the outbox")
	}
}
