package pipeline

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"math/rand/v2"
	"slices"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/neighbors"
)

// Neighbour modes (Config.Neighbors).
const (
	NeighborsForest = "forest" // essync's own forest on this machine (default)
	NeighborsES     = "es"     // Elasticsearch's kNN on the loaded, not yet live index
)

// knnRecallSample is how many products' Elasticsearch lists are checked
// against the exact answer for the report's recall.
const knnRecallSample = 256

// publishKNN is publish for --neighbors es: the documents are loaded
// without lists into a new index, every product's top-K comes from
// Elasticsearch's kNN on that index (self excluded), the lists and the offer
// groups computed from them are written as partial updates, and only then
// does the usual gate put the index live. The vectors never need to fit a
// neighbour structure on this machine.
func publishKNN(ctx context.Context, cfg *Config, es *elasticsearch.Client, items []item, ids []string, matrix []float32, syncedAt string, rep *Report) error {
	return rep.timed("index", func() error {
		index, fail, err := createRunIndex(ctx, cfg, es, rep)
		if err != nil {
			return err
		}
		// 1. The documents, without lists.
		bulk := cfg.Bulk
		bulk.Progress = cfg.Progress("index", len(items))
		res, err := esindex.Bulk(ctx, es, index, bareDocuments(items, rep.Model, syncedAt), bulk)
		addBulk(&rep.Index.Bulk, res)
		if err != nil {
			return fail(err)
		}
		refused := map[string]bool{}
		for _, f := range res.Failed {
			refused[f.ID] = true
			rep.skip(Skipped{Stage: "index", ID: f.ID, Kind: "rejected", Reason: fmt.Sprintf("elasticsearch refused the document (%d): %s", f.Status, f.Reason)})
		}
		rep.Index.Refused = len(refused)
		if allowed := cfg.MaxRefused.Allowed(len(items)); len(refused) > allowed {
			return fail(fmt.Errorf("%w: elasticsearch refused %d documents, --max-refused allows %s (%d); first: %s: %s (all are listed in the report)",
				ErrGate, len(refused), cfg.MaxRefused, allowed, res.Failed[0].ID, res.Failed[0].Reason))
		}
		if len(refused) > 0 { // the lists and groups are of the documents the index holds
			items = slices.DeleteFunc(slices.Clone(items), func(it item) bool { return refused[it.ID] })
			ids, matrix = matrixOf(items, rep.Dims)
		}
		if err := esindex.Refresh(ctx, es, index); err != nil {
			return fail(err)
		}
		// 2. Every product's top-K from the index itself.
		g, err := knnGraph(ctx, cfg, es, index, ids, matrix, rep)
		if err != nil {
			return fail(err)
		}
		grp, err := computeGroups(cfg, g, ids, matrix, rep.Dims, fieldsOf(items), rep)
		if err != nil {
			return fail(err)
		}
		// 3. The lists and groups as partial updates.
		err = rep.timed("lists", func() error {
			bulk.Progress = cfg.Progress("index (lists)", len(ids))
			res, err := esindex.Bulk(ctx, es, index, func(yield func(esindex.Op) bool) {
				for _, id := range ids {
					gid, size := grp.Of(id)
					if !yield(esindex.Op{Action: "update", ID: id, Body: listUpdate(Document{Similar: g.Neighbors(id), GroupID: gid, GroupSize: size, SyncedAt: syncedAt})}) {
						return
					}
				}
			}, bulk)
			addBulk(&rep.Index.Bulk, res)
			if err == nil && len(res.Failed) > 0 {
				err = fmt.Errorf("%w: elasticsearch refused %d list updates; first: %s: %s", ErrGate, len(res.Failed), res.Failed[0].ID, res.Failed[0].Reason)
			}
			return err
		})
		if err != nil {
			return fail(err)
		}
		if err := writeNeighborsJSON(cfg, g); err != nil {
			return fail(err)
		}
		if err := checkSkipped(cfg, rep); err != nil {
			return fail(err)
		}
		if err := esindex.FinishLoad(ctx, es, index, cfg.Replicas, len(ids)); err != nil {
			return fail(fmt.Errorf("%w: %w", ErrGate, err))
		}
		if lease := leaseCheck(ctx, cfg); lease != nil {
			return fail(lease)
		}
		previous, err := esindex.SwapAlias(ctx, es, cfg.Alias, index)
		if err != nil {
			return fail(err)
		}
		rep.Index.Live, rep.Index.Previous, rep.Indexed = index, previous, len(ids)
		slog.Info("alias swapped", "alias", cfg.Alias, "index", index, "previous", previous, "documents", len(ids), "neighbors", NeighborsES)
		writeFullSnapshot(cfg, index, items, g, grp, rep)
		pruned, err := esindex.Prune(ctx, es, cfg.Alias, cfg.Keep)
		rep.Index.Pruned = pruned
		if err != nil {
			slog.Warn("pruning old indices failed; the new index is live", "err", err)
		}
		return nil
	})
}

// bareDocuments yields every item's document with empty lists and no
// group: what the index holds until the kNN lists are written.
func bareDocuments(items []item, model, syncedAt string) iter.Seq[esindex.Op] {
	return func(yield func(esindex.Op) bool) {
		for _, it := range items {
			body, err := encodeDocument(it.Fields, Document{ProductID: it.ID, ImageName: it.ImageName, ImageSHA256: it.SHA256,
				Vector: it.Vector, GroupID: "", GroupSize: 0, Model: model, SyncedAt: syncedAt})
			if err != nil {
				slog.Error("document not encoded", "id", it.ID, "err", err)
				continue // Bulk's count check then fails the gate
			}
			if !yield(esindex.Op{Action: "index", ID: it.ID, Body: body}) {
				return
			}
		}
	}
}

// knnGraph asks the index for every product's top-K (self excluded) and
// turns the lists into a graph: similarities recomputed from the vectors,
// a list Elasticsearch left short completed by brute force. The report's
// recall is measured on a sample against the exact answer.
func knnGraph(ctx context.Context, cfg *Config, es *elasticsearch.Client, index string, ids []string, matrix []float32, rep *Report) (*neighbors.Graph, error) {
	var g *neighbors.Graph
	err := rep.timed("neighbors", func() error {
		row := make(map[string]int, len(ids))
		for i, id := range ids {
			row[id] = i
		}
		lists := make([][]string, len(ids))
		dims := rep.Dims
		queries := func(yield func(esindex.ProductVector) bool) {
			for i, id := range ids {
				if !yield(esindex.ProductVector{ID: id, Vector: matrix[i*dims : (i+1)*dims]}) {
					return
				}
			}
		}
		res, err := esindex.NeighborsByKNN(ctx, es, index, queries, esindex.KNNOptions{K: cfg.K, Progress: cfg.Progress("neighbors (es)", len(ids))},
			func(id string, list []neighbors.Neighbor) error {
				ns := make([]string, len(list))
				for i, n := range list {
					ns[i] = n.ID
				}
				lists[row[id]] = ns
				return nil
			})
		if err != nil {
			return fmt.Errorf("neighbors (es): %w", err)
		}
		slog.Info("neighbors from elasticsearch kNN", "products", len(ids), "result", fmt.Sprintf("%+v", res))
		var repaired []string
		if g, repaired, err = neighbors.RestoreContext(ctx, ids, matrix, dims, lists, cfg.neighborOptions()); err != nil {
			return fmt.Errorf("neighbors (es): %w", err)
		}
		if len(repaired) > 0 {
			slog.Warn("elasticsearch returned short lists; completed them by brute force", "products", len(repaired))
		}
		rep.Neighbors = NeighborsReport{K: cfg.K, Recall: sampledRecall(g, ids, matrix, dims, cfg)}
		return nil
	})
	return g, err
}

// sampledRecall is the recall@K of g's lists on a sample of products
// against their exact top-K.
func sampledRecall(g *neighbors.Graph, ids []string, matrix []float32, dims int, cfg *Config) float64 {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6b6e6e))
	sample := rng.Perm(len(ids))[:min(knnRecallSample, len(ids))]
	truth, err := neighbors.ExactTopK(ids, matrix, dims, sample, cfg.K, 0)
	if err != nil {
		slog.Warn("could not measure the recall of the kNN lists", "err", err)
		return 0
	}
	found, total := 0, 0
	for q, i := range sample {
		got := map[string]bool{}
		for _, n := range g.Neighbors(ids[i]) {
			got[n.ID] = true
		}
		for _, r := range truth[q].Rows {
			total++
			if got[ids[r]] {
				found++
			}
		}
	}
	if total == 0 {
		return 1
	}
	return float64(found) / float64(total)
}
