// Package pgtest gives integration tests a real PostgreSQL server.
//
// Shared returns the server the test command started (RANKPULSE_PG_URL),
// or starts one for the test binary with initdb in a temporary directory on
// a free loopback port (binaries from RANKPULSE_PG_BIN, else
// /usr/lib/postgresql/15/bin, else PATH). initdb and postgres refuse to run
// as root, so as root the server runs as the `postgres` user. Database
// gives each test a fresh database on it, dropped at the end. Without a
// server the tests skip, unless RANKPULSE_REQUIRE_PG=1 (set by the test
// command and CI), in which case they fail: integration tests never skip in
// CI.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env names the variables the tests read.
const (
	EnvURL     = "RANKPULSE_PG_URL"     // a running server (the test command's)
	EnvRequire = "RANKPULSE_REQUIRE_PG" // "1": fail rather than skip without a server
	EnvBin     = "RANKPULSE_PG_BIN"     // the directory of initdb and postgres
)

// DefaultBinDir is where Debian's postgresql-15 puts its binaries.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// Server is a PostgreSQL server started for tests.
type Server struct {
	// URL reaches the server's "postgres" database as its superuser.
	URL string

	cmd  *exec.Cmd
	dir  string
	done chan struct{}
}

func require(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("PostgreSQL is required (%s=1) but %s", EnvRequire, why)
	}
	t.Skipf("skipping PostgreSQL integration test: %s (run `make test`, which starts PostgreSQL 15 from %s)", why, DefaultBinDir)
}

// BinDir returns the directory holding initdb and postgres, or "".
func BinDir() string {
	if d := os.Getenv(EnvBin); d != "" {
		return d
	}
	if _, err := os.Stat(filepath.Join(DefaultBinDir, "initdb")); err == nil {
		return DefaultBinDir
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

// StartServer runs initdb in dir (which must not exist or be empty) and
// starts postgres on a free loopback port. As root, the server runs as the
// postgres user and dir is handed to it (its parent must let that user
// through: os.MkdirTemp("", …) does).
func StartServer(binDir, dir string) (*Server, error) {
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("hand %s to the postgres user: %w", dir, err)
		}
	}
	initdb := exec.Command(filepath.Join(binDir, "initdb"), "-D", data, "-U", "rankpulse", "--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	// Durability is not what these tests are about: without fsync a test
	// server is several times faster on a shared machine.
	cmd := exec.Command(filepath.Join(binDir, "postgres"), "-D", data, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-k", dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=64MB", "-c", "log_min_messages=warning")
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server dies with the test binary, even one killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &Server{URL: fmt.Sprintf("postgres://rankpulse@127.0.0.1:%d/postgres?sslmode=disable", port), cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(s.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgx.Connect(ctx, s.URL)
		if err == nil {
			c.Close(ctx)
			cancel()
			return s, nil
		}
		cancel()
		select {
		case <-s.done:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres exited at start; log:\n%s", log)
		case <-time.After(50 * time.Millisecond):
		}
	}
	s.Stop()
	log, _ := os.ReadFile(logPath)
	return nil, fmt.Errorf("postgres did not accept connections within 30s; log:\n%s", log)
}

// serverUser returns the credential to run initdb and postgres with: the
// postgres user when we are root, nil (ourselves) otherwise.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL does not run as root and there is no postgres user: %w (install postgresql-15, or run the tests as another user)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop stops the server at once (SIGQUIT: immediate shutdown) and waits.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Dir is the server's directory (data and log).
func (s *Server) Dir() string { return s.dir }

var (
	sharedOnce sync.Once
	shared     *Server
	sharedURL  string
	sharedErr  error
)

// Shared returns the URL of a server shared by the whole test binary.
func Shared(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	sharedOnce.Do(func() {
		bin := BinDir()
		if bin == "" {
			sharedErr = errors.New("no initdb found (set " + EnvBin + ")")
			return
		}
		dir, err := os.MkdirTemp("", "rankpulse-pg-")
		if err != nil {
			sharedErr = err
			return
		}
		shared, sharedErr = StartServer(bin, dir)
		if sharedErr == nil {
			sharedURL = shared.URL
		}
	})
	if sharedErr != nil {
		require(t, sharedErr.Error())
	}
	return sharedURL
}

var nonWord = regexp.MustCompile(`[^a-z0-9_]+`)

// Database creates a fresh database on the shared server, named after the
// test, and returns its URL; it is dropped when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	base := Shared(t)
	b := make([]byte, 4)
	rand.Read(b)
	name := nonWord.ReplaceAllString(strings.ToLower(t.Name()), "_")
	name = "t_" + name[:min(len(name), 40)] + "_" + hex.EncodeToString(b)
	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, sql)
		return err
	}
	if err := exec(`CREATE DATABASE "` + name + `"`); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
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
	if shared != nil {
		shared.Stop()
		os.RemoveAll(shared.dir)
		shared = nil
	}
}

// PID is the postmaster's process id (0 once stopped).
func (s *Server) PID() int {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}
