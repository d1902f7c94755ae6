package faults_test

// The full-disk part of the fault suite, against the real binary: data_dir
// on a small tmpfs (mounted by the test; root, see internal/tmpfs) that
// fills up while `rankpulse run` sweeps every two seconds, with and
// without InfluxDB down too; and a start on a full disk. What must hold:
// no slot is lost, /readyz is not ready and the sweep line counts the
// failed writes while the disk is full, and the advice at start never is
// to move a healthy database aside.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/internal/influxtest"
	"github.com/rankpulse/rankpulse/internal/tmpfs"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// daemon is a `rankpulse run` whose stderr the test reads line by line.
type daemon struct {
	cmd   *exec.Cmd
	addr  string
	mu    sync.Mutex
	lines []string
	done  chan struct{} // closed when the process has exited
}

func startDaemon(t *testing.T, cfg, addr string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(rankpulse(t), "run", "--config", cfg), addr: addr, done: make(chan struct{})}
	pipe, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			d.mu.Lock()
			d.lines = append(d.lines, sc.Text())
			d.mu.Unlock()
		}
		d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.done
	})
	return d
}

func (d *daemon) log() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.lines...)
}

// sweeps returns the sweep lines logged so far.
func (d *daemon) sweeps() []string {
	var out []string
	for _, l := range d.log() {
		if strings.Contains(l, `msg="sweep done`) {
			out = append(out, l)
		}
	}
	return out
}

// waitSweeps waits until n sweeps are logged.
func (d *daemon) waitSweeps(t *testing.T, n int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(d.sweeps()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d sweeps after %s, want %d:\n%s", len(d.sweeps()), within, n, strings.Join(d.log(), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return d.sweeps()
}

func (d *daemon) get(path string) (int, string) {
	resp, err := http.Get("http://" + d.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (d *daemon) stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("rankpulse did not stop within 60s of SIGTERM:\n%s", strings.Join(d.log(), "\n"))
	}
}

// metric returns the sum of a metric's samples in a /metrics page.
func metric(page, name string) float64 {
	var sum float64
	for _, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, name+" ") || strings.HasPrefix(l, name+"{") {
			var v float64
			fmt.Sscan(l[strings.LastIndex(l, " ")+1:], &v)
			sum += v
		}
	}
	return sum
}

type fullDiskRun struct {
	slots, stored int    // slots swept, slots stored whole
	readyDuring   string // /readyz while the disk was full
	sweepDuring   string // a sweep line while the disk was full
	failures      float64
	points        string // chart_scrape points in InfluxDB (with InfluxDB)
}

// runOnAFullDisk runs the daemon for 14 slots of 2s: 4 with room, 6 on a
// full disk, 4 with room again; with influx set, InfluxDB is down from the
// start and comes back once the disk has room.
func runOnAFullDisk(t *testing.T, influx *influxtest.Server, db string) fullDiskRun {
	mnt := tmpfs.Mount(t, 8<<20)
	apple := fakestore.NewApple(400)
	store := httptest.NewServer(apple)
	t.Cleanup(store.Close)
	addr := freeAddr(t)
	sink := ""
	if influx != nil {
		sink = fmt.Sprintf("sinks:\n  influxdb: {url: %q, bucket: %q, timeout: 2s}\n", influx.URL, db)
		influx.Stop()
	}
	cfg := filepath.Join(t.TempDir(), "rankpulse.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir: %s
listen: %s
stores:
  appstore:
    endpoints: {itunes: %q, marketing: %q}
    rate: 100
jobs:
  - name: full
    schedule: "@every 2s"
    stores: [appstore]
    countries: [us]
    charts: [top-free]
    categories: {appstore: [all, "6005"]}
%s`, filepath.Join(mnt, "data"), addr, store.URL, store.URL, sink)), 0o600)
	d := startDaemon(t, cfg, addr)
	var r fullDiskRun
	d.waitSweeps(t, 4, 60*time.Second)
	free := tmpfs.Fill(t, mnt)
	n := len(d.sweeps())
	during := d.waitSweeps(t, n+6, 60*time.Second)
	r.sweepDuring = during[len(during)-1]
	_, r.readyDuring = d.get("/readyz")
	_, page := d.get("/metrics")
	r.failures = metric(page, "rankpulse_store_write_failures_total")
	free()
	if influx != nil {
		influx.Restart(t)
	}
	d.waitSweeps(t, n+10, 60*time.Second)
	if influx != nil { // until the spool is drained
		deadline := time.Now().Add(90 * time.Second)
		for {
			_, page := d.get("/metrics")
			if metric(page, "rankpulse_spool_batches") == 0 && strings.Contains(page, "rankpulse_spool_batches") {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("the spool was not drained 90s after InfluxDB came back")
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	d.stop(t)
	slotRe := regexp.MustCompile(` slot=(\S+)`)
	swept := map[string]bool{}
	for _, l := range d.sweeps() {
		if m := slotRe.FindStringSubmatch(l); m != nil {
			swept[m[1]] = true
		}
	}
	r.slots = len(swept)
	// What the store holds, by slot: both charts, complete.
	out, err := exec.Command(rankpulse(t), "export", "--config", cfg).Output()
	if err != nil {
		t.Logf("export: %v", err)
	}
	per := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if m := regexp.MustCompile(`"time":"([^"]+)"`).FindStringSubmatch(line); m != nil && strings.Contains(line, `"complete":true`) {
			per[m[1]]++
		}
	}
	for slot := range swept {
		ts, _ := time.Parse(time.RFC3339, slot)
		if per[ts.UTC().Format(time.RFC3339)] == 2 {
			r.stored++
		}
	}
	if influx != nil {
		r.points = fmt.Sprint(influx.Query(t, db, `SELECT count("entries") FROM "chart_scrape"`).Values())
	}
	return r
}

func TestAFullDiskLosesNoSlot(t *testing.T) {
	tmpfs.Require(t)
	r := runOnAFullDisk(t, nil, "")
	t.Logf("slots stored whole: %d of %d swept; write failures counted: %v", r.stored, r.slots, r.failures)
	t.Logf("/readyz while the disk was full: %s", strings.TrimSpace(r.readyDuring))
	t.Logf("a sweep line while the disk was full: %s", r.sweepDuring)
	if r.stored != r.slots || r.slots < 14 {
		t.Errorf("%d of %d slots stored whole, want every one", r.stored, r.slots)
	}
	if !strings.Contains(r.readyDuring, `"ready":false`) || !strings.Contains(r.readyDuring, "disk_full") {
		t.Errorf("/readyz while the disk was full: %s; want not ready, naming the full disk", r.readyDuring)
	}
	if !strings.Contains(r.sweepDuring, "store_failed=2") || r.failures == 0 {
		t.Errorf("the sweep line does not count the failed writes (%s), or the metric (%v)", r.sweepDuring, r.failures)
	}
}

func TestAFullDiskWithInfluxDBDownLosesNoSlot(t *testing.T) {
	tmpfs.Require(t)
	srv := influxtest.Start(t)
	db := srv.CreateDB(t)
	r := runOnAFullDisk(t, srv, db)
	t.Logf("slots stored whole: %d of %d swept; InfluxDB chart_scrape points: %s (want %d)", r.stored, r.slots, r.points, 2*r.slots)
	if r.stored != r.slots || r.slots < 14 {
		t.Errorf("%d of %d slots stored whole, want every one", r.stored, r.slots)
	}
	if want := fmt.Sprintf("[[0 %d]]", 2*r.slots); r.points != want {
		t.Errorf("InfluxDB holds %s chart_scrape points, want %s: every slot, spooled through the full disk", r.points, want)
	}
}

// At start on a full disk, the error names the full disk and never
// advises moving the (healthy) database aside; config check reports the
// free space and the full disk.
func TestStartingOnAFullDiskSaysSo(t *testing.T) {
	mnt := tmpfs.Mount(t, 4<<20)
	_, url := serve(t, "none", fakestore.Fault{})
	cfgPath := config(t, url)
	cfg, _ := os.ReadFile(cfgPath)
	cfgPath = filepath.Join(t.TempDir(), "rankpulse.yaml")
	os.WriteFile(cfgPath, []byte(regexp.MustCompile(`(?m)^data_dir: .*$`).ReplaceAllString(string(cfg), "data_dir: "+filepath.Join(mnt, "data"))), 0o600)
	if r := runOnce(t, cfgPath, nil); r.code != 0 {
		t.Fatalf("the first run, with room: exit %d\n%s", r.code, r.stderr)
	}
	tmpfs.Fill(t, mnt)
	r := runOnce(t, cfgPath, nil)
	check, _ := exec.Command(rankpulse(t), "config", "check", "--config", cfgPath).CombinedOutput()
	t.Logf("run --once on a full disk: exit %d: %s", r.code, strings.TrimSpace(r.stderr))
	t.Logf("config check on a full disk:\n%s", check)
	if r.code == 0 || !strings.Contains(r.stderr, "is full") || strings.Contains(r.stderr, "move it aside to start afresh") || !strings.Contains(r.stderr, "do not delete it or move it aside") {
		t.Errorf("the start-up error on a full disk must name it and not advise moving the database aside")
	}
	if !strings.Contains(string(check), "is full") || !strings.Contains(string(check), "free of") {
		t.Errorf("config check on a full disk must report it and the free space")
	}
}
