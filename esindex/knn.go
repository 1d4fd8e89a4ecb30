package esindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/essync/essync/neighbors"
)

// KNNOptions tune NeighborsByKNN. Zero values pick the defaults in the comments.
type KNNOptions struct {
	Field         string        // the dense_vector field (default "image_vector")
	K             int           // neighbours per product, self excluded (default 20)
	NumCandidates int           // kNN num_candidates per shard (default max(100, 4·(K+1)))
	Oversample    float64       // >1 asks ES (8.18+) to rescore quantised hits on the raw vectors: rescore_vector.oversample
	Batch         int           // kNN searches per _msearch request (default 64)
	Workers       int           // _msearch requests in flight (default 2)
	Timeout       time.Duration // per _msearch request (default 2m)
	GiveUpAfter   time.Duration // stop retrying rejected searches after this long (default 5m)
	Progress      func(done int)
}

func (o KNNOptions) withDefaults() KNNOptions {
	if o.Field == "" {
		o.Field = "image_vector"
	}
	if o.K <= 0 {
		o.K = 20
	}
	if o.NumCandidates <= 0 {
		o.NumCandidates = max(100, 4*(o.K+1))
	}
	o.NumCandidates = max(o.NumCandidates, o.K+1)
	if o.Batch <= 0 {
		o.Batch = 64
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.GiveUpAfter <= 0 {
		o.GiveUpAfter = 5 * time.Minute
	}
	return o
}

// KNNResult counts the work of a NeighborsByKNN call.
type KNNResult struct {
	Products int    // lists delivered
	Requests int    // _msearch requests sent, retries included
	Retried  int    // searches sent again after a rejection (429, 5xx, timeout)
	Short    int    // products that got fewer than K neighbours (tiny index, or a filtered-out self)
	Took     uint64 // sum of the searches' own "took" in milliseconds
	// NumCandidates is the num_candidates every search asked for: the
	// option, its default, or K+1 when the option was smaller.
	NumCandidates int
}

// ProductVector is one product whose neighbours NeighborsByKNN finds: its id in the index and
// its vector (unit length, as loaded).
type ProductVector struct {
	ID     string
	Vector []float32
}

// NeighborsByKNN computes every given product's top-K most similar products
// with Elasticsearch's own approximate kNN on index (a loaded index, not yet
// live: nothing else writes to it), so the neighbour step can run on a
// cluster when the vectors do not fit one machine. Queries go out in batches
// of kNN searches per _msearch, Workers requests at a time; each asks for
// K+1 hits and drops the product itself (or the last hit when self is not
// among them), so lists never contain self.
//
// fn receives each product's list as soon as its batch answers — in batch
// completion order, not input order; one call at a time — so memory stays at
// Workers batches however many products there are. Similarities are cosines
// (ES's dot_product score is (1+cos)/2), truncated to 4 decimals like the
// neighbors package's. Searches Elasticsearch rejects (429, 5xx, per-search
// failures inside a 200 answer, request timeouts) are sent again after a
// jittered backoff until GiveUpAfter; then it fails naming the product.
func NeighborsByKNN(ctx context.Context, es *elasticsearch.Client, index string, queries iter.Seq[ProductVector], opts KNNOptions, fn func(id string, list []neighbors.Neighbor) error) (KNNResult, error) {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu   sync.Mutex // guards res and serialises fn
		res  = KNNResult{NumCandidates: opts.NumCandidates}
		wg   sync.WaitGroup
		jobs = make(chan []ProductVector)
	)
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range jobs {
				if err := knnBatch(ctx, es, index, batch, opts, &mu, &res, fn); err != nil {
					cancel(err)
					for range jobs {
					}
					return
				}
			}
		}()
	}
	batch := make([]ProductVector, 0, opts.Batch)
	send := func() bool {
		select {
		case jobs <- batch:
			batch = make([]ProductVector, 0, opts.Batch)
			return true
		case <-ctx.Done():
			return false
		}
	}
	for q := range queries {
		batch = append(batch, q)
		if len(batch) == opts.Batch && !send() {
			break
		}
	}
	if len(batch) > 0 && ctx.Err() == nil {
		send()
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return res, err
	}
	return res, nil
}

// knnBatch answers one batch, retrying the searches that were rejected.
func knnBatch(ctx context.Context, es *elasticsearch.Client, index string, batch []ProductVector, opts KNNOptions, mu *sync.Mutex, res *KNNResult, fn func(string, []neighbors.Neighbor) error) error {
	deadline := time.Now().Add(opts.GiveUpAfter)
	pause := Backoff(250*time.Millisecond, 30*time.Second)
	for round := 0; len(batch) > 0; round++ {
		answers, err := msearchKNN(ctx, es, index, batch, opts)
		mu.Lock()
		res.Requests++
		mu.Unlock()
		var retry []ProductVector
		var reason string
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var re *ResponseError
			if errors.As(err, &re) && !retryableStatus(re.Status) {
				return fmt.Errorf("knn neighbours in %s: %w", index, err)
			}
			retry, reason = batch, err.Error()
		} else {
			mu.Lock()
			for i, a := range answers {
				if a.err != "" {
					retry, reason = append(retry, batch[i]), a.err
					continue
				}
				res.Took += a.took
				list := selfExcluded(batch[i].ID, a.hits, opts.K)
				if len(list) < opts.K {
					res.Short++
				}
				res.Products++
				if err := fn(batch[i].ID, list); err != nil {
					mu.Unlock()
					return err
				}
				if opts.Progress != nil {
					opts.Progress(res.Products)
				}
			}
			mu.Unlock()
		}
		if len(retry) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("knn neighbours in %s: gave up after %s with %d searches still failing (e.g. product %q: %s)",
				index, opts.GiveUpAfter, len(retry), retry[0].ID, reason)
		}
		mu.Lock()
		res.Retried += len(retry)
		mu.Unlock()
		wait := pause(round)
		slog.Warn("knn: retrying rejected searches", "index", index, "searches", len(retry), "pause", wait.Round(time.Millisecond), "reason", reason)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		batch = retry
	}
	return nil
}

// knnHit is one hit of a kNN search.
type knnHit struct {
	ID    string  `json:"_id"`
	Score float64 `json:"_score"`
}

// knnAnswer is one search's outcome within an _msearch answer.
type knnAnswer struct {
	hits []knnHit
	took uint64
	err  string // retryable failure: send this search again
}

// msearchKNN sends one _msearch of kNN searches, one per query, and returns
// one answer per query. A search refused for good fails the whole call.
func msearchKNN(ctx context.Context, es *elasticsearch.Client, index string, batch []ProductVector, opts KNNOptions) ([]knnAnswer, error) {
	var body bytes.Buffer
	header, _ := json.Marshal(map[string]string{"index": index})
	for _, q := range batch {
		knn := map[string]any{"field": opts.Field, "query_vector": q.Vector, "k": opts.K + 1, "num_candidates": opts.NumCandidates}
		if opts.Oversample > 1 {
			knn["rescore_vector"] = map[string]any{"oversample": opts.Oversample}
		}
		search, err := json.Marshal(map[string]any{"knn": knn, "size": opts.K + 1, "_source": false, "track_total_hits": false})
		if err != nil {
			return nil, fmt.Errorf("knn query of %q: %w", q.ID, err)
		}
		body.Write(header)
		body.WriteByte('\n')
		body.Write(search)
		body.WriteByte('\n')
	}
	rctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	res, err := es.Msearch(bytes.NewReader(body.Bytes()), es.Msearch.WithContext(rctx),
		es.Msearch.WithMaxConcurrentSearches(max(1, opts.Workers)),
		es.Msearch.WithFilterPath("responses.took", "responses.status", "responses.error.type", "responses.error.reason", "responses.hits.hits._id", "responses.hits.hits._score"))
	if err != nil {
		return nil, fmt.Errorf("_msearch: %w", err)
	}
	var out struct {
		Responses []struct {
			Took   uint64 `json:"took"`
			Status int    `json:"status"`
			Error  *struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"error"`
			Hits struct {
				Hits []knnHit `json:"hits"`
			} `json:"hits"`
		} `json:"responses"`
	}
	if err := decode(res, &out); err != nil {
		return nil, err
	}
	answers := make([]knnAnswer, len(batch))
	for i := range answers {
		if i >= len(out.Responses) {
			answers[i] = knnAnswer{err: "no answer for this search"}
			continue
		}
		r := out.Responses[i]
		if r.Error != nil {
			msg := fmt.Sprintf("%d %s: %s", r.Status, r.Error.Type, r.Error.Reason)
			if r.Status != 0 && !retryableStatus(r.Status) {
				return nil, fmt.Errorf("knn search of product %q: %s", batch[i].ID, msg)
			}
			answers[i] = knnAnswer{err: msg}
			continue
		}
		answers[i] = knnAnswer{hits: r.Hits.Hits, took: r.Took}
	}
	return answers, nil
}

// selfExcluded turns hits into a neighbour list of at most k, without self:
// cosine from ES's dot_product score, truncated to 4 decimals.
func selfExcluded(self string, hits []knnHit, k int) []neighbors.Neighbor {
	list := make([]neighbors.Neighbor, 0, k)
	for _, h := range hits {
		if h.ID == self || len(list) == k {
			continue
		}
		list = append(list, neighbors.Neighbor{ID: h.ID, Similarity: CosineFromScore(h.Score)})
	}
	return list
}

// CosineFromScore converts Elasticsearch's dot_product (and cosine) kNN
// score, (1+cos)/2, back to the cosine, truncated toward zero to 4 decimals
// as the neighbors package does.
func CosineFromScore(score float64) float32 {
	return float32(math.Trunc((2*score-1)*10000) / 10000)
}

// SimilarDocument is a product's list document for the similar index
// (mappings.SimilarAlias): _id and product_id are the product's id,
// similar_pi its neighbours' ids, most similar first, similar the same
// with their scores, and (schema 4) group_id and group_size its offer group,
// so a regrouping rewrites this small document, not the product's vector.
// --neighbors es writes these into the new, not yet live similar index
// once the kNN lists are known; the product documents, and so their
// vectors, are touched again only for a group_id.
func SimilarDocument(id string, list []neighbors.Neighbor, groupID string, groupSize int) Op {
	return Op{Action: "index", ID: id, Body: SimilarBody(id, list, groupID, groupSize)}
}

// SimilarBody is the source of product id's list document (see
// SimilarDocument): the one encoding every writer of the similar index
// uses. An empty groupID leaves both group fields out.
func SimilarBody(id string, list []neighbors.Neighbor, groupID string, groupSize int) []byte {
	type entry struct {
		PI         string  `json:"pi"`
		Similarity float32 `json:"similarity"`
	}
	pis := make([]string, len(list))
	sims := make([]entry, len(list))
	for i, n := range list {
		pis[i] = n.ID
		sims[i] = entry{PI: n.ID, Similarity: n.Similarity}
	}
	doc := struct {
		ProductID string   `json:"product_id"`
		SimilarPI []string `json:"similar_pi"`
		Similar   []entry  `json:"similar"`
		GroupID   string   `json:"group_id,omitempty"`
		GroupSize *int     `json:"group_size,omitempty"`
	}{ProductID: id, SimilarPI: pis, Similar: sims}
	if groupID != "" {
		doc.GroupID, doc.GroupSize = groupID, &groupSize
	}
	body, _ := json.Marshal(doc)
	return body
}
