//go:build !unix

package groups

import "time"

// cpuTime is unknown off unix; the benchmark then reports 0.
func cpuTime() time.Duration { return 0 }
