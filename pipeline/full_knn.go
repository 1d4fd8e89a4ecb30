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
	"github.com/essync/essync/groups"
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

// publishKNN is publish for --neighbors es: the product documents are
// loaded into a new index, every product's top-K comes from Elasticsearch's
// kNN on that index (self excluded), the lists go into the new similar
// index as list documents, and only then does the usual gate put the pair
// live. The list documents carry the groups' sizes; a product document is
// touched again (a partial update of group_id, which re-indexes its vector)
// only when its offer group is not the singleton it was loaded with. The vectors never need to fit a neighbour structure on
// this machine.
func publishKNN(ctx context.Context, cfg *Config, es *elasticsearch.Client, items []item, ids []string, matrix []float32, syncedAt string, rep *Report) error {
	return rep.timed("index", func() error {
		index, lists, fail, err := createRunIndex(ctx, cfg, es, rep)
		if err != nil {
			return err
		}
		// 1. The product documents, each in a group of its own.
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
		// 3. The list documents, and the groups of products not alone in theirs.
		err = rep.timed("lists", func() error {
			bulk.Progress = cfg.Progress("index (lists)", len(ids))
			res, err := esindex.Bulk(ctx, es, index, func(yield func(esindex.Op) bool) {
				for _, id := range ids {
					gid, size := grp.Of(id)
					if !yield(listDocument(id, g.Neighbors(id), gid, size, lists)) {
						return
					}
					if gid != singletonGroup(id) {
						if !yield(esindex.Op{Action: "update", ID: id, Body: groupUpdate(gid, syncedAt)}) {
							return
						}
					}
				}
			}, bulk)
			addBulk(&rep.Index.Bulk, res)
			if err == nil && len(res.Failed) > 0 {
				err = fmt.Errorf("%w: elasticsearch refused %d list documents or group updates; first: %s: %s", ErrGate, len(res.Failed), res.Failed[0].ID, res.Failed[0].Reason)
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
		return goLive(ctx, cfg, es, index, lists, len(ids), fail, rep, func() { writeFullSnapshot(cfg, index, items, g, grp, rep) })
	})
}

// singletonGroup is the group id of a product alone in its group, which
// bareDocuments writes before the groups are known.
func singletonGroup(id string) string { return groups.IDPrefix + id }

// bareDocuments yields every item's product document, each product in a
// group of its own: what the index holds until the kNN lists and groups
// are known (most products stay alone, and are not written again).
func bareDocuments(items []item, model, syncedAt string) iter.Seq[esindex.Op] {
	return func(yield func(esindex.Op) bool) {
		for _, it := range items {
			body, err := encodeDocument(it.Fields, Document{ProductID: it.ID, ImageName: it.ImageName, ImageSHA256: it.SHA256,
				Vector: it.Vector, GroupID: singletonGroup(it.ID), Model: model, SyncedAt: syncedAt})
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
		rep.Neighbors = NeighborsReport{K: cfg.K, Recall: sampledRecall(g, ids, matrix, dims, cfg), RecallMeasured: true}
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
