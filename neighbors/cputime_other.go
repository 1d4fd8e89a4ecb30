//go:build !unix

package neighbors

import "time"

// cpuTime is unknown off unix; debug logs then show 0.
func cpuTime() time.Duration { return 0 }
