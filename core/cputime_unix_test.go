//go:build unix

package core

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used (user and system, every
// thread, so the garbage collector's share counts too), or 0 if unknown.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
