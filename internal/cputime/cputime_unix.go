//go:build unix

// Package cputime reads the process's CPU time, so benchmarks and debug logs
// can report work done rather than wall time on a busy machine.
package cputime

import (
	"syscall"
	"time"
)

// Process is the process's user+system CPU time so far (0 if unknown).
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
