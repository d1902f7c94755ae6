// Package tmpfs gives tests a small volume that really runs out of space:
// a tmpfs mounted for the test (and unmounted after it), and a filler
// that takes the space that is left. A real filesystem saying ENOSPC — not
// a fake — is what SQLite, the spool and the checks must cope with.
//
// Mounting needs root, which CI has. Without it the tests skip, unless
// RANKPULSE_REQUIRE_ROOT=1 (the test command sets it), in which case they
// fail saying so: a full-disk test never skips in CI.
package tmpfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Require skips (or, with RANKPULSE_REQUIRE_ROOT=1, fails) a test that
// needs root.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("RANKPULSE_REQUIRE_ROOT") == "1" {
		t.Fatalf("this test mounts a tmpfs to fill a disk and needs root, but runs as uid %d (RANKPULSE_REQUIRE_ROOT=1: root tests must not skip); run it as root, as CI does", os.Geteuid())
	}
	t.Skipf("skipping: mounting a tmpfs to fill a disk needs root (uid %d); CI runs it as root", os.Geteuid())
}

// Mount mounts a tmpfs of size bytes for the test and returns its
// directory; it is unmounted when the test ends.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -t tmpfs (size %d) on %s: %v: %s", size, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Fill takes the space left on the volume of dir with a filler file, so
// that the next write fails with ENOSPC, and returns a function that frees
// it again.
func Fill(t testing.TB, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, ".filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("fill %s: %v", dir, err)
	}
	buf := make([]byte, 64<<10)
	for size := len(buf); size > 0; {
		if _, err := f.Write(buf[:size]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			size /= 2 // the last blocks, down to the byte
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("free %s: %v", dir, err)
		}
	}
}
