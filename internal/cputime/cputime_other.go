//go:build !unix

// Package cputime reads the process's CPU time, so benchmarks and debug logs
// can report work done rather than wall time on a busy machine.
package cputime

import "time"

// Process is unknown off unix: it returns 0.
func Process() time.Duration { return 0 }
