//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
)

// lockDir holds an exclusive lock on dir until unlock: two runs sharing a
// module cache would purge each other's modules.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".authenik8-lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing releases the lock
}
