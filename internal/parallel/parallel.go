// Package parallel runs independent index-addressed work on a few
// goroutines. embed (layouts, focus crops) and groups (components, splits)
// share it instead of each keeping a copy of the same loop.
package parallel

import (
	"sync"
	"sync/atomic"
)

// For runs fn(i) for every i in [0, n) on up to workers goroutines (at least
// one), handing out indices one at a time so uneven items balance, and
// returns when all calls have returned.
func For(n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(max(workers, 1), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
