//go:build linux || darwin || freebsd || netbsd || openbsd

package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
)

// FreeSpace reports the room on the volume of dir (statfs): the bytes an
// unprivileged process may still write, and the volume's size.
func FreeSpace(dir string) (Space, error) {
	for {
		var st syscall.Statfs_t
		err := syscall.Statfs(dir, &st)
		if err == nil {
			// What an unprivileged writer may use: root may have more
			// (reserved blocks), but that is no room to count on.
			bs := uint64(st.Bsize)
			return Space{Free: uint64(st.Bavail) * bs, Total: uint64(st.Blocks) * bs}, nil
		}
		// A data directory not made yet: its parent's volume.
		if parent := filepath.Dir(dir); errors.Is(err, syscall.ENOENT) && parent != dir {
			dir = parent
			continue
		}
		return Space{}, fmt.Errorf("statfs %s: %w", dir, err)
	}
}

func classifyErrno(err error) Fault {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return FaultFull
	case errors.Is(err, syscall.EIO):
		return FaultIO
	case errors.Is(err, syscall.EROFS):
		return FaultReadOnly
	}
	return FaultOther
}
