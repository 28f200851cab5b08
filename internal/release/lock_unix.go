//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockWait bounds the wait for another run's lock: a run that waits longer
// is more likely deadlocked (a process waiting on its own child) than slow.
const lockWait = 15 * time.Minute

// lockDir holds an exclusive lock on dir until unlock: two runs sharing a
// module cache would purge each other's modules. It waits for another run
// up to wait.
func lockDir(dir string, wait time.Duration) (unlock func(), err error) {
	name := filepath.Join(dir, ".authenik8-lock")
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for waited := false; ; waited = true {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, err
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("%s: still locked by another run after %v", name, wait)
		}
		if !waited {
			fmt.Fprintf(os.Stderr, "waiting for %s, held by another run\n", name)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
