package esindex

import (
	"bytes"
	"context"
	"encoding/json"
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
}

// ItemFailure is an operation Elasticsearch refused for good (not a retryable
// overload), with its reason, so the run report can name it.
type ItemFailure struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Status int    `json:"status"`
	Reason string `json:"reason"`
}

// BulkOptions tunes a Bulk call. Zero values pick sensible defaults.
type BulkOptions struct {
	Workers     int            // parallel bulk requests; default 2
	FlushBytes  int            // request size; default 4 MiB (measured faster than 8 MiB for 1280-d documents)
	GiveUpAfter time.Duration  // stop retrying failed items after this long; default 5m
	RetryBase   time.Duration  // first retry pause for failed items; default 250ms
	Progress    func(done int) // called, one call at a time, with the count of finished operations (done or failed for good)
}

// BulkResult counts what happened to every operation. Succeeded+len(Failed)
// always equals the number of operations given, or Bulk returns an error.
type BulkResult struct {
	Succeeded int           `json:"succeeded"`
	Failed    []ItemFailure `json:"failed,omitempty"`
	Retried   int           `json:"retried"` // item retries across rounds
	Rounds    int           `json:"rounds"`
	Requests  uint64        `json:"requests"`
}

// Bulk writes ops into index through _bulk. The client retries whole
// requests (429/5xx/dropped connections), but items refused inside a 200
// answer are never retried by it, so Bulk collects every retryable item
// failure — 429, 5xx, a request that failed for good, an item the answer did
// not mention — and sends just those again in a new round after an
// exponential, jittered pause, until all are done or GiveUpAfter has passed.
// Then it fails loudly: nothing is dropped silently. Permanent refusals (a
// document the mapping rejects) end in Failed.
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
	var res BulkResult
	var done progressCounter
	done.report = opts.Progress
	deadline := time.Now().Add(opts.GiveUpAfter)
	pause := Backoff(opts.RetryBase, 30*time.Second)
	for round := 0; ; round++ {
		res.Rounds = round + 1
		retry, reqs, err := bulkRound(ctx, es, index, ops, opts, &res, &done)
		res.Requests += reqs
		if err != nil {
			return res, err
		}
		if len(retry) == 0 {
			return res, nil
		}
		res.Retried += len(retry)
		last := retry[len(retry)-1]
		if time.Now().After(deadline) {
			return res, fmt.Errorf("bulk into %s: gave up after %s with %d operations still failing (last: %s %s: %s); the live alias was not changed",
				index, opts.GiveUpAfter, len(retry), last.op.Action, last.op.ID, last.reason)
		}
		wait := pause(round)
		slog.Warn("bulk: retrying failed items", "index", index, "items", len(retry), "round", round+2, "pause", wait.Round(time.Millisecond), "example", last.reason)
		select {
		case <-ctx.Done():
			return res, ctx.Err()
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
	report func(int)
}

func (p *progressCounter) add() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if p.report != nil {
		p.report(p.n)
	}
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
func bulkRound(ctx context.Context, es *elasticsearch.Client, index string, ops iter.Seq[Op], opts BulkOptions, res *BulkResult, done *progressCounter) ([]retryItem, uint64, error) {
	var (
		mu    sync.Mutex
		retry []retryItem
		reqs  atomic.Uint64
		wg    sync.WaitGroup
	)
	batches := make(chan []Op)
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range batches {
				reqs.Add(1)
				outcomes := sendBulk(ctx, es, index, batch)
				mu.Lock()
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
						res.Failed = append(res.Failed, ItemFailure{ID: op.ID, Action: op.Action, Status: o.status, Reason: o.reason})
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
		size += len(op.Body) + len(op.ID) + 32
	}
	send()
	close(batches)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, reqs.Load(), err
	}
	return retry, reqs.Load(), nil
}

// outcome is what one bulk item came to: an HTTP-like status and reason, or
// err when the request itself failed and the item's fate is unknown.
type outcome struct {
	status int
	reason string
	err    string
}

// sendBulk posts one _bulk request and returns one outcome per op, in order.
func sendBulk(ctx context.Context, es *elasticsearch.Client, index string, batch []Op) []outcome {
	var body bytes.Buffer
	for _, op := range batch {
		id, _ := json.Marshal(op.ID)
		fmt.Fprintf(&body, `{%q:{"_id":%s}}`+"\n", op.Action, id)
		if op.Action != "delete" {
			body.Write(op.Body)
			body.WriteByte('\n')
		}
	}
	out := make([]outcome, len(batch))
	all := func(o outcome) []outcome {
		for i := range out {
			out[i] = o
		}
		return out
	}
	res, err := es.Bulk(bytes.NewReader(body.Bytes()), es.Bulk.WithIndex(index), es.Bulk.WithContext(ctx),
		es.Bulk.WithFilterPath("errors", "items.*.status", "items.*.error"))
	if err != nil {
		return all(outcome{err: "bulk request: " + err.Error()})
	}
	var blk struct {
		Items []map[string]struct {
			Status int `json:"status"`
			Error  struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
				Cause  struct {
					Reason string `json:"reason"`
				} `json:"caused_by"`
			} `json:"error"`
		} `json:"items"`
	}
	if err := decode(res, &blk); err != nil {
		var re *ResponseError
		if errors.As(err, &re) && !retryableStatus(re.Status) {
			return all(outcome{status: re.Status, reason: "the whole bulk request was refused: " + re.Error()})
		}
		return all(outcome{err: "bulk answer: " + err.Error()})
	}
	for i := range out {
		if i >= len(blk.Items) {
			out[i] = outcome{err: "no answer for this item"}
			continue
		}
		for _, it := range blk.Items[i] {
			reason := it.Error.Type + ": " + it.Error.Reason
			if it.Error.Cause.Reason != "" {
				reason += " (" + it.Error.Cause.Reason + ")"
			}
			out[i] = outcome{status: it.Status, reason: reason}
		}
	}
	return out
}
