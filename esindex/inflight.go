package esindex

import (
	"context"
	"sync"
	"time"
)

// A bulk load that keeps every write thread of the node busy leaves every
// other write (the run's own lease renewals among them) queued behind whole
// _bulk shard requests, which take seconds each on a loaded node holding
// 1280-d HNSW graphs. inflight is the load's congestion control: the
// requests in flight start at BulkOptions.Workers and drop by one, down to
// one, whenever the node answers with 429s or a request takes far longer
// than the fastest one so far; after as many quick requests as are allowed
// in flight the limit rises by one again. At one request in flight a node
// with two or more write threads always has one free.
type inflight struct {
	mu      sync.Mutex
	cond    *sync.Cond
	max     int
	limit   int
	busy    int
	good    int           // quick requests since the limit last changed
	fastest time.Duration // per MiB sent
	lowered int           // how often the limit dropped
}

// slowFactor is how many times slower than the fastest request (per byte)
// a request must be to count as a sign of congestion; minSlow is the least
// time that counts at all, so small fast requests do not trip it.
const (
	slowFactor = 4
	minSlow    = 2 * time.Second
)

func newInflight(workers int) *inflight {
	f := &inflight{max: workers, limit: workers}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// acquire waits for a slot under the current limit, or for ctx's end.
func (f *inflight) acquire(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	defer stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.busy >= f.limit {
		if err := ctx.Err(); err != nil {
			return err
		}
		f.cond.Wait()
	}
	f.busy++
	return nil
}

// release frees a slot and adjusts the limit from how the request went:
// took is its time, bytes its size, congested whether the node refused
// items with 429 or the request failed.
func (f *inflight) release(took time.Duration, bytes int, congested bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.busy--
	defer f.cond.Broadcast()
	perMiB := time.Duration(float64(took) * float64(1<<20) / float64(max(bytes, 1)))
	if !congested && (f.fastest == 0 || perMiB < f.fastest) {
		f.fastest = perMiB
	}
	slow := took >= minSlow && perMiB > slowFactor*f.fastest
	if congested || slow {
		if f.limit > 1 {
			f.limit--
			f.lowered++
		}
		f.good = 0
		return
	}
	if f.good++; f.good >= f.limit && f.limit < f.max {
		f.limit++
		f.good = 0
	}
}

// timesLowered reports how often the limit dropped.
func (f *inflight) timesLowered() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lowered
}
