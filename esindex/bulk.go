package esindex

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
)

// Op is one document operation of a bulk load.
type Op struct {
	Action string // "index" (default), "update" (Body is a partial document) or "delete"
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

// Bulk writes ops into index with esutil.BulkIndexer. The indexer never
// retries items itself (a 429 inside a 200 answer only reaches OnFailure), so
// Bulk collects every retryable item failure — 429, 5xx, a dropped connection,
// an item the answer did not mention — and sends just those again in a new
// round after an exponential, jittered pause, until all are done or
// GiveUpAfter has passed. Then it fails loudly: nothing is dropped silently.
// Permanent refusals (a document the mapping rejects) end in Failed.
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
// count one call at a time, though the indexer's workers finish concurrently.
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

// bulkRound sends ops once and sorts each outcome into succeeded, failed for
// good, or to retry. Every op gets exactly one outcome.
func bulkRound(ctx context.Context, es *elasticsearch.Client, index string, ops iter.Seq[Op], opts BulkOptions, res *BulkResult, done *progressCounter) ([]retryItem, uint64, error) {
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:        es,
		Index:         index,
		NumWorkers:    opts.Workers,
		FlushBytes:    opts.FlushBytes,
		FlushInterval: time.Hour, // flush by size and at Close only
		OnError:       func(context.Context, error) {},
	})
	if err != nil {
		return nil, 0, fmt.Errorf("bulk indexer: %w", err)
	}
	var (
		mu      sync.Mutex
		retry   []retryItem
		pending = map[int]Op{} // ops without an outcome yet, by sequence number
	)
	finish := func(seq int) (Op, bool) {
		op, ok := pending[seq]
		delete(pending, seq)
		return op, ok
	}
	progress := done.add
	seq := 0
	var addErr error
	for op := range ops {
		if op.Action == "" {
			op.Action = "index"
		}
		id := seq
		seq++
		mu.Lock()
		pending[id] = op
		mu.Unlock()
		item := esutil.BulkIndexerItem{
			Action:     op.Action,
			DocumentID: op.ID,
			OnSuccess: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) {
				mu.Lock()
				_, ok := finish(id)
				if ok {
					res.Succeeded++
				}
				mu.Unlock()
				if ok {
					progress()
				}
			},
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
				mu.Lock()
				op, ok := finish(id)
				if !ok {
					mu.Unlock()
					return
				}
				final := false
				switch {
				case err != nil:
					retry = append(retry, retryItem{op, err.Error()})
				case op.Action == "delete" && r.Status == 404:
					res.Succeeded++ // already gone: the goal is reached
					final = true
				case retryableStatus(r.Status):
					retry = append(retry, retryItem{op, fmt.Sprintf("%d %s: %s", r.Status, r.Error.Type, r.Error.Reason)})
				default:
					res.Failed = append(res.Failed, ItemFailure{ID: op.ID, Action: op.Action, Status: r.Status, Reason: itemReason(r)})
					final = true
				}
				mu.Unlock()
				if final {
					progress()
				}
			},
		}
		if op.Body != nil {
			item.Body = bytes.NewReader(op.Body)
		}
		if err := bi.Add(ctx, item); err != nil {
			addErr = fmt.Errorf("bulk add %s: %w", op.ID, err)
			break
		}
	}
	closeErr := bi.Close(ctx)
	reqs := bi.Stats().NumRequests
	if err := errors.Join(addErr, ctx.Err()); err != nil {
		return nil, reqs, err
	}
	if closeErr != nil {
		// Close reports the last flush error; the items of that flush already
		// reached OnFailure and are queued for retry, so this is not fatal.
		slog.Debug("bulk: flush error", "err", closeErr)
	}
	// An op the answer never mentioned has not been confirmed: retry it.
	for _, op := range pending {
		retry = append(retry, retryItem{op, "no answer for this item"})
	}
	return retry, reqs, nil
}

func itemReason(r esutil.BulkIndexerResponseItem) string {
	reason := fmt.Sprintf("%s: %s", r.Error.Type, r.Error.Reason)
	if r.Error.Cause.Reason != "" {
		reason += " (" + r.Error.Cause.Reason + ")"
	}
	return reason
}
