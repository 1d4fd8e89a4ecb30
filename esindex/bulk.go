package esindex

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
)

// Op is one document operation of a bulk load.
type Op struct {
	Action string // "index" (default), "update" (Body is an update body, {"doc": …}) or "delete"
	ID     string
	Body   []byte // the document JSON; nil for delete
	// Index is the operation's target when it is not Bulk's index: one
	// stream then writes a product and its list document (the similar
	// index) in the same requests.
	Index string
}

// ItemFailure is an operation Elasticsearch refused for good (not a retryable
// overload), with its reason, so the run report can name it.
type ItemFailure struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Status int    `json:"status"`
	Reason string `json:"reason"`
	// Index is the Op's own target index, when it had one.
	Index string `json:"index,omitempty"`
}

// BulkOptions tunes a Bulk call. Zero values pick sensible defaults.
type BulkOptions struct {
	Workers    int // parallel bulk requests; default 2
	FlushBytes int // request size; default 4 MiB (measured faster than 8 MiB for 1280-d documents)
	// GiveUpAfter ends the load when no operation has finished (succeeded or
	// failed for good) for this long: a stuck cluster, items refused with 429
	// round after round, requests accepted and never answered. It is a bound
	// on the lack of progress, not on the whole load, which may take hours
	// for millions of documents. Default 5m.
	GiveUpAfter time.Duration
	RetryBase   time.Duration // first retry pause for failed items; default 250ms
	// RequestTimeout bounds one _bulk request; a request that takes longer
	// counts as failed and its items are retried (default 2m).
	RequestTimeout time.Duration
	Progress       func(done int) // called, one call at a time, with the count of finished operations (done or failed for good)
}

// BulkResult counts what happened to every operation. Succeeded+len(Failed)
// always equals the number of operations given, or Bulk returns an error.
type BulkResult struct {
	Succeeded int           `json:"succeeded"`
	Failed    []ItemFailure `json:"failed,omitempty"`
	Retried   int           `json:"retried"` // item retries across rounds
	Rounds    int           `json:"rounds"`
	Requests  uint64        `json:"requests"`
	// Throttled counts the times the load lowered its requests in flight
	// (429s, failed or unusually slow requests; see inflight.go).
	Throttled int `json:"throttled"`
}

// RefusedError is a _bulk request Elasticsearch refused as a whole with a
// 4xx other than 429 (no privilege, no such index, request too large, bad
// request): retrying cannot help, so the load stops at once with the
// server's reason.
type RefusedError struct {
	Index  string
	Status int
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("elasticsearch refused the bulk request into %s (%d): %s", e.Index, e.Status, e.Reason)
}

// ErrGaveUp is returned (wrapped) when operations still failed, or a request
// was still unanswered, after BulkOptions.GiveUpAfter without progress.
var ErrGaveUp = errors.New("gave up")

// Bulk writes ops into index through _bulk. The client retries whole
// requests (429/5xx/dropped connections), but items refused inside a 200
// answer are never retried by it, so Bulk collects every retryable item
// failure — 429, 5xx, a request that failed for good, an item the answer did
// not mention — and sends just those again in a new round after an
// exponential, jittered pause, until all are done or no operation has
// finished for GiveUpAfter. Then it fails loudly: nothing is dropped silently.
// Permanent refusals (a document the mapping rejects) end in Failed. A
// request refused as a whole (4xx other than 429) ends the load at once with
// a *RefusedError. Every request runs under the stall watch, so requests that
// are accepted and never answered cannot hold the load past GiveUpAfter
// without progress.
func Bulk(ctx context.Context, es *elasticsearch.Client, index string, ops iter.Seq[Op], opts BulkOptions) (BulkResult, error) {
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.FlushBytes <= 0 {
		opts.FlushBytes = 4 << 20
	}
	if opts.GiveUpAfter <= 0 {
		opts.GiveUpAfter = 5 * time.Minute
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 250 * time.Millisecond
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 2 * time.Minute
	}
	var res BulkResult
	var done progressCounter
	done.report = opts.Progress
	gctx, stalled, stop := watchProgress(ctx, &done, opts.GiveUpAfter)
	defer stop()
	pause := Backoff(opts.RetryBase, 30*time.Second)
	gaveUp := func(n int, last string) error {
		return fmt.Errorf("bulk into %s: %w after %s without progress with %d operations still failing or unanswered (last: %s)",
			index, ErrGaveUp, opts.GiveUpAfter, n, last)
	}
	lim := newInflight(opts.Workers)
	for round := 0; ; round++ {
		res.Rounds = round + 1
		finishedBefore := res.Succeeded + len(res.Failed)
		retry, reqs, sent, err := bulkRound(gctx, es, index, ops, opts, lim, &res, &done)
		res.Requests += reqs
		res.Throttled = lim.timesLowered()
		if err != nil {
			if ctx.Err() == nil && gctx.Err() != nil { // our deadline, not the caller's
				unfinished := sent - (res.Succeeded + len(res.Failed) - finishedBefore)
				return res, gaveUp(unfinished, "requests still unanswered at the deadline")
			}
			return res, err
		}
		if len(retry) == 0 {
			return res, nil
		}
		res.Retried += len(retry)
		last := retry[len(retry)-1]
		if stalled() {
			return res, gaveUp(len(retry), last.op.Action+" "+last.op.ID+": "+last.reason)
		}
		wait := pause(round)
		slog.Warn("bulk: retrying failed items", "index", index, "items", len(retry), "round", round+2, "pause", wait.Round(time.Millisecond), "example", last.reason)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-gctx.Done():
			return res, gaveUp(len(retry), last.op.Action+" "+last.op.ID+": "+last.reason)
		case <-time.After(wait):
		}
		ops = func(yield func(Op) bool) {
			for _, r := range retry {
				if !yield(r.op) {
					return
				}
			}
		}
	}
}

// progressCounter counts finished operations across rounds and reports the
// count one call at a time, though the request workers finish concurrently.
type progressCounter struct {
	mu     sync.Mutex
	n      int
	last   time.Time // when an operation last finished (or the load began)
	report func(int)
}

func (p *progressCounter) add() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	p.last = time.Now()
	if p.report != nil {
		p.report(p.n)
	}
}

// idle is how long ago an operation last finished.
func (p *progressCounter) idle() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Since(p.last)
}

// watchProgress derives a context that is cancelled once no operation has
// finished for limit (checked a few times a second), so a stalled load ends
// however long a healthy one may run. stalled reports whether that happened.
func watchProgress(ctx context.Context, done *progressCounter, limit time.Duration) (gctx context.Context, stalled func() bool, stop func()) {
	done.mu.Lock()
	done.last = time.Now()
	done.mu.Unlock()
	gctx, cancel := context.WithCancel(ctx)
	var hit atomic.Bool
	tick := min(max(limit/20, time.Millisecond), 250*time.Millisecond)
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return
			case <-t.C:
				if done.idle() > limit {
					hit.Store(true)
					cancel()
					return
				}
			}
		}
	}()
	return gctx, func() bool { return hit.Load() || done.idle() > limit }, cancel
}

type retryItem struct {
	op     Op
	reason string
}

// bulkRound sends ops once, in requests of about FlushBytes with Workers
// requests in flight, and sorts each outcome into succeeded, failed for good,
// or to retry. Every op gets exactly one outcome.
//
// It drives _bulk itself rather than through esutil.BulkIndexer: the
// indexer deals documents to its workers round-robin, so they fill and flush
// in lock-step and the node idles between bursts; measured on the local node
// it reached about half the throughput of the same requests sent back to
// back (docs/BENCHMARKS.md, bulk loading).
func bulkRound(ctx context.Context, es *elasticsearch.Client, index string, ops iter.Seq[Op], opts BulkOptions, lim *inflight, res *BulkResult, done *progressCounter) (retry []retryItem, requests uint64, sent int, err error) {
	var (
		mu      sync.Mutex
		reqs    atomic.Uint64
		wg      sync.WaitGroup
		refused *RefusedError
	)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	batches := make(chan []Op)
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range batches {
				if lim.acquire(ctx) != nil {
					continue // cancelled: the round returns ctx's error
				}
				reqs.Add(1)
				began := time.Now()
				outcomes, fatal := sendBulk(ctx, es, index, batch, opts.RequestTimeout)
				lim.release(time.Since(began), batchBytes(batch), congested(outcomes))
				mu.Lock()
				if fatal != nil {
					if refused == nil {
						refused = fatal
					}
					mu.Unlock()
					stop() // the other workers stop sending too
					continue
				}
				finals := 0
				for i, o := range outcomes {
					op := batch[i]
					switch {
					case o.err != "":
						retry = append(retry, retryItem{op, o.err})
					case o.status < 300 || (op.Action == "delete" && o.status == 404):
						res.Succeeded++ // a delete of a missing document reached its goal too
						finals++
					case retryableStatus(o.status):
						retry = append(retry, retryItem{op, fmt.Sprintf("%d %s", o.status, o.reason)})
					default:
						res.Failed = append(res.Failed, ItemFailure{ID: op.ID, Action: op.Action, Status: o.status, Reason: o.reason, Index: op.Index})
						finals++
					}
				}
				mu.Unlock()
				for range finals {
					done.add()
				}
			}
		}()
	}
	var batch []Op
	size := 0
	send := func() bool {
		if len(batch) == 0 {
			return true
		}
		select {
		case batches <- batch:
			batch, size = nil, 0
			return true
		case <-ctx.Done():
			return false
		}
	}
	for op := range ops {
		if op.Action == "" {
			op.Action = "index"
		}
		if size > 0 && size+len(op.Body)+len(op.ID)+32 > opts.FlushBytes {
			if !send() {
				break
			}
		}
		batch = append(batch, op)
		sent++
		size += len(op.Body) + len(op.ID) + 32
	}
	send()
	close(batches)
	wg.Wait()
	if refused != nil {
		return nil, reqs.Load(), sent, refused
	}
	if err := ctx.Err(); err != nil {
		return nil, reqs.Load(), sent, err
	}
	return retry, reqs.Load(), sent, nil
}
