package serve

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/essync/essync/embed"
)

// errQueueFull is returned when every inference slot is taken.
var errQueueFull = errors.New("inference queue is full")

// inferQueue bounds the queries being decoded or waiting for the model, and
// runs inference in one goroutine that batches whatever is waiting (up to
// maxBatch), so a burst of queries costs fewer model calls instead of a
// pile-up of goroutines competing for the same cores.
type inferQueue struct {
	emb      *embed.Embedder
	slots    chan struct{} // one token per query between tryAcquire and release
	jobs     chan *inferJob
	maxBatch int
	observe  func(batch int, d time.Duration) // metrics hook
	perImage atomic.Int64                     // moving average of inference time per image, ns
	sizes    []atomic.Int64                   // sizes[n]: model calls of n images (benchmarks read it)
	stop     chan struct{}
	wg       sync.WaitGroup
}

type inferJob struct {
	query embed.Query
	done  chan inferResult // buffered: the worker never blocks on a caller that went away
}

type inferResult struct {
	vec []float32
	err error
}

func newInferQueue(emb *embed.Embedder, size, maxBatch int, observe func(int, time.Duration)) *inferQueue {
	q := &inferQueue{
		emb: emb, slots: make(chan struct{}, size), jobs: make(chan *inferJob, size),
		maxBatch: maxBatch, observe: observe, stop: make(chan struct{}), sizes: make([]atomic.Int64, maxBatch+1),
	}
	q.wg.Add(1)
	go q.run()
	return q
}

// tryAcquire takes a slot without waiting; false means the queue is full.
func (q *inferQueue) tryAcquire() bool {
	select {
	case q.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (q *inferQueue) release() { <-q.slots }

// depth is the number of queries holding a slot.
func (q *inferQueue) depth() int { return len(q.slots) }

// retryAfter estimates in whole seconds (at least 1) how long a full queue
// takes to drain, for the Retry-After header.
func (q *inferQueue) retryAfter() int {
	per := time.Duration(q.perImage.Load())
	wait := time.Duration(q.depth()) * per / time.Duration(max(1, q.maxBatch/2))
	return max(1, int(math.Ceil(wait.Seconds())))
}

// infer runs one prepared photo through the model (focus passes included). The caller holds a slot, so the
// send never waits for room.
func (q *inferQueue) infer(ctx context.Context, query embed.Query) ([]float32, error) {
	job := &inferJob{query: query, done: make(chan inferResult, 1)}
	select {
	case q.jobs <- job:
	case <-q.stop:
		return nil, errors.New("search service is shutting down")
	}
	select {
	case r := <-job.done:
		return r.vec, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run is the inference goroutine: it takes one job, adds whatever else is
// already waiting, and runs them as one batch.
func (q *inferQueue) run() {
	defer q.wg.Done()
	batch := make([]*inferJob, 0, q.maxBatch)
	queries := make([]embed.Query, 0, q.maxBatch)
	for {
		select {
		case <-q.stop:
			return
		case j := <-q.jobs:
			batch = append(batch[:0], j)
		}
	fill:
		for len(batch) < q.maxBatch {
			select {
			case j := <-q.jobs:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		queries = queries[:0]
		for _, j := range batch {
			queries = append(queries, j.query)
		}
		start := time.Now()
		vecs, errs, err := q.emb.InferQueries(queries)
		d := time.Since(start)
		q.sizes[len(batch)].Add(1)
		if q.observe != nil {
			q.observe(len(batch), d)
		}
		per := int64(d) / int64(len(batch))
		if old := q.perImage.Load(); old > 0 {
			per = (3*old + per) / 4
		}
		q.perImage.Store(per)
		for i, j := range batch {
			switch {
			case err != nil:
				j.done <- inferResult{err: fmt.Errorf("inference: %w", err)}
			case errs[i] != nil:
				j.done <- inferResult{err: errs[i]}
			default:
				j.done <- inferResult{vec: vecs[i]}
			}
		}
	}
}

// batchSizes returns how many model calls had 1, 2, … maxBatch images
// (index = batch size) since the queue started.
func (q *inferQueue) batchSizes() []int64 {
	out := make([]int64, len(q.sizes))
	for i := range q.sizes {
		out[i] = q.sizes[i].Load()
	}
	return out
}

// close stops the inference goroutine after its current batch.
func (q *inferQueue) close() {
	close(q.stop)
	q.wg.Wait()
}
