package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/internal/fakestore"
)

// SIGTERM during `run --once` of 6 charts: the charts never fetched count
// as failed and are not stored (not even as empty snapshots), the summary
// says the run was interrupted, and the exit code is 128 + SIGTERM.
func TestRunOnceStoppedBySIGTERMSaysSoAndExitsNonZero(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	apple := fakestore.NewApple(300)
	apple.Latency = 300 * time.Millisecond
	srv := httptest.NewServer(apple)
	defer srv.Close()
	cfg := filepath.Join(dir, "rankpulse.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir: %s
listen: ""
log: {level: warn}
stores:
  appstore:
    endpoints: {itunes: %s, marketing: %s}
    rate: 50
    concurrency: 1
jobs:
  - name: six
    stores: [appstore]
    countries: [us, tr, gb]
    charts: [top-free, top-paid]
    categories: {appstore: [all]}
    depth: 100
`, filepath.Join(dir, "data"), srv.URL, srv.URL)), 0o644)
	cmd := exec.Command(bin, "run", "--once", "--config", cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Two charts done, the third under way.
	for deadline := time.Now().Add(30 * time.Second); chartHits(apple) < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the sweep did not get going: %s", stderr.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 128+int(syscall.SIGTERM) {
		t.Fatalf("run --once stopped by SIGTERM: %v, want exit %d\n%s", err, 128+int(syscall.SIGTERM), stderr.String())
	}
	out := stderr.String()
	m := regexp.MustCompile(`job six: 6 charts, (\d) complete, 0 incomplete, (\d) failed \((\d) not fetched\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("summary does not count the 6 charts with those not fetched as failed:\n%s", out)
	}
	complete, _ := strconv.Atoi(m[1])
	notFetched, _ := strconv.Atoi(m[3])
	if m[2] != m[3] || complete+notFetched != 6 || notFetched == 0 || complete < 2 {
		t.Fatalf("complete %s, failed %s, not fetched %s:\n%s", m[1], m[2], m[3], out)
	}
	for _, want := range []string{"not fetched: interrupted", "run --once interrupted (terminated signal received): " + m[3] + " charts were not fetched"} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
	code, stdout, _ := invoke(t, "", "export", "--config", cfg)
	snaps := readSnapshots(t, stdout)
	if code != exitOK || len(snaps) != complete {
		t.Fatalf("export: exit %d, %d snapshots; want the %d fetched ones only", code, len(snaps), complete)
	}
	for _, s := range snaps {
		if !s.Complete || len(s.Entries) != 100 {
			t.Fatalf("%s stored with %d entries, complete %v", s.Key(), len(s.Entries), s.Complete)
		}
	}
}

func chartHits(a *fakestore.Apple) int {
	n := 0
	for _, h := range a.Hits() {
		if h.Endpoint == fakestore.EPCharts {
			n++
		}
	}
	return n
}
