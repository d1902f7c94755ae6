// Package faults_test is rankpulse's fault suite, run against the real
// binary. This file is its hostile-store part: a store that answers 4.3 M
// ids for a 200-deep chart, a 50 MB HTML page, or a body that drips a byte
// at a time. Each must cost bounded memory and time, and SIGTERM must take
// effect within seconds whatever the store does.
package faults_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/internal/fakestore"
)

// rankpulse builds the binary once per test binary; RANKPULSE_FAULTS_BIN
// names another one instead (to measure an older build the same way).
func rankpulse(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("RANKPULSE_FAULTS_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(os.TempDir(), fmt.Sprintf("rankpulse-faults-%d", os.Getpid()))
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	out, err := exec.Command("go", "build", "-o", bin, "github.com/rankpulse/rankpulse/cmd/rankpulse").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Cleanup(func() { os.Remove(bin) })
	return bin
}

func config(t *testing.T, url string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`data_dir: %s
listen: ""
stores:
  appstore:
    endpoints: {itunes: %q, marketing: %q}
    rate: 100
    concurrency: 4
jobs:
  - name: hostile
    schedule: "7 * * * *"
    stores: [appstore]
    countries: [us, gb]
    charts: [top-free]
    categories: {appstore: [all, "6005"]}
    depth: 200
`, filepath.Join(dir, "data"), url, url)
	path := filepath.Join(dir, "rankpulse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type run struct {
	code    int
	maxRSS  int64 // KiB, peak resident set
	stderr  string
	afterTS time.Duration // from SIGTERM to exit
}

// runOnce runs `rankpulse run --once`; with term set, it sends SIGTERM once
// term returns true (polled). It gives up (and fails) 60s after SIGTERM, or
// after 60s without one.
func runOnce(t *testing.T, cfg string, term func() bool) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rankpulse(t), "run", "--once", "--config", cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var r run
	stopWatch := watchPeakRSS(cmd.Process.Pid, &r.maxRSS)
	defer stopWatch()
	var sent time.Time
	if term != nil {
		for !term() {
			select {
			case err := <-done:
				t.Fatalf("rankpulse exited (%v) before it could be stopped:\n%s", err, stderr.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
		sent = time.Now()
		cmd.Process.Signal(syscall.SIGTERM)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		what := "60s after SIGTERM"
		if sent.IsZero() {
			what = "after 60s"
		}
		t.Fatalf("rankpulse still running %s (killed):\n%s", what, stderr.String())
	}
	if !sent.IsZero() {
		r.afterTS = time.Since(sent)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	stopWatch()
	r.stderr = stderr.String()
	return r
}

// watchPeakRSS polls the process's VmHWM (its peak resident set since
// exec) until stopped. Rusage's Maxrss would not do: Go starts children
// with vfork, and Linux counts the parent's resident set, here that of the
// test and its fake store, into the child's maxrss at exec.
func watchPeakRSS(pid int, peak *int64) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
						var kb int64
						fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb)
						*peak = max(*peak, kb)
					}
				}
			}
			select {
			case <-quit:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(quit); <-done }) }
}

func serve(t *testing.T, endpoint string, f fakestore.Fault) (*fakestore.Apple, string) {
	t.Helper()
	apple := fakestore.NewApple(400)
	apple.Fail(endpoint, nil, f)
	srv := httptest.NewServer(apple)
	t.Cleanup(srv.Close)
	return apple, srv.URL
}

// memoryBound is far above what rankpulse needs here (~30-110 MB) and far
// below what an unbounded read took (486 MB for the 50 MB page, 6 GB for
// the 4.3 M ids).
const memoryBound = 300 << 10 // KiB

func TestHostileAnswersCostBoundedMemory(t *testing.T) {
	huge := fakestore.HugeHTML(50 << 20)
	chunked := huge
	chunked.NoLength = true
	for _, tc := range []struct {
		name string
		f    fakestore.Fault
	}{
		{"4.3M ids", fakestore.HugeChartIDs(4_300_000)},
		{"50MB HTML", huge},
		{"50MB HTML, no Content-Length", chunked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			apple, url := serve(t, fakestore.EPCharts, tc.f)
			r := runOnce(t, config(t, url), nil)
			t.Logf("exit %d, peak RSS %d MiB", r.code, r.maxRSS>>10)
			if r.code != 0 {
				t.Fatalf("exit %d; ws/charts is refused and the RSS feed serves the charts:\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "4 charts, 4 complete") || !strings.Contains(r.stderr, "raise stores.appstore.max_body_bytes") {
				t.Fatalf("want 4 complete charts and the size limit named:\n%s", r.stderr)
			}
			if r.maxRSS > memoryBound {
				t.Fatalf("peak RSS %d MiB, bound %d MiB", r.maxRSS>>10, memoryBound>>10)
			}
			for _, h := range apple.Hits() {
				if h.Endpoint == fakestore.EPLookup {
					t.Fatalf("a lookup was sent for ids of an answer that was never read: %s", h.URL)
				}
			}
		})
	}
}

func TestSIGTERMTakesEffectWhateverTheStoreDoes(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    fakestore.Fault
	}{
		{"slow drip", fakestore.SlowDrip(100 * time.Millisecond)},
		{"hang", fakestore.Fault{Hang: 10 * time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			apple, url := serve(t, fakestore.EPCharts, tc.f)
			r := runOnce(t, config(t, url), func() bool { return len(apple.Hits()) >= 4 })
			t.Logf("exit %d, %s after SIGTERM, peak RSS %d MiB", r.code, r.afterTS.Round(time.Millisecond), r.maxRSS>>10)
			// The grace is 3s; SPEC's bound is 10s. A slow machine gets
			// some slack, but not the 20s request timeout.
			if r.afterTS > 15*time.Second {
				t.Fatalf("exit %s after SIGTERM; want within 10s", r.afterTS.Round(time.Millisecond))
			}
			if r.code == 0 || !strings.Contains(r.stderr, "not fetched") {
				t.Fatalf("exit %d: a stopped run must not report success, and must say what it did not fetch:\n%s", r.code, r.stderr)
			}
		})
	}
}
