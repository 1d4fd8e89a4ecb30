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
// runs the model in one goroutine that batches whatever is waiting (up to
// maxBatch): by default whole queries, run by InferQueries as one batch of
// first passes and one of crop passes (the crops' tensors made between the
// two, on every core, while the model is idle). With mixPasses a job is one
// pass instead: a query's first pass and another's crop pass share a model
// call, and each crop's tensor is made in its request's goroutine while the
// model runs — measured slower under heavy machine load (docs/BENCHMARKS.md),
// kept for the benchmark's A/B. When more queries hold a slot than are
// waiting (they are being decoded or cropped), the goroutine waits up to
// maxWait for them, so a burst costs fewer model calls instead of a pile-up
// of goroutines competing for the same cores.
type inferQueue struct {
	emb       *embed.Embedder
	slots     chan struct{} // one token per query between tryAcquire and release
	jobs      chan *inferJob
	atModel   atomic.Int64 // passes sent to the goroutine and not yet answered
	maxBatch  int
	maxWait   time.Duration
	observe   func(batch int, d time.Duration) // metrics hook, one model call
	stage     func(stage string, d time.Duration)
	perImage  atomic.Int64   // moving average of inference time per pass, ns
	sizes     []atomic.Int64 // sizes[n]: model calls of n passes (benchmarks read it)
	alone     atomic.Int64   // queries that ran the model in their own goroutine (nothing to batch them with)
	stop      chan struct{}
	wg        sync.WaitGroup
	mixPasses bool // a job is one model pass, not a whole query
}

// inferJob is one model pass of one query.
type inferJob struct {
	pass   embed.Pass
	query  *embed.Query // a whole query (when not mixPasses)
	queued time.Time
	done   chan inferResult // buffered: the worker never blocks on a caller that went away
}

type inferResult struct {
	res        embed.PassResult
	vec        []float32     // a whole query's vector (when not mixPasses)
	wait, call time.Duration // in the queue, and the model call it was part of
	err        error
}

func newInferQueue(emb *embed.Embedder, size, maxBatch int, maxWait time.Duration, mixPasses bool,
	observe func(int, time.Duration), stage func(string, time.Duration)) *inferQueue {
	q := &inferQueue{
		emb: emb, slots: make(chan struct{}, size), jobs: make(chan *inferJob, size),
		maxBatch: maxBatch, maxWait: maxWait, mixPasses: mixPasses, observe: observe, stage: stage,
		stop: make(chan struct{}), sizes: make([]atomic.Int64, maxBatch+1),
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

// embed runs one prepared photo through the model, pass by pass (the card's
// focus passes included), and returns its vector. The caller holds a slot,
// so a send never waits for room.
func (q *inferQueue) embed(ctx context.Context, query embed.Query) ([]float32, error) {
	if !q.mixPasses {
		if q.isAlone() {
			return q.runAlone(query)
		}
		r, err := q.runJob(ctx, &inferJob{query: &query})
		return r.vec, err
	}
	state, pass := q.emb.Start(query)
	for {
		r, err := q.runPass(ctx, pass)
		if err != nil {
			return nil, err
		}
		q.emb.Recycle(pass.Tensor) // answered: the model goroutine is done with it
		t0 := time.Now()
		next, more := q.emb.Advance(state, r.res)
		if !more {
			return state.Result()
		}
		q.observeStage("crop", time.Since(t0))
		pass = next
	}
}

// isAlone reports whether the caller is the only query holding a slot and
// nothing is at the model: then there is nothing to batch it with, and it
// runs the model itself instead of waking the model goroutine and waiting to
// be woken in turn — two thread hand-offs, each of which can wait for a CPU
// time slice on a busy machine. A query that arrives meanwhile holds a slot,
// goes to the model goroutine and waits for the embedder's lock, as it
// would for a batch.
func (q *inferQueue) isAlone() bool {
	return q.depth() == 1 && q.atModel.Load() == 0 && len(q.jobs) == 0
}

// runAlone runs one whole query through the model in the caller's
// goroutine, pass by pass (RunPasses reads a lone pass's tensor in place, so
// nothing is copied), with the bookkeeping of a batch of one query; the focus
// crop's tensor shows as the "crop" stage.
func (q *inferQueue) runAlone(query embed.Query) ([]float32, error) {
	q.atModel.Add(1)
	defer q.atModel.Add(-1)
	q.alone.Add(1)
	q.observeStage("queue", 0)
	var model time.Duration
	defer func() {
		q.account(1, model)
		q.observeStage("model", model)
	}()
	state, pass := q.emb.Start(query)
	for {
		start := time.Now()
		res, err := q.emb.RunPasses([]embed.Pass{pass})
		model += time.Since(start)
		if err != nil {
			return nil, fmt.Errorf("inference: %w", err)
		}
		q.emb.Recycle(pass.Tensor) // the model has read it
		t0 := time.Now()
		next, more := q.emb.Advance(state, res[0])
		if !more {
			return state.Result()
		}
		q.observeStage("crop", time.Since(t0))
		pass = next
	}
}

// account records one model call of n jobs that took d: the batch-size
// histogram, the metrics hook and the moving average behind Retry-After.
func (q *inferQueue) account(n int, d time.Duration) {
	q.sizes[n].Add(1)
	if q.observe != nil {
		q.observe(n, d)
	}
	per := int64(d) / int64(n)
	if old := q.perImage.Load(); old > 0 {
		per = (3*old + per) / 4
	}
	q.perImage.Store(per)
}

// runPass hands one pass to the model goroutine and waits for its answer.
func (q *inferQueue) runPass(ctx context.Context, pass embed.Pass) (inferResult, error) {
	return q.runJob(ctx, &inferJob{pass: pass})
}

func (q *inferQueue) runJob(ctx context.Context, job *inferJob) (inferResult, error) {
	job.queued, job.done = time.Now(), make(chan inferResult, 1)
	q.atModel.Add(1)
	select {
	case q.jobs <- job:
	case <-q.stop:
		q.atModel.Add(-1)
		return inferResult{}, errors.New("search service is shutting down")
	}
	select {
	case r := <-job.done:
		q.observeStage("queue", r.wait)
		q.observeStage("model", r.call)
		return r, r.err
	case <-ctx.Done():
		return inferResult{}, ctx.Err()
	}
}

func (q *inferQueue) observeStage(stage string, d time.Duration) {
	if q.stage != nil {
		q.stage(stage, d)
	}
}

// run is the model goroutine: it takes one pass, adds whatever else is
// already waiting, waits up to maxWait for passes of queries being decoded or
// cropped, and runs them all as one model call.
func (q *inferQueue) run() {
	defer q.wg.Done()
	batch := make([]*inferJob, 0, q.maxBatch)
	passes := make([]embed.Pass, 0, q.maxBatch)
	timer := time.NewTimer(0)
	<-timer.C
	for {
		select {
		case <-q.stop:
			return
		case j := <-q.jobs:
			batch = append(batch[:0], j)
		}
		q.fill(&batch, timer)
		passes = passes[:0]
		for _, j := range batch {
			passes = append(passes, j.pass)
		}
		start := time.Now()
		res, vecs, err := q.call(batch, passes)
		d := time.Since(start)
		q.account(len(batch), d)
		for i, j := range batch {
			r := inferResult{wait: start.Sub(j.queued), call: d}
			switch {
			case err != nil:
				r.err = fmt.Errorf("inference: %w", err)
			case vecs != nil:
				r.vec, r.err = vecs[i].vec, vecs[i].err
			default:
				r.res = res[i]
			}
			q.atModel.Add(-1)
			j.done <- r
		}
	}
}

// call runs a batch through the model: its whole queries (every pass of
// each), or with mixPasses its passes.
func (q *inferQueue) call(batch []*inferJob, passes []embed.Pass) ([]embed.PassResult, []inferResult, error) {
	if q.mixPasses {
		res, err := q.emb.RunPasses(passes)
		return res, nil, err
	}
	queries := make([]embed.Query, len(batch))
	for i, j := range batch {
		queries[i] = *j.query
	}
	vecs, errs, err := q.emb.InferQueries(queries)
	if err != nil {
		return nil, nil, err
	}
	for _, query := range queries { // their callers wait for the vectors and never read the tensors again
		q.emb.Recycle(query.Tensor)
	}
	out := make([]inferResult, len(batch))
	for i := range out {
		out[i] = inferResult{vec: vecs[i], err: errs[i]}
	}
	return nil, out, nil
}

// fill adds the passes already waiting to batch, then, while other queries
// hold a slot without a pass at the model (being decoded or cropped: their
// pass is on its way), waits for them up to maxWait.
func (q *inferQueue) fill(batch *[]*inferJob, timer *time.Timer) {
drain:
	for len(*batch) < q.maxBatch {
		select {
		case j := <-q.jobs:
			*batch = append(*batch, j)
		default:
			break drain
		}
	}
	if q.maxWait <= 0 || len(*batch) >= q.maxBatch || int64(q.depth()) <= q.atModel.Load() {
		return
	}
	timer.Reset(q.maxWait)
	defer func() {
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}()
	for len(*batch) < q.maxBatch && int64(q.depth()) > q.atModel.Load() {
		select {
		case j := <-q.jobs:
			*batch = append(*batch, j)
		case <-timer.C:
			return
		case <-q.stop:
			return
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
