//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package storage

import "errors"

// FreeSpace is not available on this system.
func FreeSpace(dir string) (Space, error) {
	return Space{}, errors.New("free space: not supported on this system")
}

func classifyErrno(error) Fault { return FaultOther }
