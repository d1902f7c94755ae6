// Package influxtest gives integration tests a real InfluxDB 1.8 server.
//
// Shared returns the server the test command started (RANKPULSE_INFLUX_URL),
// or starts one for the test binary from the influxd binary
// (RANKPULSE_INFLUXD, else influxd on PATH or in $GOPATH/bin). Start gives a
// test its own server that it can stop and restart. Without a server the
// tests skip, unless RANKPULSE_REQUIRE_INFLUX=1 (set by the test command and
// CI), in which case they fail: integration tests never skip in CI.
package influxtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/sinks/influx"
)

// Server is an InfluxDB server used by tests.
type Server struct {
	URL string

	mu      sync.Mutex
	cmd     *exec.Cmd
	dir     string
	httpAdr string
	bin     string
}

func require(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("RANKPULSE_REQUIRE_INFLUX") == "1" {
		t.Fatalf("InfluxDB is required (RANKPULSE_REQUIRE_INFLUX=1) but %s", why)
	}
	t.Skipf("skipping InfluxDB integration test: %s (run the README's test command, which installs and starts influxd 1.8.10)", why)
}

// Binary returns the influxd binary to start, or "".
func Binary() string {
	if p := os.Getenv("RANKPULSE_INFLUXD"); p != "" {
		return p
	}
	if p, err := exec.LookPath("influxd"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "influxd")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// Shared returns a server shared by the whole test binary.
func Shared(t testing.TB) *Server {
	t.Helper()
	if u := os.Getenv("RANKPULSE_INFLUX_URL"); u != "" {
		return &Server{URL: strings.TrimRight(u, "/")}
	}
	sharedOnce.Do(func() {
		bin := Binary()
		if bin == "" {
			sharedErr = fmt.Errorf("no influxd binary found")
			return
		}
		dir, err := os.MkdirTemp("", "rankpulse-influx-")
		if err != nil {
			sharedErr = err
			return
		}
		shared = &Server{bin: bin, dir: dir}
		sharedErr = shared.start()
	})
	if sharedErr != nil {
		require(t, sharedErr.Error())
	}
	return shared
}

// Start starts a server of the test's own, stopped at the end of the test.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		require(t, "no influxd binary found (set RANKPULSE_INFLUXD)")
	}
	s := &Server{bin: bin, dir: t.TempDir()}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartServer starts influxd bin with its data in dir, outside a test (the
// test command uses it to serve every package).
func StartServer(bin, dir string) (*Server, error) {
	s := &Server{bin: bin, dir: dir}
	return s, s.start()
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpAdr == "" {
		a, err := freePort()
		if err != nil {
			return err
		}
		s.httpAdr = a
		s.URL = "http://" + a
	}
	rpc, err := freePort()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "run")
	cmd.Env = append(os.Environ(),
		"INFLUXDB_HTTP_BIND_ADDRESS="+s.httpAdr,
		"INFLUXDB_BIND_ADDRESS="+rpc,
		"INFLUXDB_META_DIR="+filepath.Join(s.dir, "meta"),
		"INFLUXDB_DATA_DIR="+filepath.Join(s.dir, "data"),
		"INFLUXDB_DATA_WAL_DIR="+filepath.Join(s.dir, "wal"),
		"INFLUXDB_HTTP_FLUX_ENABLED=true",
		"INFLUXDB_REPORTING_DISABLED=true",
		"INFLUXDB_HTTP_LOG_ENABLED=false",
		"INFLUXDB_DATA_QUERY_LOG_ENABLED=false",
		"INFLUXDB_LOGGING_LEVEL=warn",
	)
	logf, err := os.OpenFile(filepath.Join(s.dir, "influxd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start influxd: %w", err)
	}
	go func() { cmd.Wait(); logf.Close() }()
	s.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	log, _ := os.ReadFile(filepath.Join(s.dir, "influxd.log"))
	return fmt.Errorf("influxd did not answer /ping within 30s; log:\n%s", log)
}

// Stop stops a server started by Start (a no-op for an external one).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	for range 100 { // wait for the port to close
		c, err := net.DialTimeout("tcp", s.httpAdr, 50*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	s.cmd = nil
}

// Restart starts a stopped server again on the same port and data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

var nonWord = regexp.MustCompile(`[^a-z0-9_]+`)

// CreateDB creates a fresh database named after the test and returns its
// name.
func (s *Server) CreateDB(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := nonWord.ReplaceAllString(strings.ToLower(t.Name()), "_")
	name = "t_" + name[:min(len(name), 40)] + "_" + hex.EncodeToString(b)
	s.Query(t, "", `CREATE DATABASE "`+name+`"`)
	return name
}

// Query runs InfluxQL and fails the test on error.
func (s *Server) Query(t testing.TB, db, q string) *influx.V1Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := influx.V1Query(ctx, s.URL, "", db, q)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Main runs a package's tests and then stops the shared server, if this
// binary started one. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}

// StopShared stops the server Shared started, if any (for a TestMain that
// also stops other servers).
func StopShared() {
	if shared != nil && shared.cmd != nil {
		shared.Stop()
		os.RemoveAll(shared.dir)
	}
}
