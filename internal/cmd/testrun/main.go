// Command testrun is the full test suite (`make test`, which CI runs through
// .ci/run). On a fresh machine it installs what it needs:
//
//  1. influxd 1.8.10 (`go install`, into .cache/bin; about two minutes the
//     first time, cached after), started on a free loopback port with a
//     temporary directory and Flux enabled, and stopped at the end;
//  2. PostgreSQL 15 (Debian's postgresql-15: installed with apt-get when
//     initdb is missing and we run as root), initdb'd in a temporary
//     directory and started on a free loopback port (as the postgres user
//     when we are root: it refuses to run as root), stopped at the end;
//     RANKPULSE_PG_URL points the tests at it;
//  3. gofmt and go vet over the tree;
//  4. Debian's chromium for the status pages' browser tests: installed with
//     apt-get when /usr/bin/chromium is missing and we run as root (CI),
//     a clear failure otherwise;
//  5. `go test -race -count=1 ./...` with RANKPULSE_REQUIRE_INFLUX=1,
//     RANKPULSE_REQUIRE_PG=1, RANKPULSE_REQUIRE_BROWSER=1 and
//     RANKPULSE_REQUIRE_ROOT=1, so integration tests fail rather than skip
//     without InfluxDB, PostgreSQL, Chromium or root (the full-disk tests
//     mount a tmpfs; CI runs as root; set RANKPULSE_REQUIRE_ROOT=0 to let
//     them skip as another user) — the browser tests' screenshots go to
//     .cache/artifacts/screenshots — then the alert-quality tests without
//     -race (they are built only then);
//  6. each fuzz target for a few seconds.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rankpulse/rankpulse/internal/influxtest"
	"github.com/rankpulse/rankpulse/internal/pgtest"
)

const influxdModule = "github.com/influxdata/influxdb/cmd/influxd@v1.8.10"

// fuzzTargets are run for -fuzztime each.
var fuzzTargets = []struct{ pkg, name string }{
	{"./scrapers/appstore", "FuzzParseRSS"},
	{"./scrapers/appstore", "FuzzParseCharts"},
	{"./scrapers/appstore", "FuzzParseLookup"},
	{"./scrapers/googleplay", "FuzzParseFrames"},
	{"./scrapers/googleplay", "FuzzParsePayload"},
}

func main() {
	fuzzTime := flag.Duration("fuzztime", 5*time.Second, "time per fuzz target (0 skips fuzzing)")
	run := flag.String("run", "", "only run tests matching this regexp")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(testAll(ctx, *fuzzTime, *run, flag.Args()))
}

func testAll(ctx context.Context, fuzzTime time.Duration, run string, pkgs []string) int {
	start := time.Now()
	step := func(name string, args ...string) bool {
		fmt.Fprintf(os.Stderr, "==> %s\n", strings.Join(append([]string{name}, args...), " "))
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: %s: %v\n", name, err)
			return false
		}
		return true
	}

	out, err := exec.Command("gofmt", "-l", ".").Output()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: gofmt would change:\n%s%v\n", out, err)
		return 1
	}
	if !step("go", "vet", "./...") {
		return 1
	}

	bin, err := influxd(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "rankpulse-influxd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	srv, err := influxtest.StartServer(bin, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start influxd:", err)
		return 1
	}
	defer srv.Stop()
	fmt.Fprintf(os.Stderr, "==> influxd 1.8.10 at %s (data in %s)\n", srv.URL, dir)
	os.Setenv("RANKPULSE_INFLUX_URL", srv.URL)
	os.Setenv("RANKPULSE_INFLUXD", bin)
	os.Setenv("RANKPULSE_REQUIRE_INFLUX", "1")
	pg, err := postgres(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer pg.Stop()
	defer os.RemoveAll(pg.Dir())
	fmt.Fprintf(os.Stderr, "==> postgres at %s (data in %s)\n", pg.URL, pg.Dir())
	os.Setenv(pgtest.EnvURL, pg.URL)
	os.Setenv(pgtest.EnvRequire, "1")
	if os.Getenv("RANKPULSE_REQUIRE_ROOT") == "" {
		os.Setenv("RANKPULSE_REQUIRE_ROOT", "1") // the full-disk tests mount a tmpfs
	}
	if err := browser(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}

	args := []string{"test", "-race", "-count=1", "-timeout=15m"}
	if run != "" {
		args = append(args, "-run", run)
	}
	if len(pkgs) == 0 {
		pkgs = []string{"./..."}
	}
	ok := step("go", append(args, pkgs...)...)
	if ok && run == "" && len(pkgs) == 1 && pkgs[0] == "./..." {
		// The alert-quality tests are built without -race (single-goroutine
		// computations the race detector only slows eightfold).
		ok = step("go", "test", "-count=1", "-timeout=15m", "-run", "Quality", "./alerts/")
	}
	if ok && fuzzTime > 0 && run == "" {
		for _, f := range fuzzTargets {
			ok = step("go", "test", "-run=^$", "-fuzz=^"+f.name+"$", "-fuzztime="+fuzzTime.String(), f.pkg) && ok
		}
	}
	if shots := filepath.Join(os.Getenv("RANKPULSE_ARTIFACTS"), "screenshots"); os.Getenv("RANKPULSE_ARTIFACTS") != "" {
		if _, err := os.Stat(shots); err == nil {
			fmt.Fprintf(os.Stderr, "==> status page screenshots in %s\n", shots)
		}
	}
	fmt.Fprintf(os.Stderr, "==> done in %s\n", time.Since(start).Round(time.Second))
	if !ok {
		return 1
	}
	return 0
}

// influxd returns the influxd binary, installing it into .cache/bin first
// when needed.
func influxd(ctx context.Context) (string, error) {
	if p := os.Getenv("RANKPULSE_INFLUXD"); p != "" {
		return p, nil
	}
	dir, err := filepath.Abs(filepath.Join(".cache", "bin"))
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "influxd")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	fmt.Fprintf(os.Stderr, "==> go install %s (first run only, about 2 minutes)\n", influxdModule)
	cmd := exec.CommandContext(ctx, "go", "install", influxdModule)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("install influxd: %w", err)
	}
	return bin, nil
}

// chromiumBin is where Debian's chromium package puts the browser.
const chromiumBin = "/usr/bin/chromium"

// browser makes sure the browser tests have Chromium, installing Debian's
// package when it is missing and we are root (CI runs as root on a machine
// with nothing installed), and sets the tests' environment.
func browser(ctx context.Context) error {
	bin := os.Getenv("RANKPULSE_CHROMIUM")
	if bin == "" {
		bin = chromiumBin
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("RANKPULSE_CHROMIUM") != "" || os.Geteuid() != 0 {
			return fmt.Errorf("the browser tests need Chromium and %s is missing: install it (Debian: sudo apt-get install -y chromium) or set RANKPULSE_CHROMIUM to a Chromium binary", bin)
		}
		fmt.Fprintln(os.Stderr, "==> apt-get update && apt-get install -y chromium (first run only)")
		for _, args := range [][]string{{"update"}, {"install", "-y", "chromium"}} {
			cmd := exec.CommandContext(ctx, "apt-get", args...)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("install chromium for the browser tests: apt-get %s: %w", strings.Join(args, " "), err)
			}
		}
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("apt-get installed chromium but %s is still missing: %w", bin, err)
		}
	}
	artifacts, err := filepath.Abs(filepath.Join(".cache", "artifacts"))
	if err != nil {
		return err
	}
	os.Setenv("RANKPULSE_CHROMIUM", bin)
	os.Setenv("RANKPULSE_REQUIRE_BROWSER", "1")
	os.Setenv("RANKPULSE_ARTIFACTS", artifacts)
	fmt.Fprintf(os.Stderr, "==> %s for the browser tests\n", bin)
	return nil
}

// postgres starts a PostgreSQL server for the tests, installing Debian's
// postgresql-15 first when initdb is missing and we are root (CI).
func postgres(ctx context.Context) (*pgtest.Server, error) {
	bin := pgtest.BinDir()
	if bin == "" {
		if os.Geteuid() != 0 {
			return nil, fmt.Errorf("the PostgreSQL tests need initdb and postgres (Debian: sudo apt-get install -y postgresql-15), or %s set to their directory", pgtest.EnvBin)
		}
		fmt.Fprintln(os.Stderr, "==> apt-get install -y postgresql-15 (first run only)")
		for _, args := range [][]string{{"update"}, {"install", "-y", "postgresql-15"}} {
			cmd := exec.CommandContext(ctx, "apt-get", args...)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				return nil, fmt.Errorf("install postgresql-15 for the tests: apt-get %s: %w", strings.Join(args, " "), err)
			}
		}
		if bin = pgtest.BinDir(); bin == "" {
			return nil, fmt.Errorf("apt-get installed postgresql-15 but %s/initdb is still missing", pgtest.DefaultBinDir)
		}
	}
	dir, err := os.MkdirTemp("", "rankpulse-pg-")
	if err != nil {
		return nil, err
	}
	srv, err := pgtest.StartServer(bin, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	return srv, nil
}
